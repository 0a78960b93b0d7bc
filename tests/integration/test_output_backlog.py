"""One client that sends and never reads must not grow the server's memory.

Every attack here is driven against a real heraldd over raw sockets, and
bounded by io::OutputGate: a connection that owes more output than its limit
stops reading (and acting on input it already read) until it has drained.
The figures measured (VmRSS growth, connections accepted, statuses) are
printed so they can be quoted.

  - pipelined GET /history requests, never read ([http] max_output_backlog_bytes)
  - WebSocket pings (0x9) and {"op":"ping"} commands, never read
    ([websocket] max_outbound_bytes)
  - [http] max_connections counts upgraded WebSockets for their whole life
  - chunked trailers are bounded like headers (431)
"""
import json
import os
import socket
import threading
import time
import unittest

from probe_util import SANITIZED
from heraldd import Heraldd, http_call, metric, wait_until
from ws_util import masked_frame, raw_handshake

MIB = 1 << 20
# Under a sanitizer, VmRSS holds ASan's quarantine of freed memory (up to
# 256 MiB) and its shadow: it says nothing about what the server keeps, so
# only the behavioural bounds (the server stopped reading) are asserted.
RSS_BOUND_MIB = 64


def start(test, config=None):
    """A heraldd for this test, stopped at its end; a sanitizer report in its
    log fails the test."""
    h = Heraldd(config=config)
    h.__enter__()

    def stop():
        h.stop()
        for word in ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                     "ThreadSanitizer"):
            test.assertNotIn(word, h.logs())
    test.addCleanup(stop)
    return h


def assert_rss_bound(test, growth_mib):
    if not SANITIZED:
        test.assertLess(growth_mib, RSS_BOUND_MIB)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settled_rss(pid, seconds=1.5):
    """VmRSS once it has stopped growing for a while (the server has done all
    the work the attack could make it do), in KiB."""
    last, stable_since = rss_kib(pid), time.monotonic()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        if now > last + 256:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= seconds:
            break
    return rss_kib(pid)


