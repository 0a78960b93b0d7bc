"""A cluster on one shared Redis ([store] kind = "redis" on every node): the
death of a topic's owner loses nothing and leaves no gap (docs/CLUSTER.md).

Three heraldd nodes and one redis-server (append-only, fsync always). HTTP
publishers send about 1,000 msg/s over 12 topics to every node, each
message with a msg id, retried (same id) on another node when a publish
fails. The owner of the topics' first one is killed with SIGKILL and
restarted, ROUNDS times. A message ledger then checks:

  - every acknowledged message is in the history exactly once, and every
    topic kept one epoch with no hole in its offsets;
  - the WebSocket subscribers (Python `websockets`) of the two nodes never
    killed got every message published while they listened, exactly once,
    in order, with no gap;
  - a subscriber of the killed node, resuming on a survivor from the last
    message it saw, got the rest with no gap.

Also: Redis killed and restarted under the same stream (nothing acknowledged
lost, no gap), a partition (no position given twice), and a resume on a node
that does not own the topic, answered from Redis while the owner is frozen.

Every process is stopped by PID; the test bounds itself in time.
"""
import asyncio
import http.client
import json
import os
import random
import signal
import threading
import time
import unittest
import urllib.parse

import websockets

from cluster_util import HEARTBEAT_MS, RECONNECT_MAX_MS, FaultProxy, cluster_config, get_json, \
    mesh_state, metric, owner_of, peer_address, peer_interest, start_node, stop_all, wait_mesh
from heraldd import freeze, thaw, wait_until
from probe_util import report
from redis_util import RedisServer
from sse_util import Publisher as HttpPublisher, SseClient, base36, publish_once

ROUNDS = int(os.environ.get("HERALD_KILL_ROUNDS", "3"))
TOPICS = [f"ledger.{i}" for i in range(12)]
PUBLISHERS = 8
RATE = 1000  # messages per second, all publishers together


def history_all(port, topic, gap_allowed=False):
    """The topic's present epoch and every message /history holds of it,
    page by page; a gap fails unless `gap_allowed` (an epoch that ended)."""
    out, after, epoch = [], 0, 0
    while True:
        path = f"/history/{urllib.parse.quote(topic, safe='')}?after={after}&limit=1000"
        if epoch:
            path += f"&epoch={epoch}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        assert resp.status == 200, body
        assert gap_allowed or body["gap"] is None, (topic, body["gap"])
        epoch = body["epoch"]
        out += body["messages"]
        if not body["truncated"] or not body["messages"]:
            return epoch, out
        after = body["messages"][-1]["offset"]


def stop_all_threads(test, publishers, watchers):
    """Stops the publishers, then (after the last deliveries) the
    subscribers; any error of theirs fails the test."""
    for p in publishers:
        p.stop.set()
    for p in publishers:
        p.join(30)
        test.assertIsNone(p.error, p.error)
    # Deliveries still in flight (a hole read from the store, a slow
    # machine) arrive before the subscribers stop; what never arrives is
    # for the checks to report.
    acks = merged_acks(publishers)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(delivered_all(w, acks) for w in watchers):
        time.sleep(0.1)
    time.sleep(0.2)  # anything after the last acknowledged (a duplicate) shows too
    for w in watchers:
        w.stop.set()
        w.join(10)
        test.assertIsNone(w.error, w.error)


def delivered_all(watcher, acks):
    """The subscriber has every message acknowledged on each topic from the
    first it saw of it on."""
    first, seen = {}, set()
    for m in list(watcher.events):
        if m["op"] == "msg":
            first.setdefault(m["topic"], m["offset"])
            seen.add(m["payload"])
    return all(p in seen for p, (t, _, o) in acks.items() if t in first and o >= first[t])


def merged_acks(publishers):
    acks = {}
    for p in publishers:
        acks.update(p.acks)
    return acks


def check_positions_unique(test, acks, watchers):
    """No (epoch, offset) acknowledged for two messages, nor delivered as two
    at any subscriber."""
    positions = {}
    for payload, where in acks.items():
        positions.setdefault(where, []).append(payload)
    twice = {w: ps for w, ps in positions.items() if len(ps) > 1}
    test.assertEqual(twice, {}, "one (epoch, offset) acknowledged for two messages")
    for w in watchers:
        seen = {}
        for m in w.events:
            if m["op"] == "msg":
                key = (m["topic"], m["epoch"], m["offset"])
                test.assertEqual(seen.setdefault(key, m["payload"]), m["payload"],
                                 f"{key} delivered as two messages at :{w.port}")


