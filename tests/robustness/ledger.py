"""A message ledger: what publishers sent and were told, what each subscriber
got, and a verdict that separates announced losses from silent ones.

Publishers tag every message with (publisher id, sequence) — `Ledger.tag()`
gives the JSON payload to publish — and report what the broker answered
(`acked` with the message's epoch and offset, or `refused`). Subscribers
record every `msg` and `gap` envelope they receive, and the end of their
connection (`closed`), in arrival order.

`verdict()` reports per subscriber:

  expected      acknowledged messages on topics it subscribed to, published
                after it was ready (its `since` time)
  received      distinct tagged messages it got
  lost          expected but never received
  duplicated    receipts of a message it already had
  reordered     receipts of a message older (by the publisher's sequence, per
                topic) than one it already had
  gap_reported  lost, but covered by a notice: a gap naming the message's
                epoch and offset, or a gap (or the end of the connection) that
                arrived between its received neighbours in that topic
  silent_gap    lost and covered by nothing: must be 0 in every scenario
  phantom       received although its publish was refused

Thread-safe: publishers and subscribers run on their own threads.
"""
import bisect
import collections
import threading
import time

Sent = collections.namedtuple("Sent", "pub seq topic t_sent")


def topic_matches(pattern, topic):
    """Herald's pattern rules: `*` is one token, `>` one or more trailing ones."""
    p, t = pattern.split("."), topic.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(t) > i
        if i >= len(t) or (tok != "*" and tok != t[i]):
            return False
    return len(p) == len(t)


