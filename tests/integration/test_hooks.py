"""Hooks (docs/PROTOCOL.md, "Hooks"): a real heraldd asking a backend before
clients connect, subscribe, publish and refresh, over HTTP JSON and over
gRPC (herald.v1.Hooks), with clients nobody here wrote (Python `websockets`,
`grpcio`, an SSE reader): allow, deny, grants and user set at connect, data
replaced on publish, command order kept while hooks answer out of order,
timeouts and a backend that is down under both failure policies, the
metrics, and a backend answering 1,000 connects."""
import asyncio
import base64
import contextlib
import json
import os
import socket
import statistics
import sys
import threading
import time
import unittest

import grpc
import websockets

from heraldd import Heraldd, http_call as raw_call, wait_until
from hook_backend import GrpcHookBackend, HttpHookBackend, b64
from sse_util import SseClient
from test_auth import auth_toml, bearer, claims, jwt
from ws_util import recv_json, recv_until, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

AUTH = auth_toml(["public.>", "chat.>", "secret.>"], ["public.>", "chat.>"])


QUEUES = """
[[queues]]
name = "secret.work"
pattern = "secret.jobs.>"
"""


def config(backend, on_failure="deny", timeout_ms=1000, events=("connect", "subscribe",
                                                                 "publish", "refresh"),
           extra=""):
    where = (f'url = "{backend.url}"' if hasattr(backend, "url")
             else f'grpc_target = "{backend.target}"')
    text = AUTH + f"\n[hooks]\n{where}\n{extra}\n"
    for e in events:
        text += (f"[hooks.{e}]\nenabled = true\ntimeout_ms = {timeout_ms}\n"
                 f'on_failure = "{on_failure}"\n')
        if e == "publish":
            text += 'patterns = ["chat.>"]\n'
    return text


@contextlib.contextmanager
def node(*args, config):
    """A heraldd that must exit cleanly (under the sanitizers: no report)."""
    h = Heraldd(*args, config=config).__enter__()
    try:
        yield h
    finally:
        rc = h.stop()
        assert rc == 0, f"heraldd exited {rc}:\n{h.logs()[-3000:]}"


def tok(sub, exp_in=600, **over):
    return jwt(claims(sub=sub, exp=int(time.time()) + exp_in, **over))


def http_call(port, method, path, body=None, headers=None):
    resp, data = raw_call(port, method, path, body, headers)
    return resp.status, data


def metric_of(port, name, event):
    _, body = raw_call(port, "GET", "/metrics")
    want = f'{name}{{event="{event}"}} '
    for line in body.decode().splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def ws_connect(port, token, path="/ws"):
    return await websockets.connect(f"ws://127.0.0.1:{port}{path}", extra_headers=bearer(token),
                                    open_timeout=5)


async def refused_status(port, token, path="/ws"):
    with_status = None
    try:
        ws = await ws_connect(port, token, path)
        await ws.close()
    except websockets.InvalidStatusCode as e:
        with_status = e.status_code
    return with_status


class HttpHooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = HttpHookBackend()
        cls.h = Heraldd("--grpc-listen", "127.0.0.1:0",
                        config=config(cls.backend) + QUEUES).__enter__()
        cls.port = cls.h.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.h.stop()
        cls.backend.close()
        assert rc == 0, f"heraldd exited {rc}:\n{cls.h.logs()[-3000:]}"

    def setUp(self):
        self.backend.decide = {}

    def test_connect_is_asked_with_the_token_and_a_denial_refuses_on_every_front(self):
        bob = tok("bob")
        self.backend.decide["connect"] = lambda r: (
            {"allow": False, "code": "permission_denied", "message": "bob is banned"}
            if r["user"] == "bob" else {"allow": True})

        async def go():
            self.assertEqual(await refused_status(self.port, bob), 403)
            self.assertEqual(await refused_status(self.port, bob, "/ws/public.raw"), 403)
            carol = await ws_connect(self.port, tok("carol"))
            await carol.send(json.dumps({"op": "ping", "id": "1"}))
            self.assertEqual((await recv_json(carol))["op"], "pong")
            await carol.close()
        run(go())
        asked = [r for r in self.backend.of("connect") if r["user"] == "bob"]
        self.assertEqual(asked[0]["token"], bob)
        self.assertEqual({r["transport"] for r in asked}, {"ws", "ws-raw"})
        self.assertTrue(asked[0]["client"])
        # SSE: the stream is refused with the backend's message.
        sse = SseClient(self.port, "/sse?topic=public.x", headers=bearer(bob))
        self.assertEqual(sse.status, 403)
        self.assertIn(b"bob is banned", sse.body)
        # gRPC streams end with PERMISSION_DENIED and the message.
        channel = grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}")
        stub = pb_grpc.BrokerStub(channel)
        md = (("authorization", "Bearer " + bob),)
        with self.assertRaises(grpc.RpcError) as e:
            next(iter(stub.Connect(iter([]), metadata=md)))
        self.assertEqual((e.exception.code(), e.exception.details()),
                         (grpc.StatusCode.PERMISSION_DENIED, "bob is banned"))
        with self.assertRaises(grpc.RpcError) as e:
            next(iter(stub.Subscribe(pb.SubscribeRequest(pattern="public.y"), metadata=md)))
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        with self.assertRaises(grpc.RpcError) as e:
            list(stub.PublishStream(iter([]), metadata=md))
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        channel.close()
        self.assertGreaterEqual(metric_of(self.port, "herald_hook_denied_total", "connect"), 6)

    def test_connect_may_name_the_user_and_replace_the_grants(self):
        self.backend.decide["connect"] = lambda r: {
            "allow": True, "user": "robert", "info": {"name": "Rob"},
            "grants": {"subscribe": ["vip.>"], "publish": ["vip.>"]}}

        async def go():
            ws = await ws_connect(self.port, tok("bob"))
            await ws.send(json.dumps({"op": "sub", "id": "1", "topic": "vip.room",
                                      "presence": True}))
            sub = await recv_until(ws, lambda m: m.get("id") == "1")
            self.assertEqual(sub["op"], "subscribed", sub)
            first = await recv_until(ws, lambda m: m.get("op") == "presence" and m.get("join"))
            self.assertEqual(first["join"][0]["user"], "robert")
            self.assertEqual(first["join"][0]["info"], {"name": "Rob"})
            # The token's grants are gone: public.> came from [[auth.rules]].
            await ws.send(json.dumps({"op": "sub", "id": "2", "topic": "public.x"}))
            refused = await recv_until(ws, lambda m: m.get("id") == "2")
            self.assertEqual(refused["code"], "permission_denied")
            await ws.close()
        run(go())

    def test_subscribe_denied_is_that_commands_error_and_the_session_goes_on(self):
        self.backend.decide["subscribe"] = lambda r: (
            {"allow": False, "code": "permission_denied", "message": "not your room"}
            if r["topic"].startswith("secret.") else {"allow": True})

        async def go():
            ws = await ws_connect(self.port, tok("dave"))
            await ws.send(json.dumps({"op": "sub", "id": "1", "topic": "secret.a"}))
            await ws.send(json.dumps({"op": "sub", "id": "2", "topic": "public.a"}))
            first = await recv_json(ws)
            second = await recv_json(ws)
            self.assertEqual((first["id"], first["code"], first["message"]),
                             ("1", "permission_denied", "not your room"))
            self.assertEqual((second["id"], second["op"]), ("2", "subscribed"))
            await ws.close()
        run(go())
        # The two calls go out together, on two connections: either may be
        # recorded first (their answers are applied in order all the same).
        asked = self.backend.of("subscribe")[-2:]
        self.assertEqual(sorted(r["topic"] for r in asked), ["public.a", "secret.a"])
        self.assertEqual({r["user"] for r in asked}, {"dave"})
        # SSE with a denied topic: refused as a whole.
        sse = SseClient(self.port, "/sse?topic=public.a&topic=secret.b",
                        headers=bearer(tok("dave")))
        self.assertEqual(sse.status, 403)
        # gRPC Subscribe.
        channel = grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}")
        with self.assertRaises(grpc.RpcError) as e:
            next(iter(pb_grpc.BrokerStub(channel).Subscribe(
                pb.SubscribeRequest(pattern="secret.c"),
                metadata=(("authorization", "Bearer " + tok("dave")),))))
        self.assertEqual((e.exception.code(), e.exception.details()),
                         (grpc.StatusCode.PERMISSION_DENIED, "not your room"))
        channel.close()

    def test_history_and_work_queues_meet_the_subscribe_hook_of_their_topics(self):
        self.backend.decide["subscribe"] = lambda r: (
            {"allow": False, "message": "not yours"} if r["topic"].startswith("secret.")
            else {"allow": True})
        status, body = http_call(self.port, "GET", "/history/secret.a?after=0",
                                 None, bearer(tok("olga")))
        self.assertEqual((status, json.loads(body)["error"]), (403, "permission_denied"))
        status, _ = http_call(self.port, "GET", "/history/public.a?after=0", None,
                              bearer(tok("olga")))
        self.assertEqual(status, 200)
        status, body = http_call(self.port, "POST", "/queues/secret.work/pull?wait_ms=0", b"",
                                 bearer(tok("olga")))
        self.assertEqual((status, json.loads(body)["message"]), (403, "not yours"))

        async def go():
            ws = await ws_connect(self.port, tok("olga"))
            await ws.send(json.dumps({"op": "join", "id": "j", "queue": "secret.work"}))
            answer = await recv_json(ws)
            self.assertEqual((answer["id"], answer["code"]), ("j", "permission_denied"))
            await ws.close()
        run(go())
        self.assertIn("secret.jobs.>", [r["topic"] for r in self.backend.of("subscribe")])

    def test_a_refresh_keeps_what_the_connect_hook_decided(self):
        self.backend.decide["connect"] = lambda r: {
            "allow": True, "user": "quinn-" + r["user"], "grants": {"subscribe": ["vip.>"]}}
        self.backend.decide["refresh"] = lambda r: {"allow": True,
                                                    "expires_at": int(time.time()) + 120}

        async def go():
            ws = await ws_connect(self.port, tok("quinn", exp_in=60))
            # The same token again (its grants hold public.>): the hook's
            # user and grants stay, its expiry is the refresh hook's.
            await ws.send(json.dumps({"op": "refresh", "id": "r", "token": tok("quinn")}))
            answer = await recv_json(ws)
            self.assertEqual(answer["op"], "refreshed", answer)
            self.assertAlmostEqual(answer["expires_at"], int(time.time()) + 120, delta=5)
            await ws.send(json.dumps({"op": "sub", "id": "1", "topic": "public.x"}))
            self.assertEqual((await recv_json(ws))["code"], "permission_denied")
            await ws.send(json.dumps({"op": "sub", "id": "2", "topic": "vip.x"}))
            self.assertEqual((await recv_json(ws))["op"], "subscribed")
            # Another subject's token is refused, as for any refresh.
            await ws.send(json.dumps({"op": "refresh", "id": "o", "token": tok("other")}))
            self.assertEqual((await recv_json(ws))["code"], "permission_denied")
            await ws.close()
        run(go())
        self.assertEqual(self.backend.of("refresh")[-1]["user"], "quinn-quinn")

    def test_publish_may_be_replaced_or_denied_on_every_front_and_only_under_its_patterns(self):
        def moderate(r):
            data = base64.b64decode(r["data"])
            if data == b"spam":
                return {"allow": False, "code": "invalid_argument", "message": "no spam"}
            return {"allow": True, "data": b64(data.upper())}
        self.backend.decide["publish"] = moderate
        before = len(self.backend.of("publish"))

        async def go():
            sub = await ws_connect(self.port, tok("erin"))
            for topic in ("chat.>", "public.>"):
                await sub.send(json.dumps({"op": "sub", "id": "s", "topic": topic}))
                self.assertEqual((await recv_json(sub))["op"], "subscribed")
            pub = await ws_connect(self.port, tok("frank"))
            await pub.send(json.dumps({"op": "pub", "id": "1", "topic": "chat.a",
                                       "payload": "hello"}))
            await pub.send(json.dumps({"op": "pub", "id": "2", "topic": "chat.a",
                                       "payload": "spam"}))
            await pub.send(json.dumps({"op": "pub", "id": "3", "topic": "public.a",
                                       "payload": "as is"}))
            acks = [await recv_json(pub) for _ in range(3)]
            self.assertEqual([a["id"] for a in acks], ["1", "2", "3"])
            self.assertEqual((acks[1]["code"], acks[1]["message"]), ("invalid_argument", "no spam"))
            got = [await recv_until(sub, lambda m: m.get("op") == "msg") for _ in range(2)]
            self.assertEqual([(m["topic"], m["payload"]) for m in got],
                             [("chat.a", "HELLO"), ("public.a", "as is")])
            # HTTP and gRPC publishes meet the same hook.
            status, _ = http_call(self.port, "POST", "/publish/chat.b", b"via http",
                                  bearer(tok("frank")))
            self.assertEqual(status, 200)
            m = await recv_until(sub, lambda m: m.get("op") == "msg")
            self.assertEqual((m["topic"], m["payload"]), ("chat.b", "VIA HTTP"))
            status, _ = http_call(self.port, "POST", "/publish/chat.b", b"spam",
                                  bearer(tok("frank")))
            self.assertEqual(status, 400)
            channel = grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}")
            pb_grpc.BrokerStub(channel).Publish(
                pb.PublishRequest(topic="chat.c", payload=b"via grpc"),
                metadata=(("authorization", "Bearer " + tok("frank")),))
            channel.close()
            m = await recv_until(sub, lambda m: m.get("op") == "msg")
            self.assertEqual((m["topic"], m["payload"]), ("chat.c", "VIA GRPC"))
            await sub.close()
            await pub.close()
        run(go())
        asked = self.backend.of("publish")[before:]
        self.assertEqual([r["topic"] for r in asked], ["chat.a", "chat.a", "chat.b", "chat.b",
                                                       "chat.c"])
        self.assertEqual(asked[0]["transport"], "ws")
        self.assertEqual(asked[2]["transport"], "http")

    def test_commands_complete_in_the_order_read_though_hooks_answer_out_of_order(self):
        # The first publish's hook answers last; nothing may overtake it.
        self.backend.decide["publish"] = lambda r: {
            "allow": True, "_sleep": 0.4 if base64.b64decode(r["data"]) == b"0" else 0}

        async def go():
            sub = await ws_connect(self.port, tok("gina"))
            await sub.send(json.dumps({"op": "sub", "id": "s", "topic": "chat.order"}))
            self.assertEqual((await recv_json(sub))["op"], "subscribed")
            pub = await ws_connect(self.port, tok("hank"))
            for i in range(40):
                # Hooked publishes, with unhooked pings and a subscribe among them.
                await pub.send(json.dumps({"op": "pub", "id": str(i), "topic": "chat.order",
                                           "payload": str(i)}))
                if i % 10 == 5:
                    await pub.send(json.dumps({"op": "ping", "id": f"p{i}"}))
            answers = [await recv_json(pub, 10) for _ in range(44)]
            ids = [a["id"] for a in answers]
            expected = []
            for i in range(40):
                expected.append(str(i))
                if i % 10 == 5:
                    expected.append(f"p{i}")
            self.assertEqual(ids, expected)
            self.assertTrue(all(a["op"] in ("ack", "pong") for a in answers), answers)
            got = [(await recv_until(sub, lambda m: m.get("op") == "msg", 10))["payload"]
                   for _ in range(40)]
            self.assertEqual(got, [str(i) for i in range(40)])
            await sub.close()
            await pub.close()
        run(go(), timeout=60)

    def test_refresh_asks_the_backend_which_may_deny_it(self):
        self.backend.decide["refresh"] = lambda r: (
            {"allow": False, "code": "unauthenticated", "message": "session ended"}
            if r["user"] == "ivan" else {"allow": True})

        async def go():
            for user, ok in (("ivan", False), ("judy", True)):
                ws = await ws_connect(self.port, tok(user, exp_in=60))
                await ws.send(json.dumps({"op": "refresh", "id": "r", "token":
                                          tok(user, exp_in=600)}))
                answer = await recv_json(ws)
                if ok:
                    self.assertEqual(answer["op"], "refreshed", answer)
                else:
                    self.assertEqual((answer["code"], answer["message"]),
                                     ("unauthenticated", "session ended"))
                await ws.close()
        run(go())
        self.assertEqual(self.backend.of("refresh")[-1]["user"], "judy")

    def test_a_backend_answering_1000_connects(self):
        self.backend.decide["connect"] = None

        async def one(i):
            t0 = time.perf_counter()
            ws = await ws_connect(self.port, tok(f"user{i}"))
            took = time.perf_counter() - t0
            await ws.close()
            return took

        async def go():
            took = []
            for start in range(0, 1000, 50):
                took += await asyncio.gather(*(one(i) for i in range(start, start + 50)))
            return took
        before = len(self.backend.of("connect"))
        took = run(go(), timeout=120)
        self.assertEqual(len(took), 1000)
        self.assertEqual(len(self.backend.of("connect")) - before, 1000)
        took.sort()
        print(f"\n1000 WebSocket connects through an HTTP connect hook: "
              f"p50 {statistics.median(took) * 1000:.2f} ms, "
              f"p99 {took[989] * 1000:.2f} ms (bench/hooks for the added latency)")


