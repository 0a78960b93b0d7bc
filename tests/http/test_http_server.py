#!/usr/bin/python3
"""End-to-end tests of HttpServer: a real server (http_test_server), real
clients (http.client, raw sockets, curl). Loopback only, every test bounded
in time; only the processes started here are stopped."""

import argparse
import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

SERVER = None  # path of http_test_server, from --server
TIMEOUT = 5.0


class Server:
    """Starts http_test_server with extra flags; reads the port it prints."""

    def __init__(self, *flags):
        self.proc = subprocess.Popen([SERVER, *flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("server did not start: %r %s" % (line, self.stderr))
        self.port = int(line)

    def stop(self):
        if self.proc.stdout.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def raw(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)


def read_until_close(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def read_responses(sock, count):
    """Reads `count` Content-Length responses off a raw socket."""
    buf = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed after %d responses: %r" % (len(out), buf))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            buf += sock.recv(65536)
        out.append((head.decode(), buf[:length]))
        buf = buf[length:]
    return out


def status_of(head):
    return int(head.split(" ", 2)[1])


class HttpServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--header-timeout-ms", "1000", "--idle-timeout-ms", "3000",
                            "--max-header-bytes", "4096", "--max-body-bytes", "65536")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        if code != 0:
            raise AssertionError("server exited with %s: %s" % (code, cls.server.stderr))

    def expect_error(self, response, status, code):
        self.assertEqual(response.status, status)
        self.assertEqual(response.getheader("Content-Type"), "application/json")
        body = json.loads(response.read())
        self.assertEqual(body["error"], code)
        self.assertIn("message", body)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        c = self.server.conn()
        for i in range(5):
            c.request("GET", "/hello")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"hello\n"))
            self.assertEqual(r.getheader("Server"), "herald")
            self.assertIsNotNone(r.getheader("Date"))
            c.request("POST", "/echo", body=b"payload %d" % i, headers={"Content-Type": "text/x"})
            r = c.getresponse()
            self.assertEqual(r.read(), b"payload %d" % i)
            self.assertEqual(r.getheader("Content-Type"), "text/x")
        self.assertIsNotNone(c.sock)  # never reconnected
        c.close()

    def test_pipelined_requests_are_answered_in_order(self):
        s = self.server.raw()
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
        responses = read_responses(s, 4)
        self.assertEqual([r[1] for r in responses[:3]], [b"slow\n", b"hello\n", b"abc"])
        self.assertEqual(status_of(responses[3][0]), 404)
        s.close()

    def test_head_on_a_get_route_sends_no_body(self):
        c = self.server.conn()
        c.request("HEAD", "/hello")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Length"), "6")
        self.assertEqual(r.read(), b"")
        c.close()

    def test_streamed_response_arrives_in_chunks(self):
        c = self.server.conn()
        c.request("GET", "/stream")
        r = c.getresponse()
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(r.read(), b"chunk1\nchunk2\nchunk3\n")
        c.request("GET", "/hello")  # the connection is still usable
        self.assertEqual(c.getresponse().read(), b"hello\n")
        c.close()

    def test_curl_sees_the_stream_and_the_echo(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("no curl")
        base = "http://127.0.0.1:%d" % self.server.port
        out = subprocess.run([curl, "-sS", "--max-time", "5", base + "/stream"],
                             capture_output=True, timeout=10)
        self.assertEqual(out.stdout, b"chunk1\nchunk2\nchunk3\n")
        # A 100 KiB body makes curl send Expect: 100-continue: too large here.
        out = subprocess.run([curl, "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                              "%{http_code}", "--data-binary", "@-", base + "/echo"],
                             input=b"x" * 100_000, capture_output=True, timeout=10)
        self.assertEqual(out.stdout, b"413")
        out = subprocess.run([curl, "-sS", "--max-time", "5", "--data-binary", "@-",
                              base + "/echo"], input=b"y" * 60_000, capture_output=True,
                             timeout=10)
        self.assertEqual(out.stdout, b"y" * 60_000)

    def test_too_large_header_is_431(self):
        c = self.server.conn()
        c.request("GET", "/hello", headers={"X-Big": "x" * 5000})
        self.expect_error(c.getresponse(), 431, "header_too_large")
        c.close()

    def test_too_large_body_is_413(self):
        c = self.server.conn()
        c.request("POST", "/echo", body=b"z" * 100_000)
        r = c.getresponse()
        self.expect_error(r, 413, "body_too_large")
        self.assertEqual(r.getheader("Connection"), "close")
        c.close()

    def test_garbage_is_400(self):
        s = self.server.raw()
        s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n")
        data = read_until_close(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data)
        self.assertIn(b'"error":"bad_request"', data)
        s.close()

    def test_content_length_with_transfer_encoding_is_400(self):
        s = self.server.raw()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        self.assertNotIn(b"hello", data)  # the smuggled request was not served
        s.close()

    def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(self):
        c = self.server.conn()
        c.request("GET", "/nope")
        self.expect_error(c.getresponse(), 404, "not_found")
        c.request("DELETE", "/echo")
        r = c.getresponse()
        self.assertEqual(r.getheader("Allow"), "POST")
        self.expect_error(r, 405, "method_not_allowed")
        c.request("POST", "/hello", body=b"")
        r = c.getresponse()
        self.assertEqual(r.getheader("Allow"), "GET, HEAD")
        r.read()
        c.close()

    def test_bad_query_escape_is_400_and_keeps_the_connection(self):
        c = self.server.conn()
        c.request("GET", "/hello?x=%zz")
        self.expect_error(c.getresponse(), 400, "bad_query")
        c.request("GET", "/hello")
        self.assertEqual(c.getresponse().read(), b"hello\n")
        c.close()

    def test_http10_without_keep_alive_closes(self):
        s = self.server.raw()
        s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        data = read_until_close(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertIn(b"Connection: close\r\n", data)
        self.assertTrue(data.endswith(b"hello\n"))
        s.close()

    def test_connection_close_is_honoured(self):
        s = self.server.raw()
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
        self.assertEqual(data.count(b"HTTP/1.1 200"), 1)  # nothing after "close"
        self.assertIn(b"Connection: close\r\n", data)
        s.close()

    def test_upgrade_hands_the_raw_connection_over(self):
        s = self.server.raw()
        s.sendall(b"GET /raw-echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                  b"Upgrade: echo\r\n\r\nearly bytes|")
        data = b""
        while b"early bytes|" not in data:
            chunk = s.recv(4096)
            self.assertTrue(chunk, data)
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), data)
        s.sendall(b"later")
        self.assertEqual(s.recv(4096), b"later")
        s.close()

    def test_slow_loris_is_cut_at_the_header_timeout_while_others_are_served(self):
        loris = self.server.raw()
        start = time.monotonic()
        loris.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        result = {}

        def drip():
            try:
                for _ in range(40):  # one header byte every 100 ms: never done
                    time.sleep(0.1)
                    loris.sendall(b"X")
            except OSError:
                pass

        dripper = threading.Thread(target=drip)
        dripper.start()
        # Meanwhile a normal client is served promptly, again and again.
        c = self.server.conn()
        for _ in range(5):
            t0 = time.monotonic()
            c.request("GET", "/hello")
            self.assertEqual(c.getresponse().read(), b"hello\n")
            self.assertLess(time.monotonic() - t0, 0.5)
            time.sleep(0.1)
        c.close()
        data = read_until_close(loris)
        result["elapsed"] = time.monotonic() - start
        dripper.join(timeout=10)
        loris.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data)
        self.assertGreaterEqual(result["elapsed"], 0.9)
        self.assertLess(result["elapsed"], 3.5)


class MaxConnectionsTest(unittest.TestCase):
    def test_connections_over_the_limit_get_503(self):
        server = Server("--max-connections", "2", "--workers", "2")
        try:
            held = []
            for _ in range(2):
                c = server.conn()
                c.request("GET", "/hello")  # accepted and counted
                self.assertEqual(c.getresponse().read(), b"hello\n")
                held.append(c)
            extra = server.conn()
            extra.request("GET", "/hello")
            r = extra.getresponse()
            self.assertEqual(r.status, 503)
            self.assertEqual(json.loads(r.read())["error"], "max_connections")
            extra.close()
            held[0].close()
            # A freed slot is usable again (the close is noticed asynchronously).
            deadline = time.monotonic() + TIMEOUT
            while True:
                c = server.conn()
                c.request("GET", "/hello")
                r = c.getresponse()
                body = r.read()
                c.close()
                if r.status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual((r.status, body), (200, b"hello\n"))
            for c in held[1:]:
                c.close()
        finally:
            self.assertEqual(server.stop(), 0)


class IdleTimeoutTest(unittest.TestCase):
    def test_idle_keep_alive_connection_is_closed(self):
        server = Server("--idle-timeout-ms", "300")
        try:
            s = server.raw()
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(read_responses(s, 1)[0][1], b"hello\n")
            start = time.monotonic()
            self.assertEqual(read_until_close(s), b"")  # silent close, no 408
            self.assertLess(time.monotonic() - start, 2.0)
            s.close()
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    args, rest = parser.parse_known_args()
    SERVER = args.server
    unittest.main(argv=[sys.argv[0], "-v", *rest])
