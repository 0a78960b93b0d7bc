"""Groups 1-5: framing, pings/pongs, reserved bits, opcodes, fragmentation.
Modelled on Autobahn|Testsuite cases 1.x-5.x (RFC 6455 §5)."""
import time

from harness import (FAIL, NON_STRICT, OK, Result, add_case, binm, check_echo, check_fail,
                     collect, describe, fail_tail, finish, pong, txt)
from wsclient import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, build_frame

SIZES = [0, 125, 126, 127, 128, 65535, 65536]

# -- 1 framing ---------------------------------------------------------------
for kind, op, mk, sub in (("text", OP_TEXT, txt, 1), ("binary", OP_BINARY, binm, 2)):
    for i, n in enumerate(SIZES, 1):
        payload = (b"*" if kind == "text" else b"\xfe") * n
        add_case("1.%d.%d" % (sub, i),
                 "Send %s message with payload length %d (RFC 6455 §5.2: 7-bit, 16-bit and "
                 "64-bit length forms)" % (kind, n), "echo",
                 lambda ctx, op=op, p=payload, mk=mk: check_echo(
                     ctx, lambda c: c.send(op, p), [mk(p)]))
    payload = (b"*" if kind == "text" else b"\xfe") * 65536
    add_case("1.%d.8" % sub,
             "Send %s message with payload length 65536, written in chops of 997 octets "
             "(§5.2: any TCP split point)" % kind, "echo",
             lambda ctx, op=op, p=payload, mk=mk: check_echo(
                 ctx, lambda c: c.send(op, p, chop=997), [mk(p)]))

# -- 2 pings and pongs -------------------------------------------------------
add_case("2.1", "Send ping without payload (§5.5.2)", "pong with empty payload",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PING), [pong(b"")]))
add_case("2.2", "Send ping with small text payload (§5.5.3: pong carries the same data)",
         "pong echoing the payload",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PING, b"Hello, world!"),
                                [pong(b"Hello, world!")]))
BIN = bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF])
add_case("2.3", "Send ping with small binary (non-UTF-8) payload (§5.5.3)", "pong echoing the payload",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PING, BIN), [pong(BIN)]))
add_case("2.4", "Send ping with 125 octet payload (§5.5: the control frame maximum)",
         "pong echoing the payload",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PING, b"\xfe" * 125), [pong(b"\xfe" * 125)]))
add_case("2.5", "Send ping with 126 octet payload (§5.5: control frames carry at most 125)",
         "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_PING, b"\xfe" * 126)))
add_case("2.6", "Send ping with 125 octet payload, byte-wise with delays (§5.5.3)",
         "pong echoing the payload",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PING, b"\xfe" * 125, chop=1, delay=0.002),
                                [pong(b"\xfe" * 125)]))
add_case("2.7", "Send unsolicited pong without payload (§5.5.3: a pong may be unsolicited)",
         "nothing; clean close",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PONG), []))
add_case("2.8", "Send unsolicited pong with payload (§5.5.3)", "nothing; clean close",
         lambda ctx: check_echo(ctx, lambda c: c.send(OP_PONG, b"unsolicited pong payload"), []))
add_case("2.9", "Send unsolicited pong, then ping (§5.5.3)", "one pong echoing the ping payload",
         lambda ctx: check_echo(ctx, lambda c: (c.send(OP_PONG, b"unsolicited pong payload"),
                                                c.send(OP_PING, b"ping payload")),
                                [pong(b"ping payload")]))
TEN = [("payload-%d" % i).encode() for i in range(10)]
add_case("2.10", "Send 10 pings (§5.5.2)", "10 pongs, in order",
         lambda ctx: check_echo(ctx, lambda c: [c.send(OP_PING, p) for p in TEN],
                                [pong(p) for p in TEN]))
add_case("2.11", "Send 10 pings, byte-wise with delays (§5.5.2)", "10 pongs, in order",
         lambda ctx: check_echo(ctx, lambda c: c.send_raw(
             b"".join(build_frame(OP_PING, p) for p in TEN), chop=1, delay=0.0005),
             [pong(p) for p in TEN]))

