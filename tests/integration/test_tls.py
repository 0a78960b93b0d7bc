"""TLS on the client fronts: heraldd with [tls] listen (HTTPS, WSS, SSE, the
HTTP API) and grpc_listen beside its plain ports, driven by clients nobody
here wrote (Python's ssl and http.client, websockets over wss://, grpcio's
secure channel), with certificates the openssl command line makes for each
run (tls_util.Pki). And what it refuses, each without harm to the others:
a certificate or key it cannot use (at start, with the key named), a client
that does not trust it, client certificates missing, foreign or expired,
plain HTTP on the TLS port, TLS 1.1, ALPN without http/1.1, and a flood of
handshakes that never finish.

    HERALDD=build/release/server/heraldd /usr/bin/python3 -m unittest -v test_tls
"""
import asyncio
import http.client
import json
import os
import select
import socket
import ssl
import sys
import time
import unittest

import grpc
import websockets

from heraldd import Heraldd, http_call, metric, run_heraldd, wait_until
from sse_util import SseClient
from tls_util import Pki
from ws_util import masked_frame, raw_handshake, recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402


def tls_config(pki, server="server", key=None, client_ca=None, top="", http="", tls=""):
    text = top + "[tls]\n" + tls
    text += 'listen = "127.0.0.1:0"\ngrpc_listen = "127.0.0.1:0"\n'
    text += f'cert_file = "{pki.path(server + ".pem")}"\n'
    text += f'key_file = "{pki.path((key or server) + ".key")}"\n'
    if client_ca:
        text += f'client_ca_file = "{pki.path(client_ca + ".pem")}"\n'
    if http:
        text += "[http]\n" + http
    return text


def failures(port, reason):
    _, body = http_call(port, "GET", "/metrics")
    want = f'herald_tls_handshake_failures_total{{reason="{reason}"}} '
    for line in body.decode().splitlines():
        if line.startswith(want):
            return float(line.split()[1])
    raise AssertionError(f"no {want.strip()} in /metrics")


def client_context(pki, ca="ca", cert=None):
    ctx = ssl.create_default_context(cafile=pki.path(ca + ".pem"))
    if cert:
        ctx.load_cert_chain(pki.path(cert + ".pem"), pki.path(cert + ".key"))
    return ctx


