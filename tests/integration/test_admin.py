"""The server API (docs/PROTOCOL.md, "Server API") on one real heraldd, over
HTTP (/admin/...) and gRPC (herald.v1.Admin), acting on clients connected
by Python `websockets` (JSON and raw), SSE and `grpcio` (Connect and
Subscribe): disconnect, server-side subscribe and unsubscribe, revoke,
connections and topics; the admin grant's checks; every bad request's
error; the metrics."""
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

import grpc
import websockets

from heraldd import Heraldd, http_call as raw_call, metric, wait_until
from sse_util import SseClient, started
from test_auth import AUDIENCE, ISSUER, SECRET, bearer, claims, jwt
from ws_util import recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
anonymous = false
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
[[auth.rules]]
subject = "*"
subscribe = ["public.>", "news.>", "chat.>"]
publish = ["news.>", "chat.>"]
[limits]
max_subscriptions_per_connection = 4
max_revocation_ttl_ms = 86400000
"""


def http_call(port, method, path, body=None, headers=None):
    """(status, body bytes)."""
    resp, data = raw_call(port, method, path, body, headers)
    return resp.status, data


def tok(sub, admin=None, **over):
    c = claims(sub=sub, **over)
    if admin is not None:
        c["herald"] = {"admin": admin}
    return jwt(c)


ADMIN = tok("ops", admin=[">"])


def post(port, op, body, token=ADMIN):
    status, data = http_call(port, "POST", f"/admin/{op}", json.dumps(body).encode(),
                                bearer(token) if token else None)
    return status, json.loads(data) if data else None


def get(port, path, token=ADMIN):
    status, data = http_call(port, "GET", path, None, bearer(token) if token else None)
    return status, json.loads(data) if data else None


def error_of(answer):
    e = answer.get("error") if answer else None
    return e.get("code") if isinstance(e, dict) else e


def publish(port, topic, body=b"x"):
    status, data = http_call(port, "POST", f"/publish/{topic}", body, bearer(ADMIN_PUB))
    assert status == 200, (status, data)


ADMIN_PUB = tok("publisher")


class GrpcSession:
    """A gRPC Connect session on its own thread: its events in a queue."""

    def __init__(self, port, token):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.BrokerStub(self.channel)
        self.commands = []
        self.cv = threading.Condition()
        self.events = []
        self.status = None
        self.closed = threading.Event()
        md = (("authorization", "Bearer " + token),)
        self.call = self.stub.Connect(self._commands(), metadata=md)
        threading.Thread(target=self._read, daemon=True).start()

    def _commands(self):
        while not self.closed.is_set():
            with self.cv:
                self.cv.wait_for(lambda: self.commands or self.closed.is_set(), 0.1)
                batch, self.commands = self.commands, []
            yield from batch

    def send(self, command):
        with self.cv:
            self.commands.append(command)
            self.cv.notify_all()

    def _read(self):
        try:
            for e in self.call:
                with self.cv:
                    self.events.append(e)
                    self.cv.notify_all()
        except grpc.RpcError as err:
            self.status = (err.code(), err.details())
        finally:
            self.closed.set()
            with self.cv:
                self.cv.notify_all()

    def wait(self, pred, timeout=5):
        with self.cv:
            ok = self.cv.wait_for(lambda: any(pred(e) for e in self.events), timeout)
            return next((e for e in self.events if pred(e)), None) if ok else None

    def close(self):
        self.closed.set()
        self.call.cancel()
        self.channel.close()


class AdminCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd("--grpc-listen", "127.0.0.1:0", config=CONFIG).__enter__()
        cls.port = cls.h.port
        cls.url = f"ws://127.0.0.1:{cls.port}"
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.h.grpc_port}")
        cls.admin = pb_grpc.AdminStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        # A clean exit: under the sanitizers, no report.
        rc = cls.h.stop()
        assert rc == 0, f"heraldd exited {rc}:\n{cls.h.logs()[-3000:]}"

    def md(self, token=ADMIN):
        return (("authorization", "Bearer " + token),)

    async def ws(self, token, path="/ws"):
        return await websockets.connect(self.url + path, extra_headers=bearer(token),
                                        open_timeout=5)


class Disconnect(AdminCase):
    def test_a_users_connections_on_every_front_end_with_the_code_and_others_stay(self):
        bob = tok("bob")

        async def go():
            json_ws = await self.ws(bob)
            raw_ws = await self.ws(bob, "/ws/public.raw")
            carol = await self.ws(tok("carol"))
            sse = SseClient(self.port, "/sse?topic=public.x", headers=bearer(bob))
            sse.wait_for(started, 3)
            session = GrpcSession(self.h.grpc_port, bob)
            stream_channel = grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}")
            stream = pb_grpc.BrokerStub(stream_channel).Subscribe(
                pb.SubscribeRequest(pattern="public.y"), metadata=self.md(bob))
            try:
                self.assertTrue(wait_until(lambda: get(self.port, "/admin/connections?user=bob")[1]
                                           ["matched"] == 5, 5))
                status, answer = post(self.port, "disconnect",
                                      {"user": "bob", "code": 4600, "reason": "maintenance"})
                self.assertEqual(status, 200, answer)
                self.assertEqual((answer["nodes"], answer["unreached"], answer["matched"],
                                  answer["applied"]), (1, [], 5, 5))
                # WebSocket JSON: told why, then the close with the same code.
                told = await recv_json(json_ws, 3)
                self.assertEqual(told, {"op": "disconnect", "code": 4600, "reason": "maintenance",
                                        "reconnect": False})
                with self.assertRaises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(json_ws.recv(), 3)
                self.assertEqual((closed.exception.code, closed.exception.reason),
                                 (4600, "maintenance"))
                with self.assertRaises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(raw_ws.recv(), 3)
                self.assertEqual(closed.exception.code, 4600)
                # SSE: an event saying so, then the end.
                events = sse.read_to_eof(3)
                said = [e for e in events if e.type == "disconnect"]
                self.assertEqual(len(said), 1, events)
                self.assertEqual(json.loads(said[0].data),
                                 {"op": "disconnect", "code": 4600, "reason": "maintenance",
                                  "reconnect": False})
                # gRPC: the calls end with FAILED_PRECONDITION (do not come back).
                self.assertTrue(session.closed.wait(3))
                self.assertEqual(session.status[0], grpc.StatusCode.FAILED_PRECONDITION)
                self.assertIn("maintenance", session.status[1])
                with self.assertRaises(grpc.RpcError) as ended:
                    for _ in stream:
                        pass
                self.assertEqual(ended.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
                # Another user's connection is untouched.
                await carol.send(json.dumps({"op": "ping", "id": 1}))
                self.assertEqual((await recv_json(carol, 3))["op"], "pong")
                self.assertTrue(await asyncio.to_thread(
                    wait_until,
                    lambda: get(self.port, "/admin/connections?user=bob")[1]["matched"] == 0, 5))
            finally:
                sse.close()
                session.close()
                stream_channel.close()
                await carol.close()
        run(go())

    def test_one_client_by_id_over_grpc_and_its_sibling_stays(self):
        dave = tok("dave")

        async def go():
            a = await self.ws(dave)
            b = await self.ws(dave)
            try:
                listed = self.admin.Connections(
                    pb.ConnectionsRequest(target=pb.ClientSelector(user="dave")),
                    metadata=self.md())
                self.assertEqual(len(listed.clients), 2)
                self.assertEqual({c.transport for c in listed.clients}, {"ws"})
                self.assertTrue(all(c.client.startswith("heraldd.") or "." in c.client
                                    for c in listed.clients))
                target = listed.clients[0].client
                answer = self.admin.Disconnect(
                    pb.DisconnectRequest(target=pb.ClientSelector(client=target), code=4100,
                                         reason="just you"), metadata=self.md())
                self.assertEqual((answer.nodes, answer.matched, answer.applied), (1, 1, 1))
                left = self.admin.Connections(
                    pb.ConnectionsRequest(target=pb.ClientSelector(user="dave")),
                    metadata=self.md())
                self.assertTrue(await asyncio.to_thread(wait_until, lambda: len(self.admin.Connections(
                    pb.ConnectionsRequest(target=pb.ClientSelector(user="dave")),
                    metadata=self.md()).clients) == 1, 5), left)
                # Exactly one of the two was closed, with 4100 and a reconnect hint.
                closed, open_ = [], []
                for ws in (a, b):
                    try:
                        m = await recv_json(ws, 1)
                        closed.append(m)
                    except (asyncio.TimeoutError, TimeoutError):
                        open_.append(ws)
                self.assertEqual(len(closed), 1, closed)
                self.assertEqual(closed[0]["code"], 4100)
                self.assertTrue(closed[0]["reconnect"])
                self.assertEqual(len(open_), 1)
            finally:
                await a.close()
                await b.close()
        run(go())


class ServerSubscriptions(AdminCase):
    def test_subscribe_and_unsubscribe_a_users_sessions_from_http_and_grpc(self):
        erin = tok("erin")

        async def go():
            ws = await self.ws(erin)
            session = GrpcSession(self.h.grpc_port, erin)
            sse = SseClient(self.port, "/sse?topic=public.z", headers=bearer(erin))
            sse.wait_for(started, 3)
            try:
                self.assertTrue(wait_until(
                    lambda: get(self.port, "/admin/connections?user=erin")[1]["matched"] == 3, 5))
                status, answer = post(self.port, "subscribe", {"user": "erin", "topic": "news.a"})
                self.assertEqual(status, 200, answer)
                # The SSE stream cannot take one: refused, and said why.
                self.assertEqual((answer["matched"], answer["applied"], answer["refused"]),
                                 (3, 2, 1))
                self.assertIn("takes no server subscriptions", answer["errors"][0])
                told = await recv_json(ws, 3)
                self.assertEqual(told, {"op": "subscribed", "topic": "news.a", "server": True})
                ev = session.wait(lambda e: e.HasField("subscribed") and e.subscribed.server)
                self.assertIsNotNone(ev)
                self.assertEqual((ev.id, ev.subscribed.pattern), (0, "news.a"))
                publish(self.port, "news.a", b"first")
                m = await recv_json(ws, 3)
                self.assertEqual((m["op"], m["topic"], m["payload"]), ("msg", "news.a", "first"))
                self.assertIsNotNone(session.wait(
                    lambda e: e.HasField("delivery") and e.delivery.message.payload == b"first"))
                # Subscribing again is no news; its count stays one per session.
                status, again = post(self.port, "subscribe", {"user": "erin", "topic": "news.a"})
                self.assertEqual(again["applied"], 2)
                status, topics = get(self.port, "/admin/topics?prefix=news.")
                self.assertIn({"pattern": "news.a", "subscribers": 2}, topics["topics"])
                # Unsubscribe, over gRPC this time.
                answer = self.admin.Unsubscribe(
                    pb.ServerUnsubscribeRequest(target=pb.ClientSelector(user="erin"),
                                                topic="news.a"), metadata=self.md())
                self.assertEqual((answer.matched, answer.applied, answer.refused), (3, 2, 1))
                told = await recv_json(ws, 3)
                self.assertEqual(told, {"op": "unsubscribed", "topic": "news.a", "server": True})
                ev = session.wait(lambda e: e.HasField("unsubscribed") and e.unsubscribed.server)
                self.assertEqual(ev.unsubscribed.subscription_id,
                                 session.wait(lambda e: e.HasField("subscribed"))
                                 .subscribed.subscription_id)
                publish(self.port, "news.a", b"second")
                await ws.send(json.dumps({"op": "ping", "id": 9}))
                self.assertEqual((await recv_json(ws, 3))["op"], "pong")  # no "second" before it
            finally:
                sse.close()
                session.close()
                await ws.close()
        run(go())

    def test_the_backend_decides_the_clients_own_grant_is_not_needed_but_topic_rules_hold(self):
        pia = tok("pia")

        async def go():
            ws = await self.ws(pia)
            try:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "private.pia"}))
                self.assertEqual((await recv_json(ws, 3))["code"], "permission_denied")
                status, answer = post(self.port, "subscribe", {"user": "pia", "topic": "private.pia"})
                self.assertEqual((status, answer["applied"]), (200, 1), answer)
                self.assertEqual(await recv_json(ws, 3),
                                 {"op": "subscribed", "topic": "private.pia", "server": True})
                status, answer = post(self.port, "subscribe", {"user": "pia", "topic": "_INBOX.x"})
                self.assertEqual((status, answer["applied"], answer["refused"]), (200, 0, 1))
                self.assertIn("reserved for replies", answer["errors"][0])
            finally:
                await ws.close()
        run(go())

    def test_a_server_subscription_meets_the_connections_limit_and_is_counted_refused(self):
        frank = tok("frank")

        async def go():
            ws = await self.ws(frank)
            try:
                for i in range(4):
                    await ws.send(json.dumps({"op": "sub", "id": i + 1, "topic": f"public.{i}"}))
                    self.assertEqual((await recv_json(ws, 3))["op"], "subscribed")
                status, answer = post(self.port, "subscribe", {"user": "frank", "topic": "news.b"})
                self.assertEqual((status, answer["matched"], answer["applied"], answer["refused"]),
                                 (200, 1, 0, 1))
                self.assertIn("at most 4 subscriptions", answer["errors"][0])
            finally:
                await ws.close()
        run(go())


class Revoke(AdminCase):
    def test_a_revoked_jti_ends_its_connections_and_is_refused_everywhere_until_until(self):
        revoked = tok("gina", jti="tok-1")
        other = tok("gina", jti="tok-2")

        async def go():
            ws = await self.ws(revoked)
            keep = await self.ws(other)
            try:
                status, answer = post(self.port, "revoke",
                                      {"jti": "tok-1", "until": int(time.time()) + 600})
                self.assertEqual((status, answer["matched"], answer["applied"]), (200, 1, 1))
                with self.assertRaises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 3)
                self.assertEqual(closed.exception.code, 4002)
                # Every front refuses the token now; its sibling still works.
                status, body = http_call(self.port, "POST", "/publish/news.c", b"x",
                                            bearer(revoked))
                self.assertEqual(status, 401)
                self.assertIn(b"revoked", body)
                with self.assertRaises(websockets.InvalidStatusCode) as refused:
                    await self.ws(revoked)
                self.assertEqual(refused.exception.status_code, 401)
                with self.assertRaises(grpc.RpcError) as err:
                    pb_grpc.BrokerStub(self.channel).Publish(
                        pb.PublishRequest(topic="news.c", payload=b"x"), metadata=self.md(revoked))
                self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                await keep.send(json.dumps({"op": "ping", "id": 1}))
                self.assertEqual((await recv_json(keep, 3))["op"], "pong")
                self.assertGreaterEqual(metric(self.port, "herald_auth_revoked_total"), 3)
                self.assertGreaterEqual(metric(self.port, "herald_revocations"), 1)
            finally:
                await keep.close()
        run(go())

    def test_a_users_tokens_issued_before_a_time_are_refused_and_newer_ones_are_not(self):
        now = int(time.time())
        old = tok("hank", iat=now - 100)
        status, answer = post(self.port, "revoke",
                              {"user": "hank", "issued_before": now - 50, "until": now + 600})
        self.assertEqual(status, 200, answer)
        self.assertEqual(http_call(self.port, "POST", "/publish/news.d", b"x", bearer(old))[0], 401)
        newer = tok("hank", iat=now - 10)
        self.assertEqual(http_call(self.port, "POST", "/publish/news.d", b"x",
                                   bearer(newer))[0], 200)
        # Without issued_before: every token issued up to now (no iat counts as old).
        answer = self.admin.Revoke(pb.RevokeRequest(user="hank", until=now + 600),
                                   metadata=self.md())
        self.assertEqual(answer.nodes, 1)
        self.assertEqual(http_call(self.port, "POST", "/publish/news.d", b"x",
                                   bearer(newer))[0], 401)
        self.assertEqual(http_call(self.port, "POST", "/publish/news.d", b"x",
                                   bearer(tok("hank")))[0], 401)


class Durable(unittest.TestCase):
    def test_revocations_survive_a_kill_9_with_the_disk_store_and_expire(self):
        d = tempfile.mkdtemp(prefix="herald-revoke-")
        self.addCleanup(shutil.rmtree, d, True)
        now = int(time.time())
        kept = tok("mia", jti="mia-1")
        brief = tok("mia", jti="mia-2")
        old = tok("ned", iat=now - 100)
        with Heraldd("--data-dir", d, config=CONFIG) as h:
            for body in ({"jti": "mia-1", "until": now + 600}, {"jti": "mia-2", "until": now + 2},
                         {"user": "ned", "issued_before": now - 50, "until": now + 600}):
                status, answer = post(h.port, "revoke", body)
                self.assertEqual((status, answer["refused"]), (200, 0), answer)
            h.proc.send_signal(signal.SIGKILL)  # answered means kept: no clean stop needed
            h.proc.wait()
        time.sleep(max(0.0, now + 2.2 - time.time()))  # mia-2's `until` passes meanwhile
        with Heraldd("--data-dir", d, config=CONFIG) as h:
            self.assertEqual(metric(h.port, "herald_revocations"), 2)
            for t, want in ((kept, 401), (old, 401), (brief, 200), (tok("ned"), 401),
                            (tok("ned", iat=now - 10), 200)):
                self.assertEqual(http_call(h.port, "POST", "/publish/news.k", b"x",
                                           bearer(t))[0], want)
            self.assertEqual(h.stop(), 0, h.logs()[-3000:])


class Permissions(AdminCase):
    def test_no_admin_grant_is_403_on_http_and_permission_denied_on_grpc_for_every_op(self):
        plain = tok("ivan")
        topical = tok("ivan", admin=["chat.>"])
        denied_before = metric(self.port, "herald_admin_denied_total")
        bodies = {"disconnect": {"user": "bob"}, "subscribe": {"user": "bob", "topic": "news.x"},
                  "unsubscribe": {"user": "bob", "topic": "news.x"},
                  "revoke": {"jti": "x", "until": int(time.time()) + 60}}
        for op, body in bodies.items():
            for t in (plain, topical):
                status, answer = post(self.port, op, body, t)
                self.assertEqual((op, status, error_of(answer)), (op, 403, "permission_denied"))
        for path in ("/admin/connections?user=bob", "/admin/topics", "/admin/topics?prefix=news."):
            for t in (plain, topical):
                status, answer = get(self.port, path, t)
                self.assertEqual((path, status), (path, 403))
        self.assertEqual(post(self.port, "disconnect", {"user": "bob"}, None)[0], 401)
        # A topic grant covers its topics' subscribe and topic list.
        self.assertEqual(post(self.port, "subscribe", {"user": "bob", "topic": "chat.x"},
                              topical)[0], 200)
        self.assertEqual(get(self.port, "/admin/topics?prefix=chat.", topical)[0], 200)
        calls = [
            lambda m: self.admin.Disconnect(pb.DisconnectRequest(
                target=pb.ClientSelector(user="bob")), metadata=m),
            lambda m: self.admin.Subscribe(pb.ServerSubscribeRequest(
                target=pb.ClientSelector(user="bob"), topic="news.x"), metadata=m),
            lambda m: self.admin.Unsubscribe(pb.ServerUnsubscribeRequest(
                target=pb.ClientSelector(user="bob"), topic="news.x"), metadata=m),
            lambda m: self.admin.Revoke(pb.RevokeRequest(jti="x", until=int(time.time()) + 60),
                                        metadata=m),
            lambda m: self.admin.Connections(pb.ConnectionsRequest(
                target=pb.ClientSelector(user="bob")), metadata=m),
            lambda m: self.admin.Topics(pb.TopicsRequest(), metadata=m),
        ]
        for call in calls:
            with self.assertRaises(grpc.RpcError) as err:
                call(self.md(plain))
            self.assertEqual(err.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn("admin grant", err.exception.details())
            with self.assertRaises(grpc.RpcError) as err:
                call(())
            self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertGreaterEqual(metric(self.port, "herald_admin_denied_total") - denied_before,
                                4 * 2 + 3 * 2 + 6)


class BadRequests(AdminCase):
    def test_every_bad_request_gets_a_specific_error(self):
        now = int(time.time())
        cases = [
            ("disconnect", b"{", "malformed JSON"),
            ("disconnect", b"[]", "must be a JSON object"),
            ("disconnect", b"{}", "name a client or a user"),
            ("disconnect", b'{"user":"a","client":"n.1"}', "name a client or a user"),
            ("disconnect", b'{"user":"a","code":1000}', "4000 to 4999"),
            ("disconnect", b'{"user":"a","code":4600,"reconnect":true}', "4500-4999 not to"),
            ("disconnect", b'{"user":"a","code":4000,"reconnect":false}', "4500-4999 not to"),
            ("disconnect", b'{"user":"a","code":"x"}', "'code' must be"),
            ("disconnect", b'{"user":"a","reason":"' + b"r" * 200 + b'"}', "at most 120"),
            ("disconnect", b'{"user":"a","bogus":1}', "unknown key 'bogus'"),
            ("subscribe", b'{"user":"a"}', "'topic' is required"),
            ("subscribe", b'{"user":"a","topic":"a..b"}', ""),
            ("subscribe", b'{"user":"a","topic":"x","presence":1}', "'presence' must be"),
            ("revoke", b'{"until":1}', "name a 'jti' or a 'user'"),
            ("revoke", b'{"jti":"a"}', "'until' is required"),
            ("revoke", b'{"jti":"a","until":1}', "in the future"),
            ("revoke", json.dumps({"jti": "a", "until": now + 10 ** 7}).encode(),
             "max_revocation_ttl"),
            ("revoke", json.dumps({"jti": "a", "issued_before": 5, "until": now + 9}).encode(),
             "applies to a user"),
        ]
        for op, body, text in cases:
            status, data = http_call(self.port, "POST", f"/admin/{op}", body, bearer(ADMIN))
            self.assertEqual(status, 400, (op, body, data))
            self.assertIn(text, data.decode(), (op, body))
        self.assertEqual(http_call(self.port, "POST", "/admin/nothing", b"{}", bearer(ADMIN))[0],
                         404)
        self.assertEqual(get(self.port, "/admin/topics?limit=x")[0], 400)
        with self.assertRaises(grpc.RpcError) as err:
            self.admin.Disconnect(pb.DisconnectRequest(target=pb.ClientSelector(user="a"),
                                                       code=70000), metadata=self.md())
        self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        # The node still answers.
        self.assertEqual(get(self.port, "/admin/topics")[0], 200)


class Metrics(AdminCase):
    def test_clients_and_calls_are_counted(self):
        async def go():
            before = metric(self.port, "herald_clients")
            ws = await self.ws(tok("jill"))
            try:
                self.assertTrue(wait_until(
                    lambda: metric(self.port, "herald_clients") == before + 1, 5))
                calls = metric(self.port, "herald_admin_calls_total")
                get(self.port, "/admin/connections?user=jill")
                self.assertEqual(metric(self.port, "herald_admin_calls_total"), calls + 1)
            finally:
                await ws.close()
            self.assertTrue(await asyncio.to_thread(
                wait_until, lambda: metric(self.port, "herald_clients") == before, 5))
        run(go())


if __name__ == "__main__":
    unittest.main()
