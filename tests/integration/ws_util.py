"""Small helpers for WebSocket integration tests (Python `websockets`, Debian)."""
import asyncio
import base64
import json
import os
import socket
import struct

import websockets


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def recv_json(ws, timeout=3):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=3):
    """Receives JSON frames until one satisfies pred; returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        m = await recv_json(ws, max(0.01, deadline - loop.time()))
        if pred(m):
            return m


def raw_handshake(port, path="/ws/t", headers=None, version="13", key=None, wrap=None):
    """Sends a hand-made upgrade request; returns (socket, full head).
    `wrap`: applied to the connected socket first (e.g. an SSLContext's
    wrap_socket, for the TLS port)."""
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             f"Sec-WebSocket-Version: {version}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if wrap is not None:
        s = wrap(s)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head.decode(errors="replace")


def masked_frame(opcode, payload, fin=True):
    key = os.urandom(4)
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def read_close_code(sock, timeout=3):
    """Reads frames until a close frame; returns its code (or None on EOF)."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        while len(buf) >= 2:
            op = buf[0] & 0x0F
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack("!Q", buf[2:10])[0]
                off = 10
            if len(buf) < off + n:
                break
            payload = buf[off:off + n]
            buf = buf[off + n:]
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
