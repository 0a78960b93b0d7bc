"""Reload on SIGHUP and POST /admin/reload without dropping connections:
heraldd reads its command line and config file again and applies what can
change live — the auth keys and rules, the limits, origins and CORS of the
HTTP, WebSocket and SSE fronts, the HTTPS certificate, the log level. An
invalid file changes nothing (the reason is logged, and returned to an admin
request); settings that need a restart are named.

    HERALDD=build/release/server/heraldd /usr/bin/python3 -m unittest -v test_reload
"""
import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import sys
import unittest

import grpc
import websockets

from cluster_util import metric
from heraldd import Heraldd, http_call, wait_until
from test_auth import AUDIENCE, ISSUER, bearer, claims, jwt
from tls_util import Pki
from ws_util import recv_json, run

sys.path.insert(0, os.path.abspath(os.environ.get(
    "HERALD_PYTHON_STUBS",
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "release", "python"))))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

OLD = b"the-old-secret-of-at-least-32-bytes-0123456789"
NEW = b"the-new-secret-of-at-least-32-bytes-9876543210"


def auth(secret, extra=""):
    return (f'[auth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\nanonymous = false\n{extra}'
            f'[[auth.keys]]\nalg = "HS256"\nsecret = "{secret.decode()}"\n'
            f'[[auth.rules]]\nsubject = "*"\nsubscribe = ["news.>"]\npublish = ["news.>"]\n')


def tls(pki, name):
    return (f'[tls]\nlisten = "127.0.0.1:0"\ncert_file = "{pki.path(name + ".pem")}"\n'
            f'key_file = "{pki.path(name + ".key")}"\n')


def token(secret, sub="alice"):
    return jwt(claims(sub=sub), secret=secret)