class Failures(unittest.TestCase):
    """A slow backend and one that is down, under both policies."""

    def check(self, backend, on_failure, expect_ws, expect_metric):
        with node(config=config(backend, on_failure=on_failure, timeout_ms=300,
                                events=("connect",))) as h:
            status = run(refused_status(h.port, tok("kate")))
            self.assertEqual(status, expect_ws)
            self.assertEqual(metric_of(h.port, expect_metric, "connect"), 1)
            if status == 503:
                sse = SseClient(h.port, "/sse?topic=public.x", headers=bearer(tok("kate")))
                self.assertEqual(sse.status, 503)
                self.assertIn(b"hook backend unavailable", sse.body)

    def test_a_slow_backend_times_out_into_the_policy(self):
        backend = HttpHookBackend()
        backend.decide["connect"] = lambda r: {"allow": True, "_sleep": 1.5}
        try:
            self.check(backend, "deny", 503, "herald_hook_failures_denied_total")
            self.check(backend, "allow", None, "herald_hook_failures_allowed_total")
        finally:
            backend.close()

    def test_a_backend_that_is_down_meets_the_policy(self):
        class Down:
            url = f"http://127.0.0.1:{free_port()}/hooks"
        self.check(Down, "deny", 503, "herald_hook_failures_denied_total")
        self.check(Down, "allow", None, "herald_hook_failures_allowed_total")

    def test_an_answer_that_does_not_parse_or_breaks_the_rules_is_a_failure(self):
        backend = HttpHookBackend()
        try:
            for bad in ({"_raw": b"not json"}, {"_status": 500, "allow": True},
                        {"allow": True, "grants": {"subscribe": ["a..b"]}},
                        {"allow": False, "code": "no_such_code"}):
                backend.decide["connect"] = lambda r, bad=bad: bad
                self.check(backend, "deny", 503, "herald_hook_failures_denied_total")
        finally:
            backend.close()


