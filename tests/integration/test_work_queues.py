"""Work queues on a real heraldd: jobs stay until a worker acknowledges them.

Clients: Python `websockets` (WebSocket JSON workers), raw HTTP (publish,
pull, settle, inspection), and worker processes killed with SIGKILL. A
ledger of job payloads shows every job processed at least once and
acknowledged exactly once. Each test starts its own heraldd on 127.0.0.1
and stops it by PID.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest
import urllib.parse
import weakref

import grpc
import websockets

from heraldd import Heraldd, http_call, metric, run_heraldd, wait_until
from redis_util import RedisServer
from ws_util import recv_json, recv_until, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

QUEUE_CONFIG = """
[[queues]]
name = "work"
pattern = "jobs.>"
ack_wait_ms = 700
max_deliver = 3
dead_letter = "dead.work"
"""


def publish(port, topic, payload, headers=None):
    resp, body = http_call(port, "POST", f"/publish/{topic}", payload.encode(), headers)
    return resp.status, json.loads(body)


def queue_info(port, name="work", headers=None):
    resp, body = http_call(port, "GET", f"/queues/{name}", headers=headers)
    assert resp.status == 200, (resp.status, body)
    return json.loads(body)


async def join(url, queue="work", max_in_flight=None, extra=""):
    ws = await websockets.connect(url + extra, open_timeout=5)
    cmd = {"op": "join", "id": 1, "queue": queue}
    if max_in_flight:
        cmd["max_in_flight"] = max_in_flight
    await ws.send(json.dumps(cmd))
    answer = await recv_json(ws)
    assert answer.get("op") == "joined", answer
    return ws


# Jobs that arrived while settle() waited for its answer, by connection: a
# redelivery a nack causes may overtake the nack's answer on the wire.
_early_jobs = weakref.WeakKeyDictionary()


async def jobs(ws, n, timeout=5):
    early = _early_jobs.setdefault(ws, [])
    out = []
    while len(out) < n:
        if early:
            out.append(early.pop(0))
            continue
        m = await recv_until(ws, lambda m: m.get("op") == "job", timeout)
        out.append(m)
    return out


async def settle(ws, op, handle, rid, **extra):
    await ws.send(json.dumps({"op": op, "id": rid, "handle": handle, **extra}))
    early = _early_jobs.setdefault(ws, [])

    def answer_or_stash(m):
        if m.get("op") == "job":
            early.append(m)
        return m.get("id") == rid

    return await recv_until(ws, answer_or_stash)


class WorkQueueOverWebSocket(unittest.TestCase):
    def setUp(self):
        self.server = Heraldd(config=QUEUE_CONFIG).__enter__()
        self.port = self.server.port
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    def tearDown(self):
        self.server.__exit__(None, None, None)

    def test_a_dropped_connections_jobs_go_to_another_worker_at_once(self):
        async def main():
            a = await join(self.url)
            for i in range(10):
                self.assertEqual(publish(self.port, "jobs.build", f"job-{i}")[0], 200)
            held = await jobs(a, 10)
            self.assertEqual({j["payload"] for j in held}, {f"job-{i}" for i in range(10)})
            self.assertTrue(all(j["deliveries"] == 1 and j["queue"] == "work" for j in held))
            b = await join(self.url)
            await a.close()  # the worker's connection drops with 10 unacknowledged jobs
            again = await jobs(b, 10, timeout=3)
            self.assertEqual({j["payload"] for j in again}, {f"job-{i}" for i in range(10)})
            self.assertTrue(all(j["deliveries"] == 2 for j in again), again)
            for n, j in enumerate(again):
                answer = await settle(b, "ack", j["handle"], 100 + n)
                self.assertEqual(answer["op"], "settled", answer)
            info = queue_info(self.port)
            self.assertEqual((info["pending"], info["acked"], info["redelivered"]), (0, 10, 10))
            await b.close()
        run(main())

    def test_a_stuck_workers_jobs_are_redelivered_after_ack_wait_and_its_acks_are_stale(self):
        async def main():
            stuck = await join(self.url)
            self.assertEqual(publish(self.port, "jobs.x", "slow")[0], 200)
            first = (await jobs(stuck, 1))[0]
            other = await join(self.url)
            t0 = time.monotonic()
            second = (await jobs(other, 1, timeout=5))[0]
            self.assertGreaterEqual(time.monotonic() - t0, 0.4)  # not before ack_wait (700 ms)
            self.assertEqual(second["deliveries"], 2)
            late = await settle(stuck, "ack", first["handle"], 7)
            self.assertEqual((late["op"], late["code"]), ("error", "stale_handle"), late)
            self.assertEqual((await settle(other, "ack", second["handle"], 8))["op"], "settled")
            await stuck.close()
            await other.close()
        run(main())

    def test_progress_prevents_redelivery_and_nack_delay_is_honoured(self):
        async def main():
            w = await join(self.url)
            self.assertEqual(publish(self.port, "jobs.p", "long")[0], 200)
            job = (await jobs(w, 1))[0]
            # Three ack_waits with "in progress" every 300 ms: never redelivered.
            for n in range(7):
                await asyncio.sleep(0.3)
                self.assertEqual((await settle(w, "progress", job["handle"], n))["op"], "settled")
            self.assertEqual(queue_info(self.port)["expired"], 0)
            t0 = time.monotonic()
            self.assertEqual((await settle(w, "nack", job["handle"], 50, delay_ms=500))["op"],
                             "settled")
            again = (await jobs(w, 1, timeout=5))[0]
            self.assertGreaterEqual(time.monotonic() - t0, 0.5)
            self.assertEqual(again["deliveries"], 2)
            await settle(w, "ack", again["handle"], 51)
            await w.close()
        run(main())

    def test_past_max_deliver_jobs_go_to_the_dead_letters_with_headers(self):
        async def main():
            dead = await websockets.connect(self.url, open_timeout=5)
            await dead.send(json.dumps({"op": "sub", "id": 1, "topic": "dead.work"}))
            await recv_until(dead, lambda m: m.get("op") == "subscribed")
            w = await join(self.url)
            status, ack = publish(self.port, "jobs.poison", "bad", {"Herald-Trace": "t-1"})
            self.assertEqual(status, 200)
            for n in range(3):
                job = (await jobs(w, 1))[0]
                self.assertEqual(job["deliveries"], n + 1)
                await settle(w, "nack", job["handle"], 10 + n, delay_ms=0)
            m = await recv_until(dead, lambda m: m.get("op") == "msg", 5)
            self.assertEqual(m["payload"], "bad")
            h = m["headers"]
            self.assertEqual(h["Trace"], "t-1")
            self.assertEqual(h["Herald-Dead-Reason"], "max_deliver")
            self.assertEqual(h["Herald-Deliveries"], "3")
            self.assertEqual(h["Herald-Queue"], "work")
            self.assertEqual(h["Herald-Original-Topic"], "jobs.poison")
            self.assertEqual(h["Herald-Original-Position"], f"{ack['epoch']}:{ack['offset']}")
            # term: at once, whatever the count.
            publish(self.port, "jobs.term", "stop")
            job = (await jobs(w, 1))[0]
            await settle(w, "term", job["handle"], 20)
            m = await recv_until(dead, lambda m: m.get("op") == "msg", 5)
            self.assertEqual(m["headers"]["Herald-Dead-Reason"], "term")
            info = queue_info(self.port)
            self.assertEqual((info["dead_lettered"], info["termed"], info["pending"]), (2, 1, 0))
            await w.close()
            await dead.close()
        run(main())

    def test_bad_settlements_get_a_clear_error_and_the_connection_stays(self):
        async def main():
            a = await join(self.url)
            b = await join(self.url)
            publish(self.port, "jobs.1", "x")
            got = None
            for ws in (a, b):
                try:
                    got = (ws, (await jobs(ws, 1, timeout=1))[0])
                    break
                except asyncio.TimeoutError:
                    continue
            self.assertIsNotNone(got)
            holder, job = got
            foreign = b if holder is a else a
            cases = [
                (foreign, {"op": "ack", "handle": job["handle"]}, "unknown_handle"),
                (holder, {"op": "ack", "handle": "work/99/1/0000000000000001"}, "unknown_handle"),
                (holder, {"op": "ack", "handle": "garbage"}, "unknown_handle"),
                (holder, {"op": "ack", "handle": "other/1/1/0000000000000001"}, "unknown_handle"),
                (holder, {"op": "nack", "handle": job["handle"], "delay_ms": -5},
                 "invalid_argument"),
                (holder, {"op": "ack"}, "invalid_argument"),
                (holder, {"op": "join", "queue": "nope"}, "not_found"),
                (holder, {"op": "leave", "queue": "nope"}, "not_found"),
            ]
            for n, (ws, cmd, code) in enumerate(cases):
                cmd["id"] = 200 + n
                await ws.send(json.dumps(cmd))
                answer = await recv_until(ws, lambda m: m.get("id") == 200 + n)
                self.assertEqual((answer["op"], answer["code"]), ("error", code), (cmd, answer))
                self.assertTrue(answer["message"])
            # Both connections still work, and the job is still the holder's.
            self.assertEqual((await settle(holder, "ack", job["handle"], 300))["op"], "settled")
            await foreign.send(json.dumps({"op": "ping", "id": 301}))
            self.assertEqual((await recv_until(foreign, lambda m: m.get("id") == 301))["op"],
                             "pong")
            await a.close()
            await b.close()
        run(main())

    def test_a_member_joined_with_batch_gets_jobs_frames_and_settles_each_job(self):
        # Its own queue, with an ack_wait no slow machine reaches.
        definition = {"pattern": "batched.>", "ack_wait_ms": 60000}
        resp, body = http_call(self.port, "PUT", "/queues/batched", json.dumps(definition).encode())
        self.assertEqual(resp.status, 200, body)

        async def main():
            for i in range(12):
                self.assertEqual(publish(self.port, "batched.build", f"job-{i}")[0], 200)
            ws = await websockets.connect(self.url, open_timeout=5)
            await ws.send(json.dumps({"op": "join", "id": 1, "queue": "batched",
                                      "max_in_flight": 20, "batch": 5}))
            self.assertEqual((await recv_json(ws))["op"], "joined")

            async def take(n):
                frames, got = [], []
                while len(got) < n:
                    m = await recv_until(ws, lambda m: m.get("op") in ("job", "jobs"))
                    self.assertEqual((m["op"], m["queue"]), ("jobs", "batched"), m)
                    self.assertTrue(all(j["op"] == "job" and j["queue"] == "batched"
                                        for j in m["jobs"]), m)
                    frames.append(len(m["jobs"]))
                    got += m["jobs"]
                return frames, got

            # The 12 waiting are offered at the join: full frames of 5, then the rest.
            frames, got = await take(12)
            self.assertEqual(frames, [5, 5, 2])
            # Jobs published one by one later come as they are ready.
            for i in range(12, 15):
                self.assertEqual(publish(self.port, "batched.build", f"job-{i}")[0], 200)
            more_frames, more = await take(3)
            self.assertTrue(all(1 <= n <= 5 for n in more_frames), more_frames)
            got += more
            self.assertEqual([j["payload"] for j in got], [f"job-{i}" for i in range(15)])
            for j in got:  # each job of a batch is settled by its own handle
                await ws.send(json.dumps({"op": "ack", "handle": j["handle"]}))
            await ws.send(json.dumps({"op": "leave", "id": 2, "queue": "batched"}))
            self.assertEqual((await recv_until(ws, lambda m: m.get("id") == 2))["op"], "left")
            info = queue_info(self.port, "batched")
            self.assertEqual((info["pending"], info["in_flight"], info["acked"]), (0, 0, 15), info)
            await ws.close()
        run(main())

WORKER = textwrap.dedent("""
    import asyncio, json, sys, websockets
    async def main(url, n):
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "join", "id": 1, "queue": "work"}))
            got = 0
            while got < n:
                m = json.loads(await ws.recv())
                if m.get("op") == "job":
                    got += 1
            print("holding", got, flush=True)
            await asyncio.sleep(3600)
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


