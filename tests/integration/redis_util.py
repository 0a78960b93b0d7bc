"""A Debian redis-server a test starts itself, on a free loopback port, in a
directory of its own, and stops by PID."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, *extra_args):
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="herald-redis-")
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")]
            + self.extra_args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start (see {self.dir}/redis.log)")
            if self.command("PING") == "+PONG":
                return self
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def command(self, *args):
        """One command over RESP; the first line of the answer ("" when down)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                out = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
                s.sendall(out.encode())
                return s.recv(65536).decode(errors="replace").split("\r\n")[0]
        except OSError:
            return ""

    def value(self, *args):
        """A bulk string's value (None for nil, or when down or not a string)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                out = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
                s.sendall(out.encode())
                lines = s.recv(65536).decode(errors="replace").split("\r\n")
        except OSError:
            return None
        return lines[1] if lines[0].startswith("$") and lines[0] != "$-1" else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Sentinel(RedisServer):
    """A Redis Sentinel (redis-server --sentinel) whose config file holds
    `lines`; a sentinel rewrites its file, so it lives in its directory."""

    def __init__(self, *lines):
        super().__init__()
        self.lines = list(lines)

    def start(self):
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("".join(line + "\n" for line in self.lines))
        self.proc = subprocess.Popen(
            ["redis-server", conf, "--sentinel", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--logfile", os.path.join(self.dir, "sentinel.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-sentinel exited at start (see {self.dir}/sentinel.log)")
            if self.command("PING") == "+PONG":
                return self
            time.sleep(0.02)
        raise RuntimeError("redis-sentinel did not answer PING within 10 s")

    def master_port(self, name):
        """The port this sentinel names for master `name` (0 if none)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                cmd = ["SENTINEL", "get-master-addr-by-name", name]
                s.sendall((f"*{len(cmd)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in cmd))
                          .encode())
                lines = s.recv(65536).decode(errors="replace").split("\r\n")
                return int(lines[4]) if lines[0] == "*2" else 0
        except (OSError, ValueError, IndexError):
            return 0
