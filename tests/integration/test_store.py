"""heraldd with the disk store (--data-dir, [store]): history survives a
clean restart and a kill -9, on every front, with no gap and nothing acked
lost; a directory it cannot use stops it with what to do.

Clients: Python websockets (WebSocket JSON), grpcio (gRPC Subscribe), raw
HTTP for SSE and the HTTP API. Each test starts its own heraldd on a
temporary directory and stops it by PID.
"""
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
import urllib.parse

import grpc
import websockets

from heraldd import Heraldd, http_call, run_heraldd
from probe_util import report
from sse_util import Publisher, SseClient, base36, started
from ws_util import recv_json, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402


def history(port, topic, epoch=0, after=0):
    """GET /history, every page: the first answer's gap and all messages."""
    first = None
    messages = []
    while True:
        resp, body = http_call(port, "GET", f"/history/{urllib.parse.quote(topic, safe='')}"
                               f"?epoch={epoch}&after={after}")
        assert resp.status == 200, (resp.status, body)
        page = json.loads(body)
        first = first or page
        messages += page["messages"]
        if not page["truncated"] or not page["messages"]:
            break
        epoch, after = page["messages"][-1]["epoch"], page["messages"][-1]["offset"]
    first["messages"] = messages
    return first


class DataDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-data-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def heraldd(self, sync="batch", grpc_port=False):
        args = ["--data-dir", self.dir]
        if grpc_port:
            args += ["--grpc-listen", "127.0.0.1:0"]
        # History big enough to hold every message a test publishes.
        return Heraldd(*args, config=f'[store]\nsync = "{sync}"\n'
                       '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')


class Restart(DataDir):
    def test_a_clean_restart_continues_the_epoch_and_offsets(self):
        with self.heraldd() as h:
            with Publisher(h.port) as pub:
                acks = [pub("orders", f"o{i}") for i in range(1, 6)]
            self.assertIn("history store", h.logs())
        epoch = acks[0][0]
        with self.heraldd() as h:
            self.assertIn("closed it cleanly", h.logs())
            with Publisher(h.port) as pub:
                self.assertEqual(pub("orders", "o6"), (epoch, 6))
            got = history(h.port, "orders", epoch, 0)
            self.assertIsNone(got["gap"])
            self.assertEqual([m["payload"] for m in got["messages"]],
                             ["o1", "o2", "o3", "o4", "o5", "o6"])

    def test_every_front_resumes_across_a_restart_with_exactly_what_it_missed(self):
        with self.heraldd(grpc_port=True) as h:
            with Publisher(h.port) as pub:
                acks = [pub("feed", f"m{i}") for i in range(1, 9)]
        epoch = acks[0][0]
        with self.heraldd(grpc_port=True) as h:
            # SSE: a browser's Last-Event-ID from before the restart.
            last_id = f"0:{base36(epoch)}:{base36(3)}"
            with SseClient(h.port, "/sse?topic=feed",
                           headers={"Last-Event-ID": last_id}) as sse:
                self.assertEqual(sse.status, 200)
                events = sse.events(5)
                self.assertEqual([e.type for e in events], ["message"] * 5)
                self.assertEqual([e.data for e in events], [f"m{i}" for i in range(4, 9)])

            # WebSocket JSON: sub with a resume point.
            async def ws():
                async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws") as sock:
                    await sock.send(json.dumps({"op": "sub", "id": 1, "topic": "feed",
                                                "resume": {"feed": {"epoch": epoch,
                                                                    "offset": 5}}}))
                    got = []
                    while len(got) < 3:
                        m = await recv_json(sock, 5)
                        self.assertNotEqual(m["op"], "gap", m)
                        if m["op"] == "msg":
                            got.append((m["epoch"], m["offset"], m["payload"]))
                    return got
            self.assertEqual(run(ws()), [(epoch, 6, "m6"), (epoch, 7, "m7"), (epoch, 8, "m8")])

            # gRPC: Subscribe with a resume point.
            with grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}") as ch:
                stub = pb_grpc.BrokerStub(ch)
                stream = stub.Subscribe(pb.SubscribeRequest(pattern="feed", resume=[
                    pb.ResumePoint(topic="feed", epoch=epoch, after_offset=6)]), timeout=10)
                got = []
                for d in stream:
                    self.assertNotEqual(d.WhichOneof("event"), "gap", d)
                    if d.WhichOneof("event") == "message":
                        got.append((d.message.epoch, d.message.offset, d.message.payload))
                    if len(got) == 2:
                        stream.cancel()
                        break
            self.assertEqual(got, [(epoch, 7, b"m7"), (epoch, 8, b"m8")])