class WorkQueueLedger(unittest.TestCase):
    def test_a_killed_worker_loses_no_job_and_each_is_acked_once(self):
        with Heraldd(config=QUEUE_CONFIG) as server:
            url = f"ws://127.0.0.1:{server.port}/ws"
            victim = subprocess.Popen([sys.executable, "-c", WORKER, url, "10"],
                                      stdout=subprocess.PIPE, text=True)
            try:
                wait_until(lambda: queue_info(server.port)["members"] == 1, 10)
                for i in range(40):
                    self.assertEqual(publish(server.port, "jobs.l", f"job-{i}")[0], 200)
                self.assertEqual(victim.stdout.readline().strip(), "holding 10")

                async def main():
                    workers = [await join(url, max_in_flight=5) for _ in range(3)]
                    processed = []  # every job a worker was handed
                    acked = {}  # payload -> acknowledgements the server confirmed
                    payload_of = {}

                    async def work(ws):
                        while True:
                            try:
                                m = await recv_json(ws, 4)
                            except asyncio.TimeoutError:
                                return
                            if m.get("op") == "job":
                                processed.append(m["payload"])
                                payload_of[m["handle"]] = m["payload"]
                                await ws.send(json.dumps({"op": "ack", "id": m["handle"],
                                                          "handle": m["handle"]}))
                            elif m.get("op") == "settled":
                                p = payload_of[m["id"]]
                                acked[p] = acked.get(p, 0) + 1
                            else:
                                raise AssertionError(m)

                    tasks = [asyncio.ensure_future(work(ws)) for ws in workers]
                    await asyncio.sleep(0.5)
                    victim.send_signal(signal.SIGKILL)  # kill -9 with 10 jobs held
                    victim.wait()
                    await asyncio.gather(*tasks)
                    for ws in workers:
                        await ws.close()
                    return processed, acked

                processed, acked = run(main(), timeout=60)
            finally:
                if victim.poll() is None:
                    victim.kill()
                    victim.wait()
                victim.stdout.close()
            info = queue_info(server.port)
            # Every job processed at least once; each acknowledged once (the
            # queue's count), none left.
            everything = {f"job-{i}" for i in range(40)}
            self.assertEqual(set(processed), everything)
            self.assertEqual(acked, {p: 1 for p in everything})
            self.assertEqual((info["acked"], info["pending"], info["enqueued"]), (40, 0, 40))
            self.assertGreaterEqual(info["redelivered"], 10)


