#!/usr/bin/env python3
"""Code judging on a durable work queue, in one command:

    python3 examples/judge/demo.py

heraldd holds a work queue `judge` over `submissions.>` (ack_wait 1.5 s).
Three judges (examples/python/queue_worker.py) pull submissions over HTTP,
judge them, announce each verdict on `judge.verdicts` and acknowledge the
job. The backend publishes 30 submissions; while they are being judged, the
demo kills one judge with SIGKILL in the middle of a submission. That
submission is offered again once its ack_wait passes and judged by another
judge. Exits 0 when every submission got exactly one verdict and the queue
is empty.
"""
import collections
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from local_node import LocalNode, start_example  # noqa: E402

SUBMISSIONS = 30
WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
# HERALD_DEMO_LINGER=20: wait that long before running, to open the page.
LINGER = float(os.environ.get("HERALD_DEMO_LINGER", "0"))
CONFIG = """
[[queues]]
name = "judge"
pattern = "submissions.>"
ack_wait_ms = 1500
max_deliver = 5
dead_letter = "judge.dead"
"""


def http(port, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def main():
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as config:
        config.write(CONFIG)
        config.flush()
        with LocalNode("--static", WEB, "--config", config.name) as node:
            return run(node)


def run(node):
    port = node.http_port
    print(f"browser view: http://127.0.0.1:{port}/", flush=True)
    if LINGER:
        time.sleep(LINGER)  # time to open the page before the run
    judges = [start_example("queue_worker.py", "--url", f"http://127.0.0.1:{port}",
                            "--queue", "judge", "--announce", "judge.verdicts",
                            "--work-ms", "100") for _ in range(3)]
    for j in judges:
        assert j.stdout.readline().strip() == "ready"
    for i in range(SUBMISSIONS):
        code = f"print({i})" * (i % 5 + 1)
        http(port, "POST", f"/publish/submissions.{i}", code.encode(),
             {"Herald-Msg-Id": f"submission-{i}"})
    # Kill a judge in the middle of a submission: right after it says it
    # started one, before it could announce or acknowledge it.
    victim = judges[0]
    line = victim.stdout.readline().split()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = line[1] if len(line) > 1 else "?"
    print(f"killed judge pid {victim.pid} while it judged {killed}", flush=True)

    def verdicts():
        got = http(port, "GET", "/history/judge.verdicts?limit=1000")["messages"]
        return [m["payload"] for m in got]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        queue = http(port, "GET", "/queues/judge")
        if queue["pending"] == 0 and len(verdicts()) >= SUBMISSIONS:
            break
        time.sleep(0.1)
    for j in judges[1:]:
        j.terminate()
        j.wait(10)
    for j in judges:
        j.stdout.close()
    got = verdicts()
    per_submission = collections.Counter(v["submission"] for v in got)
    once = (len(per_submission) == SUBMISSIONS and set(per_submission.values()) == {1})
    lengths_ok = all(v["length"] == len(f"print({int(v['submission'].split('.')[1])})")
                     * (int(v["submission"].split(".")[1]) % 5 + 1) for v in got)
    again = [v for v in got if v["submission"] == killed]
    by_judge = collections.Counter(v["judge"] for v in got)
    print(f"{SUBMISSIONS} submissions judged, one verdict each: {once and lengths_ok}")
    if again:
        print(f"{killed}: judged on delivery {again[0]['deliveries']} by pid {again[0]['judge']}")
    print("judged per worker:", ", ".join(f"pid {p}: {n}" for p, n in sorted(by_judge.items())))
    print(f"queue after: pending {queue['pending']}, acked {queue['acked']}, "
          f"redelivered {queue['redelivered']}")
    return 0 if once and lengths_ok and again and again[0]["deliveries"] >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
