"""The fault-and-abuse scenarios. Each starts its own heraldd (127.0.0.1, port
0, a config tuned for fast detection), drives it, measures, stops everything
it started (by PID) and returns a dict:

    {"name": "a", "title": ..., "what": ..., "figures": [(label, value, unit)],
     "verdict": "PASS" | "FAIL" | "SKIP", "reason": ..., "seconds": ...}

A heraldd that exits non-zero when stopped, or logs a sanitizer report,
fails its scenario. Every wait has a deadline and every loop a count or a
time bound.
"""
import collections
import http.client
import json
import multiprocessing
import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time
import traceback

from common import (IDLE_MS, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, PING_MS, ROOT, SLACK, WS_FAST,
                    HttpPublisher, Subscriber, WsConn, WsPublisher, close_code, cpu_seconds,
                    deflate_message, frame, healthy, http_request, metric, metrics, ms,
                    node, open_fds, paced, percentile, rss_kib, sanitizer_report, stop_checked,
                    wait_for)
from fault_proxy import FaultProxy
from ledger import Ledger, summarize

SCENARIOS = collections.OrderedDict()
# Scenarios that need longer than the runner's default deadline (seconds).
TIMEOUTS = {}


def scenario(name, title, timeout_s=None):
    def register(fn):
        # A second scenario under a name would silently replace the first.
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} is defined twice: {SCENARIOS[name][0]!r}, {title!r}")
        SCENARIOS[name] = (title, fn)
        if timeout_s:
            TIMEOUTS[name] = timeout_s
        return fn
    return register


