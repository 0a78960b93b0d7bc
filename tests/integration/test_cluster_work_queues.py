"""Work queues on a cluster sharing one Redis ([store] kind = "redis" and the
same [[queues]] on every node): jobs stay in Redis, each node claims what
its own workers can take, and the death of a node loses no job.

Three heraldd nodes and one redis-server (append-only, fsync always). Two
WebSocket workers (Python `websockets`) per node join the queue and
acknowledge every job; an HTTP publisher sends JOBS jobs over 12 topics
(owned by every node) to every node, each with a msg id, retried (same id)
on another node when a publish fails. The workers of one node (n2) take
jobs and never acknowledge them; once a third of the jobs are
acknowledged, n2 is killed with SIGKILL while its workers hold 40 jobs
(their max_in_flight; on a slow machine ack_wait may pass before, and
what they held then comes back too).
A ledger then checks: every job published was processed and acknowledged
exactly once, jobs published on one node were processed on others, and
the jobs n2's workers held came back (after ack_wait) to the others.

Every process is stopped by PID; the test bounds itself in time.
"""
import asyncio
import http.client
import json
import signal
import threading
import time
import unittest

import websockets

from cluster_util import cluster_config, get_json, peer_address, start_node, stop_all, wait_mesh
from heraldd import http_call, run_heraldd
from probe_util import report
from redis_util import RedisServer
from test_store_redis import write_config
from test_work_queues import join
from ws_util import recv_json, run

JOBS = 3000
TOPICS = [f"jobs.{i}" for i in range(12)]
QUEUE = """
[[queues]]
name = "work"
pattern = "jobs.>"
ack_wait_ms = 2000
max_deliver = 0
"""


