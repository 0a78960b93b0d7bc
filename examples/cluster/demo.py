#!/usr/bin/env python3
"""Three Herald nodes forming one cluster on loopback, in one command:

    python3 examples/cluster/demo.py     # or examples/cluster/run.sh

starts nodes n1, n2, n3 (HTTP/WebSocket/SSE on 8081-8083, peer links on
9081-9083; n2 joins through n1, n3 through n2 and still links to n1), waits
for the full mesh and prints where each node serves the chat demo: open two
of them in different tabs, join the same room, and what you type on one node
appears on the others. Ctrl-C stops all three.

    python3 examples/cluster/demo.py --check

is the self-test: ephemeral ports, a message published on n2 must reach a
WebSocket subscriber on n1 and an SSE subscriber on n3 with the position n2
acknowledged; exits 0 when it does (1 if not).
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERALDD = os.environ.get("HERALDD", os.path.join(ROOT, "build", "release", "server", "heraldd"))
HOST = "127.0.0.1"
ROOM_TOPIC = "chat.lobby.msgs"  # the chat page's default room


class Node:
    """One heraldd process; its ports are read from its log."""

    def __init__(self, node_id, http_port, peer_port, seeds, echo):
        self.node_id = node_id
        self.args = [HERALDD, "--node-id", node_id, "--listen", f"{HOST}:{http_port}",
                     "--cluster-listen", f"{HOST}:{peer_port}"]
        for s in seeds:
            self.args += ["--seed", s]
        self.echo = echo
        self.http_port = self.peer_port = None
        self.log = []

    def start(self, timeout=10):
        # A session of its own: Ctrl-C reaches this script, which stops the
        # nodes one by one (by PID), rather than all of them at once.
        env = {k: v for k, v in os.environ.items() if k != "HERALD_CLUSTER_SECRET"}
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, env=env)
        ready = threading.Event()

        def read_log():
            for line in self.proc.stderr:
                self.log.append(line)
                if m := re.search(r"listening on http://[^ ]+:(\d+)", line):
                    self.http_port = int(m.group(1))
                if m := re.search(r"peer links \(herald.cluster.v1.Peer\) listening on "
                                  r"[^ ]+:(\d+)", line):
                    self.peer_port = int(m.group(1))
                    ready.set()
                if self.echo and ready.is_set() and "cluster:" in line:
                    print(f"[{self.node_id}] {line.split('] ', 2)[-1].rstrip()}", flush=True)
            ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not ready.wait(timeout) or self.peer_port is None:
            self.stop()
            raise RuntimeError(f"{self.node_id} did not start (is heraldd built? make build):\n"
                               + "".join(self.log[-20:]))
        return self

    @property
    def peer_address(self):
        return f"{HOST}:{self.peer_port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def get(port, path):
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def wait_mesh(nodes, timeout=15):
    """Until every node lists all three as live and has links up to the others."""
    ids = sorted(n.node_id for n in nodes)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = []
        for n in nodes:
            try:
                c = json.loads(get(n.http_port, "/cluster")[2])
            except (OSError, ValueError):
                break
            live = sorted(m["node_id"] for m in c["members"] if m["live"])
            up = [l for l in c["links"] if l["state"] == "up"]
            views.append(live == ids and len(up) == len(ids) - 1)
        if len(views) == len(nodes) and all(views):
            return True
        time.sleep(0.05)
    return False


def start_cluster(http_base, peer_base, echo):
    nodes = []
    try:
        for i in range(3):
            ports = (http_base + i, peer_base + i) if http_base else (0, 0)
            seeds = [nodes[-1].peer_address] if nodes else []
            nodes.append(Node(f"n{i + 1}", *ports, seeds, echo).start())
    except BaseException:
        for n in nodes:
            n.stop()
        raise
    return nodes


def peer_interest(node):
    """The other nodes' subscriptions this node knows of (/metrics)."""
    _, _, body = get(node.http_port, "/metrics")
    m = re.search(rb"^herald_peer_subscriptions (\d+)", body, re.M)
    return int(m.group(1)) if m else 0