class SubLog:
    """One subscriber's receipts, in arrival order."""

    def __init__(self, ledger, name, patterns, since):
        self.ledger = ledger
        self.name = name
        self.patterns = list(patterns)
        self.since = since  # monotonic: messages sent before are not expected
        self.events = []  # ("msg", topic, pub, seq, epoch, offset) / ("gap", topic, epoch, from, to, reason) / ("closed", code)
        self.untagged = 0  # msgs without a ledger tag (warm-ups, foreign traffic)
        self.closed_code = None
        self.t_closed = None

    def ready(self):
        """Expect only what is published from now on (after a subscribe barrier)."""
        self.since = time.monotonic()

    def on_envelope(self, env):
        """A decoded JSON-protocol frame (msg or gap; others are ignored)."""
        op = env.get("op")
        if op == "msg":
            tag = env.get("payload")
            if isinstance(tag, dict) and "pub" in tag and "seq" in tag:
                with self.ledger.lock:
                    self.events.append(("msg", env["topic"], tag["pub"], tag["seq"],
                                        env.get("epoch"), env.get("offset")))
            else:
                self.untagged += 1
        elif op == "gap":
            with self.ledger.lock:
                self.events.append(("gap", env.get("topic"), env.get("epoch"), env.get("from"),
                                    env.get("to"), env.get("reason")))

    def on_close(self, code):
        """The connection ended (close code, or None for EOF/reset): everything
        after the last message received is announced as missing by the end
        itself — the client knows where it stopped and may resume."""
        with self.ledger.lock:
            if self.closed_code is None and self.t_closed is None:
                self.closed_code = code
                self.t_closed = time.monotonic()
                self.events.append(("closed", code))

    def count(self, topic=None):
        with self.ledger.lock:
            return sum(1 for e in self.events if e[0] == "msg" and (topic is None or e[1] == topic))

    def has(self, pub, seq):
        with self.ledger.lock:
            return any(e[0] == "msg" and e[2] == pub and e[3] == seq for e in self.events)


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}  # (pub, seq) -> Sent
        self.acks = {}  # (pub, seq) -> (epoch, offset)
        self.refusals = {}  # (pub, seq) -> reason
        self.subs = {}
        self._next = collections.defaultdict(int)

    # --- publishers -------------------------------------------------------------------
    def tag(self, pub, topic, pad=0):
        """Registers the next message of `pub` on `topic`; returns (seq, payload),
        the payload being a JSON object to publish as is."""
        with self.lock:
            self._next[pub] += 1
            seq = self._next[pub]
            self.sent[(pub, seq)] = Sent(pub, seq, topic, time.monotonic())
        payload = {"pub": pub, "seq": seq}
        if pad:
            payload["pad"] = "x" * pad
        return seq, payload

    def acked(self, pub, seq, epoch, offset):
        with self.lock:
            self.acks[(pub, seq)] = (epoch, offset)
            self.refusals.pop((pub, seq), None)

    def refused(self, pub, seq, reason):
        with self.lock:
            if (pub, seq) not in self.acks:
                self.refusals[(pub, seq)] = reason

    def published(self, pub=None):
        with self.lock:
            return sum(1 for k in self.acks if pub is None or k[0] == pub)

    # --- subscribers ------------------------------------------------------------------
    def subscriber(self, name, patterns, since=None):
        log = SubLog(self, name, patterns, time.monotonic() if since is None else since)
        with self.lock:
            self.subs[name] = log
        return log

    def caught_up(self, name):
        """Whether the subscriber has the last acknowledged message of every
        (publisher, topic) it expects (or its connection ended)."""
        log = self.subs[name]
        with self.lock:
            if log.t_closed is not None:
                return True
            last = {}
            for k, (epoch, offset) in self.acks.items():
                s = self.sent[k]
                if s.t_sent >= log.since and any(topic_matches(p, s.topic) for p in log.patterns):
                    if s.seq > last.get((s.pub, s.topic), 0):
                        last[(s.pub, s.topic)] = s.seq
            have = {(e[2], e[1], e[3]) for e in log.events if e[0] == "msg"}
        return all((pub, topic, seq) in have for (pub, topic), seq in last.items())

    # --- the verdict ------------------------------------------------------------------
    def verdict(self, names=None):
        """{subscriber name: figures} (see the module docstring)."""
        names = list(self.subs) if names is None else list(names)
        return {n: self._verdict_one(self.subs[n]) for n in names}

    def _verdict_one(self, log):
        with self.lock:
            events = list(log.events)
            sent = dict(self.sent)
            acks = dict(self.acks)
            refusals = dict(self.refusals)
        expected = {k for k, s in sent.items()
                    if k in acks and s.t_sent >= log.since
                    and any(topic_matches(p, s.topic) for p in log.patterns)}
        seen = {}  # (pub, seq) -> arrival index of the first receipt
        duplicated = reordered = phantom = 0
        max_seq = {}  # (pub, topic) -> highest seq received so far
        for i, e in enumerate(events):
            if e[0] != "msg":
                continue
            _, topic, pub, seq, _, _ = e
            key = (pub, seq)
            if key in seen:
                duplicated += 1
                continue
            seen[key] = i
            if key in refusals:
                phantom += 1
            stream = (pub, topic)
            if seq < max_seq.get(stream, 0):
                reordered += 1
            max_seq[stream] = max(max_seq.get(stream, 0), seq)
        lost = sorted(expected - set(seen))
        # Per (pub, topic): the arrival indexes of received messages by seq,
        # to find a lost message's received neighbours.
        received_by_stream = collections.defaultdict(list)
        for (pub, seq), i in seen.items():
            received_by_stream[(pub, sent[(pub, seq)].topic if (pub, seq) in sent else None)].append((seq, i))
        # Per stream: sorted seqs, the latest arrival among seqs[:j+1] and the
        # earliest arrival among seqs[j:].
        stream_index = {}
        for k, v in received_by_stream.items():
            v.sort()
            seqs = [q for q, _ in v]
            prev_max, m = [], -1
            for _, i in v:
                m = max(m, i)
                prev_max.append(m)
            next_min, m = [0] * len(v), len(events)
            for idx in range(len(v) - 1, -1, -1):
                m = min(m, v[idx][1])
                next_min[idx] = m
            stream_index[k] = (seqs, prev_max, next_min)
        gaps = [(i, e) for i, e in enumerate(events) if e[0] == "gap"]
        closes = [i for i, e in enumerate(events) if e[0] == "closed"]
        covered = 0
        silent = []
        for key in lost:
            s = sent[key]
            epoch, offset = acks[key]
            seqs, prev_max, next_min = stream_index.get((s.pub, s.topic), ([], [], []))
            j = bisect.bisect_left(seqs, s.seq)  # seqs[:j] < s.seq <= seqs[j:] (lost: never ==)
            prev_i = prev_max[j - 1] if j > 0 else -1
            nexts = j < len(seqs)
            next_i = next_min[j] if nexts else len(events)
            ok = False
            for i, g in gaps:
                _, gtopic, gepoch, gfrom, gto, _ = g
                if gtopic != s.topic:
                    continue
                if gepoch == epoch and gfrom is not None and gto is not None and gfrom <= offset <= gto:
                    ok = True
                    break
                if prev_i < i < next_i:
                    ok = True
                    break
            if not ok and not nexts and any(i > prev_i for i in closes):
                ok = True  # missing after the last receipt, and the connection ended
            if ok:
                covered += 1
            else:
                silent.append(key)
        return {
            "expected": len(expected),
            "received": len(seen),
            "lost": len(lost),
            "duplicated": duplicated,
            "reordered": reordered,
            "gap_reported": covered,
            "silent_gap": len(silent),
            "phantom": phantom,
            "gaps": len(gaps),
            "closed": log.closed_code if log.t_closed is not None else "open",
            "silent_examples": [f"{p}#{q}" for p, q in silent[:5]],
        }