class Result:
    def __init__(self, name, title, what):
        self.d = {"name": name, "title": title, "what": what, "figures": [], "verdict": None,
                  "reason": ""}
        self.failures = []
        self.skipped = None
        self.notes = []
        self.cleanups = []

    def fig(self, label, value, unit=""):
        self.d["figures"].append((label, value, unit))

    def check(self, ok, failure):
        if not ok:
            self.failures.append(failure)
        return ok

    def note(self, text):
        self.notes.append(text)

    def skip(self, reason):
        """The scenario cannot run here (not a heraldd fault): SKIP, unless
        something else already failed."""
        self.skipped = reason

    def defer(self, fn):
        self.cleanups.append(fn)

    def node_stopped(self, h, label="heraldd"):
        """Stops a heraldd this scenario started; its exit status and any
        sanitizer report are part of the verdict."""
        rc, report = stop_checked(h)
        self.check(rc == 0, f"{label} exited with status {rc} (expected 0)")
        self.check(report is None, f"{label}: sanitizer report: {report}")
        return rc

    def finish(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001 — cleanup must go on
                pass
        if self.failures:
            self.d["verdict"], self.d["reason"] = "FAIL", "; ".join(self.failures)
        elif self.skipped:
            self.d["verdict"], self.d["reason"] = "SKIP", self.skipped
        else:
            self.d["verdict"], self.d["reason"] = "PASS", "; ".join(self.notes)
        return self.d


def run_scenario(name):
    title, fn = SCENARIOS[name]
    r = Result(name, title, (fn.__doc__ or "").strip())
    t0 = time.monotonic()
    try:
        fn(r)
    except Exception as e:  # noqa: BLE001 — a test error is a FAIL with its reason
        r.failures.append(f"scenario error: {e!r} at "
                          + traceback.format_exc().strip().splitlines()[-3].strip())
    d = r.finish()
    d["seconds"] = round(time.monotonic() - t0, 1)
    return d


def ledger_figures(r, verdicts, who):
    t = summarize(verdicts)
    r.fig(f"{who}: expected / received", f"{t['expected']} / {t['received']}", "msgs")
    r.fig(f"{who}: lost / duplicated / reordered",
          f"{t['lost']} / {t['duplicated']} / {t['reordered']}", "msgs")
    r.fig(f"{who}: gap-reported / silent gap", f"{t['gap_reported']} / {t['silent_gap']}", "msgs")
    for n, v in verdicts.items():
        if v["silent_gap"]:
            r.failures.append(f"{n}: {v['silent_gap']} messages missing without a gap notice "
                              f"(e.g. {v['silent_examples']})")
        if v["duplicated"] or v["reordered"] or v["phantom"]:
            r.failures.append(f"{n}: {v['duplicated']} duplicated, {v['reordered']} reordered, "
                              f"{v['phantom']} refused-but-delivered")
    return t


class MetricWatch:
    """Polls /metrics every `interval` on a thread; records when each watched
    counter changes (monotonic times) so a scenario can time a server action."""

    def __init__(self, port, names, interval=0.02):
        self.port, self.names, self.interval = port, names, interval
        self.changes = {n: [] for n in names}  # name -> [(t, value)]
        self.last = {}
        self.stop_flag = threading.Event()
        self.errors = 0
        self.sample()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def sample(self):
        try:
            m = metrics(self.port, timeout=2)
        except OSError:
            self.errors += 1
            return
        now = time.monotonic()
        for n in self.names:
            v = m.get(n)
            if v != self.last.get(n):
                self.changes[n].append((now, v))
                self.last[n] = v

    def _run(self):
        while not self.stop_flag.wait(self.interval):
            self.sample()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(3)

    def first_time_at(self, name, value):
        """When the counter first reached `value` (None if never)."""
        for t, v in self.changes[name]:
            if v is not None and v >= value:
                return t
        return None


# ------------------------------------------------------------------------------------------
@scenario("a", "A reader that stops reading")
def stalled_reader(r):
    """A publisher sends 1000 msg/s (about 1.6 KB each) for 4 s to one topic
    with five healthy /ws subscribers and two laggards: a stalled one (raw
    socket, 4 KiB SO_RCVBUF, subscribes then never reads — so it answers no
    ping either) and a slow one (a live client that reads through the fault
    proxy throttled to 2 KB/s and sends a JSON ping every 200 ms, so only
    the slow-consumer policy can cut it). Config: `max_outbound_bytes =
    65536`, `slow_consumer_policy = "disconnect"`, ping 200 ms, idle timeout
    1000 ms. Expected: the stalled one is cut by the idle timeout (≤ idle +
    ping interval + 400 ms after its last byte), the slow one by the
    slow-consumer policy once the kernel's send buffer (up to
    `net.ipv4.tcp_wmem` max, which heraldd does not cap) plus
    `max_outbound_bytes` are full (bound: that many bytes at the publish
    rate, + 1 s); the healthy five get every message (ledger: 0 lost, 0
    silent gap); each laggard's received prefix has no hole (0 silent gap);
    the publisher keeps its rate and every publish is acknowledged."""
    RATE, SECONDS, PAD, OUTBOUND = 1000, 4.0, 1500, 65536
    h = node(WS_FAST + f'max_outbound_bytes = {OUTBOUND}\nslow_consumer_policy = "disconnect"\n')
    r.defer(lambda: h.proc.poll() is None and h.stop())
    led = Ledger()
    subs = [Subscriber(led, h.port, f"healthy{i}", ["feed.a"]) for i in range(5)]
    for s_ in subs:
        r.defer(s_.close)
    stalled = WsConn(h.port, "/ws", rcvbuf=4096)
    r.defer(stalled.close)
    stalled.send_json({"op": "sub", "id": "s", "topic": "feed.a"})
    stalled.recv_json_until(lambda m: m.get("id") == "s")
    t_quiet = time.monotonic()  # the stalled client's last byte
    stalled_log = led.subscriber("stalled", ["feed.a"])

    proxy = FaultProxy(h.port, upstream_rcvbuf=4096)
    r.defer(proxy.stop)
    slow = Subscriber(led, proxy.port, "slow", ["feed.a"], rcvbuf=4096)
    r.defer(slow.close)
    proxy.set_mode("throttle", rate=2048)
    slow_done = threading.Event()
    r.defer(slow_done.set)

    def keepalive():
        for _ in range(300):  # bounded: 60 s at most
            if slow_done.wait(0.2):
                return
            try:
                slow.conn.send_json({"op": "ping"})
            except OSError:
                return
    threading.Thread(target=keepalive, daemon=True).start()

    pub = WsPublisher(led, h.port, "P")
    r.defer(pub.close)
    SC, IT = "herald_ws_slow_consumer_closes_total", "herald_ws_idle_timeouts_total"
    watch = MetricWatch(h.port, [SC, IT, "herald_ws_connections_open"])
    r.defer(watch.stop)
    opened = watch.last["herald_ws_connections_open"]
    t0 = time.monotonic()
    sent = paced(RATE, SECONDS, lambda i: pub.publish("feed.a", pad=PAD))
    elapsed = time.monotonic() - t0
    wait_for(lambda: pub.pending() == 0, 5)
    caught = wait_for(lambda: all(led.caught_up(s_.name) for s_ in subs), 5)
    watch.stop()
    slow_done.set()
    # The slow reader was cut; what the kernel still held for it flows at full
    # speed now, then its connection ends.
    proxy.set_mode("pass")
    wait_for(lambda: slow.log.t_closed is not None, 8)

    # What the stalled reader had buffered, then the end of its connection.
    deadline = time.monotonic() + 5
    end = "still open"
    while time.monotonic() < deadline and stalled_log.t_closed is None:
        try:
            frames = stalled.recv_frames(0.5)
        except (EOFError, OSError) as e:
            end = "eof" if isinstance(e, EOFError) else repr(e)
            stalled_log.on_close(None)
            break
        for op, _, _, payload in frames:
            if op == OP_TEXT:
                stalled_log.on_envelope(json.loads(payload))
            elif op == OP_CLOSE:
                end = f"close {close_code(payload)}"
                stalled_log.on_close(close_code(payload))
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    msg_bytes = PAD + 120  # envelope and frame header around the padding
    fill_bound_ms = ((wmem_max + OUTBOUND) / (RATE * msg_bytes) + 1.0) * 1000
    idle_bound_ms = IDLE_MS + PING_MS + 400 * SLACK
    sc_times = [ms(t - t0) for t, _ in watch.changes[SC][1:]]
    it_times = [ms(t - t_quiet) for t, _ in watch.changes[IT][1:]]
    m = metrics(h.port)
    sc, idle = m.get(SC, 0), m.get(IT, 0)
    lat = pub.latencies
    r.fig("publish rate achieved", round(sent / elapsed), "msg/s")
    r.fig("publishes acknowledged", f"{led.published('P')} / {sent}", "")
    r.fig("publish→ack latency p50 / p99 / max",
          f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))} / {ms(max(lat) if lat else 0)}",
          "ms")
    r.fig("stalled reader cut by the idle timeout, after its last byte",
          ", ".join(f"{x:.0f}" for x in it_times) or "never", f"ms (bound {idle_bound_ms})")
    r.fig("slow reader cut by the slow-consumer policy, after the first publish",
          ", ".join(f"{x:.0f}" for x in sc_times) or "never",
          f"ms (bound {fill_bound_ms:.0f}: {wmem_max // 1024} KiB tcp_wmem max + "
          f"{OUTBOUND // 1024} KiB at {RATE * msg_bytes / 1e6:.1f} MB/s + 1 s)")
    r.fig("cuts: slow-consumer / idle timeout", f"{sc:.0f} / {idle:.0f}", "")
    r.fig("stalled reader: msgs it had buffered, then", f"{stalled_log.count()}, {end}", "")
    r.fig("slow reader: msgs received before its end", f"{slow.log.count()}", "")
    hv = led.verdict([s_.name for s_ in subs])
    t = ledger_figures(r, hv, "healthy x5")
    lv = led.verdict(["stalled", "slow"])
    r.fig("laggards: received / gap-reported / silent gap",
          " ; ".join(f"{n} {v['received']} / {v['gap_reported']} / {v['silent_gap']}"
                     for n, v in lv.items()), "msgs")
    for n, v in lv.items():
        r.check(v["silent_gap"] == 0, f"{n}: {v['silent_gap']} messages missing without notice "
                f"(connection {v['closed']})")
    r.check(t["lost"] == 0, f"healthy subscribers lost {t['lost']} messages")
    r.check(caught is not None, "healthy subscribers not caught up 5 s after the last publish")
    r.check(sc + idle == 2, f"{sc + idle:.0f} of the 2 laggards were cut")
    r.check(sc >= 1, "the live slow reader was not cut by the slow-consumer policy")
    r.check(all(x <= idle_bound_ms for x in it_times),
            f"idle-timeout cut after {it_times} ms (bound {idle_bound_ms})")
    r.check(all(x <= fill_bound_ms for x in sc_times),
            f"slow-consumer cut after {sc_times} ms (bound {fill_bound_ms:.0f})")
    r.check(sent / elapsed >= 0.9 * RATE, f"publisher reached only {sent / elapsed:.0f} msg/s")
    r.check(led.published("P") == sent, f"{sent - led.published('P')} publishes not acknowledged")
    r.check(pub.closed is None, f"publisher connection ended: {pub.closed}")
    r.check(wait_for(lambda: metric(h.port, "herald_ws_connections_open") == opened - 2, 3)
            is not None, "the laggards' connections are still counted open")
    r.note(f"stalled cut {', '.join(f'{x:.0f}' for x in it_times)} ms after its last "
           f"byte (idle), slow cut {', '.join(f'{x:.0f}' for x in sc_times)} ms into the stream; "
           f"healthy {t['received']}/{t['expected']}, 0 silent gap")
    pub.close()
    for s_ in subs:
        s_.close()
    slow.close()
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
@scenario("b", "A client that vanishes without FIN")
def vanished_client(r):
    """Three /ws subscribers connect through their own fault proxies, answer
    pings and receive a 50 msg/s stream; a direct subscriber is the control.
    Then, at once: proxy 1 turns to blackhole (the client vanishes without a
    FIN or RST: bytes are swallowed both ways, nothing closes), proxy 2 to
    reset (RST), proxy 3 to delay (300 ms added per chunk: a slow network,
    not a dead peer). Config: ping 200 ms, idle timeout 1000 ms. Measured
    via /metrics (`herald_ws_connections_open`, `herald_ws_idle_timeouts_total`):
    time to free each. Expected: the blackholed one freed by the idle timeout
    within idle + ping interval + 400 ms; the reset one at once (< 500 ms);
    the delayed one kept (its pongs arrive 600 ms late, under the idle
    timeout); the control gets every message (0 silent gap)."""
    h = node(WS_FAST)
    r.defer(lambda: h.proc.poll() is None and h.stop())
    led = Ledger()
    control = Subscriber(led, h.port, "control", ["feed.b"])
    r.defer(control.close)
    proxies, clients = {}, {}
    for mode in ("blackhole", "reset", "delay"):
        p = FaultProxy(h.port)
        r.defer(p.stop)
        proxies[mode] = p
        clients[mode] = Subscriber(led, p.port, f"via-{mode}", ["feed.b"])
        r.defer(clients[mode].close)
    pub = HttpPublisher(led, h.port, "P")
    r.defer(pub.close)
    stop = threading.Event()
    r.defer(stop.set)
    pt = threading.Thread(target=paced, args=(50, 6.0, lambda i: pub.publish("feed.b"), stop),
                          daemon=True)
    pt.start()
    time.sleep(0.6)  # pings answered through every proxy
    OPEN, IT = "herald_ws_connections_open", "herald_ws_idle_timeouts_total"
    m0 = metrics(h.port)
    watch = MetricWatch(h.port, [OPEN, IT], interval=0.01)
    r.defer(watch.stop)
    t_cut = time.monotonic()
    proxies["blackhole"].set_mode("blackhole")
    proxies["reset"].set_mode("reset")
    proxies["delay"].set_mode("delay", delay_ms=300)
    freed_all = wait_for(lambda: watch.last.get(OPEN) == m0[OPEN] - 2, 4)
    time.sleep(0.8)  # the delayed client must outlive a few more idle periods
    watch.stop()
    opens = [(ms(t - t_cut), v) for t, v in watch.changes[OPEN][1:]]
    idle_at = [ms(t - t_cut) for t, _ in watch.changes[IT][1:]]
    first_drop = opens[0][0] if opens else None
    second_drop = opens[1][0] if len(opens) > 1 else None
    stop.set()
    pt.join(8)
    caught = wait_for(lambda: led.caught_up("control"), 3)
    bound = IDLE_MS + PING_MS + 400 * SLACK
    m1 = metrics(h.port)
    delay_alive = clients["delay"].log.t_closed is None and proxies["delay"].connections() == 1
    r.fig("open /ws connections before / after", f"{m0[OPEN]:.0f} / {m1[OPEN]:.0f}", "")
    r.fig("reset client freed after", first_drop if first_drop is not None else "never", "ms")
    r.fig("blackholed client freed after (idle timeout)",
          idle_at[0] if idle_at else "never", f"ms (bound {bound})")
    r.fig("delayed client (300 ms/chunk) still connected after",
          ms(time.monotonic() - t_cut) if delay_alive else "cut", "ms")
    r.fig("idle timeouts counted", f"{m1[IT] - m0[IT]:.0f}", "")
    v = led.verdict(["control", "via-delay"])
    ledger_figures(r, {"control": v["control"]}, "control")
    r.fig("delayed client: msgs received (the rest still in flight)",
          v["via-delay"]["received"], "msgs")
    r.check(freed_all is not None, f"not both vanished clients freed within 4 s: {opens}")
    r.check(first_drop is not None and first_drop < 500, f"reset client freed after {first_drop} ms")
    r.check(len(idle_at) == 1 and idle_at[0] <= bound,
            f"idle-timeout frees at {idle_at} ms (want exactly one, ≤ {bound} ms)")
    r.check(second_drop is not None and second_drop <= bound,
            f"blackholed client freed after {second_drop} ms")
    r.check(delay_alive, "the delayed (live) client was cut")
    r.check(caught is not None and v["control"]["lost"] == 0,
            f"control lost {v['control']['lost']} messages")
    r.note(f"reset freed in {first_drop} ms, blackhole in {idle_at[0] if idle_at else None} ms "
           f"(bound {bound}), delayed client kept")
    pub.close()
    for c in clients.values():
        c.close()
    control.close()
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
def flood_until_closed(conn, frames_iter, max_bytes, max_seconds):
    """Sends frames until the server ends the connection (a close frame, EOF
    or a reset) or a bound is hit, answering pings meanwhile; returns (bytes
    sent — including what still sat in socket buffers —, frames sent,
    seconds, close code or how it ended)."""
    sent = nframes = 0
    t0 = time.monotonic()
    sock = conn.sock
    for f in frames_iter:
        while True:  # until this frame is sent (frames of a message must not be skipped)
            if sent >= max_bytes or time.monotonic() - t0 > max_seconds:
                return sent, nframes, time.monotonic() - t0, "still open (bound hit)"
            r_, w_, _ = select.select([sock], [sock], [], 1.0)
            if r_:
                try:
                    frames = conn.recv_frames(0)
                except EOFError:
                    return sent, nframes, time.monotonic() - t0, "eof"
                except OSError as e:
                    return sent, nframes, time.monotonic() - t0, repr(e)
                for op, _, _, payload in frames:
                    if op == OP_CLOSE:
                        return sent, nframes, time.monotonic() - t0, close_code(payload)
                    if op == OP_PING:
                        try:
                            sock.sendall(frame(0xA, payload))
                        except OSError:
                            pass
            if not w_:
                continue
            try:
                sock.sendall(f)
            except OSError as e:
                code, why = conn.read_close(1.0)
                return sent, nframes, time.monotonic() - t0, code or f"send failed: {e!r}"
            sent += len(f)
            nframes += 1
            break
    code, why = conn.read_close(3.0)
    return sent, nframes, time.monotonic() - t0, code if code is not None else why


