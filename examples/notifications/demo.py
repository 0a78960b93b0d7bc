#!/usr/bin/env python3
"""Notifications off the primary backend, in one command:

    python3 examples/notifications/demo.py

A "payments" backend publishes `payments.completed` over gRPC and moves on
(fire-and-forget, but acknowledged). Two notification workers in one queue
group ("notifiers") each take a share and "send the e-mail". A browser-side
view subscribed over WebSocket sees every event live. The demo checks that
each payment was notified exactly once and seen by the browser, prints a
summary and exits 0 (1 if not).
"""
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from local_node import LocalNode, start_example  # noqa: E402

PAYMENTS = 20
WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
# HERALD_DEMO_LINGER=20: wait that long before running, to open the page.
LINGER = float(os.environ.get("HERALD_DEMO_LINGER", "0"))


async def browser_view(port, ready, seen):
    """What a dashboard page does: one WebSocket, every payment event."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "payments.completed"}))
        assert json.loads(await ws.recv())["op"] == "subscribed"
        ready.set()
        while len(seen) < PAYMENTS:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m["op"] == "msg":
                seen.append(m["payload"]["payment"])


def wait_ready(proc):
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"worker not ready: {line!r}")


async def main():
    with LocalNode("--static", WEB) as node:
        print(f"browser view: http://127.0.0.1:{node.http_port}/", flush=True)
        if LINGER:
            time.sleep(LINGER)  # time to open the page before the run
        workers = [start_example("worker.py", "--target", node.grpc_target,
                                 "--topic", "payments.completed", "--group", "notifiers")
                   for _ in range(2)]
        for w in workers:
            wait_ready(w)
        ready, seen = asyncio.Event(), []
        view = asyncio.create_task(browser_view(node.http_port, ready, seen))
        await ready.wait()
        backend = start_example("publisher.py", "--target", node.grpc_target,
                                "--topic", "payments.completed", "--count", str(PAYMENTS))
        acks = [l.split() for l in backend.stdout.read().splitlines()]
        backend.wait()
        await view
        time.sleep(0.2)  # let the workers print what they handled
        notified = []
        for w in workers:
            w.terminate()  # leaves the group gracefully, finishing its share
            out = w.communicate(timeout=10)[0]
            notified.append([json.loads(l)["payment"] for l in out.splitlines()])
    shares = [len(n) for n in notified]
    everyone = sorted(p for n in notified for p in n)
    print(f"backend: {len(acks)} payments published, acknowledged at offsets "
          f"{acks[0][1]}..{acks[-1][1]}")
    print(f"notifiers: {shares[0]} + {shares[1]} e-mails (each payment once: "
          f"{everyone == list(range(1, PAYMENTS + 1))})")
    print(f"browser view: saw {len(seen)} payments live, in order: "
          f"{seen == list(range(1, PAYMENTS + 1))}")
    ok = (everyone == list(range(1, PAYMENTS + 1)) and seen == list(range(1, PAYMENTS + 1))
          and all(s > 0 for s in shares))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
