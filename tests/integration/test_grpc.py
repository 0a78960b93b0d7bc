"""The gRPC API of a real heraldd, driven by Debian's python3-grpcio and by
the Python examples (examples/python): across languages and fronts."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import grpc
import websockets

from heraldd import Heraldd, http_call, stop_process, wait_until
from sse_util import SseClient, started
from ws_util import recv_json, recv_until, run

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))
from herald.v1 import broker_pb2 as pb  # noqa: E402
from herald.v1 import broker_pb2_grpc as pb_grpc  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                        "python")


class Example:
    """One of examples/python as a process; its stdout lines are collected."""

    def __init__(self, script, *args):
        env = dict(os.environ, HERALD_PYTHON_STUBS=os.path.abspath(STUBS))
        self.proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, script), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self):
        with self._lock:
            return list(self.lines)

    def wait_ready(self, timeout=10):
        if not wait_until(lambda: "ready" in self.output(), timeout):
            self.stop()
            raise AssertionError("example not ready")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        stop_process(self.proc, sig, timeout)
        self._reader.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return self.proc.returncode


class GrpcCase(unittest.TestCase):
    CONFIG = "grpc_listen = \"127.0.0.1:0\"\n[limits]\nmax_payload_bytes = 65536\n"

    def setUp(self):
        self.h = Heraldd(config=self.CONFIG)
        self.h.__enter__()
        self.addCleanup(self.h.__exit__)
        self.target = f"127.0.0.1:{self.h.grpc_port}"
        self.channel = grpc.insecure_channel(self.target)
        self.addCleanup(self.channel.close)
        self.stub = pb_grpc.BrokerStub(self.channel)

    def example(self, script, *args):
        e = Example(script, "--target", self.target, *args)
        self.addCleanup(e.stop)
        return e


class AcrossFronts(GrpcCase):
    def test_python_publisher_reaches_websocket_and_sse_subscribers(self):
        sse = SseClient(self.h.port, "/sse?topic=payments.%3E&format=json")
        self.addCleanup(sse.close)
        sse.wait_for(started)

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.h.port}/ws") as ws:
                await ws.send(json.dumps({"op": "sub", "id": 1, "topic": "payments.completed"}))
                self.assertEqual((await recv_json(ws))["op"], "subscribed")
                pub = self.example("publisher.py", "--topic", "payments.completed", "--count", "5")
                rc = await asyncio.to_thread(pub.proc.wait, 20)
                self.assertEqual(rc, 0)
                msgs = [await recv_json(ws) for _ in range(5)]
                return pub.output(), msgs
        acks, ws_msgs = run(go())
        self.assertEqual([int(a.split()[1]) for a in acks], [1, 2, 3, 4, 5])
        sse_msgs = [json.loads(e.data) for e in sse.events(5)]
        for got in (ws_msgs, sse_msgs):
            self.assertEqual([m["offset"] for m in got], [1, 2, 3, 4, 5])
            self.assertEqual([m["payload"]["payment"] for m in got], [1, 2, 3, 4, 5])
            self.assertEqual({m["content_type"] for m in got}, {"application/json"})
            self.assertEqual({m["headers"]["source"] for m in got}, {"payments"})

    def test_websocket_and_http_requests_are_answered_by_a_grpc_responder(self):
        judge = self.example("responder.py", "--topic", "judge.run", "--group", "judges")
        judge.wait_ready()

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.h.port}/ws") as ws:
                await ws.send(json.dumps({"op": "req", "id": 7, "topic": "judge.run",
                                          "payload": "print(1)", "timeout_ms": 3000}))
                return await recv_json(ws, timeout=5)
        reply = run(go())
        self.assertEqual((reply["op"], reply["id"]), ("reply", 7))
        self.assertEqual(reply["payload"]["verdict"], "accepted")
        self.assertEqual(reply["payload"]["length"], len("print(1)"))
        resp, body = http_call(self.h.port, "POST", "/request/judge.run?timeout_ms=3000",
                               b"x = 1\n")
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertEqual(json.loads(body)["length"], 6)

    def test_grpc_subscriber_gets_websocket_publishes(self):
        stream = self.stub.Subscribe(pb.SubscribeRequest(pattern="chat.*"), timeout=10)
        self.assertEqual(dict(stream.initial_metadata()).get("x"), None)  # headers: subscribed

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.h.port}/ws") as ws:
                for i in range(3):
                    await ws.send(json.dumps({"op": "pub", "id": i + 1, "topic": "chat.room",
                                              "payload": f"hi {i}"}))
                    await recv_until(ws, lambda m: m.get("op") == "ack")
        run(go())
        got = [next(stream).message for _ in range(3)]
        stream.cancel()
        self.assertEqual([m.payload for m in got], [b"hi 0", b"hi 1", b"hi 2"])
        self.assertEqual([m.offset for m in got], [1, 2, 3])


class QueueGroups(GrpcCase):
    def test_three_grpc_workers_handle_each_message_once_while_workers_join_and_leave(self):
        workers = [self.example("worker.py", "--topic", "jobs.email", "--group", "mailers")
                   for _ in range(3)]
        for w in workers:
            w.wait_ready()
        total = 600
        for i in range(1, total + 1):
            self.stub.Publish(pb.PublishRequest(topic="jobs.email", payload=str(i).encode()),
                              timeout=5)
            if i == 200:
                # One worker leaves gracefully (SIGTERM: unsubscribe, finish its share).
                self.assertEqual(workers[0].stop(), 0)
            if i == 400:
                late = self.example("worker.py", "--topic", "jobs.email", "--group", "mailers")
                late.wait_ready()
                workers.append(late)
            if i % 50 == 0:
                time.sleep(0.01)

        def handled():
            return [l for w in workers for l in w.output() if l != "ready"]
        self.assertTrue(wait_until(lambda: len(handled()) >= total, 15),
                        f"{len(handled())} of {total} handled")
        time.sleep(0.2)  # a duplicate would show up now
        for w in workers:
            w.stop()
        jobs = handled()
        self.assertEqual(sorted(jobs, key=int), [str(i) for i in range(1, total + 1)])
        shares = [len([l for l in w.output() if l != "ready"]) for w in workers]
        self.assertTrue(all(s > 0 for s in shares), shares)


class Resume(GrpcCase):
    def test_subscribe_resumes_after_a_dropped_stream_without_a_gap(self):
        stream = self.stub.Subscribe(pb.SubscribeRequest(pattern="ticks.>"), timeout=10)
        stream.initial_metadata()  # subscribed
        for i in range(1, 4):
            self.stub.Publish(pb.PublishRequest(topic="ticks.a", payload=f"t{i}".encode()))
        seen = [next(stream).message for _ in range(3)]
        stream.cancel()  # the stream drops
        for i in range(4, 7):
            self.stub.Publish(pb.PublishRequest(topic="ticks.a", payload=f"t{i}".encode()))
        last = seen[-1]
        again = self.stub.Subscribe(pb.SubscribeRequest(
            pattern="ticks.>",
            resume=[pb.ResumePoint(topic="ticks.a", epoch=last.epoch, after_offset=last.offset)]),
            timeout=10)
        got = [next(again) for _ in range(3)]
        self.stub.Publish(pb.PublishRequest(topic="ticks.a", payload=b"t7"))
        got.append(next(again))
        again.cancel()
        self.assertEqual([r.WhichOneof("event") for r in got], ["message"] * 4)
        self.assertEqual([r.message.payload for r in got], [b"t4", b"t5", b"t6", b"t7"])


class Errors(GrpcCase):
    def assertCode(self, call, code, text=None):
        with self.assertRaises(grpc.RpcError) as cm:
            call()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        if text:
            self.assertIn(text, cm.exception.details())
        return cm.exception

    def test_every_error_status(self):
        self.assertCode(lambda: self.stub.Publish(pb.PublishRequest(topic="a..b")),
                        grpc.StatusCode.INVALID_ARGUMENT, "empty token")
        self.assertCode(lambda: self.stub.Publish(pb.PublishRequest(topic="a.*")),
                        grpc.StatusCode.INVALID_ARGUMENT)
        self.assertCode(lambda: self.stub.Publish(pb.PublishRequest(topic="big", payload=b"x" * 70000)),
                        grpc.StatusCode.RESOURCE_EXHAUSTED)
        # Over the gRPC message limit itself (default 4 MiB): refused by gRPC.
        self.assertCode(lambda: self.stub.Publish(pb.PublishRequest(topic="huge",
                                                                    payload=b"x" * (5 << 20))),
                        grpc.StatusCode.RESOURCE_EXHAUSTED)
        err = self.assertCode(lambda: self.stub.Request(pb.RequestRequest(topic="nobody.home"),
                                                        timeout=5),
                              grpc.StatusCode.UNAVAILABLE, "no responders")
        self.assertIn(("herald-error", "no_responders"), err.trailing_metadata())
        # A subscriber that never answers: the call's deadline is the timeout.
        silent = self.stub.Subscribe(pb.SubscribeRequest(pattern="judge.slow"), timeout=10)
        silent.initial_metadata()
        t0 = time.monotonic()
        self.assertCode(lambda: self.stub.Request(pb.RequestRequest(topic="judge.slow"),
                                                  timeout=0.3),
                        grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 3)
        silent.cancel()
        bad = self.stub.Subscribe(pb.SubscribeRequest(pattern="a.>.b"), timeout=5)
        self.assertCode(lambda: next(bad), grpc.StatusCode.INVALID_ARGUMENT)
        resume_bad = self.stub.Subscribe(pb.SubscribeRequest(
            pattern="x.*", resume=[pb.ResumePoint(topic="y.z", epoch=1, after_offset=1)]),
            timeout=5)
        self.assertCode(lambda: next(resume_bad), grpc.StatusCode.INVALID_ARGUMENT)
        # The node is unharmed: a good call still works.
        ack = self.stub.Publish(pb.PublishRequest(topic="ok.t", payload=b"fine"))
        self.assertEqual(ack.offset, 1)

    def test_connect_reports_errors_per_command_and_goes_on(self):
        commands = [
            pb.ClientCommand(id=1, publish=pb.PublishRequest(topic="bad..topic")),
            pb.ClientCommand(id=2, unsubscribe=pb.Unsubscribe(subscription_id=42)),
            pb.ClientCommand(id=3, reply=pb.Reply(to="not.an.inbox", payload=b"x")),
            pb.ClientCommand(id=4, publish=pb.PublishRequest(topic="good.t", payload=b"y")),
        ]
        events = self.stub.Connect(iter(commands), timeout=10)
        got = {}
        for e in events:
            got[e.id] = e
            if len(got) == 4:
                break
        events.cancel()
        self.assertEqual(got[1].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(got[2].error.code, grpc.StatusCode.NOT_FOUND.value[0])
        self.assertEqual(got[3].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(got[4].WhichOneof("event"), "ack")

    def test_publish_stream_acknowledges_and_reports_refusals(self):
        def requests():
            for i in range(1, 2001):
                topic = "bad..t" if i == 1500 else "stream.t"
                yield pb.PublishStreamRequest(
                    message=pb.PublishRequest(topic=topic, payload=b"m"),
                    sequence=i if i % 500 == 0 else 0)
        acks, errors, batches = [], [], []
        for r in self.stub.PublishStream(requests(), timeout=20):
            kind = r.WhichOneof("result")
            if kind == "ack":
                acks.append(r.ack.sequence)
            elif kind == "error":
                errors.append(r.error.sequence)
            else:
                batches.append((r.batch.accepted, r.batch.refused))
        self.assertEqual(acks, [500, 1000, 2000])
        self.assertEqual(errors, [1500])
        self.assertEqual(batches[-1], (1999, 1))


if __name__ == "__main__":
    unittest.main()
