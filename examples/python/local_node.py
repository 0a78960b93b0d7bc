"""Starts a throwaway heraldd on loopback for the examples' one-command demos.

    with LocalNode() as node:      # node.http_port, node.grpc_target
        ...

The binary is $HERALDD, else build/release/server/heraldd (run `make build`).
"""
import os
import re
import subprocess
import sys
import threading

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERALDD = os.environ.get("HERALDD", os.path.join(_ROOT, "build", "release", "server", "heraldd"))


class LocalNode:
    def __init__(self, *extra_args):
        self.args = [HERALDD, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
                     *extra_args]
        self.http_port = None
        self.grpc_target = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def read_log():
            for line in self.proc.stderr:
                if m := re.search(r"listening on http://[^ ]+:(\d+)", line):
                    self.http_port = int(m.group(1))
                if m := re.search(r"gRPC API \(herald.v1.Broker\) listening on ([^ ]+)", line):
                    self.grpc_target = m.group(1).strip()
                    ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not ready.wait(10):
            self.proc.kill()
            raise RuntimeError("heraldd did not start (is it built? make build)")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def start_example(script, *args):
    """One of examples/python/*.py as a process, stdout as text lines."""
    return subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), script), *args],
                            stdout=subprocess.PIPE, text=True)