def wait_interest(nodes, before, grown_by, timeout=5):
    """A subscription receives what any node publishes once its interest
    reached the topic's owner; each node tells every other one, so wait
    until all have it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(peer_interest(n) >= b + g for n, b, g in zip(nodes, before, grown_by)):
            return True
        time.sleep(0.02)
    return False


def check(nodes):
    """n2 publishes a chat message; n1 (WebSocket) and n3 (SSE) must get it."""
    import asyncio

    import websockets

    n1, n2, n3 = nodes
    ok = True
    for n in nodes:
        status, ctype, _ = get(n.http_port, "/")
        print(f"{n.node_id} serves the chat page: {status == 200 and 'text/html' in ctype}")
        ok &= status == 200 and "text/html" in ctype

    # Settled first: the links that just came up still send their whole
    # interest sets (the readiness canaries' patterns too).
    before = [peer_interest(n) for n in nodes]
    for _ in range(50):
        time.sleep(0.1)
        now = [peer_interest(n) for n in nodes]
        if now == before:
            break
        before = now
    sse = http.client.HTTPConnection(HOST, n3.http_port, timeout=5)
    sse.request("GET", f"/sse?topic={ROOM_TOPIC}&format=json")
    sse_resp = sse.getresponse()
    ok &= sse_resp.status == 200
    got_sse = []

    def read_sse():
        try:
            for raw in iter(sse_resp.readline, b""):
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:") and line[5:].strip():
                    got_sse.append(json.loads(line[5:].strip()))
                    return
        except (OSError, ValueError):
            pass
    reader = threading.Thread(target=read_sse, daemon=True)
    reader.start()

    async def go():
        async with websockets.connect(f"ws://{HOST}:{n1.http_port}/ws", open_timeout=5) as ws:
            await ws.send(json.dumps({"op": "sub", "id": 1, "topic": ROOM_TOPIC}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "subscribed"
            # n1's and n3's subscriptions reach the other nodes (n2 holds both).
            if not await asyncio.to_thread(wait_interest, nodes, before, [1, 2, 1]):
                raise AssertionError("the subscriptions' interest did not reach every node")
            body = json.dumps({"id": "demo", "name": "n2 (demo)", "text": "hello from n2"})
            conn = http.client.HTTPConnection(HOST, n2.http_port, timeout=5)
            conn.request("POST", f"/publish/{ROOM_TOPIC}", body=body,
                         headers={"Content-Type": "application/json"})
            ack = json.loads(conn.getresponse().read())
            conn.close()
            print(f"published on n2: {ROOM_TOPIC} at epoch {ack['epoch']} offset {ack['offset']}")
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m.get("op") == "msg":
                    return ack, m
    try:
        ack, ws_msg = asyncio.run(go())
    except (OSError, asyncio.TimeoutError, AssertionError, KeyError) as e:
        print(f"n1 (WebSocket) received it: False ({e!r})")
        return False
    reader.join(5)
    sse.close()
    where = (ack["epoch"], ack["offset"])
    ws_ok = (ws_msg["epoch"], ws_msg["offset"]) == where and ws_msg["payload"]["text"] == \
        "hello from n2"
    sse_ok = bool(got_sse) and (got_sse[0]["epoch"], got_sse[0]["offset"]) == where \
        and got_sse[0]["payload"]["text"] == "hello from n2"
    print(f"n1 (WebSocket) received it: {ws_ok}")
    print(f"n3 (SSE) received it: {sse_ok}")
    return ok and ws_ok and sse_ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--http-base", type=int, default=8081,
                    help="HTTP port of n1 (n2, n3: the next ones; default 8081)")
    ap.add_argument("--peer-base", type=int, default=9081,
                    help="peer-link port of n1 (n2, n3: the next ones; default 9081)")
    ap.add_argument("--check", action="store_true",
                    help="self-test on ephemeral ports: start, verify n2 -> n1 and n3, exit")
    args = ap.parse_args()
    http_base = 0 if args.check else args.http_base
    nodes = start_cluster(http_base, args.peer_base, echo=not args.check)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        meshed = wait_mesh(nodes)
        print(f"mesh: {len(nodes)} nodes, every link up: {meshed}", flush=True)
        for n in nodes:
            print(f"{n.node_id}: chat demo at http://{HOST}:{n.http_port}/  (peer links "
                  f"{n.peer_address}, cluster view http://{HOST}:{n.http_port}/cluster, "
                  f"pid {n.proc.pid})", flush=True)
        if args.check:
            ok = meshed and check(nodes)
            print(f"check {'passed' if ok else 'FAILED'}", flush=True)
            return 0 if ok else 1
        if not meshed:
            return 1
        print("Open two of these in different tabs and join the same room: messages typed on "
              "one node appear on the others.\nStop a node (kill PID) to watch the others carry "
              "on; Ctrl-C stops all three.", flush=True)
        while not stop.wait(0.5):
            for n in nodes:
                if n.proc.poll() is not None and not getattr(n, "reported", False):
                    n.reported = True
                    print(f"{n.node_id} exited with status {n.proc.returncode}", flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for n in nodes:
            n.stop()
        if not args.check:
            print("stopped n1, n2, n3", flush=True)


if __name__ == "__main__":
    sys.exit(main())
