"""One table of scenarios, run through every front of a real heraldd.

The session layer (frontends/session/) gives each operation one meaning;
this test holds the fronts to it. Each scenario names an operation and its
input and the outcome expected; it is run through every front that offers
the operation, by clients nobody here wrote (Python `websockets`, `grpcio`,
`http.client`), and each front's answer is reduced to one comparable word:

  "ok"                          accepted
  "<herald error code>"         refused: invalid_topic, permission_denied, ...
                                (the WebSocket JSON error's "code", the HTTP
                                error body's "code", gRPC's CommandError.reason
                                or `herald-error` trailing metadata; a raw
                                WebSocket's close code, which has no name)
  "gap:<reason>;replay:1,2,3"   what a resumed subscription or a history read
                                delivered first

A failure prints the whole table, front by front, so a drift shows as one
differing cell."""
import asyncio
import base64
import http.client
import json
import os
import sys
import unittest
import urllib.parse

import grpc
import websockets

from heraldd import Heraldd, http_call
from test_auth import AUDIENCE, ISSUER, SECRET, bearer, token
from ws_util import recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

MAX_PAYLOAD = 1024
MAX_TIMEOUT_MS = 30000
CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
anonymous = false
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
[limits]
max_payload_bytes = {MAX_PAYLOAD}
max_request_timeout_ms = {MAX_TIMEOUT_MS}
"""

# What every front's user may do: `ok.>` and `svc.>`, nothing else.
USER = token("carol", publish=["ok.>", "svc.>"], subscribe=["ok.>", "svc.>"])
BAD_TOKEN = USER[:-4] + ("AAAA" if not USER.endswith("AAAA") else "BBBB")

# Raw WebSocket close codes, which carry no name.
CLOSE_NAMES = {1009: "payload_too_large", 1008: "permission_denied"}

HISTORY_TOPIC = "ok.hist"  # three messages, offsets 1..3, published first


def _events_word(events):
    """gap/replay summary of the first deliveries: [("gap", reason) | ("msg", offset)]."""
    gaps = [e[1] for e in events if e[0] == "gap"]
    offsets = [str(e[1]) for e in events if e[0] == "msg"]
    word = "replay:" + ",".join(offsets)
    return (f"gap:{gaps[0]};" if gaps else "") + word


def _http_word(status, body):
    if 200 <= status < 300:
        return "ok"
    try:
        return json.loads(body)["error"]
    except Exception:  # noqa: BLE001 — the body is part of the outcome
        return f"http {status}: {body[:80]!r}"


class WsJson:
    """`/ws`, the JSON protocol."""
    name = "ws-json"

    def __init__(self, port):
        self.port = port

    def _open(self, tok):
        return websockets.connect(f"ws://127.0.0.1:{self.port}/ws", extra_headers=bearer(tok),
                                  open_timeout=5)

    async def _answer(self, sock, want_id):
        while True:
            m = await recv_json(sock, 5)
            if m.get("id") == want_id and m.get("op") in ("error", "ack", "subscribed",
                                                          "unsubscribed", "reply"):
                return m

    @staticmethod
    def _word(m):
        return m["code"] if m["op"] == "error" else "ok"

    def connect(self, tok):
        async def go():
            try:
                sock = await self._open(tok)
            except websockets.exceptions.InvalidStatusCode as e:
                return {401: "unauthenticated", 429: "resource_exhausted"}.get(
                    e.status_code, f"http {e.status_code}")
            await sock.close()
            return "ok"
        return run(go())

    def command(self, cmd):
        async def go():
            async with self._open(USER) as sock:
                await sock.send(json.dumps(dict(cmd, id=1)))
                return self._word(await self._answer(sock, 1))
        return run(go())

    def pub(self, topic, payload="x"):
        return self.command({"op": "pub", "topic": topic, "payload": payload})

    def req(self, topic, timeout_ms=None):
        c = {"op": "req", "topic": topic, "payload": "x"}
        if timeout_ms is not None:
            c["timeout_ms"] = timeout_ms
        return self.command(c)

    def sub(self, pattern):
        return self.command({"op": "sub", "topic": pattern})

    def sub_twice(self, pattern):
        async def go():
            async with self._open(USER) as sock:
                words = []
                for i in (1, 2):
                    await sock.send(json.dumps({"op": "sub", "id": i, "topic": pattern}))
                    words.append(self._word(await self._answer(sock, i)))
                # One subscription: one unsubscribe ends it, a second finds none.
                for i in (3, 4):
                    await sock.send(json.dumps({"op": "unsub", "id": i, "topic": pattern}))
                    words.append(self._word(await self._answer(sock, i)))
                return ",".join(words)
        return run(go())

    def unsub_unknown(self):
        return self.command({"op": "unsub", "topic": "ok.never"})

    def resume(self, topic, epoch, after):
        async def go():
            async with self._open(USER) as sock:
                await sock.send(json.dumps({"op": "sub", "id": 1, "topic": topic,
                                            "resume": {topic: {"epoch": epoch,
                                                               "offset": after}}}))
                first = await self._answer(sock, 1)
                if first["op"] == "error":
                    return first["code"]
                events = []
                while not any(e == ("msg", 3) for e in events):
                    m = await recv_json(sock, 5)
                    if m["op"] == "gap":
                        events.append(("gap", m["reason"]))
                    elif m["op"] == "msg":
                        events.append(("msg", m["offset"]))
                return _events_word(events)
        return run(go())


class WsRaw:
    """`/ws/<topic>`: one topic, read and written; refusals are HTTP or a close."""
    name = "ws-raw"

    def __init__(self, port):
        self.port = port

    def _handshake(self, topic, tok):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/ws/" + urllib.parse.quote(topic, safe=""), headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Authorization": "Bearer " + tok})
        resp = conn.getresponse()
        body = b"" if resp.status == 101 else resp.read()
        conn.close()
        return "ok" if resp.status == 101 else _http_word(resp.status, body)

    def connect(self, tok):
        return self._handshake("ok.raw", tok)

    def sub(self, topic):
        return self._handshake(topic, USER)

    def pub(self, topic, payload="x"):
        async def go():
            try:
                sock = await websockets.connect(
                    f"ws://127.0.0.1:{self.port}/ws/" + urllib.parse.quote(topic, safe=""),
                    extra_headers=bearer(USER), open_timeout=5, max_size=None)
            except websockets.exceptions.InvalidStatusCode as e:
                return {400: "invalid_topic", 403: "permission_denied"}.get(e.status_code)
            try:
                await sock.send(payload)
                # Accepted: it comes back (the connection reads its own topic).
                got = await asyncio.wait_for(sock.recv(), 5)
                return "ok" if got == payload else f"got {got[:20]!r}"
            except websockets.exceptions.ConnectionClosed as e:
                return CLOSE_NAMES.get(e.code, f"close {e.code}")
            finally:
                await sock.close()
        return run(go())


class GrpcConnect:
    """herald.v1.Broker/Connect: one session over a bidirectional stream."""
    name = "grpc-connect"

    def __init__(self, stub):
        self.stub = stub

    def _session(self, commands, until, tok=USER, more=None):
        """Sends `commands`, reads events until until(events) is true; returns
        events. more(event, events), if given, returns commands to send next."""
        import queue
        q = queue.Queue()
        for c in commands:
            q.put(c)

        def gen():
            while True:
                c = q.get()
                if c is None:
                    return
                yield c
        call = self.stub.Connect(gen(), metadata=(("authorization", "Bearer " + tok),),
                                 timeout=10)
        events = []
        try:
            for e in call:
                events.append(e)
                for c in (more(e, events) if more else ()):
                    q.put(c)
                if until(events):
                    break
        finally:
            q.put(None)
            call.cancel()
        return events

    @staticmethod
    def _word(e):
        return e.error.reason if e.WhichOneof("event") == "error" else "ok"

    def _one(self, command):
        events = self._session([command], lambda ev: any(e.id == command.id for e in ev))
        return self._word(next(e for e in events if e.id == command.id))

    def connect(self, tok):
        try:
            self._session([pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(pattern="ok.c"))],
                          lambda ev: any(e.id == 1 for e in ev), tok=tok)
            return "ok"
        except grpc.RpcError as e:
            return dict(e.trailing_metadata() or ()).get("herald-error", str(e.code()))

    def pub(self, topic, payload="x"):
        return self._one(pb.ClientCommand(id=1, publish=pb.PublishRequest(
            topic=topic, payload=payload.encode())))

    def req(self, topic, timeout_ms=None):
        return self._one(pb.ClientCommand(id=1, timeout_ms=timeout_ms or 0,
                                          request=pb.RequestRequest(topic=topic, payload=b"x")))

    def sub(self, pattern):
        return self._one(pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(pattern=pattern)))

    def sub_twice(self, pattern):
        """Subscribes twice (the same id back), then unsubscribes twice."""
        s = pb.SubscribeRequest(pattern=pattern)

        def answer(i, events):
            return next(e for e in events if e.id == i)

        def unsub_twice(e, events):
            if e.id != 2:
                return ()
            sid = answer(1, events).subscribed.subscription_id
            return [pb.ClientCommand(id=i, unsubscribe=pb.Unsubscribe(subscription_id=sid))
                    for i in (3, 4)]
        events = self._session([pb.ClientCommand(id=1, subscribe=s),
                                pb.ClientCommand(id=2, subscribe=s)],
                               lambda ev: sum(e.id in (1, 2, 3, 4) for e in ev) == 4,
                               more=unsub_twice)
        words = [self._word(answer(i, events)) for i in (1, 2, 3, 4)]
        if answer(1, events).subscribed.subscription_id != \
                answer(2, events).subscribed.subscription_id:
            words[1] = "new subscription"
        return ",".join(words)

    def unsub_unknown(self):
        return self._one(pb.ClientCommand(id=1, unsubscribe=pb.Unsubscribe(
            subscription_id=987654321)))

    def resume(self, topic, epoch, after):
        sub = pb.SubscribeRequest(pattern=topic, resume=[pb.ResumePoint(
            topic=topic, epoch=epoch, after_offset=after)])

        def done(ev):
            return any(e.id == 1 and e.WhichOneof("event") == "error" for e in ev) or any(
                e.WhichOneof("event") == "delivery" and e.delivery.WhichOneof("event") ==
                "message" and e.delivery.message.offset == 3 for e in ev)
        events = self._session([pb.ClientCommand(id=1, subscribe=sub)], done)
        for e in events:
            if e.id == 1 and e.WhichOneof("event") == "error":
                return e.error.reason
        return _events_word(_grpc_deliveries([e.delivery for e in events
                                              if e.WhichOneof("event") == "delivery"]))


def _grpc_deliveries(deliveries):
    out = []
    for d in deliveries:
        if d.WhichOneof("event") == "gap":
            out.append(("gap", pb.Gap.Reason.Name(d.gap.reason).lower()))
        else:
            out.append(("msg", d.message.offset))
    return out


class GrpcUnary:
    """herald.v1.Broker's one-shot calls: Publish, Request, Subscribe (a server stream)."""
    name = "grpc-unary"

    def __init__(self, stub):
        self.stub = stub

    @staticmethod
    def _refused(e):
        return dict(e.trailing_metadata() or ()).get("herald-error", str(e.code()))

    def _md(self, tok=USER):
        return (("authorization", "Bearer " + tok),)

    def connect(self, tok):
        try:
            self.stub.Publish(pb.PublishRequest(topic="ok.c", payload=b"x"), metadata=self._md(tok),
                              timeout=5)
            return "ok"
        except grpc.RpcError as e:
            return self._refused(e)

    def pub(self, topic, payload="x"):
        try:
            self.stub.Publish(pb.PublishRequest(topic=topic, payload=payload.encode()),
                              metadata=self._md(), timeout=5)
            return "ok"
        except grpc.RpcError as e:
            return self._refused(e)

    def req(self, topic, timeout_ms=None):
        try:
            self.stub.Request(pb.RequestRequest(topic=topic, payload=b"x"), metadata=self._md(),
                              timeout=(timeout_ms or 5000) / 1000)
            return "ok"
        except grpc.RpcError as e:
            return self._refused(e)

    def _stream(self, request, until):
        call = self.stub.Subscribe(request, metadata=self._md(), timeout=10)
        got = []
        try:
            call.initial_metadata()  # sent once the subscription is live
            if until is None:
                # A refusal finishes the call at once; a live one waits.
                try:
                    next(iter(call))
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.CANCELLED and \
                       e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise
                return "ok", got
            for r in call:
                got.append(r)
                if until(got):
                    break
            return "ok", got
        except grpc.RpcError as e:
            return self._refused(e), got
        finally:
            call.cancel()

    def sub(self, pattern):
        call = self.stub.Subscribe(pb.SubscribeRequest(pattern=pattern), metadata=self._md(),
                                   timeout=10)
        try:
            call.initial_metadata()
            # A refused call ends with its status; a live one has none yet.
            return "ok" if not call.done() or call.code() == grpc.StatusCode.OK else \
                self._refused(call)
        finally:
            call.cancel()

    def resume(self, topic, epoch, after):
        request = pb.SubscribeRequest(pattern=topic, resume=[pb.ResumePoint(
            topic=topic, epoch=epoch, after_offset=after)])

        def done(rs):
            return any(r.WhichOneof("event") == "message" and r.message.offset == 3 for r in rs)
        word, got = self._stream(request, done)
        if word != "ok":
            return word
        return _events_word([("gap", pb.Gap.Reason.Name(r.gap.reason).lower())
                             if r.WhichOneof("event") == "gap" else ("msg", r.message.offset)
                             for r in got])


