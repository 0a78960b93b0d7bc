"""The WebSocket front with a real client nobody here wrote: Python `websockets`.

Raw mode `/ws/<topic>` (the seed's chat semantics) and the JSON protocol `/ws`,
including every error path of the protocol.
"""
import asyncio
import json
import unittest

import websockets

from heraldd import Heraldd
from ws_util import (masked_frame, raw_handshake, read_close_code, recv_json, recv_until, run)


class RawMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config="[websocket]\nmax_message_bytes = 65536\n").__enter__()
        cls.url = f"ws://127.0.0.1:{cls.h.port}"

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def test_two_clients_chat_like_the_seed_example(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/chat.lobby") as alice, \
                       websockets.connect(f"{self.url}/ws/chat.lobby") as bob:
                await alice.send("hi bob")
                self.assertEqual(await bob.recv(), "hi bob")
                self.assertEqual(await alice.recv(), "hi bob")  # the sender too
                await bob.send("hi alice")
                self.assertEqual(await alice.recv(), "hi alice")
                self.assertEqual(await bob.recv(), "hi alice")
        run(go())

    def test_lone_client_gets_its_own_frames_back_with_the_same_type(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/echo.me") as c:
                await c.send("text ✓")
                self.assertEqual(await c.recv(), "text ✓")
                await c.send(b"\x00\xffbinary")
                self.assertEqual(await c.recv(), b"\x00\xffbinary")
        run(go())

    def test_uncompressed_and_compressed_clients_share_a_topic(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/mix", compression=None) as plain, \
                       websockets.connect(f"{self.url}/ws/mix") as deflate:
                self.assertIsNone(plain.response_headers.get("Sec-WebSocket-Extensions"))
                self.assertIn("server_no_context_takeover",
                              deflate.response_headers.get("Sec-WebSocket-Extensions"))
                for i in range(20):
                    await plain.send("x" * 1000 + str(i))
                for i in range(20):
                    self.assertEqual(await deflate.recv(), "x" * 1000 + str(i))
                    self.assertEqual(await plain.recv(), "x" * 1000 + str(i))
        run(go())

    def test_topics_are_isolated(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/room.a") as a, \
                       websockets.connect(f"{self.url}/ws/room.b") as b:
                await a.send("for a")
                self.assertEqual(await a.recv(), "for a")
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(b.recv(), 0.3)
        run(go())

    def test_bad_topics_are_refused_before_the_upgrade(self):
        for path in ["/ws/a..b", "/ws/a.*", "/ws/a.%3E", "/ws/_INBOX.x", "/ws/%zz"]:
            s, head = raw_handshake(self.h.port, path)
            s.close()
            self.assertTrue(head.startswith("HTTP/1.1 400"), (path, head))

    def test_other_versions_get_426_with_the_supported_version(self):
        s, head = raw_handshake(self.h.port, version="12")
        s.close()
        self.assertTrue(head.startswith("HTTP/1.1 426"), head)
        self.assertIn("Sec-WebSocket-Version: 13", head)

    def test_bad_key_is_400(self):
        s, head = raw_handshake(self.h.port, key="too-short")
        s.close()
        self.assertTrue(head.startswith("HTTP/1.1 400"), head)

    def test_message_over_the_limit_is_closed_with_1009(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/big", max_size=None) as c:
                await c.send("y" * 70000)
                await asyncio.wait_for(c.wait_closed(), 3)
                self.assertEqual(c.close_code, 1009)
        run(go())

    def test_invalid_utf8_text_is_closed_with_1007_and_others_are_unaffected(self):
        async def go():
            async with websockets.connect(f"{self.url}/ws/utf8") as healthy:
                s, head = raw_handshake(self.h.port, "/ws/utf8")
                self.assertTrue(head.startswith("HTTP/1.1 101"), head)
                s.sendall(masked_frame(0x1, b"ok \xc3\x28 bad"))
                self.assertEqual(read_close_code(s), 1007)
                s.close()
                await healthy.send("still fine")
                self.assertEqual(await healthy.recv(), "still fine")
        run(go())

    def test_unmasked_client_frame_is_a_protocol_error(self):
        s, head = raw_handshake(self.h.port, "/ws/unmasked")
        self.assertTrue(head.startswith("HTTP/1.1 101"), head)
        s.sendall(b"\x81\x02hi")
        self.assertEqual(read_close_code(s), 1002)
        s.close()


class JsonProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config="[limits]\nmax_payload_bytes = 1000\n"
                               "max_subscriptions_per_connection = 3\n"
                               "[history]\nmax_messages = 5\n").__enter__()
        cls.url = f"ws://127.0.0.1:{cls.h.port}/ws"

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def test_sub_pub_ack_msg(self):
        async def go():
            async with websockets.connect(self.url) as sub, websockets.connect(self.url) as pub:
                await sub.send(json.dumps({"op": "sub", "id": 1, "topic": "orders.*"}))
                self.assertEqual(await recv_json(sub),
                                 {"op": "subscribed", "id": 1, "topic": "orders.*"})
                await pub.send(json.dumps({"op": "pub", "id": "p1", "topic": "orders.42",
                                           "payload": {"paid": True}}))
                ack = await recv_json(pub)
                self.assertEqual((ack["op"], ack["id"], ack["offset"]), ("ack", "p1", 1))
                msg = await recv_json(sub)
                self.assertEqual(msg["op"], "msg")
                self.assertEqual(msg["topic"], "orders.42")
                self.assertEqual(msg["payload"], {"paid": True})
                self.assertEqual((msg["epoch"], msg["offset"]), (ack["epoch"], 1))
                await pub.send(json.dumps({"op": "pub", "topic": "orders.43",
                                           "payload_b64": "AAEC"}))
                self.assertEqual((await recv_json(sub))["payload_b64"], "AAEC")
        run(go())

    def test_overlapping_subscriptions_deliver_a_message_once(self):
        async def go():
            async with websockets.connect(self.url) as c:
                for i, t in enumerate(["dup.*", "dup.x", ">"]):
                    await c.send(json.dumps({"op": "sub", "id": i, "topic": t}))
                    await recv_json(c)
                await c.send(json.dumps({"op": "pub", "topic": "dup.x", "payload": "once"}))
                self.assertEqual((await recv_json(c))["payload"], "once")
                with self.assertRaises(asyncio.TimeoutError):
                    await recv_json(c, 0.3)
        run(go())

    def test_unsub_stops_delivery(self):
        async def go():
            async with websockets.connect(self.url) as c:
                await c.send(json.dumps({"op": "sub", "topic": "u.t"}))
                await recv_json(c)
                await c.send(json.dumps({"op": "unsub", "id": 2, "topic": "u.t"}))
                self.assertEqual((await recv_json(c))["op"], "unsubscribed")
                await c.send(json.dumps({"op": "pub", "topic": "u.t", "payload": "x"}))
                with self.assertRaises(asyncio.TimeoutError):
                    await recv_json(c, 0.3)
        run(go())

    def test_request_reply_between_two_clients(self):
        async def go():
            async with websockets.connect(self.url) as server, \
                       websockets.connect(self.url) as client:
                await server.send(json.dumps({"op": "sub", "topic": "math.double",
                                              "group": "workers"}))
                await recv_json(server)
                await client.send(json.dumps({"op": "req", "id": "r1", "topic": "math.double",
                                              "payload": 21, "timeout_ms": 2000}))
                req = await recv_json(server)
                self.assertTrue(req["reply_to"].startswith("_INBOX."))
                await server.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                              "payload": req["payload"] * 2}))
                self.assertEqual(await recv_json(client),
                                 {"op": "reply", "id": "r1", "payload": 42,
                                  "content_type": "application/json"})
        run(go())

    def test_request_timeout_and_no_responders(self):
        async def go():
            async with websockets.connect(self.url) as silent, \
                       websockets.connect(self.url) as c:
                await silent.send(json.dumps({"op": "sub", "topic": "svc.silent"}))
                await recv_json(silent)
                await c.send(json.dumps({"op": "req", "id": 7, "topic": "svc.silent",
                                         "timeout_ms": 200}))
                err = await recv_json(c)
                self.assertEqual((err["op"], err["id"], err["code"]), ("error", 7, "timeout"))
                await c.send(json.dumps({"op": "req", "id": 8, "topic": "svc.none"}))
                err = await recv_json(c)
                self.assertEqual((err["id"], err["code"]), (8, "no_responders"))
        run(go())

    def test_queue_group_members_share_the_work(self):
        async def go():
            async with websockets.connect(self.url) as w1, websockets.connect(self.url) as w2, \
                       websockets.connect(self.url) as p:
                for w in (w1, w2):
                    await w.send(json.dumps({"op": "sub", "topic": "jobs", "group": "g"}))
                    await recv_json(w)
                for i in range(20):
                    await p.send(json.dumps({"op": "pub", "topic": "jobs", "payload": i}))
                got = []
                for w in (w1, w2):
                    try:
                        while True:
                            got.append(((await recv_json(w, 0.5))["payload"], w))
                    except asyncio.TimeoutError:
                        pass
                self.assertEqual(sorted(x for x, _ in got), list(range(20)))
                self.assertEqual(sum(1 for _, w in got if w is w1), 10)
        run(go())

    def test_resume_replays_missed_messages_then_reports_a_trimmed_gap(self):
        async def go():
            async with websockets.connect(self.url) as p:
                acks = []
                for i in range(3):
                    await p.send(json.dumps({"op": "pub", "id": i, "topic": "hist.t", "payload": i}))
                    acks.append(await recv_json(p))
                epoch = acks[0]["epoch"]
                async with websockets.connect(self.url) as c:
                    await c.send(json.dumps({"op": "sub", "topic": "hist.t",
                                             "resume": {"hist.t": {"epoch": epoch, "offset": 1}}}))
                    self.assertEqual((await recv_json(c))["op"], "subscribed")
                    self.assertEqual([(await recv_json(c))["offset"] for _ in range(2)], [2, 3])
                for i in range(10):  # history keeps 5: offsets 1..9 fall out
                    await p.send(json.dumps({"op": "pub", "topic": "hist.t", "payload": i}))
                # Sequenced before resuming: the acknowledgement of one more.
                await p.send(json.dumps({"op": "pub", "id": 99, "topic": "hist.t", "payload": 10}))
                self.assertEqual((await recv_until(p, lambda m: m.get("op") == "ack"))["offset"], 14)
                async with websockets.connect(self.url) as c:
                    await c.send(json.dumps({"op": "sub", "topic": "hist.t",
                                             "resume": {"hist.t": {"epoch": epoch, "offset": 3}}}))
                    await recv_json(c)
                    gap = await recv_json(c)
                    self.assertEqual((gap["op"], gap["reason"], gap["from"], gap["to"]),
                                     ("gap", "trimmed", 4, 9))
                    self.assertEqual([(await recv_json(c))["offset"] for _ in range(5)],
                                     [10, 11, 12, 13, 14])
                    await c.send(json.dumps({"op": "sub", "topic": "hist.u",
                                             "resume": {"hist.u": {"epoch": 123, "offset": 9}}}))
                    await recv_json(c)
                    gap = await recv_json(c)
                    self.assertEqual(gap["reason"], "epoch_changed")
        run(go())

    def test_every_bad_input_gets_a_specific_error_and_the_connection_stays_usable(self):
        cases = [
            ("not json", None, "invalid_argument"),
            ('{"op":"fly"}', None, "invalid_argument"),
            ('{"op":"sub","id":1}', 1, "invalid_argument"),
            ('{"op":"sub","id":2,"topic":"a..b"}', 2, "invalid_topic"),
            ('{"op":"pub","id":3,"topic":"a.*","payload":1}', 3, "invalid_topic"),
            ('{"op":"pub","id":4,"topic":"big","payload":"' + "z" * 2000 + '"}', 4,
             "payload_too_large"),
            ('{"op":"unsub","id":5,"topic":"never"}', 5, "not_found"),
            ('{"op":"req","id":6,"topic":"t","timeout_ms":-1}', 6, "invalid_argument"),
            ('{"op":"reply","id":7,"to":"not.an.inbox","payload":1}', 7, "invalid_argument"),
            ('{"op":"sub","id":8,"topic":"_INBOX.>"}', 8, "invalid_topic"),
            ('{"op":"sub","id":9,"topic":"r.a","resume":{"other":{"epoch":1,"offset":1}}}', 9,
             "invalid_argument"),
        ]

        async def go():
            async with websockets.connect(self.url) as c:
                for text, want_id, code in cases:
                    await c.send(text)
                    err = await recv_json(c)
                    self.assertEqual(err["op"], "error", text)
                    self.assertEqual(err.get("id"), want_id, text)
                    self.assertEqual(err["code"], code, (text, err))
                    self.assertTrue(err["message"], text)
                # Subscription limit (3 per connection).
                for i in range(3):
                    await c.send(json.dumps({"op": "sub", "topic": f"lim.{i}"}))
                    self.assertEqual((await recv_json(c))["op"], "subscribed")
                await c.send(json.dumps({"op": "sub", "id": "x", "topic": "lim.3"}))
                self.assertEqual((await recv_json(c))["code"], "too_many_subscriptions")
                # Still usable after all that.
                await c.send(json.dumps({"op": "ping", "id": "last"}))
                self.assertEqual(await recv_json(c), {"op": "pong", "id": "last"})
        run(go())

    def test_binary_frame_closes_with_1003(self):
        async def go():
            async with websockets.connect(self.url) as c:
                await c.send(b"\x01\x02")
                await asyncio.wait_for(c.wait_closed(), 3)
                self.assertEqual(c.close_code, 1003)
        run(go())

    def test_metrics_count_websocket_connections(self):
        async def go():
            async with websockets.connect(self.url):
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", self.h.port, timeout=5)
                conn.request("GET", "/metrics")
                body = conn.getresponse().read().decode()
                line = next(l for l in body.splitlines()
                            if l.startswith("herald_ws_connections_open "))
                self.assertGreaterEqual(float(line.split()[1]), 1)
        run(go())


class Shutdown(unittest.TestCase):
    def test_requests_still_pending_at_shutdown_do_not_crash_the_server(self):
        h = Heraldd().__enter__()
        url = f"ws://127.0.0.1:{h.port}/ws"

        async def go():
            silent = await websockets.connect(url)
            await silent.send(json.dumps({"op": "sub", "topic": "svc.slow"}))
            await recv_json(silent)
            c = await websockets.connect(url)
            await c.send(json.dumps({"op": "req", "id": 1, "topic": "svc.slow",
                                     "timeout_ms": 60000}))
            await recv_json(silent)  # the request is out; its reply never comes
            return silent, c
        loop = asyncio.new_event_loop()
        silent, c = loop.run_until_complete(go())
        # The broker fails the pending request after the loops are gone.
        self.assertEqual(h.stop(), 0, h.logs())
        loop.close()


if __name__ == "__main__":
    unittest.main()