@scenario("c", "Fragment floods and decompression bombs")
def floods_and_bombs(r):
    """With `[websocket] max_message_bytes = 65536` (permessage-deflate on),
    while a control publisher/subscriber pair streams 100 msg/s: (1) a client
    sends a text message as an endless run of 1 KiB continuation fragments;
    (2) one sends empty continuation fragments for up to 2 s (nothing
    accumulates, so no size limit is passed: `[websocket] max_empty_fragments`,
    1024 by default, bounds them); (3) a permessage-deflate bomb: one
    16 KiB compressed frame that inflates to 16 MiB; (4) a 64 MiB bomb split
    into 16-byte compressed fragments; (5) 20 bombs at once; (6) corrupt
    DEFLATE data. heraldd's VmRSS and VmHWM (/proc/PID/status) are read
    before and after. Expected: (1), (3), (4), (5) closed with 1009, (2) with
    1008, (6) with 1007, each before the limit is passed by much; RSS growth stays under
    32 MiB (a bomb buffered whole would be hundreds); the control pair loses
    nothing (0 silent gap) and heraldd answers /healthz throughout."""
    LIMIT = 65536
    h = node(WS_FAST + f"max_message_bytes = {LIMIT}\n")
    r.defer(lambda: h.proc.poll() is None and h.stop())
    led = Ledger()
    control = Subscriber(led, h.port, "control", ["feed.c"])
    r.defer(control.close)
    pub = WsPublisher(led, h.port, "P")
    r.defer(pub.close)
    stop = threading.Event()
    r.defer(stop.set)
    pt = threading.Thread(target=paced, args=(100, 60.0, lambda i: pub.publish("feed.c", pad=100),
                                                 stop), daemon=True)
    pt.start()
    time.sleep(0.5)
    rss0, hwm0 = rss_kib(h.proc.pid)
    r.fig("VmRSS / VmHWM before", f"{rss0 // 1024} / {hwm0 // 1024}", "MiB")
    codes = {}

    # (1) endless non-empty continuation fragments
    c = WsConn(h.port, "/ws")
    r.defer(c.close)

    def fragments(first_opcode, size):
        yield frame(first_opcode, b"a" * size, fin=False)
        chunk = b"a" * size
        while True:
            yield frame(OP_CONT, chunk, fin=False)
    sent, n, secs, code = flood_until_closed(c, fragments(OP_TEXT, 1024), 64 << 20, 10)
    codes["fragments"] = code
    r.fig("(1) 1 KiB fragments: closed with / sent until then (incl. socket buffers)",
          f"{code} / {sent // 1024} KiB, {n} frames", "")
    r.check(code == 1009, f"(1) fragment flood ended with {code}, expected close 1009")
    c.close()

    # (2) endless empty continuation fragments: no growth, no limit passed
    c = WsConn(h.port, "/ws")
    r.defer(c.close)

    def empty_fragments():
        yield frame(OP_TEXT, b"a", fin=False)
        f = frame(OP_CONT, b"", fin=False)
        batch = f * 512
        while True:
            yield batch
    cpu0 = cpu_seconds(h.proc.pid)
    sent, n, secs, code = flood_until_closed(c, empty_fragments(), 256 << 20, 2.0)
    cpu1 = cpu_seconds(h.proc.pid)
    rss_e, _ = rss_kib(h.proc.pid)
    frames_sent = (n - 1) * 512
    r.fig("(2) empty fragments: sent (incl. socket buffers) / closed with",
          f"{frames_sent} frames / {code}", "")
    r.fig("(2) heraldd CPU during it / VmRSS after",
          f"{cpu1 - cpu0:.2f} s / {rss_e // 1024} MiB", "")
    r.check(code == 1008, f"(2) empty-fragment flood ended with {code}, expected close 1008 "
            "(max_empty_fragments)")
    r.note(f"(2) empty continuation fragments: closed with {code} after {frames_sent} sent "
           f"(incl. socket buffers; heraldd CPU {cpu1 - cpu0:.2f} s)")
    c.close()

    # (3) one frame, 16 KiB compressed -> 16 MiB
    bomb16 = deflate_message(b"\0" * (16 << 20))
    c = WsConn(h.port, "/ws", extensions="permessage-deflate")
    r.defer(c.close)
    r.check(c.deflate, "permessage-deflate was not negotiated")
    t0 = time.monotonic()
    try:
        c.send(frame(OP_TEXT, bomb16, rsv1=True))
    except OSError:
        pass
    code, _ = c.read_close(3.0)
    codes["bomb"] = code
    r.fig("(3) bomb 1 frame: compressed → inflated / closed with / after",
          f"{len(bomb16) // 1024} KiB → 16 MiB / {code} / {ms(time.monotonic() - t0)} ms", "")
    r.check(code == 1009, f"(3) deflate bomb ended with {code}, expected close 1009")
    c.close()

    # (4) 64 MiB bomb in 1 KiB compressed fragments
    bomb64 = deflate_message(b"\0" * (64 << 20))
    c = WsConn(h.port, "/ws", extensions="permessage-deflate")
    r.defer(c.close)

    def bomb_fragments(data, size):
        yield frame(OP_TEXT, data[:size], fin=False, rsv1=True)
        for i in range(size, len(data), size):
            yield frame(OP_CONT, data[i:i + size], fin=i + size >= len(data))
    sent, n, secs, code = flood_until_closed(c, bomb_fragments(bomb64, 16), 1 << 30, 10)
    codes["bomb-fragments"] = code
    r.fig("(4) bomb in 16-byte fragments: sent before the close / closed with",
          f"{sent} B of {len(bomb64) // 1024} KiB ({n} frames) / {code}", "")
    r.check(code == 1009, f"(4) fragmented bomb ended with {code}, expected 1009")
    c.close()

    # (5) 20 bombs at once
    results = []

    def one_bomb():
        try:
            cc = WsConn(h.port, "/ws", extensions="permessage-deflate")
            cc.send(frame(OP_TEXT, bomb16, rsv1=True))
            results.append(cc.read_close(5.0)[0])
            cc.close()
        except OSError as e:
            results.append(repr(e))
    threads = [threading.Thread(target=one_bomb, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    rss5, hwm5 = rss_kib(h.proc.pid)
    r.fig("(5) 20 bombs at once: closes", ", ".join(f"{k}×{v}" for k, v in
                                                  collections.Counter(map(str, results)).items()), "")
    r.check(results.count(1009) == 20, f"(5) 20 concurrent bombs ended with {results}")

    # (6) corrupt DEFLATE data
    c = WsConn(h.port, "/ws", extensions="permessage-deflate")
    r.defer(c.close)
    c.send(frame(OP_TEXT, b"\xff\xff\xff\xff garbage", rsv1=True))
    code, _ = c.read_close(3.0)
    r.fig("(6) corrupt DEFLATE: closed with", code, "")
    r.check(code == 1007, f"(6) corrupt deflate ended with {code}, expected 1007")
    c.close()

    ok_health = healthy(h.port)
    time.sleep(0.3)
    rss1, hwm1 = rss_kib(h.proc.pid)
    stop.set()
    pt.join(5)
    wait_for(lambda: pub.pending() == 0, 3)
    caught = wait_for(lambda: led.caught_up("control"), 3)
    r.fig("VmRSS / VmHWM after", f"{rss1 // 1024} / {hwm1 // 1024}", "MiB")
    growth = max(rss1, hwm1) - max(rss0, hwm0)
    r.fig("growth of max(VmRSS, VmHWM)", round(growth / 1024, 1), "MiB (bound 32)")
    r.check(growth < 32 * 1024, f"RSS grew by {growth // 1024} MiB")
    r.check(ok_health, "/healthz failed after the floods")
    v = led.verdict(["control"])
    ledger_figures(r, v, "control")
    r.check(caught is not None and v["control"]["lost"] == 0,
            f"control lost {v['control']['lost']} messages")
    r.check(pub.closed is None, f"control publisher ended: {pub.closed}")
    pm = metrics(h.port)
    r.fig("herald_ws_protocol_errors_total", int(pm.get("herald_ws_protocol_errors_total", 0)), "")
    r.note(f"floods closed with {codes}; RSS growth {growth / 1024:.1f} MiB")
    pub.close()
    control.close()
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
LORIS_HEAD = b"POST /publish/loris.x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
LORIS_DRIP = b"X-Loris: slowly\r\n"


def loris_worker(port, n, silent, duration, drip_s, drain_s, out):
    """A separate process (no GIL shared with the measuring client): keeps `n`
    connections open for `duration` s — `silent` of them send nothing, the
    others send a partial request head then one more byte every `drip_s` —
    reopening each one the server closes; then stops reopening and waits up
    to `drain_s` for the server to close the rest. Puts its figures on `out`."""
    ep = select.epoll()
    conns = {}  # fd -> dict
    lifetimes = {"loris": [], "silent": []}
    got_408 = 0
    reset = 0
    failed_connects = 0
    opened = 0
    t_start = time.monotonic()

    def open_one(kind):
        nonlocal opened, failed_connects
        s_ = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s_.settimeout(1.0)
        try:
            s_.connect(("127.0.0.1", port))
        except OSError:
            failed_connects += 1
            s_.close()
            return
        s_.setblocking(False)
        now = time.monotonic()
        c = {"sock": s_, "kind": kind, "t0": now, "next": now, "pos": 0, "buf": b""}
        if kind == "loris":
            try:
                s_.send(LORIS_HEAD)
            except OSError:
                pass
            c["next"] = now + drip_s
        conns[s_.fileno()] = c
        ep.register(s_.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        opened += 1

    def closed(fd, how):
        nonlocal reset
        c = conns.pop(fd)
        try:
            ep.unregister(fd)
        except OSError:
            pass
        lifetimes[c["kind"]].append(time.monotonic() - c["t0"])
        if how == "reset":
            reset += 1
        c["sock"].close()
        return c["kind"]

    for i in range(n):
        open_one("silent" if i < silent else "loris")
    max_open = len(conns)
    reopening = True
    deadline = t_start + duration + drain_s
    while time.monotonic() < deadline:
        now = time.monotonic()
        if reopening and now - t_start >= duration:
            reopening = False
        if not reopening and not conns:
            break
        for fd, ev in ep.poll(0.02):
            c = conns.get(fd)
            if c is None:
                continue
            try:
                data = c["sock"].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                kind = closed(fd, "reset")
                if reopening:
                    open_one(kind)
                continue
            if data:
                c["buf"] += data
                if c["buf"].startswith(b"HTTP/1.1 408") and not c.get("counted"):
                    c["counted"] = True
                    got_408 += 1
                continue
            kind = closed(fd, "eof")
            if reopening:
                open_one(kind)
        now = time.monotonic()
        for fd, c in list(conns.items()):
            if c["kind"] == "loris" and c["next"] <= now:
                b = LORIS_DRIP[c["pos"] % len(LORIS_DRIP):][:1]
                try:
                    c["sock"].send(b)
                    c["pos"] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    pass
                c["next"] = now + drip_s
        max_open = max(max_open, len(conns))
    left = {"loris": 0, "silent": 0}
    for fd in list(conns):
        left[conns[fd]["kind"]] += 1
        conns[fd]["sock"].close()
    ep.close()
    out.put({"lifetimes": lifetimes, "got_408": got_408, "reset": reset, "opened": opened,
             "failed_connects": failed_connects, "left_open": left, "max_open": max_open})


@scenario("d", "Slow-loris connections")
def slow_loris(r):
    """A separate process holds 1000 connections for 4 s: 900 send a partial
    request head and then one byte every 250 ms, 100 send nothing; each one
    the server closes is reopened at once. Config: `[http] header_timeout_ms
    = 1000`, `idle_timeout_ms = 2000`. Meanwhile a normal client does fresh
    WebSocket handshakes (connect → 101) and HTTP publishes on a keep-alive
    connection, back to back; the same is measured for 1 s before the loris
    starts. Expected: handshake and publish p99 stay low (≤ 100 ms, and no
    failure); every loris connection is closed within the header timeout
    (+ 750 ms) of its first byte — with a 408 — and every silent one within
    the idle timeout (+ 750 ms); none is left open."""
    HEADER_MS, HIDLE_MS, N, SILENT, DURATION = 1000, 2000, 1000, 100, 4.0
    h = node(f"[http]\nheader_timeout_ms = {HEADER_MS}\nidle_timeout_ms = {HIDLE_MS}\n")
    r.defer(lambda: h.proc.poll() is None and h.stop())
    led = Ledger()
    pub = HttpPublisher(led, h.port, "P")
    r.defer(pub.close)

    def normal_load(seconds):
        hs, failures = [], 0
        pub.latencies = []
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            try:
                c = WsConn(h.port, "/ws/loris.ctl", timeout=5)
                if c.status == 101:
                    hs.append(c.handshake_s)
                else:
                    failures += 1
                c.close()
            except OSError:
                failures += 1
            if pub.publish("loris.ctl") is None:
                failures += 1
        return hs, list(pub.latencies), failures

    hs0, pl0, f0 = normal_load(1.0)
    q = multiprocessing.Queue()
    proc = multiprocessing.Process(target=loris_worker, daemon=True,
                                   args=(h.port, N, SILENT, DURATION, 0.25,
                                         (HIDLE_MS + 1500) / 1000.0 * SLACK, q))
    proc.start()
    r.defer(lambda: proc.is_alive() and (proc.terminate(), proc.join(2)))
    time.sleep(0.5)  # the loris connections are in place
    open_during = metric(h.port, "herald_http_connections_open")
    hs1, pl1, f1 = normal_load(DURATION - 0.7)
    try:
        res = q.get(timeout=DURATION + 10 * SLACK)
    except Exception:  # noqa: BLE001
        res = None
    proc.join(5)
    r.fig("connections open on heraldd during the attack", int(open_during or 0), "")
    r.fig("WS handshake before: n / p50 / p99",
          f"{len(hs0)} / {ms(percentile(hs0, 50))} / {ms(percentile(hs0, 99))}", "ms")
    r.fig("WS handshake during: n / p50 / p99 / max",
          f"{len(hs1)} / {ms(percentile(hs1, 50))} / {ms(percentile(hs1, 99))} / "
          f"{ms(max(hs1) if hs1 else 0)}", "ms")
    r.fig("HTTP publish before / during: p50 / p99",
          f"{ms(percentile(pl0, 50))} / {ms(percentile(pl0, 99))} ; "
          f"{ms(percentile(pl1, 50))} / {ms(percentile(pl1, 99))}", "ms")
    r.fig("normal client failures before / during", f"{f0} / {f1}", "")
    bound_p99 = 100 * SLACK
    r.check(hs1 and percentile(hs1, 99) * 1000 <= bound_p99,
            f"handshake p99 during the attack {ms(percentile(hs1, 99))} ms > {bound_p99} ms")
    r.check(pl1 and percentile(pl1, 99) * 1000 <= bound_p99,
            f"publish p99 during the attack {ms(percentile(pl1, 99))} ms > {bound_p99} ms")
    r.check(f0 == 0 and f1 == 0, f"normal client failures: {f0} before, {f1} during")
    r.check(res is not None, "the loris process reported nothing")
    if res:
        lt, st = res["lifetimes"]["loris"], res["lifetimes"]["silent"]
        r.fig("loris connections opened / max at once / connect failures",
              f"{res['opened']} / {res['max_open']} / {res['failed_connects']}", "")
        r.fig("partial-head loris: closed / with 408 / lifetime p50 / max",
              f"{len(lt)} / {res['got_408']} / {ms(percentile(lt, 50))} / {ms(max(lt) if lt else 0)}",
              f"ms (header timeout {HEADER_MS})")
        r.fig("silent connections: closed / lifetime p50 / max",
              f"{len(st)} / {ms(percentile(st, 50))} / {ms(max(st) if st else 0)}",
              f"ms (idle timeout {HIDLE_MS})")
        r.fig("left open at the end (loris / silent)",
              f"{res['left_open']['loris']} / {res['left_open']['silent']}", "")
        hb = HEADER_MS + 750 * SLACK
        ib = HIDLE_MS + 750 * SLACK
        r.check(lt and max(lt) * 1000 <= hb, f"a loris connection lived {ms(max(lt or [0]))} ms "
                f"(bound {hb})")
        r.check(st and max(st) * 1000 <= ib, f"a silent connection lived {ms(max(st or [0]))} ms "
                f"(bound {ib})")
        r.check(res["got_408"] >= 0.95 * len(lt), f"only {res['got_408']} of {len(lt)} loris "
                "connections got a 408")
        r.check(sum(res["left_open"].values()) == 0, f"left open: {res['left_open']}")
        r.note(f"handshake p99 {ms(percentile(hs1, 99))} ms during vs {ms(percentile(hs0, 99))} "
               f"ms before; loris closed after ≤ {ms(max(lt or [0]))} ms")
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
def smuggled(i):
    """The request a vector tries to smuggle: a publish to a watched topic."""
    return (f"POST /publish/smug.evil.{i} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: text/plain\r\nContent-Length: 4\r\n\r\nEVIL").encode()


def smuggling_vectors():
    """(name, request bytes, must be rejected). Each one hides smuggled(i) so
    that one of two readings of the framing runs it as a second request."""
    v = []

    def add(name, build, must_reject=True):
        i = len(v) + 1
        v.append((i, name, build(i, smuggled(i)), must_reject))

    def head(i, *lines, version="1.1", method="POST", path=None):
        path = path or f"/publish/smug.front.{i}"
        return (f"{method} {path} HTTP/{version}\r\nHost: x\r\n"
                + "".join(l_ + "\r\n" for l_ in lines) + "\r\n").encode()

    def cl_te(te_line):
        def build(i, s_):
            body = b"0\r\n\r\n" + s_
            return head(i, f"Content-Length: {len(body)}", te_line) + body
        return build

    def te_cl(te_line):
        def build(i, s_):
            chunk = b"%x\r\n" % len(s_) + s_ + b"\r\n0\r\n\r\n"
            return head(i, te_line, "Content-Length: 4") + chunk
        return build
    add("CL.TE (Content-Length, then Transfer-Encoding: chunked)",
        cl_te("Transfer-Encoding: chunked"))
    add("TE.CL (Transfer-Encoding: chunked, then Content-Length)",
        te_cl("Transfer-Encoding: chunked"))
    add("two Content-Length values (0 and the smuggled size)",
        lambda i, s_: head(i, "Content-Length: 0", f"Content-Length: {len(s_)}") + s_)
    add("two Content-Length values (the smuggled size, then 0)",
        lambda i, s_: head(i, f"Content-Length: {len(s_)}", "Content-Length: 0") + s_)
    add("Content-Length list '0, N'",
        lambda i, s_: head(i, f"Content-Length: 0, {len(s_)}") + s_)
    add("Transfer-Encoding: xchunked + CL", cl_te("Transfer-Encoding: xchunked"))
    add("'Transfer-Encoding : chunked' (space before colon) + CL",
        cl_te("Transfer-Encoding : chunked"))
    add("Transfer-Encoding: chunked, identity + CL", cl_te("Transfer-Encoding: chunked, identity"))
    add("Transfer-Encoding: identity, chunked + CL", cl_te("Transfer-Encoding: identity, chunked"))
    add("Transfer-Encoding: \\x0bchunked (vertical tab) + CL",
        cl_te("Transfer-Encoding: \x0bchunked"))
    add("Transfer-Encoding: \\tchunked + CL", cl_te("Transfer-Encoding:\tchunked"))
    add("two Transfer-Encoding headers (chunked, identity) + CL",
        cl_te("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"))
    add("Transfer-Encoding folded onto the next line (obs-fold) + CL",
        cl_te("Transfer-Encoding:\r\n chunked"))
    add("Transfer-Encoding: chunked, chunked + CL", cl_te("Transfer-Encoding: chunked, chunked"))
    add("Transfer-Encoding: CHUNKED (upper case) + CL", cl_te("Transfer-Encoding: CHUNKED"))
    add("X-Padding with bare LF hiding Transfer-Encoding + CL",
        lambda i, s_: head(i, f"Content-Length: {len(s_) + 5}",
                           "X-Padding: a\nTransfer-Encoding: chunked") + b"0\r\n\r\n" + s_)
    add("chunk-size overflow (17 hex digits wrapping to 5)",
        lambda i, s_: head(i, "Transfer-Encoding: chunked")
        + b"10000000000000005\r\nhello\r\n0\r\n\r\n" + s_)
    add("chunk-size with a 0x prefix",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"0x5\r\nhello\r\n0\r\n\r\n" + s_)
    add("negative chunk size",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"-5\r\nhello\r\n0\r\n\r\n" + s_)
    add("chunk data not followed by CRLF",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"5\r\nhelloXX0\r\n\r\n" + s_)
    add("chunk longer than its size (5 declared, 7 sent)",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"5\r\nhello!!\r\n0\r\n\r\n" + s_)
    add("bare LF after the chunk size",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"5\nhello\r\n0\r\n\r\n" + s_)
    add("bare LF after the last chunk",
        lambda i, s_: head(i, "Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\n\n" + s_)
    add("bare LF line endings in the head (CL hidden behind LF)",
        lambda i, s_: (f"POST /publish/smug.front.{i} HTTP/1.1\r\nHost: x\r\n"
                       f"X-A: b\nContent-Length: {len(s_)}\r\n\r\n").encode() + s_)
    add("bare LF line endings everywhere",
        lambda i, s_: (f"POST /publish/smug.front.{i} HTTP/1.1\nHost: x\n"
                       f"Content-Length: 0\n\n").encode() + s_.replace(b"\r\n", b"\n"))
    add("bare CR inside the head",
        lambda i, s_: head(i, f"X-A: b\rContent-Length: {len(s_)}") + s_)
    add("NUL byte in a header value",
        lambda i, s_: head(i, "X-A: b\x00c", f"Content-Length: {len(s_)}") + s_)
    add("Content-Length: +N", lambda i, s_: head(i, f"Content-Length: +{len(s_)}") + s_)
    add("Content-Length: -1", lambda i, s_: head(i, "Content-Length: -1") + s_)
    add("Content-Length in hex (0x..)", lambda i, s_: head(i, f"Content-Length: 0x{len(s_):x}") + s_)
    add("Content-Length with an inner space ('N N')",
        lambda i, s_: head(i, f"Content-Length: {len(s_)} {len(s_)}") + s_)
    add("Content-Length overflowing 64 bits",
        lambda i, s_: head(i, "Content-Length: 18446744073709551620") + s_)
    add("'Content-Length : N' (space before colon)",
        lambda i, s_: head(i, f"Content-Length : {len(s_)}") + s_)
    add("HTTP/1.0 with Transfer-Encoding: chunked + CL",
        lambda i, s_: head(i, f"Content-Length: {len(s_) + 5}", "Transfer-Encoding: chunked",
                           version="1.0") + b"0\r\n\r\n" + s_)
    add("request line ended by a bare LF",
        lambda i, s_: f"POST /publish/smug.front.{i} HTTP/1.1\nHost: x\r\n"
        f"Content-Length: {len(s_)}\r\n\r\n".encode() + s_)
    # Not malformed, but a classic desync: a body on a GET must be read as a
    # body (or refused), never run as the next request.
    add("GET with a Content-Length body (CL.0)",
        lambda i, s_: head(i, f"Content-Length: {len(s_)}", method="GET", path="/healthz") + s_,
        must_reject=False)
    add("GET with a chunked body",
        lambda i, s_: head(i, "Transfer-Encoding: chunked", method="GET", path="/healthz")
        + b"%x\r\n" % len(s_) + s_ + b"\r\n0\r\n\r\n", must_reject=False)
    return v


def send_raw(port, data, wait=2.0):
    """Sends bytes on a fresh connection; reads until the server closes or
    `wait` passes. Returns (reply bytes, closed by the server?)."""
    s_ = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s_.sendall(data)
        buf = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            r_, _, _ = select.select([s_], [], [], max(0.0, deadline - time.monotonic()))
            if not r_:
                break
            try:
                chunk = s_.recv(65536)
            except ConnectionResetError:
                return buf, True
            if not chunk:
                return buf, True
            buf += chunk
        return buf, False
    finally:
        s_.close()


@scenario("e", "Request smuggling")
def request_smuggling(r):
    """Sends each vector on a fresh connection: CL+TE, TE+CL, duplicate and
    malformed Content-Length, obfuscated Transfer-Encoding (unknown coding,
    space before the colon, vertical tab, obs-fold, lists, two headers, upper
    case), chunk-size overflow and malformed chunk framing, bare LF and bare
    CR, NUL, HTTP/1.0 with chunked — each hiding a second request `POST
    /publish/smug.evil.<n>` that one reading of the framing would run. A /ws
    subscriber watches `smug.>` throughout; afterwards `GET /history` is asked
    for every smug.evil topic. Expected: every malformed vector answered 4xx
    (or 501) and the connection closed by heraldd, its own publish not
    processed either; the two well-formed controls (GET with a body) answered
    once, the body consumed as a body; no smug.evil message ever exists."""
    import re
    h = node("[http]\nheader_timeout_ms = 2000\n")
    r.defer(lambda: h.proc.poll() is None and h.stop())
    led = Ledger()
    watcher = Subscriber(led, h.port, "watcher", ["smug.>"])
    r.defer(watcher.close)
    seen_topics = []
    orig = watcher.log.on_envelope

    def record(env):
        if env.get("op") == "msg":
            seen_topics.append(env["topic"])
        orig(env)
    watcher.log.on_envelope = record
    rows = []
    bad = []
    for i, name, data, must_reject in smuggling_vectors():
        buf, closed = send_raw(h.port, data, 1.0)
        codes = [int(c) for c in re.findall(rb"HTTP/1\.[01] (\d{3}) ", buf)]
        rejected = bool(codes) and (400 <= codes[0] < 500 or codes[0] == 501)
        if must_reject:
            ok = rejected and closed and len(codes) == 1
        else:
            ok = len(codes) == 1
        rows.append((i, name, codes, closed, ok))
        if not ok:
            bad.append(f"#{i} {name}: answered {codes}, connection "
                       f"{'closed' if closed else 'left open'}")
    # The watcher must be live: a legitimate publish reaches it.
    http_request(h.port, "POST", "/publish/smug.canary", body=b"ok",
                 headers={"Content-Type": "text/plain"})
    live = wait_for(lambda: "smug.canary" in seen_topics, 3) is not None
    time.sleep(0.2)
    evil_seen = sorted({t for t in seen_topics if t.startswith("smug.evil.")})
    front_seen = sorted({t for t in seen_topics if t.startswith("smug.front.")})
    evil_history = []
    for i, name, _, _ in smuggling_vectors():
        st, body = http_request(h.port, "GET", f"/history/smug.evil.{i}")
        if st == 200 and json.loads(body).get("messages"):
            evil_history.append(i)
    must = {i for i, _, _, m in smuggling_vectors() if m}
    fronts_run = [t for t in front_seen if int(t.rsplit(".", 1)[1]) in must]
    n_must = len(must)
    r.fig("vectors sent (must be rejected / well-formed controls)",
          f"{len(rows)} ({n_must} / {len(rows) - n_must})", "")
    r.fig("rejected with 4xx and closed", sum(1 for x in rows if x[4] and x[0] in must),
          f"of {n_must}")
    r.fig("smuggled requests run (seen by the watcher / in history)",
          f"{len(evil_seen)} / {len(evil_history)}", "")
    r.fig("front requests of malformed vectors processed", len(fronts_run), "")
    r.fig("watcher live (canary delivered)", "yes" if live else "no", "")
    for i, name, codes, closed, ok in rows:
        if not ok or (i in evil_history):
            r.fig(f"  #{i} {name}", f"{codes}, {'closed' if closed else 'open'}"
                  + (", SMUGGLED REQUEST RUN" if i in evil_history else ""), "")
    r.d["table"] = [(i, name, codes[0] if codes else None, len(codes), closed,
                     i in evil_history, "ok" if ok else "NOT REJECTED")
                    for i, name, codes, closed, ok in rows]
    for b in bad:
        r.failures.append(b)
    r.check(not evil_seen and not evil_history,
            f"smuggled request run for vectors {evil_history or evil_seen}")
    r.check(not fronts_run, f"malformed requests processed: {fronts_run}")
    r.check(live, "the watcher never saw the canary")
    r.check(healthy(h.port), "heraldd unhealthy after the vectors")
    r.note(f"{n_must}/{n_must} malformed vectors rejected with 4xx and closed; 0 smuggled")
    watcher.close()
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
def ubsan_needs_a_descriptor(h):
    """The UBSan report that a vptr check under descriptor exhaustion gives
    (its memory probe needs a pipe): the report's first line, or None."""
    log = h.logs()
    if ("object has invalid vptr" in log and "<memory cannot be printed>" in log
            and "AddressSanitizer" not in log):
        line = [l_ for l_ in log.splitlines() if "runtime error" in l_][0]
        return line.replace(ROOT + "/", "")[:170]
    return None


def stopped_by_ubsan(r, h):
    """heraldd died of UBSan's own need for a descriptor: the scenario is
    skipped with the reason (see below); True then."""
    if h.proc.poll() is None or not ubsan_needs_a_descriptor(h):
        return False
    # UBSan's vptr check reads the vtable through IsAccessibleMemoryRange,
    # which needs a pipe(2): with no descriptor left the pipe fails (strace:
    # pipe2 -> EMFILE just before the report) and a vptr-cache miss is
    # reported as "invalid vptr" / "<memory cannot be printed>". The build has
    # -fno-sanitize-recover and this libubsan reads no suppressions then, so
    # heraldd is stopped by its sanitizer, not by a fault of its own; ASan,
    # which instruments the vptr load itself, reports nothing.
    r.skip("under UBSan heraldd is stopped by the sanitizer itself: its vptr check needs "
           "a pipe(2), which fails with EMFILE once every descriptor is in use, and "
           "reports a false 'invalid vptr' (" + ubsan_needs_a_descriptor(h) + "); "
           "ASan reported nothing")
    r.fig("heraldd under UBSan", "stopped by the sanitizer (see the reason)", "")
    return True


def keepalive_healthz(port):
    """Two /healthz on one keep-alive connection: both answered 200."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        ok = all(_get_status(c, "/healthz") == 200 for _ in range(2))
        c.close()
        return ok
    except OSError:
        return False


def _get_status(c, path):
    c.request("GET", path)
    resp = c.getresponse()
    resp.read()
    return resp.status


def ws_round_trip(port, topic):
    """A /ws subscriber gets 10 messages a /ws publisher sends (ledger)."""
    try:
        led = Ledger()
        sub = Subscriber(led, port, "rt", [topic])
        pub = WsPublisher(led, port, "P")
        for _ in range(10):
            pub.publish(topic)
        ok = wait_for(lambda: led.caught_up("rt") and led.published("P") == 10, 3) is not None
        pub.close()
        sub.close()
        return ok
    except (OSError, RuntimeError, EOFError, TimeoutError):
        return False


def _low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


@scenario("f", "File-descriptor exhaustion")
def fd_exhaustion(r):
    """heraldd starts with RLIMIT_NOFILE = 64 (setrlimit in the child before
    exec). 150 clients connect at once and each sends `GET /healthz` on a
    keep-alive connection, which they then hold. Expected: some are served
    until the descriptors run out, the rest wait (in the listen backlog) or
    are refused/reset; while saturated heraldd does not spin — its CPU time
    (/proc/PID/stat utime+stime) grows by less than 0.2 s over 2 s — and it
    stays up; once the extra connections close it serves /healthz and a
    WebSocket publish/subscribe round trip again within 3 s.

    Before the saturation the same requests (a keep-alive /healthz, a
    WebSocket round trip) are made once on the healthy node: a baseline, and
    under UBSan they also fill its type cache, whose misses need a pipe(2) of
    their own (see stopped_by_ubsan) that no longer exists once heraldd's
    descriptors are all in use."""
    N = 150
    h = node("[http]\nidle_timeout_ms = 30000\nheader_timeout_ms = 30000\n",
             preexec_fn=_low_nofile)
    r.defer(lambda: h.proc.poll() is None and h.stop())
    pid = h.proc.pid
    with open(f"/proc/{pid}/limits") as f:
        lim = [l_ for l_ in f if l_.startswith("Max open files")][0].split()[3]
    fds0 = open_fds(pid)
    r.fig("RLIMIT_NOFILE / descriptors open at start", f"{lim} / {fds0}", "")
    warm = keepalive_healthz(h.port) and ws_round_trip(h.port, "fd.before")
    r.fig("baseline before saturation (keep-alive /healthz, WS round trip)",
          "ok" if warm else "failed", "")
    r.check(warm, "the node failed the baseline requests before any saturation")
    socks = []
    refused = 0
    for _ in range(N):
        s_ = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s_.setblocking(False)
        err = s_.connect_ex(("127.0.0.1", h.port))
        if err not in (0, 115):  # EINPROGRESS
            refused += 1
            s_.close()
            continue
        socks.append(s_)
    r.defer(lambda: [x.close() for x in socks])
    # Let the connects complete, then send one request on each.
    time.sleep(0.2)
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    for s_ in socks:
        try:
            s_.send(req)
        except OSError:
            pass
    served, reset = set(), set()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        live = [x for x in socks if x not in served and x not in reset]
        if not live:
            break
        rd, _, _ = select.select(live, [], [], 0.1)
        for x in rd:
            try:
                data = x.recv(4096)
            except OSError:
                reset.add(x)
                continue
            if data.startswith(b"HTTP/1.1 200"):
                served.add(x)
            elif not data:
                reset.add(x)
            else:
                served.add(x)  # another answer (503): it was accepted
    waiting = len(socks) - len(served) - len(reset)
    if stopped_by_ubsan(r, h):
        return
    fds_sat = open_fds(pid)
    r.fig("clients: served / reset or closed / waiting / refused at connect",
          f"{len(served)} / {len(reset)} / {waiting} / {refused}", f"of {N}")
    r.fig("heraldd descriptors open while saturated", fds_sat, "")
    # While saturated: is heraldd spinning?
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    # A newcomer meanwhile (expected to wait, not to be served).
    newcomer = healthy(h.port, timeout=1.0)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
    cpu = cpu_seconds(pid) - cpu0
    span = time.monotonic() - t0
    r.fig("heraldd CPU while saturated", f"{cpu:.2f} s over {span:.1f} s", "(bound 0.2 s)")
    r.fig("a newcomer served while saturated", "yes" if newcomer else "no", "")
    if stopped_by_ubsan(r, h):
        return
    alive = h.proc.poll() is None
    r.check(alive, f"heraldd died while saturated: exit {h.proc.returncode}; log: "
            f"{h.logs()[-400:]!r}")
    r.check(cpu < 0.2 * SLACK, f"heraldd used {cpu:.2f} s of CPU in {span:.1f} s while saturated "
            "(spinning)")
    r.check(len(served) > 0, "no client was served at all")
    r.check(len(served) < N, "every client was served: the limit was never reached")
    # Release everything, then heraldd must serve normally again.
    for x in socks:
        x.close()
    socks.clear()
    back = wait_for(lambda: healthy(h.port, timeout=0.5), 3 * SLACK, interval=0.05)
    ok_ws = back is not None and ws_round_trip(h.port, "fd.f")
    r.fig("serving again after release", f"{ms(back)} ms" if back is not None else "no", "")
    r.fig("WS pub/sub round trip after release", "ok" if ok_ws else "failed", "")
    r.fig("descriptors open after release", open_fds(pid), "")
    if stopped_by_ubsan(r, h):
        return
    r.check(back is not None, "heraldd did not serve /healthz within 3 s of the release")
    r.check(ok_ws, "WebSocket pub/sub failed after the release")
    if alive:
        r.note(f"{len(served)} served, {waiting} waited, CPU {cpu:.2f} s over {span:.1f} s "
               f"saturated; serving again {ms(back) if back is not None else '—'} ms after release")
        r.node_stopped(h)


# ------------------------------------------------------------------------------------------
@scenario("g", "A peer link cut during a stream")
def peer_link_cut(r):
    """Two cluster nodes, n1 and n2; n2 advertises its peer address through
    the fault proxy, so the n1–n2 link runs through it (as in
    test_cluster.py). A /ws subscriber on each node watches `g.>`; three
    synchronous HTTP publishers on each node publish 50 msg/s each,
    round-robin over four topics, two owned by each node (so half of the
    publishes are forwarded to the owner). After 1 s the link gets 30 ms of
    latency per chunk each way, so that the cut lands with forwards in
    flight; 0.5 s later the proxy blackholes it for 3 s (peer timeout
    1000 ms, forward timeout 1000 ms: each side declares the other dead and
    numbers its topics in a new epoch), then heals; publishing goes on 2 s
    past the re-formed mesh. Expected: for both subscribers every
    acknowledged message is received or covered by a gap (silent gap 0), no
    duplicates, no reordering; no message is delivered whose publish was
    answered with an error — a forward whose owner went silent is answered
    504 "may or may not have been sequenced" and may be delivered, but a
    refused publish (`unavailable`) must never be; both sides
    detect the cut within the peer timeout (+ 600 ms) and the mesh re-forms
    within 10 s."""
    from cluster_util import (cluster_config, mesh_state, owner_of, peer_address,
                              start_node, wait_mesh)
    conf = cluster_config("forward_timeout_ms = 1000\n",
                          top="drain_window_ms = 200\n" + WS_FAST)
    proxy = FaultProxy()
    r.defer(proxy.stop)
    n1 = start_node("n1", config=conf, grpc=False)
    r.defer(lambda: n1.proc.poll() is None and n1.stop())
    n2 = start_node("n2", [peer_address(n1)], config=conf, grpc=False,
                    extra_args=["--cluster-advertise", proxy.address])
    r.defer(lambda: n2.proc.poll() is None and n2.stop())
    proxy.set_target(n2.cluster_port)
    nodes = [n1, n2]
    mesh_s = wait_mesh(nodes, timeout=10)
    r.fig("mesh formed in", ms(mesh_s), "ms")
    r.check(proxy.connections() >= 1, "the peer link does not run through the proxy")

    def plain_publish(h_, topic):
        http_request(h_.port, "POST", "/publish/" + topic, body=b"probe",
                     headers={"Content-Type": "text/plain"})
    owners, count = {}, collections.Counter()
    for k in range(40):
        t = f"g.t{k}"
        o = owner_of(nodes, t, plain_publish)
        if count[o] < 2:
            owners[t] = o
            count[o] += 1
        if len(owners) == 4:
            break
    r.check(len(owners) == 4, f"could not find two topics owned by each node: {owners}")
    topics = sorted(owners)
    led = Ledger()
    s1 = Subscriber(led, n1.port, "sub@n1", ["g.>"])
    r.defer(s1.close)
    s2 = Subscriber(led, n2.port, "sub@n2", ["g.>"])
    r.defer(s2.close)
    # Barrier: untagged warm-ups until each subscriber saw every topic (its
    # interest reached every owner).
    seen = {s1.name: set(), s2.name: set()}
    for sub in (s1, s2):
        orig = sub.log.on_envelope

        def rec(env, orig=orig, name=sub.name):
            if env.get("op") == "msg":
                seen[name].add(env["topic"])
            orig(env)
        sub.log.on_envelope = rec
    for _ in range(100):
        if all(seen[n] >= set(topics) for n in seen):
            break
        for t in topics:
            plain_publish(n1, t)
        time.sleep(0.05)
    r.check(all(seen[n] >= set(topics) for n in seen), "interest never reached every owner")
    s1.log.ready()
    s2.log.ready()
    # Three synchronous HTTP publishers per node, 50 msg/s each, round-robin
    # over the four topics (half of each one's publishes are forwarded).
    pubs = [HttpPublisher(led, h_.port, f"P{h_.node_id[1]}{c}", timeout=5)
            for h_ in nodes for c in "abc"]
    for p_ in pubs:
        r.defer(p_.close)
    stop = threading.Event()
    r.defer(stop.set)
    threads = []
    for k, p_ in enumerate(pubs):
        t = threading.Thread(target=paced, daemon=True,
                             args=(50, 60.0, lambda i, p_=p_, k=k: p_.publish(topics[(i + k) % 4]),
                                   stop))
        t.start()
        threads.append(t)
    time.sleep(1.0)
    # A link with some latency (30 ms per chunk each way) for the last 0.5 s
    # before the cut, so that the cut lands with forwards in flight.
    proxy.set_mode("delay", delay_ms=30)
    time.sleep(0.5)
    proxy.cut("blackhole")
    t_cut = time.monotonic()
    down = {}
    while len(down) < 2 and time.monotonic() < t_cut + 5:
        for h_ in nodes:
            if h_.node_id in down:
                continue
            try:
                live, _ = mesh_state(h_)
            except (OSError, AssertionError, ValueError):
                continue
            if len(live) == 1:
                down[h_.node_id] = time.monotonic() - t_cut
        time.sleep(0.02)
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t_cut)))
    proxy.heal()
    t_heal = time.monotonic()
    try:
        wait_mesh(nodes, timeout=10)
        healed = time.monotonic() - t_heal
    except AssertionError:
        healed = None
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(10)
    caught = wait_for(lambda: led.caught_up(s1.name) and led.caught_up(s2.name), 5)
    time.sleep(0.2)
    acked = led.published()
    refused = sum(p_.refusals for p_ in pubs)
    v = led.verdict([s1.name, s2.name])
    with led.lock:
        refusals = dict(led.refusals)
    phantoms = []
    for key, why in sorted(refusals.items()):
        for sub in (s1, s2):
            got = [e for e in sub.log.events if e[0] == "msg" and (e[2], e[3]) == key]
            if got:
                phantoms.append(f"{key[0]}#{key[1]} to {led.sent[key].topic} answered "
                                f"{why[:90]} yet delivered to {sub.name} as offset {got[0][5]}")
    r.fig("cut detected by", ", ".join(f"{k} after {ms(x)}" for k, x in sorted(down.items())),
          "ms (peer timeout 1000)")
    r.fig("mesh re-formed after the heal", ms(healed) if healed is not None else "never", "ms")
    unknown = sum(p_.unknown for p_ in pubs)
    r.fig("publishes acknowledged / outcome unknown (504) / refused",
          f"{acked} / {unknown} / {refused}", "")
    r.fig("topic owners", ", ".join(f"{t}:{o}" for t, o in owners.items()), "")
    for n, x in v.items():
        r.fig(f"{n}: expected / received / lost", f"{x['expected']} / {x['received']} / {x['lost']}",
              "msgs")
        r.fig(f"{n}: gap notices / gap-reported / silent gap",
              f"{x['gaps']} / {x['gap_reported']} / {x['silent_gap']}", "msgs")
        r.fig(f"{n}: duplicated / reordered", f"{x['duplicated']} / {x['reordered']}", "msgs")
        r.check(x["silent_gap"] == 0, f"{n}: {x['silent_gap']} messages lost without a gap "
                f"(e.g. {x['silent_examples']})")
        r.fig(f"{n}: refused publishes delivered anyway", x["phantom"], "msgs")
        r.check(x["duplicated"] == 0 and x["reordered"] == 0,
                f"{n}: {x['duplicated']} duplicated, {x['reordered']} reordered")
    for p in phantoms:
        r.failures.append("publish refused but delivered: " + p)
    r.check(sorted(down) == ["n1", "n2"], f"not both sides saw the cut: {down}")
    r.check(all(x <= (1.0 + 0.6) * SLACK for x in down.values()), f"cut detected late: {down}")
    r.check(healed is not None, "the mesh did not re-form within 10 s of the heal")
    r.check(caught is not None, "subscribers not caught up with the last acknowledged messages")
    r.note(f"cut seen in {', '.join(f'{ms(x)}' for x in down.values())} ms; "
           f"{sum(x['lost'] for x in v.values())} lost, all announced by gaps; 0 silent")
    s1.close()
    s2.close()
    for p_ in pubs:
        p_.close()
    r.node_stopped(n2, "n2")
    r.node_stopped(n1, "n1")


# ------------------------------------------------------------------------------------------
def lifecycle_binary():
    """embedded_lifecycle from the build heraldd comes from (same sanitizers)."""
    heraldd = os.path.abspath(os.environ.get("HERALDD") or
                              os.path.join(ROOT, "build", "release", "server", "heraldd"))
    build = os.path.dirname(os.path.dirname(heraldd))
    return os.path.join(build, "tests", "robustness", "embedded_lifecycle")


@scenario("h", "An embedded broker started and stopped 100 times")
def embedded_lifecycle(r):
    """`embedded_lifecycle 100` (tests/robustness/embedded_lifecycle.cc,
    built with heraldd, with the same sanitizers) embeds libherald: each
    round constructs a Broker and a Server with HTTP/WebSocket/SSE and gRPC
    fronts on the same two ports as the round before, publishes over HTTP
    (200 expected), and stops it by Stop(), Drain() or the destructor alone,
    in turn. Expected: every round binds both ports again (they were
    released); after the 100 rounds the process holds exactly the threads
    and descriptors it held after a first warm-up round; resident memory
    grows by at most 8 MiB from round 10 to round 100 (judged without a
    sanitizer only: ASan keeps freed memory in quarantine, and its leak
    checker, which runs at the exit, must stay silent instead)."""
    exe = lifecycle_binary()
    if not os.path.exists(exe):
        r.skip(f"{os.path.relpath(exe, ROOT)} is not built")
        return
    t0 = time.monotonic()
    p = subprocess.run([exe, "100"], capture_output=True, text=True, timeout=100)
    took = time.monotonic() - t0
    line = (p.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        d = json.loads(line)
    except ValueError:
        d = {}
    report = next((l_.strip() for l_ in p.stderr.splitlines()
                   if "ERROR: AddressSanitizer" in l_ or "ERROR: LeakSanitizer" in l_
                   or "runtime error:" in l_ or "ThreadSanitizer" in l_), None)
    r.fig("rounds completed", d.get("rounds", 0) if d.get("ok") is not None else 0, "of 100")
    if "threads_before" in d:
        r.fig("threads after round 1 / after round 100",
              f"{d['threads_before']} / {d['threads_after']}", "")
        r.fig("descriptors after round 1 / after round 100",
              f"{d['fds_before']} / {d['fds_after']}", "")
        r.fig("VmRSS after round 10 / after round 100",
              f"{d['rss_kib_after_10'] / 1024:.1f} / {d['rss_kib_after'] / 1024:.1f}",
              "MiB" + ("" if d["rss_judged"] else " (not judged under a sanitizer)"))
        r.fig("one round (start, publish, stop): p50 / max",
              f"{d['round_ms_p50']} / {d['round_ms_max']}", "ms")
    r.fig("whole run", f"{took:.1f}", "s")
    r.check(p.returncode == 0, f"embedded_lifecycle exited {p.returncode}: "
            f"{d.get('error') or (p.stderr or p.stdout)[-400:]}")
    r.check(report is None, f"sanitizer report: {report}")
    if p.returncode == 0 and report is None:
        r.note(f"100 rounds, threads {d['threads_before']}→{d['threads_after']}, descriptors "
               f"{d['fds_before']}→{d['fds_after']}, round p50 {d['round_ms_p50']} ms")


# The "one hostile client" scenarios i, j, k live in their own file.
import hostile  # noqa: E402

hostile.register(scenario)


# ------------------------------------------------------------------------------------------
@scenario("l", "kill -9 under a steady publish, 20 times, with the disk store")
def kill9_disk_store(r):
    """heraldd with `--data-dir` and `[store] sync = "always"`; four HTTP
    publishers (keep-alive) send about 2,000 msg/s in all over 16 topics,
    each message with its own `Herald-Msg-Id`, and log every
    acknowledgement (the message ledger). After a random 0.5-1.5 s heraldd
    is killed with SIGKILL and restarted on the same directory (a new
    port); 20 times. A publish whose answer was lost with the process is
    retried with the same id after the restart (its outcome was unknown).
    After the last restart: every topic's history, read with GET /history
    from offset 0, is contiguous from 1 in one epoch; every acknowledged id
    is in it exactly once, at the (epoch, offset) it was acknowledged with
    (a retry acknowledged as a duplicate names the first position); no id
    appears twice. Then a client on each front (WebSocket JSON, SSE,
    HTTP history) resumes every topic from the middle of what was
    acknowledged before the last kill and must get exactly the rest, with
    no gap."""
    import tempfile
    import random
    import shutil
    import http.client
    data = tempfile.mkdtemp(prefix="herald-kill9-")
    r.defer(lambda: shutil.rmtree(data, True))
    conf = ('[store]\nsync = "always"\n'
            '[history]\nmax_messages = 1000000\nmax_bytes = 1073741824\n')
    topics = [f"k9.t{i}" for i in range(16)]
    acked = {}       # msg id -> (topic, epoch, offset)
    duplicates = 0
    unknown = {}     # msg id -> topic: sent, answer lost with the process
    lock = threading.Lock()
    rng = random.Random(16)
    rounds, kills_at = 20, []
    publishers, rate = 4, 2000

    def publisher(n, port, stop, seq0):
        nonlocal duplicates
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with lock:
            retry = [(i, t) for i, t in unknown.items() if i.startswith(f"p{n}-")]
        seq = seq0
        period = publishers / rate
        next_t = time.monotonic()
        while not stop.is_set():
            if retry:
                mid, topic = retry.pop()
            else:
                mid, topic = f"p{n}-{seq}", topics[seq % len(topics)]
                seq += 1
            with lock:
                unknown[mid] = topic
            try:
                conn.request("POST", "/publish/" + topic, body=mid.encode(),
                             headers={"Herald-Msg-Id": mid})
                resp = conn.getresponse()
                a = json.loads(resp.read())
            except (OSError, http.client.HTTPException, ValueError):
                return seq  # killed: this one's outcome is unknown
            with lock:
                unknown.pop(mid, None)
                if resp.status == 200:
                    if a.get("duplicate"):
                        duplicates += 1
                    prev = acked.get(mid)
                    if prev is not None and prev != (topic, a["epoch"], a["offset"]):
                        r.failures.append(f"{mid} acknowledged at {prev} and then at "
                                          f"{(topic, a['epoch'], a['offset'])}")
                    acked[mid] = (topic, a["epoch"], a["offset"])
                else:
                    r.failures.append(f"{mid}: publish answered {resp.status} {a}")
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return seq

    seqs = [0] * publishers
    publishing_s = 0.0
    h = None
    for k in range(rounds):
        h = node(conf, "--data-dir", data)
        stop = threading.Event()
        results = [None] * publishers

        def run(n, port=h.port):
            results[n] = publisher(n, port, stop, seqs[n])
        threads = [threading.Thread(target=run, args=(n,)) for n in range(publishers)]
        for t in threads:
            t.start()
        up = rng.uniform(0.5, 1.5)
        publishing_s += up
        time.sleep(up)
        h.proc.send_signal(signal.SIGKILL)
        h.proc.wait()
        kills_at.append(len(acked))
        stop.set()
        for t in threads:
            t.join(10)
        seqs = [s if s is not None else seqs[n] for n, s in enumerate(results)]
        report = sanitizer_report(h)
        r.check(report is None, f"round {k}: sanitizer report: {report}")
        h.stop()
    mid_point = dict(acked)  # what was acknowledged before the last kill

    h = node(conf, "--data-dir", data)
    r.defer(lambda: h.proc.poll() is None and h.stop())
    # The publishes whose answers were lost: retried with their ids.
    port = h.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for mid, topic in sorted(unknown.items()):
        conn.request("POST", "/publish/" + topic, body=mid.encode(), headers={"Herald-Msg-Id": mid})
        resp = conn.getresponse()
        a = json.loads(resp.read())
        if r.check(resp.status == 200, f"retry of {mid}: {resp.status} {a}"):
            if mid in acked and acked[mid] != (topic, a["epoch"], a["offset"]):
                r.failures.append(f"retry of {mid} landed elsewhere")
            acked[mid] = (topic, a["epoch"], a["offset"])
            duplicates += bool(a.get("duplicate"))
    conn.close()

    def history(topic, epoch=0, after=0):
        msgs, first = [], None
        while True:
            status, body = http_request(port, "GET", f"/history/{topic}?epoch={epoch}&after={after}")
            page = json.loads(body)
            first = first or page
            msgs += page["messages"]
            if not page["truncated"] or not page["messages"]:
                return first, msgs
            epoch, after = page["messages"][-1]["epoch"], page["messages"][-1]["offset"]

    stored, holes, twice, epochs = {}, 0, 0, set()
    for topic in topics:
        first, msgs = history(topic)
        offs = [m["offset"] for m in msgs]
        holes += offs != list(range(1, len(offs) + 1))
        epochs |= {m["epoch"] for m in msgs}
        for m in msgs:
            mid = m.get("msg_id")
            twice += mid in stored
            stored[mid] = (topic, m["epoch"], m["offset"])
    missing = [i for i, at in acked.items() if stored.get(i) != at]
    r.fig("kills (SIGKILL) and restarts", rounds, "")
    r.fig("acknowledged publishes / stored messages", f"{len(acked)} / {len(stored)}", "msgs")
    r.fig("acknowledged per second while up (sync = always; 4 publishers, one request in "
          "flight each, paced to 2,000/s)", f"{len(mid_point) / publishing_s:.0f}", "msgs/s")
    r.fig("retries acknowledged as duplicates", duplicates, "")
    r.fig("acknowledged but missing or moved / stored twice / topics with holes",
          f"{len(missing)} / {twice} / {holes}", "")
    r.fig("epochs across all topics (one per topic expected)", len(epochs), "")
    r.check(not missing, f"{len(missing)} acknowledged messages not where acknowledged "
                         f"(e.g. {missing[:3]})")
    r.check(twice == 0, f"{twice} ids stored twice")
    r.check(holes == 0, f"{holes} topics with holes")
    r.check(len(epochs) == len(topics), f"{len(epochs)} epochs for {len(topics)} topics")

    # Resume from the middle of what was acknowledged before the last kill.
    gaps_seen = 0
    for topic in topics[:4]:
        mine = sorted(at[1:] for at in mid_point.values() if at[0] == topic)
        if not mine:
            continue
        epoch, after = mine[len(mine) // 2]
        _, want = history(topic, epoch, after)
        want = [m["offset"] for m in want]
        # HTTP history: no gap.
        status, body = http_request(port, "GET", f"/history/{topic}?epoch={epoch}&after={after}")
        gaps_seen += json.loads(body)["gap"] is not None
        # WebSocket JSON resume.
        ws = WsConn(port, "/ws")
        ws.send_json({"op": "sub", "id": 1, "topic": topic,
                      "resume": {topic: {"epoch": epoch, "offset": after}}})
        got = []
        deadline = time.monotonic() + 10 * SLACK
        try:
            while len(got) < len(want) and time.monotonic() < deadline:
                for op, _, _, payload in ws.recv_frames(0.2):
                    if op != OP_TEXT:
                        continue
                    m = json.loads(payload)
                    if m.get("op") == "gap":
                        gaps_seen += 1
                    elif m.get("op") == "msg":
                        got.append(m["offset"])
        except EOFError:
            pass
        ws.close()
        r.check(got == want, f"WebSocket resume of {topic}: {len(got)} of {len(want)} messages")
        # SSE resume (Last-Event-ID of the same position).
        from sse_util import SseClient, base36
        with SseClient(port, f"/sse?topic={topic}",
                       headers={"Last-Event-ID": f"0:{base36(epoch)}:{base36(after)}"}) as sse:
            events = sse.events(len(want), timeout=10 * SLACK)
            gaps_seen += sum(e.type == "gap" for e in events)
            r.check([int(e.last_event_id.rsplit(":", 1)[1], 36) for e in events] == want,
                    f"SSE resume of {topic}: not exactly the rest")
    r.fig("gaps seen by resuming clients (HTTP, WebSocket, SSE)", gaps_seen, "")
    r.check(gaps_seen == 0, f"{gaps_seen} gaps on resume")
    r.node_stopped(h)


# ------------------------------------------------------------------------------------------
@scenario("m", "kill -9 of a topic's owner, 20 times, three nodes on one Redis", timeout_s=600)
def kill9_owner_shared_redis(r):
    """Three heraldd nodes on one redis-server (`[store] kind = "redis"`,
    append-only with fsync always); HTTP publishers send about 1,000 msg/s
    over 12 topics to every node, each message with its own msg id and
    retried (same id) on another node when a publish fails. The owner of
    one topic is killed with SIGKILL and restarted, 20 times. The ledger:
    every acknowledged message in the history once, at the position it was
    acknowledged with, one epoch per topic and no hole; WebSocket
    subscribers of the two nodes never killed get every message once, in
    order, with no gap; a subscriber of the killed node resumes on a
    survivor with no gap. Then a partition: one node cut off from its peers
    by a fault proxy while it still reaches Redis, both sides publishing to
    the same topics: no position acknowledged for two messages, nothing
    acknowledged lost. And Redis itself killed with SIGKILL under the stream
    and restarted from its append-only file: publishes refused meanwhile,
    then nothing acknowledged lost and no gap. This is
    tests/integration/test_cluster_redis.py with HERALD_KILL_ROUNDS=20 (make
    test runs it with 3)."""
    run_integration_ledger(r, "test_cluster_redis", {"HERALD_KILL_ROUNDS": "20"}, timeout_s=560)


# ------------------------------------------------------------------------------------------
@scenario("n", "Sentinel failovers under load, 3 times with each durability", timeout_s=600)
def sentinel_failover(r):
    """One Redis master and one replica that lags 100 ms behind it (it reads
    the master through a delaying proxy), three sentinels, two heraldd
    nodes finding the master through them; HTTP publishers with msg ids at
    up to 500 msg/s over 12 topics, a WebSocket subscriber per node. The
    master is killed with SIGKILL (the proxy drops what it holds, as a dead
    machine's kernel would) and the sentinels promote the replica; the
    nodes follow it. With the default durability the acknowledged writes
    the replica had not received are lost, and the ledger checks that every
    one was told (a new epoch for its topic, a gap on resume, counted in
    herald_store_shared_lost_total); with durability = "replicated" nothing
    acknowledged is lost. This is tests/integration/test_cluster_sentinel.py
    run 3 times (make test runs it once)."""
    for run in range(3):
        if not run_integration_ledger(r, "test_cluster_sentinel", {}, timeout_s=180,
                                      label=f"run {run + 1}: "):
            return


def run_integration_ledger(r, module, env_extra, timeout_s, label=""):
    """Runs an integration test module (a ledger test on real processes) and
    takes its [figure] lines; False when it failed or could not run."""
    import re
    import shutil
    import sys
    if not shutil.which("redis-server"):
        r.skip("redis-server is not installed (scripts/install-deps.sh)")
        return False
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               HERALDD=os.path.abspath(os.environ["HERALDD"]), **env_extra)
    # Debian's python3: the integration tests' clients (websockets) are its packages.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    p = subprocess.run([python, "-m", "unittest", "-v", module],
                       cwd=os.path.join(here, "..", "integration"), env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
    out = p.stdout + p.stderr
    for m in re.finditer(r"^\[figure\] [^:]+: (.*?) = (.*)$", out, re.M):
        r.fig(label + m.group(1), m.group(2))
    r.check(p.returncode == 0, f"the ledger test {module} failed: " + out[-1500:])
    return p.returncode == 0
