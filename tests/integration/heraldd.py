"""Starts and stops a real heraldd for integration tests.

The binary comes from $HERALDD (set by CTest). Every process is started on
127.0.0.1 with port 0 and stopped by its own PID; nothing else is touched.
"""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

HERALDD = os.environ.get("HERALDD", "build/release/server/heraldd")
_LISTENING = re.compile(r"listening on http://([^ ]+):(\d+)")
_GRPC_LISTENING = re.compile(r"gRPC API \(herald.v1.Broker\) listening on ([^ ]+):(\d+)")
_CLUSTER_LISTENING = re.compile(
    r"peer links \(herald.cluster.v1.Peer\) listening on ([^ ]+):(\d+)")
_TLS_LISTENING = re.compile(r"listening on https://([^ ]+):(\d+)")
_GRPC_TLS_LISTENING = re.compile(r"gRPC API over TLS listening on ([^ ]+):(\d+)")


def top_level(config_text, key):
    """Whether the config sets `key` outside any section."""
    try:
        import tomllib
        return bool(tomllib.loads(config_text or "").get(key))
    except Exception:  # noqa: BLE001 — heraldd itself will report a bad file
        return re.search(rf"(?m)^{key}\s*=", config_text or "") is not None


def wanted_tls(config_text):
    """Which TLS ports heraldd will log: (https, grpc over TLS)."""
    try:
        import tomllib
        tls = tomllib.loads(config_text or "").get("tls")
    except Exception:  # noqa: BLE001 — heraldd itself will report a bad file
        return False, False
    if not isinstance(tls, dict):
        return False, False
    return bool(tls.get("listen")), bool(tls.get("grpc_listen"))


def wants_cluster(args, config_text):
    """Whether heraldd will log a peer-links port (so start waits for it)."""
    if "--cluster-listen" in args:
        return True
    try:
        import tomllib
        conf = tomllib.loads(config_text or "")
    except Exception:  # noqa: BLE001 — heraldd itself will report a bad file
        return "cluster_listen" in (config_text or "")
    cluster = conf.get("cluster")
    return bool(conf.get("cluster_listen")) or (isinstance(cluster, dict)
                                                 and bool(cluster.get("listen")))


class Heraldd:
    def __init__(self, *args, config=None, start_timeout=10.0, env=None, preexec_fn=None):
        self.args = list(args)
        self.env = env  # None: inherit ours
        self.preexec_fn = preexec_fn  # runs in the child before exec (e.g. setrlimit)
        self.config_path = None
        self.config_text = config or ""
        if config is not None:
            fd, self.config_path = tempfile.mkstemp(suffix=".toml")
            with os.fdopen(fd, "w") as f:
                f.write(config)
            self.args += ["--config", self.config_path]
        if not any(a == "--listen" for a in self.args):
            self.args += ["--listen", "127.0.0.1:0"]
        self.start_timeout = start_timeout
        self.proc = None
        self._pump = None
        self.port = None
        self.grpc_port = None  # set when started with --grpc-listen
        self.cluster_port = None  # set when started with --cluster-listen ([cluster] listen)
        self.tls_port = None  # set with [tls] listen
        self.grpc_tls_port = None  # set with [tls] grpc_listen
        self.log = []
        self._log_lock = threading.Lock()

    def __enter__(self):
        self.proc = subprocess.Popen([HERALDD] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=self.env, preexec_fn=self.preexec_fn)
        found = threading.Event()
        want_grpc = "--grpc-listen" in self.args or top_level(self.config_text, "grpc_listen")
        want_cluster = wants_cluster(self.args, self.config_text)
        want_tls, want_grpc_tls = wanted_tls(self.config_text)
        # `--listen ""`: HTTPS only.
        want_plain = self.args[self.args.index("--listen") + 1] != ""

        def ready():
            return ((not want_plain or self.port is not None)
                    and (not want_grpc or self.grpc_port is not None)
                    and (not want_cluster or self.cluster_port is not None)
                    and (not want_tls or self.tls_port is not None)
                    and (not want_grpc_tls or self.grpc_tls_port is not None))

        def pump():
            for line in self.proc.stderr:
                with self._log_lock:
                    self.log.append(line)
                if found.is_set():
                    continue
                m = _LISTENING.search(line)
                if m and self.port is None:
                    self.port = int(m.group(2))
                g = _GRPC_LISTENING.search(line)
                if g and self.grpc_port is None:
                    self.grpc_port = int(g.group(2))
                c = _CLUSTER_LISTENING.search(line)
                if c and self.cluster_port is None:
                    self.cluster_port = int(c.group(2))
                t = _TLS_LISTENING.search(line)
                if t and self.tls_port is None:
                    self.tls_port = int(t.group(2))
                t = _GRPC_TLS_LISTENING.search(line)
                if t and self.grpc_tls_port is None:
                    self.grpc_tls_port = int(t.group(2))
                if ready():
                    found.set()
            found.set()  # the process ended (its log is complete): fail fast

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not found.wait(self.start_timeout) or not ready():
            self.stop()
            raise RuntimeError("heraldd did not start:\n" + self.logs())
        return self

    def __exit__(self, *exc):
        self.stop()

    def logs(self):
        with self._log_lock:
            return "".join(self.log)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops heraldd and returns its exit status."""
        if self.proc is None:
            return None
        stop_process(self.proc, sig, timeout)
        # The process is gone: wait for the reader to see the end of its log.
        self._pump.join(5)
        if not self._pump.is_alive():
            self.proc.stderr.close()
        if self.config_path:
            os.unlink(self.config_path)
            self.config_path = None
        return self.proc.returncode


def freeze(proc):
    """SIGSTOPs a child we started and returns once every one of its threads
    has stopped. kill() returns before that: the kernel wakes one thread to
    begin the group stop, and until it runs (a busy machine, a sanitizer
    build) the others go on answering. waitpid(WUNTRACED) reports the child
    only when the whole group has stopped."""
    proc.send_signal(signal.SIGSTOP)
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        proc.returncode = os.waitstatus_to_exitcode(status)
        raise AssertionError(f"pid {proc.pid} ended instead of stopping: {proc.returncode}")


def thaw(proc):
    """SIGCONTs a child that freeze() stopped."""
    proc.send_signal(signal.SIGCONT)


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signals a child we started (by its PID) and waits; kills it after
    `timeout`. Returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def http_call(port, method, path, body=None, headers=None):
    """One request on a fresh connection; returns (response, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def metric(port, name):
    """The value of an unlabelled metric on /metrics, or None."""
    _, body = http_call(port, "GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def run_heraldd(*args, timeout=10.0):
    """Runs heraldd to completion (for --help and bad configurations)."""
    return subprocess.run([HERALDD] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def wait_until(pred, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
