"""Shared pieces of the robustness suite: heraldd processes (through
tests/integration/heraldd.py), a raw-socket WebSocket client, ledger-aware
subscribers and publishers, /metrics, /proc figures and percentiles.

Standard library only, so any python3 runs the suite.
"""
import base64
import http.client
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from cluster_util import metrics as _metric_samples  # noqa: E402
from heraldd import Heraldd  # noqa: E402

# Timing bounds are multiplied by this under a sanitizer build (several times
# slower, more memory per allocation).
SANITIZED = any(x in os.environ.get("HERALDD", "") for x in ("asan", "tsan", "ubsan"))
SLACK = 3 if SANITIZED else 1

# Fast failure detection for every scenario (docs/CONFIG.md).
PING_MS = 200
IDLE_MS = 1000
WS_FAST = f"""[websocket]
ping_interval_ms = {PING_MS}
idle_timeout_ms = {IDLE_MS}
"""


def node(config="", *args, log_level="info", **kw):
    """Starts heraldd on 127.0.0.1:0 with `config` (a short drain so a stop is
    quick); returns the started Heraldd."""
    top = "drain_window_ms = 200\n"
    h = Heraldd("--log-level", log_level, *args, config=top + config, **kw)
    h.__enter__()
    return h


def sanitizer_report(h):
    """The first sanitizer report line in a heraldd log, or None."""
    for line in h.logs().splitlines():
        if ("ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line
                or "runtime error:" in line or "ThreadSanitizer" in line):
            return line.strip()
    return None


def stop_checked(h, timeout=15.0):
    """Stops heraldd with SIGTERM; returns (exit status, sanitizer line or None)."""
    rc = h.stop(signal.SIGTERM, timeout)
    return rc, sanitizer_report(h)


# --- figures from /proc and /metrics ------------------------------------------------------

def rss_kib(pid):
    """(VmRSS, VmHWM) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def metrics(port, timeout=5.0):
    """{name or name{labels}: value} of /metrics (parsed by cluster_util)."""
    return {name + labels: v for (name, labels), v in _metric_samples(port, timeout).items()}


def metric(port, name):
    return metrics(port).get(name)


def wait_for(pred, timeout, interval=0.02):
    """Polls pred until true; returns the seconds it took, or None on timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def ms(x):
    return round(x * 1000.0, 1)


def http_request(port, method, path, body=None, headers=None, timeout=5.0):
    """One request on a fresh connection: (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def healthy(port, timeout=2.0):
    try:
        return http_request(port, "GET", "/healthz", timeout=timeout)[0] == 200
    except OSError:
        return False


# --- a raw-socket WebSocket client --------------------------------------------------------

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def mask_bytes(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv1=False, mask=True):
    """A client frame (masked with a random key unless mask=False)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def deflate_message(data):
    """permessage-deflate body of one message (RFC 7692 §7.2.1: the final
    empty block's 00 00 ff ff removed)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class FrameReader:
    """Incremental parser of server frames (unmasked)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            off = pos + 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                off = pos + 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                off = pos + 10
            if len(buf) - off < n:
                break
            out.append((b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), bytes(buf[off:off + n])))
            pos = off + n
        del buf[:pos]
        return out


