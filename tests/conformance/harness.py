"""Case model, observation and verdict helpers shared by the case groups.

A case is a number ("5.19"), a description (with the RFC section it checks),
the expected behaviour in words, and a function that drives one fresh
connection on its own topic and returns (verdict, observed). Verdicts follow
Autobahn|Testsuite: OK, NON-STRICT (acceptable, but not the strictest
behaviour), INFORMATIONAL (no right answer; we only record what happened) and
FAIL.
"""
import hashlib
import time
import zlib

from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Conn, Decompressor,
                      Eof, Timeout, parse_extension)

OK, FAIL, NON_STRICT, INFO = "OK", "FAIL", "NON-STRICT", "INFORMATIONAL"
_RANK = {OK: 0, INFO: 0, NON_STRICT: 1, FAIL: 2}

CASES = []


class Case:
    def __init__(self, num, desc, expected, fn):
        self.num, self.desc, self.expected, self.fn = num, desc, expected, fn

    @property
    def group(self):
        return self.num.split(".")[0]

    @property
    def key(self):
        return tuple(int(x) for x in self.num.split("."))


def case(num, desc, expected):
    def register(fn):
        CASES.append(Case(num, desc, expected, fn))
        return fn
    return register


def add_case(num, desc, expected, fn):
    CASES.append(Case(num, desc, expected, fn))


def worst(*verdicts):
    return max(verdicts, key=lambda v: _RANK[v])


class Ctx:
    """What a case function gets: a way to connect to its own topic."""

    def __init__(self, port, num):
        self.port = port
        self.num = num
        self.topic = "conf.case_" + num.replace(".", "_")
        self.conns = []

    def connect(self, extensions=None, timeout=5.0):
        c = Conn(self.port, "/ws/" + self.topic, extensions=extensions, timeout=timeout)
        self.conns.append(c)
        return c

    def cleanup(self):
        for c in self.conns:
            c.close()


class Result:
    """Accumulates what a case saw and how bad it was."""

    def __init__(self):
        self.verdict = OK
        self.notes = []

    def note(self, text, verdict=OK):
        self.notes.append(text)
        self.verdict = worst(self.verdict, verdict)

    def done(self):
        return self.verdict, "; ".join(self.notes)


# -- describing what arrived -----------------------------------------------
def short(payload):
    if len(payload) <= 16:
        return repr(payload)
    return "%d B sha1:%s" % (len(payload), hashlib.sha1(payload).hexdigest()[:8])


def describe(events):
    if not events:
        return "nothing"
    out, last, count = [], None, 0
    for e in events:
        label = "%s %s" % (e[0], short(e[1]))
        if label == last:
            count += 1
            continue
        if last is not None:
            out.append(last + (" x%d" % count if count > 1 else ""))
        last, count = label, 1
    out.append(last + (" x%d" % count if count > 1 else ""))
    if len(out) > 6:
        out = out[:3] + ["… (%d events)" % len(events)] + out[-2:]
    return ", ".join(out)


def close_text(close, end):
    if end == "close":
        code = close.close_code()
        reason = close.payload[2:]
        return "close %s%s" % (code if code is not None else "(no code)",
                               " %r" % reason[:40] if reason else "")
    if end == "eof":
        return "TCP closed without a close frame"
    if end == "timeout":
        return "no close (timeout)"
    return ""


def collect(conn, count=None, timeout=5.0, inflater=None, res=None):
    """Reads frames until `count` events (messages and pongs) arrived, or a
    close frame, EOF or the deadline. Server pings (keep-alive) are skipped.
    Returns (events, close_frame, end) with end in (None, 'close', 'eof',
    'timeout'). Protocol violations by the server are noted in `res` as FAIL."""
    events = []
    deadline = time.monotonic() + timeout
    parts, first = None, None
    while count is None or len(events) < count:
        try:
            f = conn.read_frame(max(0.0, deadline - time.monotonic()))
        except Timeout:
            return events, None, "timeout"
        except Eof:
            return events, None, "eof"
        if f.masked and res:
            res.note("server frame masked (RFC 6455 §5.1)", FAIL)
        if f.opcode == OP_CLOSE:
            return events, f, "close"
        if f.opcode == OP_PING:
            continue
        if f.opcode == OP_PONG:
            events.append(("pong", f.payload))
            continue
        if f.opcode in (OP_TEXT, OP_BINARY):
            if parts is not None and res:
                res.note("server started a message inside another", FAIL)
            parts, first = [f.payload], f
        elif f.opcode == OP_CONT and parts is not None:
            parts.append(f.payload)
        else:
            if res:
                res.note("server sent opcode %d out of place" % f.opcode, FAIL)
            continue
        if f.rsv and (f.rsv != 4 or inflater is None or f.opcode == OP_CONT) and res:
            res.note("server set RSV bits %d it may not (RFC 6455 §5.2)" % f.rsv, FAIL)
        if f.fin:
            payload = b"".join(parts)
            if first.rsv & 4 and inflater is not None:
                try:
                    payload = inflater.decompress(payload)
                except (zlib.error, ValueError) as e:
                    if res:
                        res.note("server message does not inflate: %s" % e, FAIL)
            kind = "text" if first.opcode == OP_TEXT else "binary"
            if kind == "text" and res:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    res.note("server sent invalid UTF-8 text (RFC 6455 §8.1)", FAIL)
            events.append((kind, payload, bool(first.rsv & 4)))
            parts = None
    return events, None, None


