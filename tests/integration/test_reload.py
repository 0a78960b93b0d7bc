"""Reload on SIGHUP without dropping connections: heraldd reads its command
line and config file again and applies what can change live — the auth keys
and rules, the HTTPS certificate, the log level. An invalid file changes
nothing (the reason is logged); settings that need a restart are named.

    HERALDD=build/release/server/heraldd /usr/bin/python3 -m unittest -v test_reload
"""
import asyncio
import json
import signal
import socket
import ssl
import unittest

import websockets

from heraldd import Heraldd, http_call, wait_until
from test_auth import AUDIENCE, ISSUER, bearer, claims, jwt
from tls_util import Pki
from ws_util import recv_json, run

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

    def reload(self, h, config, expect="SIGHUP: reloaded"):
        """Rewrites heraldd's config file, sends SIGHUP, waits for its answer."""
        before = h.logs().count("SIGHUP:")
        with open(h.config_path, "w") as f:
            f.write(config)
        h.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: h.logs().count("SIGHUP:") > before, 5), h.logs())
        last = [line for line in h.logs().splitlines() if "SIGHUP:" in line][before:]
        self.assertTrue(any(expect in line for line in last), "\n".join(last))
        return "\n".join(last)

    def peer_cn(self, port, ctx=None):
        ctx = ctx or ssl.create_default_context(cafile=self.pki.path("ca.pem"))
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
            await asyncio.to_thread(self.reload, h, auth(NEW), "SIGHUP: reloaded auth")
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
        self.reload(h, tls(self.pki, "second"), "SIGHUP: reloaded tls")
        self.assertEqual(self.peer_cn(h.tls_port), "second")
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(kept.recv(4096).startswith(b"HTTP/1.1 200 "))

    def test_an_invalid_file_changes_nothing_and_says_why(self):
        h = self.start(tls(self.pki, "first") + auth(OLD))
        broken = tls(self.pki, "second").replace(self.pki.path("second.key"),
                                                 self.pki.path("missing.key")) + auth(NEW)
        said = self.reload(h, broken, "reload refused")
        self.assertIn(f"tls.key_file: cannot read '{self.pki.path('missing.key')}'", said)
        self.assertEqual(self.peer_cn(h.tls_port), "first")
        status, _ = http_call(h.port, "POST", "/publish/news.a", b"x", bearer(token(OLD)))
        self.assertEqual(status.status, 200)  # the old key still rules
        said = self.reload(h, "workers = [", "reload refused")  # not even TOML
        self.assertEqual(http_call(h.port, "GET", "/healthz")[0].status, 200)

    def test_settings_that_need_a_restart_are_named_and_not_applied(self):
        h = self.start(auth(OLD))
        said = self.reload(h, "workers = 3\n" + auth(NEW, "max_connections_per_user = 5\n") +
                           "[http]\nmax_body_bytes = 4096\n", "need a restart")
        self.assertIn("workers", said)
        self.assertIn("auth.max_connections_per_user", said)
        self.assertIn("http.max_body_bytes", said)  # limits: read at start, for now
        self.assertIn("SIGHUP: reloaded auth, log_level", said)  # the rest was applied

    def test_a_changed_secret_is_named_though_it_prints_masked(self):
        h = self.start('[store]\nredis_password = "one"\n')
        said = self.reload(h, '[store]\nredis_password = "two"\n', "need a restart")
        self.assertIn("store.redis_password", said)

    def test_the_grpc_certificate_is_named_at_every_reload_while_it_differs(self):
        grpc_tls = tls(self.pki, "first").replace('listen = "127.0.0.1:0"\n',
                                                   'grpc_listen = "127.0.0.1:0"\n')
        h = self.start(grpc_tls)
        second = grpc_tls.replace("first.", "second.")
        for _ in range(2):
            said = self.reload(h, second, "need a restart")
            self.assertIn("the gRPC listener's certificate", said)

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

    async def connect_and_close(self, h):
        ws = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
        await ws.close()


if __name__ == "__main__":
    unittest.main()