class Kill9(DataDir):
    """kill -9 during a steady publish: every acknowledged message is in
    history after the restart, once, in order (a message ledger)."""

    def publish_then_kill(self, sync, publishers=4, seconds=1.0):
        ledger = {}  # payload -> (epoch, offset) as acknowledged
        lock = threading.Lock()
        stop = threading.Event()
        with self.heraldd(sync=sync) as h:
            def publisher(n):
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
                i = 0
                while not stop.is_set():
                    body = f"p{n}-{i}"
                    try:
                        conn.request("POST", "/publish/ledger", body=body.encode())
                        resp = conn.getresponse()
                        data = resp.read()
                    except OSError:
                        return  # killed: the outcome of this one is unknown
                    if resp.status == 200:
                        a = json.loads(data)
                        with lock:
                            ledger[body] = (a["epoch"], a["offset"])
                    i += 1
            threads = [threading.Thread(target=publisher, args=(n,)) for n in range(publishers)]
            for t in threads:
                t.start()
            time.sleep(seconds)
            h.proc.send_signal(signal.SIGKILL)
            h.proc.wait()
            stop.set()
            for t in threads:
                t.join(10)
        with lock:
            return dict(ledger)

    def check_ledger(self, ledger, h):
        self.assertGreater(len(ledger), 50, "too few publishes to judge")
        epoch = next(iter(ledger.values()))[0]
        got = history(h.port, "ledger", epoch, 0)
        self.assertIsNone(got["gap"], got["gap"])
        offsets = [m["offset"] for m in got["messages"]]
        self.assertEqual(offsets, list(range(1, len(offsets) + 1)), "holes or disorder")
        stored = {m["payload"]: (m["epoch"], m["offset"]) for m in got["messages"]}
        self.assertEqual(len(stored), len(got["messages"]), "a message stored twice")
        missing = {p: at for p, at in ledger.items() if stored.get(p) != at}
        self.assertEqual(missing, {}, "acknowledged but not in history where acknowledged")
        report(self, "acknowledged / in history after kill -9 and restart",
               f"{len(ledger)} / {len(offsets)}")
        return epoch, offsets

    def test_sync_always_keeps_every_acknowledged_message(self):
        ledger = self.publish_then_kill("always")
        with self.heraldd(sync="always") as h:
            self.assertIn("stopped without closing it", h.logs())
            epoch, offsets = self.check_ledger(ledger, h)
            # Numbering goes on after what survived (acked or not).
            with Publisher(h.port) as pub:
                self.assertEqual(pub("ledger", "after"), (epoch, offsets[-1] + 1))

    def test_sync_batch_loses_nothing_when_only_the_process_dies(self):
        ledger = self.publish_then_kill("batch")
        with self.heraldd(sync="batch") as h:
            self.assertIn("same boot", h.logs())
            self.check_ledger(ledger, h)


class Idempotent(DataDir):
    """Retry storms with the same msg_ids over HTTP, WebSocket and gRPC,
    before and after a restart: each id is stored once."""
    IDS = [f"order-{i}" for i in range(30)]

    def storm(self, h, rounds):
        """Publishes every id `rounds` times (ids 0-9 over HTTP, 10-19 over
        WebSocket JSON, 20-29 over gRPC); returns {id: [(epoch, offset, dup)]}."""
        acks = {i: [] for i in self.IDS}
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
        for i in self.IDS[:10]:
            for _ in range(rounds):
                conn.request("POST", "/publish/orders", body=i.encode(),
                             headers={"Herald-Msg-Id": i})
                resp = conn.getresponse()
                a = json.loads(resp.read())
                self.assertEqual(resp.status, 200, a)
                acks[i].append((a["epoch"], a["offset"], a.get("duplicate", False)))
        conn.close()

        async def ws():
            async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws") as sock:
                n = 0
                for i in self.IDS[10:20]:
                    for _ in range(rounds):
                        n += 1
                        await sock.send(json.dumps({"op": "pub", "id": n, "topic": "orders",
                                                    "payload": i, "msg_id": i}))
                        a = await recv_json(sock, 5)
                        self.assertEqual(a["op"], "ack", a)
                        acks[i].append((a["epoch"], a["offset"], a.get("duplicate", False)))
        run(ws())

        with grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}") as ch:
            stub = pb_grpc.BrokerStub(ch)
            for i in self.IDS[20:]:
                for _ in range(rounds):
                    a = stub.Publish(pb.PublishRequest(topic="orders", payload=i.encode(),
                                                       msg_id=i), timeout=10)
                    acks[i].append((a.epoch, a.offset, a.duplicate))
        return acks

    def test_retry_storms_on_every_front_across_a_restart_store_each_id_once(self):
        with self.heraldd(grpc_port=True) as h:
            before = self.storm(h, rounds=5)
        with self.heraldd(grpc_port=True) as h:
            after = self.storm(h, rounds=5)
            got = history(h.port, "orders")
        for i in self.IDS:
            first = before[i][0]
            self.assertFalse(first[2], f"{i}: the first publish is not a duplicate")
            for a in before[i][1:] + after[i]:
                self.assertEqual(a, (first[0], first[1], True), i)
        ids = [m.get("msg_id") for m in got["messages"]]
        self.assertEqual(sorted(ids), sorted(self.IDS), "each id stored exactly once")
        self.assertEqual([m["payload"] for m in got["messages"]], ids)
        report(self, "publishes / stored messages", f"{10 * len(self.IDS)} / {len(ids)}")


