"""Groups 6 (UTF-8 handling, RFC 6455 §8.1 / RFC 3629) and 7 (close handling,
RFC 6455 §5.5.1, §7). Modelled on Autobahn|Testsuite cases 6.x and 7.x; the
UTF-8 sequences follow Markus Kuhn's UTF-8 decoder stress test."""
import time

from harness import (FAIL, NON_STRICT, OK, INFO, Result, add_case, worst, check_echo, check_fail, close_text,
                     collect, describe, fail_tail, finish, pong, txt)
from wsclient import OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, build_frame

U8 = "(§8.1: text must be valid UTF-8, else close 1007)"


def utf8_case(num, what, seq, valid):
    desc = "Send text message with %s: %s %s" % (what, seq.hex(" ") if len(seq) <= 24 else
                                                  "%d octets" % len(seq), U8)
    if valid:
        add_case(num, desc, "echo",
                 lambda ctx: check_echo(ctx, lambda c: c.send(OP_TEXT, seq), [txt(seq)]))
    else:
        add_case(num, desc, "fail: close 1007",
                 lambda ctx: check_fail(ctx, lambda c: c.send(OP_TEXT, seq), codes=(1007,)))


# 6.1 empty text
add_case("6.1.1", "Send text message of length 0 " + U8, "echo",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_TEXT, b""), [txt("")]))
add_case("6.1.2", "Send fragmented text message, 3 fragments each of length 0 " + U8, "echo",
         lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, b"", fin=False)
             + build_frame(OP_CONT, b"")), [txt("")]))
add_case("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0 " + U8, "echo",
         lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, b"middle frame payload", fin=False)
             + build_frame(OP_CONT, b"")), [txt("middle frame payload")]))

# 6.2 valid UTF-8 split at various points
HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
add_case("6.2.1", "Send valid UTF-8 text message in one fragment " + U8, "echo",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_TEXT, HELLO), [txt(HELLO)]))
add_case("6.2.2", "Send valid UTF-8 text message in two fragments, split on a code point boundary " + U8,
         "echo", lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, HELLO[:12], fin=False) + build_frame(OP_CONT, HELLO[12:])), [txt(HELLO)]))
add_case("6.2.3", "Send valid UTF-8 text message in fragments of 1 octet, splitting code points " + U8,
         "echo", lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, HELLO[i:i + 1], fin=i == len(HELLO) - 1)
                      for i in range(len(HELLO)))), [txt(HELLO)]))
KOSME4 = b"\xf0\xa4\xad\xa2" * 4  # U+24B62, 4-octet sequences
add_case("6.2.4", "Send valid UTF-8 text message (4-octet code points) in fragments of 1 octet " + U8,
         "echo", lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, KOSME4[i:i + 1], fin=i == len(KOSME4) - 1)
                      for i in range(len(KOSME4)))), [txt(KOSME4)]))

# 6.3 invalid UTF-8 in a whole message
KOSME = "κόσμε".encode()
BAD = KOSME + b"\xed\xa0\x80" + b"edited"
add_case("6.3.1", "Send invalid UTF-8 text message (a surrogate in the middle) in one frame " + U8,
         "fail: close 1007",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_TEXT, BAD), codes=(1007,)))
add_case("6.3.2", "Send the same invalid UTF-8 text message in fragments of 1 octet " + U8,
         "fail: close 1007",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, BAD[i:i + 1], fin=i == len(BAD) - 1)
                      for i in range(len(BAD)))), codes=(1007,)))


