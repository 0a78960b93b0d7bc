"""Graceful drain: on SIGTERM heraldd stops accepting, ends its connections
the protocol's way — WebSocket 1001, SSE with a `retry:` hint — spread over
drain_window_ms rather than all at once, and exits 0."""
import asyncio
import socket
import threading
import time
import unittest

import websockets

from heraldd import Heraldd
from sse_util import SseClient

WINDOW_S = 2.0


class Drain(unittest.TestCase):
    def test_sigterm_ends_every_connection_its_way_spread_over_the_window_and_exits_0(self):
        server = Heraldd(config=f"drain_window_ms = {int(WINDOW_S * 1000)}\n").__enter__()
        port = server.port
        ws_closes = []  # (time, code)
        sse_ends = []  # (time, saw a retry hint)
        ready = threading.Event()
        n_ws, n_sse = 24, 8

        async def ws_client():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                try:
                    while True:
                        await ws.recv()
                except websockets.ConnectionClosed as e:
                    ws_closes.append((time.monotonic(), e.rcvd.code if e.rcvd else None))

        async def all_ws():
            tasks = [asyncio.create_task(ws_client()) for _ in range(n_ws)]
            await asyncio.sleep(0.3)
            ready.set()
            await asyncio.wait_for(asyncio.gather(*tasks), WINDOW_S + 5)

        def sse_client():
            c = SseClient(port, "/sse?topic=news", timeout=WINDOW_S + 5)
            before = len(c.parser.retries) if hasattr(c.parser, "retries") else 0
            while not c.eof:
                try:
                    c.next_event(timeout=WINDOW_S + 5)
                except Exception:
                    break
            sse_ends.append((time.monotonic(), b"retry: " in bytes(c.raw)[10:], before))
            c.close()

        sse_threads = [threading.Thread(target=sse_client) for _ in range(n_sse)]
        for t in sse_threads:
            t.start()
        ws_thread = threading.Thread(target=lambda: asyncio.run(all_ws()))
        ws_thread.start()
        self.assertTrue(ready.wait(10))
        time.sleep(0.3)
        t0 = time.monotonic()
        rc = server.stop()  # SIGTERM, waits for the exit
        exit_s = time.monotonic() - t0
        ws_thread.join(15)
        for t in sse_threads:
            t.join(15)

        self.assertEqual(rc, 0, server.logs()[-2000:])
        self.assertLess(exit_s, WINDOW_S + 3, "exited long after the window")
        self.assertEqual(len(ws_closes), n_ws)
        self.assertEqual({code for _, code in ws_closes}, {1001})
        self.assertEqual(len(sse_ends), n_sse)
        # The stream's last words: a fresh retry hint after the opening one.
        self.assertTrue(all(hint for _, hint, _ in sse_ends), sse_ends)
        times = sorted([t for t, _ in ws_closes] + [t for t, _, _ in sse_ends])
        spread = times[-1] - times[0]
        print(f"\n    [drain] {n_ws + n_sse} connections ended over {spread:.2f}s "
              f"(window {WINDOW_S}s); exit after {exit_s:.2f}s")
        self.assertGreater(spread, WINDOW_S * 0.5, "closed all at once, not spread")
        # No quarter of the window took more than half of the connections.
        quarters = [0, 0, 0, 0]
        for t in times:
            quarters[min(3, int((t - times[0]) / (WINDOW_S / 4)))] += 1
        self.assertLessEqual(max(quarters), len(times) // 2 + 1, quarters)

    def test_no_new_connection_is_accepted_while_draining(self):
        server = Heraldd(config="drain_window_ms = 1500\n").__enter__()
        port = server.port
        keep = socket.create_connection(("127.0.0.1", port))  # something to drain
        keep.sendall(b"GET /sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        server.proc.send_signal(15)
        time.sleep(0.3)
        refused = False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = s.recv(100) == b""
            s.close()
        except OSError:
            refused = True
        self.assertTrue(refused, "a new connection was served during the drain")
        keep.close()
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