class Quota(DataDir):
    def test_past_the_disk_quota_every_front_gets_a_clear_refusal(self):
        d = self.dir
        config = ('[store]\nmax_disk_bytes = 1048576\n'
                  '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')
        with Heraldd("--data-dir", d, "--grpc-listen", "127.0.0.1:0", config=config) as h:
            refused = None
            for i in range(2000):
                # Incompressible: the store's tables are compressed.
                resp, data = http_call(h.port, "POST", "/publish/quota.t",
                                       body=os.urandom(8192),
                                       headers={"Content-Type": "application/octet-stream"})
                if resp.status != 200:
                    refused = (resp.status, json.loads(data))
                    break
                if i % 16 == 15:
                    time.sleep(0.12)  # the store measures its files every 100 ms
            self.assertIsNotNone(refused, "never refused")
            self.assertEqual(refused[0], 503)
            self.assertEqual(refused[1]["error"], "resource_exhausted")
            self.assertIn("max_disk_bytes", refused[1]["message"])

            async def ws():
                async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws") as sock:
                    await sock.send(json.dumps({"op": "pub", "id": 1, "topic": "quota.t",
                                                "payload": "x"}))
                    return await recv_json(sock, 5)
            e = run(ws())
            self.assertEqual((e["op"], e["code"]), ("error", "resource_exhausted"), e)

            with grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}") as ch:
                with self.assertRaises(grpc.RpcError) as caught:
                    pb_grpc.BrokerStub(ch).Publish(
                        pb.PublishRequest(topic="quota.t", payload=b"x"), timeout=10)
                self.assertEqual(caught.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                self.assertIn("max_disk_bytes", caught.exception.details())
            # Topics without history are not the store's: they still flow.
            resp, _ = http_call(h.port, "GET", "/healthz")
            self.assertEqual(resp.status, 200)
            m = http_call(h.port, "GET", "/metrics")[1].decode()
            self.assertRegex(m, r"herald_store_appends_refused_total [1-9]")


class BadDirectory(unittest.TestCase):
    def test_a_directory_that_is_not_a_store_stops_heraldd_with_what_to_do(self):
        d = tempfile.mkdtemp(prefix="herald-data-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "mine.txt"), "w") as f:
            f.write("not herald's")
        r = run_heraldd("--data-dir", d, "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not a Herald history store", r.stderr)
        self.assertIn("Give an empty or new directory", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(d, "mine.txt")))  # untouched

    def test_a_directory_of_a_newer_version_is_refused(self):
        d = tempfile.mkdtemp(prefix="herald-data-")
        self.addCleanup(shutil.rmtree, d, True)
        with Heraldd("--data-dir", d):
            pass
        with open(os.path.join(d, "FORMAT"), "w") as f:
            f.write("herald-history-store 2 rocksdb\n")
        r = run_heraldd("--data-dir", d, "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("written by a newer Herald", r.stderr)

    def test_a_second_heraldd_on_the_same_directory_is_refused(self):
        d = tempfile.mkdtemp(prefix="herald-data-")
        self.addCleanup(shutil.rmtree, d, True)
        with Heraldd("--data-dir", d):
            r = run_heraldd("--data-dir", d, "--listen", "127.0.0.1:0")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("in use by another process", r.stderr)

    def test_disk_without_a_directory_is_a_config_error(self):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write('[store]\nkind = "disk"\n')
        self.addCleanup(os.unlink, path)
        r = run_heraldd("--config", path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("needs a directory", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
