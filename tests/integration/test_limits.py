"""Limits that hold under abuse: a WebSocket client over its message rate is
refused (`rate_limited`), then closed with 1008 if it goes on, while others
are unaffected; SSE streams only from allowed browser origins."""
import asyncio
import json
import re
import threading
import time
import unittest

import websockets

from heraldd import Heraldd, http_call, wait_until
from sse_util import SseClient
from ws_util import recv_json, run

CONFIG = """
[websocket]
max_messages_per_second = 2
message_burst = 10
[sse]
allowed_origins = ["http://good.example"]
"""


def metric(port, name):
    _, body = http_call(port, "GET", "/metrics")
    m = re.search(rf"^{re.escape(name)} (\d+)", body.decode(), re.M)
    return int(m.group(1)) if m else None


class RateLimit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd(config=CONFIG).__enter__()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_a_burst_is_refused_with_rate_limited_and_the_connection_stays_usable(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                for i in range(15):  # the bucket holds 10
                    await ws.send(json.dumps({"op": "ping", "id": str(i)}))
                answers = [await recv_json(ws) for _ in range(15)]
                pongs = [a for a in answers if a["op"] == "pong"]
                limited = [a for a in answers if a.get("code") == "rate_limited"]
                self.assertEqual(len(pongs), 10, answers)
                self.assertEqual(len(limited), 5, answers)
                await asyncio.sleep(0.6)  # the bucket refills at 2/s
                await ws.send(json.dumps({"op": "ping", "id": "after"}))
                self.assertEqual((await recv_json(ws))["op"], "pong")
        run(go())
        self.assertGreaterEqual(metric(self.port, "herald_ws_rate_limited_total"), 5)

    def test_a_client_that_goes_on_is_closed_with_1008_and_others_are_unaffected(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as calm:
                async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as flood:
                    with self.assertRaises(websockets.ConnectionClosed) as closed:
                        for i in range(200):
                            await flood.send(json.dumps({"op": "ping", "id": str(i)}))
                        while True:
                            await asyncio.wait_for(flood.recv(), 3)
                    self.assertEqual(closed.exception.rcvd.code, 1008)
                    self.assertIn("rate limit", closed.exception.rcvd.reason)
                await calm.send(json.dumps({"op": "ping", "id": "calm"}))
                self.assertEqual((await recv_json(calm))["op"], "pong")
        run(go())
        self.assertGreaterEqual(metric(self.port, "herald_ws_rate_limit_closes_total"), 1)


class SseOrigins(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd(config=CONFIG).__enter__()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_a_page_of_another_origin_is_refused_before_the_stream(self):
        c = SseClient(self.port, "/sse?topic=news", headers={"Origin": "http://evil.example"})
        c.close()
        self.assertEqual(c.status, 403)
        self.assertEqual(c.json()["error"], "forbidden_origin")

    def test_an_allowed_origin_and_non_browser_clients_get_their_stream(self):
        for headers in ({"Origin": "http://good.example"}, {}):
            c = SseClient(self.port, "/sse?topic=news", headers=headers)
            self.assertEqual(c.status, 200, headers)
            c.close()

    def test_origins_match_exactly(self):
        for origin in ("http://good.example.evil", "HTTP://GOOD.EXAMPLE", "http://good.example:80",
                       "null"):
            c = SseClient(self.port, "/sse?topic=news", headers={"Origin": origin})
            c.close()
            self.assertEqual(c.status, 403, origin)


class ConnectionsPerAddress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd(config="[http]\nmax_connections_per_ip = 3\n").__enter__()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_an_address_over_its_limit_gets_503_until_one_of_its_connections_goes(self):
        async def go():
            url = f"ws://127.0.0.1:{self.port}/ws"
            held = [await websockets.connect(url) for _ in range(3)]  # upgraded: still counted
            try:
                with self.assertRaises(websockets.InvalidStatusCode) as e:
                    await websockets.connect(url)
                self.assertEqual(e.exception.status_code, 503)
                await held.pop().close()
                # A slot comes free once the server has let the connection go.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 3
                while True:
                    try:
                        extra = await websockets.connect(url)
                        break
                    except websockets.InvalidStatusCode:
                        if loop.time() > deadline:
                            raise
                        await asyncio.sleep(0.05)
                print(f"\n    [limits] slot free again after {3 - (deadline - loop.time()):.2f}s")
                await extra.close()
            finally:
                for ws in held:
                    await ws.close()
        run(go())
        time.sleep(0.2)
        resp, body = http_call(self.port, "GET", "/metrics")
        # At least the one refusal above (the wait for a free slot may add more).
        self.assertGreaterEqual(metric(self.port, 'herald_http_rejects_total{reason="max_connections_per_ip"}'), 1)


class PendingHeadsPerAddress(unittest.TestCase):
    def test_unfinished_heads_of_one_address_are_capped_and_a_finished_head_frees_its_place(self):
        import socket

        def from_other_address():  # 127.0.0.2: its own count; checks come from 127.0.0.1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", h.port))
            return s

        def get(s):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(5)
            return s.recv(400)

        with Heraldd(config="[http]\nmax_pending_heads_per_ip = 5\n") as h:
            loris = []
            for _ in range(5):
                s = from_other_address()
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x")  # and no more, for now
                loris.append(s)
            # Every loris connection accepted before the check.
            self.assertTrue(wait_until(
                lambda: (metric(h.port, "herald_http_connections_open") or 0) >= 5, 5))
            over = from_other_address()
            answer = get(over)
            over.close()
            self.assertIn(b"503", answer.split(b"\r\n")[0])
            self.assertIn(b"max_pending_heads_per_ip", answer)
            loris[0].sendall(b"\r\n\r\n")  # one head completes: its place is free
            self.assertIn(b"200 OK", loris[0].recv(200))
            again = from_other_address()
            self.assertIn(b"200 OK", get(again))
            again.close()
            resp, _ = http_call(h.port, "GET", "/healthz")  # another address: unaffected
            self.assertEqual(resp.status, 200)
            for s in loris:
                s.close()


class LimitLogLines(unittest.TestCase):
    def test_a_tripped_limit_is_logged_once_per_interval_with_its_reason(self):
        import socket
        with Heraldd(config="limit_log_interval_ms = 300\n[http]\nmax_connections_per_ip = 1\n") as h:
            keep = socket.create_connection(("127.0.0.1", h.port))
            # Served once, so it is surely accepted and counted before the rest.
            keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", keep.recv(200))
            for _ in range(5):
                resp, _ = http_call(h.port, "GET", "/healthz")
                self.assertEqual(resp.status, 503)
            self.assertTrue(wait_until(lambda: "(total 5)" in h.logs(), 3), h.logs())
            keep.close()
            lines = [l for l in h.logs().splitlines() if "limit tripped" in l]
            # Five trips, one line per interval (they may straddle two).
            self.assertLessEqual(len(lines), 2, lines)
            self.assertTrue(all('reason="max_connections_per_ip"}' in l for l in lines), lines)
            self.assertEqual(sum(int(re.search(r"\+(\d+) ", l).group(1)) for l in lines), 5)


class HttpRequestRate(unittest.TestCase):
    def test_a_connection_over_its_request_rate_gets_429_then_is_closed(self):
        import http.client
        config = "[http]\nmax_requests_per_second = 0.5\nrequest_burst = 5\n"
        with Heraldd(config=config) as h:
            conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
            statuses = []
            try:
                for _ in range(30):
                    conn.request("GET", "/healthz")
                    r = conn.getresponse()
                    r.read()
                    statuses.append(r.status)
                    if r.getheader("Connection", "").lower() == "close":
                        break
            except (OSError, http.client.HTTPException):
                pass
            conn.close()
            self.assertEqual(statuses[:5], [200] * 5, statuses)
            self.assertIn(429, statuses)
            self.assertLess(len(statuses), 30, "never closed")  # closed after the burst
            # Another connection has its own bucket.
            resp, _ = http_call(h.port, "GET", "/healthz")
            self.assertEqual(resp.status, 200)


class BodyTimeout(unittest.TestCase):
    def test_a_body_trickled_a_byte_at_a_time_is_cut_at_its_deadline(self):
        import socket
        with Heraldd(config="[http]\nbody_timeout_ms = 1000\nidle_timeout_ms = 60000\n") as h:
            s = socket.create_connection(("127.0.0.1", h.port))
            s.sendall(b"POST /publish/slow.body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            t0 = time.monotonic()
            answer = b""
            s.settimeout(0.2)
            while time.monotonic() - t0 < 5 and b"\r\n\r\n" not in answer:
                try:
                    s.sendall(b"x")  # a byte every 200 ms: always "making progress"
                    answer += s.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    break
            took = time.monotonic() - t0
            s.close()
            self.assertIn(b"408", answer.split(b"\r\n")[0])
            self.assertIn(b"body_timeout", answer)
            self.assertGreater(took, 0.9)
            self.assertLess(took, 2.5)


class GrpcStreams(unittest.TestCase):
    def test_calls_past_max_concurrent_streams_wait_for_one_to_end(self):
        import os
        import sys
        import grpc
        stubs = os.environ.get("HERALD_PYTHON_STUBS", os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "release", "python"))
        sys.path.insert(0, os.path.abspath(stubs))
        from herald.v1 import broker_pb2 as pb
        from herald.v1 import broker_pb2_grpc as pb_grpc
        with Heraldd("--grpc-listen", "127.0.0.1:0",
                     config="[grpc]\nmax_concurrent_streams = 2\n") as h:
            channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
            stub = pb_grpc.BrokerStub(channel)
            streams = [stub.Subscribe(pb.SubscribeRequest(pattern=f"s.{i}")) for i in range(3)]
            started = []
            for s in streams:
                t = threading.Thread(target=lambda s=s: (s.initial_metadata(), started.append(s)))
                t.daemon = True
                t.start()
            time.sleep(1.0)
            self.assertEqual(len(started), 2, "a third stream opened past the limit")
            streams[0].cancel()
            deadline = time.time() + 3
            while len(started) < 3 and time.time() < deadline:
                time.sleep(0.02)
            self.assertEqual(len(started), 3, "the waiting stream never started")
            for s in streams:
                s.cancel()
            channel.close()

    def test_a_connect_session_over_its_command_rate_is_refused_then_ended(self):
        import os
        import sys
        import grpc
        stubs = os.environ.get("HERALD_PYTHON_STUBS", os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "release", "python"))
        sys.path.insert(0, os.path.abspath(stubs))
        from herald.v1 import broker_pb2 as pb
        from herald.v1 import broker_pb2_grpc as pb_grpc
        config = "[grpc]\nmax_commands_per_second = 0.5\ncommand_burst = 5\n"
        with Heraldd("--grpc-listen", "127.0.0.1:0", config=config) as h:
            channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
            stub = pb_grpc.BrokerStub(channel)
            cmds = [pb.ClientCommand(id=i, publish=pb.PublishRequest(topic="r.x", payload=b"x"))
                    for i in range(1, 11)]  # 10 at once: 5 pass, 5 refused
            events = list(stub.Connect(iter(cmds), timeout=5))
            acks = [e for e in events if e.HasField("ack")]
            refused = [e for e in events if e.HasField("error")]
            self.assertEqual(len(acks), 5, events)
            self.assertEqual(len(refused), 5, events)
            self.assertTrue(all(e.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
                                for e in refused))
            # A session that goes on past the burst of refusals is ended.
            flood = [pb.ClientCommand(id=i, publish=pb.PublishRequest(topic="r.x", payload=b"x"))
                     for i in range(1, 40)]
            with self.assertRaises(grpc.RpcError) as e:
                list(stub.Connect(iter(flood), timeout=5))
            self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            channel.close()
            # Counted for /metrics and the limit log.
            self.assertGreaterEqual(metric(h.port, "herald_grpc_commands_rate_limited_total"), 10)
            self.assertEqual(metric(h.port, "herald_grpc_rate_limit_ends_total"), 1)


if __name__ == "__main__":
    unittest.main()
