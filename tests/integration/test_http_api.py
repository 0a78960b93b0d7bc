"""The HTTP API for backends (POST /publish, POST /request, GET /history),
driven with Python http.client and curl, across fronts with `websockets`."""
import asyncio
import json
import subprocess
import unittest

import websockets

from heraldd import Heraldd, http_call
from ws_util import recv_json, run


def call(port, method, path, body=b"", headers=None):
    return http_call(port, method, path, body, headers)


class HttpApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config="[limits]\nmax_payload_bytes = 1000\n").__enter__()
        cls.port = cls.h.port

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def test_publish_answers_epoch_and_offset_once_sequenced(self):
        r1, b1 = call(self.port, "POST", "/publish/api.orders", b"one")
        r2, b2 = call(self.port, "POST", "/publish/api.orders", b"two")
        self.assertEqual((r1.status, r2.status), (200, 200))
        a1, a2 = json.loads(b1), json.loads(b2)
        self.assertEqual(a1["epoch"], a2["epoch"])
        self.assertEqual(a2["offset"], a1["offset"] + 1)

    def test_http_publish_reaches_a_websocket_subscriber_with_type_and_headers(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                await ws.send(json.dumps({"op": "sub", "topic": "api.cross"}))
                await recv_json(ws)
                resp, _ = await asyncio.to_thread(
                    call, self.port, "POST", "/publish/api.cross", b'{"paid":true}',
                    {"Content-Type": "application/json", "Herald-Trace": "t-1"})
                self.assertEqual(resp.status, 200)
                m = await recv_json(ws)
                self.assertEqual(m["payload"], {"paid": True})
                self.assertEqual(m["content_type"], "application/json")
                self.assertEqual(m["headers"], {"Trace": "t-1"})
        run(go())

    def test_websocket_publish_shows_in_http_history(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                for i in range(3):
                    await ws.send(json.dumps({"op": "pub", "id": i, "topic": "api.hist",
                                              "payload": f"m{i}"}))
                    await recv_json(ws)
        run(go())
        resp, body = call(self.port, "GET", "/history/api.hist?after=1&limit=10")
        self.assertEqual(resp.status, 200)
        h = json.loads(body)
        self.assertEqual([m["offset"] for m in h["messages"]], [2, 3])
        self.assertEqual([m["payload"] for m in h["messages"]], ["m1", "m2"])
        self.assertIsNone(h["gap"])
        resp, body = call(self.port, "GET", "/history/api.hist?limit=1")
        self.assertTrue(json.loads(body)["truncated"])

    def test_request_reply_over_http_to_a_websocket_responder(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as responder:
                await responder.send(json.dumps({"op": "sub", "topic": "api.upper"}))
                await recv_json(responder)

                async def serve():
                    req = await recv_json(responder)
                    await responder.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                                     "payload": req["payload"].upper()}))
                server = asyncio.create_task(serve())
                resp, body = await asyncio.to_thread(
                    call, self.port, "POST", "/request/api.upper?timeout_ms=3000", b"hello",
                    {"Content-Type": "text/plain"})
                await server
                self.assertEqual(resp.status, 200)
                self.assertEqual(body, b"HELLO")
        run(go())

    def test_request_reply_carries_content_types_and_headers_both_ways(self):
        replies = [({"payload": {"ok": True}}, "application/json", b'{"ok":true}'),
                   ({"payload_b64": "AAH/"}, "application/octet-stream", b"\x00\x01\xff"),
                   ({"payload": "text \u00e9\n"}, "text/plain; charset=utf-8", "text \u00e9\n".encode())]

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as responder:
                await responder.send(json.dumps({"op": "sub", "topic": "api.typed"}))
                await recv_json(responder)
                for reply, content_type, body in replies:
                    async def serve(reply=reply):
                        req = await recv_json(responder)
                        await responder.send(json.dumps(dict(reply, op="reply", to=req["reply_to"])))
                        return req
                    server = asyncio.create_task(serve())
                    resp, data = await asyncio.to_thread(
                        call, self.port, "POST", "/request/api.typed?timeout_ms=2000", b'{"q":1}',
                        {"Content-Type": "application/json", "Herald-Trace": "t-7"})
                    req = await server
                    # The request as the responder saw it.
                    self.assertEqual(req["payload"], {"q": 1})
                    self.assertEqual(req["content_type"], "application/json")
                    self.assertEqual(req["headers"], {"Trace": "t-7"})
                    self.assertTrue(req["reply_to"].startswith("_INBOX."))
                    # The reply as the HTTP caller gets it.
                    self.assertEqual(resp.status, 200)
                    self.assertEqual(resp.getheader("Content-Type"), content_type)
                    self.assertEqual(data, body)
        run(go())

    def test_a_late_reply_after_a_504_is_dropped_and_the_next_request_works(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as responder:
                await responder.send(json.dumps({"op": "sub", "topic": "api.late"}))
                await recv_json(responder)
                resp, body = await asyncio.to_thread(
                    call, self.port, "POST", "/request/api.late?timeout_ms=150", b"slow?")
                self.assertEqual(resp.status, 504)
                self.assertEqual(json.loads(body)["error"], "timeout")
                req = await recv_json(responder)
                await responder.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                                 "payload": "too late"}))

                async def serve():
                    req = await recv_json(responder)
                    await responder.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                                     "payload": "in time"}))
                server = asyncio.create_task(serve())
                resp, body = await asyncio.to_thread(
                    call, self.port, "POST", "/request/api.late?timeout_ms=2000", b"fast?")
                await server
                self.assertEqual((resp.status, body), (200, b"in time"))
        run(go())
        resp, body = call(self.port, "GET", "/metrics")
        late = [l for l in body.decode().splitlines() if l.startswith("herald_late_replies_total ")]
        self.assertEqual(late, ["herald_late_replies_total 1"])

    def test_request_timeout_is_504_and_no_responders_is_503(self):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as silent:
                await silent.send(json.dumps({"op": "sub", "topic": "api.silent"}))
                await recv_json(silent)
                resp, body = await asyncio.to_thread(
                    call, self.port, "POST", "/request/api.silent?timeout_ms=200", b"?")
                self.assertEqual(resp.status, 504)
                self.assertEqual(json.loads(body)["error"], "timeout")
        run(go())
        resp, body = call(self.port, "POST", "/request/api.nobody", b"?")
        self.assertEqual(resp.status, 503)
        self.assertEqual(json.loads(body)["error"], "no_responders")

    def test_bad_input_gets_a_specific_4xx_with_a_json_body(self):
        cases = [
            ("POST", "/publish/a..b", b"x", 400, "invalid_topic"),
            ("POST", "/publish/a.*", b"x", 400, "invalid_topic"),
            ("POST", "/publish/a%zz", b"x", 400, "invalid_topic"),
            ("POST", "/publish/big", b"y" * 2000, 413, "payload_too_large"),
            ("POST", "/request/t?timeout_ms=abc", b"", 400, "invalid_argument"),
            ("POST", "/request/t?timeout_ms=0", b"", 400, "invalid_argument"),
            ("GET", "/history/t?after=-1", b"", 400, "invalid_argument"),
            ("GET", "/publish/t", b"", 405, None),
        ]
        for method, path, body, status, code in cases:
            resp, data = call(self.port, method, path, body)
            self.assertEqual(resp.status, status, (path, data))
            if code:
                self.assertEqual(json.loads(data)["error"], code, path)

    def test_curl_publishes_binary_and_history_returns_it_base64(self):
        r = subprocess.run(["curl", "-s", "--data-binary", "@-", "-H",
                            "Content-Type: application/octet-stream",
                            f"http://127.0.0.1:{self.port}/publish/api.bin"],
                           input=b"\x00\x01\xff", capture_output=True, timeout=10)
        self.assertIn(b'"offset":1', r.stdout)
        _, body = call(self.port, "GET", "/history/api.bin")
        self.assertEqual(json.loads(body)["messages"][0]["payload_b64"], "AAH/")


