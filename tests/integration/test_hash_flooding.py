"""Hash flooding (issue 14, "hash maps keyed by client-chosen strings"): names
chosen so that an unkeyed hash puts them all in one place cannot slow the
server down, because its maps hash client-chosen names with SipHash under a
random per-process key.

data/unkeyed_hash_colliding_tokens.txt holds 20,480 tokens whose libstdc++
std::hash<std::string_view> — what the subscription trie's token map used
before — agree in their low 16 bits, so in a power-of-two open-addressing
table they all fall into one probe run (each insert and lookup walks it).
They were found by brute force with this program (74 s):

    for (unsigned long i = 0; found < 20480; ++i) {
      int n = snprintf(buf, sizeof buf, "k%lx", i);
      if ((std::hash<std::string_view>{}({buf, size_t(n)}) & 0xffff) == 0) puts(buf), ++found;
    }

Twenty WebSocket clients subscribe 1,024 patterns each, `flood.<token>`, all
children of one trie node; then as many patterns of random tokens of the same
shape. heraldd's CPU seconds are measured for each set."""
import asyncio
import json
import os
import random
import unittest

import websockets

from heraldd import Heraldd
from probe_util import cpu_seconds, report
from ws_util import run

HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTIONS = 20
PER_CONNECTION = 1024


def crafted_tokens():
    with open(os.path.join(HERE, "data", "unkeyed_hash_colliding_tokens.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def random_tokens(n, like):
    rng = random.Random(7)
    return ["k%x" % rng.randrange(16 ** (len(t) - 1)) for t in like[:n]]


async def subscribe_all(port, prefix, tokens):
    conns = [await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_queue=None)
             for _ in range(CONNECTIONS)]
    try:
        async def one(ws, chunk):
            for i, tok in enumerate(chunk):
                await ws.send(json.dumps({"op": "sub", "id": i, "topic": f"{prefix}.{tok}"}))
            got = 0
            while got < len(chunk):
                m = json.loads(await asyncio.wait_for(ws.recv(), 60))
                assert m.get("op") == "subscribed", m
                got += 1
        await asyncio.gather(*(one(ws, tokens[k * PER_CONNECTION:(k + 1) * PER_CONNECTION])
                               for k, ws in enumerate(conns)))
    finally:
        for ws in conns:
            await ws.close()


class HashFlooding(unittest.TestCase):
    def test_names_colliding_under_an_unkeyed_hash_cost_what_random_names_cost(self):
        tokens = crafted_tokens()
        self.assertEqual(len(tokens), CONNECTIONS * PER_CONNECTION)
        with Heraldd() as h:
            t0 = cpu_seconds(h.proc.pid)
            asyncio.run(asyncio.wait_for(subscribe_all(h.port, "flood", tokens), 240))
            crafted = cpu_seconds(h.proc.pid) - t0
            t0 = cpu_seconds(h.proc.pid)
            asyncio.run(asyncio.wait_for(
                subscribe_all(h.port, "ctrl", random_tokens(len(tokens), tokens)), 240))
            control = cpu_seconds(h.proc.pid) - t0
        report(self, "CPU for 20,480 subscriptions: crafted / random tokens (s)",
               f"{crafted:.2f} / {control:.2f}")
        # Same work, same cost: the crafted names are just names. With the
        # unkeyed hash this measured 1.13 s against 0.19 s (one probe run of
        # 20,480 slots); keyed, 0.19 s against 0.20 s.
        self.assertLess(crafted, 2 * control + 0.3)


if __name__ == "__main__":
    unittest.main()