def check_delivered_once_in_order(test, watchers, acks):
    """Each subscriber: no gap; per topic every offset once, in order, with no
    hole; and every message acknowledged from the first it saw on."""
    for w in watchers:
        test.assertEqual([m for m in w.events if m["op"] == "gap"], [], f"gaps at :{w.port}")
        by_topic = {}
        for m in w.events:
            by_topic.setdefault(m["topic"], []).append(m)
        for topic, got in by_topic.items():
            offsets = [m["offset"] for m in got]
            test.assertEqual(offsets, list(range(offsets[0], offsets[0] + len(offsets))),
                             f"{topic} at :{w.port}: out of order, repeated or a hole")
            test.assertEqual(len({m["epoch"] for m in got}), 1, f"{topic}: epoch changed")
            want = {p for p, (t, _, o) in acks.items() if t == topic and o >= offsets[0]}
            test.assertEqual(want - {m["payload"] for m in got}, set(),
                             f"{topic} at :{w.port}: acknowledged, not seen")


class Publisher(threading.Thread):
    """Publishes p<k>-<n> to the topics in turn, on the nodes in turn; a
    failed publish is retried on the next node with the same msg id."""
    GIVE_UP_S = 20  # a message not acknowledged this long fails the test

    def __init__(self, k, nodes, stop):
        super().__init__(daemon=True)
        self.k, self.nodes, self.stop = k, nodes, stop
        self.acks = {}  # payload -> (topic, epoch, offset)
        self.retries = 0
        self.duplicates = 0
        self.error = None

    def publish(self, port, topic, payload):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            conn.request("POST", f"/publish/{topic}", body=payload.encode(),
                         headers={"Content-Type": "text/plain", "Herald-Msg-Id": payload})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            return None
        return json.loads(data)

    def run(self):
        try:
            n = 0
            interval = PUBLISHERS / RATE
            next_at = time.monotonic()
            while not self.stop.is_set():
                topic = TOPICS[(n + self.k) % len(TOPICS)]
                payload = f"p{self.k}-{n}"
                deadline = time.monotonic() + self.GIVE_UP_S
                node = (n + self.k) % len(self.nodes)
                while True:
                    h = self.nodes[node % len(self.nodes)]
                    ack = None
                    if h is not None and h.proc.poll() is None:
                        try:
                            ack = self.publish(h.port, topic, payload)
                        except OSError:
                            ack = None
                    if ack is not None:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"{payload} on {topic}: no acknowledgement in {self.GIVE_UP_S} s")
                    self.retries += 1
                    node += 1
                    time.sleep(0.01)
                if ack.get("duplicate"):
                    self.duplicates += 1
                self.acks[payload] = (topic, ack["epoch"], ack["offset"])
                n += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        except BaseException as e:  # reported by the test
            self.error = e


class Subscriber(threading.Thread):
    """A WebSocket client of `port` on `pattern`; with `resume_on`, when its
    node goes away it resumes on that node from the last message it saw of
    each topic."""

    def __init__(self, port, resume_on=None, pattern="ledger.>"):
        super().__init__(daemon=True)
        self.port, self.resume_on, self.pattern = port, resume_on, pattern
        self.events = []  # every msg and gap, in arrival order
        self.reconnects = 0
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error = None

    async def listen(self, port, resume):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sub = {"op": "sub", "id": "s", "topic": self.pattern}
            if resume:
                sub["resume"] = {t: {"epoch": e, "offset": o} for t, (e, o) in resume.items()}
            await ws.send(json.dumps(sub))
            while not self.stop.is_set():
                try:
                    frame = await asyncio.wait_for(ws.recv(), 0.2)
                except asyncio.TimeoutError:
                    continue
                m = json.loads(frame)
                if m["op"] == "subscribed":
                    self.ready.set()
                elif m["op"] in ("msg", "gap"):
                    self.events.append(m)
                elif m["op"] == "error":
                    raise AssertionError(f"error on the subscription: {m}")

    def last_seen(self):
        seen = {}
        for m in self.events:
            if m["op"] == "msg":
                seen[m["topic"]] = (m["epoch"], m["offset"])
        return seen

    def run(self):
        try:
            try:
                asyncio.run(self.listen(self.port, None))
            except (websockets.ConnectionClosed, OSError):
                if self.resume_on is None or self.stop.is_set():
                    raise
                self.reconnects += 1
                asyncio.run(self.listen(self.resume_on, self.last_seen()))
        except BaseException as e:
            if not self.stop.is_set():
                self.error = e