def https_get(port, path, ctx, method="GET", body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read(), conn.sock
    finally:
        conn.close()


class TlsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.pki.ca("ca")
        cls.pki.ca("foreign")
        cls.pki.node("server", "ca")
        cls.pki.node("client", "ca")
        cls.pki.node("stranger", "foreign")
        cls.pki.node("expired", "ca", expired=True)

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def start(self, config, *args):
        h = Heraldd("--grpc-listen", "127.0.0.1:0", *args, config=config)
        h.__enter__()
        self.addCleanup(lambda: self.assertEqual(h.stop(), 0, h.logs()[-2000:]))
        return h


class TlsFronts(TlsCase):
    def setUp(self):
        self.h = self.start(tls_config(self.pki))
        self.ctx = client_context(self.pki)

    def test_https_serves_the_http_api_with_alpn_http11(self):
        self.ctx.set_alpn_protocols(["h2", "http/1.1"])
        status, body, sock = https_get(self.h.tls_port, "/healthz", self.ctx)
        self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.h.tls_port, context=self.ctx,
                                           timeout=5)
        conn.connect()
        self.assertEqual(conn.sock.selected_alpn_protocol(), "http/1.1")
        self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
        # Keep-alive: several requests on one TLS connection.
        for i in range(3):
            conn.request("POST", "/publish/tls.keepalive", body=f"m{i}".encode())
            r = conn.getresponse()
            self.assertEqual(r.status, 200, r.read())
            self.assertEqual(json.loads(r.read() or b"{}").get("offset", i + 1), i + 1)
        conn.close()
        # The plain port runs beside it.
        self.assertEqual(http_call(self.h.port, "GET", "/healthz")[0].status, 200)

    def test_websocket_over_wss_and_ws_share_topics(self):
        async def go():
            wss = await websockets.connect(f"wss://127.0.0.1:{self.h.tls_port}/ws", ssl=self.ctx,
                                           max_size=None)
            ws = await websockets.connect(f"ws://127.0.0.1:{self.h.port}/ws", max_size=None)
            try:
                for c in (wss, ws):
                    await c.send(json.dumps({"op": "sub", "topic": "tls.room"}))
                    self.assertEqual((await recv_json(c, 5))["op"], "subscribed")
                big = "x" * 300_000  # many records, more than one flush window
                await ws.send(json.dumps({"op": "pub", "topic": "tls.room", "payload": big}))
                await wss.send(json.dumps({"op": "pub", "topic": "tls.room", "payload": "hi"}))
                for c in (wss, ws):
                    got = [await recv_json(c, 5) for _ in range(2)]
                    got = [m for m in got if m["op"] == "msg"]
                    # Two publishers: either order.
                    self.assertEqual(sorted(m["payload"] for m in got), sorted([big, "hi"]))
            finally:
                await wss.close()
                await ws.close()
        run(go())

    def test_sse_streams_over_https(self):
        with SseClient(self.h.tls_port, "/sse?topic=tls.news", tls=self.ctx) as sse:
            self.assertEqual(sse.status, 200)
            for i in range(3):
                self.assertEqual(http_call(self.h.port, "POST", "/publish/tls.news",
                                           f"n{i}".encode())[0].status, 200)
            self.assertEqual([e.data for e in sse.events(3, timeout=5)], ["n0", "n1", "n2"])

    def test_grpc_over_tls(self):
        creds = grpc.ssl_channel_credentials(open(self.pki.path("ca.pem"), "rb").read())
        with grpc.secure_channel(f"127.0.0.1:{self.h.grpc_tls_port}", creds) as channel:
            stub = pb_grpc.BrokerStub(channel)
            stream = stub.Subscribe(pb.SubscribeRequest(pattern="tls.grpc"), timeout=10)
            stream.initial_metadata()  # the subscription is in place
            ack = stub.Publish(pb.PublishRequest(topic="tls.grpc", payload=b"secure"), timeout=5)
            self.assertGreater(ack.offset, 0)
            for event in stream:
                if event.HasField("message"):
                    self.assertEqual(event.message.payload, b"secure")
                    break
            stream.cancel()
        # The plain gRPC port still answers, and the plain client cannot
        # speak to the TLS port.
        with grpc.insecure_channel(f"127.0.0.1:{self.h.grpc_tls_port}") as channel:
            with self.assertRaises(grpc.RpcError):
                pb_grpc.BrokerStub(channel).Publish(pb.PublishRequest(topic="tls.grpc"),
                                                    timeout=3)

    def test_a_client_that_does_not_trust_the_certificate_is_refused_and_counted(self):
        before = failures(self.h.port, "peer_alert")
        with self.assertRaises(ssl.SSLCertVerificationError):
            https_get(self.h.tls_port, "/healthz", client_context(self.pki, ca="foreign"))
        self.assertTrue(wait_until(lambda: failures(self.h.port, "peer_alert") == before + 1))
        self.assertEqual(https_get(self.h.tls_port, "/healthz", self.ctx)[0], 200)

    def test_plain_http_on_the_tls_port_is_answered_400(self):
        before = failures(self.h.port, "plaintext_http")
        with socket.create_connection(("127.0.0.1", self.h.tls_port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        self.assertEqual(json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"],
                         "plain_http_on_tls_port")
        self.assertEqual(failures(self.h.port, "plaintext_http"), before + 1)

    def test_tls_1_1_is_refused(self):
        before = failures(self.h.port, "version")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises(ssl.SSLError):
            https_get(self.h.tls_port, "/healthz", ctx)
        self.assertTrue(wait_until(lambda: failures(self.h.port, "version") == before + 1))

    def test_alpn_without_http11_is_refused(self):
        before = failures(self.h.port, "alpn")
        self.ctx.set_alpn_protocols(["h2"])
        with self.assertRaises(ssl.SSLError):
            https_get(self.h.tls_port, "/healthz", self.ctx)
        self.assertTrue(wait_until(lambda: failures(self.h.port, "alpn") == before + 1))

    def test_metrics_count_handshakes_and_the_certificate_expiry(self):
        _, body = http_call(self.h.port, "GET", "/metrics")
        text = body.decode()
        self.assertIn("herald_tls_handshakes_total ", text)
        not_after = [float(line.split()[1]) for line in text.splitlines()
                     if line.startswith("herald_tls_certificate_not_after_seconds ")]
        # Pki makes certificates for two days.
        self.assertEqual(len(not_after), 1)
        self.assertAlmostEqual(not_after[0], time.time() + 2 * 86400, delta=3600)


class TlsBudgets(TlsCase):
    """Ciphertext counts in the outbound budget like plaintext: a wss://
    subscriber that stops reading is cut by max_outbound_bytes, and a
    healthy one beside it gets every message in order."""

    def test_a_stalled_wss_reader_is_cut_and_a_healthy_one_gets_everything(self):
        h = self.start(tls_config(self.pki, top='[websocket]\nmax_outbound_bytes = 262144\n'
                                             'slow_consumer_policy = "disconnect"\n'))
        ctx = client_context(self.pki)
        count, payload = 3008, "p" * 4000  # 12 MB: more than the kernel buffers hold
        # A wss:// subscriber that never reads.
        stalled, head = raw_handshake(
            h.tls_port, "/ws", wrap=lambda s: ctx.wrap_socket(s, server_hostname="127.0.0.1"))
        self.assertTrue(head.startswith("HTTP/1.1 101"), head)
        stalled.sendall(masked_frame(0x1, json.dumps({"op": "sub", "topic": "tls.feed"}).encode()))
        self.addCleanup(stalled.close)

        async def go():
            url = f"wss://127.0.0.1:{h.tls_port}/ws"
            healthy = await websockets.connect(url, ssl=ctx, max_size=None)
            pub = await websockets.connect(f"ws://127.0.0.1:{h.port}/ws")
            try:
                await healthy.send(json.dumps({"op": "sub", "topic": "tls.feed"}))
                self.assertEqual((await recv_json(healthy, 5))["op"], "subscribed")
                offsets = []
                for batch in range(count // 16):
                    for _ in range(16):
                        await pub.send(json.dumps({"op": "pub", "topic": "tls.feed",
                                                   "payload": payload}))
                    while len(offsets) < (batch + 1) * 16:
                        m = await recv_json(healthy, 10)
                        if m["op"] == "msg":
                            offsets.append(m["offset"])
                self.assertEqual(offsets, list(range(1, count + 1)))
            finally:
                for c in (healthy, pub):
                    await c.close()
        run(go())
        self.assertEqual(metric(h.port, "herald_slow_consumer_disconnects_total"), 1)


class ClientCertificates(TlsCase):
    def setUp(self):
        self.h = self.start(tls_config(self.pki, client_ca="ca"))

    def refused(self, ctx):
        """A TLS 1.3 client learns of the refusal at its first read."""
        with self.assertRaises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected,
                                BrokenPipeError)):
            https_get(self.h.tls_port, "/healthz", ctx)

    def test_only_clients_with_a_certificate_the_ca_signed_get_in(self):
        before = failures(self.h.port, "client_cert")
        self.assertEqual(https_get(self.h.tls_port, "/healthz",
                                   client_context(self.pki, cert="client"))[0], 200)
        self.refused(client_context(self.pki))
        self.refused(client_context(self.pki, cert="stranger"))
        self.refused(client_context(self.pki, cert="expired"))
        self.assertTrue(wait_until(lambda: failures(self.h.port, "client_cert") == before + 3),
                        failures(self.h.port, "client_cert"))

    def test_grpc_requires_the_client_certificate_too(self):
        ca = open(self.pki.path("ca.pem"), "rb").read()
        with_cert = grpc.ssl_channel_credentials(
            ca, open(self.pki.path("client.key"), "rb").read(),
            open(self.pki.path("client.pem"), "rb").read())
        with grpc.secure_channel(f"127.0.0.1:{self.h.grpc_tls_port}", with_cert) as channel:
            ack = pb_grpc.BrokerStub(channel).Publish(
                pb.PublishRequest(topic="tls.mutual", payload=b"x"), timeout=5)
            self.assertGreater(ack.offset, 0)
        without = grpc.ssl_channel_credentials(ca)
        with grpc.secure_channel(f"127.0.0.1:{self.h.grpc_tls_port}", without) as channel:
            with self.assertRaises(grpc.RpcError) as e:
                pb_grpc.BrokerStub(channel).Publish(pb.PublishRequest(topic="tls.mutual"),
                                                    timeout=3)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)


