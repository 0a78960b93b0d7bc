"""Presence through a real heraldd: who is in a topic, over WebSocket JSON
(Python `websockets`), HTTP `GET /presence/<topic>` and gRPC (`grpcio`):
snapshots, join and leave events, queries and paging, info set at connect,
rules, refusals, and the grant a query needs."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import unittest
import urllib.parse

import grpc
import websockets

from heraldd import Heraldd, http_call, metric
from ws_util import recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

CONFIG = """
grpc_listen = "127.0.0.1:0"
[presence]
event_interval_ms = 50
max_members_per_topic = 5
[[presence.rule]]
pattern = "quiet.>"
enabled = false
"""


def connect(url, info=None):
    if info is not None:
        url += "?info=" + urllib.parse.quote(json.dumps(info))
    return websockets.connect(url, open_timeout=5)


async def presence_frames(ws, topic, want, timeout=3):
    """Presence frames of `topic` until `want(frames)` holds; returns them."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not want(got):
        m = await recv_json(ws, max(0.01, deadline - loop.time()))
        if m.get("op") == "presence" and m["topic"] == topic:
            got.append(m)
    return got


def members_of(frames):
    """The member list a client keeps from a snapshot and the events after."""
    members = {}
    for f in frames:
        for m in f.get("leave", []):  # leaves first (docs/PROTOCOL.md)
            members.pop(m["client"], None)
        for m in f.get("join", []):
            members[m["client"]] = m
    return members


