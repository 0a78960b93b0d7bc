"""Connect latency through a connect hook (`make bench-hooks`).

One heraldd per run, fresh, on a free loopback port, with JWT auth on:
  - no hooks (the baseline);
  - an HTTP JSON connect hook (tests/integration/hook_backend.py's
    ThreadingHTTPServer, answering allow at once);
  - a gRPC connect hook (grpcio, the same backend logic).
Each run opens CONNECTS WebSocket connections (Python `websockets`), first
one at a time (the latency a client sees), then BATCH at a time, and reports
p50/p99 of the time from TCP connect to the upgrade's answer, and what the
hook adds to the baseline. Results: stdout and
build/release/bench-results/hooks.md.
    /usr/bin/python3 bench/hooks/connect_latency.py [CONNECTS] [BATCH]
"""
import asyncio
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build", "release"))
os.environ.setdefault("HERALDD", os.path.join(BUILD, "server", "heraldd"))
os.environ.setdefault("HERALD_PYTHON_STUBS", os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import websockets  # noqa: E402

from heraldd import Heraldd  # noqa: E402
from hook_backend import GrpcHookBackend, HttpHookBackend  # noqa: E402
from test_auth import auth_toml, bearer, claims, jwt  # noqa: E402

CONNECTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 50

AUTH = auth_toml(["public.>"])


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


async def one(port, token):
    t0 = time.perf_counter()
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", extra_headers=bearer(token),
                                  open_timeout=10)
    took = (time.perf_counter() - t0) * 1000
    await ws.close()
    return took


async def measure(port):
    tokens = [jwt(claims(sub=f"user{i}")) for i in range(CONNECTS)]
    serial = [await one(port, t) for t in tokens]
    batched = []
    for start in range(0, CONNECTS, BATCH):
        batched += await asyncio.gather(*(one(port, t) for t in tokens[start:start + BATCH]))
    return sorted(serial), sorted(batched)


def run(label, backend):
    config = AUTH
    if backend is not None:
        where = (f'url = "{backend.url}"' if hasattr(backend, "url")
                 else f'grpc_target = "{backend.target}"')
        config += f"\n[hooks]\n{where}\n[hooks.connect]\nenabled = true\n"
    with Heraldd(config=config) as h:
        serial, batched = asyncio.run(measure(h.port))
    calls = len(backend.of("connect")) if backend is not None else 0
    return {"label": label, "serial": serial, "batched": batched, "calls": calls}


def main():
    results = [run("no hook", None)]
    http = HttpHookBackend()
    results.append(run("HTTP hook", http))
    http.close()
    grpc_backend = GrpcHookBackend()
    results.append(run("gRPC hook", grpc_backend))
    grpc_backend.close()
    base = results[0]
    lines = [f"# Connect latency through a connect hook ({time.strftime('%Y-%m-%d')}, "
             f"{CONNECTS} WebSocket connects, one at a time, then {BATCH} at a time)", "",
             "| run | hook calls | serial p50 (ms) | serial p99 | added p50 | added p99 "
             f"| {BATCH} at a time p50 | p99 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        s, b = r["serial"], r["batched"]
        lines.append(
            f"| {r['label']} | {r['calls']} | {pct(s, 50):.2f} | {pct(s, 99):.2f} | "
            f"{pct(s, 50) - pct(base['serial'], 50):+.2f} | "
            f"{pct(s, 99) - pct(base['serial'], 99):+.2f} | "
            f"{pct(b, 50):.2f} | {pct(b, 99):.2f} |")
    text = "\n".join(lines)
    print(text)
    out = os.path.join(BUILD, "bench-results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "hooks.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
