"""Group 9 (limits and performance, RFC 6455 §10.4) and groups 12-13
(permessage-deflate, RFC 7692). Modelled on Autobahn|Testsuite 9.x, 12.x and
13.x, scaled down so every case stays short."""
import os
import random
import time
import zlib

from harness import (FAIL, INFO, NON_STRICT, OK, Result, add_case, check_echo, check_fail,
                     collect, describe, fail_tail, finish, short, txt, binm)
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, Compressor, Decompressor,
                      build_frame, parse_extension)

MAX_MESSAGE = 16 << 20  # the runner's [websocket] max_message_bytes
KiB, MiB = 1 << 10, 1 << 20

# -- 9 limits and performance ------------------------------------------------
def text_payload(n):
    return (b"BAsd7&jh23" * (n // 10 + 1))[:n]


def bin_payload(n):
    return (bytes(range(256)) * (n // 256 + 1))[:n]


SIZES_9 = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB]
for sub, op, mk, gen in ((1, OP_TEXT, txt, text_payload), (2, OP_BINARY, binm, bin_payload)):
    kind = "text" if op == OP_TEXT else "binary"
    for i, n in enumerate(SIZES_9, 1):
        add_case("9.%d.%d" % (sub, i), "Send %s message of %s in one frame (limit %d MiB)"
                 % (kind, "%d KiB" % (n // KiB) if n < MiB else "%d MiB" % (n // MiB),
                    MAX_MESSAGE // MiB),
                 "echo", lambda ctx, op=op, n=n, mk=mk, gen=gen: check_echo(
                     ctx, lambda c: c.send(op, gen(n)), [mk(gen(n))], timeout=20))


def too_big_one_frame(c, op):
    # The header declares MAX+1 octets; only the first 64 KiB are written: the
    # server may refuse from the header (§10.4) without reading the rest.
    payload = text_payload(64 * KiB)
    frame = build_frame(op, payload, length=MAX_MESSAGE + 1)
    c.send_raw(frame)


def too_big_fragments(c, op):
    chunk = bin_payload(MiB) if op == OP_BINARY else text_payload(MiB)
    for i in range(MAX_MESSAGE // MiB + 1):
        c.send(op if i == 0 else OP_CONT, chunk, fin=False)


for sub, op in ((1, OP_TEXT), (2, OP_BINARY)):
    kind = "text" if op == OP_TEXT else "binary"
    add_case("9.%d.7" % sub, "Send %s frame declaring %d MiB + 1 octet (§10.4: over "
             "max_message_bytes)" % (kind, MAX_MESSAGE // MiB), "fail: close 1009",
             lambda ctx, op=op: check_fail(ctx, lambda c: too_big_one_frame(c, op), codes=(1009,)))
    add_case("9.%d.8" % sub, "Send %s message in 1 MiB fragments totalling %d MiB + 1 MiB "
             "(§10.4: the limit applies after reassembly)" % (kind, MAX_MESSAGE // MiB),
             "fail: close 1009",
             lambda ctx, op=op: check_fail(ctx, lambda c: too_big_fragments(c, op), codes=(1009,),
                                           timeout=20))

FRAG_SIZES = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB]


def size_text(n):
    return "%d B" % n if n < KiB else "%d KiB" % (n // KiB) if n < MiB else "%d MiB" % (n // MiB)


def fragmented(op, payload, frag):
    return b"".join(build_frame(op if i == 0 else OP_CONT, payload[i:i + frag],
                                fin=i + frag >= len(payload))
                    for i in range(0, len(payload), frag))


for sub, op, mk, gen in ((3, OP_TEXT, txt, text_payload), (4, OP_BINARY, binm, bin_payload)):
    kind = "text" if op == OP_TEXT else "binary"
    for i, frag in enumerate(FRAG_SIZES, 1):
        total = MiB if frag < KiB else 4 * MiB
        add_case("9.%d.%d" % (sub, i), "Send fragmented %s message of %s in fragments of %s (§5.4)"
                 % (kind, size_text(total), size_text(frag)), "echo",
                 lambda ctx, op=op, mk=mk, gen=gen, frag=frag, total=total: check_echo(
                     ctx, lambda c: c.send_raw(fragmented(op, gen(total), frag)), [mk(gen(total))],
                     timeout=20))

CHOPS = [64, 128, 256, 512, 1024, 2048]
for sub, op, mk, gen in ((5, OP_TEXT, txt, text_payload), (6, OP_BINARY, binm, bin_payload)):
    kind = "text" if op == OP_TEXT else "binary"
    for i, chop in enumerate(CHOPS, 1):
        add_case("9.%d.%d" % (sub, i), "Send %s message of 1 MiB in one frame, written in chops "
                 "of %d octets (§5.2: any TCP split point)" % (kind, chop), "echo",
                 lambda ctx, op=op, mk=mk, gen=gen, chop=chop: check_echo(
                     ctx, lambda c: c.send(op, gen(MiB), chop=chop), [mk(gen(MiB))], timeout=20))


def round_trips(ctx, op, size, count):
    res = Result()
    c = ctx.connect()
    payload = (text_payload if op == OP_TEXT else bin_payload)(size)
    kind = "text" if op == OP_TEXT else "binary"
    t0 = time.monotonic()
    for i in range(count):
        c.send(op, payload)
        events, close, end = collect(c, 1, 5.0, None, res)
        if end is not None or [e[:2] for e in events] != [(kind, payload)]:
            res.note("message %d: %s %s" % (i, describe(events), close_text_safe(close, end)), FAIL)
            return res.done()
    dt = time.monotonic() - t0
    res.note("%d echoes, %.0f round trips/s" % (count, count / dt))
    finish(c, res)
    return res.done()


def close_text_safe(close, end):
    from harness import close_text
    return close_text(close, end)


SMALL = [0, 16, 64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB]
for sub, op in ((7, OP_TEXT), (8, OP_BINARY)):
    kind = "text" if op == OP_TEXT else "binary"
    for i, size in enumerate(SMALL, 1):
        count = 200 if size <= 4 * KiB else 50
        add_case("9.%d.%d" % (sub, i), "Send %d %s messages of %s, each after the previous echo "
                 "(round-trip time)" % (count, kind, size_text(size)), "%d echoes in order" % count,
                 lambda ctx, op=op, size=size, count=count: round_trips(ctx, op, size, count))


def pipelined(ctx, count, size):
    res = Result()
    c = ctx.connect()
    msgs = [("%06d" % i).encode() + text_payload(size - 6) for i in range(count)]
    t0 = time.monotonic()
    c.send_raw(b"".join(build_frame(OP_TEXT, m) for m in msgs))
    events, close, end = collect(c, count, 20.0, None, res)
    dt = time.monotonic() - t0
    got = [e[1] for e in events if e[0] == "text"]
    res.note("%d of %d echoes in %.2f s" % (len(got), count, dt))
    if end is not None:
        res.note(close_text_safe(close, end), FAIL)
        return res.done()
    if got != msgs:
        res.note("echoes out of order or corrupted", FAIL)
    finish(c, res)
    return res.done()


add_case("9.9.1", "Send 10000 text messages of 64 B in one burst (no waiting)", "10000 echoes, in order",
         lambda ctx: pipelined(ctx, 10000, 64))
add_case("9.9.2", "Send 1000 text messages of 4 KiB in one burst", "1000 echoes, in order",
         lambda ctx: pipelined(ctx, 1000, 4 * KiB))

# -- 12 / 13 permessage-deflate ---------------------------------------------
PMD = "permessage-deflate"


class Negotiated:
    """The server's answer to our offer, checked against RFC 7692 §7.1."""

    def __init__(self, conn, res, offer_params):
        self.name, self.params = parse_extension(conn.accepted_extensions)
        self.accepted = self.name == PMD
        if not self.accepted:
            return
        p = self.params
        if "," in conn.accepted_extensions:
            res.note("server accepted more than one extension", FAIL)
        # Herald always declares server_no_context_takeover (docs/CONFIG.md).
        if "server_no_context_takeover" not in p:
            res.note("response lacks server_no_context_takeover", FAIL)
        # §7.1.2.2: client_max_window_bits only if the client offered it.
        if "client_max_window_bits" in p and "client_max_window_bits" not in offer_params:
            res.note("client_max_window_bits in the response but not in the offer (§7.1.2.2)", FAIL)
        for k in p:
            if k not in ("server_no_context_takeover", "client_no_context_takeover",
                         "server_max_window_bits", "client_max_window_bits"):
                res.note("unknown parameter %s in the response (§7.1)" % k, FAIL)
        self.server_bits = int(p.get("server_max_window_bits") or 15)
        offered_sb = offer_params.get("server_max_window_bits")
        if offered_sb and self.server_bits > int(offered_sb):
            res.note("server_max_window_bits %d above the offered %s (§7.1.2.1)"
                     % (self.server_bits, offered_sb), FAIL)
        self.client_bits = int(p.get("client_max_window_bits") or 15)
        offered_cb = offer_params.get("client_max_window_bits")
        if offered_cb and self.client_bits > int(offered_cb):
            res.note("client_max_window_bits above the offered value (§7.1.2.2)", FAIL)
        self.client_nct = "client_no_context_takeover" in p
        if "client_no_context_takeover" in offer_params and not self.client_nct:
            res.note("offered client_no_context_takeover not in the response", NON_STRICT)
        self.compressor = Compressor(self.client_bits, self.client_nct)
        self.inflater = StrictInflater(self.server_bits)


class StrictInflater(Decompressor):
    """Inflates server messages with exactly the negotiated window: a stream
    that uses a larger window than server_max_window_bits fails here."""

    def __init__(self, bits):
        super().__init__(True)
        self.bits = max(bits, 9)

    def decompress(self, data, limit=64 << 20):
        d = zlib.decompressobj(-self.bits)
        out = d.decompress(data + b"\x00\x00\xff\xff", limit)
        if d.unconsumed_tail:
            raise ValueError("server message inflates past %d bytes" % limit)
        return out


def offer_params_of(offer):
    # The multi-offer cases put the offer expected to be accepted last.
    _, params = parse_extension(offer.split(",")[-1].strip())
    return params


def payloads(kind, sizes, seed):
    rnd = random.Random(seed)
    out = []
    for n in sizes:
        if kind == "repetitive":
            words = [b"herald", b"broker", b"topic", b"message", b"\xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5"]
            b = b" ".join(rnd.choice(words) for _ in range(n // 5 + 1))[:n]
            while True:  # keep it valid UTF-8 when cut
                try:
                    b.decode()
                    break
                except UnicodeDecodeError:
                    b = b[:-1]
            out.append(b)
        elif kind == "random":
            out.append(rnd.randbytes(n))
        else:  # json-like, long-distance repeats (exercise the window)
            rec = b'{"topic":"chat.room%d","payload":"%s"}' % (rnd.randrange(100), b"x" * rnd.randrange(40))
            out.append((rec * (n // len(rec) + 1))[:n])
    return out


def deflate_echo(ctx, offer, kind, sizes, op=OP_TEXT, frag=None, count_per_size=1, seed=1):
    res = Result()
    c = ctx.connect(offer)
    neg = Negotiated(c, res, offer_params_of(offer))
    if not neg.accepted:
        res.note("extension declined: %r" % c.accepted_extensions, FAIL)
        return res.done()
    res.note("accepted %r" % c.accepted_extensions)
    msgs = payloads(kind, sizes, seed) * count_per_size
    mk = txt if op == OP_TEXT else binm
    compressed_echoes = 0
    ratio_in = ratio_out = 0
    for m in msgs:
        data = neg.compressor.compress(m)
        ratio_in += len(m)
        ratio_out += len(data)
        if frag:
            frames = b"".join(build_frame(op if i == 0 else OP_CONT, data[i:i + frag],
                                          fin=i + frag >= len(data), rsv=4 if i == 0 else 0)
                              for i in range(0, max(len(data), 1), frag))
            c.send_raw(frames)
        else:
            c.send(op, data, rsv=4)
        events, close, end = collect(c, 1, 10.0, neg.inflater, res)
        if end is not None:
            res.note("after %d messages: %s" % (msgs.index(m), close_text_safe(close, end)), FAIL)
            return res.done()
        if [e[:2] for e in events] != [mk(m)]:
            res.note("echo differs for %s: got %s" % (short(m), describe(events)), FAIL)
            return res.done()
        compressed_echoes += events[0][2]
    res.note("%d messages (%s) echoed intact, %d of the echoes compressed; client ratio %.2f"
             % (len(msgs), ", ".join(size_text(n) for n in sizes[:3]) + ("…" if len(sizes) > 3 else ""),
                compressed_echoes, ratio_out / max(ratio_in, 1)))
    finish(c, res, inflater=neg.inflater)
    return res.done()


SIZES_12 = [16, 64, 256, 1 * KiB, 4 * KiB, 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 128 * KiB]
OFFERS_12 = [
    (1, PMD, "default offer"),
    (2, PMD + "; client_no_context_takeover", "client_no_context_takeover"),
    (3, PMD + "; client_max_window_bits", "client_max_window_bits (no value)"),
    (4, PMD + "; client_max_window_bits=9; client_no_context_takeover",
     "client_max_window_bits=9, client_no_context_takeover"),
    (5, PMD + "; server_max_window_bits=10", "server_max_window_bits=10"),
]
for sub, offer, what in OFFERS_12:
    for i, (kind, op) in enumerate((("repetitive", OP_TEXT), ("random", OP_BINARY), ("json", OP_TEXT),
                                    ("repetitive", OP_BINARY)), 1):
        add_case("12.%d.%d" % (sub, i),
                 "permessage-deflate (%s): send %s %s messages of 16 B-128 KiB, each compressed "
                 "(RFC 7692 §7.2.1), 3 times each%s" % (what, kind, "text" if op == OP_TEXT else "binary",
                                                        " (context taken over)" if "client_no" not in offer else ""),
                 "accepted with server_no_context_takeover; every echo inflates to the same bytes",
                 lambda ctx, offer=offer, kind=kind, op=op: deflate_echo(
                     ctx, offer, kind, SIZES_12, op=op, count_per_size=3))
    add_case("12.%d.5" % sub,
             "permessage-deflate (%s): send compressed text messages split into 1..64 octet "
             "fragments, RSV1 on the first only (RFC 7692 §6.1)" % what,
             "every echo inflates to the same bytes",
             lambda ctx, offer=offer: deflate_echo(ctx, offer, "json", [16, 200, 3000, 20000], frag=64))


def negotiate_case(ctx, offer, expect):
    """expect: dict of params that must appear (value or None), or None for a
    declined extension; then a plain (or compressed) echo must work."""
    res = Result()
    c = ctx.connect(offer)
    neg = Negotiated(c, res, offer_params_of(offer))
    res.note("response %r" % (c.accepted_extensions or "(none)"))
    if expect is None:
        if neg.accepted:
            res.note("expected the offer declined (RFC 7692 §5: decline, handshake still OK)", FAIL)
            return res.done()
        c.send(OP_TEXT, b"plain after decline")
        events, close, end = collect(c, 1, 5.0, None, res)
        if end is not None or [e[:2] for e in events] != [txt("plain after decline")]:
            res.note("plain echo: %s %s" % (describe(events), close_text_safe(close, end)), FAIL)
            return res.done()
        res.note("plain echo OK")
        finish(c, res)
        return res.done()
    if not neg.accepted:
        res.note("expected the offer accepted", FAIL)
        return res.done()
    for k, v in expect.items():
        if k not in neg.params or (v is not None and neg.params[k] != v):
            res.note("expected %s%s" % (k, "" if v is None else "=" + v), FAIL)
    msgs = payloads("json", [100, 5000, 70000], 7)
    for m in msgs + msgs:
        c.send(OP_TEXT, neg.compressor.compress(m), rsv=4)
        events, close, end = collect(c, 1, 5.0, neg.inflater, res)
        if end is not None or [e[:2] for e in events] != [txt(m)]:
            res.note("echo: %s %s" % (describe(events), close_text_safe(close, end)), FAIL)
            return res.done()
    res.note("6 compressed echoes OK (%s)" % ("compressed" if events[0][2] else "uncompressed"))
    finish(c, res, inflater=neg.inflater)
    return res.done()


SNCT = {"server_no_context_takeover": None}
NEG = [
    ("13.1.1", PMD, SNCT),
    ("13.1.2", PMD + "; server_no_context_takeover", SNCT),
    ("13.2.1", PMD + "; client_no_context_takeover", dict(SNCT, client_no_context_takeover=None)),
    ("13.3.1", PMD + "; client_max_window_bits", dict(SNCT, client_max_window_bits=None)),
]
for bits in range(8, 16):
    NEG.append(("13.3.%d" % (bits - 6), PMD + "; client_max_window_bits=%d" % bits,
                dict(SNCT, client_max_window_bits=str(bits))))
for bits in range(9, 16):
    NEG.append(("13.4.%d" % (bits - 8), PMD + "; server_max_window_bits=%d" % bits,
                dict(SNCT, server_max_window_bits=str(bits))))
for n, bits in enumerate((9, 12, 15), 1):
    NEG.append(("13.5.%d" % n, PMD + "; client_no_context_takeover; client_max_window_bits=%d; "
                "server_max_window_bits=%d" % (bits, bits),
                dict(SNCT, client_no_context_takeover=None, client_max_window_bits=str(bits),
                     server_max_window_bits=str(bits))))
NEG += [
    ("13.6.1", PMD + "; server_max_window_bits=8, " + PMD,
     SNCT),  # zlib has no raw 8-bit window: the first offer may be declined, the second taken
    ("13.6.2", "x-webkit-deflate-frame, " + PMD + "; client_max_window_bits", SNCT),
    ("13.6.3", PMD + "; foo=bar, " + PMD + "; client_no_context_takeover",
     dict(SNCT, client_no_context_takeover=None)),
    ("13.6.4", PMD + '; client_max_window_bits="10"', dict(SNCT, client_max_window_bits="10")),
]
for num, offer, expect in NEG:
    add_case(num, "Offer `%s` (RFC 7692 §7.1), then exchange compressed messages of 100 B-70 KiB"
             % offer, "accepted with %s; echoes inflate to the same bytes"
             % ", ".join(k + ("=" + v if v else "") for k, v in expect.items()),
             lambda ctx, offer=offer, expect=expect: negotiate_case(ctx, offer, expect))

DECLINE = [
    PMD + "; foo=bar", PMD + "; server_max_window_bits=16", PMD + "; server_max_window_bits=7",
    PMD + "; server_max_window_bits", PMD + "; client_max_window_bits=08",
    PMD + "; client_max_window_bits=0", PMD + "; client_no_context_takeover; client_no_context_takeover",
    PMD + "; server_no_context_takeover=1", PMD + "; client_no_context_takeover=true",
    PMD + "; server_max_window_bits=10; server_max_window_bits=11", "x-webkit-deflate-frame",
    PMD + ";;", PMD + "; client_max_window_bits=abc",
]
for n, offer in enumerate(DECLINE, 1):
    add_case("13.7.%d" % n, "Offer invalid or unknown `%s` (RFC 7692 §5, §7.1: an invalid offer is "
             "declined)" % offer, "101 without the extension; plain echo works",
             lambda ctx, offer=offer: negotiate_case(ctx, offer, None))


def compressed_fail(ctx, make_frames, codes, offer=PMD):
    res = Result()
    c = ctx.connect(offer)
    neg = Negotiated(c, res, offer_params_of(offer))
    if not neg.accepted:
        res.note("extension declined", FAIL)
        return res.done()
    c.send_raw(make_frames(neg))
    events, close, end = collect(c, None, 15.0, neg.inflater, res)
    if events:
        res.note("unexpected " + describe(events), FAIL)
    return fail_tail(c, res, close, end, codes)


def bomb(neg, total, frag=None):
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    data = b"".join(co.compress(chunk) for _ in range(total // MiB)) + co.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4]
    if not frag:
        return build_frame(OP_BINARY, data, rsv=4)
    return b"".join(build_frame(OP_BINARY if i == 0 else OP_CONT, data[i:i + frag],
                                fin=i + frag >= len(data), rsv=4 if i == 0 else 0)
                    for i in range(0, len(data), frag))


add_case("13.8.1", "Decompression bomb: %d KiB of DEFLATE inflating to 64 MiB of zeros, one frame "
         "(RFC 7692 §8.1; limit %d MiB)" % (len(zlib.compress(bytes(64 * MiB), 9)) // KiB, MAX_MESSAGE // MiB),
         "fail: close 1009",
         lambda ctx: compressed_fail(ctx, lambda neg: bomb(neg, 64 * MiB), (1009,)))
add_case("13.8.2", "Decompression bomb split into 1 KiB fragments (RFC 7692 §8.1)", "fail: close 1009",
         lambda ctx: compressed_fail(ctx, lambda neg: bomb(neg, 64 * MiB, KiB), (1009,)))
add_case("13.8.3", "Compressed message inflating to exactly the %d MiB limit (RFC 7692 §8.1)"
         % (MAX_MESSAGE // MiB), "echo",
         lambda ctx: deflate_bound(ctx))


def deflate_bound(ctx):
    res = Result()
    c = ctx.connect(PMD)
    neg = Negotiated(c, res, {})
    m = bytes(MAX_MESSAGE)
    c.send_raw(bomb(neg, MAX_MESSAGE))
    events, close, end = collect(c, 1, 20.0, neg.inflater, res)
    if end is not None or [e[:2] for e in events] != [binm(m)]:
        res.note("%s %s" % (describe(events), close_text_safe(close, end)), FAIL)
        return res.done()
    res.note("16 MiB echo intact (%s)" % ("compressed" if events[0][2] else "uncompressed"))
    finish(c, res, inflater=neg.inflater)
    return res.done()


add_case("13.9.1", "Compressed payload that is not valid DEFLATE (RFC 7692 §6.2: fail the connection)",
         "fail: close 1007 or 1002",
         lambda ctx: compressed_fail(ctx, lambda neg: build_frame(OP_BINARY, b"\xff\xff\xff\xff\xff", rsv=4),
                                     (1007, 1002)))
add_case("13.9.2", "Compressed text inflating to invalid UTF-8 (RFC 6455 §8.1 after RFC 7692 §6.2)",
         "fail: close 1007",
         lambda ctx: compressed_fail(ctx, lambda neg: build_frame(
             OP_TEXT, neg.compressor.compress(b"valid then \xed\xa0\x80 surrogate"), rsv=4), (1007,)))
add_case("13.9.3", "RSV1 set on a continuation frame (RFC 7692 §6.1: only the first frame)",
         "fail: close 1002",
         lambda ctx: compressed_fail(ctx, lambda neg: (
             build_frame(OP_TEXT, neg.compressor.compress(b"hello"), fin=False, rsv=4)
             + build_frame(OP_CONT, b"", rsv=4)), (1002,)))
add_case("13.9.4", "RSV1 set on a ping (RFC 7692 §6.1: control frames are never compressed)",
         "fail: close 1002",
         lambda ctx: compressed_fail(ctx, lambda neg: build_frame(OP_PING, b"hi", rsv=4), (1002,)))
add_case("13.9.5", "RSV2 set on a compressed message (RFC 7692 only defines RSV1)", "fail: close 1002",
         lambda ctx: compressed_fail(ctx, lambda neg: build_frame(
             OP_TEXT, neg.compressor.compress(b"hello"), rsv=6), (1002,)))
add_case("13.9.6", "RSV1 set without permessage-deflate negotiated (RFC 6455 §5.2)", "fail: close 1002",
         lambda ctx: check_fail(ctx, lambda c: c.send(OP_TEXT, zlib.compressobj(6, zlib.DEFLATED, -15)
                                                       .compress(b"x"), rsv=4)))


def mixed(ctx):
    # RFC 7692 §6: uncompressed messages (RSV1 clear) are allowed on a
    # permessage-deflate connection; one ending with a final (BFINAL) block too.
    res = Result()
    c = ctx.connect(PMD)
    neg = Negotiated(c, res, {})
    steps = []
    plain = b"plain, RSV1 clear"
    c.send(OP_TEXT, plain)
    steps.append(plain)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = b"compressed with a BFINAL block " * 10
    # §7.2.3.4: after the BFINAL block the sender adds one 0x00 octet (the
    # header of the empty stored block the appended 00 00 ff ff completes).
    c.send(OP_TEXT, co.compress(final) + co.flush(zlib.Z_FINISH) + b"\x00", rsv=4)
    steps.append(final)
    after = b"and compressed again after it"
    c.send(OP_TEXT, neg.compressor.compress(after), rsv=4)
    steps.append(after)
    empty = b""
    c.send(OP_TEXT, b"\x00", rsv=4)  # §7.2.3.6: an empty message may be sent as a single 0x00
    steps.append(empty)
    events, close, end = collect(c, len(steps), 5.0, neg.inflater, res)
    res.note(describe(events))
    if end is not None or [e[1] for e in events] != steps:
        res.note("expected %d echoes %s" % (len(steps), close_text_safe(close, end)), FAIL)
        return res.done()
    finish(c, res, inflater=neg.inflater)
    return res.done()


add_case("13.10.1", "On a permessage-deflate connection: an uncompressed message, one ending in a BFINAL "
         "block, a normal compressed one and an empty one sent as 0x00 (RFC 7692 §6, §7.2.3.4, §7.2.3.6)",
         "4 echoes, in order", mixed)
