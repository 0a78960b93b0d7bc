"""A cluster on Redis behind Sentinel: the nodes find the master through the
sentinels and follow a failover (docs/CLUSTER.md, "Sentinel").

One master and one replica (append-only, fsync always), three sentinels
(quorum 2, a master is down after 1 s), two heraldd nodes with
`redis_sentinels`. The replica reads the master through a proxy that holds
each chunk 100 ms (a replica that lags). HTTP publishers send up to about
500 msg/s over 12 topics to both nodes, each message with a msg id, retried
(same id) when a publish fails; a WebSocket subscriber listens on each node.
The master is killed with SIGKILL and the proxy drops what it holds (as a
dead machine's kernel would); the sentinels promote the replica, the nodes
must follow, and the old master comes back as its replica. A message ledger
then checks, with the default durability and with `durability =
"replicated"`:

  - no (epoch, offset) was acknowledged for two messages, and no subscriber
    got one position as two messages;
  - every message acknowledged in a topic's present epoch is in its history
    at the position its acknowledgement gave;
  - what the failover lost (Redis replicates asynchronously: acknowledged
    writes the replica never received) is never silent: the topic went on
    in a new epoch, a resume from the last acknowledged position gets a gap,
    and herald_store_shared_lost_total counts it. With "replicated" nothing
    is lost: every topic keeps its epoch and the subscribers saw every
    message, in order, with no gap. With the default, the lagging replica
    lost the last acknowledged writes, and the test sees them counted.

Every process is stopped by PID; the test bounds itself in time.
"""
import http.client
import json
import os
import socket
import threading
import time
import unittest
import urllib.parse

from cluster_util import FaultProxy, cluster_config, get_json, metric, peer_address, start_node, \
    stop_all, wait_mesh
from probe_util import report
from redis_util import RedisServer, Sentinel
from test_cluster_redis import TOPICS, Publisher, Subscriber, check_delivered_once_in_order, \
    check_positions_unique, history_all, merged_acks, stop_all_threads

MASTER = "m"
LAG_MS = 100  # how far behind the replica reads


class PatientPublisher(Publisher):
    # A failover, then the old master rejoining as a replica: tens of seconds.
    GIVE_UP_S = 90


