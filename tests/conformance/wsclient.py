"""A deliberately permissive WebSocket client for conformance testing.

Standard library only. It can send anything: valid or invalid frames, masked or
not, any RSV bits and opcodes, lengths that lie, payloads chopped at arbitrary
points with delays between the pieces. It reads the server's frames back one
at a time, every read bounded by a deadline.
"""
import base64
import hashlib
import os
import socket
import struct
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OPNAMES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1


class Timeout(Exception):
    pass


class Eof(Exception):
    pass


class HandshakeError(Exception):
    pass


def mask_bytes(payload, key):
    """XOR `payload` with the 4-byte `key` (RFC 6455 §5.3), fast on big inputs."""
    n = len(payload)
    if n == 0:
        return b""
    reps = key * (n // 4 + 1)
    a = int.from_bytes(payload, "little")
    b = int.from_bytes(reps[:n], "little")
    return (a ^ b).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """One frame's bytes. `rsv` is the 3-bit RSV1..RSV3 field (4 = RSV1);
    `length` overrides the declared payload length (to lie about it)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if n <= 125:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask_bytes(payload, key)


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload", "masked")

    def __init__(self, fin, rsv, opcode, payload, masked):
        self.fin, self.rsv, self.opcode, self.payload, self.masked = fin, rsv, opcode, payload, masked

    def close_code(self):
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    def __repr__(self):
        name = OPNAMES.get(self.opcode, "op%d" % self.opcode)
        extra = ""
        if self.opcode == OP_CLOSE:
            extra = " code=%s" % self.close_code()
        return "%s(%d bytes%s%s%s)" % (name, len(self.payload), extra,
                                        "" if self.fin else " fin=0",
                                        " rsv=%d" % self.rsv if self.rsv else "")


class Conn:
    """One client connection. `extensions` is the Sec-WebSocket-Extensions
    offer (or None). After the handshake, `accepted_extensions` holds the
    server's answer ("" when none)."""

    def __init__(self, port, path, extensions=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        key = base64.b64encode(os.urandom(16))
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key.decode(),
                 "Sec-WebSocket-Version: 13"]
        if extensions is not None:
            lines.append("Sec-WebSocket-Extensions: " + extensions)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())
        if self.status != 101:
            raise HandshakeError("status %d" % self.status)
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if self.headers.get("sec-websocket-accept") != [want]:
            raise HandshakeError("bad Sec-WebSocket-Accept %r" % self.headers.get("sec-websocket-accept"))
        self.accepted_extensions = ", ".join(self.headers.get("sec-websocket-extensions", []))

    # -- sending -----------------------------------------------------------
    def send_raw(self, data, chop=None, delay=0.0):
        """Sends bytes, optionally in pieces of `chop` bytes `delay` s apart."""
        try:
            if not chop:
                self.sock.sendall(data)
                return
            for i in range(0, len(data), chop):
                self.sock.sendall(data[i:i + chop])
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may already have failed the connection

    def send(self, opcode, payload=b"", chop=None, delay=0.0, **kw):
        self.send_raw(build_frame(opcode, payload, **kw), chop, delay)

    def send_close(self, code=None, reason=b"", **kw):
        payload = b"" if code is None else struct.pack("!H", code) + reason
        self.send(OP_CLOSE, payload, **kw)

    # -- receiving ---------------------------------------------------------
    def _fill(self, deadline):
        if self.eof:
            raise Eof()
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout()
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise Eof()
        self.buf += data

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def read_frame(self, timeout=5.0):
        """The next frame; raises Timeout or Eof."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        key = None
        if masked:
            self._need(pos + 4, deadline)
            key = bytes(self.buf[pos:pos + 4])
            pos += 4
        self._need(pos + n, deadline)
        payload = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        if masked:
            payload = mask_bytes(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, masked)

    def wait_eof(self, timeout):
        """True if the server closes TCP within `timeout` (data is discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf.clear()
        except Eof:
            return True
        except Timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -- permessage-deflate helpers (RFC 7692) -----------------------------------
def parse_extension(value):
    """'permessage-deflate; a; b=1' -> ('permessage-deflate', {'a': None, 'b': '1'})."""
    if not value:
        return None, {}
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        name, eq, v = p.partition("=")
        params[name.strip()] = v.strip().strip('"') if eq else None
    return parts[0], params


class Compressor:
    """Client-side message compressor: raw DEFLATE with the tail removed."""

    def __init__(self, window_bits=15, no_context_takeover=False):
        # zlib refuses a raw 8-bit window: level 0 (stored blocks, no
        # back-references) is valid for any window the server may use.
        self.level = 0 if window_bits < 9 else 6
        self.wbits = max(window_bits, 9)
        self.no_context_takeover = no_context_takeover
        self.c = None

    def compress(self, data):
        if self.c is None or self.no_context_takeover:
            self.c = zlib.compressobj(self.level, zlib.DEFLATED, -self.wbits)
        out = self.c.compress(data) + self.c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(DEFLATE_TAIL)
        return out[:-4]


class Decompressor:
    def __init__(self, no_context_takeover):
        self.no_context_takeover = no_context_takeover
        self.d = None

    def decompress(self, data, limit=64 << 20):
        if self.d is None or self.no_context_takeover:
            self.d = zlib.decompressobj(-15)
        out = self.d.decompress(data + DEFLATE_TAIL, limit)
        if self.d.unconsumed_tail:
            raise ValueError("server message inflates past %d bytes" % limit)
        return out