class Kill9Ledger:
    """kill -9 of heraldd in the middle of 5,000 jobs and 4 workers, then a
    restart on the same store: no job is lost, and no acknowledged job comes
    back but those whose acknowledgement was on its way to the store at the
    crash (counted and printed). A subclass names the store: `store_args()`
    (heraldd's arguments) and `store_config` (config lines)."""

    JOBS = 5000
    store_config = ""

    def test_no_job_is_lost_across_a_kill_9(self):
        import http.client
        config = QUEUE_CONFIG.replace("ack_wait_ms = 700", "ack_wait_ms = 3000").replace(
            "max_deliver = 3", "max_deliver = 0") + self.store_config
        published = set()  # jobs whose publish was acknowledged
        processed = {}  # job -> deliveries handed to a worker
        acks_sent = set()  # jobs a worker sent an ack for
        confirmed = {}  # job -> acknowledgements the server confirmed
        sent_before_crash = set()
        confirmed_before_crash = set()
        servers = []  # every heraldd started here: stopped whatever happens
        try:
            def start():
                servers.append(Heraldd(*self.store_args(), config=config).__enter__())
                return servers[-1]

            def publish_all(port):
                """Publishes what is not acknowledged yet, with its msg id (a
                retry of one stored before the crash is a duplicate)."""
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    for i in range(self.JOBS):
                        job = f"job-{i}"
                        if job in published:
                            continue
                        conn.request("POST", "/publish/jobs.k", job.encode(),
                                     {"Herald-Msg-Id": job})
                        resp = conn.getresponse()
                        resp.read()
                        if resp.status != 200:
                            return
                        published.add(job)
                except (OSError, http.client.HTTPException):
                    return
                finally:
                    conn.close()

            async def work(url, stop_when):
                ws = await join(url, max_in_flight=50)
                handles = {}
                try:
                    while not stop_when():
                        try:
                            m = await recv_json(ws, 1)
                        except asyncio.TimeoutError:
                            continue
                        if m.get("op") == "job":
                            processed[m["payload"]] = processed.get(m["payload"], 0) + 1
                            handles[m["handle"]] = m["payload"]
                            await ws.send(json.dumps({"op": "ack", "id": m["handle"],
                                                      "handle": m["handle"]}))
                            acks_sent.add(m["payload"])
                        elif m.get("op") == "settled":
                            p = handles.pop(m["id"])
                            confirmed[p] = confirmed.get(p, 0) + 1
                except (websockets.ConnectionClosed, OSError):
                    pass
                finally:
                    await ws.close()

            server = start()
            url = f"ws://127.0.0.1:{server.port}/ws"
            import threading
            publisher = threading.Thread(target=publish_all, args=(server.port,))
            publisher.start()

            async def first_run():
                crash_at = self.JOBS // 3
                tasks = [asyncio.ensure_future(work(url, lambda: False)) for _ in range(4)]
                while sum(confirmed.values()) < crash_at:
                    await asyncio.sleep(0.01)
                server.proc.send_signal(signal.SIGKILL)  # kill -9, mid-stream
                sent_before_crash.update(acks_sent)
                confirmed_before_crash.update(confirmed)
                server.proc.wait()
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
            run(first_run(), timeout=120)
            publisher.join(30)
            server.__exit__(None, None, None)
            self.assertLess(len(published), self.JOBS, "the crash came after every publish")

            server = start()  # the same directory
            url = f"ws://127.0.0.1:{server.port}/ws"
            publish_all(server.port)
            self.assertEqual(len(published), self.JOBS)

            async def second_run():
                # Until every job had an ack sent (one sent just before the
                # crash may or may not have reached the disk: if not, the job
                # comes again) and the queue is empty.
                done = lambda: (acks_sent >= published  # noqa: E731
                                and queue_info(server.port)["pending"] == 0)
                tasks = [asyncio.ensure_future(work(url, done)) for _ in range(4)]
                try:
                    await asyncio.wait_for(asyncio.gather(*tasks), 90)
                except asyncio.TimeoutError:
                    missing = sorted(published - acks_sent)[:20]
                    self.fail(f"not acknowledged after the restart: {missing} "
                              f"(processed: {[processed.get(j) for j in missing]}); "
                              f"queue: {queue_info(server.port)}")
            run(second_run(), timeout=120)
            self.assertTrue(wait_until(lambda: queue_info(server.port)["pending"] == 0, 10),
                            queue_info(server.port))
            info = queue_info(server.port)
        finally:
            for s in servers:
                s.stop()
        # The ledger: nothing published was lost, nothing unknown appeared,
        # every job acknowledged.
        self.assertEqual(set(processed), published)
        self.assertEqual(acks_sent, published)
        self.assertEqual(info["pending"], 0)
        # Acknowledged, then delivered again: only jobs whose ack was on its
        # way at the crash (sent; confirmed or not). A job acknowledged after
        # the restart never comes back.
        redone = sorted(j for j in sent_before_crash if processed[j] > 1)
        twice = sorted(j for j, n in processed.items() if n > 1 and j in confirmed_before_crash)
        after = sorted(j for j, n in confirmed.items() if n > 1 and j not in sent_before_crash)
        self.assertEqual(after, [], "a job acknowledged after the restart came back")
        print(f"\n  kill -9 ledger ({type(self).__name__}): {len(published)} jobs published, "
              f"{len(confirmed_before_crash)} acknowledgements confirmed before the crash, "
              f"{len(twice)} of those delivered again (acks in flight at the crash), "
              f"{len(sent_before_crash) - len(confirmed_before_crash)} acks sent unconfirmed; "
              f"{len(redone)} jobs acknowledged before the crash delivered again; "
              f"{sum(processed.values()) - len(published)} redeliveries in all; "
              f"queue after: enqueued {info['enqueued']}, acked {info['acked']}", flush=True)
        self.assertLessEqual(len(redone), 4 * 50 + 200)