class Reload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.pki.ca("ca")
        cls.pki.node("first", "ca")
        cls.pki.node("second", "ca")

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def start(self, config):
        h = Heraldd(config=config)
        h.__enter__()
        self.addCleanup(lambda: self.assertEqual(h.stop(), 0, h.logs()[-2000:]))
        return h

    def reload(self, h, config, expect="reload: applied"):
        """Rewrites heraldd's config file, sends SIGHUP, waits for its answer."""
        before = h.logs().count("reload:")
        with open(h.config_path, "w") as f:
            f.write(config)
        h.proc.send_signal(signal.SIGHUP)
        def said():  # heraldd's logging thread writes them soon, not at once
            return [line for line in h.logs().splitlines() if "reload:" in line][before:]
        self.assertTrue(wait_until(lambda: any(expect in line for line in said()), 5),
                        "\n".join(said()) or h.logs())
        return "\n".join(said())

    def peer_cn(self, port):
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
        ctx.set_alpn_protocols(["h2", "http/1.1"])  # gRPC's listener wants h2
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]

    def test_a_key_rotation_refuses_old_tokens_and_keeps_open_connections(self):
        h = self.start(auth(OLD))

        async def go():
            old_ws = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws",
                                              extra_headers=bearer(token(OLD)))
            await old_ws.send(json.dumps({"op": "sub", "topic": "news.a"}))
            self.assertEqual((await recv_json(old_ws, 5))["op"], "subscribed")
            await asyncio.to_thread(self.reload, h, auth(NEW), "reload: applied auth")
            # New connections: the old key is refused, the new one accepted.
            status, _ = http_call(h.port, "POST", "/publish/news.a", b"x", bearer(token(OLD)))
            self.assertEqual(status.status, 401)
            status, _ = http_call(h.port, "POST", "/publish/news.a", b"rotated",
                                  bearer(token(NEW, sub="bob")))
            self.assertEqual(status.status, 200)
            # The connection made with the old key is still open and served.
            m = await recv_json(old_ws, 5)
            self.assertEqual((m["op"], m["payload"]), ("msg", "rotated"))
            await old_ws.close()
        run(go())

    def test_a_new_certificate_is_served_to_new_connections_and_old_ones_stay(self):
        h = self.start(tls(self.pki, "first"))
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
        kept = ctx.wrap_socket(socket.create_connection(("127.0.0.1", h.tls_port), timeout=5),
                               server_hostname="127.0.0.1")
        self.addCleanup(kept.close)
        self.assertEqual(dict(x[0] for x in kept.getpeercert()["subject"])["commonName"], "first")
        self.reload(h, tls(self.pki, "second"), "reload: applied")
        self.assertEqual(self.peer_cn(h.tls_port), "second")
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(kept.recv(4096).startswith(b"HTTP/1.1 200 "))

    def test_an_invalid_file_changes_nothing_and_says_why(self):
        h = self.start(tls(self.pki, "first") + auth(OLD))
        broken = tls(self.pki, "second").replace(self.pki.path("second.key"),
                                                 self.pki.path("missing.key")) + auth(NEW)
        said = self.reload(h, broken, "reload: refused")
        self.assertIn(f"tls.key_file: cannot read '{self.pki.path('missing.key')}'", said)
        self.assertEqual(self.peer_cn(h.tls_port), "first")
        status, _ = http_call(h.port, "POST", "/publish/news.a", b"x", bearer(token(OLD)))
        self.assertEqual(status.status, 200)  # the old key still rules
        said = self.reload(h, "workers = [", "reload: refused")  # not even TOML
        self.assertEqual(http_call(h.port, "GET", "/healthz")[0].status, 200)

    def test_settings_that_need_a_restart_are_named_and_not_applied(self):
        h = self.start(auth(OLD))
        said = self.reload(h, "workers = 3\n" + auth(NEW, "max_connections_per_user = 5\n") +
                           "[http]\nmax_body_bytes = 4096\n[limits]\nmax_topics = 10\n"
                           "dedup_window_ms = 1000\nmax_topic_length = 100\n"
                           "[grpc]\nmax_message_bytes = 65536\n[sse]\nid_topic_names = 8\n",
                           "need a restart")
        restart = [line for line in said.splitlines() if "need a restart" in line][0]
        for key in ("workers", "limits.dedup_window_ms", "limits.max_topic_length",
                    "grpc.max_message_bytes", "sse.id_topic_names"):
            self.assertIn(key, restart)
        for key in ("http.max_body_bytes", "auth.max_connections_per_user",
                    "limits.max_topics"):  # live
            self.assertNotIn(key, restart)
        # The rest was applied.
        self.assertIn("reload: applied auth, http, websocket, sse, limits, log_level", said)

    def test_a_changed_secret_is_named_though_it_prints_masked(self):
        h = self.start('[store]\nredis_password = "one"\n')
        said = self.reload(h, '[store]\nredis_password = "two"\n', "need a restart")
        self.assertIn("store.redis_password", said)

    def test_the_grpc_listener_serves_a_new_certificate_and_open_channels_stay(self):
        grpc_tls = tls(self.pki, "first").replace('listen = "127.0.0.1:0"\n',
                                                   'grpc_listen = "127.0.0.1:0"\n')
        h = self.start(grpc_tls)
        creds = grpc.ssl_channel_credentials(open(self.pki.path("ca.pem"), "rb").read())
        kept = grpc.secure_channel(f"127.0.0.1:{h.grpc_tls_port}", creds)
        self.addCleanup(kept.close)
        publish = pb_grpc.BrokerStub(kept).Publish
        publish(pb.PublishRequest(topic="r.g", payload=b"1"), timeout=5)
        self.assertEqual(self.peer_cn(h.grpc_tls_port), "first")
        said = self.reload(h, grpc_tls.replace("first.", "second."))
        self.assertRegex(said, r"reload: applied .*\btls\b")
        self.assertEqual(self.peer_cn(h.grpc_tls_port), "second")
        publish(pb.PublishRequest(topic="r.g", payload=b"2"), timeout=5)  # the open channel
        self.assertNotIn("need a restart", h.logs())  # it would follow "applied" closely
        with grpc.secure_channel(f"127.0.0.1:{h.grpc_tls_port}", creds) as fresh:
            pb_grpc.BrokerStub(fresh).Publish(pb.PublishRequest(topic="r.g", payload=b"3"),
                                              timeout=5)
        # Asking for client certificates is the listener's from its start:
        # a CA given now waits for a restart, the certificate beside it does
        # not (back to "first").
        said = self.reload(h, grpc_tls + f'client_ca_file = "{self.pki.path("ca.pem")}"\n',
                           "need a restart")
        self.assertIn("need a restart (not applied): tls.client_ca_file", said)
        self.assertEqual(self.peer_cn(h.grpc_tls_port), "first")

    def test_keys_are_still_compared_after_the_started_key_file_is_gone(self):
        old_file = self.pki.path("old-secret")
        with open(old_file, "wb") as f:
            f.write(OLD)
        keyed = auth(OLD).replace(f'secret = "{OLD.decode()}"', f'secret_file = "{old_file}"')
        h = self.start(keyed)
        __import__("os").unlink(old_file)  # rotated away
        said = self.reload(h, "workers = 3\n" + auth(NEW), "need a restart")
        self.assertIn("workers", said)
        self.assertNotIn("cannot tell", h.logs())

    def test_the_log_level_changes(self):
        h = self.start('log_level = "info"\n')
        run(self.connect_and_close(h))
        self.assertNotIn("connection opened", h.logs())
        self.reload(h, 'log_level = "debug"\n')
        run(self.connect_and_close(h))
        self.assertTrue(wait_until(lambda: "connection opened" in h.logs(), 5), h.logs()[-2000:])

    def test_limits_apply_to_new_connections_and_requests_and_open_websockets_keep_theirs(self):
        h = self.start("[http]\nmax_body_bytes = 1000\n[websocket]\nmax_message_bytes = 1000\n")

        async def go():
            kept_http = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
            kept_http.request("GET", "/healthz")
            kept_http.getresponse().read()
            kept_ws = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
            await asyncio.to_thread(
                self.reload, h,
                "[http]\nmax_body_bytes = 100\n[websocket]\nmax_message_bytes = 100\n")
            # New connections: the new limits.
            status, body = http_call(h.port, "POST", "/publish/lim.a", b"x" * 500)
            self.assertEqual(status.status, 413, body)
            fresh = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
            await fresh.send(json.dumps({"op": "pub", "topic": "lim.a", "payload": "y" * 500}))
            with self.assertRaises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(fresh.recv(), 5)
            self.assertEqual(closed.exception.rcvd.code, 1009)
            # An HTTP connection kept alive gets them at its next request...
            kept_http.request("POST", "/publish/lim.a", body=b"x" * 500)
            resp = kept_http.getresponse()
            self.assertEqual(resp.status, 413, resp.read())
            kept_http.close()
            # ...a WebSocket keeps what it was upgraded with.
            await kept_ws.send(json.dumps({"op": "pub", "topic": "lim.a", "payload": "y" * 500,
                                           "id": 1}))
            self.assertEqual((await recv_json(kept_ws, 5))["op"], "ack")
            await kept_ws.close()
        run(go())

    def test_broker_limits_apply_to_the_next_publish_and_subscribe_also_on_open_connections(self):
        base = 'grpc_listen = "127.0.0.1:0"\n[limits]\n'
        h = self.start(base + "max_payload_bytes = 1000\nmax_subscriptions_per_connection = 3\n"
                       "max_topics = 1000\n")
        channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
        self.addCleanup(channel.close)
        stub = pb_grpc.BrokerStub(channel)

        async def go():
            ws = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
            for i in range(2):
                await ws.send(json.dumps({"op": "sub", "topic": f"bl.{i}"}))
                self.assertEqual((await recv_json(ws, 5))["op"], "subscribed")
                self.assertEqual(http_call(h.port, "POST", f"/publish/bl.{i}", b"x")[0].status,
                                 200)
                self.assertEqual((await recv_json(ws, 5))["op"], "msg")
            held = int(metric(h.port, "herald_topics"))  # bl.0, bl.1 and the node's own
            said = await asyncio.to_thread(
                self.reload, h, base + "max_payload_bytes = 100\n"
                f"max_subscriptions_per_connection = 1\nmax_topics = {held}\n")
            self.assertRegex(said, r"reload: applied .*\blimits\b")
            # The WebSocket opened before the reload: the next publish and
            # subscribe are checked against the new bounds...
            await ws.send(json.dumps({"op": "pub", "id": 1, "topic": "bl.0", "payload": "y" * 500}))
            err = await recv_json(ws, 5)
            self.assertEqual((err["op"], err["code"]), ("error", "payload_too_large"), err)
            self.assertIn("100", err["message"])
            await ws.send(json.dumps({"op": "sub", "id": 2, "topic": "bl.2"}))
            self.assertEqual((await recv_json(ws, 5))["code"], "too_many_subscriptions")
            # ...and what it holds stays: both subscriptions still deliver.
            await ws.send(json.dumps({"op": "pub", "id": 3, "topic": "bl.1", "payload": "small"}))
            got = {(await recv_json(ws, 5))["op"] for _ in range(2)}
            self.assertEqual(got, {"ack", "msg"})
            # A new topic past max_topics (as many as are held): refused, on
            # HTTP; a held one still takes publishes.
            status, body = http_call(h.port, "POST", "/publish/bl.new", b"x")
            self.assertEqual(status.status, 503, body)
            self.assertIn(b"too_many_topics", body)
            self.assertEqual(http_call(h.port, "POST", "/publish/bl.0", b"x")[0].status, 200)
            status, body = http_call(h.port, "POST", "/publish/bl.0", b"x" * 500)
            self.assertEqual(status.status, 413, body)
            await ws.close()
        run(go())
        # gRPC: the same bound, the same error.
        with self.assertRaises(grpc.RpcError) as refused:
            stub.Publish(pb.PublishRequest(topic="bl.0", payload=b"z" * 500), timeout=5)
        self.assertIn("100", refused.exception.details())
        self.assertEqual(http_call(h.port, "GET", "/healthz")[0].status, 200)
        # Read now, well after the reload's "applied" line, which a "need a
        # restart" line would follow.
        self.assertNotIn("need a restart", h.logs())

    def test_a_per_address_cap_set_by_a_reload_counts_the_connections_already_open(self):
        h = self.start("")  # no cap
        kept = [socket.create_connection(("127.0.0.1", h.port), timeout=5) for _ in range(2)]
        for s in kept:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "))
        self.reload(h, "[http]\nmax_connections_per_ip = 2\n")
        status, body = http_call(h.port, "GET", "/healthz")
        self.assertEqual(status.status, 503, body)
        self.assertIn(b"max_connections_per_ip", body)
        kept.pop().close()
        self.assertTrue(wait_until(lambda: http_call(h.port, "GET", "/healthz")[0].status == 200,
                                   5))
        kept[0].close()

    def test_grpc_call_limits_apply_to_calls_from_then_on(self):
        base = 'grpc_listen = "127.0.0.1:0"\n[grpc]\n'
        h = self.start(base)  # no command rate limit
        channel = grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}")
        self.addCleanup(channel.close)
        stub = pb_grpc.BrokerStub(channel)

        def publishes(n):
            for i in range(1, n + 1):
                yield pb.ClientCommand(id=i, publish=pb.PublishRequest(topic="r.x", payload=b"x"))

        events = list(stub.Connect(publishes(4), timeout=5))
        self.assertEqual(len([e for e in events if e.HasField("ack")]), 4, events)
        said = self.reload(h, base + "max_commands_per_second = 0.5\ncommand_burst = 2\n"
                           "max_concurrent_streams = 7\n", "need a restart")
        self.assertRegex(said, r"reload: applied .*\bgrpc\b")
        self.assertIn("grpc.max_concurrent_streams", said)  # gRPC's own, from its start
        events = list(stub.Connect(publishes(4), timeout=5))
        self.assertEqual(len([e for e in events if e.HasField("ack")]), 2, events)
        refused = [e for e in events if e.HasField("error")]
        self.assertEqual([e.error.code for e in refused],
                         [grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]] * 2, events)

    def test_allowed_origins_and_cors_change_live(self):
        h = self.start('[http]\ncors_origins = ["https://a.example"]\n'
                       '[websocket]\nallowed_origins = ["https://a.example"]\n'
                       '[sse]\nallowed_origins = ["https://a.example"]\n')
        preflight = {"Origin": "https://b.example", "Access-Control-Request-Method": "POST"}

        def sse_status():  # the stream's status line (an open stream does not end)
            with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
                s.sendall(b"GET /sse?topic=o.a HTTP/1.1\r\nHost: x\r\n"
                          b"Origin: https://b.example\r\n\r\n")
                return int(s.recv(4096).split(b" ")[1])

        def refused_everywhere(refused):
            status, _ = http_call(h.port, "OPTIONS", "/publish/o.a", None, preflight)
            self.assertEqual(status.status, 403 if refused else 204)
            self.assertEqual(sse_status(), 403 if refused else 200)

            async def ws():
                if refused:
                    with self.assertRaises(websockets.InvalidStatusCode) as e:
                        await websockets.connect(f"ws://127.0.0.1:{h.port}/ws",
                                                 origin="https://b.example")
                    self.assertEqual(e.exception.status_code, 403)
                else:
                    c = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws",
                                                 origin="https://b.example")
                    await c.close()
            run(ws())

        refused_everywhere(True)
        self.reload(h, '[http]\ncors_origins = ["https://b.example"]\n'
                       '[websocket]\nallowed_origins = ["https://b.example"]\n'
                       '[sse]\nallowed_origins = ["https://b.example"]\n')
        refused_everywhere(False)

    def test_an_admin_reloads_over_http_and_gets_the_outcome(self):
        admin = jwt(claims(sub="root", herald={"admin": [">"]}), secret=OLD)
        topic_admin = jwt(claims(sub="ops", herald={"admin": ["news.>"]}), secret=OLD)
        h = self.start(auth(OLD))

        def post(tok):
            resp, body = http_call(h.port, "POST", "/admin/reload", b"", bearer(tok))
            return resp.status, json.loads(body)

        with open(h.config_path, "w") as f:
            f.write("workers = 3\n" + auth(NEW))
        status, body = post(topic_admin)  # a grant over some topics is not the node
        self.assertEqual((status, body["error"]), (403, "permission_denied"), body)
        self.assertIn("needs an admin grant covering '>'", body["message"])
        self.assertEqual(http_call(h.port, "POST", "/admin/reload")[0].status, 401)
        status, body = post(admin)
        self.assertEqual(status, 200, body)
        self.assertIn("auth", body["applied"])
        self.assertEqual(body["needs_restart"], ["workers"])
        # The new key rules now: the old admin token is refused.
        self.assertEqual(post(admin)[0], 401)
        admin = jwt(claims(sub="root", herald={"admin": [">"]}), secret=NEW)
        with open(h.config_path, "w") as f:
            f.write("[http]\nmax_body_bytes = -1\n" + auth(NEW))
        status, body = post(admin)
        self.assertEqual(status, 400, body)
        self.assertIn("reload refused, the running configuration stays: ",
                      body["message"])
        self.assertIn("max_body_bytes", body["message"])
        # Logged by the server's logging thread: there soon, not at once.
        self.assertTrue(wait_until(lambda: "reload: refused" in h.logs(), 5), h.logs())
        _, text = http_call(h.port, "GET", "/metrics")
        self.assertIn('herald_reloads_total{result="applied"} 1', text.decode())
        self.assertIn('herald_reloads_total{result="refused"} 1', text.decode())

    def test_without_a_reload_handler_there_is_no_reload_endpoint(self):
        # heraldd always has one; an embedding without reload_handler has
        # none (tests/server/server_reload_test.cc): here, a GET is no reload.
        h = self.start("")
        self.assertEqual(http_call(h.port, "GET", "/admin/reload")[0].status, 404)

    async def connect_and_close(self, h):
        ws = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
        await ws.close()


if __name__ == "__main__":
    unittest.main()
