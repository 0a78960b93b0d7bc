"""JWT authentication and topic authorization ([auth] in the config file),
through every front of a real heraldd: WebSocket JSON `/ws`, raw `/ws/<topic>`,
SSE `/sse`, and the HTTP API (POST /publish, POST /request, GET /history).

Tokens are built here from scratch (hmac, hashlib, base64url; RS256/ES256 with
Debian's python3-cryptography when it is installed), so nothing of the server's
JWT code is trusted. Every token string a test makes is remembered; the last
class checks that none of them ever reached a heraldd log.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import queue
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import grpc
import websockets

from heraldd import Heraldd, http_call, run_heraldd, wait_until
from sse_util import SseClient, parse_head, started
from test_grpc import Example
from ws_util import recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

ISSUER = "test-issuer"
AUDIENCE = "herald"
SECRET = b"a-secret-of-at-least-32-bytes-long-0123456789"
OTHER_SECRET = b"another-secret-of-at-least-32-bytes-long-987654"
MAX_TOKEN_BYTES = 8192


def auth_toml(subscribe, publish=(), leeway_ms=0):
    """An [auth] table verifying this file's HS256 tokens (no anonymous
    access) with one rule for every subject."""
    return (f'\n[auth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\nleeway_ms = {leeway_ms}\n'
            f'anonymous = false\n[[auth.keys]]\nalg = "HS256"\nsecret = "{SECRET.decode()}"\n'
            f'[[auth.rules]]\nsubject = "*"\nsubscribe = {json.dumps(list(subscribe))}\n'
            f'publish = {json.dumps(list(publish))}\n')

AUTH_CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
max_token_bytes = {MAX_TOKEN_BYTES}
anonymous = false
[[auth.keys]]
alg = "HS256"
kid = "k1"
secret = "{SECRET.decode()}"
[[auth.rules]]
subject = "*"
subscribe = ["public.>"]
[[auth.rules]]
subject = "svc-rule"
publish = ["rules.>"]
"""

ANONYMOUS_CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
anonymous = true
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
[[auth.rules]]
subject = "anonymous"
subscribe = ["public.>"]
[[auth.rules]]
subject = "*"
subscribe = ["members.>"]
"""

# Only the key: leeway (5000 ms) and anonymous (off, a key is configured) default.
DEFAULTS_CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
"""

# ---------------------------------------------------------------------------
# Tokens

TOKENS = set()  # every token string handed to a server (checked against the logs)
SERVERS = []  # every heraldd started here (their logs are checked at the end)


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def hs_sig(signing_input, secret=SECRET, hash_alg="HS256"):
    return b64u(hmac.new(secret, signing_input.encode(), _HMAC[hash_alg]).digest())


def remember(tok):
    TOKENS.add(tok)
    return tok


def claims(**over):
    """Valid claims (10 minutes left) with `over` applied; a None value removes the claim."""
    c = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def grants(publish=None, subscribe=None):
    g = {}
    if publish is not None:
        g["publish"] = publish
    if subscribe is not None:
        g["subscribe"] = subscribe
    return g


def jwt(payload=None, header=None, secret=SECRET, hash_alg="HS256", raw_header=None,
        raw_payload=None, sig=None):
    """A compact JWS. raw_header / raw_payload: exact bytes to encode (or an
    already encoded segment when given as str); sig: an exact signature segment."""
    if raw_header is None:
        raw_header = js(header if header is not None else {"alg": "HS256", "typ": "JWT"})
    if raw_payload is None:
        raw_payload = js(payload if payload is not None else claims())
    h = raw_header if isinstance(raw_header, str) else b64u(raw_header)
    p = raw_payload if isinstance(raw_payload, str) else b64u(raw_payload)
    if sig is None:
        sig = hs_sig(f"{h}.{p}", secret, hash_alg)
    return remember(f"{h}.{p}.{sig}")


def token(sub="alice", publish=None, subscribe=None, **over):
    """A valid HS256 token for `sub` with these grants (no `herald` claim when both None)."""
    c = claims(sub=sub, **over)
    if publish is not None or subscribe is not None:
        c["herald"] = grants(publish, subscribe)
    return jwt(c)