class WsConn:
    """A WebSocket connection on a raw socket: the handshake by hand, frames
    by hand, so a test can misbehave at any byte."""

    def __init__(self, port, path="/ws", rcvbuf=None, extensions=None, timeout=5.0,
                 host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        t0 = time.monotonic()
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        self.handshake_s = time.monotonic() - t0
        head, _, rest = head.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ")[1]) if self.head.startswith("HTTP/") else 0
        self.deflate = "permessage-deflate" in self.head.lower()
        self.reader = FrameReader()
        self.pending = self.reader.feed(rest) if rest else []
        self.send_lock = threading.Lock()

    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def send_json(self, obj):
        self.send(frame(OP_TEXT, json.dumps(obj, separators=(",", ":")).encode()))

    def recv_frames(self, timeout=None):
        """The next frames (a list, maybe empty on timeout); [] and
        self.eof on EOF."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        if timeout is not None:
            # select, not settimeout: the socket's own timeout bounds sends
            # from other threads and must not shrink to a receive poll.
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return []
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return []
        if not data:
            raise EOFError
        return self.reader.feed(data)

    def recv_json_until(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for op, _, _, payload in self.recv_frames(max(0.01, deadline - time.monotonic())):
                if op == OP_TEXT:
                    m = json.loads(payload)
                    if pred(m):
                        return m
                elif op == OP_PING:
                    self.send(frame(OP_PONG, payload))
                elif op == OP_CLOSE:
                    raise EOFError(close_code(payload))
        raise TimeoutError("no matching frame")

    def read_close(self, timeout=3.0):
        """Reads (and drops) frames until a close frame: (code, reason), or
        (None, why) on EOF, reset or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "timeout"
            try:
                frames = self.recv_frames(left)
            except EOFError:
                return None, "eof"
            except ConnectionResetError:
                return None, "reset"
            except OSError as e:
                return None, repr(e)
            for op, _, _, payload in frames:
                if op == OP_CLOSE:
                    return close_code(payload), payload[2:].decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


class Subscriber:
    """A /ws JSON-protocol subscriber on a raw socket; a thread records every
    msg/gap in the ledger, answers pings, and notes the end of the connection."""

    def __init__(self, ledger, port, name, patterns, rcvbuf=None):
        self.name = name
        self.conn = WsConn(port, "/ws", rcvbuf=rcvbuf)
        if self.conn.status != 101:
            raise RuntimeError(f"{name}: upgrade answered {self.conn.head!r}")
        self.log = ledger.subscriber(name, patterns)
        for i, p in enumerate(patterns):
            self.conn.send_json({"op": "sub", "id": f"s{i}", "topic": p})
            a = self.conn.recv_json_until(lambda m: m.get("id") == f"s{i}")
            if a.get("op") != "subscribed":
                raise RuntimeError(f"{name}: sub {p}: {a}")
        self.stop_flag = False
        self.frames = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stop_flag:
                try:
                    frames = self.conn.recv_frames(0.2)
                except EOFError:
                    self.log.on_close(None)
                    return
                for op, _, _, payload in frames:
                    self.frames += 1
                    if op == OP_TEXT:
                        self.log.on_envelope(json.loads(payload))
                    elif op == OP_PING:
                        self.conn.send(frame(OP_PONG, payload))
                    elif op == OP_CLOSE:
                        self.log.on_close(close_code(payload))
                        return
        except OSError:
            self.log.on_close(None)

    def close(self):
        self.stop_flag = True
        self.thread.join(2)
        try:
            self.conn.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
        except OSError:
            pass
        self.conn.close()


class WsPublisher:
    """Publishes tagged messages over /ws JSON with an id each; a thread reads
    the acks (and answers pings). Records every ack/refusal in the ledger and
    each publish-to-ack latency."""

    def __init__(self, ledger, port, pub_id):
        self.ledger = ledger
        self.pub_id = pub_id
        self.conn = WsConn(port, "/ws")
        if self.conn.status != 101:
            raise RuntimeError(f"{pub_id}: upgrade answered {self.conn.head!r}")
        self.inflight = {}  # id -> (seq, t)
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = []
        self.closed = None
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def publish(self, topic, pad=0):
        seq, payload = self.ledger.tag(self.pub_id, topic, pad)
        mid = f"{self.pub_id}.{seq}"
        with self.lock:
            self.inflight[mid] = (seq, time.monotonic())
        try:
            self.conn.send_json({"op": "pub", "id": mid, "topic": topic, "payload": payload})
        except OSError as e:
            self.ledger.refused(self.pub_id, seq, repr(e))
            raise
        return seq

    def _run(self):
        try:
            while not self.stop_flag:
                try:
                    frames = self.conn.recv_frames(0.2)
                except EOFError:
                    self.closed = "eof"
                    return
                now = time.monotonic()
                for op, _, _, payload in frames:
                    if op == OP_PING:
                        self.conn.send(frame(OP_PONG, payload))
                        continue
                    if op == OP_CLOSE:
                        self.closed = close_code(payload)
                        return
                    if op != OP_TEXT:
                        continue
                    m = json.loads(payload)
                    with self.lock:
                        entry = self.inflight.pop(m.get("id"), None)
                    if entry is None:
                        continue
                    seq, t = entry
                    if m.get("op") == "ack":
                        self.ledger.acked(self.pub_id, seq, m["epoch"], m["offset"])
                        self.latencies.append(now - t)
                    else:
                        self.ledger.refused(self.pub_id, seq, m.get("code"))
                        self.errors.append(m)
        except OSError as e:
            self.closed = repr(e)

    def pending(self):
        with self.lock:
            return len(self.inflight)

    def close(self):
        wait_for(lambda: self.pending() == 0, 3)
        self.stop_flag = True
        self.thread.join(2)
        self.conn.close()


class HttpPublisher:
    """POST /publish over one keep-alive connection, tagged; records acks."""

    def __init__(self, ledger, port, pub_id, timeout=5.0):
        self.ledger, self.port, self.pub_id, self.timeout = ledger, port, pub_id, timeout
        self.conn = None
        self.latencies = []
        self.refusals = 0
        self.unknown = 0  # answered 504: outcome unknown

    def publish(self, topic, pad=0):
        seq, payload = self.ledger.tag(self.pub_id, topic, pad)
        body = json.dumps(payload).encode()
        t0 = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            self.conn.request("POST", "/publish/" + topic, body=body,
                              headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.ledger.refused(self.pub_id, seq, repr(e))
            self.refusals += 1
            self._reset()
            return None
        if resp.status == 504:
            # The owner node went silent after the forward: the publish may
            # or may not have been sequenced (docs/CLUSTER.md). Neither
            # acknowledged nor refused: the ledger neither expects it nor
            # calls its delivery a phantom.
            self.unknown += 1
            if resp.getheader("Connection", "").lower() == "close":
                self._reset()
            return None
        if resp.status != 200:
            self.ledger.refused(self.pub_id, seq,
                                f"{resp.status} {data[:160].decode('utf-8', 'replace')}")
            self.refusals += 1
            if resp.getheader("Connection", "").lower() == "close":
                self._reset()
            return None
        a = json.loads(data)
        self.ledger.acked(self.pub_id, seq, a["epoch"], a["offset"])
        self.latencies.append(time.monotonic() - t0)
        return a

    def _reset(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def close(self):
        self._reset()


def paced(rate, seconds, fn, stop=None):
    """Calls fn(i) `rate` times a second for `seconds` (after a stall it
    catches up, back to back); returns how many calls ran. `stop` (an Event)
    ends it early."""
    t0 = time.monotonic()
    i = 0
    total = int(rate * seconds)
    while i < total and not (stop and stop.is_set()):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        fn(i)
        i += 1
    return i