class WithoutRefreshHook(unittest.TestCase):
    def test_a_token_alone_renews_but_keeps_the_hooks_grants_and_never_its_expiry(self):
        backend = HttpHookBackend()
        backend.decide["connect"] = lambda r: (
            {"allow": True, "grants": {"subscribe": ["vip.>"]}} if r["user"] == "rita"
            else {"allow": True, "expires_at": int(time.time()) + 30})
        try:
            with node(config=config(backend, events=("connect",))) as h:
                async def go():
                    ws = await ws_connect(h.port, tok("rita"))
                    await ws.send(json.dumps({"op": "refresh", "id": "r", "token": tok("rita")}))
                    self.assertEqual((await recv_json(ws))["op"], "refreshed")
                    # The token's own grants (public.>) did not come back.
                    await ws.send(json.dumps({"op": "sub", "id": "1", "topic": "public.x"}))
                    self.assertEqual((await recv_json(ws))["code"], "permission_denied")
                    await ws.send(json.dumps({"op": "sub", "id": "2", "topic": "vip.x"}))
                    self.assertEqual((await recv_json(ws))["op"], "subscribed")
                    await ws.close()
                    # An expiry the hook set: only the refresh hook extends it.
                    ws = await ws_connect(h.port, tok("sam"))
                    await ws.send(json.dumps({"op": "refresh", "id": "r", "token": tok("sam")}))
                    answer = await recv_json(ws)
                    self.assertEqual(answer["code"], "permission_denied", answer)
                    self.assertIn("refresh hook", answer["message"])
                    await ws.close()
                run(go())
        finally:
            backend.close()


