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
        exp = claims.get("exp") if isinstance(claims, dict) else None
        return float(exp) if isinstance(exp, (int, float)) else None
    except (IndexError, ValueError):
        return None


def renew_before_expiry(args, send_refresh, stop, margin=30.0):
    """Returns the token to connect with. Until `stop` is set: shortly before
    that token's exp (margin seconds, or half its remaining life when
    shorter), reads the token again and, once it holds a later one, passes it
    to send_refresh(token). Runs on a daemon thread."""
    def read():
        try:
            return token(args)
        except OSError:
            return ""  # being rewritten: read again soon

    def run():
        exp = expiry(first)
        while exp is not None and not stop.is_set():
            left = exp - time.time()
            if stop.wait(max(0.0, left - min(margin, left / 2))):
                return
            fresh = read()
            fresh_exp = expiry(fresh)
            if fresh_exp is not None and fresh_exp > exp:
                send_refresh(fresh)
                exp = fresh_exp
            else:
                stop.wait(1.0)  # nothing newer in the file yet: look again soon
    first = token(args)
    threading.Thread(target=run, daemon=True).start()
    return first