# -- 3 reserved bits ---------------------------------------------------------
RSV_WHY = "(§5.2: RSV bits need a negotiated extension)"
add_case("3.1", "Send small text message with RSV = 1 " + RSV_WHY, "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_TEXT, b"Hello, world!", rsv=1)))
add_case("3.2", "Send small text message, then one with RSV = 2, then ping " + RSV_WHY,
         "echo of the first, then close 1002 (NON-STRICT: no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, b"Hello, world!") + build_frame(OP_TEXT, b"Hello, world!", rsv=2)
             + build_frame(OP_PING, b"Hello, world!")),
             pre=[txt("Hello, world!")], non_strict_pre=[]))
add_case("3.3", "Same as 3.2 with RSV = 3, frame-wise with delays " + RSV_WHY,
         "echo of the first, then close 1002 (NON-STRICT: no echo)",
         lambda ctx: check_fail(ctx, lambda c: (
             c.send(OP_TEXT, b"Hello, world!"), time.sleep(0.1),
             c.send(OP_TEXT, b"Hello, world!", rsv=3), time.sleep(0.1),
             c.send(OP_PING, b"Hello, world!")),
             pre=[txt("Hello, world!")], non_strict_pre=[]))
add_case("3.4", "Same as 3.2 with RSV = 4, byte-wise with delays " + RSV_WHY,
         "echo of the first, then close 1002 (NON-STRICT: no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, b"Hello, world!") + build_frame(OP_TEXT, b"Hello, world!", rsv=4)
             + build_frame(OP_PING, b"Hello, world!"), chop=1, delay=0.002),
             pre=[txt("Hello, world!")], non_strict_pre=[]))
