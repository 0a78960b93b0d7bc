"""Presence across a cluster of real heraldd nodes: members connected to
each node are visible from every node (events and queries), a node that
joins later learns who is there, and the members of a node killed with -9
leave the others' lists within peer_timeout_ms."""
import asyncio
import json
import signal
import time
import unittest
import urllib.parse

import websockets

from cluster_util import PEER_TIMEOUT_MS, get_json, start_cluster, start_node, peer_address, \
    stop_all, wait_mesh
from heraldd import freeze, thaw
from ws_util import recv_json, run

TOPIC = "room.cluster"


async def member(port, name):
    """A WebSocket member of TOPIC on the node at `port`; returns (ws, client id)."""
    info = urllib.parse.quote(json.dumps({"name": name}))
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws?info={info}", open_timeout=5)
    await ws.send(json.dumps({"op": "sub", "id": 1, "topic": TOPIC, "presence": True}))
    answer = await recv_json(ws)
    assert answer["op"] == "subscribed", answer
    return ws, answer["client"]


class Watcher:
    """Keeps the member list a WebSocket member sees, from its events."""

    def __init__(self, ws):
        self.ws = ws
        self.members = {}
        self.clients = 0

    async def until(self, pred, timeout=5.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not pred(self):
            m = await recv_json(self.ws, max(0.01, deadline - loop.time()))
            if m.get("op") != "presence":
                continue
            if m.get("snapshot"):
                self.members = {}
            for left in m.get("leave", []):  # leaves first (docs/PROTOCOL.md)
                self.members.pop(left["client"], None)
            for j in m.get("join", []):
                self.members[j["client"]] = j["info"]["name"]
            self.clients = m["clients"]

    def names(self):
        return sorted(self.members.values())


class ClusterPresence(unittest.TestCase):
    def test_members_on_every_node_are_seen_everywhere_and_a_killed_node_leaves(self):
        nodes = start_cluster(3)
        try:
            wait_mesh(nodes)

            async def go():
                conns = [await member(n.port, f"user-{i + 1}") for i, n in enumerate(nodes)]
                watchers = [Watcher(ws) for ws, _ in conns]
                for w in watchers:
                    await w.until(lambda w: w.names() == ["user-1", "user-2", "user-3"])
                    self.assertEqual(w.clients, 3)
                for n in nodes:
                    doc = get_json(n.port, f"/presence/{TOPIC}")
                    self.assertEqual(doc["clients"], 3, (n.node_id, doc))
                    self.assertEqual(sorted(m["info"]["name"] for m in doc["members"]),
                                     ["user-1", "user-2", "user-3"])
                # A closed connection leaves everywhere.
                await conns[0][0].close()
                for w in watchers[1:]:
                    await w.until(lambda w: w.names() == ["user-2", "user-3"])
                # kill -9 of n3: its member leaves the others' lists once the
                # link is declared dead (peer_timeout_ms).
                killed = time.monotonic()
                await asyncio.to_thread(nodes[2].stop, signal.SIGKILL)
                await watchers[1].until(lambda w: w.names() == ["user-2"],
                                        timeout=PEER_TIMEOUT_MS / 1000 + 3)
                gone_after = time.monotonic() - killed
                self.assertLess(gone_after, PEER_TIMEOUT_MS / 1000 + 1.0)
                print(f"\n[figure] a kill -9 node's member left the others' presence after "
                      f"{gone_after * 1000:.0f} ms (peer_timeout_ms {PEER_TIMEOUT_MS})")
                doc = get_json(nodes[0].port, f"/presence/{TOPIC}")
                self.assertEqual([m["info"]["name"] for m in doc["members"]], ["user-2"])
                # A node that joins later learns who is there (a link's reset).
                late = start_node("n4", [peer_address(nodes[0])])
                nodes.append(late)
                wait_mesh([nodes[0], nodes[1], late], n=3)
                ws4, _ = await member(late.port, "user-4")
                w4 = Watcher(ws4)
                await w4.until(lambda w: w.names() == ["user-2", "user-4"])
                await watchers[1].until(lambda w: w.names() == ["user-2", "user-4"])
                # A node frozen (SIGSTOP: no reset, only silence) is declared
                # dead after peer_timeout_ms; thawed, its link's reset brings
                # its member back.
                frozen = time.monotonic()
                freeze(late.proc)
                try:
                    await watchers[1].until(lambda w: w.names() == ["user-2"],
                                            timeout=PEER_TIMEOUT_MS / 1000 + 3)
                    silent_after = time.monotonic() - frozen
                finally:
                    thaw(late.proc)
                self.assertLess(silent_after, PEER_TIMEOUT_MS / 1000 + 1.0)
                print(f"[figure] a frozen node's member left after {silent_after * 1000:.0f} ms "
                      f"(peer_timeout_ms {PEER_TIMEOUT_MS})")
                await watchers[1].until(lambda w: w.names() == ["user-2", "user-4"],
                                        timeout=10)
                for ws, _ in conns[1:2]:
                    await ws.close()
                await ws4.close()

            run(go())
        finally:
            stop_all(nodes)


if __name__ == "__main__":
    unittest.main()