class WorkQueueOnClusterRedis(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
        self.addCleanup(self.redis.close)
        self.config = cluster_config(
            top=f'[store]\nkind = "redis"\nredis_port = {self.redis.port}\n'
            'redis_connect_timeout_ms = 500\n' + QUEUE)

    def test_a_killed_node_loses_no_job_and_workers_everywhere_share_the_queue(self):
        nodes = [start_node("n1", config=self.config)]
        try:
            nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
            nodes.append(start_node("n3", [peer_address(nodes[1])], config=self.config))
            wait_mesh(nodes)
            self.run_ledger(nodes)
        finally:
            stop_all(nodes)

    def test_queues_are_defined_at_start_on_every_node_not_through_the_api(self):
        nodes = [start_node("n1", config=self.config)]
        try:
            nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
            wait_mesh(nodes)
            other = '{"pattern": "jobs.>", "ack_wait_ms": 1000}'
            for method, path, body in [("PUT", "/queues/other", other.encode()),
                                       ("DELETE", "/queues/work", None)]:
                resp, answer = http_call(nodes[0].port, method, path, body)
                self.assertEqual(resp.status, 503, answer)
                self.assertIn(b"in a cluster", answer)
            self.assertEqual(get_json(nodes[1].port, "/queues/work")["name"], "work")
        finally:
            stop_all(nodes)

    def test_a_node_whose_queues_are_its_own_does_not_join(self):
        # In memory (no store): each node would hold its own jobs.
        r = run_heraldd("--node-id", "n1", "--listen", "127.0.0.1:0", "--cluster-listen",
                        "127.0.0.1:0", "--config", write_config(self, cluster_config(top=QUEUE)))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("which a cluster can serve only from the Redis store on one server",
                      r.stderr + r.stdout)

    def run_ledger(self, nodes):
        victim = 1  # n2
        ports = [n.port for n in nodes]
        published = {}  # job -> the node its publish was acknowledged by
        processed = {}  # job -> deliveries to workers
        processed_on = {}  # job -> nodes whose workers got it
        acked = {}  # job -> acknowledgements the server confirmed
        held_by_victim = set()  # jobs a worker of the victim held, unconfirmed, at its death
        stop_publishing = threading.Event()
        lock = threading.Lock()

        def publish_all():
            conns = {}
            try:
                publish_each(conns)
            finally:
                for conn in conns.values():
                    conn.close()

        def publish_each(conns):
            for i in range(JOBS):
                job = f"job-{i}"
                for attempt in range(200):
                    if stop_publishing.is_set():
                        return
                    k = (i + attempt) % len(ports)
                    if nodes[k].proc.poll() is not None:
                        continue
                    try:
                        conn = conns.get(k) or http.client.HTTPConnection(
                            "127.0.0.1", ports[k], timeout=5)
                        conns[k] = conn
                        conn.request("POST", f"/publish/{TOPICS[i % len(TOPICS)]}", job.encode(),
                                     {"Herald-Msg-Id": job})
                        resp = conn.getresponse()
                        resp.read()
                        if resp.status == 200:
                            with lock:
                                published[job] = k
                            break
                    except (OSError, http.client.HTTPException):
                        dropped = conns.pop(k, None)
                        if dropped:
                            dropped.close()
                    time.sleep(0.02)
                else:
                    raise AssertionError(f"{job} was never acknowledged")

        async def work(k, stop_when):
            url = f"ws://127.0.0.1:{ports[k]}/ws"
            ws = await join(url, max_in_flight=20)
            handles = {}
            try:
                while not stop_when():
                    try:
                        m = await recv_json(ws, 0.5)
                    except asyncio.TimeoutError:
                        continue
                    if m.get("op") == "job":
                        p = m["payload"]
                        processed[p] = processed.get(p, 0) + 1
                        processed_on.setdefault(p, set()).add(k)
                        handles[m["handle"]] = p
                        if k == victim:
                            continue  # held, never acknowledged: it dies with them
                        await ws.send(json.dumps({"op": "ack", "id": m["handle"],
                                                  "handle": m["handle"]}))
                    elif m.get("op") == "settled":
                        p = handles.pop(m["id"])
                        acked[p] = acked.get(p, 0) + 1
            except (websockets.ConnectionClosed, OSError):
                if k == victim:
                    held_by_victim.update(handles.values())
            finally:
                await ws.close()

        publisher = threading.Thread(target=publish_all)

        def everything_acked():
            with lock:
                done = len(published) == JOBS and all(j in acked for j in published)
            return done

        async def scenario():
            tasks = [asyncio.ensure_future(work(k, everything_acked))
                     for k in range(len(nodes)) for _ in range(2)]
            publisher.start()
            deadline = time.monotonic() + 60
            while len(acked) < JOBS // 3 or sum(
                    1 for on in processed_on.values() if victim in on) < 40:
                self.assertLess(time.monotonic(), deadline, f"only {len(acked)} acknowledged")
                await asyncio.sleep(0.01)
            nodes[victim].proc.send_signal(signal.SIGKILL)  # kill -9, mid-stream
            nodes[victim].proc.wait()
            killed_at = len(acked)
            try:
                await asyncio.wait_for(asyncio.gather(*tasks), 90)
            except asyncio.TimeoutError:
                missing = sorted(j for j in published if j not in acked)[:20]
                self.fail(f"not acknowledged: {missing}; processed: "
                          f"{[processed.get(j) for j in missing]}")
            return killed_at

        try:
            killed_at = run(scenario(), timeout=150)
        finally:
            stop_publishing.set()
            publisher.join(30)
        survivors = [p for k, p in enumerate(ports) if k != victim]
        deadline = time.monotonic() + 10
        while get_json(survivors[0], "/queues/work")["pending"] != 0:
            self.assertLess(time.monotonic(), deadline, get_json(survivors[0], "/queues/work"))
            time.sleep(0.1)

        # The ledger: nothing published was lost, nothing unknown appeared.
        self.assertEqual(len(published), JOBS)
        self.assertEqual(set(processed), set(published))
        self.assertEqual(set(acked), set(published))
        self.assertEqual([j for j, n in acked.items() if n > 1], [])  # each acknowledged once
        # Workers on every node took jobs published on the others.
        crossed = sum(1 for j, k in published.items() if processed_on[j] - {k})
        self.assertGreater(crossed, JOBS // 3)
        for k in range(len(nodes)):
            self.assertTrue(any(k in on for on in processed_on.values()), f"node {k} idle")
        # n2's workers held 40 jobs at its death (their max_in_flight), and
        # more before it when ack_wait passed on a slow machine (each came
        # back then): every job they got came back to another node's
        # workers, and nothing else was delivered twice.
        self.assertGreaterEqual(len(held_by_victim), 40)
        twice = {j for j, n in processed.items() if n > 1}
        self.assertEqual(twice, held_by_victim)
        report(self, f"3 nodes on one Redis, 2 workers each, {JOBS} jobs over {len(TOPICS)} "
               f"topics, n2 killed (-9) after {killed_at} acknowledgements",
               f"every job processed and acknowledged once; {crossed} processed on another "
               f"node than the one they were published to; the {len(held_by_victim)} jobs "
               f"n2's workers got (never acknowledged) processed again on n1 and n3")


if __name__ == "__main__":
    unittest.main()
