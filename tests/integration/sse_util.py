"""Helpers for Server-Sent Events integration tests.

`SseParser` follows the WHATWG HTML "event stream interpretation" (§9.2.6)
step by step, independent of the server's code: lines end at CR LF, LF or CR;
a leading BOM is dropped; `:` lines are comments; fields `event`, `data`,
`id`, `retry`; one space after the colon is dropped; data lines are joined
with LF and the last LF removed; a blank line dispatches. An event with an
empty data buffer is not dispatched, but its id still becomes the last event
id.

heraldd starts every stream with an event named "position" (empty data) whose
id is the starting position; `SseClient` keeps those apart (`positions`) so
tests see only message and gap events.

`ChunkedDecoder` undoes HTTP/1.1 chunked transfer coding incrementally, and
`SseClient` is a raw-socket `GET /sse` client built on both, so the tests see
exactly the bytes heraldd sends and can cut the connection (FIN or RST) at
any moment.
"""
import collections
import json
import re
import socket
import struct
import time

Event = collections.namedtuple("Event", "type data last_event_id")
_EOL = re.compile(b"\r\n|\n|\r")


class SseParser:
    def __init__(self):
        self._buf = b""
        self._bom_checked = False
        self._pending_cr = False  # the last chunk ended in CR: a following LF belongs to it
        self._data = []
        self._event_type = ""
        self._id_buffer = ""
        self.last_event_id = ""  # the EventSource's "last event ID string"
        self.retry = None  # the reconnection time a `retry:` field set
        self.comments = []  # comment lines, without the leading ':'
        self.fields = []  # every (field, value) seen, in order (for wire-level checks)

    def feed(self, data):
        """Feeds bytes; returns the events they complete, in order."""
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        self._buf += data
        if not self._bom_checked:
            if len(self._buf) < 3 and b"\xef\xbb\xbf".startswith(self._buf):
                return []
            if self._buf.startswith(b"\xef\xbb\xbf"):
                self._buf = self._buf[3:]
            self._bom_checked = True
        events = []
        buf = self._buf
        pos = 0
        while True:
            m = _EOL.search(buf, pos)
            if not m:
                break
            if m.group() == b"\r" and m.end() == len(buf):
                # A CR at the end of what we have: a line ends here, and an LF
                # that starts the next chunk is part of this line break.
                self._pending_cr = True
            line = buf[pos:m.start()]
            pos = m.end()
            ev = self._line(line.decode("utf-8", errors="replace"))
            if ev is not None:
                events.append(ev)
        self._buf = buf[pos:]
        return events

    def _line(self, line):
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        self.fields.append((field, value))
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                self.retry = int(value)
        return None

    def _dispatch(self):
        self.last_event_id = self._id_buffer
        if not self._data:
            self._event_type = ""
            return None
        data = "\n".join(self._data)  # == data lines each + LF, last LF removed
        ev = Event(self._event_type or "message", data, self.last_event_id)
        self._data = []
        self._event_type = ""
        return ev


class ChunkedDecoder:
    """Incremental HTTP/1.1 chunked transfer decoding."""

    def __init__(self):
        self._buf = b""
        self._state = "size"  # size line, chunk data, the CR LF after the data
        self._remaining = 0
        self.done = False

    def feed(self, data):
        buf = self._buf + data
        pos = 0
        out = bytearray()
        while not self.done:
            if self._state == "size":
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol].split(b";")[0].strip(), 16)
                pos = eol + 2
                if size == 0:
                    self.done = True
                    break
                self._remaining = size
                self._state = "data"
            elif self._state == "data":
                take = min(self._remaining, len(buf) - pos)
                if take == 0:
                    break
                out += buf[pos:pos + take]
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "crlf"
            else:
                if len(buf) - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise ValueError("chunk data not followed by CR LF")
                pos += 2
                self._state = "size"
        self._buf = buf[pos:]
        return bytes(out)