add_case("3.5", "Send small binary message with RSV = 5 " + RSV_WHY, "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_BINARY, BIN, rsv=5)))
add_case("3.6", "Send ping with RSV = 6 " + RSV_WHY, "fail: close 1002 (no pong)",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_PING, b"Hello, world!", rsv=6)))
add_case("3.7", "Send close with RSV = 7 " + RSV_WHY, "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_CLOSE, b"\x03\xe8", rsv=7)))

# -- 4 opcodes ---------------------------------------------------------------
def opcode_cases(sub, opcodes, kind):
    why = "(§5.2: opcodes %s are reserved)" % ("3-7" if sub == 1 else "11-15")
    a, b, c3, d, e = opcodes
    add_case("4.%d.1" % sub, "Send frame with reserved %s opcode %d %s" % (kind, a, why),
             "fail: close 1002", lambda ctx: check_fail(ctx, lambda c: c.send(a)))
    add_case("4.%d.2" % sub, "Send frame with reserved %s opcode %d and payload %s" % (kind, b, why),
             "fail: close 1002", lambda ctx: check_fail(ctx, lambda c: c.send(b, b"reserved opcode payload")))
    for n, op, payload in ((3, c3, b""), (4, d, b"reserved opcode payload"), (5, e, b"reserved opcode payload")):
        add_case("4.%d.%d" % (sub, n),
                 "Send small text message, then frame with reserved %s opcode %d%s, then ping %s"
                 % (kind, op, " and payload" if payload else "", why),
                 "echo of the first, then close 1002 (NON-STRICT: no echo)",
                 lambda ctx, op=op, payload=payload: check_fail(ctx, lambda c: c.send_raw(
                     build_frame(OP_TEXT, b"Hello, world!") + build_frame(op, payload)
                     + build_frame(OP_PING, b"Hello, world!")),
                     pre=[txt("Hello, world!")], non_strict_pre=[]))


opcode_cases(1, [3, 4, 5, 6, 7], "non-control")
opcode_cases(2, [11, 12, 13, 14, 15], "control")
add_case("4.3.1", "Send unmasked text frame (§5.1: a server MUST fail on an unmasked frame)",
         "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_TEXT, b"Hello, world!", mask=False)))
add_case("4.3.2", "Send text frame with a 64-bit length whose MSB is set (§5.2)", "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             bytes([0x81, 0xFF]) + (1 << 63 | 5).to_bytes(8, "big") + b"\0\0\0\0hello")))

# -- 5 fragmentation ---------------------------------------------------------
F1, F2 = b"fragment1", b"fragment2"
add_case("5.1", "Send ping fragmented into 2 fragments (§5.5: control frames MUST NOT be fragmented)",
         "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: (c.send(OP_PING, F1, fin=False), c.send(OP_CONT, F2))))
add_case("5.2", "Send pong fragmented into 2 fragments (§5.5)", "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: (c.send(OP_PONG, F1, fin=False), c.send(OP_CONT, F2))))


def frag_send(c, opcode, frags, chop=None, delay=0.0, between=None):
    data = b""
    for i, f in enumerate(frags):
        data += build_frame(opcode if i == 0 else OP_CONT, f, fin=i == len(frags) - 1)
        if between and i == 0:
            data += between
    c.send_raw(data, chop=chop, delay=delay)


add_case("5.3", "Send text message as 2 fragments (§5.4)", "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [F1, F2]), [txt(F1 + F2)]))
add_case("5.4", "Same as 5.3, in 1-octet chops with delays (§5.4)", "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [F1, F2], chop=1, delay=0.001),
                                [txt(F1 + F2)]))
add_case("5.5", "Send text message as 2 fragments, frame-wise with a delay (§5.4)", "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: (c.send(OP_TEXT, F1, fin=False), time.sleep(0.1),
                                                c.send(OP_CONT, F2)), [txt(F1 + F2)]))
PING = build_frame(OP_PING, b"ping payload")
add_case("5.6", "Send text message as 2 fragments with a ping between them (§5.4: control frames "
         "may be injected)", "pong, and echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [F1, F2], between=PING),
                                [pong("ping payload"), txt(F1 + F2)]))
add_case("5.7", "Same as 5.6, in 1-octet chops with delays (§5.4)", "pong, and echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [F1, F2], between=PING, chop=1,
                                                         delay=0.001),
                                [pong("ping payload"), txt(F1 + F2)]))
add_case("5.8", "Same as 5.6 with binary fragments, frame-wise with delays (§5.4)",
         "pong, and echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: (c.send(OP_BINARY, F1, fin=False), time.sleep(0.05),
                                                c.send(OP_PING, b"ping payload"), time.sleep(0.05),
                                                c.send(OP_CONT, F2)),
                                [pong("ping payload"), binm(F1 + F2)]))
CONT_NO_START = "(§5.4: a continuation frame needs a started message)"
for n, (fin, chop) in enumerate([(True, None), (True, 1), (False, None), (False, 1)]):
    num = 9 + n if n < 2 else 12 + n - 2
    add_case("5.%d" % num, "Send continuation frame with FIN = %s and no message started%s, then "
             "a text message %s" % (fin, ", in 1-octet chops" if chop else "", CONT_NO_START),
             "fail: close 1002 (no echo)",
             lambda ctx, fin=fin, chop=chop: check_fail(ctx, lambda c: c.send_raw(
                 build_frame(OP_CONT, F2, fin=fin) + build_frame(OP_TEXT, b"Hello, world!"),
                 chop=chop, delay=0.001 if chop else 0)))
add_case("5.11", "Send continuation frame with FIN = true and no message started, frame-wise with "
         "delays, then a text message " + CONT_NO_START, "fail: close 1002 (no echo)",
         lambda ctx: check_fail(ctx, lambda c: (c.send(OP_CONT, F2), time.sleep(0.05),
                                                c.send(OP_TEXT, b"Hello, world!"))))