class Http:
    """The HTTP API: POST /publish, POST /request, GET /history."""
    name = "http"

    def __init__(self, port):
        self.port = port

    def _call(self, method, path, body=b"x", tok=USER):
        resp, data = http_call(self.port, method, path, body=body,
                               headers={"Authorization": "Bearer " + tok})
        return resp.status, data

    def connect(self, tok):
        return _http_word(*self._call("POST", "/publish/ok.c", tok=tok))

    def pub(self, topic, payload="x"):
        return _http_word(*self._call("POST", "/publish/" + urllib.parse.quote(topic, safe=""),
                                      body=payload.encode()))

    def req(self, topic, timeout_ms=None):
        q = f"?timeout_ms={timeout_ms}" if timeout_ms is not None else ""
        return _http_word(*self._call("POST", "/request/" + urllib.parse.quote(topic, safe="") + q))

    def history(self, topic, epoch, after):
        status, body = self._call("GET", f"/history/{urllib.parse.quote(topic, safe='')}"
                                  f"?epoch={epoch}&after={after}", body=None)
        if status != 200:
            return _http_word(status, body)
        h = json.loads(body)
        events = ([("gap", h["gap"]["reason"])] if h["gap"] else []) + \
            [("msg", m["offset"]) for m in h["messages"]]
        return _events_word(events)


