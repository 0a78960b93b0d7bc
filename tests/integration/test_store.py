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
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import grpc
import websockets

from heraldd import Heraldd, http_call, run_heraldd, wait_until
from probe_util import metric, report
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


def can_mount():
    """Root in a place that may mount (a tmpfs, a bind mount): the real
    full-disk and machine-restart cases need it; elsewhere they are skipped
    with this reason."""
    if os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


MOUNT_REASON = "needs root and mount namespaces (a tmpfs, a bind-mounted boot id)"


def booted_as(boot_id):
    """A preexec_fn: the child sees `boot_id` as Linux's boot id (a bind
    mount in a mount namespace of its own), as if the machine had restarted
    since another boot id was seen."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, not in the child
    fd, path = tempfile.mkstemp(prefix="herald-boot-")
    os.write(fd, (boot_id + "\n").encode())
    os.close(fd)
    import atexit
    atexit.register(os.unlink, path)
    CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 0x1000, 0x4000, 0x40000

    def enter():
        if libc.unshare(CLONE_NEWNS) != 0:
            os._exit(120)
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            os._exit(121)
        if libc.mount(path.encode(), b"/proc/sys/kernel/random/boot_id", None, MS_BIND,
                      None) != 0:
            os._exit(122)
    return enter


class DataDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-data-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    boot = None  # a boot id of the test's own (MachineRestart)

    def heraldd(self, sync="batch", grpc_port=False):
        args = ["--data-dir", self.dir]
        if grpc_port:
            args += ["--grpc-listen", "127.0.0.1:0"]
        # History big enough to hold every message a test publishes.
        return Heraldd(*args, config=f'[store]\nsync = "{sync}"\n'
                       '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n',
                       preexec_fn=booted_as(self.boot) if self.boot else None)


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


@unittest.skipUnless(can_mount(), MOUNT_REASON)
class MachineRestart(DataDir):
    """sync = batch, heraldd killed, then started on another boot id: what
    was acknowledged in the last sync interval may be gone with the page
    cache, so the topic starts a new epoch and resuming clients are told."""

    def test_after_a_machine_restart_batch_topics_start_a_new_epoch_with_a_gap(self):
        self.boot = "boot-before-the-crash"
        ledger = Kill9.publish_then_kill(self, "batch")
        self.assertGreater(len(ledger), 50, "too few publishes to judge")
        old_epoch, last = max(ledger.values())
        self.boot = "boot-after-the-crash"
        with self.heraldd(sync="batch") as h:
            self.assertIn("machine restarted", h.logs())
            # Numbering is never reused: a new epoch, from offset 1.
            with Publisher(h.port) as pub:
                new_epoch, offset = pub("ledger", "after the reboot")
            self.assertGreater(new_epoch, old_epoch)
            self.assertEqual(offset, 1)
            # A resuming client hears of the gap, never a silent loss.
            got = history(h.port, "ledger", old_epoch, last)
            self.assertEqual(got["gap"]["reason"], "epoch_changed", got)
            self.assertEqual([(m["epoch"], m["offset"]) for m in got["messages"]],
                             [(new_epoch, 1)])
            with SseClient(h.port, "/sse?topic=ledger", headers={
                    "Last-Event-ID": f"0:{base36(old_epoch)}:{base36(last)}"}) as sse:
                self.assertEqual(sse.status, 200)
                events = sse.events(2)
                self.assertEqual(events[0].type, "gap")
                self.assertEqual(json.loads(events[0].data)["reason"], "epoch_changed")
                self.assertEqual(events[1].data, "after the reboot")
        report(self, "acknowledged before the reboot; resumed with", f"{len(ledger)}; an epoch_changed gap")


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


class BeyondMemory(DataDir):
    """History on disk far larger than memory's budget: every front resumes
    all of it, and memory stays within max_history_bytes."""
    BUDGET = 256 * 1024  # memory for history: some 200 of the 1 KiB messages
    COUNT = 4000         # about 4 MB on disk

    def heraldd(self):
        return Heraldd("--data-dir", self.dir, "--grpc-listen", "127.0.0.1:0",
                       config='[store]\ntail_bytes = 16384\n'
                       '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n'
                       f'[limits]\nmax_history_bytes = {self.BUDGET}\n')

    @staticmethod
    def payload(i):
        return f"m{i}".ljust(1024, ".")

    def resume_everywhere(self, h, epoch, after):
        """SSE, WebSocket and gRPC resume after `after`: each gets every later
        message, in order, with no gap."""
        want = [self.payload(i) for i in range(after + 1, self.COUNT + 1)]
        with SseClient(h.port, "/sse?topic=big",
                       headers={"Last-Event-ID": f"0:{base36(epoch)}:{base36(after)}"},
                       timeout=20) as sse:
            events = sse.events(len(want), timeout=30)
            self.assertEqual([e.type for e in events], ["message"] * len(want))
            self.assertEqual([e.data for e in events], want)

        async def ws():
            async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws", max_size=None) as sock:
                await sock.send(json.dumps({"op": "sub", "id": 1, "topic": "big", "resume": {
                    "big": {"epoch": epoch, "offset": after}}}))
                got = []
                while len(got) < len(want):
                    m = await recv_json(sock, 20)
                    self.assertNotEqual(m["op"], "gap", m)
                    if m["op"] == "msg":
                        got.append(m["payload"])
                return got
        self.assertEqual(run(ws(), timeout=120), want)

        with grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}") as ch:
            stream = pb_grpc.BrokerStub(ch).Subscribe(pb.SubscribeRequest(
                pattern="big", resume=[pb.ResumePoint(topic="big", epoch=epoch,
                                                      after_offset=after)]), timeout=60)
            got = []
            for d in stream:
                self.assertNotEqual(d.WhichOneof("event"), "gap", d)
                if d.WhichOneof("event") == "message":
                    got.append(d.message.payload.decode())
                if len(got) == len(want):
                    stream.cancel()
                    break
        self.assertEqual(got, want)

        page = history(h.port, "big", epoch, after)
        self.assertIsNone(page["gap"])
        self.assertEqual([m["payload"] for m in page["messages"]], want)

    def test_history_on_disk_beyond_memory_is_resumed_whole_on_every_front(self):
        with self.heraldd() as h:
            with Publisher(h.port) as pub:
                epoch = pub("big", self.payload(1))[0]
                for i in range(2, self.COUNT + 1):
                    pub("big", self.payload(i))
            self.assertLessEqual(metric(h.port, "herald_history_bytes"), self.BUDGET)
            self.assertGreater(metric(h.port, "herald_history_evictions_total"), 0)
            self.resume_everywhere(h, epoch, 5)
            reads = metric(h.port, "herald_store_reads_total")
            self.assertGreater(reads, 4 * self.COUNT / 1024)  # a page at a time, on each front
            held = metric(h.port, "herald_history_bytes")
            self.assertLessEqual(held, self.BUDGET)
            report(self, "history on disk / memory held (bytes)",
                   f"{metric(h.port, 'herald_store_disk_bytes'):.0f} / {held:.0f}"
                   f" ({reads:.0f} store reads)")
        with self.heraldd() as h:  # restarted: memory holds a 16 KiB tail
            self.assertLessEqual(metric(h.port, "herald_history_bytes"), self.BUDGET)
            self.resume_everywhere(h, epoch, 2000)
            self.assertLessEqual(metric(h.port, "herald_history_bytes"), self.BUDGET)


def publish_history_payloads(port, topic, count, size=8192):
    """Publishes random payloads over HTTP until one is refused or `count`
    went through; returns (acknowledged {payload hex: (epoch, offset)},
    the refusal (status, json) or None)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    acked = {}
    try:
        for i in range(count):
            body = os.urandom(size)  # incompressible
            conn.request("POST", f"/publish/{topic}", body=body,
                         headers={"Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                return acked, (resp.status, json.loads(data))
            a = json.loads(data)
            acked[body.hex()] = (a["epoch"], a["offset"])
            if i % 16 == 15:
                time.sleep(0.12)  # the store measures the disk every 100 ms
    finally:
        conn.close()
    return acked, None


def stored_payloads(port, topic):
    """{payload hex: (epoch, offset)} of what GET /history holds."""
    import base64
    got = history(port, topic)
    out = {}
    for m in got["messages"]:
        raw = base64.b64decode(m["payload_b64"]) if "payload_b64" in m else \
            m["payload"].encode()
        out[raw.hex()] = (m["epoch"], m["offset"])
    return got, out


def refused_on_ws_and_grpc(test, h, topic, code, grpc_code, words):
    """A publish to `topic` over WebSocket JSON and gRPC gets `code` (and
    `grpc_code`), with `words` in the message."""
    async def ws():
        async with websockets.connect(f"ws://127.0.0.1:{h.port}/ws") as sock:
            await sock.send(json.dumps({"op": "pub", "id": 1, "topic": topic, "payload": "x"}))
            return await recv_json(sock, 5)
    e = run(ws())
    test.assertEqual((e["op"], e["code"]), ("error", code), e)
    test.assertIn(words, e["message"])
    with grpc.insecure_channel(f"127.0.0.1:{h.grpc_port}") as ch:
        with test.assertRaises(grpc.RpcError) as caught:
            pb_grpc.BrokerStub(ch).Publish(pb.PublishRequest(topic=topic, payload=b"x"),
                                           timeout=10)
        test.assertEqual(caught.exception.code(), grpc_code)
        test.assertIn(words, caught.exception.details())


class Quota(DataDir):
    def test_past_the_disk_quota_every_front_gets_a_clear_refusal(self):
        d = self.dir
        config = ('[store]\nmax_disk_bytes = 1048576\n'
                  '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')
        with Heraldd("--data-dir", d, "--grpc-listen", "127.0.0.1:0", config=config) as h:
            _, refused = publish_history_payloads(h.port, "quota.t", 2000)
            self.assertIsNotNone(refused, "never refused")
            self.assertEqual(refused[0], 503)
            self.assertEqual(refused[1]["error"], "resource_exhausted")
            self.assertIn("max_disk_bytes", refused[1]["message"])
            refused_on_ws_and_grpc(self, h, "quota.t", "resource_exhausted",
                                   grpc.StatusCode.RESOURCE_EXHAUSTED, "max_disk_bytes")
            # Topics without history are not the store's: they still flow.
            resp, _ = http_call(h.port, "GET", "/healthz")
            self.assertEqual(resp.status, 200)
            m = http_call(h.port, "GET", "/metrics")[1].decode()
            self.assertRegex(m, r"herald_store_appends_refused_total [1-9]")


@unittest.skipUnless(can_mount(), MOUNT_REASON)
class FullDisk(unittest.TestCase):
    """The store's filesystem is a small tmpfs of the test's own (mounted
    here, unmounted at the end), filled for real."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="herald-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", self.mnt], check=True)
        self.addCleanup(shutil.rmtree, self.mnt, True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])
        self.dir = os.path.join(self.mnt, "data")

    def heraldd(self, min_free):
        return Heraldd("--data-dir", self.dir, "--grpc-listen", "127.0.0.1:0",
                       config=f"[store]\nmin_free_disk_bytes = {min_free}\n"
                       "[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n")

    def test_a_nearly_full_disk_refuses_until_someone_frees_space(self):
        with self.heraldd(min_free=4 << 20) as h:
            acked, refused = publish_history_payloads(h.port, "full.t", 100)
            self.assertIsNone(refused, "refused with the disk still empty")
            # Another program fills the disk to just above the reserve.
            filler = os.path.join(self.mnt, "filler")
            free = shutil.disk_usage(self.mnt).free
            with open(filler, "wb") as f:
                f.write(b"\0" * (free - (5 << 20)))
            more, refused = publish_history_payloads(h.port, "full.t", 2000)
            acked.update(more)
            self.assertIsNotNone(refused, "never refused")
            self.assertEqual(refused[0], 503)
            self.assertEqual(refused[1]["error"], "resource_exhausted", refused)
            self.assertIn("min_free_disk_bytes", refused[1]["message"])
            self.assertIn(self.dir, refused[1]["message"])
            refused_on_ws_and_grpc(self, h, "full.t", "resource_exhausted",
                                   grpc.StatusCode.RESOURCE_EXHAUSTED, "min_free_disk_bytes")
            # Never ran full (the reserve also absorbs what the store writes
            # between two measurements, and its table flushes).
            self.assertGreater(shutil.disk_usage(self.mnt).free, 0)
            # Space comes back: so do publishes, without a restart.
            os.unlink(filler)
            self.assertTrue(wait_until(
                lambda: http_call(h.port, "POST", "/publish/full.t", body=b"back")[0].status == 200,
                timeout=10))
            got, stored = stored_payloads(h.port, "full.t")
            self.assertIsNone(got["gap"])
            missing = {p: at for p, at in acked.items() if stored.get(p) != at}
            self.assertEqual(missing, {}, "acknowledged but not in history")
            report(self, "acknowledged before the reserve / kept", f"{len(acked)} / {len(stored) - 1}")

    def test_a_full_disk_fails_the_store_and_loses_nothing_acknowledged(self):
        with self.heraldd(min_free=0) as h:
            acked, refused = publish_history_payloads(h.port, "full.t", 4000)
            self.assertIsNotNone(refused, "the disk never filled")
            self.assertEqual(refused[0], 503)
            self.assertEqual(refused[1]["error"], "unavailable", refused)
            self.assertIn("No space left on device", refused[1]["message"])
            # Every later publish to a topic with history says so; heraldd
            # stays up for everything else.
            resp, data = http_call(h.port, "POST", "/publish/full.t", body=b"again")
            self.assertEqual(resp.status, 503, data)
            self.assertIn("restart heraldd", json.loads(data)["message"])
            refused_on_ws_and_grpc(self, h, "full.t", "unavailable", grpc.StatusCode.UNAVAILABLE,
                                   "history store failed")
            self.assertEqual(http_call(h.port, "GET", "/healthz")[0].status, 200)
            self.assertEqual(h.stop(), 0, h.logs())
        # The operator makes room and restarts it.
        subprocess.run(["mount", "-o", "remount,size=64m", self.mnt], check=True)
        with self.heraldd(min_free=0) as h:
            got, stored = stored_payloads(h.port, "full.t")
            self.assertIsNone(got["gap"], got["gap"])
            offsets = [m["offset"] for m in got["messages"]]
            self.assertEqual(offsets, list(range(1, len(offsets) + 1)), "holes or disorder")
            missing = {p: at for p, at in acked.items() if stored.get(p) != at}
            self.assertEqual(missing, {}, "acknowledged but not in history where acknowledged")
            with Publisher(h.port) as pub:
                epoch, offset = pub("full.t", "after")
            self.assertGreater((epoch, offset), max(acked.values()))
            report(self, "acknowledged before no space left / in history after the restart",
                   f"{len(acked)} / {len(offsets)}")


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
