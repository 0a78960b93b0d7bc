#!/usr/bin/env python3
"""Code judging as request/reply, in one command:

    python3 examples/judge/demo.py

A pool of three judge workers (examples/python/responder.py, queue group
"judges") serves `judge.run` over gRPC. A backend sends 30 submissions as
requests — each one answered by exactly one judge, the gRPC deadline being the
timeout — while a browser-facing page could ask the same over HTTP
(`POST /request/judge.run`). Prints who judged what and exits 0 when every
submission got its verdict.
"""
import collections
import concurrent.futures
import json
import os
import sys
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from herald_stubs import broker_pb2, broker_pb2_grpc  # noqa: E402
from local_node import LocalNode, start_example  # noqa: E402

SUBMISSIONS = 30
WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
# HERALD_DEMO_LINGER=20: wait that long before running, to open the page.
LINGER = float(os.environ.get("HERALD_DEMO_LINGER", "0"))


def main():
    with LocalNode("--static", WEB) as node:
        print(f"browser view: http://127.0.0.1:{node.http_port}/", flush=True)
        if LINGER:
            time.sleep(LINGER)  # time to open the page before the run
        judges = [start_example("responder.py", "--target", node.grpc_target,
                                "--topic", "judge.run", "--group", "judges",
                                "--announce", "judge.verdicts") for _ in range(3)]
        for j in judges:
            assert j.stdout.readline().strip() == "ready"
        with grpc.insecure_channel(node.grpc_target) as channel:
            stub = broker_pb2_grpc.BrokerStub(channel)

            def submit(i):
                code = f"print({i})" * (i % 5 + 1)
                reply = stub.Request(broker_pb2.RequestRequest(topic="judge.run",
                                                               payload=code.encode()), timeout=5)
                return i, len(code), json.loads(reply.payload)

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                results = list(pool.map(submit, range(SUBMISSIONS)))
        # The same over plain HTTP, as a browser-facing service would.
        req = urllib.request.Request(f"http://127.0.0.1:{node.http_port}/request/judge.run"
                                     "?timeout_ms=3000", data=b"print('http')", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            http_verdict = json.loads(resp.read())
        for j in judges:
            j.terminate()
            j.wait(10)
    by_judge = collections.Counter(v["judge"] for _, _, v in results)
    correct = all(v["verdict"] == "accepted" and v["length"] == n for _, n, v in results)
    print(f"{len(results)} submissions judged, every verdict matches its submission: {correct}")
    print("judged per worker:", ", ".join(f"pid {p}: {n}" for p, n in sorted(by_judge.items())))
    print(f"over HTTP: {http_verdict['verdict']} (length {http_verdict['length']})")
    return 0 if correct and len(results) == SUBMISSIONS and len(by_judge) >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