class RefusedAtStart(TlsCase):
    def check(self, config, message):
        """Both --check-config (exit 2) and a start (exit 1) name the problem."""
        path = self.pki.path("refused.toml")
        with open(path, "w") as f:
            f.write(config)
        checked = run_heraldd("--check-config", path)
        self.assertEqual(checked.returncode, 2, checked.stderr)
        self.assertIn(message, checked.stderr)
        started = run_heraldd("--config", path, "--listen", "127.0.0.1:0")
        self.assertEqual(started.returncode, 1, started.stderr)
        self.assertIn("cannot start: " + message, started.stderr)

    def test_an_expired_certificate(self):
        self.check(tls_config(self.pki, server="expired"),
                   "tls.cert_file: expired on 2020-01-02 00:00:00 UTC")

    def test_a_key_that_does_not_match(self):
        self.check(tls_config(self.pki, server="server", key="client"),
                   "tls.key_file: the key does not match the certificate in tls.cert_file")

    def test_a_missing_file(self):
        self.check(tls_config(self.pki, server="nowhere"),
                   f"tls.cert_file: cannot read '{self.pki.path('nowhere.pem')}'")

    def test_a_file_that_is_not_a_certificate(self):
        self.check(tls_config(self.pki, server="server").replace(
            self.pki.path("server.pem"), self.pki.path("server.key")),
            "tls.cert_file: not a PEM certificate")