def non_reader(port, rcvbuf=4096):
    """A TCP connection whose owner will not read: a tiny receive buffer so
    the kernel holds little of what the server sends it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def push_until_blocked(sock, blob, max_bytes, stall_s=2.0):
    """Sends `blob` over and over until `max_bytes` went out or the server
    stopped taking bytes for `stall_s`; returns the bytes sent and the rest
    of the blob being sent (to finish the frame that was cut)."""
    sock.setblocking(False)
    sent, view, last_progress = 0, memoryview(blob), time.monotonic()
    while sent < max_bytes and time.monotonic() - last_progress < stall_s:
        try:
            n = sock.send(view)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        sent += n
        last_progress = time.monotonic()
        view = view[n:] if n < len(view) else memoryview(blob)
    sock.setblocking(True)
    return sent, bytes(view) if len(view) < len(blob) else b""


def recv_exactly_responses(sock, count, timeout=60):
    """Reads `count` Content-Length responses; returns their statuses."""
    sock.settimeout(timeout)
    buf, statuses = b"", []
    while len(statuses) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return statuses
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        statuses.append(int(lines[0].split()[1]))
        length = next(int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:"))
        while len(buf) < length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return statuses
            buf += chunk
        buf = buf[length:]
    return statuses


class PipelinedRequestsNeverRead(unittest.TestCase):
    """Defect 3: 57 KB of pipelined GET /history, never read, grew RSS by 1 GiB."""

    PAYLOAD = 16 * 1024
    MESSAGES = 64  # each history answer is then about 1.4 MB of JSON

    def start(self, extra=""):
        h = start(self, "workers = 1\n[http]\n" + extra)
        for i in range(self.MESSAGES):
            resp, _ = http_call(h.port, "POST", "/publish/big", body=b"x" * self.PAYLOAD)
            self.assertEqual(resp.status, 200)
        return h

    def request(self):
        return b"GET /history/big?limit=64 HTTP/1.1\r\nHost: a\r\n\r\n"

    def test_a_client_that_pipelines_history_requests_and_never_reads_is_bounded(self):
        h = self.start()
        _, one = http_call(h.port, "GET", "/history/big?limit=64")
        ok = 'herald_http_responses_total{code="2xx"}'
        answered0 = metric(h.port, ok)
        rss0 = settled_rss(h.proc.pid, 0.5)
        n = 1400  # ~64 KB of requests (the report: 57 KB grew RSS by 1 GiB)
        blob = self.request() * n
        attacker = non_reader(h.port)
        sent, _ = push_until_blocked(attacker, blob, len(blob))
        rss1 = settled_rss(h.proc.pid)
        # 2xx answers produced for the attacker (the first /metrics call
        # counts itself once it is answered).
        answered = metric(h.port, ok) - answered0 - 1
        # The worker the attacker is on still answers everyone else.
        t = time.monotonic()
        resp, _ = http_call(h.port, "GET", "/healthz")
        healthz_s = time.monotonic() - t
        paused = metric(h.port, "herald_connections_output_paused")
        pauses = metric(h.port, "herald_connections_output_paused_total")
        growth_mib = (rss1 - rss0) / 1024
        print(f"\n[pipelined history] requests sent: {sent} bytes ({sent // len(self.request())} "
              f"requests), answered while never read: {answered:.0f} (bound 100); "
              f"answer size {len(one)} bytes (unbounded: "
              f"{sent // len(self.request()) * len(one) / MIB:.0f} MiB); "
              f"VmRSS growth {growth_mib:.1f} MiB (bound 64); /healthz in {healthz_s * 1000:.0f} ms; "
              f"herald_connections_output_paused={paused} _total={pauses}")
        self.assertEqual(sent, len(blob))
        self.assertEqual(resp.status, 200)
        assert_rss_bound(self, growth_mib)
        self.assertLess(answered, 100)
        self.assertGreaterEqual(paused, 1)
        self.assertGreaterEqual(pauses, 1)
        attacker.close()
        self.assertTrue(wait_until(
            lambda: metric(h.port, "herald_connections_output_paused") == 0, 10))

    def test_a_client_that_reads_late_still_gets_every_answer_in_order(self):
        h = self.start("max_output_backlog_bytes = 1048576\n")
        n = 40
        s = non_reader(h.port, rcvbuf=1 << 16)
        s.sendall(self.request() * n + b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.5)  # the server pauses on its backlog meanwhile
        statuses = recv_exactly_responses(s, n + 1)
        s.close()
        self.assertEqual(statuses, [200] * (n + 1))
        self.assertGreaterEqual(metric(h.port, "herald_connections_output_paused_total"), 1)


class WebSocketControlFramesNeverRead(unittest.TestCase):
    """Defect 4: pings (0x9) and {"op":"ping"} answers bypassed the outbound
    limit; a client that pinged and never read grew RSS by 500 MiB."""

    def attack(self, h, frame, label, max_bytes=160 * MIB):
        rss0 = settled_rss(h.proc.pid, 0.5)
        sock, head = raw_handshake(h.port, "/ws")
        self.assertTrue(head.startswith("HTTP/1.1 101"), head)
        blob = frame * max(1, (256 * 1024) // len(frame))
        sent, rest = push_until_blocked(sock, blob, max_bytes)
        rss1 = settled_rss(h.proc.pid)
        growth_mib = (rss1 - rss0) / 1024
        pauses = metric(h.port, "herald_connections_output_paused_total")
        print(f"\n[{label}] sent {sent / MIB:.1f} MiB of frames before the server stopped "
              f"reading; VmRSS growth {growth_mib:.1f} MiB (limit 16 MiB queued, bound 64); "
              f"herald_connections_output_paused_total={pauses}")
        self.assertLess(sent, max_bytes)  # the server stopped reading: it pushed back
        assert_rss_bound(self, growth_mib)
        self.assertGreaterEqual(pauses, 1)
        return sock, rest

    def test_pings_never_read_are_bounded_by_the_outbound_limit(self):
        h = start(self)  # default policy ("drop") and limit (16 MiB)
        sock, rest = self.attack(h, masked_frame(0x9, b"p" * 125), "ws pings 0x9")
        # Reading again, the client gets its pongs and the connection
        # goes on: the gate reopened, and the server reads the rest.
        found = []
        reader = threading.Thread(
            target=lambda: found.append(read_until(sock, b'"id":"last"', 60)))
        reader.start()
        sock.sendall(rest + masked_frame(0x1, json.dumps({"op": "ping", "id": "last"}).encode()))
        reader.join(90)
        self.assertEqual(found, [True])
        sock.close()

    def test_json_ping_commands_never_read_are_bounded_by_the_outbound_limit(self):
        h = start(self)
        frame = masked_frame(0x1, json.dumps({"op": "ping", "id": "x" * 64}).encode())
        sock, _ = self.attack(h, frame, "ws {\"op\":\"ping\"}")
        sock.close()
        resp, _ = http_call(h.port, "GET", "/healthz")
        self.assertEqual(resp.status, 200)


def read_until(sock, needle, timeout):
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    tail = b""
    while time.monotonic() < deadline:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return False
        tail = (tail + chunk)[-4096:]
        if needle in tail:
            return True
    return False


class MaxConnectionsCountsUpgrades(unittest.TestCase):
    """Defect 6: with max_connections = 5, 200 WebSocket upgrades were accepted."""

    def test_upgraded_websockets_count_against_max_connections(self):
        h = start(self, "[http]\nmax_connections = 5\n")
        accepted, refused, socks = 0, 0, []
        for _ in range(200):
            try:
                s, head = raw_handshake(h.port, "/ws")
            except OSError:
                refused += 1
                continue
            socks.append(s)
            if head.startswith("HTTP/1.1 101"):
                accepted += 1
            elif head.startswith("HTTP/1.1 503"):
                refused += 1
        # One WebSocket goes: its slot serves the /metrics call (4 + 1) once
        # the server has let it go (until then the call gets 503).
        socks.pop(0).close()
        gauge = []
        self.assertTrue(wait_until(
            lambda: gauge.append(metric(h.port, "herald_http_connections_open")) or
            gauge[-1] is not None, 10, 0.1))
        open_gauge = gauge[-1]
        print(f"\n[max_connections=5] WebSocket upgrades accepted: {accepted} of 200 "
              f"(refused 503: {refused}); herald_http_connections_open={open_gauge} "
              f"(4 WebSockets + this /metrics call)")
        self.assertEqual(accepted, 5)
        self.assertEqual(refused, 195)
        self.assertEqual(open_gauge, 5)
        for s in socks:
            s.close()
        # The slots come back with the connections.
        def upgrade_ok():
            try:
                s, head = raw_handshake(h.port, "/ws")
            except OSError:
                return False
            s.close()
            return head.startswith("HTTP/1.1 101")
        self.assertTrue(wait_until(upgrade_ok, 10, 0.2))


class ChunkedTrailers(unittest.TestCase):
    """Also fixed: about 2 MB of chunked trailer fields was accepted."""

    def post_chunked(self, port, trailer_bytes):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /publish/t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n")
        line = b"X-Trailer-Field: " + b"v" * 100 + b"\r\n"
        sent = 0
        try:
            while sent < trailer_bytes:
                s.sendall(line * 64)
                sent += len(line) * 64
            s.sendall(b"\r\n")
        except OSError:
            pass  # refused and closed while we were still sending
        s.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        return data.decode(errors="replace"), sent

    def test_a_trailer_section_over_max_header_bytes_is_refused_with_431(self):
        h = start(self)
        data, sent = self.post_chunked(h.port, 2 * MIB)
        status = data.split("\r\n", 1)[0]
        print(f"\n[chunked trailers] sent {sent} bytes of trailer fields: {status!r}; "
              f"body {data.split(chr(13) + chr(10) + chr(13) + chr(10), 1)[-1]!r}")
        self.assertTrue(status.startswith("HTTP/1.1 431"), data)
        self.assertIn("trailer section exceeds 16384 bytes", data)

    def test_small_trailers_are_still_accepted(self):
        h = start(self)
        data, _ = self.post_chunked(h.port, 1000)
        self.assertTrue(data.startswith("HTTP/1.1 200"), data)


if __name__ == "__main__":
    unittest.main()