class WorkQueueKill9OnDisk(Kill9Ledger, unittest.TestCase):
    def setUp(self):
        import shutil
        import tempfile
        self.data = tempfile.mkdtemp(prefix="herald-queue-")
        self.addCleanup(shutil.rmtree, self.data, ignore_errors=True)

    def store_args(self):
        return ("--data-dir", self.data)


class WorkQueueKill9OnRedis(Kill9Ledger, unittest.TestCase):
    """The same on the Redis store (a redis-server that fsyncs each write,
    as [store] redis requires by default), which outlives heraldd."""

    def setUp(self):
        self.redis = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
        self.addCleanup(self.redis.close)
        self.store_config = (f'[store]\nkind = "redis"\nredis_port = {self.redis.port}\n'
                             'redis_connect_timeout_ms = 500\n')

    def store_args(self):
        return ()


class WorkQueueOverHttp(unittest.TestCase):
    def test_pull_waits_for_a_job_and_settles_by_handle(self):
        with Heraldd(config=QUEUE_CONFIG) as server:
            port = server.port
            import threading
            result = {}

            def pull():
                resp, body = http_call(port, "POST", "/queues/work/pull?max=5&wait_ms=3000")
                result["pull"] = (resp.status, json.loads(body))

            t = threading.Thread(target=pull)
            t.start()
            time.sleep(0.3)
            self.assertEqual(publish(port, "jobs.h", "via-http")[0], 200)
            t.join(10)
            status, body = result["pull"]
            self.assertEqual(status, 200, body)
            self.assertEqual([j["payload"] for j in body["jobs"]], ["via-http"])
            handle = body["jobs"][0]["handle"]
            resp, data = http_call(port, "POST", "/queues/work/ack",
                                   json.dumps({"handles": [handle, "work/1/9/00"]}).encode())
            self.assertEqual(resp.status, 200, data)
            results = json.loads(data)["results"]
            self.assertEqual(results[0], {"handle": handle, "ok": True})
            self.assertEqual(results[1]["code"], "unknown_handle")
            # Nothing there and no wait: an empty batch at once.
            resp, data = http_call(port, "POST", "/queues/work/pull?max=5")
            self.assertEqual((resp.status, json.loads(data)["jobs"]), (200, []))
            for bad in ("/queues/work/pull?max=0", "/queues/work/pull?wait_ms=-1",
                        "/queues/work/pull?wait_ms=999999999"):
                resp, data = http_call(port, "POST", bad)
                self.assertEqual(resp.status, 400, (bad, data))
            resp, data = http_call(port, "POST", "/queues/work/nack",
                                   json.dumps({"handles": [handle], "delay_ms": -1}).encode())
            self.assertEqual(json.loads(data)["results"][0]["code"], "invalid_argument")

    def test_queues_are_created_inspected_and_deleted_over_http(self):
        with Heraldd() as server:
            port = server.port
            definition = {"pattern": "orders.>", "ack_wait_ms": 1000, "max_deliver": 2,
                          "backoff_ms": [100, 200], "dead_letter": "orders-dead"}
            resp, data = http_call(port, "PUT", "/queues/orders", json.dumps(definition).encode())
            self.assertEqual(resp.status, 200, data)
            info = json.loads(data)
            self.assertEqual((info["name"], info["backoff_ms"], info["pending"]),
                             ("orders", [100, 200], 0))
            # Same definition again: fine; another one: refused.
            self.assertEqual(http_call(port, "PUT", "/queues/orders",
                                       json.dumps(definition).encode())[0].status, 200)
            definition["max_deliver"] = 9
            resp, data = http_call(port, "PUT", "/queues/orders", json.dumps(definition).encode())
            self.assertEqual(resp.status, 400, data)
            for bad in ({"pattern": "orders.>", "dead_letter": "orders.dead"},
                        {"pattern": "a..b"}, {"pattern": "x", "nope": 1}, {}):
                resp, data = http_call(port, "PUT", "/queues/bad", json.dumps(bad).encode())
                self.assertEqual(resp.status, 400, (bad, data))
            self.assertEqual(publish(port, "orders.1", "o")[0], 200)
            resp, data = http_call(port, "GET", "/queues")
            listed = json.loads(data)["queues"]
            self.assertEqual([(q["name"], q["pending"]) for q in listed], [("orders", 1)])
            resp, metrics = http_call(port, "GET", "/metrics")
            self.assertIn(b'herald_queue_pending{queue="orders"} 1', metrics)
            self.assertIn(b'herald_queue_enqueued_total{queue="orders"} 1', metrics)
            self.assertIn(b"herald_queues 1", metrics)
            self.assertEqual(http_call(port, "DELETE", "/queues/orders")[0].status, 204)
            self.assertEqual(http_call(port, "DELETE", "/queues/orders")[0].status, 404)
            self.assertEqual(http_call(port, "GET", "/queues/orders")[0].status, 404)

    def test_a_full_queue_refuses_the_publish(self):
        config = QUEUE_CONFIG + "max_pending = 3\n"
        with Heraldd(config=config) as server:
            for i in range(3):
                self.assertEqual(publish(server.port, "jobs.f", str(i))[0], 200)
            resp, body = http_call(server.port, "POST", "/publish/jobs.f", b"4")
            self.assertEqual(resp.status, 503, body)
            err = json.loads(body)
            self.assertEqual(err["error"], "resource_exhausted")
            self.assertIn("'work'", err["message"])
            self.assertEqual(publish(server.port, "other.f", "fine")[0], 200)  # other topics go on
            resp, metrics = http_call(server.port, "GET", "/metrics")
            self.assertIn(b'herald_queue_refused_total{queue="work"} 1', metrics)

    def test_max_queues_and_bad_config_are_refused(self):
        with Heraldd(config="[limits]\nmax_queues = 1\n") as server:
            body = json.dumps({"pattern": "a.>"}).encode()
            self.assertEqual(http_call(server.port, "PUT", "/queues/a", body)[0].status, 200)
            resp, data = http_call(server.port, "PUT", "/queues/b", body)
            self.assertEqual(resp.status, 503, data)
            self.assertIn("max_queues", json.loads(data)["message"])
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write('[[queues]]\nname = "q"\npattern = "a.>"\ndead_letter = "a.dead"\n')
            f.flush()
            r = run_heraldd("--config", f.name, "--listen", "127.0.0.1:0")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("matches the queue's own pattern", r.stderr)