def summarize(verdicts):
    """Totals over several subscribers' verdicts."""
    out = collections.Counter()
    for v in verdicts.values():
        for k in ("expected", "received", "lost", "duplicated", "reordered", "gap_reported",
                  "silent_gap", "phantom"):
            out[k] += v[k]
    return dict(out)


def _self_test():
    """python3 tests/robustness/ledger.py: the verdict on hand-made histories."""
    def run(receipts):
        led = Ledger()
        sub = led.subscriber("s", ["t.>"], since=0)
        for _ in range(10):
            seq, _ = led.tag("P", "t.a")
            led.acked("P", seq, 7, seq)
        seq, _ = led.tag("P", "t.a")
        led.refused("P", seq, "503")
        for x in receipts:
            if x == "close":
                sub.on_close(1008)
            elif isinstance(x, tuple):
                sub.on_envelope({"op": "gap", "topic": "t.a", "epoch": x[0], "from": x[1],
                                 "to": x[2], "reason": "trimmed"})
            else:
                sub.on_envelope({"op": "msg", "topic": "t.a", "epoch": 7, "offset": x,
                                 "payload": {"pub": "P", "seq": x}})
        v = led.verdict()["s"]
        return (v["received"], v["lost"], v["duplicated"], v["reordered"], v["gap_reported"],
                v["silent_gap"], v["phantom"])
    assert run(range(1, 11)) == (10, 0, 0, 0, 0, 0, 0)
    assert run([1, 2, 3, 6, 7, 8, 9, 10]) == (8, 2, 0, 0, 0, 2, 0)            # silent hole
    assert run([1, 2, 3, (7, 4, 5), 6, 7, 8, 9, 10]) == (8, 2, 0, 0, 2, 0, 0)  # gap names it
    assert run([1, 2, 3, (9, 1, 1), 6, 7, 8, 9, 10]) == (8, 2, 0, 0, 2, 0, 0)  # gap in between
    assert run([1, 2, 3, 6, (7, 4, 5), 7, 8, 9, 10]) == (8, 2, 0, 0, 2, 0, 0)  # names them, late
    assert run([1, 2, 3, 6, (9, 1, 1), 7, 8, 9, 10]) == (8, 2, 0, 0, 0, 2, 0)  # too late, other epoch
    assert run([1, 2, 3, 4, 5, "close"]) == (5, 5, 0, 0, 5, 0, 0)            # cut: the end says it
    assert run([1, 2, 4, 5, "close"]) == (4, 6, 0, 0, 5, 1, 0)                # a hole before the cut
    assert run([1, 2, 3, 4, 5]) == (5, 5, 0, 0, 0, 5, 0)                      # open, tail missing
    assert run([1, 2, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]) == (11, 0, 1, 1, 0, 0, 1)
    print("ledger self-test: ok")


if __name__ == "__main__":
    _self_test()