class Cors(unittest.TestCase):
    def test_only_allowed_origins_are_granted(self):
        with Heraldd(config='[http]\ncors_origins = ["https://app.example"]\n') as h:
            good = {"Origin": "https://app.example"}
            evil = {"Origin": "https://evil.example"}
            resp, _ = call(h.port, "POST", "/publish/cors.t", b"x", good)
            self.assertEqual(resp.getheader("Access-Control-Allow-Origin"), "https://app.example")
            self.assertIn("Origin", resp.getheader("Vary"))
            resp, _ = call(h.port, "POST", "/publish/cors.t", b"x", evil)
            self.assertIsNone(resp.getheader("Access-Control-Allow-Origin"))
            resp, _ = call(h.port, "GET", "/healthz", b"", good)
            self.assertEqual(resp.getheader("Access-Control-Allow-Origin"), "https://app.example")
            pre = dict(good, **{"Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "content-type"})
            resp, _ = call(h.port, "OPTIONS", "/publish/cors.t", b"", pre)
            self.assertEqual(resp.status, 204)
            self.assertEqual(resp.getheader("Access-Control-Allow-Origin"), "https://app.example")
            self.assertIn("POST", resp.getheader("Access-Control-Allow-Methods"))
            self.assertEqual(resp.getheader("Access-Control-Allow-Headers"), "content-type")
            resp, _ = call(h.port, "OPTIONS", "/publish/cors.t", b"",
                           dict(evil, **{"Access-Control-Request-Method": "POST"}))
            self.assertEqual(resp.status, 403)
            self.assertIsNone(resp.getheader("Access-Control-Allow-Origin"))


if __name__ == "__main__":
    unittest.main()