class Sse:
    """`GET /sse?topic=`: subscribe only; refusals are HTTP answers."""
    name = "sse"

    def __init__(self, port):
        self.port = port

    def _open(self, pattern, tok=USER):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/sse?topic=" + urllib.parse.quote(pattern, safe=""),
                     headers={"Accept": "text/event-stream", "Authorization": "Bearer " + tok})
        resp = conn.getresponse()
        word = "ok" if resp.status == 200 else _http_word(resp.status, resp.read())
        conn.close()
        return word

    def connect(self, tok):
        return self._open("ok.c", tok)

    def sub(self, pattern):
        return self._open(pattern)


class CrossFront(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Heraldd("--grpc-listen", "127.0.0.1:0", config=CONFIG).__enter__()
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.server.grpc_port}")
        stub = pb_grpc.BrokerStub(cls.channel)
        port = cls.server.port
        cls.fronts = [WsJson(port), WsRaw(port), GrpcConnect(stub), GrpcUnary(stub), Http(port),
                      Sse(port)]
        for i in range(3):
            resp, _ = http_call(port, "POST", "/publish/" + HISTORY_TOPIC, body=b"h%d" % i,
                                headers={"Authorization": "Bearer " + USER})
            assert resp.status == 200, resp.status
        resp, body = http_call(port, "GET", "/history/" + HISTORY_TOPIC,
                               headers={"Authorization": "Bearer " + USER})
        cls.epoch = json.loads(body)["epoch"]

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def check(self, scenario, expected, call):
        """Runs call(front) on every front that has the operation; all must say `expected`."""
        table = {}
        for front in self.fronts:
            outcome = call(front)
            if outcome is not None:
                table[front.name] = outcome
        self.assertGreaterEqual(len(table), 2, f"{scenario}: fewer than two fronts ran it")
        differ = {k: v for k, v in table.items() if v != expected}
        self.assertFalse(differ, f"{scenario}: expected {expected!r} on every front, got "
                                 + json.dumps(table, indent=1))
        print(f"[scenario] {scenario:<42} {expected:<32} {', '.join(table)}", flush=True)

    def test_every_scenario_on_every_front(self):
        for sc in SCENARIOS:
            with self.subTest(sc.name):
                def call(front, sc=sc):
                    if sc.fronts and front.name not in sc.fronts:
                        return None
                    ops = sc.op if isinstance(sc.op, tuple) else (sc.op,)
                    f = next((getattr(front, o) for o in ops if hasattr(front, o)), None)
                    if f is None:
                        return None
                    args = sc.args(self) if callable(sc.args) else sc.args
                    return f(*sc.per_front.get(front.name, args))
                self.check(sc.name, sc.expected, call)

    def test_a_history_read_ahead_of_the_topic_is_invalid(self):
        # Streams are told a position ahead is not from this epoch (a gap, in
        # SCENARIOS); a history read has an answer of its own. (SSE, whose ids
        # are the server's own, refuses a forged one: docs/PROTOCOL.md.)
        self.assertEqual(Http(self.server.port).history(HISTORY_TOPIC, self.epoch, 99),
                         "invalid_argument")