def request_bytes(port, path, headers=None):
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head):
    """(status, {lower-case name: value}) of a response head (bytes, no final blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        headers[k] = (headers[k] + ", " + v.strip()) if k in headers else v.strip()
    return status, headers


class SseClient:
    """GET /sse on a raw socket.

    After construction: `status`, `headers`; for a non-200 answer `body` (bytes)
    and `json()`. For a stream: `next_event()`, `events(n)`, `last_event_id`,
    `parser` (retry, comments, fields), `raw` (every body byte received).
    """

    def __init__(self, port, path, headers=None, timeout=5.0, rcvbuf=None, tls=None):
        """`tls`: an ssl.SSLContext to speak HTTPS with (heraldd's TLS port)."""
        self.port = port
        self.tls = tls
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.parser = SseParser()
        self.raw = bytearray()  # grows in place: streams can be megabytes
        self.eof = False
        self._pending = collections.deque()
        self.positions = []  # the "position" events (the starting position)
        try:
            self._open(path, headers, timeout)
        except BaseException:
            self.sock.close()
            raise

    def _open(self, path, headers, timeout):
        port = self.port
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.sock.sendall(request_bytes(port, path, headers))
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no response head")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head: %r" % buf)
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.status, self.headers = parse_head(head)
        self.body = None
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._decoder = ChunkedDecoder() if self._chunked else None
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(rest) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            self.body = rest[:n]
            return
        self._take(rest)

    def json(self):
        return json.loads(self.body)

    @property
    def last_event_id(self):
        return self.parser.last_event_id

    @property
    def start_id(self):
        """The first id field of the stream (its starting position), or None."""
        return next((v for f, v in self.parser.fields if f == "id"), None)

    def _take(self, data):
        if self._decoder is not None:
            data = self._decoder.feed(data)
            if self._decoder.done:
                self.eof = True
        self.raw += data
        for ev in self.parser.feed(data):
            if ev.type == "position":
                self.positions.append(ev)
            else:
                self._pending.append(ev)

    def pump(self, timeout):
        """Reads what arrives within `timeout` (at least one recv); False on EOF."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(1 << 20)
        except (socket.timeout, BlockingIOError):
            return True
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self._take(chunk)
        return True

    def next_event(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no event within %.1fs (last id %r)" % (timeout, self.last_event_id))
            if not self.pump(left) and not self._pending:
                raise EOFError("stream ended (last id %r)" % self.last_event_id)
        return self._pending.popleft()

    def events(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.0, deadline - time.monotonic())) for _ in range(n)]

    def assert_quiet(self, seconds=0.3):
        """Returns the events (if any) that arrive within `seconds`; tests expect []."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.pump(deadline - time.monotonic()):
                break
        out = list(self._pending)
        self._pending.clear()
        return out

    def wait_for(self, pred, timeout=5.0):
        """Reads until pred(self) holds (e.g. the starting id arrived)."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            if not self.pump(left):
                if pred(self):
                    break
                raise EOFError("stream ended")

    def read_to_eof(self, timeout=10.0):
        """Reads until the server ends the connection; returns the events."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("stream not closed by the server")
            self.pump(left)
        out = list(self._pending)
        self._pending.clear()
        return out

    def close(self):
        """An orderly close (FIN)."""
        try:
            self.sock.close()
        except OSError:
            pass

    def kill(self):
        """Closes with a reset (RST), as when a client process dies mid-stream."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def started(client):
    """The starting position arrived: the retry hint and the "position" event."""
    return client.parser.retry is not None and b"\n\n" in client.raw


def base36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def parse_event_id(event_id):
    """{ref: (epoch, offset)} of an id; ref is an index string, '@topic' or
    '#hash' (a long name). The "!" entry (topics left out) is skipped."""
    out = {}
    for entry in event_id.split(","):
        if entry == "!":
            continue
        ref, epoch, offset = entry.rsplit(":", 2)
        out[ref] = (int(epoch, 36), int(offset, 36))
    return out


def metrics(port):
    """{name: value} of /metrics (label-less samples only)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "{" in line or " " not in line:
            continue
        name, value = line.split(" ", 1)
        out[name] = float(value)
    return out


class Publisher:
    """POST /publish over one keep-alive connection; returns (epoch, offset)."""

    def __init__(self, port):
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def __call__(self, topic, body, content_type="text/plain; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": content_type}
        h.update(headers or {})
        self.conn.request("POST", "/publish/" + topic, body=body, headers=h)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise AssertionError("publish to %s: %d %r" % (topic, resp.status, data))
        a = json.loads(data)
        return a["epoch"], a["offset"]

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def publish_once(port, topic, body):
    with Publisher(port) as p:
        return p(topic, body)