class WorkQueueStartPosition(unittest.TestCase):
    """A queue created with a start reads its topics' history first: over
    HTTP with "first" on the disk store (a restart puts the history on
    disk), over gRPC with a time, and from the config."""

    def test_a_queue_created_with_start_first_gets_the_history_then_new_messages(self):
        import shutil
        import tempfile
        data = tempfile.mkdtemp(prefix="herald-start-")
        self.addCleanup(shutil.rmtree, data, ignore_errors=True)
        with Heraldd("--data-dir", data) as server:
            for i in range(30):
                self.assertEqual(publish(server.port, "jobs.a", f"old-{i}")[0], 200)
        with Heraldd("--data-dir", data) as server:
            port = server.port
            definition = {"pattern": "jobs.>", "start": "first", "ack_wait_ms": 30000}
            resp, data_ = http_call(port, "PUT", "/queues/replay", json.dumps(definition).encode())
            self.assertEqual(resp.status, 200, data_)
            self.assertEqual(json.loads(data_)["start"], "first")
            self.assertEqual(publish(port, "jobs.a", "new")[0], 200)

            async def main():
                ws = await join(f"ws://127.0.0.1:{port}/ws", queue="replay")
                got = await jobs(ws, 31)
                for n, j in enumerate(got):
                    answer = await settle(ws, "ack", j["handle"], 100 + n)
                    self.assertEqual(answer["op"], "settled", answer)
                await ws.close()
                return [j["payload"] for j in got]
            payloads = run(main())
            self.assertEqual(sorted(payloads), sorted([f"old-{i}" for i in range(30)] + ["new"]))
            self.assertTrue(wait_until(lambda: not queue_info(port, "replay")["backfilling"], 5))
            info = queue_info(port, "replay")
            self.assertEqual((info["backfilled"], info["enqueued"], info["acked"]), (30, 31, 31))
            resp, metrics = http_call(port, "GET", "/metrics")
            self.assertIn(b'herald_queue_backfilled_total{queue="replay"} 30', metrics)
            for bad in ("last", "2026-12-05", 5):
                body = json.dumps({"pattern": "x.>", "start": bad}).encode()
                resp, data_ = http_call(port, "PUT", "/queues/bad", body)
                self.assertEqual(resp.status, 400, (bad, data_))
                self.assertIn("RFC 3339", json.loads(data_)["message"])

    def test_a_kill_9_during_the_reading_reads_on_from_where_it_stood(self):
        """Where the reading stands is written with the queue's definition
        before the jobs it made can be settled: after a kill -9 it reads on
        from there, and no job acknowledged before the crash comes again."""
        import shutil
        import tempfile
        data = tempfile.mkdtemp(prefix="herald-start-")
        self.addCleanup(shutil.rmtree, data, ignore_errors=True)
        definition = {"pattern": "jobs.>", "start": "first", "ack_wait_ms": 30000,
                      "max_pending": 10}
        with Heraldd("--data-dir", data) as server:
            port = server.port
            for i in range(100):
                self.assertEqual(publish(port, "jobs.a", f"job-{i}")[0], 200)
            resp, data_ = http_call(port, "PUT", "/queues/replay", json.dumps(definition).encode())
            self.assertEqual(resp.status, 200, data_)

            async def first_run():
                # 30 acknowledged, then 5 held: the reading takes half of
                # max_pending and waits for room.
                ws = await join(f"ws://127.0.0.1:{port}/ws", queue="replay")
                got = []
                while len(got) < 30:
                    j = (await jobs(ws, 1))[0]
                    got.append(j)
                    self.assertEqual((await settle(ws, "ack", j["handle"], len(got)))["op"],
                                     "settled")
                held = await jobs(ws, 5)
                # The acks reach the disk (the next group commit); an ack
                # still on its way at a crash may be redone, as documented.
                await asyncio.sleep(0.3)
                server.proc.send_signal(signal.SIGKILL)
                server.proc.wait()
                await ws.close()
                return [j["payload"] for j in got], [j["payload"] for j in held]
            acked, held = run(first_run())
        self.assertEqual(acked, [f"job-{i}" for i in range(30)])
        self.assertEqual(held, [f"job-{i}" for i in range(30, 35)])
        with Heraldd("--data-dir", data) as server:
            port = server.port
            info = queue_info(port, "replay")
            self.assertEqual((info["pending"], info["backfilling"]), (5, True))

            async def second_run():
                ws = await join(f"ws://127.0.0.1:{port}/ws", queue="replay")
                got = []
                while len(got) < 70:  # 5 held before the crash, 65 not read yet
                    j = (await jobs(ws, 1))[0]
                    got.append(j)
                    self.assertEqual((await settle(ws, "ack", j["handle"], len(got)))["op"],
                                     "settled")
                with self.assertRaises(asyncio.TimeoutError):
                    await recv_until(ws, lambda m: m.get("op") == "job", 0.5)
                await ws.close()
                return got
            got = run(second_run())
            self.assertEqual(sorted(j["payload"] for j in got),
                             sorted(f"job-{i}" for i in range(30, 100)))
            self.assertEqual(sorted(j["payload"] for j in got if j["deliveries"] == 2), held)
            self.assertTrue(wait_until(lambda: not queue_info(port, "replay")["backfilling"], 5))
            self.assertEqual(queue_info(port, "replay")["pending"], 0)

    def test_a_start_time_over_grpc_and_from_the_config(self):
        config = QUEUE_CONFIG + 'start = "first"\n'
        with Heraldd("--grpc-listen", "127.0.0.1:0", config=config) as server:
            for i in range(5):
                self.assertEqual(publish(server.port, "mail.x", f"before-{i}")[0], 200)
            time.sleep(0.05)
            since = time.time()
            time.sleep(0.05)
            for i in range(3):
                self.assertEqual(publish(server.port, "mail.x", f"since-{i}")[0], 200)
            start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)) + \
                "." + f"{int((since % 1) * 1e6):06d}" + "Z"
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                stub = pb_grpc.BrokerStub(channel)
                created = stub.CreateQueue(pb.QueueDefinition(name="mail", pattern="mail.>",
                                                              start=start))
                self.assertEqual(created.definition.start, start)
                # A waiting pull is answered by the first job: pull until 3.
                got = []
                while len(got) < 3:
                    more = stub.Pull(pb.PullRequest(queue="mail", max=10, wait_ms=2000)).jobs
                    self.assertTrue(more)
                    got.extend(more)
                self.assertEqual(sorted(j.message.payload for j in got),
                                 [b"since-0", b"since-1", b"since-2"])
                self.assertTrue(wait_until(
                    lambda: not stub.GetQueue(pb.QueueRef(name="mail")).backfilling, 5))
                self.assertEqual(stub.GetQueue(pb.QueueRef(name="mail")).backfilled, 3)
                with self.assertRaises(grpc.RpcError) as err:
                    stub.CreateQueue(pb.QueueDefinition(name="bad", pattern="b.>", start="soon"))
                self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn("RFC 3339", err.exception.details())
            # The config's queue was created at start, before any message.
            self.assertEqual(queue_info(server.port)["start"], "first")
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write('[[queues]]\nname = "q"\npattern = "a.>"\nstart = "yesterday"\n')
            f.flush()
            r = run_heraldd("--config", f.name, "--listen", "127.0.0.1:0")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("start", r.stderr)
            self.assertIn("RFC 3339", r.stderr)