class Presence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config=CONFIG).__enter__()
        cls.url = f"ws://127.0.0.1:{cls.h.port}/ws"

    @classmethod
    def tearDownClass(cls):
        cls.h.__exit__(None, None, None)

    def test_members_see_each_other_join_and_leave_with_their_info(self):
        async def go():
            async with connect(self.url, {"name": "ada"}) as ada:
                await ada.send(json.dumps({"op": "sub", "id": 1, "topic": "room.a",
                                           "presence": True}))
                sub = await recv_json(ada)
                self.assertEqual((sub["op"], sub["topic"]), ("subscribed", "room.a"))
                ada_id = sub["client"]
                frames = await presence_frames(ada, "room.a", lambda f: len(f) >= 2)
                self.assertEqual(frames[0]["snapshot"], True)
                self.assertEqual(frames[0]["join"], [])
                self.assertEqual(frames[1]["join"],
                                 [{"client": ada_id, "user": ada_id, "info": {"name": "ada"}}])
                async with connect(self.url, {"name": "bob"}) as bob:
                    await bob.send(json.dumps({"op": "sub", "id": 1, "topic": "room.a",
                                               "presence": True}))
                    bob_id = (await recv_json(bob))["client"]
                    self.assertNotEqual(bob_id, ada_id)
                    seen = await presence_frames(
                        bob, "room.a", lambda f: len(members_of(f)) == 2)
                    self.assertEqual(seen[0]["snapshot"], True)
                    self.assertEqual(
                        {c: m["info"]["name"] for c, m in members_of(seen).items()},
                        {ada_id: "ada", bob_id: "bob"})
                    got = await presence_frames(ada, "room.a", lambda f: f and f[-1]["join"])
                    self.assertEqual(got[-1]["join"][0]["info"], {"name": "bob"})
                    self.assertEqual((got[-1]["clients"], got[-1]["users"]), (2, 2))
                # bob's tab closed: ada sees him leave.
                t0 = time.monotonic()
                left = await presence_frames(ada, "room.a", lambda f: f and f[-1]["leave"])
                self.assertLess(time.monotonic() - t0, 1.0)
                self.assertEqual(left[-1]["leave"], [{"client": bob_id, "user": bob_id}])
                self.assertEqual(left[-1]["clients"], 1)
        run(go())

    def test_queries_answer_members_on_every_front_and_page(self):
        async def go():
            clients = []
            try:
                for i in range(5):
                    ws = await connect(self.url, {"n": i}).__aenter__()
                    clients.append(ws)
                    await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "room.q",
                                              "presence": True}))
                    self.assertEqual((await recv_json(ws))["op"], "subscribed")
                ids = set()
                ws = clients[0]
                # Queries answer what events said (at most event_interval_ms
                # behind): once the first member has heard of all five.
                await presence_frames(ws, "room.q", lambda f: f and f[-1]["clients"] == 5)
                after = None
                pages = 0
                while True:
                    cmd = {"op": "members", "id": 7, "topic": "room.q", "limit": 2}
                    if after:
                        cmd["after"] = after
                    await ws.send(json.dumps(cmd))
                    a = await recv_json(ws)
                    while a.get("op") != "members":
                        a = await recv_json(ws)
                    self.assertEqual((a["clients"], a["users"]), (5, 5))
                    ids.update(m["client"] for m in a["members"])
                    pages += 1
                    if "next" not in a:
                        break
                    after = a["next"]
                self.assertEqual((len(ids), pages), (5, 3))
                resp, body = http_call(self.h.port, "GET", "/presence/room.q?limit=10")
                self.assertEqual(resp.status, 200, body)
                doc = json.loads(body)
                self.assertEqual(doc["clients"], 5)
                self.assertEqual({m["client"] for m in doc["members"]}, ids)
                self.assertEqual(sorted(m["info"]["n"] for m in doc["members"]), list(range(5)))
                with grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}") as ch:
                    r = pb_grpc.BrokerStub(ch).Presence(pb.PresenceRequest(topic="room.q"),
                                                        timeout=5)
                    self.assertEqual((r.clients, r.users), (5, 5))
                    self.assertEqual({m.client for m in r.members}, ids)
                    self.assertEqual(json.loads(r.members[0].info).keys(), {"n"})
                # The sixth is refused: max_members_per_topic = 5.
                async with connect(self.url) as extra:
                    await extra.send(json.dumps({"op": "sub", "id": 1, "topic": "room.q",
                                                 "presence": True}))
                    e = await recv_json(extra)
                    self.assertEqual((e["op"], e["code"]), ("error", "resource_exhausted"))
                    self.assertIn("is full (5 members)", e["message"])
                    await extra.send(json.dumps({"op": "ping", "id": 2}))
                    self.assertEqual((await recv_json(extra))["op"], "pong")
                self.assertGreaterEqual(metric(self.h.port, "herald_presence_refused_total"), 1)
                self.assertGreaterEqual(metric(self.h.port, "herald_presence_members"), 5)
            finally:
                for ws in clients:
                    await ws.close()
        run(go())

    def test_bad_requests_get_specific_errors(self):
        async def go():
            async with connect(self.url) as ws:
                cases = [
                    ({"op": "sub", "topic": "room.*", "presence": True}, "invalid_argument",
                     "presence needs one topic, not a pattern"),
                    ({"op": "sub", "topic": "room.g", "group": "g", "presence": True},
                     "invalid_argument", "queue group"),
                    ({"op": "sub", "topic": "quiet.room", "presence": True}, "invalid_argument",
                     "presence is off for topic 'quiet.room'"),
                    ({"op": "sub", "topic": "room.x", "presence": "yes"}, "invalid_argument",
                     "'presence' must be true or false"),
                    ({"op": "members", "topic": "room.*"}, "invalid_topic", "room.*"),
                    ({"op": "members"}, "invalid_argument", "missing 'topic'"),
                    ({"op": "members", "topic": "quiet.room"}, "invalid_argument",
                     "presence is off"),
                    # A plain subscription does not become a member by asking again.
                    ({"op": "sub", "topic": "room.m", "presence": True}, "invalid_argument",
                     "already subscribed to 'room.m' without presence"),
                ]
                await ws.send(json.dumps({"op": "sub", "id": "plain", "topic": "room.m"}))
                self.assertEqual((await recv_json(ws))["op"], "subscribed")
                for i, (cmd, code, text) in enumerate(cases):
                    await ws.send(json.dumps({**cmd, "id": i}))
                    e = await recv_json(ws)
                    self.assertEqual((e.get("op"), e.get("id"), e.get("code")), ("error", i, code),
                                     (cmd, e))
                    self.assertIn(text, e["message"], cmd)
        run(go())
        for info, why in [("not json", "info must be a JSON object"), ("[1]", "JSON object"),
                          (json.dumps({"x": "y" * 300}), "over 256 bytes")]:
            resp, body = http_call(self.h.port, "GET",
                                   "/ws?info=" + urllib.parse.quote(info),
                                   headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                            "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            self.assertEqual(resp.status, 400, body)
            self.assertIn(why, body.decode())
        resp, body = http_call(self.h.port, "GET", "/presence/quiet.x")
        self.assertEqual((resp.status, json.loads(body)["error"]), (400, "invalid_argument"))

    def test_a_grpc_connect_session_is_a_member_with_its_metadata_info(self):
        with grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_port}") as ch:
            stub = pb_grpc.BrokerStub(ch)
            cmds = [pb.ClientCommand(id=1, subscribe=pb.SubscribeRequest(pattern="room.g",
                                                                        presence=True))]
            done = asyncio.Event()  # unused by grpc; the iterator below stays open

            def requests():
                yield from cmds
                while not done.is_set():
                    time.sleep(0.05)
            events = stub.Connect(requests(), metadata=(("herald-info", '{"svc":"judge"}'),),
                                  timeout=10)
            try:
                first = next(events)
                self.assertEqual(first.WhichOneof("event"), "subscribed")
                me = first.subscribed.client
                self.assertTrue(me)
                snap = next(events).delivery.presence
                self.assertTrue(snap.snapshot)
                joined = next(events).delivery.presence
                self.assertEqual([(m.client, json.loads(m.info)) for m in joined.joins],
                                 [(me, {"svc": "judge"})])
                resp, body = http_call(self.h.port, "GET", "/presence/room.g")
                self.assertEqual([m["client"] for m in json.loads(body)["members"]], [me])
            finally:
                done.set()
                events.cancel()
            with self.assertRaises(grpc.RpcError) as e:
                next(stub.Subscribe(pb.SubscribeRequest(pattern="room.g", presence=True),
                                    timeout=5))
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("Connect session", e.exception.details())