def fetch(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 200, (path, body)
    return body


class SentinelFailover(unittest.TestCase):
    def setUp(self):
        # No delay before a replica's first sync (Redis waits 5 s for more
        # replicas to share a diskless one).
        durable = ("--appendonly", "yes", "--appendfsync", "always",
                   "--repl-diskless-sync-delay", "0")
        self.master = RedisServer(*durable).start()
        self.addCleanup(self.master.close)
        # The replica reads the master through a proxy that holds every
        # chunk LAG_MS: a replica that lags, as over a loaded network. At
        # the kill the proxy drops what it holds, as a dead machine's
        # kernel would.
        self.link = FaultProxy(self.master.port)
        self.addCleanup(self.link.stop)
        self.link.set_mode("delay", delay_ms=LAG_MS)
        self.replica = RedisServer(*durable, "--replicaof", "127.0.0.1",
                                   str(self.link.port)).start()
        self.addCleanup(self.replica.close)
        # failover-timeout also delays how soon a sentinel "fixes" a replica
        # that follows another address than the master's (the proxy's):
        # longer than the test.
        lines = [f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 2",
                 f"sentinel down-after-milliseconds {MASTER} 1000",
                 f"sentinel failover-timeout {MASTER} 120000"]
        self.sentinels = []
        for _ in range(3):
            s = Sentinel(*lines).start()
            self.addCleanup(s.close)
            self.sentinels.append(s)
        # The replica holds the master's data, and every sentinel knows it
        # and enough of the others to fail over, before the test starts (a
        # sentinel may promote a replica still in its first sync: an empty
        # store, which the nodes would tell as a gap on every topic).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "master_link_status:up" in self.info(self.replica) and all(s.command("SENTINEL", "CKQUORUM", MASTER).startswith("+OK")
                   and s.command("SENTINEL", "REPLICAS", MASTER) == "*1"
                   for s in self.sentinels):
                break
            time.sleep(0.1)
        else:
            self.fail("the sentinels did not find the replica and each other in 30 s")

    @staticmethod
    def info(server):
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
                s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
                return s.recv(65536).decode(errors="replace")
        except OSError:
            return ""

    def config(self, durability):
        sentinels = ", ".join(f'"127.0.0.1:{s.port}"' for s in self.sentinels)
        return cluster_config(top=(
            '[store]\nkind = "redis"\n'
            f"redis_sentinels = [{sentinels}]\n"
            f'redis_sentinel_master = "{MASTER}"\n'
            "redis_sentinel_poll_ms = 200\n"
            "redis_connect_timeout_ms = 500\n"
            "redis_command_timeout_ms = 2000\n"
            f'durability = "{durability}"\n'
            "redis_wait_timeout_ms = 1000\n"
            "[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n"))

    def fail_over(self, durability):
        nodes = [start_node("n1", config=self.config(durability))]
        self.addCleanup(lambda: stop_all(nodes))
        nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config(durability)))
        wait_mesh(nodes)
        for h in nodes:
            self.assertEqual(get_json(h.port, "/cluster")["store"]["server"],
                             f"127.0.0.1:{self.master.port}")
        watchers = [Subscriber(h.port) for h in nodes]
        for w in watchers:
            w.start()
            self.assertTrue(w.ready.wait(10), "no subscription")
        stop = threading.Event()
        publishers = [PatientPublisher(k, nodes, stop) for k in range(4)]
        for p in publishers:
            p.start()
        try:
            time.sleep(2.0)
            self.link.cut("reset")
            self.master.kill()
            killed_at = time.monotonic()
            deadline = killed_at + 30
            while self.sentinels[0].master_port(MASTER) != self.replica.port:
                self.assertLess(time.monotonic(), deadline, "no failover in 30 s")
                time.sleep(0.05)
            promoted_s = time.monotonic() - killed_at
            # The old master comes back, from its append-only file, and the
            # sentinels make it the new master's replica (with "replicated",
            # publishes wait for it).
            self.master.start()
            # Publishes succeed again (through the nodes' new connections).
            before = sum(len(p.acks) for p in publishers)
            deadline = time.monotonic() + 60
            while sum(len(p.acks) for p in publishers) < before + 50:
                self.assertLess(time.monotonic(), deadline, "no publish succeeded after failover")
                self.assertTrue(all(p.error is None for p in publishers),
                                [p.error for p in publishers])
                time.sleep(0.05)
            recovered_s = time.monotonic() - killed_at
            time.sleep(2.0)
        finally:
            stop_all_threads(self, publishers, watchers)

        if os.environ.get("HERALD_DEBUG_LEDGER"):
            for s in self.sentinels:
                with open(os.path.join(s.dir, "sentinel.log")) as f:
                    print("SENTINEL", s.port, f.read()[-1500:])
            for h in nodes:
                print("NODE", h.node_id, h.logs()[-3000:])
            print("MASTER", self.master.port, "REPLICA", self.replica.port)
        # The nodes follow the master the sentinels name: the replica, or
        # (a second failover, when a slow fsync kept the new master from
        # answering the sentinels for down-after-milliseconds) the old master
        # back, by then the new one's replica.
        deadline = time.monotonic() + 10
        while True:
            master = f"127.0.0.1:{self.sentinels[0].master_port(MASTER)}"
            stores = [get_json(h.port, "/cluster")["store"] for h in nodes]
            if all(st["server"] == master and st["reachable"] for st in stores):
                break
            self.assertLess(time.monotonic(), deadline, (master, stores))
            time.sleep(0.1)
        for store in stores:
            self.assertGreaterEqual(store["failovers"], 1, store)

        acks = merged_acks(publishers)
        check_positions_unique(self, acks, watchers)

        # The ledger: what each topic's present epoch holds, and what ended.
        lost_counted = int(sum(metric(h.port, "herald_store_shared_lost_total") for h in nodes))
        missing = ended_topics = 0
        for topic in TOPICS:
            epoch, msgs = history_all(nodes[0].port, topic, gap_allowed=True)
            at = {m["payload"]: (topic, m["epoch"], m["offset"]) for m in msgs}
            last_in_ended = {}
            for payload, where in acks.items():
                if where[0] != topic:
                    continue
                if where[1] == epoch:
                    if at.get(payload) != where:
                        missing += 1
                        if os.environ.get("HERALD_DEBUG_LEDGER"):
                            print("MISSING", payload, where, at.get(payload))
                else:
                    last_in_ended[where[1]] = max(last_in_ended.get(where[1], 0), where[2])
            for old_epoch, offset in last_in_ended.items():
                # Never silent: resuming from the last acknowledged message
                # of an epoch that ended is told a gap.
                body = fetch(nodes[1].port, f"/history/{urllib.parse.quote(topic, safe='')}"
                                            f"?after={offset}&epoch={old_epoch}")
                self.assertIsNotNone(body["gap"], f"{topic}: epoch {old_epoch} ended silently")
            ended_topics += 1 if last_in_ended else 0
            if os.environ.get("HERALD_DEBUG_LEDGER"):
                print("TOPIC", topic, "present", epoch, len(msgs), "on n2",
                      history_all(nodes[1].port, topic, gap_allowed=True)[0], "ended", last_in_ended,
                      "acked epochs", sorted({w[1] for w in acks.values() if w[0] == topic}))
        self.assertEqual(missing, 0, "acknowledged in the present epoch, not in its history")
        # The store's own check: the promoted replica cannot show it holds
        # what the old master acknowledged, unless every append waited for it.
        unproven = int(sum(metric(h.port, "herald_store_tails_unproven_total") for h in nodes))
        unreplicated = int(sum(metric(h.port, "herald_store_unreplicated_total") for h in nodes))
        retries = sum(p.retries for p in publishers)
        dups = sum(p.duplicates for p in publishers)
        if durability == "master":
            # The replica was LAG_MS behind: what the master acknowledged in
            # that time is gone, and must have been seen going.
            self.assertGreater(lost_counted, 0, "a lagging replica lost nothing?")
            self.assertGreater(ended_topics, 0)
            self.assertGreaterEqual(unproven, 1, "the store did not see the failover's loss")
        else:
            # A topic leaves its epoch only when the store lost what was
            # acknowledged in it, or cannot show it kept it.
            self.assertEqual((lost_counted, unproven, ended_topics), (0, 0, 0))
            # Nothing lost: the subscribers saw every message once, in
            # order, in one epoch per topic.
            check_delivered_once_in_order(self, watchers, acks)
        told = (f" ({ended_topics} topics went on in a new epoch; a resume from each told a "
                f"gap)" if ended_topics else "")
        report(self, f"sentinel failover (kill -9 of the master, replica {LAG_MS} ms behind), "
                     f"publishers at up to 500 msg/s, durability {durability}",
               f"promoted after {promoted_s:.1f} s, publishing again after {recovered_s:.1f} s; "
               f"{len(acks)} acknowledged, {lost_counted} of them lost by the failover{told}, "
               f"the store's own check found {unproven} master(s) that could not show it, "
               f"0 positions given twice; {retries} publishes retried, {dups} answered as "
               f"duplicates, {unreplicated} appends not confirmed by a replica in time")

    def test_the_nodes_follow_a_failover_and_every_loss_is_told_as_a_gap(self):
        self.fail_over("master")

    def test_with_replicated_durability_a_failover_loses_nothing_acknowledged(self):
        self.fail_over("replicated")


if __name__ == "__main__":
    unittest.main()