def _same(events, expected):
    """Messages in order and pongs in order; their relative order is free (an
    echo goes through the broker, a pong is answered at once)."""
    norm = lambda evs, kinds: [e[:2] for e in evs if e[0] in kinds]
    return (norm(events, ("text", "binary")) == norm(expected, ("text", "binary"))
            and norm(events, ("pong",)) == norm(expected, ("pong",)))


def finish(conn, res, code=1000, inflater=None, timeout=3.0):
    """Our close handshake: send a close, expect the same code back (§5.5.1)
    with nothing before it, then the server's TCP close (§7.1.1)."""
    conn.send_close(code)
    events, close, end = collect(conn, None, timeout, inflater, res)
    if events:
        res.note("unexpected before close: " + describe(events), FAIL)
    if end != "close":
        res.note("close handshake: " + close_text(close, end), FAIL)
        return
    got = close.close_code()
    if got != code:
        res.note("close handshake: got %s, want %s" % (got, code), FAIL)
    if not conn.wait_eof(2.0):
        res.note("server kept TCP open after the close handshake (§7.1.1)", NON_STRICT)


def check_echo(ctx, send, expected, extensions=None, timeout=8.0, inflater=None, res=None):
    """Connects, runs `send(conn)`, expects exactly `expected` events, then
    closes cleanly. Returns (verdict, observed)."""
    res = res or Result()
    conn = ctx.connect(extensions)
    send(conn)
    events, close, end = collect(conn, len(expected), timeout, inflater, res)
    res.note(describe(events))
    if end is not None:
        res.note(close_text(close, end), FAIL)
        return res.done()
    if not _same(events, expected):
        res.note("expected " + describe(expected), FAIL)
    finish(conn, res, inflater=inflater)
    if res.verdict == OK:
        res.notes.append("clean close 1000")
    return res.done()


def check_fail(ctx, send, codes=(1002,), pre=(), non_strict_pre=None, extensions=None,
               timeout=5.0, res=None):
    """Connects, runs `send(conn)`, expects `pre` events and then the server
    failing the connection with a close frame carrying one of `codes`
    (RFC 6455 §7.1.7), then the server closing TCP."""
    res = res or Result()
    conn = ctx.connect(extensions)
    send(conn)
    events, close, end = collect(conn, None, timeout, None, res)
    if events or pre:
        res.note(describe(events))
    if not _same(events, list(pre)):
        if non_strict_pre is not None and _same(events, list(non_strict_pre)):
            res.note("non-strict: expected %s first" % describe(list(pre)), NON_STRICT)
        else:
            res.note("expected %s first" % describe(list(pre)), FAIL)
    return fail_tail(conn, res, close, end, codes)


def fail_tail(conn, res, close, end, codes):
    res.note(close_text(close, end))
    if end == "eof":
        res.note("dropped without a close code", NON_STRICT)
    elif end != "close":
        res.note("expected close %s" % "/".join(map(str, codes)), FAIL)
        return res.done()
    elif close.close_code() not in codes:
        res.note("expected close %s" % "/".join(map(str, codes)), FAIL)
    if end == "close":
        # A client answers the close (§5.5.1); the failing server must not
        # wait for that answer (§7.1.7) and closes TCP first (§7.1.1).
        conn.send_close(close.close_code() or 1000)
        if not conn.wait_eof(1.0):
            res.note("TCP still open 1 s after the server's close frame", NON_STRICT)
    return res.done()


def txt(s):
    return ("text", s.encode() if isinstance(s, str) else s)


def binm(b):
    return ("binary", b)


def pong(b):
    return ("pong", b if isinstance(b, bytes) else b.encode())
