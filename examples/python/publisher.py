#!/usr/bin/env python3
"""Publishes events to Herald over gRPC, each acknowledged (sync style).

    python3 publisher.py --target 127.0.0.1:9090 --topic payments.completed --count 5

Prints one line per message: "<epoch> <offset>" where it landed.
"""
import argparse
import json

import grpc

import credentials
from herald_stubs import broker_pb2, broker_pb2_grpc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:9090")
    ap.add_argument("--topic", default="payments.completed")
    ap.add_argument("--count", type=int, default=5)
    credentials.add_arguments(ap)
    args = ap.parse_args()
    with grpc.insecure_channel(args.target) as channel:
        stub = broker_pb2_grpc.BrokerStub(channel)
        for i in range(1, args.count + 1):
            event = {"payment": i, "amount_cents": 1000 + i}
            ack = stub.Publish(broker_pb2.PublishRequest(
                topic=args.topic, payload=json.dumps(event).encode(),
                content_type="application/json", headers={"source": "payments"}),
                metadata=credentials.grpc_metadata(args), timeout=5)
            print(ack.epoch, ack.offset, flush=True)


if __name__ == "__main__":
    main()
