"""The disk store on cluster nodes (CLUSTER.md, "The disk store on a cluster
node"): an owner killed with -9 and restarted on its directory goes on in
its epoch for the whole cluster, and a client resuming through another node
gets exactly what it missed, with no gap.

Two heraldd nodes, each on a temporary data directory; clients are raw HTTP
(publish, /history) and SSE. Every process is stopped by PID.
"""
import json
import shutil
import signal
import tempfile
import unittest
import urllib.parse

from cluster_util import cluster_config, owner_of, peer_address, start_node, stop_all, wait_mesh
from heraldd import http_call
from probe_util import metric, report
from sse_util import Publisher, SseClient, base36, publish_once


def history(node, topic, epoch, after):
    resp, body = http_call(node.port, "GET", f"/history/{urllib.parse.quote(topic, safe='')}"
                           f"?epoch={epoch}&after={after}")
    assert resp.status == 200, (resp.status, body)
    return json.loads(body)


class StoreNodes(unittest.TestCase):
    """Nodes on data directories of their own, kept across a node's restart."""
    CONFIG = ""

    def node(self, node_id, seeds=()):
        d = self.dirs.setdefault(node_id, tempfile.mkdtemp(prefix=f"herald-{node_id}-"))
        return start_node(node_id, seeds, config=self.CONFIG, extra_args=["--data-dir", d])

    def setUp(self):
        self.dirs = {}
        self.addCleanup(lambda: [shutil.rmtree(d, True) for d in self.dirs.values()])

    def two_nodes(self, prefix):
        """n1 and n2 in a mesh (the list, which a restart updates in place),
        and a topic under `prefix` that n1 owns."""
        n1 = self.node("n1")
        n2 = self.node("n2", [peer_address(n1)])
        nodes = [n1, n2]
        self.addCleanup(lambda: stop_all(nodes))
        wait_mesh(nodes)
        topic = next(t for t in (f"{prefix}.{i}" for i in range(64))
                     if owner_of(nodes, t, lambda h, t: publish_once(h.port, t, "probe")) == "n1")
        return nodes, topic


class RestartedOwner(StoreNodes):
    CONFIG = cluster_config(top='[store]\nsync = "always"\n'
                            '[history]\nmax_messages = 10000\n')

    def test_an_owner_killed_and_restarted_on_its_directory_goes_on_in_its_epoch(self):
        nodes, topic = self.two_nodes("orders")
        n1, n2 = nodes
        # Forwarded by n2 to the owner, acknowledged once n1's store has it.
        with Publisher(n2.port) as pub:
            acks = [pub(topic, f"before-{i}") for i in range(10)]
        epoch, last = acks[-1]
        self.assertEqual({e for e, _ in acks}, {epoch})

        n1.stop(signal.SIGKILL)
        # Nothing touches the topic while its owner is away (a publish
        # meanwhile would start a new epoch on n2: CLUSTER.md's rule).
        nodes[0] = n1 = self.node("n1", [peer_address(n2)])
        wait_mesh(nodes)
        self.assertIn("stopped without closing it", n1.logs())

        with Publisher(n2.port) as pub:
            after = [pub(topic, f"after-{i}") for i in range(3)]
        self.assertEqual(after, [(epoch, last + i) for i in range(1, 4)],
                         "the restarted owner did not go on in its epoch")

        # A client of n2 that had seen up to the 5th message resumes there.
        seen = acks[4][1]
        with SseClient(n2.port, f"/sse?topic={topic}",
                       headers={"Last-Event-ID": f"0:{base36(epoch)}:{base36(seen)}"}) as sse:
            self.assertEqual(sse.status, 200)
            events = sse.events(last + 3 - seen)
        self.assertEqual([e.type for e in events], ["message"] * len(events), "a gap")
        want = [f"before-{i}" for i in range(5, 10)] + [f"after-{i}" for i in range(3)]
        self.assertEqual([e.data for e in events][-len(want):], want)
        # History through n2 (fetched from the owner): every offset, no gap.
        got = history(n2, topic, epoch, 0)
        self.assertIsNone(got["gap"], got["gap"])
        self.assertEqual([m["offset"] for m in got["messages"]], list(range(1, last + 4)))
        report(self, "messages of the owner's epoch across its kill -9, seen through n2",
               f"{last + 3} of {last + 3}, no gap")


class HistoryBeyondMemory(StoreNodes):
    """The owner keeps far more on disk than in memory; a client of the other
    node resumes all of it, fetched from the owner a page at a time."""
    CONFIG = cluster_config(top='[store]\nsync = "batch"\n'
                            '[history]\nmax_messages = 100000\nmax_bytes = 1073741824\n'
                            '[limits]\nmax_history_bytes = 65536\n')
    COUNT = 3000
    SIZE = 1024  # about 3 MB on the owner's disk

    def test_a_client_of_another_node_resumes_history_the_owner_keeps_on_disk(self):
        (n1, n2), topic = self.two_nodes("big")
        with Publisher(n1.port) as pub:
            acks = [pub(topic, f"m{i}".ljust(self.SIZE, ".")) for i in range(self.COUNT)]
        epoch, last = acks[-1]
        first = acks[0][1]
        want = [f"m{i}".ljust(self.SIZE, ".") for i in range(self.COUNT)]
        self.assertLessEqual(metric(n1.port, "herald_history_bytes"), 65536)

        with SseClient(n2.port, f"/sse?topic={topic}", timeout=20,
                       headers={"Last-Event-ID": f"0:{base36(epoch)}:{base36(first - 1)}"}) as sse:
            events = sse.events(self.COUNT, timeout=60)
        self.assertEqual([e.type for e in events], ["message"] * self.COUNT, "a gap")
        self.assertEqual([e.data for e in events], want)

        offsets, after = [], first - 1
        while True:
            page = history(n2, topic, epoch, after)
            self.assertIsNone(page["gap"], page["gap"])
            offsets += [m["offset"] for m in page["messages"]]
            if not page["truncated"] or not page["messages"]:
                break
            after = page["messages"][-1]["offset"]
        self.assertEqual(offsets, list(range(first, last + 1)))
        self.assertGreater(metric(n1.port, "herald_store_reads_total"), 0)
        report(self, "messages resumed through n2 from n1's disk (memory budget 64 KiB)",
               f"{len(events)} of {self.COUNT} over SSE, {len(offsets)} over /history, no gap")


if __name__ == "__main__":
    unittest.main()