add_case("5.14", "Send continuation frame with FIN = false and no message started, frame-wise with "
         "delays, then a text message " + CONT_NO_START, "fail: close 1002 (no echo)",
         lambda ctx: check_fail(ctx, lambda c: (c.send(OP_CONT, F2, fin=False), time.sleep(0.05),
                                                c.send(OP_TEXT, b"Hello, world!"))))
add_case("5.15", "Send text fragments 1 (FIN=0) and 2 (FIN=1), then continuation (FIN=0) and "
         "text (FIN=1) " + CONT_NO_START, "echo of 1+2, then close 1002 (NON-STRICT: no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, F1, fin=False) + build_frame(OP_CONT, F2)
             + build_frame(OP_CONT, b"fragment3", fin=False) + build_frame(OP_TEXT, b"fragment4")),
             pre=[txt(F1 + F2)], non_strict_pre=[]))
add_case("5.16", "Send 2x (continuation FIN=0, text FIN=0, continuation FIN=1) " + CONT_NO_START,
         "fail: close 1002 (no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(2 * (
             build_frame(OP_CONT, b"fragment1", fin=False) + build_frame(OP_TEXT, b"fragment2", fin=False)
             + build_frame(OP_CONT, b"fragment3")))))
add_case("5.17", "Send 2x (continuation FIN=1, text FIN=0, continuation FIN=1) " + CONT_NO_START,
         "fail: close 1002 (no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(2 * (
             build_frame(OP_CONT, b"fragment1") + build_frame(OP_TEXT, b"fragment2", fin=False)
             + build_frame(OP_CONT, b"fragment3")))))
add_case("5.18", "Send text fragment (FIN=0), then another text frame (FIN=1) instead of a "
         "continuation (§5.4: messages are not interleaved)", "fail: close 1002 (no echo)",
         lambda ctx: check_fail(ctx, lambda c: c.send_raw(
             build_frame(OP_TEXT, F1, fin=False) + build_frame(OP_TEXT, F2))))


def send_5_19(c, chop):
    frames = [
        build_frame(OP_TEXT, b"fragment1", fin=False), build_frame(OP_CONT, b"fragment2", fin=False),
        build_frame(OP_PING, b"pongme 1!"), build_frame(OP_CONT, b"fragment3", fin=False), None,
        build_frame(OP_CONT, b"fragment4", fin=False), build_frame(OP_PING, b"pongme 2!"),
        build_frame(OP_CONT, b"fragment5")]
    for f in frames:
        if f is None:
            time.sleep(0.3)
        else:
            c.send_raw(f, chop=chop, delay=0.0005 if chop else 0)


MSG_5_19 = b"fragment1fragment2fragment3fragment4fragment5"
add_case("5.19", "Send text message in 5 fragments with 2 pings between them and a pause in the "
         "middle (§5.4, §5.5.2)", "2 pongs (the first before the pause), echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: send_5_19(c, None),
                                [pong("pongme 1!"), pong("pongme 2!"), txt(MSG_5_19)]))
add_case("5.20", "Same as 5.19, frames written in 1-octet chops with delays (§5.4)",
         "2 pongs, echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: send_5_19(c, 1),
                                [pong("pongme 1!"), pong("pongme 2!"), txt(MSG_5_19)]))
BIG = bytes(range(256)) * 1024
add_case("5.21", "Send 256 KiB binary message in 1024 fragments of 256 octets (§5.4)",
         "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_BINARY, [BIG[i:i + 256] for i in
                                                                         range(0, len(BIG), 256)]),
                                [binm(BIG)]))
add_case("5.22", "Send 64 KiB text message in 64 fragments, written in 61-octet chops (§5.4)", "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [b"x" * 1024] * 64, chop=61),
                                [txt(b"x" * 65536)]))
add_case("5.23", "Send text message of empty fragments plus one non-empty (§5.4: fragments may be "
         "empty)", "echo of the whole message",
         lambda ctx: check_echo(ctx, lambda c: frag_send(c, OP_TEXT, [b"", b"", b"abc", b""]),
                                [txt("abc")]))
