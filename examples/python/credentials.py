"""The token an example presents to a node with [auth] (docs/SECURITY.md).

    --token T        a JWT (or $HERALD_TOKEN)
    --token-file F   a file holding one, read again each time a token is
                     needed: whatever renews tokens rewrites the file, and a
                     long-running example sends the new one on its live
                     session (the `refresh` command) before the old expires.

gRPC sends it as `authorization: Bearer <token>` metadata; HTTP as the
Authorization header.
"""
import base64
import json
import os
import threading
import time


def add_arguments(ap):
    ap.add_argument("--token", default=os.environ.get("HERALD_TOKEN", ""),
                    help="a JWT for a node with [auth] (default: $HERALD_TOKEN)")
    ap.add_argument("--token-file", default="",
                    help="a file holding the JWT, read again whenever a token is needed")


def token(args):
    if args.token_file:
        with open(args.token_file) as f:
            return f.read().strip()
    return args.token


def grpc_metadata(args):
    t = token(args)
    return (("authorization", "Bearer " + t),) if t else ()


def http_headers(args):
    t = token(args)
    return {"Authorization": "Bearer " + t} if t else {}


def expiry(tok):
    """A JWT's exp (Unix seconds), read, not verified; None without one."""
    try:
        part = tok.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, (int, float)) else None
    except (IndexError, ValueError):
        return None


def renew_before_expiry(args, send_refresh, stop, margin=30.0):
    """Until `stop` is set: shortly before the current token's exp (margin
    seconds, or half its remaining life when shorter), read the token again
    and pass it to send_refresh(token). Runs on a daemon thread."""
    def run():
        current = token(args)
        while not stop.is_set():
            exp = expiry(current)
            if exp is None:
                return
            left = exp - time.time()
            if stop.wait(max(0.0, left - min(margin, left / 2))):
                return
            fresh = token(args)
            if fresh and fresh != current:
                send_refresh(fresh)
                current = fresh
            else:
                stop.wait(1.0)  # nothing new in the file yet: look again soon
    threading.Thread(target=run, daemon=True).start()