def sized_token(length, herald):
    """A valid token of exactly `length` characters (padded with a `pad` claim)."""
    for hpad in range(4):
        header = {"alg": "HS256", "typ": "JWT"}
        if hpad:
            header["x"] = "y" * hpad
        base = claims(herald=herald)
        for k in range(max(0, (length * 3) // 4 - 400), (length * 3) // 4 + 10):
            c = dict(base, pad="p" * k)
            h, p = b64u(js(header)), b64u(js(c))
            n = len(h) + len(p) + 2 + 43
            if n == length:
                return jwt(c, header=header)
            if n > length:
                break
    raise AssertionError(f"no token of exactly {length} characters")


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def q(tok):
    return urllib.parse.quote(tok, safe="")


def with_token(path, tok):
    return path + ("&" if "?" in path else "?") + "token=" + q(tok)


def error_code(body):
    """The error code of a JSON error body, either {"error":{"code":…}} (the
    auth spec) or {"error":"<code>"} (PROTOCOL.md's HTTP errors)."""
    try:
        j = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(j, dict):
        return None
    e = j.get("error")
    if isinstance(e, dict):
        return e.get("code")
    return e


def start_server(config, **kw):
    h = Heraldd(config=config, **kw).__enter__()
    SERVERS.append(h)
    return h


def handshake(port, path, headers=None, timeout=5):
    """A hand-made WebSocket upgrade: (status, {lower-case header: value}, body)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        status, hdrs = parse_head(head)
        if status != 101:
            n = int(hdrs.get("content-length", "0"))
            while len(rest) < n:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        return status, hdrs, rest
    finally:
        s.close()


def sse_open(port, path, headers=None):
    """(status, code or None); a 200 stream is checked to start, then closed."""
    c = SseClient(port, path, headers=headers)
    try:
        if c.status == 200:
            c.wait_for(started, 3)
            return 200, None
        return c.status, error_code(c.body)
    finally:
        c.close()


def ws_connect(url, tok=None, **kw):
    headers = bearer(tok) if tok is not None else None
    return websockets.connect(url, extra_headers=headers, open_timeout=5, **kw)


async def answer(ws, want_id, timeout=3):
    """The answer (or error) to command `want_id`, skipping deliveries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        m = await recv_json(ws, max(0.01, deadline - loop.time()))
        if m.get("id") == want_id and m.get("op") != "msg":
            return m


async def quiet(ws, seconds=0.3):
    """The frames that arrive within `seconds` (tests expect none)."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return got
        try:
            got.append(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return got


class AuthCase(unittest.TestCase):
    CONFIG = AUTH_CONFIG

    @classmethod
    def setUpClass(cls):
        cls.h = start_server(cls.CONFIG)
        cls.port = cls.h.port
        cls.url = f"ws://127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def publish(self, topic, body=b"x", tok=None, headers=None):
        h = dict(headers or {})
        if tok is not None:
            h.update(bearer(tok))
        h.setdefault("Content-Type", "text/plain")
        resp, data = http_call(self.port, "POST", "/publish/" + topic, body, h)
        return resp, data

    def assert_401(self, resp, data, tok=None, what=""):
        self.assertEqual(resp.status, 401, (what, resp.status, data))
        self.assertEqual(error_code(data), "unauthenticated", (what, data))
        self.assertTrue((resp.getheader("WWW-Authenticate") or "").startswith("Bearer"),
                        (what, resp.getheaders()))
        if tok and len(tok) >= 8:
            self.assertNotIn(tok.encode(), data, what)


# ---------------------------------------------------------------------------
# Authentication: who may connect at all


class Authentication(AuthCase):
    def bad_tokens(self):
        """(name, token) pairs; each would be allowed to publish to bad.x if accepted."""
        now = int(time.time())
        g = grants(publish=["bad.>"], subscribe=["bad.>"])
        good = claims(herald=g)
        hs = {"alg": "HS256", "typ": "JWT"}
        good_tok = jwt(good)
        h, p, s = good_tok.split(".")
        other_tok = jwt(claims(sub="bob", herald=g))
        tampered_p = b64u(js(claims(herald=grants(publish=["bad.>", ">"]))))
        weak = jwt(claims(herald=grants(publish=["nothing.x"])))
        wh, wp, ws_ = weak.split(".")

        def padded(seg_bytes):
            return base64.urlsafe_b64encode(seg_bytes).decode()

        # A claims JSON whose base64url needs padding (length not a multiple of 3).
        pc = dict(good, pad="")
        while len(js(pc)) % 3 == 0:
            pc["pad"] += "z"
        ph = padded(js(hs)) if len(js(hs)) % 3 else padded(js(dict(hs, x="1")))
        pp = padded(js(pc))
        # A signature with '-' or '_' in it, to be rewritten in the standard alphabet.
        std = None
        for i in range(200):
            t = jwt(claims(herald=g, n=i))
            sig = t.rsplit(".", 1)[1]
            if "-" in sig or "_" in sig:
                std = t.rsplit(".", 1)[0] + "." + sig.replace("-", "+").replace("_", "/")
                break
        self.assertIsNotNone(std)
        return [
            ("forged signature", remember(f"{h}.{p}.{b64u(os.urandom(32))}")),
            ("signature of another token", remember(f"{h}.{p}.{other_tok.split('.')[2]}")),
            ("signature truncated", remember(good_tok[:-2])),
            ("signature empty", remember(f"{h}.{p}.")),
            ("alg none, no signature", jwt(good, header={"alg": "none", "typ": "JWT"}, sig="")),
            ("alg None, no signature", jwt(good, header={"alg": "None", "typ": "JWT"}, sig="")),
            ("alg none with an HS256 signature", jwt(good, header={"alg": "none", "typ": "JWT"})),
            ("alg NONE with an HS256 signature", jwt(good, header={"alg": "NONE", "typ": "JWT"})),
            ("alg hs256 (lower case)", jwt(good, header={"alg": "hs256", "typ": "JWT"})),
            ("alg missing", jwt(good, header={"typ": "JWT"})),
            ("alg not a string", jwt(good, header={"alg": 256, "typ": "JWT"})),
            ("HS384 with the same secret",
             jwt(good, header={"alg": "HS384", "typ": "JWT"}, hash_alg="HS384")),
            ("HS512 with the same secret",
             jwt(good, header={"alg": "HS512", "typ": "JWT"}, hash_alg="HS512")),
            ("RS256 header, HMAC signature", jwt(good, header={"alg": "RS256", "typ": "JWT"})),
            ("HS256 with a different secret", jwt(good, secret=OTHER_SECRET)),
            ("HS256 with an empty secret", jwt(good, secret=b"")),
            ("tampered payload", remember(f"{wh}.{tampered_p}.{ws_}")),
            ("tampered header", remember(f"{b64u(js(dict(hs, kid='k1')))}.{p}.{s}")),
            ("expired 60 s ago", jwt(claims(herald=g, exp=now - 60))),
            ("expired 1 s ago (leeway 0)", jwt(claims(herald=g, exp=now - 1))),
            ("exp negative", jwt(claims(herald=g, exp=-1))),
            ("exp as string", jwt(claims(herald=g, exp=str(now + 600)))),
            ("exp null", jwt(dict(claims(herald=g), exp=None))),
            ("exp missing", jwt(claims(herald=g, exp=None))),
            ("nbf 60 s ahead", jwt(claims(herald=g, nbf=now + 60))),
            ("nbf as string", jwt(claims(herald=g, nbf=str(now - 60)))),
            ("wrong iss", jwt(claims(herald=g, iss="other-issuer"))),
            ("iss missing", jwt(claims(herald=g, iss=None))),
            ("iss in another case", jwt(claims(herald=g, iss="Test-Issuer"))),
            ("iss an array", jwt(claims(herald=g, iss=[ISSUER]))),
            ("wrong aud", jwt(claims(herald=g, aud="heraldx"))),
            ("aud array without ours", jwt(claims(herald=g, aud=["other", "herald2"]))),
            ("aud empty array", jwt(claims(herald=g, aud=[]))),
            ("aud missing", jwt(claims(herald=g, aud=None))),
            ("aud in another case", jwt(claims(herald=g, aud="Herald"))),
            ("garbage", remember("not-a-jwt-garbage-zzz")),
            ("empty", ""),
            ("two segments", remember(f"{h}.{p}")),
            ("four segments", remember(f"{h}.{p}.{s}.{s}")),
            ("base64 padding characters", jwt(raw_header=ph, raw_payload=pp)),
            ("padding after the signature", remember(good_tok + "=")),
            ("space inside", remember(f"{h}.{p[:10]} {p[10:]}.{s}")),
            ("standard base64 alphabet (+ /)", remember(std)),
            ("character outside base64url", remember(f"{h}.{p}.{s[:-1]}$")),
            ("not base64 at all", remember("!!!!.@@@@.####")),
            ("over max_token_bytes (8193 characters)",
             sized_token(MAX_TOKEN_BYTES + 1, herald=g)),
            ("header not JSON", jwt(raw_header=b"not json at all")),
            ("claims not JSON", jwt(raw_payload=b"sub=alice;exp=never")),
            ("claims JSON with trailing garbage", jwt(raw_payload=js(good) + b"}x")),
            ("claims a JSON array", jwt(raw_payload=js([good]))),
            ("claims a JSON string", jwt(raw_payload=js("alice"))),
            ("header a JSON array", jwt(raw_header=js([hs]))),
            ("crit header with an unknown extension",
             jwt(good, header=dict(hs, crit=["herald-ext"], **{"herald-ext": True}))),
            ("unknown kid", jwt(good, header=dict(hs, kid="k9"))),
            ("kid not a string", jwt(good, header=dict(hs, kid=1))),
            ("herald.publish not a list", jwt(claims(herald={"publish": "bad.>"}))),
            ("herald not an object", jwt(claims(herald=["bad.>"]))),
            ("herald.publish with a non-string item",
             jwt(claims(herald={"publish": ["bad.>", 7]}))),
        ]

    def test_bad_tokens_are_401_on_publish(self):
        # Control: the same grants in a valid token do publish.
        resp, data = self.publish("bad.x", tok=token(publish=["bad.>"]))
        self.assertEqual(resp.status, 200, data)
        cases = self.bad_tokens()
        self.assertGreaterEqual(len(cases), 25)
        wrong = []
        for name, tok in cases:
            resp, data = self.publish("bad.x", tok=tok)
            ok = (resp.status == 401 and error_code(data) == "unauthenticated"
                  and (resp.getheader("WWW-Authenticate") or "").startswith("Bearer")
                  and (len(tok) < 8 or tok.encode() not in data))
            if not ok:
                wrong.append((name, resp.status, data[:200],
                              resp.getheader("WWW-Authenticate")))
        self.assertEqual(wrong, [], "%d of %d bad tokens not refused with 401:\n%s" % (
            len(wrong), len(cases), "\n".join(map(repr, wrong))))
        # Nothing of theirs was published.
        resp, data = http_call(self.port, "GET", "/history/bad.x",
                               headers=bearer(token(subscribe=["bad.>"])))
        self.assertEqual(resp.status, 200, data)
        self.assertEqual(json.loads(data)["last_offset"], 1, data)

    def test_bad_tokens_are_401_on_websocket_upgrade_and_sse(self):
        now = int(time.time())
        g = grants(publish=["bad.>"], subscribe=["bad.>"])
        good = claims(herald=g)
        h, p, _ = jwt(good).split(".")
        cases = [
            ("forged signature", remember(f"{h}.{p}.{b64u(os.urandom(32))}")),
            ("alg none", jwt(good, header={"alg": "none", "typ": "JWT"}, sig="")),
            ("expired", jwt(claims(herald=g, exp=now - 30))),
            ("different secret", jwt(good, secret=OTHER_SECRET)),
            ("wrong aud", jwt(claims(herald=g, aud="nobody"))),
            ("unknown kid", jwt(good, header={"alg": "HS256", "typ": "JWT", "kid": "k9"})),
            ("garbage", remember("not-a-jwt-garbage-yyy")),
        ]
        wrong = []
        for name, tok in cases:
            checks = [
                ("ws /ws header", lambda: handshake(self.port, "/ws", bearer(tok))),
                ("ws /ws query", lambda: handshake(self.port, with_token("/ws", tok))),
                ("ws raw query", lambda: handshake(self.port, with_token("/ws/bad.x", tok))),
                ("ws raw header", lambda: handshake(self.port, "/ws/bad.x", bearer(tok))),
            ]
            for where, call in checks:
                status, hdrs, body = call()
                if (status != 401 or error_code(body) != "unauthenticated"
                        or not hdrs.get("www-authenticate", "").startswith("Bearer")
                        or tok.encode() in body):
                    wrong.append((name, where, status, body[:200]))
            for where, path, headers in [
                    ("sse query", with_token("/sse?topic=bad.x", tok), None),
                    ("sse header", "/sse?topic=bad.x", bearer(tok))]:
                c = SseClient(self.port, path, headers=headers)
                c.close()
                if (c.status != 401 or error_code(c.body) != "unauthenticated"
                        or not c.headers.get("www-authenticate", "").startswith("Bearer")
                        or tok.encode() in (c.body or b"")):
                    wrong.append((name, where, c.status, (c.body or b"")[:200]))
        self.assertEqual(wrong, [], "\n".join(map(repr, wrong)))

    def test_no_token_is_401_everywhere_before_any_upgrade_or_stream(self):
        wrong = []
        for method, path in [("POST", "/publish/public.news"), ("POST", "/request/public.news"),
                             ("GET", "/history/public.news")]:
            resp, data = http_call(self.port, method, path, b"x" if method == "POST" else None)
            if (resp.status != 401 or error_code(data) != "unauthenticated"
                    or not (resp.getheader("WWW-Authenticate") or "").startswith("Bearer")):
                wrong.append((method, path, resp.status, data[:200]))
        for path in ["/ws", "/ws/public.news"]:
            status, hdrs, body = handshake(self.port, path)
            if (status != 401 or error_code(body) != "unauthenticated"
                    or not hdrs.get("www-authenticate", "").startswith("Bearer")):
                wrong.append(("upgrade", path, status, body[:200]))
        c = SseClient(self.port, "/sse?topic=public.news")
        c.close()
        if (c.status != 401 or error_code(c.body) != "unauthenticated"
                or not c.headers.get("www-authenticate", "").startswith("Bearer")):
            wrong.append(("sse", c.status, c.body))
        # Not a bearer credential at all.
        resp, data = self.publish("public.news", headers={
            "Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()})
        if resp.status != 401:
            wrong.append(("basic auth", resp.status, data[:200]))
        self.assertEqual(wrong, [], "\n".join(map(repr, wrong)))

    def test_401_body_is_the_usual_error_json_and_hides_the_token(self):
        tok = jwt(claims(herald=grants(publish=[">"]), exp=int(time.time()) - 100))
        resp, data = self.publish("bad.y", tok=tok)
        self.assertEqual(resp.status, 401, data)
        self.assertTrue(resp.getheader("Content-Type", "").startswith("application/json"),
                        resp.getheaders())
        self.assertTrue((resp.getheader("WWW-Authenticate") or "").startswith("Bearer"))
        # The HTTP error shape of docs/PROTOCOL.md: {"error": code, "message": why}.
        body = json.loads(data)
        self.assertEqual(body.get("error"), "unauthenticated", body)
        self.assertIsInstance(body.get("message"), str, body)
        self.assertTrue(body["message"], body)
        for part in [tok] + tok.split("."):
            self.assertNotIn(part, data.decode(), "the 401 body echoes the token")
        # The same shape before a WebSocket upgrade and an SSE stream.
        status, hdrs, wbody = handshake(self.port, with_token("/ws", tok))
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(wbody)["error"], "unauthenticated", wbody)
        self.assertNotIn(tok.encode(), wbody)
        c = SseClient(self.port, with_token("/sse?topic=bad.y", tok))
        c.close()
        self.assertEqual(c.status, 401)
        self.assertEqual(c.json()["error"], "unauthenticated", c.body)

    def test_valid_token_variants_are_accepted(self):
        g = grants(publish=["good.>"])
        now = int(time.time())
        cases = [
            ("plain", token(publish=["good.>"])),
            ("aud array with ours", jwt(claims(herald=g, aud=["other", AUDIENCE]))),
            ("kid k1", jwt(claims(herald=g), header={"alg": "HS256", "typ": "JWT", "kid": "k1"})),
            ("nbf in the past", jwt(claims(herald=g, nbf=now - 10))),
            ("exactly max_token_bytes", sized_token(MAX_TOKEN_BYTES, herald=g)),
        ]
        self.assertEqual(len(cases[-1][1]), MAX_TOKEN_BYTES)
        wrong = []
        for name, tok in cases:
            resp, data = self.publish("good.x", tok=tok)
            if resp.status != 200:
                wrong.append((name, resp.status, data[:200]))
        self.assertEqual(wrong, [], "\n".join(map(repr, wrong)))

    def test_token_in_the_query_works_on_every_front(self):
        tok = token(publish=["query.>"], subscribe=["query.>"])
        resp, data = http_call(self.port, "POST", with_token("/publish/query.a", tok), b"q1",
                               {"Content-Type": "text/plain"})
        self.assertEqual(resp.status, 200, data)
        resp, data = http_call(self.port, "GET", with_token("/history/query.a", tok))
        self.assertEqual(resp.status, 200, data)
        self.assertEqual([m["payload"] for m in json.loads(data)["messages"]], ["q1"])
        c = SseClient(self.port, with_token("/sse?topic=query.a", tok))
        try:
            self.assertEqual(c.status, 200, c.body)
            c.wait_for(started, 3)
            resp, data = http_call(self.port, "POST", "/publish/query.a", b"q2",
                                   {"Content-Type": "text/plain", **bearer(tok)})
            self.assertEqual(resp.status, 200, data)
            self.assertEqual(c.next_event(3).data, "q2")
        finally:
            c.close()

        async def go():
            async with websockets.connect(with_token(f"{self.url}/ws", tok),
                                          open_timeout=5) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "query.>"}))
                self.assertEqual((await answer(ws, 1))["op"], "subscribed")
                async with websockets.connect(with_token(f"{self.url}/ws/query.raw", tok),
                                              open_timeout=5) as raw:
                    await raw.send("hello raw")
                    self.assertEqual(await asyncio.wait_for(raw.recv(), 3), "hello raw")
                m = await recv_json(ws)
                self.assertEqual((m["topic"], m["payload"]), ("query.raw", "hello raw"))
        run(go())

    def test_subject_rules_grant_by_sub(self):
        resp, data = self.publish("rules.x", tok=token(sub="svc-rule"))
        self.assertEqual(resp.status, 200, data)
        resp, data = self.publish("rules.x", tok=token(sub="svc-other"))
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)
        # The "*" rule: any authenticated client may read public.>.
        self.assertEqual(sse_open(self.port, "/sse?topic=public.>", bearer(token(sub="x"))),
                         (200, None))


# ---------------------------------------------------------------------------
# Authorization: the permission matrix through the real server

MATRIX = [
    # (grants, operation, topic or pattern, allowed)
    # -- subscribe grants: WebSocket sub, SSE, history
    (grants(subscribe=["orders.42"]), "ws_sub", "orders.42", True),
    (grants(subscribe=["orders.42"]), "ws_sub", "orders.43", False),
    (grants(subscribe=["orders.42"]), "ws_sub", "orders.>", False),
    (grants(subscribe=["orders.42"]), "sse", "ORDERS.42", False),
    (grants(subscribe=["orders.42"]), "sse", "orders.*", False),
    (grants(subscribe=["orders.42"]), "sse", "orders.42", True),
    (grants(subscribe=["orders.42"]), "history", "orders.42", True),
    (grants(subscribe=["orders.42"]), "history", "orders.43", False),
    (grants(subscribe=["orders.42"]), "ws_sub", "orders.42.x", False),
    (grants(subscribe=["orders.42"]), "sse", "orders", False),
    (grants(subscribe=["orders.42"]), "ws_sub", "*.42", False),
    (grants(subscribe=["orders.>"]), "ws_sub", "orders.*", True),
    (grants(subscribe=["orders.>"]), "sse", "orders.x.y", True),
    (grants(subscribe=["orders.>"]), "ws_sub", "orders.>", True),
    (grants(subscribe=["orders.>"]), "history", "orders.9", True),
    (grants(subscribe=["orders.>"]), "sse", "orders.*.y", True),
    (grants(subscribe=["orders.>"]), "ws_sub", "orders", False),
    (grants(subscribe=["orders.>"]), "sse", ">", False),
    (grants(subscribe=["orders.>"]), "ws_sub", "*.x", False),
    (grants(subscribe=["orders.>"]), "history", "ordersx.1", False),
    (grants(subscribe=["orders.*"]), "sse", "orders.42", True),
    (grants(subscribe=["orders.*"]), "ws_sub", "orders.*", True),
    (grants(subscribe=["orders.*"]), "ws_sub", "orders.>", False),
    (grants(subscribe=["orders.*"]), "history", "orders.42.x", False),
    (grants(subscribe=["*.status"]), "ws_sub", "svc.status", True),
    (grants(subscribe=["*.status"]), "sse", "*.status", True),
    (grants(subscribe=["*.status"]), "ws_sub", "*.*", False),
    (grants(subscribe=["*.status"]), "sse", "svc.other", False),
    (grants(subscribe=[">"]), "sse", "a.b.c", True),
    (grants(subscribe=[">"]), "ws_sub", ">", True),
    (grants(subscribe=["a.*.c"]), "ws_sub", "a.b.c", True),
    (grants(subscribe=["a.*.c"]), "sse", "a.b.d", False),
    (grants(subscribe=["a.*.c"]), "ws_sub", "a.>", False),
    (grants(subscribe=["orders.1", "orders.2"]), "ws_sub", "orders.*", False),
    (grants(subscribe=["orders.1", "orders.2"]), "sse", "orders.2", True),
    (grants(subscribe=["orders.1", "orders.2"]), "history", "orders.3", False),
    # -- publish grants: HTTP publish, WebSocket pub
    (grants(publish=["chat.room1"]), "http_pub", "chat.room1", True),
    (grants(publish=["chat.room1"]), "ws_pub", "chat.room1", True),
    (grants(publish=["chat.room1"]), "ws_pub", "chat.room2", False),
    (grants(publish=["chat.room1"]), "http_pub", "chat.room1.x", False),
    (grants(publish=["chat.room1"]), "ws_pub", "CHAT.room1", False),
    (grants(publish=["chat.room1"]), "http_pub", "chat", False),
    (grants(publish=["chat.>"]), "ws_pub", "chat.room1", True),
    (grants(publish=["chat.>"]), "http_pub", "chat.a.b", True),
    (grants(publish=["chat.>"]), "ws_pub", "chat", False),
    (grants(publish=["chat.>"]), "http_pub", "chatter.x", False),
    (grants(publish=["chat.*"]), "ws_pub", "chat.x", True),
    (grants(publish=["chat.*"]), "http_pub", "chat.x.y", False),
    (grants(publish=[">"]), "http_pub", "any.topic.at.all", True),
    (grants(publish=["*.status"]), "ws_pub", "svc.status", True),
    (grants(publish=["*.status"]), "http_pub", "svc.status.x", False),
    # -- publish and subscribe are separate permissions
    (grants(publish=["chat.>"]), "ws_sub", "chat.x", False),
    (grants(publish=["chat.>"]), "sse", "chat.x", False),
    (grants(publish=["chat.>"]), "history", "chat.x", False),
    (grants(subscribe=["chat.>"]), "http_pub", "chat.x", False),
    (grants(subscribe=["chat.>"]), "ws_pub", "chat.x", False),
    # -- no herald claim: only the "*" rule (subscribe public.>)
    (None, "sse", "public.news", True),
    (None, "ws_sub", "public.*", True),
    (None, "history", "public.news", True),
    (None, "http_pub", "public.news", False),
    (None, "ws_pub", "public.news", False),
    (None, "ws_sub", "private.x", False),
    (None, "sse", "public", False),
]


class PermissionMatrix(AuthCase):
    def test_matrix_has_no_false_accepts_and_no_false_denies(self):
        self.assertGreaterEqual(len(MATRIX), 40)
        watcher_tok = token(sub="watcher", subscribe=[">"], publish=["zz.sentinel"])
        published = {}  # payload -> case index, for the publishes that were allowed

        async def one(i, g, op, target):
            """'allow', 'deny', or a description of anything else."""
            tok = token(sub=f"m{i}") if g is None else token(sub=f"m{i}", **g)
            payload = f"case-{i}"
            if op == "http_pub":
                resp, data = await asyncio.to_thread(self.publish, target, payload.encode(), tok)
                if resp.status == 200:
                    published[payload] = i
                    return "allow"
                if resp.status == 403 and error_code(data) == "permission_denied":
                    return "deny"
                return f"{resp.status} {data[:120]!r}"
            if op == "history":
                resp, data = await asyncio.to_thread(
                    http_call, self.port, "GET", "/history/" + target, None, bearer(tok))
                if resp.status == 200:
                    return "allow"
                if resp.status == 403 and error_code(data) == "permission_denied":
                    return "deny"
                return f"{resp.status} {data[:120]!r}"
            if op == "sse":
                path = "/sse?" + urllib.parse.urlencode({"topic": target})
                status, code = await asyncio.to_thread(sse_open, self.port, path, bearer(tok))
                if status == 200:
                    return "allow"
                if status == 403 and code == "permission_denied":
                    return "deny"
                return f"{status} {code}"
            try:
                async with ws_connect(f"{self.url}/ws", tok) as ws:
                    if op == "ws_sub":
                        await ws.send(json.dumps({"op": "sub", "id": "c", "topic": target}))
                        m = await answer(ws, "c")
                        if m.get("op") == "subscribed":
                            return "allow"
                    else:
                        await ws.send(json.dumps({"op": "pub", "id": "c", "topic": target,
                                                  "payload": payload}))
                        m = await answer(ws, "c")
                        if m.get("op") == "ack":
                            published[payload] = i
                            return "allow"
                    if m.get("op") == "error" and m.get("code") == "permission_denied":
                        return "deny"
                    return repr(m)
            except websockets.exceptions.InvalidStatusCode as e:
                return f"upgrade {e.status_code}"
            except (asyncio.TimeoutError, websockets.exceptions.WebSocketException,
                    OSError) as e:
                return repr(e)

        async def go():
            results = []
            async with ws_connect(f"{self.url}/ws", watcher_tok) as watcher:
                await watcher.send(json.dumps({"op": "sub", "id": "w", "topic": ">"}))
                self.assertEqual((await answer(watcher, "w"))["op"], "subscribed")
                for i, (g, op, target, allowed) in enumerate(MATRIX):
                    results.append(await one(i, g, op, target))
                # Everything published before the sentinel has reached the watcher
                # by the time the sentinel does (plus a moment for other topics).
                resp, data = await asyncio.to_thread(self.publish, "zz.sentinel", b"end",
                                                     watcher_tok)
                self.assertEqual(resp.status, 200, data)
                seen = []
                while True:
                    m = await recv_json(watcher, 3)
                    if m.get("topic") == "zz.sentinel":
                        break
                    seen.append(m)
                seen += [json.loads(f) for f in await quiet(watcher, 0.3)]
            return results, seen

        results, seen = run(go())
        false_accepts, false_denies, other = [], [], []
        for (g, op, target, allowed), got in zip(MATRIX, results):
            row = (g, op, target, "allowed" if allowed else "denied", got)
            if got == "allow" and not allowed:
                false_accepts.append(row)
            elif got == "deny" and allowed:
                false_denies.append(row)
            elif got not in ("allow", "deny"):
                other.append(row)
        self.assertEqual((false_accepts, false_denies, other), ([], [], []),
                         "false accepts %d, false denies %d, other answers %d of %d cases:\n%s"
                         % (len(false_accepts), len(false_denies), len(other), len(MATRIX),
                            "\n".join(map(repr, false_accepts + false_denies + other))))
        # Exactly the allowed publishes were delivered; nothing denied leaked.
        delivered = sorted(m.get("payload") for m in seen if m.get("op") == "msg")
        self.assertEqual(delivered, sorted(published), seen)


# ---------------------------------------------------------------------------
# The fronts one by one


class WebSocketJson(AuthCase):
    def test_denied_sub_is_an_error_frame_and_the_connection_stays_usable(self):
        tok = token(subscribe=["room.a"], publish=["room.a"])

        async def go():
            async with ws_connect(f"{self.url}/ws", tok) as ws:
                await ws.send(json.dumps({"op": "sub", "topic": "room.b", "id": "1"}))
                err = await recv_json(ws)
                self.assertEqual((err.get("op"), err.get("id"), err.get("code")),
                                 ("error", "1", "permission_denied"), err)
                self.assertIsInstance(err.get("message"), str)
                await ws.send(json.dumps({"op": "sub", "topic": "room.a", "id": "2"}))
                self.assertEqual(await recv_json(ws),
                                 {"op": "subscribed", "id": "2", "topic": "room.a"})
                await ws.send(json.dumps({"op": "pub", "topic": "room.a", "payload": "hi"}))
                m = await recv_json(ws)
                self.assertEqual((m["op"], m["topic"], m["payload"]), ("msg", "room.a", "hi"))
                await ws.send(json.dumps({"op": "ping", "id": 3}))
                self.assertEqual(await recv_json(ws), {"op": "pong", "id": 3})
        run(go())

    def test_denied_pub_is_not_delivered_to_anyone(self):
        reader = token(sub="reader", subscribe=["room.>"])
        writer = token(sub="writer", publish=["room.mine"])

        async def go():
            async with ws_connect(f"{self.url}/ws", reader) as r, \
                       ws_connect(f"{self.url}/ws", writer) as w:
                await r.send(json.dumps({"op": "sub", "id": 1, "topic": "room.>"}))
                await answer(r, 1)
                await w.send(json.dumps({"op": "pub", "id": "x", "topic": "room.other",
                                         "payload": "sneaky"}))
                err = await answer(w, "x")
                self.assertEqual((err["op"], err["code"]), ("error", "permission_denied"), err)
                await w.send(json.dumps({"op": "pub", "topic": "room.other",
                                         "payload": "sneaky, no id"}))
                err = await recv_json(w)
                self.assertEqual((err["op"], err["code"]), ("error", "permission_denied"), err)
                await w.send(json.dumps({"op": "pub", "id": "y", "topic": "room.mine",
                                         "payload": "fine"}))
                self.assertEqual((await answer(w, "y"))["op"], "ack")
                m = await recv_json(r)
                self.assertEqual((m["topic"], m["payload"]), ("room.mine", "fine"))
                self.assertEqual(await quiet(r), [])
        run(go())
        resp, data = http_call(self.port, "GET", "/history/room.other",
                               headers=bearer(token(subscribe=["room.>"])))
        self.assertEqual(json.loads(data)["messages"], [], data)

    def test_req_needs_publish_permission_and_replies_to_inboxes_are_allowed(self):
        responder = token(sub="svc", subscribe=["svc.echo"])  # may not publish anything
        caller = token(sub="caller", publish=["svc.echo"])
        nobody = token(sub="nobody", subscribe=["svc.>"])

        async def go():
            async with ws_connect(f"{self.url}/ws", responder) as s, \
                       ws_connect(f"{self.url}/ws", caller) as c, \
                       ws_connect(f"{self.url}/ws", nobody) as n:
                await s.send(json.dumps({"op": "sub", "id": 1, "topic": "svc.echo"}))
                self.assertEqual((await answer(s, 1))["op"], "subscribed")
                await n.send(json.dumps({"op": "req", "id": "r0", "topic": "svc.echo",
                                         "payload": "no", "timeout_ms": 1000}))
                err = await answer(n, "r0")
                self.assertEqual((err["op"], err["code"]), ("error", "permission_denied"), err)
                self.assertEqual(await quiet(s), [], "a refused request reached the responder")
                await c.send(json.dumps({"op": "req", "id": "r1", "topic": "svc.echo",
                                         "payload": "ping", "timeout_ms": 2000}))
                req = await recv_json(s)
                self.assertTrue(req["reply_to"].startswith("_INBOX."), req)
                await s.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                         "payload": "pong"}))
                rep = await answer(c, "r1")
                self.assertEqual((rep["op"], rep["payload"]), ("reply", "pong"), rep)
        run(go())

    def test_resume_obeys_subscribe_permission(self):
        writer = token(sub="w", publish=["vault.>"])
        resp, data = self.publish("vault.secret", b"s1", writer)
        self.assertEqual(resp.status, 200, data)
        epoch = json.loads(data)["epoch"]
        tok = token(sub="r", subscribe=["vault.public"])

        async def go():
            async with ws_connect(f"{self.url}/ws", tok) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "vault.secret",
                                          "resume": {"vault.secret": {"epoch": 0, "offset": 0}}}))
                err = await recv_json(ws)
                self.assertEqual((err["op"], err.get("id"), err["code"]),
                                 ("error", 1, "permission_denied"), err)
                await ws.send(json.dumps({"op": "sub", "id": 2, "topic": "vault.>",
                                          "resume": {"vault.secret": {"epoch": epoch,
                                                                      "offset": 0}}}))
                err = await recv_json(ws)
                self.assertEqual((err["op"], err.get("id"), err["code"]),
                                 ("error", 2, "permission_denied"), err)
                self.assertEqual(await quiet(ws), [], "history was replayed")
                # Allowed resume replays.
                resp, _ = self.publish("vault.public", b"p1", token(publish=["vault.public"]))
                e2 = json.loads(_)["epoch"]
                await ws.send(json.dumps({"op": "sub", "id": 3, "topic": "vault.public",
                                          "resume": {"vault.public": {"epoch": e2,
                                                                      "offset": 0}}}))
                self.assertEqual((await recv_json(ws))["op"], "subscribed")
                self.assertEqual((await recv_json(ws))["payload"], "p1")
        run(go())


class WebSocketRaw(AuthCase):
    def test_upgrade_needs_subscribe_permission(self):
        tok = token(publish=["raw.a"])  # publish only
        status, hdrs, body = handshake(self.port, "/ws/raw.a", bearer(tok))
        self.assertEqual(status, 403, body)
        self.assertEqual(error_code(body), "permission_denied", body)
        status, _, body = handshake(self.port, with_token("/ws/raw.b", token(subscribe=["raw.a"])))
        self.assertEqual(status, 403, body)
        status, _, body = handshake(self.port, "/ws/raw.a", bearer(token(subscribe=["raw.*"])))
        self.assertEqual(status, 101, body)

    def test_frame_without_publish_permission_closes_with_1008(self):
        listener = token(sub="l", subscribe=["raw.c"])
        full = token(sub="f", subscribe=["raw.c"], publish=["raw.c"])

        async def go():
            async with ws_connect(f"{self.url}/ws/raw.c", listener) as l, \
                       ws_connect(f"{self.url}/ws/raw.c", full) as f:
                await f.send("allowed")
                self.assertEqual(await asyncio.wait_for(l.recv(), 3), "allowed")
                self.assertEqual(await asyncio.wait_for(f.recv(), 3), "allowed")
                await l.send("not allowed")
                await asyncio.wait_for(l.wait_closed(), 3)
                self.assertEqual(l.close_code, 1008)
                self.assertEqual(await quiet(f), [], "the refused frame was delivered")
        run(go())


class Sse(AuthCase):
    def test_every_topic_parameter_needs_subscribe_permission(self):
        tok = token(subscribe=["feed.a", "feed.b.>"])
        ok = "/sse?" + urllib.parse.urlencode([("topic", "feed.a"), ("topic", "feed.b.>")])
        self.assertEqual(sse_open(self.port, ok, bearer(tok)), (200, None))
        for topics in [["feed.a", "feed.c"], ["feed.c", "feed.a"], ["feed.a", "feed.>"],
                       ["feed.b.>", "feed.*"]]:
            path = "/sse?" + urllib.parse.urlencode([("topic", t) for t in topics])
            self.assertEqual(sse_open(self.port, path, bearer(tok)), (403, "permission_denied"),
                             topics)

    def test_stream_delivers_with_a_token(self):
        tok = token(subscribe=["feed.live"], publish=["feed.live"])
        c = SseClient(self.port, with_token("/sse?topic=feed.live", tok))
        try:
            self.assertEqual(c.status, 200, c.body)
            c.wait_for(started, 3)
            resp, data = self.publish("feed.live", b"hello", tok)
            self.assertEqual(resp.status, 200, data)
            self.assertEqual(c.next_event(3).data, "hello")
        finally:
            c.close()


class HttpApi(AuthCase):
    def test_publish_request_history_permissions(self):
        pub = token(sub="p", publish=["api.>"])
        sub = token(sub="s", subscribe=["api.>"])
        resp, data = self.publish("api.x", b"1", pub)
        self.assertEqual(resp.status, 200, data)
        resp, data = self.publish("api.x", b"1", sub)
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)
        resp, data = http_call(self.port, "GET", "/history/api.x", headers=bearer(sub))
        self.assertEqual(resp.status, 200, data)
        resp, data = http_call(self.port, "GET", "/history/api.x", headers=bearer(pub))
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)
        resp, data = http_call(self.port, "POST", "/request/api.svc?timeout_ms=500", b"q",
                               bearer(sub))
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)

        responder = token(sub="svc", subscribe=["api.svc"])

        async def go():
            async with ws_connect(f"{self.url}/ws", responder) as s:
                await s.send(json.dumps({"op": "sub", "id": 1, "topic": "api.svc"}))
                await answer(s, 1)

                async def serve():
                    req = await recv_json(s)
                    await s.send(json.dumps({"op": "reply", "to": req["reply_to"],
                                             "payload": "answer"}))
                task = asyncio.create_task(serve())
                resp, data = await asyncio.to_thread(
                    http_call, self.port, "POST", "/request/api.svc?timeout_ms=3000", b"q",
                    {"Content-Type": "text/plain", **bearer(pub)})
                await task
                self.assertEqual((resp.status, data), (200, b"answer"))
        run(go())


# ---------------------------------------------------------------------------
# Expiry


class Expiry(AuthCase):
    def test_connections_close_when_their_token_expires(self):
        exp = math.ceil(time.time()) + 2
        tok = token(sub="short", subscribe=["exp.>"], publish=["exp.>"], exp=exp)
        out = {}

        async def ws_json():
            async with ws_connect(f"{self.url}/ws", tok) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "exp.a"}))
                self.assertEqual((await answer(ws, 1))["op"], "subscribed")
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), max(0.1, exp + 5 - time.time()))
                except websockets.exceptions.ConnectionClosed:
                    out["ws"] = (time.time(), ws.close_code, ws.close_reason)
                except asyncio.TimeoutError:
                    out["ws"] = (None, None, "still open 5 s after exp")

        async def ws_raw():
            async with websockets.connect(with_token(f"{self.url}/ws/exp.b", tok),
                                          open_timeout=5) as ws:
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), max(0.1, exp + 5 - time.time()))
                except websockets.exceptions.ConnectionClosed:
                    out["raw"] = (time.time(), ws.close_code, ws.close_reason)
                except asyncio.TimeoutError:
                    out["raw"] = (None, None, "still open 5 s after exp")

        def sse():
            c = SseClient(self.port, with_token("/sse?topic=exp.c", tok))
            try:
                self.assertEqual(c.status, 200, c.body)
                c.wait_for(started, 3)
                try:
                    c.read_to_eof(max(0.1, exp + 5 - time.time()))
                    out["sse"] = (time.time(), None, None)
                except TimeoutError:
                    out["sse"] = (None, None, "still open 5 s after exp")
            finally:
                c.close()

        async def go():
            await asyncio.gather(ws_json(), ws_raw(), asyncio.to_thread(sse))
        run(go())
        problems = []
        for name in ["ws", "raw", "sse"]:
            at, code, reason = out.get(name, (None, None, "no result"))
            if at is None:
                problems.append((name, reason))
                continue
            if not exp - 0.2 <= at <= exp + 1.5:
                problems.append((name, "closed %.2f s after exp" % (at - exp)))
            if name != "sse":
                if code != 4001:  # "token expired": fetch a new token, then reconnect
                    problems.append((name, "close code", code, reason))
                if not re.search(r"expir", reason or "", re.I):
                    problems.append((name, "close reason", reason))
        self.assertEqual(problems, [], "\n".join(map(repr, problems)))

    def test_expired_token_is_refused_before_connecting(self):
        tok = token(subscribe=["exp.>"], exp=int(time.time()) - 1)
        status, _, body = handshake(self.port, with_token("/ws", tok))
        self.assertEqual(status, 401, body)
        c = SseClient(self.port, with_token("/sse?topic=exp.d", tok))
        c.close()
        self.assertEqual(c.status, 401)


# ---------------------------------------------------------------------------
# Token renewal: `refresh` on a live WebSocket JSON connection


class Refresh(AuthCase):
    def test_a_refreshed_connection_outlives_its_first_token_and_misses_nothing(self):
        exp = math.ceil(time.time()) + 2
        first = token(sub="renew", subscribe=["ren.>"], exp=exp)
        second = token(sub="renew", subscribe=["ren.>"], exp=exp + 600)
        writer = token(sub="writer", publish=["ren.>"])
        sent = []

        def publisher(stop_at):
            i = 0
            while time.time() < stop_at:
                resp, data = self.publish("ren.flow", str(i).encode(), writer)
                self.assertEqual(resp.status, 200, data)
                sent.append(str(i))
                i += 1
                time.sleep(0.02)

        async def go():
            async with ws_connect(f"{self.url}/ws", first) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "ren.flow"}))
                self.assertEqual((await answer(ws, 1))["op"], "subscribed")
                pub = asyncio.create_task(asyncio.to_thread(publisher, exp + 2))
                got = []
                refreshed = None
                while time.time() < exp + 2.5:
                    if refreshed is None and time.time() > exp - 1:
                        await ws.send(json.dumps({"op": "refresh", "id": "r", "token": second}))
                        refreshed = True
                    try:
                        m = await recv_json(ws, 0.2)
                    except asyncio.TimeoutError:
                        continue
                    if m.get("op") == "refreshed":
                        refreshed = m
                    elif m.get("op") == "msg":
                        got.append(m["payload"])
                    else:
                        self.fail(m)
                await pub
                got += [m["payload"] for m in map(json.loads, await quiet(ws, 0.5))]
                self.assertEqual(refreshed, {"op": "refreshed", "id": "r",
                                             "expires_at": exp + 600})
                self.assertGreater(len(sent), 50)
                self.assertEqual(got, sent, "every message once, in order, on one connection")
                await ws.send(json.dumps({"op": "ping", "id": 9}))
                self.assertEqual((await answer(ws, 9))["op"], "pong")
        run(go())

    def test_a_refused_refresh_leaves_the_old_token_in_force_until_it_expires(self):
        exp = math.ceil(time.time()) + 2
        tok = token(sub="stay", subscribe=["ren.>"], exp=exp)
        refusals = [
            ("another subject", token(sub="mallory", subscribe=[">"]), "permission_denied"),
            ("expired", token(sub="stay", exp=int(time.time()) - 30), "unauthenticated"),
            ("bad signature", jwt(claims(sub="stay"), secret=OTHER_SECRET), "unauthenticated"),
            ("not a token", "x.y.z", "unauthenticated"),
            ("empty", "", "invalid_argument"),
        ]

        async def go():
            async with ws_connect(f"{self.url}/ws", tok) as ws:
                for i, (what, bad, code) in enumerate(refusals):
                    await ws.send(json.dumps({"op": "refresh", "id": i, "token": bad}))
                    a = await answer(ws, i)
                    self.assertEqual((a["op"], a.get("code")), ("error", code), (what, a))
                    if len(bad) >= 8:
                        self.assertNotIn(bad, a["message"], what)
                await ws.send(json.dumps({"op": "refresh", "id": 7}))
                self.assertEqual((await answer(ws, 7)).get("code"), "invalid_argument")
                # Still the old grants: no `>` from mallory's token.
                await ws.send(json.dumps({"op": "sub", "id": 8, "topic": "other.x"}))
                self.assertEqual((await answer(ws, 8)).get("code"), "permission_denied")
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), max(0.1, exp + 3 - time.time()))
                at = time.time()
                self.assertEqual((ws.close_code, ws.close_reason), (4001, "token expired"))
                self.assertTrue(exp - 0.2 <= at <= exp + 1.5, at - exp)
        run(go())

    def test_a_refresh_brings_the_new_tokens_grants(self):
        before = token(sub="grow", subscribe=["ren.a"])
        after = token(sub="grow", subscribe=["ren.a", "ren.b"], exp=int(time.time()) + 900)

        async def go():
            async with ws_connect(f"{self.url}/ws", before) as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "ren.a"}))
                self.assertEqual((await answer(ws, 1))["op"], "subscribed")
                await ws.send(json.dumps({"op": "sub", "id": 2, "topic": "ren.b"}))
                self.assertEqual((await answer(ws, 2)).get("code"), "permission_denied")
                await ws.send(json.dumps({"op": "refresh", "id": 3, "token": after}))
                self.assertEqual((await answer(ws, 3))["op"], "refreshed")
                await ws.send(json.dumps({"op": "sub", "id": 4, "topic": "ren.b"}))
                self.assertEqual((await answer(ws, 4))["op"], "subscribed")
                # What was held under the old token goes on.
                resp, data = self.publish("ren.a", b"still", token(sub="w", publish=["ren.>"]))
                self.assertEqual(resp.status, 200, data)
                m = await recv_json(ws)
                self.assertEqual((m["topic"], m["payload"]), ("ren.a", "still"))
        run(go())


# ---------------------------------------------------------------------------
# Anonymous access and defaults


class Anonymous(AuthCase):
    CONFIG = ANONYMOUS_CONFIG

    def test_anonymous_may_subscribe_to_public_but_not_publish(self):
        self.assertEqual(sse_open(self.port, "/sse?topic=public.news"), (200, None))
        self.assertEqual(sse_open(self.port, "/sse?topic=private.x"), (403, "permission_denied"))
        self.assertEqual(sse_open(self.port, "/sse?topic=members.x"), (403, "permission_denied"))
        resp, data = self.publish("public.news", b"x")
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)
        resp, data = http_call(self.port, "GET", "/history/public.news")
        self.assertEqual(resp.status, 200, data)
        resp, data = http_call(self.port, "GET", "/history/private.x")
        self.assertEqual((resp.status, error_code(data)), (403, "permission_denied"), data)
        status, _, body = handshake(self.port, "/ws/private.x")
        self.assertEqual((status, error_code(body)), (403, "permission_denied"), body)

        writer = token(sub="editor", publish=["public.>"])

        async def go():
            async with ws_connect(f"{self.url}/ws") as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "public.news"}))
                self.assertEqual((await answer(ws, 1))["op"], "subscribed")
                await ws.send(json.dumps({"op": "sub", "id": 2, "topic": "public.>"}))
                self.assertEqual((await answer(ws, 2))["op"], "subscribed")
                await ws.send(json.dumps({"op": "sub", "id": 3, "topic": ">"}))
                self.assertEqual((await answer(ws, 3)).get("code"), "permission_denied")
                await ws.send(json.dumps({"op": "pub", "id": 4, "topic": "public.news",
                                          "payload": "anon"}))
                self.assertEqual((await answer(ws, 4)).get("code"), "permission_denied")
                resp, data = await asyncio.to_thread(self.publish, "public.news", b"from editor",
                                                     writer)
                self.assertEqual(resp.status, 200, data)
                m = await recv_json(ws)
                self.assertEqual((m["topic"], m["payload"]), ("public.news", "from editor"))
                self.assertEqual(await quiet(ws), [])
            async with ws_connect(f"{self.url}/ws/public.news") as raw:
                await raw.send("anon raw")
                await asyncio.wait_for(raw.wait_closed(), 3)
                self.assertEqual(raw.close_code, 1008)
        run(go())

    def test_a_bad_token_is_still_401_and_a_good_one_gets_its_rules(self):
        bad = jwt(claims(herald=grants(publish=[">"])), secret=OTHER_SECRET)
        resp, data = self.publish("public.news", b"x", bad)
        self.assert_401(resp, data, bad, "bad token with anonymous on")
        c = SseClient(self.port, with_token("/sse?topic=public.news", bad))
        c.close()
        self.assertEqual(c.status, 401)
        member = token(sub="member")
        self.assertEqual(sse_open(self.port, "/sse?topic=members.x", bearer(member)), (200, None))


class Defaults(AuthCase):
    CONFIG = DEFAULTS_CONFIG

    def test_anonymous_is_off_when_a_key_is_configured(self):
        resp, data = self.publish("d.x", b"x")
        self.assert_401(resp, data, None, "no token, default anonymous")
        self.assertEqual(sse_open(self.port, "/sse?topic=d.x")[0], 401)

    def test_default_leeway_is_five_seconds(self):
        g = dict(publish=["d.>"])
        now = int(time.time())
        resp, data = self.publish("d.x", b"x", token(exp=now - 2, **g))
        self.assertEqual(resp.status, 200, ("expired 2-3 s ago, leeway 5 s", data))
        resp, data = self.publish("d.x", b"x", token(nbf=now + 2, **g))
        self.assertEqual(resp.status, 200, ("nbf 2 s ahead, leeway 5 s", data))
        resp, data = self.publish("d.x", b"x", token(exp=now - 10, **g))
        self.assertEqual(resp.status, 401, ("expired 10 s ago", data))
        resp, data = self.publish("d.x", b"x", token(nbf=now + 15, **g))
        self.assertEqual(resp.status, 401, ("nbf 15 s ahead", data))


# ---------------------------------------------------------------------------
# RS256 / ES256 keys (python3-cryptography signs)

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    HAVE_CRYPTO = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTO = False


@unittest.skipUnless(HAVE_CRYPTO, "python3-cryptography is not installed")
class AsymmetricKeys(AuthCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="herald-auth-")
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec = ec.generate_private_key(ec.SECP256R1())
        pub = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        cls.rsa_pem = cls.rsa.public_key().public_bytes(*pub)
        cls.ec_pem = cls.ec.public_key().public_bytes(*pub)
        rsa_path = os.path.join(cls.dir, "rsa.pem")
        ec_path = os.path.join(cls.dir, "ec.pem")
        with open(rsa_path, "wb") as f:
            f.write(cls.rsa_pem)
        with open(ec_path, "wb") as f:
            f.write(cls.ec_pem)
        cls.CONFIG = f"""
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_ms = 0
[[auth.keys]]
alg = "RS256"
kid = "rsa1"
public_key_file = "{rsa_path}"
[[auth.keys]]
alg = "ES256"
kid = "ec1"
public_key_file = "{ec_path}"
"""
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def signed(self, alg, kid, key=None, der=False, payload=None):
        header = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        h = b64u(js(header))
        p = b64u(js(payload or claims(herald=grants(publish=["asym.>"]))))
        data = f"{h}.{p}".encode()
        if alg == "RS256":
            sig = (key or self.rsa).sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            d = (key or self.ec).sign(data, ec.ECDSA(hashes.SHA256()))
            if not der:
                r, s = decode_dss_signature(d)
                d = r.to_bytes(32, "big") + s.to_bytes(32, "big")
            sig = d
        return remember(f"{h}.{p}.{b64u(sig)}")

    def test_rs256_and_es256_tokens_are_accepted(self):
        for name, tok in [("RS256", self.signed("RS256", "rsa1")),
                          ("ES256", self.signed("ES256", "ec1"))]:
            resp, data = self.publish("asym.x", b"x", tok)
            self.assertEqual(resp.status, 200, (name, data))

    def test_tokens_without_kid_find_the_key_of_their_alg(self):
        for name, tok in [("RS256", self.signed("RS256", None)),
                          ("ES256", self.signed("ES256", None))]:
            resp, data = self.publish("asym.x", b"x", tok)
            self.assertEqual(resp.status, 200, (name, data))

    def test_forged_and_confused_tokens_are_401(self):
        g = claims(herald=grants(publish=["asym.>"]))
        cases = [
            ("HS256 keyed with the RSA public PEM, kid rsa1",
             jwt(g, header={"alg": "HS256", "typ": "JWT", "kid": "rsa1"}, secret=self.rsa_pem)),
            ("HS256 keyed with the RSA public PEM, no kid",
             jwt(g, header={"alg": "HS256", "typ": "JWT"}, secret=self.rsa_pem)),
            ("HS256 keyed with the EC public PEM, kid ec1",
             jwt(g, header={"alg": "HS256", "typ": "JWT", "kid": "ec1"}, secret=self.ec_pem)),
            ("RS256 signed by another RSA key", self.signed("RS256", "rsa1", key=self.rsa_other)),
            ("ES256 with a DER signature", self.signed("ES256", "ec1", der=True)),
            ("ES256 header on the RSA kid", self.signed("ES256", "rsa1")),
            ("RS256 header on the EC kid", self.signed("RS256", "ec1")),
            ("alg none on the RSA kid",
             jwt(g, header={"alg": "none", "typ": "JWT", "kid": "rsa1"}, sig="")),
            ("RS256 expired", self.signed("RS256", "rsa1", payload=claims(
                herald=grants(publish=["asym.>"]), exp=int(time.time()) - 30))),
        ]
        wrong = []
        for name, tok in cases:
            resp, data = self.publish("asym.x", b"x", tok)
            if resp.status != 401 or error_code(data) != "unauthenticated":
                wrong.append((name, resp.status, data[:200]))
        self.assertEqual(wrong, [], "\n".join(map(repr, wrong)))


class BadAuthConfig(unittest.TestCase):
    def run_config(self, text):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            return run_heraldd("--config", path, "--listen", "127.0.0.1:0", timeout=5)
        finally:
            os.unlink(path)

    def test_unusable_keys_are_refused_at_startup(self):
        base = f'[auth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n[[auth.keys]]\n'
        cases = [
            ("short HS256 secret", base + 'alg = "HS256"\nsecret = "short"\n'),
            ("unknown alg", base + f'alg = "HS1024"\nsecret = "{SECRET.decode()}"\n'),
            ("alg none", base + f'alg = "none"\nsecret = "{SECRET.decode()}"\n'),
            ("missing public key file",
             base + 'alg = "RS256"\npublic_key_file = "/nonexistent/herald-test.pem"\n'),
        ]
        wrong = []
        for name, text in cases:
            try:
                r = self.run_config(text)
            except Exception as e:  # noqa: BLE001 — e.g. it started and kept running
                wrong.append((name, repr(e)[:200]))
                continue
            if re.search(r"unknown key 'auth", r.stderr):
                wrong.append((name, "the [auth] section itself is unknown", r.stderr[:200]))
            elif r.returncode == 0 or not r.stderr.strip():
                wrong.append((name, r.returncode, r.stderr[:200]))
        self.assertEqual(wrong, [], "\n".join(map(repr, wrong)))


# ---------------------------------------------------------------------------
# Connections per user


class PerUser(AuthCase):
    CONFIG = AUTH_CONFIG.replace("anonymous = false", "anonymous = false\nmax_connections_per_user = 2")

    def test_a_user_over_its_connection_limit_is_refused_until_one_goes(self):
        alice = remember(jwt(claims(sub="alice-pu", herald=grants(subscribe=["pu.>"]))))
        bob = remember(jwt(claims(sub="bob-pu", herald=grants(subscribe=["pu.>"]))))

        async def go():
            url = f"{self.url}/ws?token={alice}"
            a1 = await websockets.connect(url)
            sse = SseClient(self.port, f"/sse?topic=pu.x&token={alice}")
            self.assertEqual(sse.status, 200)
            with self.assertRaises(websockets.InvalidStatusCode) as e:
                await websockets.connect(url)  # a third connection of alice
            self.assertEqual(e.exception.status_code, 429)
            over = SseClient(self.port, f"/sse?topic=pu.x&token={alice}")
            over.close()
            self.assertEqual(over.status, 429)
            b1 = await websockets.connect(f"{self.url}/ws?token={bob}")  # bob is not alice
            await b1.close()
            sse.close()  # alice's stream ends: her place comes free
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            while True:
                try:
                    a2 = await websockets.connect(url)
                    break
                except websockets.InvalidStatusCode:
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
            await a2.close()
            await a1.close()
        run(go())



# ---------------------------------------------------------------------------
# gRPC: `authorization: Bearer` metadata on every call


class Grpc(AuthCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd("--grpc-listen", "127.0.0.1:0", config=AUTH_CONFIG).__enter__()
        SERVERS.append(cls.h)
        cls.port = cls.h.port
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.h.grpc_port}")
        cls.stub = pb_grpc.BrokerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.h.stop()

    @staticmethod
    def md(tok):
        return (("authorization", "Bearer " + tok),)

    def test_calls_without_or_with_a_bad_token_are_unauthenticated(self):
        req = pb.PublishRequest(topic="g.one", payload=b"x")
        for metadata in ((), self.md("not.a.token"),
                         self.md(jwt(claims(exp=int(time.time()) - 60)))):
            with self.assertRaises(grpc.RpcError) as e:
                self.stub.Publish(req, metadata=metadata, timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as e:
            next(self.stub.Subscribe(pb.SubscribeRequest(pattern="g.>"), timeout=5))
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        _, body = http_call(self.port, "GET", "/metrics")
        m = re.search(r"^herald_grpc_unauthenticated_total (\d+)", body.decode(), re.M)
        self.assertGreaterEqual(int(m.group(1)), 4, "refusals are counted for /metrics")

    def test_grants_decide_each_call_and_each_stream_message(self):
        tok = remember(jwt(claims(herald=grants(publish=["g.ok"], subscribe=["g.ok"]))))
        ack = self.stub.Publish(pb.PublishRequest(topic="g.ok", payload=b"1"),
                                metadata=self.md(tok), timeout=5)
        self.assertGreater(ack.offset, 0)
        for call in (lambda: self.stub.Publish(pb.PublishRequest(topic="g.no", payload=b"1"),
                                               metadata=self.md(tok), timeout=5),
                     lambda: next(self.stub.Subscribe(pb.SubscribeRequest(pattern="g.>"),
                                                      metadata=self.md(tok), timeout=5))):
            with self.assertRaises(grpc.RpcError) as e:
                call()
            self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # PublishStream: the refused message gets a StreamError, the rest go through.
        reqs = [pb.PublishStreamRequest(sequence=1, batch=[
            pb.PublishRequest(topic="g.ok", payload=b"a"),
            pb.PublishRequest(topic="g.no", payload=b"b"),
            pb.PublishRequest(topic="g.ok", payload=b"c")])]
        answers = list(self.stub.PublishStream(iter(reqs), metadata=self.md(tok), timeout=5))
        errors = [a.error for a in answers if a.HasField("error")]
        self.assertEqual([(e.index, e.code) for e in errors],
                         [(1, grpc.StatusCode.PERMISSION_DENIED.value[0])])
        self.assertEqual(answers[-1].batch.accepted, 2)
        # Connect: a refused command, and the session goes on.
        cmds = [pb.ClientCommand(id=1, publish=pb.PublishRequest(topic="g.no", payload=b"x")),
                pb.ClientCommand(id=2, publish=pb.PublishRequest(topic="g.ok", payload=b"y"))]
        events = self.stub.Connect(iter(cmds), metadata=self.md(tok), timeout=5)
        first, second = next(events), next(events)
        self.assertEqual((first.id, first.error.code),
                         (1, grpc.StatusCode.PERMISSION_DENIED.value[0]))
        self.assertEqual(second.id, 2)
        self.assertGreater(second.ack.offset, 0)
        events.cancel()

    def test_a_stream_ends_unauthenticated_when_its_token_expires(self):
        exp = int(time.time()) + 2
        tok = remember(jwt(claims(exp=exp, herald=grants(subscribe=["g.>"]))))
        stream = self.stub.Subscribe(pb.SubscribeRequest(pattern="g.>"), metadata=self.md(tok),
                                     timeout=10)
        with self.assertRaises(grpc.RpcError) as e:
            for _ in stream:
                pass
        ended = time.time()
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("expired", e.exception.details())
        self.assertGreater(ended, exp - 0.2)
        self.assertLess(ended, exp + 1.5)


    def test_connect_renews_its_token_with_refresh(self):
        exp = int(time.time()) + 2
        first = remember(jwt(claims(sub="gr", exp=exp, herald=grants(publish=["g.r"]))))
        second = remember(jwt(claims(sub="gr", exp=exp + 600, herald=grants(publish=["g.r"]))))
        other = remember(jwt(claims(sub="not-gr", herald=grants(publish=[">"]))))
        commands = queue.Queue()
        commands.put(pb.ClientCommand(id=1, refresh=pb.Refresh(token=other)))
        commands.put(pb.ClientCommand(id=2, refresh=pb.Refresh()))
        commands.put(pb.ClientCommand(id=3, refresh=pb.Refresh(token=second)))

        def requests():
            while True:
                c = commands.get()
                if c is None:
                    return
                yield c
        events = self.stub.Connect(requests(), metadata=self.md(first), timeout=20)
        e1, e2, e3 = next(events), next(events), next(events)
        self.assertEqual((e1.id, e1.error.reason), (1, "permission_denied"))
        self.assertEqual((e2.id, e2.error.reason), (2, "invalid_argument"))
        self.assertEqual((e3.id, e3.WhichOneof("event"), e3.refreshed.expires_at),
                         (3, "refreshed", exp + 600))
        time.sleep(max(0, exp + 1.5 - time.time()))  # past the first token's end
        commands.put(pb.ClientCommand(id=4, publish=pb.PublishRequest(topic="g.r", payload=b"x")))
        e4 = next(events)
        self.assertEqual((e4.id, e4.WhichOneof("event")), (4, "ack"))
        commands.put(None)
        self.assertEqual(list(events), [])

    def test_the_python_examples_present_a_token_and_renew_it_from_a_file(self):
        target = f"127.0.0.1:{self.h.grpc_port}"
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "token")
            exp = int(time.time()) + 6  # renewed at about half its life
            with open(path, "w") as f:
                f.write(remember(jwt(claims(sub="judge", exp=exp,
                                            herald=grants(subscribe=["ex.run"])))))
            responder = Example("responder.py", "--target", target, "--topic", "ex.run",
                                "--group", "", "--token-file", path)
            self.addCleanup(responder.stop)
            responder.wait_ready()
            # Whatever renews tokens writes the next one (whole, by rename); the
            # responder sends it on its live session before the first expires.
            with open(path + ".new", "w") as f:
                f.write(remember(jwt(claims(sub="judge", exp=exp + 600,
                                            herald=grants(subscribe=["ex.run"])))))
            os.rename(path + ".new", path)
            self.assertTrue(wait_until(lambda: "token renewed" in responder.output(), 8),
                            responder.output())
            time.sleep(max(0, exp + 1 - time.time()))  # past the first token's end
            caller = remember(jwt(claims(sub="caller", herald=grants(publish=["ex.run"]))))
            reply = self.stub.Request(pb.RequestRequest(topic="ex.run", payload=b"print(1)"),
                                      metadata=self.md(caller), timeout=5)
            self.assertEqual(json.loads(reply.payload)["verdict"], "accepted")
            pub = Example("publisher.py", "--target", target, "--topic", "ex.pub", "--count", "2",
                          "--token", remember(jwt(claims(herald=grants(publish=["ex.pub"])))))
            self.assertEqual(pub.proc.wait(10), 0)
            self.assertEqual(len(pub.output()), 2, pub.output())
            denied = Example("publisher.py", "--target", target, "--topic", "ex.pub")
            self.assertNotEqual(denied.proc.wait(10), 0, "no token: UNAUTHENTICATED")
            for e in (pub, denied):
                e.stop()

    def test_connect_refused_a_refresh_ends_when_its_token_expires(self):
        exp = int(time.time()) + 2
        tok = remember(jwt(claims(sub="gx", exp=exp, herald=grants(publish=["g.x"]))))
        other = remember(jwt(claims(sub="gy", exp=exp + 600, herald=grants(publish=["g.x"]))))
        done = threading.Event()

        def requests():
            yield pb.ClientCommand(id=1, refresh=pb.Refresh(token=other))
            done.wait(10)  # the stream stays open past the token's end
        events = self.stub.Connect(requests(), metadata=self.md(tok), timeout=10)
        self.addCleanup(done.set)
        self.assertEqual(next(events).error.reason, "permission_denied")
        with self.assertRaises(grpc.RpcError) as e:
            next(events)
        ended = time.time()
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("expired", e.exception.details())
        self.assertTrue(exp - 0.2 < ended < exp + 1.5, ended - exp)


# ---------------------------------------------------------------------------
# Last (classes run in name order): no token ever reached a log.


class ZzTokensNeverLogged(AuthCase):
    def test_no_heraldd_log_contains_a_token(self):
        # Some traffic of its own, so this class alone checks something too.
        good = token(sub="logcheck", publish=["log.>"], subscribe=["log.>"])
        bad = jwt(claims(herald=grants(publish=["log.>"])), secret=OTHER_SECRET)
        expired = token(sub="logcheck", publish=["log.>"], exp=int(time.time()) - 60)
        for tok in (good, bad, expired):
            self.publish("log.x", b"x", tok)
            http_call(self.port, "POST", with_token("/publish/log.x", tok), b"x")
            handshake(self.port, with_token("/ws/log.x", tok))
            SseClient(self.port, with_token("/sse?topic=log.x", tok)).close()
        self.h.stop()
        secrets = set()
        for tok in TOKENS:
            if len(tok) >= 16:
                secrets.add(tok)
            parts = tok.split(".")
            if len(parts) == 3 and len(parts[2]) >= 20:
                secrets.add(parts[2])  # a signature alone is as good as the token
        leaks = []
        for i, h in enumerate(SERVERS):
            h.stop()
            log = h.logs()
            self.assertTrue(log, "heraldd #%d left no log at all" % i)
            for s in secrets:
                if s in log:
                    line = next(l for l in log.splitlines() if s in l)
                    leaks.append((i, line[:200]))
                    break
        self.assertEqual(leaks, [], "tokens in heraldd logs:\n%s" % "\n".join(map(repr, leaks)))


if __name__ == "__main__":
    unittest.main()