# 6.4 fail fast: the server must fail as soon as the bad octet arrives, not
# when the message ends (§8.1 via Autobahn 6.4: otherwise NON-STRICT).
def fail_fast(ctx, head, bad_bytes, tail, framewise):
    res = Result()
    c = ctx.connect()
    if framewise:
        # head in one fragment, the invalid part in a second, the rest later
        c.send(OP_TEXT, head, fin=False)
        c.send(OP_CONT, bad_bytes, fin=False)
    else:
        # one frame, its payload written in pieces: the bad octet comes early
        payload = head + bad_bytes + tail
        frame = build_frame(OP_TEXT, payload)
        hdr = len(frame) - len(payload)
        c.send_raw(frame[:hdr + len(head) + len(bad_bytes)])
    events, close, end = collect(c, None, 1.0, None, res)
    if events:
        res.note("unexpected " + describe(events), FAIL)
    if end == "timeout":
        res.note("not failed after the invalid octets", NON_STRICT)
        if framewise:
            c.send(OP_CONT, tail)
        else:
            c.send_raw(frame[hdr + len(head) + len(bad_bytes):])
        events, close, end = collect(c, None, 3.0, None, res)
        if events:
            res.note("unexpected " + describe(events), FAIL)
    else:
        res.note("failed right after the invalid octets")
    return fail_tail(c, res, close, end, (1007,))


add_case("6.4.1", "Send text in 3 fragments: valid, then 4 octets \\xf4\\x90\\x80\\x80 (> U+10FFFF), "
         "then valid after a pause " + U8, "close 1007 after the 2nd fragment (NON-STRICT: after the 3rd)",
         lambda ctx: fail_fast(ctx, KOSME, b"\xf4\x90\x80\x80", b"edited", True))
add_case("6.4.2", "Send text in 3 fragments: valid ending in \\xf4, then \\x90\\x80\\x80, then valid "
         + U8, "close 1007 after the 2nd fragment (NON-STRICT: after the 3rd)",
         lambda ctx: fail_fast(ctx, KOSME + b"\xf4", b"\x90\x80\x80", b"edited", True))
add_case("6.4.3", "Send one text frame in 2 writes: up to and including \\xf4\\x90 (> U+10FFFF), "
         "then the rest " + U8, "close 1007 after the 1st write (NON-STRICT: after the 2nd)",
         lambda ctx: fail_fast(ctx, KOSME, b"\xf4\x90", b"\x80\x80edited", False))
add_case("6.4.4", "Send one text frame in 2 writes: up to and including \\xed\\xa0 (a surrogate), "
         "then the rest " + U8, "close 1007 after the 1st write (NON-STRICT: after the 2nd)",
         lambda ctx: fail_fast(ctx, KOSME, b"\xed\xa0", b"\x80edited", False))

# 6.5 valid
for n, s in enumerate([KOSME, b"\xce\xba", b"\xce\xba\xe1\xbd\xb9", "Ā𐀀￿".encode(),
                       b"\xf4\x8f\xbf\xbf"], 1):
    utf8_case("6.5.%d" % n, "valid UTF-8", s, True)

# 6.6 prefixes of "κόσμε": valid only when cut on a code point boundary
for n in range(1, len(KOSME) + 1):
    prefix = KOSME[:n]
    try:
        prefix.decode()
        ok = True
    except UnicodeDecodeError:
        ok = False
    utf8_case("6.6.%d" % n, "the first %d octets of \"κόσμε\"" % n, prefix, ok)