class Shutdown(unittest.TestCase):
    def test_a_node_stopping_while_hooks_are_asked_exits_cleanly(self):
        for make in (HttpHookBackend, GrpcHookBackend):
            backend = make()
            backend.decide["subscribe"] = lambda r: {"allow": True, "_sleep": 1.0}
            backend.decide["connect"] = lambda r: {"allow": True, "_sleep": 1.0}
            try:
                with node("--grpc-listen", "127.0.0.1:0",
                          config=config(backend, timeout_ms=5000)) as h:
                    channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
                    md = (("authorization", "Bearer " + tok("tess")),)
                    stream = pb_grpc.BrokerStub(channel).Subscribe(
                        pb.SubscribeRequest(pattern="public.s"), metadata=md)
                    sse = threading.Thread(target=lambda: SseClient(
                        h.port, "/sse?topic=public.s", headers=bearer(tok("tess")), timeout=3),
                        daemon=True)
                    sse.start()
                    self.assertTrue(wait_until(lambda: len(backend.of("connect")) >= 2, 3))
                    # heraldd stops (node's exit) with both calls still out.
                stream.cancel()
                channel.close()
            finally:
                backend.close()


class GrpcHooks(unittest.TestCase):
    """The same decisions from a gRPC backend (herald.v1.Hooks)."""

    def test_grpc_backend_decides_connect_subscribe_and_publish(self):
        backend = GrpcHookBackend()
        backend.decide["connect"] = lambda r: (
            {"allow": False, "message": "no"} if r["user"] == "mallory"
            else {"allow": True, "grants": {"subscribe": ["chat.>"],
                                            "publish": ["chat.open", "chat.g"]}})
        backend.decide["subscribe"] = lambda r: {"allow": r["topic"] != "chat.closed"}
        backend.decide["publish"] = lambda r: {
            "allow": True, "data": b64(base64.b64decode(r["data"])[::-1])}
        try:
            with node("--grpc-listen", "127.0.0.1:0", config=config(backend)) as h:
                async def go():
                    self.assertEqual(await refused_status(h.port, tok("mallory")), 403)
                    ws = await ws_connect(h.port, tok("nina"))
                    await ws.send(json.dumps({"op": "sub", "id": "1", "topic": "chat.closed"}))
                    self.assertEqual((await recv_json(ws))["code"], "permission_denied")
                    await ws.send(json.dumps({"op": "sub", "id": "2", "topic": "chat.open"}))
                    self.assertEqual((await recv_json(ws))["op"], "subscribed")
                    await ws.send(json.dumps({"op": "pub", "id": "3", "topic": "chat.open",
                                              "payload": "abc"}))
                    m = await recv_until(ws, lambda m: m.get("op") == "msg")
                    self.assertEqual(m["payload"], "cba")
                    await ws.close()
                run(go())
                # A gRPC Connect session through the same hooks.
                channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
                stub = pb_grpc.BrokerStub(channel)
                md = (("authorization", "Bearer " + tok("oscar")),)
                commands = [pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(
                                pattern="chat.closed")),
                            pb.ClientCommand(id=2, subscribe=pb.SubscribeRequest(
                                pattern="chat.g")),
                            pb.ClientCommand(id=3, publish=pb.PublishRequest(
                                topic="chat.g", payload=b"xyz")),
                            # Hooked, but refused by the grants before the
                            # hook: answered inline, under the command lock.
                            pb.ClientCommand(id=4, publish=pb.PublishRequest(
                                topic="chat.h", payload=b"no")),
                            pb.ClientCommand(id=5, publish=pb.PublishRequest(
                                topic="chat.g", payload=b"after"))]

                def gen():
                    yield from commands
                    time.sleep(2)
                call = stub.Connect(gen(), metadata=md)
                events = []
                for e in call:
                    events.append(e)
                    deliveries = sum(ev.HasField("delivery") for ev in events)
                    if deliveries == 2 and len(events) - deliveries == 5:
                        break
                call.cancel()
                channel.close()
                answers = [e for e in events if not e.HasField("delivery")]
                self.assertEqual([e.id for e in answers], [1, 2, 3, 4, 5])
                self.assertTrue(answers[0].HasField("error"))
                self.assertEqual(answers[3].error.reason, "permission_denied")
                self.assertEqual([e.delivery.message.payload for e in events
                                  if e.HasField("delivery")], [b"zyx", b"retfa"])
                self.assertEqual(backend.of("connect")[-1]["transport"], "grpc")
                # A half-close right behind hooked commands: they are answered
                # first, then the stream ends.
                backend.decide["publish"] = lambda r: {"allow": True, "_sleep": 0.3}
                channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
                call = pb_grpc.BrokerStub(channel).Connect(
                    iter([pb.ClientCommand(id=i, publish=pb.PublishRequest(
                        topic="chat.g", payload=b"late")) for i in (1, 2)]), metadata=md)
                self.assertEqual([(e.id, e.HasField("ack")) for e in call],
                                 [(1, True), (2, True)])
                channel.close()
        finally:
            backend.close()


if __name__ == "__main__":
    unittest.main()
