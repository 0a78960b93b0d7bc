#!/usr/bin/env python3
"""A live ticker dashboard over Server-Sent Events, in one command:

    python3 examples/ticker/demo.py            # then open the URL it prints

Starts heraldd serving examples/ticker/web (a listen-only page on the
browser's own EventSource) and an exchange-style price feed: a backend that
publishes a random walk for a few symbols to `ticker.<symbol>` over plain HTTP
(`POST /publish/ticker.btc`), several times a second. Stops after --seconds
(default: until Ctrl-C).
"""
import argparse
import json
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from local_node import LocalNode  # noqa: E402

SYMBOLS = {"btc": 97000.0, "eth": 3600.0, "sol": 240.0, "ada": 1.05, "dot": 9.4}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    ap.add_argument("--rate", type=float, default=10, help="ticks per second, all symbols")
    args = ap.parse_args()
    web = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
    with LocalNode("--static", web) as node:
        print(f"ticker dashboard: http://127.0.0.1:{node.http_port}/", flush=True)
        prices = dict(SYMBOLS)
        end = time.monotonic() + args.seconds if args.seconds else None
        sent = 0
        try:
            while end is None or time.monotonic() < end:
                symbol = random.choice(list(prices))
                prices[symbol] *= 1 + random.gauss(0, 0.002)
                body = json.dumps({"price": round(prices[symbol], 4)}).encode()
                req = urllib.request.Request(
                    f"http://127.0.0.1:{node.http_port}/publish/ticker.{symbol}", data=body,
                    method="POST", headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).read()
                sent += 1
                time.sleep(1 / args.rate)
        except KeyboardInterrupt:
            pass
        print(f"published {sent} ticks", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
