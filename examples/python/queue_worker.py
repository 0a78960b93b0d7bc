#!/usr/bin/env python3
"""A work-queue worker over plain HTTP (the standard library only).

    python3 queue_worker.py --url http://127.0.0.1:8080 --queue judge --announce judge.verdicts

Pulls jobs from a durable work queue (`POST /queues/<queue>/pull`, a long
poll), "judges" each one, publishes the verdict to `--announce` with a
message id naming the job's message (so a job judged twice, after a worker
died between publishing and acknowledging, is still announced once), then
acknowledges it (`POST /queues/<queue>/ack`). A worker that dies holding a
job loses nothing: the job is offered again after the queue's ack_wait.

Prints "judging <topic> <epoch>:<offset>" as it starts each job (the judge
demo kills a worker right there).
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

import credentials


def call(url, body=None, headers=None, timeout=30, auth=None):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={**(headers or {}), **(auth or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--queue", default="judge")
    ap.add_argument("--announce", default="judge.verdicts")
    ap.add_argument("--batch", type=int, default=1, help="jobs per pull")
    ap.add_argument("--work-ms", type=int, default=50, help="how long judging one job takes")
    credentials.add_arguments(ap)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    base = f"{args.url}/queues/{args.queue}"
    print("ready", flush=True)
    while True:
        try:
            jobs = call(f"{base}/pull?max={args.batch}&wait_ms=5000",
                        auth=credentials.http_headers(args))["jobs"]
        except (urllib.error.URLError, OSError) as e:
            print("pull failed:", e, file=sys.stderr, flush=True)
            time.sleep(0.5)
            continue
        for job in jobs:
            position = f"{job['epoch']}:{job['offset']}"
            print(f"judging {job['topic']} {position}", flush=True)
            time.sleep(args.work_ms / 1000)
            code = job.get("payload", "")
            verdict = {"submission": job["topic"], "verdict": "accepted",
                       "length": len(code.encode()), "judge": os.getpid(),
                       "deliveries": job["deliveries"]}
            call(f"{args.url}/publish/{args.announce}", json.dumps(verdict).encode(),
                 {"Content-Type": "application/json",
                  "Herald-Msg-Id": f"verdict-{job['topic']}-{position}"},
                 auth=credentials.http_headers(args))
            call(f"{base}/ack", json.dumps({"handles": [job["handle"]]}).encode(),
                 auth=credentials.http_headers(args))


if __name__ == "__main__":
    main()
