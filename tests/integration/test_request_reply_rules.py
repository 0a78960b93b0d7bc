"""Request/reply under attack (issue 14, defects 1, 2, 10 and 11), against a
real heraldd: forged replies, header injection through a reply, publishing
into reply inboxes, and pending requests a client can pile up.

Each test attacks the way an unprivileged client would and prints the bound
it measured ([figure] lines)."""
import asyncio
import json
import os
import re
import socket
import sys
import threading
import time
import unittest

import grpc
import websockets

from heraldd import Heraldd, http_call, wait_until
from probe_util import SANITIZED, metric, report, rss_mib
from test_auth import SECRET, ISSUER, AUDIENCE, bearer, token
from ws_util import recv_json, recv_until, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

# Anonymous clients may connect and do nothing else; users get what their
# token grants.
AUTH_CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
anonymous = true
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
"""

INBOX = re.compile(r"^_INBOX\.([A-Za-z0-9-]+)\.([A-Za-z0-9_-]{22})$")


def md(tok):
    return (("authorization", "Bearer " + tok),) if tok else ()


def command_queue():
    """A Connect request stream fed from a queue: put commands, then None to
    half-close. Returns (queue, generator function)."""
    import queue
    commands = queue.Queue()

    def gen():
        while True:
            c = commands.get()
            if c is None:
                return
            yield c
    return commands, gen


def ws(port, tok=None):
    return websockets.connect(f"ws://127.0.0.1:{port}/ws",
                              extra_headers=bearer(tok) if tok else None, open_timeout=5)


async def answer(sock, want_id, timeout=3):
    return await recv_until(sock, lambda m: m.get("id") == want_id and m.get("op") != "msg",
                            timeout)


class ForgedReplies(unittest.TestCase):
    """Defect 1: a reply is allowed only to an inbox the session was sent."""

    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd("--grpc-listen", "127.0.0.1:0", config=AUTH_CONFIG).__enter__()
        cls.port, cls.grpc_port = cls.server.port, cls.server.grpc_port
        cls.alice = token("alice", publish=["svc.>"], subscribe=[])
        cls.bob = token("bob", publish=[], subscribe=["svc.>"])
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.grpc_port}")
        cls.stub = pb_grpc.BrokerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def test_inboxes_are_random_128_bit_tokens(self):
        async def go():
            async with ws(self.port, self.bob) as bob, ws(self.port, self.alice) as alice:
                await bob.send(json.dumps({"op": "sub", "id": 1, "topic": "svc.echo"}))
                await answer(bob, 1)
                seen = []
                for i in range(20):
                    await alice.send(json.dumps({"op": "req", "id": i, "topic": "svc.echo",
                                                 "payload": "x", "timeout_ms": 2000}))
                    req = await recv_until(bob, lambda m: m.get("op") == "msg")
                    seen.append(req["reply_to"])
                    await bob.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                               "payload": "ok"}))
                    self.assertEqual((await answer(alice, i))["payload"], "ok")
                return seen
        inboxes = run(go())
        tails = [INBOX.match(i) for i in inboxes]
        self.assertTrue(all(tails), inboxes)
        self.assertEqual(len({t.group(2) for t in tails}), 20)  # never repeated
        # Nothing sequential: no two tails share a prefix longer than chance.
        self.assertLess(max(len(os.path.commonprefix([a.group(2), b.group(2)]))
                            for a in tails for b in tails if a is not b), 6)
        report(self, "inbox example", inboxes[0])

    def test_an_anonymous_client_cannot_answer_a_users_request_over_websocket(self):
        async def go():
            async with ws(self.port, self.bob) as bob, ws(self.port, self.alice) as alice, \
                    ws(self.port) as attacker:
                await bob.send(json.dumps({"op": "sub", "id": 1, "topic": "svc.pay"}))
                await answer(bob, 1)
                await alice.send(json.dumps({"op": "req", "id": "r", "topic": "svc.pay",
                                             "payload": "100", "timeout_ms": 3000}))
                req = await recv_until(bob, lambda m: m.get("op") == "msg")
                inbox = req["reply_to"]
                node = INBOX.match(inbox).group(1)
                # The attacker even learns the real inbox, and guesses the old
                # sequential ones: every attempt is refused.
                targets = [inbox] + [f"_INBOX.{node}.{n}" for n in range(1, 51)]
                for n, to in enumerate(targets):
                    await attacker.send(json.dumps({"op": "reply", "id": n, "to": to,
                                                    "payload": "forged"}))
                codes = [(await answer(attacker, n))["code"] for n in range(len(targets))]
                self.assertEqual(set(codes), {"permission_denied"}, codes)
                await bob.send(json.dumps({"op": "reply", "to": inbox, "payload": "paid"}))
                got = await answer(alice, "r")
                self.assertEqual(got["payload"], "paid")
                # A second reply from the responder itself is refused: answered.
                await bob.send(json.dumps({"op": "reply", "id": "again", "to": inbox,
                                           "payload": "twice"}))
                self.assertEqual((await answer(bob, "again"))["code"], "permission_denied")
                return len(targets)
        n = run(go())
        self.assertGreaterEqual(metric(self.port, "herald_replies_refused_total"), n)
        report(self, "forged replies refused", n)

    def test_an_anonymous_grpc_session_cannot_answer_a_users_request(self):
        async def go():
            async with ws(self.port, self.bob) as bob, ws(self.port, self.alice) as alice:
                await bob.send(json.dumps({"op": "sub", "id": 1, "topic": "svc.grpc"}))
                await answer(bob, 1)
                await alice.send(json.dumps({"op": "req", "id": "r", "topic": "svc.grpc",
                                             "payload": "q", "timeout_ms": 3000}))
                req = await recv_until(bob, lambda m: m.get("op") == "msg")
                inbox = req["reply_to"]
                cmds = [pb.ClientCommand(id=1, reply=pb.Reply(to=inbox, payload=b"forged"))]
                events = self.stub.Connect(iter(cmds), timeout=5)
                event = next(events)
                events.cancel()
                self.assertEqual(event.id, 1)
                self.assertEqual(event.error.code, grpc.StatusCode.PERMISSION_DENIED.value[0])
                await bob.send(json.dumps({"op": "reply", "to": inbox, "payload": "real"}))
                self.assertEqual((await answer(alice, "r"))["payload"], "real")
        run(go())

    def test_a_grpc_responder_answers_what_it_was_sent_once(self):
        """The rule does not get in the way of a real responder on Connect."""
        commands, gen = command_queue()
        events = self.stub.Connect(gen(), metadata=md(self.bob), timeout=10)
        commands.put(pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(pattern="svc.conn")))
        self.assertEqual(next(events).WhichOneof("event"), "subscribed")
        result = {}

        def ask():
            result["reply"] = self.stub.Request(pb.RequestRequest(topic="svc.conn", payload=b"q"),
                                                metadata=md(self.alice), timeout=5)
        asker = threading.Thread(target=ask)
        asker.start()
        delivery = next(events)
        inbox = delivery.delivery.message.reply_to
        commands.put(pb.ClientCommand(id=2, reply=pb.Reply(to=inbox, payload=b"answer")))
        asker.join(10)
        self.assertEqual(result["reply"].payload, b"answer")
        commands.put(pb.ClientCommand(id=3, reply=pb.Reply(to=inbox, payload=b"again")))
        again = next(events)
        self.assertEqual((again.id, again.error.code),
                         (3, grpc.StatusCode.PERMISSION_DENIED.value[0]))
        commands.put(None)
        events.cancel()


class InboxPublish(unittest.TestCase):
    """Defect 11: publishing into `_INBOX.` is refused on every front, alike."""

    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd("--grpc-listen", "127.0.0.1:0").__enter__()
        cls.port = cls.server.port
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.server.grpc_port}")
        cls.stub = pb_grpc.BrokerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def test_every_front_refuses_with_the_same_error_and_the_requester_gets_nothing(self):
        async def go():
            async with ws(self.port) as responder, ws(self.port) as requester, \
                    ws(self.port) as attacker:
                await responder.send(json.dumps({"op": "sub", "id": 1, "topic": "job.run"}))
                await answer(responder, 1)
                await requester.send(json.dumps({"op": "req", "id": "r", "topic": "job.run",
                                                 "payload": "p", "timeout_ms": 3000}))
                inbox = (await recv_until(responder, lambda m: m.get("op") == "msg"))["reply_to"]
                outcomes = {}
                resp, body = http_call(self.port, "POST", "/publish/" + inbox, b"forged")
                outcomes["http"] = (resp.status, json.loads(body)["error"],
                                    json.loads(body)["message"])
                await attacker.send(json.dumps({"op": "pub", "id": 5, "topic": inbox,
                                                "payload": "forged"}))
                e = await answer(attacker, 5)
                outcomes["websocket"] = (400, e["code"], e["message"])
                try:
                    self.stub.Publish(pb.PublishRequest(topic=inbox, payload=b"forged"),
                                      timeout=5)
                    outcomes["grpc"] = ("accepted",)
                except grpc.RpcError as err:
                    trailing = dict(err.trailing_metadata() or ())
                    outcomes["grpc"] = (err.code().name, trailing.get("herald-error"),
                                        err.details())
                events = self.stub.Connect(iter([pb.ClientCommand(
                    id=9, publish=pb.PublishRequest(topic=inbox, payload=b"forged"))]), timeout=5)
                ev = next(events)
                events.cancel()
                outcomes["connect"] = (ev.error.code, None, ev.error.message)
                # Nothing reached the requester: the real reply still wins.
                await responder.send(json.dumps({"op": "reply", "to": inbox, "payload": "real"}))
                self.assertEqual((await answer(requester, "r"))["payload"], "real")
                return outcomes
        o = run(go())
        self.assertEqual(o["http"][:2], (400, "invalid_topic"), o)
        self.assertEqual(o["websocket"][1], "invalid_topic", o)
        self.assertEqual(o["grpc"][:2], ("INVALID_ARGUMENT", "invalid_topic"), o)
        self.assertEqual(o["connect"][0], grpc.StatusCode.INVALID_ARGUMENT.value[0], o)
        messages = {v[-1] for v in o.values()}
        self.assertEqual(len(messages), 1, o)  # one rule, one message
        report(self, "the one refusal", messages.pop())


class HeaderInjection(unittest.TestCase):
    """Defect 2: a reply's content type and headers reach an HTTP response head
    only when they cannot break it."""

    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd("--grpc-listen", "127.0.0.1:0").__enter__()
        cls.port = cls.server.port
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.server.grpc_port}")
        cls.stub = pb_grpc.BrokerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def raw_request(self, path, body=b"q"):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data

    def test_a_grpc_reply_cannot_write_header_lines_into_an_http_response(self):
        commands, gen = command_queue()
        events = self.stub.Connect(gen(), timeout=15)
        commands.put(pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(pattern="svc.page")))
        self.assertEqual(next(events).WhichOneof("event"), "subscribed")
        result = {}
        asker = threading.Thread(
            target=lambda: result.setdefault("raw", self.raw_request("/request/svc.page")))
        asker.start()
        inbox = next(events).delivery.message.reply_to
        evil = [
            pb.Reply(to=inbox, payload=b"<script>", content_type="text/html\r\nSet-Cookie: s=1"),
            pb.Reply(to=inbox, payload=b"x", content_type="text/plain\nSet-Cookie: s=1"),
            pb.Reply(to=inbox, payload=b"x", headers={"A\r\nSet-Cookie": "s=1"}),
            pb.Reply(to=inbox, payload=b"x", headers={"Ok": "v\r\nSet-Cookie: s=1"}),
            pb.Reply(to=inbox, payload=b"x", headers={"Ok": "nul\x00byte"}),
            pb.Reply(to=inbox, payload=b"x", content_type="not a media type"),
        ]
        codes = []
        for n, r in enumerate(evil):
            commands.put(pb.ClientCommand(id=10 + n, reply=r))
        for n in range(len(evil)):
            ev = next(events)
            codes.append((ev.id, ev.error.code, ev.error.message))
        # The permit is spent only by an accepted reply: the good one passes.
        commands.put(pb.ClientCommand(id=99, reply=pb.Reply(
            to=inbox, payload=b"fine", content_type="text/plain; charset=utf-8",
            headers={"Trace": "abc"})))
        asker.join(15)
        commands.put(None)
        events.cancel()
        self.assertEqual({c[1] for c in codes}, {grpc.StatusCode.INVALID_ARGUMENT.value[0]},
                         codes)
        head, _, body = result["raw"].partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertNotIn(b"set-cookie", head.lower())
        self.assertIn(b"Content-Type: text/plain; charset=utf-8", head)
        self.assertIn(b"Herald-Trace: abc", head)
        self.assertEqual(body, b"fine")
        report(self, "injected replies refused", f"{len(codes)}/{len(evil)}")

    def test_every_ingress_refuses_control_bytes_in_content_types_and_headers(self):
        # gRPC publish
        with self.assertRaises(grpc.RpcError) as bad:
            self.stub.Publish(pb.PublishRequest(topic="t.h", payload=b"x",
                                                content_type="a/b\r\nX: y"), timeout=5)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as bad:
            self.stub.Publish(pb.PublishRequest(topic="t.h", payload=b"x",
                                                headers={"X": "a\nb"}), timeout=5)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

        # WebSocket JSON publish
        async def go():
            async with ws(self.port) as c:
                await c.send(json.dumps({"op": "pub", "id": 1, "topic": "t.h", "payload": "x",
                                         "headers": {"X": "a\r\nSet-Cookie: s=1"}}))
                self.assertEqual((await answer(c, 1))["code"], "invalid_argument")
                await c.send(json.dumps({"op": "pub", "id": 2, "topic": "t.h", "payload": "x",
                                         "headers": {"Bad Name": "v"}}))
                self.assertEqual((await answer(c, 2))["code"], "invalid_argument")
        run(go())

        # HTTP publish: a content type that is not a media type
        resp, body = http_call(self.port, "POST", "/publish/t.h", b"x",
                               {"Content-Type": "no-slash"})
        self.assertEqual((resp.status, json.loads(body)["error"]), (400, "invalid_argument"))


PENDING_CONFIG = """
[limits]
max_request_timeout_ms = 30000
max_pending_requests_per_connection = 50
max_pending_requests = 120
"""


class PendingRequests(unittest.TestCase):
    """Defect 10: pending requests are capped per connection and per node,
    their timeouts are capped, and they end with their connection."""

    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd("--grpc-listen", "127.0.0.1:0", config=PENDING_CONFIG).__enter__()
        cls.port = cls.server.port
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.server.grpc_port}")
        cls.stub = pb_grpc.BrokerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def pending(self):
        return metric(self.port, "herald_pending_requests")

    async def silent_responder(self, sock, topic):
        await sock.send(json.dumps({"op": "sub", "id": "s", "topic": topic}))
        await answer(sock, "s")

    def test_one_connection_holds_at_most_its_share_and_closing_it_cancels_them(self):
        async def go():
            async with ws(self.port) as responder:
                await self.silent_responder(responder, "slow.a")
                async with ws(self.port) as attacker:
                    for i in range(300):
                        await attacker.send(json.dumps({"op": "req", "id": i, "topic": "slow.a",
                                                        "payload": "x", "timeout_ms": 30000}))
                    refused = 0
                    for i in range(300):
                        a = await answer(attacker, i, timeout=5) if i >= 50 else None
                        if a and a.get("code") == "resource_exhausted":
                            refused += 1
                    self.assertEqual(refused, 250)
                    self.assertEqual(self.pending(), 50)
                # The attacker is gone: its 50 requests are cancelled at once,
                # not held for 30 s.
                self.assertTrue(wait_until(lambda: self.pending() == 0, 3), self.pending())
        before = metric(self.port, "herald_requests_cancelled_total") or 0
        run(go())
        self.assertGreaterEqual(metric(self.port, "herald_requests_cancelled_total") - before, 50)
        report(self, "pending after 300 requests on one connection", 50)

    def test_the_node_cap_holds_across_connections(self):
        async def go():
            async with ws(self.port) as responder:
                await self.silent_responder(responder, "slow.b")
                socks = [await ws(self.port).__aenter__() for _ in range(3)]
                try:
                    outcomes = []
                    for k, s in enumerate(socks):
                        for i in range(50):
                            await s.send(json.dumps({"op": "req", "id": i, "topic": "slow.b",
                                                     "payload": "x", "timeout_ms": 30000}))
                        want = min(120, 50 * (k + 1))
                        self.assertTrue(wait_until(lambda: self.pending() == want, 5))
                    # The third connection's last 30 are over the node's 120.
                    last = socks[2]
                    for i in range(20, 50):
                        outcomes.append(await answer(last, i, timeout=5))
                    self.assertEqual({o["code"] for o in outcomes}, {"resource_exhausted"})
                    self.assertIn("on this node", outcomes[0]["message"])
                    self.assertEqual(self.pending(), 120)
                finally:
                    for s in socks:
                        await s.close()
                self.assertTrue(wait_until(lambda: self.pending() == 0, 3))
        run(go())

    def test_timeouts_are_capped_on_every_front(self):
        # WebSocket JSON: refused with the bound named.
        async def go():
            async with ws(self.port) as c:
                await c.send(json.dumps({"op": "req", "id": 1, "topic": "slow.c", "payload": "x",
                                         "timeout_ms": 4294967295}))
                e = await answer(c, 1)
                self.assertEqual(e["code"], "invalid_argument")
                self.assertIn("30000", e["message"])
        run(go())
        # gRPC Connect: 49.7 days refused.
        events = self.stub.Connect(iter([pb.ClientCommand(
            id=1, timeout_ms=4294967295, request=pb.RequestRequest(topic="slow.c"))]), timeout=5)
        ev = next(events)
        events.cancel()
        self.assertEqual(ev.error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        # HTTP: refused with the bound named.
        resp, body = http_call(self.port, "POST", "/request/slow.c?timeout_ms=99999999", b"x")
        self.assertEqual(resp.status, 400)
        self.assertIn(b"30000", body)

        # Unary gRPC Request with a 1-hour deadline: shortened to the cap. A
        # small cap on a second node shows it without waiting 30 s.
        with Heraldd("--grpc-listen", "127.0.0.1:0",
                     config="[limits]\nmax_request_timeout_ms = 300\n") as small:
            async def responder_and_ask():
                async with ws(small.port) as r:
                    await self.silent_responder(r, "slow.d")
                    ch = grpc.insecure_channel(f"127.0.0.1:{small.grpc_port}")
                    t0 = time.monotonic()
                    with self.assertRaises(grpc.RpcError) as late:
                        await asyncio.get_running_loop().run_in_executor(
                            None, lambda: pb_grpc.BrokerStub(ch).Request(
                                pb.RequestRequest(topic="slow.d"), timeout=3600))
                    ch.close()
                    return late.exception.code(), time.monotonic() - t0
            code, took = run(responder_and_ask())
            self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertLess(took, 10)
            report(self, "1-hour unary deadline ended after (s)", round(took, 2))

    def test_a_grpc_session_holds_at_most_its_share_and_its_end_cancels_them(self):
        async def go():
            async with ws(self.port) as responder:
                await self.silent_responder(responder, "slow.e")
                cmds = [pb.ClientCommand(id=i, timeout_ms=30000,
                                         request=pb.RequestRequest(topic="slow.e"))
                        for i in range(1, 81)]
                loop = asyncio.get_running_loop()

                def session():
                    q, gen = command_queue()
                    for c in cmds:
                        q.put(c)
                    events = self.stub.Connect(gen(), timeout=20)
                    refused = [next(events) for _ in range(30)]
                    pending = self.pending()
                    q.put(None)
                    events.cancel()
                    return refused, pending
                refused, pending = await loop.run_in_executor(None, session)
                self.assertEqual({e.error.code for e in refused},
                                 {grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]})
                self.assertEqual(pending, 50)
                self.assertTrue(wait_until(lambda: self.pending() == 0, 3), self.pending())
        run(go())


class PendingRequestsMemory(unittest.TestCase):
    """Defect 10 as observed: one WebSocket connection sending 30,000 requests
    (the probe sent 300,000 for 142 MiB) under the default limits."""

    def test_memory_stays_bounded_by_the_per_connection_cap(self):
        with Heraldd() as server:
            async def go():
                # The responder never reads what it is sent: an unbounded client
                # queue lets its close handshake finish anyway.
                responder_ws = websockets.connect(f"ws://127.0.0.1:{server.port}/ws",
                                                  open_timeout=5, max_queue=None)
                async with responder_ws as responder, ws(server.port) as attacker:
                    await responder.send(json.dumps({"op": "sub", "id": "s", "topic": "q.mem"}))
                    await answer(responder, "s")
                    before = rss_mib(server.proc.pid)
                    refused = 0
                    for batch in range(30):
                        for i in range(1000):
                            await attacker.send(json.dumps({
                                "op": "req", "id": batch * 1000 + i, "topic": "q.mem",
                                "payload": "x" * 400, "timeout_ms": 60000}))
                        while True:
                            try:
                                m = json.loads(await asyncio.wait_for(attacker.recv(), 0.05))
                            except asyncio.TimeoutError:
                                break
                            refused += m.get("code") == "resource_exhausted"
                    # Every refusal is answered (a sanitizer build answers more
                    # slowly than the client sends): read them all before measuring.
                    while refused < 30000 - 256:
                        m = json.loads(await asyncio.wait_for(attacker.recv(), 10))
                        refused += m.get("code") == "resource_exhausted"
                    pending = metric(server.port, "herald_pending_requests")
                    grown = rss_mib(server.proc.pid) - before
                    return pending, grown, refused
            pending, grown, refused = run(go())
        self.assertEqual(pending, 256)
        self.assertEqual(refused, 30000 - 256)
        if not SANITIZED:  # ASan's quarantine holds freed memory
            self.assertLess(grown, 64)
        report(self, "pending requests after 30,000 (default cap)", pending)
        report(self, "RSS growth (MiB)", round(grown, 1))


if __name__ == "__main__":
    unittest.main()
