"""heraldd with its history in Redis ([store] kind = "redis"): kill -9 of
heraldd under load loses nothing acknowledged (a message ledger), Redis
killed and restarted from its append-only file loses nothing, publishes fail
with a clear unavailable while Redis is down, topics spread over shards and
found there again, and a Redis that could lose acknowledged writes (or a
shard list that changed) stops heraldd with what to do.

Each test starts its own redis-server (Debian) and heraldd, and stops them
by PID. Clients: raw HTTP (the HTTP API).
"""
import os
import tempfile
import time
import unittest

import test_store
from heraldd import Heraldd, http_call, run_heraldd
from redis_util import RedisServer
from sse_util import Publisher, metrics

DURABLE = ("--appendonly", "yes", "--appendfsync", "always")


class OnRedis(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer(*DURABLE).start()
        self.addCleanup(self.redis.close)

    def heraldd(self, sync=None):  # `sync` is the disk store's; Redis has appendfsync
        return Heraldd(config=f'[store]\nkind = "redis"\nredis_port = {self.redis.port}\n'
                       'redis_connect_timeout_ms = 500\n'
                       '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')

    # The disk store's ledger, on Redis.
    publish_then_kill = test_store.Kill9.publish_then_kill
    check_ledger = test_store.Kill9.check_ledger

    def test_kill9_of_heraldd_under_load_keeps_every_acknowledged_message(self):
        ledger = self.publish_then_kill(None)
        with self.heraldd() as h:
            self.assertIn("history store on redis", h.logs())
            epoch, offsets = self.check_ledger(ledger, h)
            with Publisher(h.port) as pub:
                self.assertEqual(pub("ledger", "after"), (epoch, offsets[-1] + 1))

    def test_redis_killed_and_restarted_from_its_log_keeps_every_acknowledged_message(self):
        with self.heraldd() as h:
            with Publisher(h.port) as pub:
                acks = [pub("orders", f"o{i}") for i in range(1, 21)]
            self.redis.kill()
            # Refused at once, with why, while Redis is down (the first may
            # still be sent and lose its connection: unavailable too).
            resp, body = http_call(h.port, "POST", "/publish/orders", b"lost")
            self.assertEqual(resp.status, 503, body)
            self.assertIn(b"redis", body)
            self.assertEqual(metrics(h.port)["herald_store_up"], 0)
            self.redis.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                resp, body = http_call(h.port, "POST", "/publish/other", b"back")
                if resp.status == 200:
                    break
                time.sleep(0.05)
            self.assertEqual(resp.status, 200, body)
            after = metrics(h.port)
            self.assertEqual(after["herald_store_up"], 1)
            self.assertGreaterEqual(after["herald_store_disconnects_total"], 2)  # both connections
        epoch = acks[0][0]
        with self.heraldd() as h:
            got = test_store.history(h.port, "orders", epoch, 0)
            self.assertIsNone(got["gap"])
            self.assertEqual([m["payload"] for m in got["messages"]][:20],
                             [f"o{i}" for i in range(1, 21)])


class LostTail(unittest.TestCase):
    def test_a_replica_that_took_over_without_the_newest_messages_starts_a_new_epoch(self):
        """The master acknowledged o11..o15 after its replica stopped
        following it (REPLICAOF NO ONE), and every heraldd stopped: nobody
        is left who saw those offsets. heraldd started on the replica finds
        out from Redis alone, so the topic starts a new epoch: a client
        resuming after o15 is told of the gap and gets what came since,
        never a new message under an offset it already had."""
        master = RedisServer("--repl-diskless-sync", "no").start()
        self.addCleanup(master.close)
        replica = RedisServer("--replicaof", "127.0.0.1", str(master.port)).start()
        self.addCleanup(replica.close)

        def config(redis):
            return (f'[store]\nkind = "redis"\nredis_port = {redis.port}\n'
                    'redis_require_durable = false\nredis_connect_timeout_ms = 500\n')
        with Heraldd(config=config(master)) as h:
            with Publisher(h.port) as pub:
                acks = [pub("orders", f"o{i}") for i in range(1, 11)]
                deadline = time.monotonic() + 10
                while replica.value("HGET", "herald:{orders}:m", "o") != "10":
                    self.assertLess(time.monotonic(), deadline, "the replica never got o10")
                    time.sleep(0.02)
                self.assertEqual(replica.command("REPLICAOF", "NO", "ONE"), "+OK")
                acks += [pub("orders", f"o{i}") for i in range(11, 16)]
        master.kill()
        epoch, last = acks[-1]
        self.assertEqual(last, 15)
        with Heraldd(config=config(replica)) as h:
            self.assertEqual(metrics(h.port)["herald_store_tails_unproven_total"], 1)
            with Publisher(h.port) as pub:
                new_epoch, offset = pub("orders", "after")
            self.assertGreater(new_epoch, epoch)
            self.assertEqual(offset, 1)
            got = test_store.history(h.port, "orders", epoch, last)
            self.assertEqual(got["gap"]["reason"], "epoch_changed", got)
            self.assertEqual([(m["epoch"], m["offset"], m["payload"]) for m in got["messages"]],
                             [(new_epoch, 1, "after")])


class Sharded(unittest.TestCase):
    def shards_config(self, servers, names):
        shards = ", ".join(f'"{n}=127.0.0.1:{r.port}"' for n, r in zip(names, servers))
        return (f'[store]\nkind = "redis"\nredis_shards = [{shards}]\n'
                'redis_connect_timeout_ms = 500\n')

    def test_topics_spread_over_the_shards_and_a_restart_finds_each_where_it_was(self):
        servers = []
        for _ in range(3):
            servers.append(RedisServer(*DURABLE).start())
            self.addCleanup(servers[-1].close)
        config = self.shards_config(servers[:2], ["a", "b"])
        topics = [f"t.{i}" for i in range(20)]
        with Heraldd(config=config) as h:
            with Publisher(h.port) as pub:
                acks = {t: pub(t, f"m-{t}") for t in topics}
            self.assertEqual(metrics(h.port)["herald_store_up"], 1)
        on = [sum(r.command("EXISTS", f"herald:{{{t}}}:m") == ":1" for t in topics)
              for r in servers[:2]]
        self.assertEqual(sum(on), len(topics), "each topic on exactly one shard")
        self.assertTrue(all(n > 0 for n in on), on)
        # Restarted, the shards named in another order: every topic goes on.
        with Heraldd(config=self.shards_config(servers[1::-1], ["b", "a"])) as h:
            for t, (epoch, offset) in acks.items():
                got = test_store.history(h.port, t, epoch, 0)
                self.assertIsNone(got["gap"], t)
                self.assertEqual([m["payload"] for m in got["messages"]], [f"m-{t}"])
            with Publisher(h.port) as pub:
                self.assertEqual(pub("t.0", "next"), (acks["t.0"][0], acks["t.0"][1] + 1))
        # A third shard would move topics away from their history: refused.
        r = run_heraldd("--config", write_config(self, self.shards_config(servers, "abc")),
                        "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("was written as one of the shards [a,b], and this node names [a,b,c]",
                      r.stderr)


class Refused(unittest.TestCase):
    def test_a_redis_that_can_lose_acknowledged_writes_stops_heraldd_with_what_to_do(self):
        with RedisServer() as redis:  # Debian's default: no append-only file
            r = run_heraldd("--config", write_config(
                self, f'[store]\nkind = "redis"\nredis_port = {redis.port}\n'),
                "--listen", "127.0.0.1:0")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("appendonly no", r.stderr)
            self.assertIn("appendfsync always", r.stderr)

    def test_an_unreachable_redis_stops_heraldd_naming_it(self):
        with RedisServer() as redis:
            port = redis.port
        r = run_heraldd("--config", write_config(
            self, f'[store]\nkind = "redis"\nredis_port = {port}\nredis_connect_timeout_ms = 200\n'),
            "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"redis 127.0.0.1:{port}", r.stderr)


def write_config(test, text):
    fd, path = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    test.addCleanup(os.unlink, path)
    return path


if __name__ == "__main__":
    unittest.main(verbosity=2)