class OnSharedRedis(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
        self.addCleanup(self.redis.close)
        self.config = cluster_config(
            top=f'[store]\nkind = "redis"\nredis_port = {self.redis.port}\n'
            'redis_connect_timeout_ms = 500\n'
            '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')


class OwnerDeath(OnSharedRedis):
    def test_killing_a_topics_owner_under_load_loses_nothing_and_leaves_no_gap(self):
        nodes = [start_node("n1", config=self.config)]
        self.addCleanup(lambda: stop_all(nodes))
        nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
        nodes.append(start_node("n3", [peer_address(nodes[1])], config=self.config))
        wait_mesh(nodes)
        victim_id = owner_of(nodes, TOPICS[0], lambda h, t: publish_once(h.port, t, f"probe-{h.node_id}"))
        victim = next(i for i, h in enumerate(nodes) if h.node_id == victim_id)
        survivors = [h for h in nodes if h.node_id != victim_id]

        watchers = [Subscriber(h.port) for h in survivors]
        resumer = Subscriber(nodes[victim].port, resume_on=survivors[0].port)
        for s in watchers + [resumer]:
            s.start()
            self.assertTrue(s.ready.wait(10), "no subscription")
        stop = threading.Event()
        publishers = [Publisher(k, nodes, stop) for k in range(PUBLISHERS)]
        for p in publishers:
            p.start()
        t0 = time.monotonic()
        try:
            for _ in range(ROUNDS):
                time.sleep(1.5)
                nodes[victim].stop(signal.SIGKILL)
                time.sleep(2.0)  # survivors notice (peer_timeout_ms 1000) and take over
                others = [h for h in nodes if h.node_id != victim_id]
                nodes[victim] = start_node(victim_id, [peer_address(others[0])],
                                           config=self.config)
                wait_mesh(nodes)
            time.sleep(1.5)
        finally:
            stop.set()
            for p in publishers:
                p.join(30)
        elapsed = time.monotonic() - t0
        for p in publishers:
            self.assertIsNone(p.error, p.error)
        time.sleep(1.0)  # the last deliveries
        for s in watchers + [resumer]:
            s.stop.set()
            s.join(10)
            self.assertIsNone(s.error, s.error)
        self.assertEqual(resumer.reconnects, 1, "the killed node's subscriber did not resume")

        acks = {}
        for p in publishers:
            acks.update(p.acks)
        # The ledger against the store: each acknowledged message once, where
        # its acknowledgement said; one epoch per topic, no hole.
        lost = dups = 0
        for topic in TOPICS:
            epoch, msgs = history_all(survivors[0].port, topic)
            offsets = [m["offset"] for m in msgs]
            self.assertEqual(offsets, list(range(offsets[0], offsets[0] + len(offsets))),
                             f"{topic}: a hole in the history")
            self.assertEqual({m["epoch"] for m in msgs}, {epoch}, f"{topic}: the epoch changed")
            payloads = [m["payload"] for m in msgs]
            dups += len(payloads) - len(set(payloads))
            at = {m["payload"]: (topic, m["epoch"], m["offset"]) for m in msgs}
            for payload, where in acks.items():
                if where[0] == topic and at.get(payload) != where:
                    lost += 1
                    if os.environ.get("HERALD_DEBUG_LEDGER"):
                        print("LOST", payload, where, at.get(payload), epoch, offsets[0],
                              offsets[-1])
        if lost and os.environ.get("HERALD_DEBUG_LEDGER"):
            for topic in TOPICS:
                print("HEAD", topic, self.redis.command("HGET", f"herald:{{{topic}}}:m", "o"),
                      [(h.node_id, history_all(h.port, topic)[1][-1]["offset"]) for h in nodes])
            for h in nodes:
                print("NODE", h.node_id, h.logs()[-3000:])
        self.assertEqual(lost, 0, "acknowledged messages lost or moved")
        self.assertEqual(dups, 0, "a message stored twice")

        # The subscribers: in order, once, no gap, nothing acknowledged missing.
        check_delivered_once_in_order(self, watchers + [resumer], acks)

        for h in nodes:  # /cluster shows the shared store's state
            store = get_json(h.port, "/cluster")["store"]
            self.assertTrue(store["reachable"], store)

        def total(name):
            return int(sum(metric(h.port, name) for h in survivors))
        # The survivors took the victim's topics over from the store, and no
        # hole was left unfilled.
        self.assertGreater(total("herald_store_shared_loads_total"), 0)
        self.assertEqual(total("herald_store_shared_gaps_total"), 0)
        # Every resume and history read there (the resumed client's, the
        # ledger's) came from the store: none asked a topic's owner.
        self.assertGreater(total("herald_store_shared_resumes_total"), 0)
        self.assertEqual(total("herald_cluster_history_fetches_total"), 0)
        retries = sum(p.retries for p in publishers)
        report(self, f"kill -9 of the owner under {RATE} msg/s over {len(TOPICS)} topics",
               f"{ROUNDS} kills in {elapsed:.0f} s; {len(acks)} acknowledged, 0 lost, 0 stored "
               f"twice, 0 gaps at {len(watchers)} survivors' subscribers and at the resumed one "
               f"({retries} publishes retried, {sum(p.duplicates for p in publishers)} "
               f"acknowledged as duplicates; survivors: "
               f"{total('herald_store_shared_loads_total')} topic loads, "
               f"{total('herald_store_shared_catchups_total')} holes filled from the store)")


class RedisRestart(OnSharedRedis):
    def test_redis_killed_and_restarted_under_load_fails_publishes_cleanly_and_loses_nothing(self):
        """Redis (append-only, fsync always) is killed with SIGKILL under a
        stream to three nodes and started again from its file 2 s later:
        publishes fail with a clear error meanwhile, the subscribers keep
        their connections, and afterwards every acknowledged message is in
        the history once, each topic in one epoch with no hole, and every
        subscriber got every message once, in order, with no gap."""
        nodes = [start_node("n1", config=self.config)]
        self.addCleanup(lambda: stop_all(nodes))
        nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
        nodes.append(start_node("n3", [peer_address(nodes[1])], config=self.config))
        wait_mesh(nodes)
        watchers = [Subscriber(h.port) for h in nodes]
        for w in watchers:
            w.start()
            self.assertTrue(w.ready.wait(10), "no subscription")
        stop = threading.Event()
        publishers = [Publisher(k, nodes, stop) for k in range(PUBLISHERS)]
        for p in publishers:
            p.start()
        try:
            time.sleep(1.5)
            self.redis.kill()
            down_at = time.monotonic()
            time.sleep(0.5)
            refused = [http_publish(h.port, "ledger.0", "while-down") for h in nodes]
            time.sleep(1.5)
            self.redis.start()
            before = sum(len(p.acks) for p in publishers)
            deadline = time.monotonic() + 20
            while sum(len(p.acks) for p in publishers) < before + 500:
                self.assertLess(time.monotonic(), deadline, "no publish succeeded after Redis came back")
                time.sleep(0.05)
            back_s = time.monotonic() - down_at
            time.sleep(1.5)
        finally:
            stop_all_threads(self, publishers, watchers)
        for status, body in refused:
            self.assertEqual(status, 503, body)
            self.assertIn("redis", body)

        acks = merged_acks(publishers)
        check_positions_unique(self, acks, watchers)
        lost = dups = 0
        for topic in TOPICS:
            epoch, msgs = history_all(nodes[0].port, topic)
            offsets = [m["offset"] for m in msgs]
            self.assertEqual(offsets, list(range(offsets[0], offsets[0] + len(offsets))),
                             f"{topic}: a hole in the history")
            payloads = [m["payload"] for m in msgs]
            dups += len(payloads) - len(set(payloads))
            at = {m["payload"]: (topic, m["epoch"], m["offset"]) for m in msgs}
            lost += sum(1 for payload, where in acks.items()
                        if where[0] == topic and at.get(payload) != where)
        self.assertEqual(lost, 0, "acknowledged messages lost or moved")
        self.assertEqual(dups, 0, "a message stored twice")
        check_delivered_once_in_order(self, watchers, acks)
        report(self, f"redis kill -9 and restart (AOF, fsync always) under {RATE} msg/s to "
                     f"three nodes",
               f"publishing again {back_s:.1f} s after the kill; {len(acks)} acknowledged, 0 lost, "
               f"0 stored twice, 0 gaps at {len(watchers)} subscribers "
               f"({sum(p.retries for p in publishers)} publishes refused and retried)")


def http_publish(port, topic, payload):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", f"/publish/{topic}", body=payload.encode(),
                     headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


class Partition(OnSharedRedis):
    def test_a_node_cut_off_from_its_peers_but_not_from_redis_never_numbers_a_message_twice(self):
        """Both sides of a partition own every topic in their own view and
        publish to the same topics; Redis orders them."""
        proxy = FaultProxy()
        self.addCleanup(proxy.stop)
        nodes = [start_node("n1", config=self.config)]
        self.addCleanup(lambda: stop_all(nodes))
        nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
        # n3 sorts last: n1 and n2 dial it, at the address it advertises.
        nodes.append(start_node("n3", [peer_address(nodes[1])], config=self.config,
                                extra_args=["--cluster-advertise", proxy.address]))
        proxy.set_target(nodes[2].cluster_port)
        wait_mesh(nodes)
        n1, n3 = nodes[0], nodes[2]
        watchers = [Subscriber(n1.port), Subscriber(n3.port)]
        for w in watchers:
            w.start()
            self.assertTrue(w.ready.wait(10), "no subscription")

        proxy.cut("blackhole")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if mesh_state(n3)[0] == ["n3"] and "n3" not in mesh_state(n1)[0]:
                break
            time.sleep(0.05)
        self.assertEqual(mesh_state(n3)[0], ["n3"], "n3 still sees its peers")

        stop = threading.Event()
        # One side each: n1 (with n2) and n3, the same topics.
        sides = [Publisher(0, [n1], stop), Publisher(1, [n3], stop)]
        for p in sides:
            p.start()
        time.sleep(3)
        stop.set()
        for p in sides:
            p.join(30)
            self.assertIsNone(p.error, p.error)
        proxy.heal()
        wait_mesh(nodes)
        time.sleep(0.5)
        for w in watchers:
            w.stop.set()
            w.join(10)
            self.assertIsNone(w.error, w.error)

        acks = merged_acks(sides)
        check_positions_unique(self, acks, watchers)
        lost = 0
        for topic in TOPICS:
            _, msgs = history_all(n1.port, topic)
            at = {m["payload"]: (topic, m["epoch"], m["offset"]) for m in msgs}
            for payload, where in acks.items():
                if where[0] == topic and at.get(payload) != where:
                    lost += 1
                    if os.environ.get("HERALD_DEBUG_LEDGER"):
                        print("LOST", payload, where, at.get(payload), msgs[-1]["offset"],
                              [(h.node_id, history_all(h.port, topic)[1][-1]["offset"])
                               for h in nodes])
        self.assertEqual(lost, 0, "acknowledged messages lost or moved")
        report(self, "a partition with both sides publishing to the same 12 topics for 3 s",
               f"{len(acks)} acknowledged ({len(sides[0].acks)} on n1's side, "
               f"{len(sides[1].acks)} on n3's), 0 positions given twice, 0 lost "
               f"({sum(p.retries for p in sides)} publishes refused and retried)")


class ResumeFromTheStore(unittest.TestCase):
    """A client resuming a topic on a node that does not own it, but receives
    it (it has a subscriber of it), gets what it missed from Redis, not from
    the owner: with the owner frozen (SIGSTOP, while its peer still names
    it: peer timeout 30 s), a WebSocket resume, an SSE resume and a /history
    read on the other node are all answered, and that node asks no peer for
    history. A topic the node does not receive yet is asked of its owner
    (only the owner's answer is ordered with the node's new interest)."""
    COUNT = 40

    def setUp(self):
        self.redis = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
        self.addCleanup(self.redis.close)
        self.config = (f'[store]\nkind = "redis"\nredis_port = {self.redis.port}\n'
                       '[history]\nmax_messages = 100000\n'
                       f'[cluster]\nheartbeat_interval_ms = {HEARTBEAT_MS}\n'
                       f'peer_timeout_ms = 30000\nreconnect_max_ms = {RECONNECT_MAX_MS}\n')

    def test_a_resume_on_a_node_that_receives_the_topic_never_asks_its_owner(self):
        nodes = [start_node("n1", config=self.config)]
        self.addCleanup(lambda: stop_all(nodes))
        nodes.append(start_node("n2", [peer_address(nodes[0])], config=self.config))
        wait_mesh(nodes)
        n1, n2 = nodes
        owned = [t for t in (f"resume.{i}" for i in range(64))
                 if owner_of(nodes, t, lambda h, t: publish_once(h.port, t, "probe")) == "n1"]
        topic, other = owned[0], owned[1]
        [held] = peer_interest([n1])
        watcher = Subscriber(n2.port, pattern=topic)  # n2 receives `topic`, not `other`
        watcher.start()
        self.addCleanup(watcher.stop.set)
        self.assertTrue(watcher.ready.wait(10), "no subscription")
        # The ack is n2's: what n1 sequences reaches n2 once the interest is
        # at n1 (CLUSTER.md).
        self.assertTrue(wait_until(
            lambda: (metric(n1.port, "herald_peer_subscriptions") or 0) > held, 10),
            "n2's subscription never reached n1")
        with HttpPublisher(n1.port) as pub:
            acks = [pub(topic, f"m{i}") for i in range(self.COUNT)]
            other_acks = [pub(other, f"o{i}") for i in range(5)]
        deadline = time.monotonic() + 10
        while len(watcher.events) < self.COUNT and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(watcher.events), self.COUNT, "n2's subscriber missed messages")
        epoch, last = acks[-1]
        seen = acks[self.COUNT // 2 - 1][1]
        want = [f"m{i}" for i in range(self.COUNT // 2, self.COUNT)]
        fetches = metric(n2.port, "herald_cluster_history_fetches_total")
        resumes = metric(n2.port, "herald_store_shared_resumes_total")

        freeze(n1.proc)
        self.addCleanup(lambda: thaw(n1.proc))  # before stop_all
        ws_events = asyncio.run(ws_resume(n2.port, topic, epoch, seen, len(want)))
        with SseClient(n2.port, f"/sse?topic={topic}",
                       headers={"Last-Event-ID": f"0:{base36(epoch)}:{base36(seen)}"}) as sse:
            self.assertEqual(sse.status, 200)
            sse_events = sse.events(len(want), timeout=10)
        conn = http.client.HTTPConnection("127.0.0.1", n2.port, timeout=10)
        conn.request("GET", f"/history/{topic}?epoch={epoch}&after={seen}")
        page = json.loads(conn.getresponse().read())
        conn.close()
        still_named = mesh_state(n2)[0]
        thaw(n1.proc)

        self.assertIn("n1", still_named, "n2 no longer names the owner: the test proves nothing")
        self.assertEqual([(m["op"], m["epoch"], m["offset"]) for m in ws_events],
                         [("msg", epoch, o) for o in range(seen + 1, last + 1)])
        self.assertEqual([m["payload"] for m in ws_events], want)
        self.assertEqual([e.type for e in sse_events], ["message"] * len(want), "a gap over SSE")
        self.assertEqual([e.data for e in sse_events], want)
        self.assertIsNone(page["gap"], page["gap"])
        self.assertEqual((page["epoch"], page["last_offset"]), (epoch, last))
        self.assertEqual([m["payload"] for m in page["messages"]], want)
        self.assertEqual(metric(n2.port, "herald_cluster_history_fetches_total"), fetches,
                         "n2 asked the owner for history")
        # WebSocket's replay, SSE's position check and replay, /history's page.
        self.assertEqual(metric(n2.port, "herald_store_shared_resumes_total") - resumes, 4)

        # `other` does not reach n2 yet: its replay is the owner's answer.
        other_epoch, other_last = other_acks[-1]
        got = asyncio.run(ws_resume(n2.port, other, other_epoch, other_last - 3, 3))
        self.assertEqual([m["payload"] for m in got], ["o2", "o3", "o4"])
        self.assertEqual(metric(n2.port, "herald_cluster_history_fetches_total"), fetches + 1)
        report(self, "resumes on a node that does not own the topic, the owner frozen",
               f"WebSocket, SSE and /history each got the {len(want)} messages missed, no gap, "
               f"0 history calls to the owner")


async def ws_resume(port, topic, epoch, offset, count):
    """A WebSocket client resuming `topic` after (epoch, offset): the first
    `count` messages and gaps it gets (10 s at most)."""
    events = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"op": "sub", "id": "s", "topic": topic,
                                  "resume": {topic: {"epoch": epoch, "offset": offset}}}))
        deadline = time.monotonic() + 10
        while len(events) < count and time.monotonic() < deadline:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if m["op"] in ("msg", "gap"):
                events.append(m)
            elif m["op"] == "error":
                raise AssertionError(f"error on the subscription: {m}")
    return events


if __name__ == "__main__":
    unittest.main()