SECRET = "a-secret-for-the-presence-tests-of-32-bytes-or-more"
AUTH_CONFIG = f"""
[auth]
leeway_ms = 0
[[auth.keys]]
alg = "HS256"
secret = "{SECRET}"
"""


def token(sub, subscribe, info=None):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    herald = {"subscribe": subscribe}
    if info is not None:
        herald["info"] = info
    head = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(
        {"sub": sub, "exp": int(time.time()) + 600, "herald": herald})
    sig = hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


class PresenceWithTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config=AUTH_CONFIG).__enter__()
        cls.url = f"ws://127.0.0.1:{cls.h.port}/ws"

    @classmethod
    def tearDownClass(cls):
        cls.h.__exit__(None, None, None)

    def test_the_token_names_the_member_and_reading_presence_needs_the_grant(self):
        ada = token("ada", ["team.>"], {"name": "Ada L."})

        async def go():
            async with websockets.connect(f"{self.url}?token={ada}", open_timeout=5) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "team.x",
                                          "presence": True}))
                me = (await recv_json(ws))["client"]
                frames = await presence_frames(ws, "team.x", lambda f: len(members_of(f)) == 1)
                self.assertEqual(members_of(frames)[me]["user"], "ada")
                self.assertEqual(members_of(frames)[me]["info"], {"name": "Ada L."})
                await ws.send(json.dumps({"op": "members", "id": 2, "topic": "other.x"}))
                e = await recv_json(ws)
                self.assertEqual(e.get("code"), "permission_denied", e)
                self.assertEqual(e["message"], "permission denied: read the presence of 'other.x'")
        run(go())
        bearer = {"Authorization": "Bearer " + token("eve", ["other.>"])}
        resp, body = http_call(self.h.port, "GET", "/presence/team.x", headers=bearer)
        self.assertEqual(resp.status, 403, body)
        resp, body = http_call(self.h.port, "GET", "/presence/team.x")
        self.assertEqual(resp.status, 401, body)
        # A client does not name itself on a node with tokens.
        q = urllib.parse.quote(json.dumps({"name": "admin"}))
        resp, body = http_call(self.h.port, "GET", f"/ws?token={ada}&info={q}",
                               headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                        "Sec-WebSocket-Version": "13",
                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        self.assertEqual(resp.status, 400, body)
        self.assertIn("does not let clients set their info", body.decode())


if __name__ == "__main__":
    unittest.main()
