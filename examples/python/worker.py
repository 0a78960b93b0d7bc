#!/usr/bin/env python3
"""A queue-group worker: takes its share of a topic's jobs (async style).

    python3 worker.py --target 127.0.0.1:9090 --topic jobs.email --group mailers

Prints "ready" once subscribed, then one line per job handled (its payload).
On SIGTERM it leaves the group gracefully: it unsubscribes and handles every
job already given to it (the server's Unsubscribed answer comes after the
last one), so no job is lost or done twice.
"""
import argparse
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
    ap.add_argument("--topic", default="jobs.email")
    ap.add_argument("--group", default="mailers")
    credentials.add_arguments(ap)
    args = ap.parse_args()

    commands = queue.Queue()
    commands.put(broker_pb2.ClientCommand(
        id=1, subscribe=broker_pb2.SubscribeRequest(pattern=args.topic, queue_group=args.group)))

    def outgoing():
        while True:
            c = commands.get()
            if c is None:
                return
            yield c

    leaving = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: leaving.set())
    with grpc.insecure_channel(args.target) as channel:
        stub = broker_pb2_grpc.BrokerStub(channel)
        # A new token (from --token-file) on the live session before the old
        # one expires: no reconnect, no job given back.
        tok = credentials.renew_before_expiry(args, lambda t: commands.put(
            broker_pb2.ClientCommand(id=3, refresh=broker_pb2.Refresh(token=t))), leaving)
        metadata = (("authorization", "Bearer " + tok),) if tok else ()
        events = stub.Connect(outgoing(), metadata=metadata)
        subscription = None

        def watch():
            leaving.wait()
            while subscription is None:
                leaving.wait(0.01)
            commands.put(broker_pb2.ClientCommand(
                id=2, unsubscribe=broker_pb2.Unsubscribe(subscription_id=subscription)))

        threading.Thread(target=watch, daemon=True).start()
        for e in events:
            kind = e.WhichOneof("event")
            if kind == "subscribed":
                subscription = e.subscribed.subscription_id
                print("ready", flush=True)
            elif kind == "delivery" and e.delivery.WhichOneof("event") == "message":
                print(e.delivery.message.payload.decode(), flush=True)  # "send the e-mail"
            elif kind == "unsubscribed":
                break
            elif kind == "refreshed":
                print("token renewed", flush=True)
            elif kind == "error":
                print("error:", e.error.message, file=sys.stderr, flush=True)
                if e.id != 3:  # a refused renewal leaves the old token in force
                    sys.exit(1)
        commands.put(None)


if __name__ == "__main__":
    main()