class Scenario:
    """One row: run `op(*args)` on every front that has `op` (or only `fronts`);
    `op` may name alternatives (a front runs the first it has); `per_front`
    gives other arguments to a front whose form differs."""

    def __init__(self, name, expected, op, args=(), fronts=None, per_front=None):
        self.name, self.expected, self.op, self.args = name, expected, op, args
        self.fronts, self.per_front = fronts, per_front or {}


def _at(epoch_delta, after):
    return lambda test: (HISTORY_TOPIC, test.epoch + epoch_delta, after)


# What an operation means, once for every front.
SCENARIOS = [
    Scenario("bad token", "unauthenticated", "connect", (BAD_TOKEN,)),
    Scenario("good token", "ok", "connect", (USER,)),
    Scenario("publish ok.a", "ok", "pub", ("ok.a",)),
    Scenario("publish ok..a", "invalid_topic", "pub", ("ok..a",)),
    Scenario("publish ok.*", "invalid_topic", "pub", ("ok.*",)),
    Scenario("publish _INBOX.x.y", "invalid_topic", "pub", ("_INBOX.x.y",)),
    Scenario("publish no.a (no grant)", "permission_denied", "pub", ("no.a",)),
    Scenario("publish 1 KiB + 1", "payload_too_large", "pub", ("ok.big", "x" * (MAX_PAYLOAD + 1))),
    Scenario("request svc.none", "no_responders", "req", ("svc.none",)),
    # gRPC's unary Request takes its timeout from the call's deadline.
    Scenario("request timeout over max", "invalid_argument", "req",
             ("svc.none", MAX_TIMEOUT_MS + 1), fronts={"ws-json", "grpc-connect", "http"}),
    Scenario("request no.a (no grant)", "permission_denied", "req", ("no.a",)),
    Scenario("request _INBOX.x.y", "invalid_topic", "req", ("_INBOX.x.y",)),
    Scenario("subscribe ok.s", "ok", "sub", ("ok.s",)),
    # A raw WebSocket names one exact topic: its malformed one.
    Scenario("subscribe ok.>.s", "invalid_topic", "sub", ("ok.>.s",),
             per_front={"ws-raw": ("ok..s",)}),
    Scenario("subscribe _INBOX.>", "invalid_topic", "sub", ("_INBOX.>",),
             per_front={"ws-raw": ("_INBOX.x.y",)}),
    Scenario("subscribe no.s (no grant)", "permission_denied", "sub", ("no.s",)),
    Scenario("subscribe twice, unsubscribe twice", "ok,ok,ok,not_found", "sub_twice",
             ("ok.twice",)),
    Scenario("unsubscribe unknown", "not_found", "unsub_unknown"),
    # A subscription's resume and a history read agree where both apply.
    Scenario("resume after 1", "replay:2,3", ("resume", "history"), _at(0, 1)),
    Scenario("resume in another epoch", "gap:epoch_changed;replay:1,2,3", ("resume", "history"),
             _at(1, 1)),
    Scenario("resume ahead", "gap:epoch_changed;replay:1,2,3", "resume", _at(0, 99)),
]


if __name__ == "__main__":
    unittest.main()