class WorkQueueOverGrpc(unittest.TestCase):
    def test_a_connect_member_gets_jobs_and_settles_them_and_a_batch_worker_pulls(self):
        import queue as pyqueue
        # A long ack_wait: on a slow machine a 700 ms one can expire between
        # the delivery and the settlement, and the test is not about expiry.
        config = QUEUE_CONFIG.replace("ack_wait_ms = 700", "ack_wait_ms = 30000")
        with Heraldd("--grpc-listen", "127.0.0.1:0", config=config) as server:
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                stub = pb_grpc.BrokerStub(channel)
                commands = pyqueue.Queue()
                events = stub.Connect(iter(commands.get, None))  # None ends the stream
                commands.put(pb.ClientCommand(id=1, join_queue=pb.JoinQueue(queue="work")))
                self.assertEqual(next(events).joined.queue, "work")
                for i in range(3):
                    publish(server.port, "jobs.g", f"g-{i}")
                jobs = []
                while len(jobs) < 3:
                    e = next(events)
                    if e.WhichOneof("event") == "job":
                        jobs.append(e.job)
                self.assertEqual(sorted(j.message.payload for j in jobs), [b"g-0", b"g-1", b"g-2"])
                self.assertTrue(all(j.deliveries == 1 and j.queue == "work" for j in jobs))
                commands.put(pb.ClientCommand(id=2, settle=pb.Settle(kind=pb.ACK,
                                                                     handle=jobs[0].handle)))
                e = next(events)
                self.assertEqual((e.id, e.settled.queue), (2, "work"))
                commands.put(pb.ClientCommand(id=3, settle=pb.Settle(
                    kind=pb.NACK, handle=jobs[1].handle, delay=pb.Delay(ms=0))))
                # The redelivery the nack causes and the nack's answer travel
                # different paths (delivery thread, command reply): either may
                # come first on the stream, so take both in any order.
                first, second = next(events), next(events)
                kinds = sorted([first.WhichOneof("event"), second.WhichOneof("event")])
                self.assertEqual(kinds, ["job", "settled"])
                settled, again = (first, second) if first.HasField("settled") else (second, first)
                self.assertEqual((settled.id, settled.settled.queue), (3, "work"))
                self.assertEqual((again.job.message.payload, again.job.deliveries), (b"g-1", 2))
                commands.put(pb.ClientCommand(id=4, settle=pb.Settle(kind=pb.ACK,
                                                                     handle=jobs[1].handle)))
                e = next(events)
                self.assertEqual((e.id, e.error.reason), (4, "stale_handle"))
                commands.put(pb.ClientCommand(id=5, settle=pb.Settle(handle=jobs[2].handle)))
                e = next(events)
                self.assertEqual((e.id, e.error.reason), (5, "invalid_argument"))  # no kind
                commands.put(pb.ClientCommand(id=6, leave_queue=pb.LeaveQueue(queue="work")))
                self.assertEqual(next(events).left.queue, "work")
                commands.put(None)
                events.cancel()

                # A batch worker: Pull (a long poll) and SettlePulled.
                state = stub.GetQueue(pb.QueueRef(name="work"))
                self.assertEqual(state.pending, 2)  # g-1 and g-2, given back by the leave
                got = stub.Pull(pb.PullRequest(queue="work", max=10, wait_ms=1000))
                self.assertEqual(sorted(j.message.payload for j in got.jobs), [b"g-1", b"g-2"])
                answer = stub.SettlePulled(pb.SettlePulledRequest(
                    kind=pb.ACK, handles=[j.handle for j in got.jobs] + ["work/1/1/00"]))
                self.assertEqual([r.ok for r in answer.results], [True, True, False])
                self.assertEqual(answer.results[2].reason, "unknown_handle")
                empty = stub.Pull(pb.PullRequest(queue="work", max=1))
                self.assertEqual(len(empty.jobs), 0)
                with self.assertRaises(grpc.RpcError) as err:
                    stub.Pull(pb.PullRequest(queue="nope"))
                self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)
                # A pull whose caller gives up is withdrawn: it takes no job.
                with self.assertRaises(grpc.RpcError) as err:
                    stub.Pull(pb.PullRequest(queue="work", max=1, wait_ms=30000), timeout=0.3)
                self.assertEqual(err.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
                self.assertTrue(wait_until(
                    lambda: stub.GetQueue(pb.QueueRef(name="work")).waiting_pulls == 0, 5))
                publish(server.port, "jobs.g", "after")
                got = stub.Pull(pb.PullRequest(queue="work", max=1, wait_ms=1000))
                self.assertEqual([j.message.payload for j in got.jobs], [b"after"])
                self.assertEqual(got.jobs[0].deliveries, 1)

                # Management.
                created = stub.CreateQueue(pb.QueueDefinition(name="mail", pattern="mail.>",
                                                              max_deliver=-1, backoff_ms=[5, 10]))
                self.assertEqual((created.definition.max_deliver,
                                  list(created.definition.backoff_ms)), (-1, [5, 10]))
                names = [q.definition.name for q in stub.ListQueues(pb.ListQueuesRequest()).queues]
                self.assertEqual(names, ["mail", "work"])
                with self.assertRaises(grpc.RpcError) as err:
                    stub.CreateQueue(pb.QueueDefinition(name="bad", pattern="a..b"))
                self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                stub.DeleteQueue(pb.QueueRef(name="mail"))
                with self.assertRaises(grpc.RpcError) as err:
                    stub.GetQueue(pb.QueueRef(name="mail"))
                self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)