class HandshakeFlood(TlsCase):
    """Connections that never finish a handshake hold the same per-address
    slot as an unfinished request head, and are cut by handshake_timeout_ms."""

    def test_stalled_handshakes_are_bounded_and_cut_without_harm_to_others(self):
        timeout_s = 3
        h = self.start(tls_config(self.pki, tls=f"handshake_timeout_ms = {timeout_s * 1000}\n",
                                  http="max_pending_heads_per_ip = 10\n"))
        before = failures(h.port, "timeout")
        socks = []
        start = time.monotonic()
        for _ in range(11):
            s = socket.create_connection(("127.0.0.1", h.tls_port), timeout=5)
            s.sendall(b"\x16\x03\x01\x00\xff")  # a ClientHello's record header, and no more
            socks.append(s)
        # One of the eleven from this address is closed at once, without a
        # handshake (which one: the workers accept in parallel).
        refused = []
        while not refused and time.monotonic() - start < timeout_s / 2:
            readable, _, _ = select.select(socks, [], [], 0.1)
            refused = readable
        self.assertEqual(len(refused), 1)
        try:
            self.assertEqual(refused[0].recv(1), b"")
        except ConnectionResetError:
            pass
        socks.remove(refused[0])
        refused[0].close()
        stalled = socks
        # Another address is served meanwhile.
        ctx = client_context(self.pki)
        raw = socket.create_connection(("127.0.0.1", h.tls_port), timeout=5,
                                       source_address=("127.0.0.2", 0))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "))
        # The stalled ones are cut after the head timeout, each counted.
        for s in stalled:
            s.settimeout(5)
            try:
                self.assertEqual(s.recv(1), b"")
            except ConnectionResetError:
                pass
            s.close()
        self.assertTrue(wait_until(lambda: failures(h.port, "timeout") == before + 10),
                        failures(h.port, "timeout"))
        # The slots are free again.
        self.assertEqual(https_get(h.tls_port, "/healthz", ctx)[0], 200)


if __name__ == "__main__":
    unittest.main()
