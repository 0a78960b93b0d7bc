#!/usr/bin/env python3
"""A responder: answers requests sent to a topic (sync style, request/reply).

    python3 responder.py --target 127.0.0.1:9090 --topic judge.run --group judges

Prints "ready" once subscribed. Each request's payload is "judged": the reply
is a JSON verdict naming the code's length and this responder.
"""
import argparse
import json
import os
import queue
import signal
import sys
import threading

import grpc

import credentials
from herald_stubs import broker_pb2, broker_pb2_grpc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:9090")
    ap.add_argument("--topic", default="judge.run")
    ap.add_argument("--group", default="judges")
    credentials.add_arguments(ap)
    ap.add_argument("--announce", default="",
                    help="also publish each verdict to this topic (for a live view)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    commands = queue.Queue()
    commands.put(broker_pb2.ClientCommand(
        id=1, subscribe=broker_pb2.SubscribeRequest(pattern=args.topic, queue_group=args.group)))

    def outgoing():
        while True:
            yield commands.get()

    with grpc.insecure_channel(args.target) as channel:
        stub = broker_pb2_grpc.BrokerStub(channel)
        # A new token (from --token-file) on the live session before the old
        # one expires: no reconnect, no request missed.
        tok = credentials.renew_before_expiry(args, lambda t: commands.put(
            broker_pb2.ClientCommand(id=4, refresh=broker_pb2.Refresh(token=t))), threading.Event())
        metadata = (("authorization", "Bearer " + tok),) if tok else ()
        for e in stub.Connect(outgoing(), metadata=metadata):
            kind = e.WhichOneof("event")
            if kind == "subscribed":
                print("ready", flush=True)
            elif kind == "delivery" and e.delivery.WhichOneof("event") == "message":
                m = e.delivery.message
                if not m.reply_to:
                    continue  # a plain publish, not a request
                verdict = {"verdict": "accepted", "length": len(m.payload), "judge": os.getpid()}
                commands.put(broker_pb2.ClientCommand(id=2, reply=broker_pb2.Reply(
                    to=m.reply_to, payload=json.dumps(verdict).encode(),
                    content_type="application/json")))
                if args.announce:
                    commands.put(broker_pb2.ClientCommand(id=3, publish=broker_pb2.PublishRequest(
                        topic=args.announce, payload=json.dumps(verdict).encode(),
                        content_type="application/json")))
            elif kind == "refreshed":
                print("token renewed", flush=True)
            elif kind == "error":
                print("error:", e.error.message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