KUHN = [
    ("6.7", "the first possible sequence of each length", True,
     [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"]),
    ("6.8", "the first possible sequence of length 5/6 (not UTF-8 since RFC 3629)", False,
     [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]),
    ("6.9", "the last possible sequence of each length (up to U+10FFFF)", True,
     [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"]),
    ("6.10", "the last possible sequence of length 4/5/6 (> U+10FFFF)", False,
     [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"]),
    ("6.11", "a boundary condition", None,
     [(b"\xed\x9f\xbf", True), (b"\xee\x80\x80", True), (b"\xef\xbf\xbd", True),
      (b"\xf4\x8f\xbf\xbf", True), (b"\xf4\x90\x80\x80", False)]),
    ("6.12", "unexpected continuation octets", False,
     [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf", b"\x80\xbf\x80\xbf\x80",
      b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xc0))]),
    ("6.13", "lonely start octets, each followed by a space", False,
     [b"".join(bytes([b, 0x20]) for b in range(lo, hi)) for lo, hi in
      ((0xc0, 0xe0), (0xe0, 0xf0), (0xf0, 0xf8), (0xf8, 0xfc), (0xfc, 0xfe))]),
    ("6.14", "a sequence with its last continuation octet missing", False,
     [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
      b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]),
    ("6.15", "the concatenation of the incomplete sequences of 6.14", False,
     [b"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf"
      b"\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"]),
    ("6.16", "impossible octets", False, [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),
    ("6.17", "an overlong ASCII '/'", False,
     [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"]),
    ("6.18", "a maximum overlong sequence", False,
     [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"]),
    ("6.19", "an overlong NUL", False,
     [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"]),
    ("6.20", "a single UTF-16 surrogate", False,
     [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf", b"\xed\xb0\x80", b"\xed\xbe\x80",
      b"\xed\xbf\xbf"]),
    ("6.21", "a paired UTF-16 surrogate", False,
     [b"\xed\xa0\x80\xed\xb0\x80", b"\xed\xa0\x80\xed\xbf\xbf", b"\xed\xad\xbf\xed\xb0\x80",
      b"\xed\xad\xbf\xed\xbf\xbf", b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf",
      b"\xed\xaf\xbf\xed\xb0\x80", b"\xed\xaf\xbf\xed\xbf\xbf"]),
    ("6.22", "a noncharacter (valid UTF-8)", True,
     [chr(cp).encode() for plane in range(17) for cp in (plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff)]),
    ("6.23", "other valid code points (BOM, replacement character, NUL, U+FDD0)", True,
     [b"\xef\xbb\xbf", b"\xef\xbf\xbd", b"\x00\x00\x00", "\ufdd0".encode(), "a\u200db".encode()]),
]
for prefix, what, valid, seqs in KUHN:
    for n, s in enumerate(seqs, 1):
        if valid is None:
            s, v = s
        else:
            v = valid
        utf8_case("%s.%d" % (prefix, n), what, s, v)

# -- 7 close handling --------------------------------------------------------
def close_case(ctx, send, want_codes, forbid_events=True, non_strict_codes=()):
    """Sends `send(conn)` (which includes our close) and expects the close
    reply with a code in `want_codes` (None: no code), nothing else, then the
    server's TCP close (§7.1.1)."""
    res = Result()
    c = ctx.connect()
    send(c)
    events, close, end = collect(c, None, 3.0, None, res)
    if events and forbid_events:
        res.note("unexpected " + describe(events), FAIL)
    res.note(close_text(close, end))
    if end != "close":
        res.note("expected a close reply", FAIL)
        return res.done()
    code = close.close_code()
    if code in want_codes:
        pass
    elif code in non_strict_codes:
        res.note("non-strict: expected %s" % "/".join(map(str, want_codes)), NON_STRICT)
    elif code not in want_codes:
        res.note("expected %s" % "/".join(map(str, want_codes)), FAIL)
    if c.wait_eof(2.0):
        res.note("server closed TCP")
    else:
        res.note("server kept TCP open (§7.1.1)", NON_STRICT)
    return res.done()


def case_7_1_1(ctx):
    # An echo server echoes the message before answering the close.
    res = Result()
    c = ctx.connect()
    c.send_raw(build_frame(OP_TEXT, b"Hello World!") + build_frame(OP_CLOSE, b"\x03\xe8"))
    events, close, end = collect(c, None, 3.0, None, res)
    res.note(describe(events))
    if [e[:2] for e in events] != [txt("Hello World!")]:
        res.note("expected the echo before the close reply", FAIL)
    res.note(close_text(close, end))
    if end != "close" or close.close_code() != 1000:
        res.note("expected close 1000", FAIL)
    elif not c.wait_eof(2.0):
        res.note("server kept TCP open (§7.1.1)", NON_STRICT)
    return res.done()


add_case("7.1.1", "Send text message, then close 1000 in the same write (§5.5.1: the close is "
         "answered; the message before it is an ordinary message)",
         "echo, then close 1000, then TCP close", case_7_1_1)
add_case("7.1.2", "Send close twice (§5.5.1: nothing after a close is processed)",
         "one close 1000, then TCP close",
         lambda ctx: close_case(ctx, lambda c: (c.send_close(1000), c.send_close(1000)), (1000,)))
add_case("7.1.3", "Send close, then ping (§5.5.1)", "close 1000, no pong, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_raw(build_frame(OP_CLOSE, b"\x03\xe8")
                                                          + build_frame(OP_PING, b"Hello World!")), (1000,)))
add_case("7.1.4", "Send close, then text message (§5.5.1)", "close 1000, no echo, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_raw(build_frame(OP_CLOSE, b"\x03\xe8")
                                                          + build_frame(OP_TEXT, b"Hello World!")), (1000,)))
add_case("7.1.5", "Send text fragment 1, close, then fragment 2 (§5.4, §5.5.1)",
         "close 1000, no echo, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_CLOSE, b"\x03\xe8")
             + build_frame(OP_CONT, b"fragment2")), (1000,)))


def case_7_1_6(ctx):
    # Autobahn 7.1.6: a large message, then close, then a ping, all at once.
    # How much of the echo arrives before the close reply is up to the server.
    res = Result()
    c = ctx.connect()
    big = b"BAsd7&jh23" * 26214  # ~256 KiB
    c.send_raw(build_frame(OP_TEXT, big) + build_frame(OP_CLOSE, b"\x03\xe8")
               + build_frame(OP_PING, b"Hello World!"))
    events, close, end = collect(c, None, 5.0, None, res)
    res.note(describe(events) + " before the close")
    res.note(close_text(close, end))
    verdict = INFO if end == "close" and close.close_code() == 1000 else FAIL
    if any(e[0] == "pong" for e in events):
        verdict = FAIL
        res.note("ping after close answered (§5.5.1)")
    if res.verdict == OK:
        res.verdict = verdict
    return res.done()


add_case("7.1.6", "Send 256 KiB text message, then close, then ping, in one write (§5.5.1)",
         "close 1000 (whether the echo precedes it is informational), no pong", case_7_1_6)

add_case("7.3.1", "Send close with no payload (§5.5.1: the reply then has no code, or 1000)",
         "close without code (or 1000), TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_close(None), (None, 1000)))
add_case("7.3.2", "Send close with a 1-octet payload (§5.5.1: a body starts with a 2-octet code)",
         "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_CLOSE, b"\x03")))
add_case("7.3.3", "Send close 1000 without reason (§5.5.1)", "close 1000, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_close(1000), (1000,)))
add_case("7.3.4", "Send close 1000 with a short reason (§5.5.1)", "close 1000, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_close(1000, b"Hello World!"), (1000,)))
add_case("7.3.5", "Send close 1000 with a 123-octet reason (§5.5: 125-octet control payload)",
         "close 1000, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_close(1000, b"*" * 123), (1000,)))
add_case("7.3.6", "Send close 1000 with a 124-octet reason (§5.5: 126 octets > 125)", "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send_close(1000, b"*" * 124)))
add_case("7.5.1", "Send close 1000 with an invalid UTF-8 reason (§5.5.1, §8.1)", "fail: close 1007",
         lambda ctx: check_fail(ctx, lambda c: c.send_close(1000, KOSME + b"\xed\xa0\x80edited"),
                                codes=(1007,)))
add_case("7.5.2", "Send close 1000 with a valid multi-octet UTF-8 reason (§5.5.1)", "close 1000, TCP close",
         lambda ctx: close_case(ctx, lambda c: c.send_close(1000, "Ĉu vi parolas? κόσμε 𝄞".encode()), (1000,)))

VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
for n, code in enumerate(VALID, 1):
    add_case("7.7.%d" % n, "Send close with valid code %d (§7.4.1, §7.4.2)" % code,
             "close echoing %d (NON-STRICT: 1000), TCP close" % code,
             lambda ctx, code=code: close_case(ctx, lambda c: c.send_close(code), (code,),
                                               non_strict_codes=(1000,)))
INVALID = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
for n, code in enumerate(INVALID, 1):
    add_case("7.9.%d" % n, "Send close with invalid code %d (§7.4: not allowed on the wire)" % code,
             "fail: close 1002",
             lambda ctx, code=code: check_fail(ctx, lambda c: c.send_close(code)))
for n, code in enumerate([5000, 65535], 1):
    add_case("7.13.%d" % n, "Send close with code %d (§7.4: codes above 4999 are undefined)" % code,
             "fail: close 1002",
             lambda ctx, code=code: check_fail(ctx, lambda c: c.send_close(code)))