class WorkQueueMemberByteBound(unittest.TestCase):
    """A member that stops reading holds no more unsettled jobs than its
    connection's outbound budget; the other members get the rest."""
    BUDGET = 262144
    JOB = 32 * 1024
    JOBS = 60
    CONFIG = QUEUE_CONFIG.replace("ack_wait_ms = 700", "ack_wait_ms = 30000") + f"""
[websocket]
max_outbound_bytes = {BUDGET}
[grpc]
max_outbound_bytes = {BUDGET}
"""

    def most_held(self):
        # A job's wire size is its payload plus a frame's fields, so the
        # budget holds fewer than BUDGET / JOB of them; one more at most.
        return self.BUDGET // self.JOB

    async def healthy_takes_the_rest(self, port, url):
        healthy = await join(url)
        for i in range(self.JOBS):
            self.assertEqual(publish(port, "jobs.big", f"{i:04d}" + "x" * (self.JOB - 4))[0], 200)
        got = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                j = (await jobs(healthy, 1, timeout=1))[0]
            except asyncio.TimeoutError:
                # Nothing more for a second: done once every job is out.
                info = queue_info(port)
                if info["pending"] == info["in_flight"] and info["acked"] == len(got):
                    break
                continue
            got.add(j["payload"][:4])
            await healthy.send(json.dumps({"op": "ack", "handle": j["handle"]}))
        info = queue_info(port)
        held = info["in_flight"]  # all the stalled member's: the healthy one acked all it got
        self.assertEqual(info["acked"], len(got), info)
        self.assertEqual(len(got) + held, self.JOBS, info)
        self.assertGreaterEqual(held, 1)
        self.assertLessEqual(held, self.most_held(), info)
        # What the stalled connection holds is charged to its budget, shown.
        self.assertGreater(info["charged_bytes"], held * self.JOB, info)
        self.assertLessEqual(info["charged_bytes"], self.BUDGET, info)
        self.assertEqual(info["owed"], 0, info)
        self.assertEqual(metric(port, 'herald_queue_charged_bytes{queue="work"}'),
                         info["charged_bytes"])
        await healthy.close()

    def test_a_stalled_websocket_member_holds_at_most_its_budget(self):
        with Heraldd(config=self.CONFIG) as server:
            url = f"ws://127.0.0.1:{server.port}/ws"

            async def main():
                stalled = await join(url)  # joins, then never reads again
                await self.healthy_takes_the_rest(server.port, url)
                await stalled.close()
            run(main())

    def test_a_stalled_grpc_member_holds_at_most_its_budget(self):
        import queue as pyqueue
        with Heraldd("--grpc-listen", "127.0.0.1:0", config=self.CONFIG) as server:
            url = f"ws://127.0.0.1:{server.port}/ws"
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                stub = pb_grpc.BrokerStub(channel)
                commands = pyqueue.Queue()
                events = stub.Connect(iter(commands.get, None))
                commands.put(pb.ClientCommand(id=1, join_queue=pb.JoinQueue(queue="work")))
                self.assertEqual(next(events).joined.queue, "work")  # then never reads again
                run(self.healthy_takes_the_rest(server.port, url))
                commands.put(None)
                events.cancel()


