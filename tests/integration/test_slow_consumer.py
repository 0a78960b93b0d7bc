"""A WebSocket client that stops reading must not slow the publisher or the
other subscribers; it gets its outbound limit's policy: dropped messages
reported as a gap (default), or a disconnect."""
import asyncio
import json
import socket
import time
import unittest

import websockets

from heraldd import Heraldd, metric
from ws_util import masked_frame, raw_handshake, recv_json, run

N = 3008  # a multiple of the batch size below
PAYLOAD = "p" * 4000


def stalled_subscriber(port, topic):
    """A JSON client that subscribes and then never reads."""
    s, head = raw_handshake(port, "/ws")
    assert head.startswith("HTTP/1.1 101"), head
    s.sendall(masked_frame(0x1, json.dumps({"op": "sub", "topic": topic}).encode()))
    return s


async def publish_and_count(url, topic):
    async with websockets.connect(url, max_size=None) as healthy, \
               websockets.connect(url) as pub:
        await healthy.send(json.dumps({"op": "sub", "topic": topic}))
        await recv_json(healthy)
        start = time.monotonic()
        offsets = []
        # The healthy subscriber reads as fast as the publisher publishes
        # (batches of 16, 64 KB); the stalled one never reads at all.
        for batch in range(N // 16):
            for i in range(16):
                await pub.send(json.dumps({"op": "pub", "topic": topic, "payload": PAYLOAD}))
            while len(offsets) < (batch + 1) * 16:
                offsets.append((await recv_json(healthy, 10))["offset"])
        return offsets, time.monotonic() - start


class SlowConsumer(unittest.TestCase):
    def test_stalled_reader_gets_a_gap_and_nobody_else_notices(self):
        with Heraldd(config="[websocket]\nmax_outbound_bytes = 262144\n") as h:
            url = f"ws://127.0.0.1:{h.port}/ws"
            stalled = stalled_subscriber(h.port, "feed")
            offsets, _ = run(publish_and_count(url, "feed"))
            self.assertEqual(offsets, list(range(1, N + 1)))  # the healthy one: all, in order
            self.assertGreater(metric(h.port, "herald_dropped_total"), 0)
            # The stalled client reads now: what it got, then a gap for the rest.
            stalled.settimeout(5)
            data = b""
            deadline = time.monotonic() + 10
            while b'"op":"gap"' not in data and time.monotonic() < deadline:
                chunk = stalled.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b'"reason":"slow_consumer"', data)
            stalled.close()

    def test_disconnect_policy_cuts_the_stalled_reader(self):
        with Heraldd(config="[websocket]\nmax_outbound_bytes = 262144\n"
                            "slow_consumer_policy = \"disconnect\"\n") as h:
            url = f"ws://127.0.0.1:{h.port}/ws"
            stalled = stalled_subscriber(h.port, "feed")
            offsets, _ = run(publish_and_count(url, "feed"))
            self.assertEqual(offsets, list(range(1, N + 1)))
            self.assertEqual(metric(h.port, "herald_slow_consumer_disconnects_total"), 1)
            self.assertEqual(metric(h.port, "herald_ws_connections_open"), 0)
            stalled.close()


if __name__ == "__main__":
    unittest.main()