SECRET = b"a-secret-of-at-least-32-bytes-long-0123456789"
AUTH_CONFIG = QUEUE_CONFIG + f"""
[auth]
anonymous = false
[[auth.keys]]
alg = "HS256"
secret = "{SECRET.decode()}"
"""


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(sub, **grants):
    header = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": sub, "exp": int(time.time()) + 600, "herald": grants}
    payload = b64u(json.dumps(claims).encode())
    sig = b64u(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


class WorkQueuePermissions(unittest.TestCase):
    def test_joining_needs_subscribe_and_managing_needs_a_queues_grant(self):
        with Heraldd(config=AUTH_CONFIG) as server:
            url = f"ws://127.0.0.1:{server.port}/ws"
            worker = token("worker", subscribe=["jobs.>"])
            outsider = token("outsider", subscribe=["other.>"])
            admin = token("admin", queues=["reports.>"], subscribe=["reports.>"],
                          publish=["reports-dead"])
            manager = token("manager", queues=["reports.>"])  # no subscribe on the pattern

            async def main():
                ws = await join(url, extra="?token=" + urllib.parse.quote(worker))
                await ws.close()
                ws = await websockets.connect(url + "?token=" + urllib.parse.quote(outsider))
                await ws.send(json.dumps({"op": "join", "id": 1, "queue": "work"}))
                answer = await recv_json(ws)
                self.assertEqual((answer["op"], answer["code"]), ("error", "permission_denied"))
                await ws.close()
            run(main())

            def call(method, path, tok, body=None):
                return http_call(server.port, method, path, body,
                                 {"Authorization": f"Bearer {tok}"})
            definition = json.dumps({"pattern": "reports.>"}).encode()
            self.assertEqual(call("PUT", "/queues/reports.daily", worker, definition)[0].status,
                             403)
            self.assertEqual(call("PUT", "/queues/reports.daily", manager, definition)[0].status,
                             403)  # it would take every message of a pattern it may not read
            with_dead = json.dumps({"pattern": "reports.>", "dead_letter": "billing.cmd"}).encode()
            self.assertEqual(call("PUT", "/queues/reports.x", admin, with_dead)[0].status,
                             403)  # dead letters to a topic it may not publish to
            self.assertEqual(call("PUT", "/queues/reports.daily", admin, definition)[0].status, 200)
            self.assertEqual(call("PUT", "/queues/jobs2", admin, definition)[0].status, 403)
            self.assertEqual(call("POST", "/queues/work/pull", outsider)[0].status, 403)
            self.assertEqual(call("POST", "/queues/work/pull", worker)[0].status, 200)
            resp, data = call("GET", "/queues", worker)
            self.assertEqual([q["name"] for q in json.loads(data)["queues"]], ["work"])
            self.assertEqual(call("DELETE", "/queues/reports.daily", worker)[0].status, 403)
            self.assertEqual(call("DELETE", "/queues/reports.daily", admin)[0].status, 204)


if __name__ == "__main__":
    unittest.main()
