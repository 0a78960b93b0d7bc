"""The Server-Sent Events front `GET /sse` (docs/PROTOCOL.md, "Server-Sent
Events"), driven by clients nobody here wrote: Python http.client, curl, and
a raw-socket client whose parser follows the WHATWG algorithm (sse_util.py).
Messages come in over HTTP POST /publish and over WebSocket (`websockets`).
"""
import asyncio
import base64
import http.client
import json
import queue
import resource
import selectors
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import websockets

from heraldd import Heraldd, http_call, wait_until
from sse_util import (ChunkedDecoder, Event, Publisher, SseClient, SseParser, base36, metrics,
                      parse_event_id, parse_head, publish_once, request_bytes, started)
from ws_util import recv_json, run


def sse_path(*topics, **params):
    q = [("topic", t) for t in topics] + list(params.items())
    return "/sse?" + urllib.parse.urlencode(q)


def open_stream(port, *topics, headers=None, rcvbuf=None, **params):
    """An SSE stream that has received its starting position."""
    c = SseClient(port, sse_path(*topics, **params), headers=headers, rcvbuf=rcvbuf)
    assert c.status == 200, (c.status, c.body)
    c.wait_for(started)
    return c


def id_of(epoch, offset, ref="0"):
    return f"{ref}:{base36(epoch)}:{base36(offset)}"


def metric(port, name):
    return metrics(port).get(name)


class ServerCase(unittest.TestCase):
    """One heraldd per class; tests use topics of their own."""
    CONFIG = None

    @classmethod
    def setUpClass(cls):
        cls.h = Heraldd(config=cls.CONFIG).__enter__()
        cls.port = cls.h.port
        cls.pub = Publisher(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.pub.close()
        cls.h.stop()


class Format(ServerCase):
    CONFIG = "[sse]\nretry_ms = 1234\n"

    def test_answers_200_event_stream_no_cache_and_retry_comes_first(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/sse?topic=fmt.head", headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/event-stream; charset=utf-8")
        self.assertEqual(resp.getheader("Cache-Control"), "no-cache")
        first = b""
        while b"\n\n" not in first:
            chunk = resp.read1(4096)
            self.assertTrue(chunk, "stream ended early")
            first += chunk
        lines = first.decode().split("\n")
        self.assertEqual(lines[0], "retry: 1234")  # the very first field
        # Then the "position" event: the stream's starting position (the
        # topic does not exist yet, so epoch 0 offset 0), with empty data.
        self.assertEqual(lines[1:5], ["id: 0:0:0", "event: position", "data: ", ""])
        p = SseParser()
        self.assertEqual(p.feed(first), [Event("position", "", "0:0:0")])
        self.assertEqual((p.retry, p.last_event_id), (1234, "0:0:0"))
        conn.close()

    def test_starting_id_names_the_current_position_of_an_existing_topic(self):
        epoch, offset = self.pub("fmt.existing", "x")
        self.pub("fmt.existing", "y")
        with open_stream(self.port, "fmt.existing") as c:
            self.assertEqual(c.last_event_id, id_of(epoch, offset + 1))
            self.assertEqual(c.assert_quiet(0.2), [])  # no replay of what came before

    def test_multi_line_payloads_arrive_byte_exact(self):
        payloads = ["a\nb\nc", "\n", "trailing\n", "\nleading", "a\n\nb", "\n\n\n",
                    " leading space", "data: not a field", ":not a comment", "id: 7\nevent: x"]
        with open_stream(self.port, "fmt.lines") as c:
            acks = [self.pub("fmt.lines", p) for p in payloads]
            got = c.events(len(payloads))
        self.assertEqual([e.data for e in got], payloads)
        self.assertEqual({e.type for e in got}, {"message"})
        self.assertEqual([e.last_event_id for e in got], [id_of(*a) for a in acks])
        self.assertIn(b"data: a\ndata: b\ndata: c\n\n", c.raw)  # one data line per line

    def test_unicode_payload_arrives_byte_exact(self):
        payloads = ["emoji 😀🎉 and 👩‍👩‍👧 (ZWJ)", "漢字かなカナ한국어", "e\u0301 n\u0303 a\u0308\u0301",
                    "\u2028\u2029\u0085 are not line breaks in SSE", "\ufeffBOM inside", "x" * 5000 + "é"]
        with open_stream(self.port, "fmt.unicode") as c:
            for p in payloads:
                self.pub("fmt.unicode", p)
            got = c.events(len(payloads))
        self.assertEqual([e.data.encode() for e in got], [p.encode() for p in payloads])

    def test_cr_and_crlf_arrive_as_lf_in_raw_format(self):
        with open_stream(self.port, "fmt.cr") as c:
            self.pub("fmt.cr", "x\r\ny\rz")
            self.pub("fmt.cr", "end\r\n")
            self.pub("fmt.cr", "\r\r\n\n")
            got = c.events(3)
        self.assertEqual([e.data for e in got], ["x\ny\nz", "end\n", "\n\n\n"])
        self.assertNotIn(b"\r", c.raw)

    def test_json_format_carries_the_exact_payload_including_cr(self):
        with open_stream(self.port, "fmt.json", format="json") as c:
            e1, o1 = self.pub("fmt.json", "x\r\ny\rz\n")
            e2, o2 = self.pub("fmt.json", b"\x00\xff\r", "application/octet-stream")
            e3, o3 = self.pub("fmt.json", b'{"a":[1,"\\r"]}', "application/json",
                              headers={"Herald-Trace": "t-9"})
            got = c.events(3)
        envs = [json.loads(e.data) for e in got]
        self.assertEqual({e.type for e in got}, {"message"})
        self.assertEqual(envs[0]["payload"], "x\r\ny\rz\n")
        self.assertEqual((envs[0]["topic"], envs[0]["epoch"], envs[0]["offset"]),
                         ("fmt.json", e1, o1))
        self.assertEqual(base64.b64decode(envs[1]["payload_b64"]), b"\x00\xff\r")
        self.assertEqual(envs[2]["payload"], {"a": [1, "\r"]})
        self.assertEqual(envs[2]["headers"], {"Trace": "t-9"})
        self.assertEqual(envs[2]["content_type"], "application/json")
        self.assertEqual([e.last_event_id for e in got],
                         [id_of(e1, o1), id_of(e2, o2), id_of(e3, o3)])

    def test_binary_and_invalid_utf8_arrive_as_binary_events_in_base64(self):
        blob = bytes(range(256)) + b"\r\n\n\r"
        with open_stream(self.port, "fmt.bin") as c:
            self.pub("fmt.bin", blob, "application/octet-stream")
            self.pub("fmt.bin", b"caf\xe9 latin-1", "text/plain")  # not UTF-8
            self.pub("fmt.bin", "text again")
            got = c.events(3)
        self.assertEqual([e.type for e in got], ["binary", "binary", "message"])
        self.assertEqual(base64.b64decode(got[0].data, validate=True), blob)
        self.assertEqual(base64.b64decode(got[1].data, validate=True), b"caf\xe9 latin-1")
        self.assertEqual(got[2].data, "text again")

    def test_empty_payload_arrives_as_an_event_with_empty_data(self):
        with open_stream(self.port, "fmt.empty") as c:
            a1 = self.pub("fmt.empty", b"")
            self.pub("fmt.empty", "after")
            got = c.events(2)
        self.assertEqual(got[0], ("message", "", id_of(*a1)))
        self.assertEqual(got[1].data, "after")

    def test_event_topic_names_each_event_by_its_topic(self):
        with open_stream(self.port, "fmt.named.>", "fmt.plain", event="topic") as named, \
             open_stream(self.port, "fmt.named.>") as unnamed:
            self.pub("fmt.named.a", "1")
            self.pub("fmt.named.b.c", "2")
            self.pub("fmt.plain", "3")
            got = named.events(3)
            plain = unnamed.events(2)
        self.assertEqual([(e.type, e.data) for e in got],
                         [("fmt.named.a", "1"), ("fmt.named.b.c", "2"), ("fmt.plain", "3")])
        self.assertEqual([(e.type, e.data) for e in plain], [("message", "1"), ("message", "2")])


class Patterns(ServerCase):
    def test_several_topics_and_overlapping_wildcards_deliver_each_message_once(self):
        topics = ["pat.a.b", "pat.a.>", "pat.*.b", "pat.>", "other.x"]
        sent = [("pat.a.b", "m1"), ("pat.a.c", "m2"), ("pat.z.b", "m3"), ("pat.q", "m4"),
                ("other.x", "m5"), ("other.y", "not mine"), ("pat.a.b.c", "m6"), ("pat.a.b", "m7")]
        with open_stream(self.port, *topics, event="topic") as c:
            for t, p in sent:
                self.pub(t, p)
            self.pub("other.x", "end")
            got = c.events(8)
            extra = c.assert_quiet(0.3)
        want = [(t, p) for t, p in sent if t != "other.y"] + [("other.x", "end")]
        self.assertEqual([(e.type, e.data) for e in got], want)
        self.assertEqual(extra, [])
        # The id names every topic delivered: exact ones by index, the others by name.
        refs = parse_event_id(got[-1].last_event_id)
        self.assertEqual(set(refs), {"0", "4", "@pat.a.c", "@pat.z.b", "@pat.q", "@pat.a.b.c"})
        self.assertEqual(refs["0"][1], 2)  # pat.a.b: two messages
        self.assertEqual(refs["4"][1], 2)  # other.x: m5 and end

    def test_a_pattern_does_not_see_other_topics(self):
        with open_stream(self.port, "iso.*.x") as c:
            self.pub("iso.a.y", "no")
            self.pub("iso.a.x.z", "no")
            self.pub("iso.x", "no")
            self.pub("iso.b.x", "yes")
            self.assertEqual([e.data for e in c.events(1)], ["yes"])
            self.assertEqual(c.assert_quiet(0.2), [])


class EventIds(ServerCase):
    CONFIG = "[sse]\nmax_id_topics = 3\n"

    def test_topics_with_separator_characters_are_encoded_in_ids_and_resume(self):
        names = ["enc.a:b,c", "enc.ü漢", "enc.100%", "enc.@x", "enc.sp-ok_1"]
        c = open_stream(self.port, "enc.>", event="topic")
        self.addCleanup(c.close)
        for n in names[:3]:
            self.pub(urllib.parse.quote(n, safe=""), f"first {n}")
        got = c.events(3)
        self.assertEqual([(e.type, e.data) for e in got], [(n, f"first {n}") for n in names[:3]])
        last = c.last_event_id
        self.assertTrue(last.isascii())
        self.assertEqual(set(parse_event_id(last)),
                         {"@enc.a%3Ab%2Cc", "@enc.%C3%BC%E6%BC%A2", "@enc.100%25"})
        c.kill()
        for n in names[:3]:
            self.pub(urllib.parse.quote(n, safe=""), f"second {n}")
        with open_stream(self.port, "enc.>", event="topic", headers={"Last-Event-ID": last}) as c2:
            again = c2.events(3)
            self.assertEqual(c2.assert_quiet(0.2), [])
        self.assertEqual(sorted((e.type, e.data) for e in again),
                         sorted((n, f"second {n}") for n in names[:3]))

    def test_an_id_keeps_the_most_recent_topics_up_to_max_id_topics(self):
        with open_stream(self.port, "lim.>") as c:
            for t in ["lim.a", "lim.b", "lim.c", "lim.d", "lim.b"]:
                self.pub(t, t)
            got = c.events(5)
        ids = [list(parse_event_id(e.last_event_id)) for e in got]
        self.assertEqual(ids[2], ["@lim.a", "@lim.b", "@lim.c"])
        self.assertEqual(ids[3], ["@lim.b", "@lim.c", "@lim.d"])  # lim.a forgotten
        self.assertEqual(ids[4], ["@lim.c", "@lim.d", "@lim.b"])  # most recent last
        # …and the id says that topics were left out from then on.
        self.assertFalse(got[2].last_event_id.endswith(",!"))
        self.assertTrue(got[3].last_event_id.endswith(",!"))
        four = got[3].last_event_id + ",@lim.a:1:1"
        bad = SseClient(self.port, sse_path("lim.>"), headers={"Last-Event-ID": four})
        bad.close()
        self.assertEqual((bad.status, bad.json()["error"]), (400, "bad_event_id"))

    def test_http_1_0_client_gets_a_close_delimited_stream(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"GET /sse?topic=old.client HTTP/1.0\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf or b"\n\n" not in buf.split(b"\r\n\r\n", 1)[1]:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        status, headers = parse_head(head)
        self.assertEqual(status, 200)
        self.assertNotIn("transfer-encoding", headers)
        self.assertNotIn("content-length", headers)
        self.pub("old.client", "one\ntwo")
        p = SseParser()
        messages = lambda evs: [e for e in evs if e.type != "position"]
        events = messages(p.feed(body))
        while not events:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            events += messages(p.feed(chunk))
        self.assertEqual(events[0].data, "one\ntwo")


class Resume(ServerCase):
    def test_reconnect_with_last_event_id_gets_exactly_the_missed_messages_then_live(self):
        topic = "res.one"
        c = open_stream(self.port, topic)
        self.addCleanup(c.close)
        acks = [self.pub(topic, f"m{i}") for i in range(5)]
        got = c.events(5)
        self.assertEqual([e.data for e in got], [f"m{i}" for i in range(5)])
        last = c.last_event_id
        self.assertEqual(last, id_of(*acks[-1]))
        c.kill()  # the client dies: RST
        for i in range(5, 15):
            self.pub(topic, f"m{i}")
        with open_stream(self.port, topic, headers={"Last-Event-ID": last}) as c2:
            self.assertEqual(c2.start_id, last)  # starts where the client was
            replay = c2.events(10)
            self.assertEqual([e.data for e in replay], [f"m{i}" for i in range(5, 15)])
            offsets = [parse_event_id(e.last_event_id)["0"][1] for e in replay]
            self.assertEqual(offsets, list(range(6, 16)))
            self.assertEqual(c2.assert_quiet(0.2), [])  # no duplicate after the replay
            self.pub(topic, "live")
            self.assertEqual(c2.next_event().data, "live")
            self.assertEqual(c2.assert_quiet(0.2), [])

    def test_orderly_close_and_reconnect_twice(self):
        topic = "res.twice"
        seen = []
        last = ""
        for round_ in range(3):
            headers = {"Last-Event-ID": last} if last else None
            with open_stream(self.port, topic, headers=headers) as c:
                if round_:
                    seen += [e.data for e in c.events(3)]  # published while away
                for i in range(2):
                    self.pub(topic, f"r{round_}.{i}")
                seen += [e.data for e in c.events(2)]
                last = c.last_event_id
            for i in range(3):
                self.pub(topic, f"away{round_}.{i}")
        self.assertEqual(seen, ["r0.0", "r0.1", "away0.0", "away0.1", "away0.2", "r1.0", "r1.1",
                                "away1.0", "away1.1", "away1.2", "r2.0", "r2.1"])

    def test_multi_topic_stream_resumes_every_topic_from_one_id(self):
        topics = ("mres.a", "mres.b", "mres.w.>")
        c = open_stream(self.port, *topics, event="topic")
        self.addCleanup(c.close)
        first = [("mres.a", "a1"), ("mres.w.x", "x1"), ("mres.b", "b1"), ("mres.w.y", "y1"),
                 ("mres.a", "a2")]
        for t, p in first:
            self.pub(t, p)
        got = c.events(len(first))
        self.assertEqual([(e.type, e.data) for e in got], first)
        last = c.last_event_id
        refs = parse_event_id(last)
        self.assertEqual(set(refs), {"0", "1", "@mres.w.x", "@mres.w.y"})
        self.assertEqual(refs["0"][1], 2)
        self.assertEqual(refs["1"][1], 1)
        c.kill()
        missed = [("mres.b", "b2"), ("mres.w.x", "x2"), ("mres.a", "a3"), ("mres.w.y", "y2"),
                  ("mres.w.x", "x3"), ("mres.b", "b3")]
        for t, p in missed:
            self.pub(t, p)
        with open_stream(self.port, *topics, event="topic", headers={"Last-Event-ID": last}) as c2:
            replay = c2.events(len(missed))
            self.assertEqual(c2.assert_quiet(0.3), [])
            # Exactly the missed ones, each topic in order (replay goes topic by topic).
            self.assertEqual(sorted((e.type, e.data) for e in replay), sorted(missed))
            for t in {t for t, _ in missed}:
                self.assertEqual([e.data for e in replay if e.type == t],
                                 [p for tt, p in missed if tt == t])
            self.pub("mres.w.y", "y3")
            self.pub("mres.a", "a4")
            live = c2.events(2)
            self.assertEqual([(e.type, e.data) for e in live], [("mres.w.y", "y3"), ("mres.a", "a4")])
            end = parse_event_id(c2.last_event_id)
        self.assertEqual({k: v[1] for k, v in end.items()},
                         {"0": 4, "1": 3, "@mres.w.x": 3, "@mres.w.y": 3})

    def test_last_event_id_query_parameter_on_first_connect_and_the_header_wins(self):
        topic = "res.param"
        acks = [self.pub(topic, f"p{i}") for i in range(1, 5)]
        with open_stream(self.port, topic, lastEventId=id_of(*acks[0])) as c:
            self.assertEqual([e.data for e in c.events(3)], ["p2", "p3", "p4"])
            self.assertEqual(c.assert_quiet(0.2), [])
        with open_stream(self.port, topic, lastEventId=id_of(*acks[0]),
                         headers={"Last-Event-ID": id_of(*acks[2])}) as c:
            self.assertEqual([e.data for e in c.events(1)], ["p4"])
            self.assertEqual(c.assert_quiet(0.2), [])

    def test_client_cut_before_any_message_still_gets_what_was_published_meanwhile(self):
        for topic, existed in (("res.early.new", False), ("res.early.old", True)):
            with self.subTest(existed=existed):
                if existed:
                    self.pub(topic, "before")
                c = open_stream(self.port, topic)
                self.addCleanup(c.close)
                start = c.last_event_id  # from the id-only event; nothing dispatched
                self.assertTrue(start)
                self.assertEqual(c.assert_quiet(0.1), [])
                c.kill()
                for i in range(3):
                    self.pub(topic, f"while away {i}")
                with open_stream(self.port, topic, headers={"Last-Event-ID": start}) as c2:
                    self.assertEqual([e.data for e in c2.events(3)],
                                     [f"while away {i}" for i in range(3)])
                    self.assertEqual(c2.assert_quiet(0.2), [])

    def test_messages_published_between_request_and_start_are_not_lost(self):
        # Publishing continuously while streams open: the first event after the
        # starting position must be the next offset, with nothing skipped.
        topic = "res.race"
        stop = threading.Event()
        pub_errors = []

        def publisher():
            p = Publisher(self.port)
            try:
                i = 0
                while not stop.is_set():
                    p(topic, f"{i}")
                    i += 1
            except Exception as e:  # noqa: BLE001 — reported below
                pub_errors.append(e)
            finally:
                p.close()

        t = threading.Thread(target=publisher, daemon=True)
        t.start()
        try:
            wait_until(lambda: metric(self.port, "herald_messages_in_total") > 0)
            for _ in range(10):
                with open_stream(self.port, topic) as c:
                    start = parse_event_id(c.start_id)["0"]
                    got = c.events(20)
                    offsets = [parse_event_id(e.last_event_id)["0"][1] for e in got]
                    self.assertEqual(offsets, list(range(start[1] + 1, start[1] + 21)))
                    self.assertEqual([int(e.data) for e in got], [o - 1 for o in offsets])
        finally:
            stop.set()
            t.join(10)
        self.assertEqual(pub_errors, [])


    def test_an_id_ahead_of_the_topic_is_refused(self):
        # Today it is accepted with an "epoch_changed" gap naming the same
        # epoch, and offsets 2..5 are then silently skipped for this stream.
        topic = "res.ahead"
        epoch, _ = self.pub(topic, "one")
        c = SseClient(self.port, sse_path(topic), headers={"Last-Event-ID": id_of(epoch, 5)})
        c.close()
        self.assertEqual(c.status, 400)
        self.assertIn(c.json()["error"], ("bad_event_id", "invalid_argument"))


class Gap(ServerCase):
    CONFIG = "[history]\nmax_messages = 5\n"

    def test_resume_past_history_gets_a_trimmed_gap_then_what_is_retained(self):
        topic = "gap.t"
        c = open_stream(self.port, topic)
        self.addCleanup(c.close)
        epoch, _ = self.pub(topic, "m1")
        self.assertEqual(c.next_event().data, "m1")
        last = c.last_event_id
        c.kill()
        for i in range(2, 13):  # m2..m12; history keeps m8..m12
            self.pub(topic, f"m{i}")
        with open_stream(self.port, topic, headers={"Last-Event-ID": last}) as c2:
            got = c2.events(6)
            self.assertEqual(c2.assert_quiet(0.2), [])
        gap = got[0]
        self.assertEqual(gap.type, "gap")
        self.assertEqual(json.loads(gap.data), {"op": "gap", "topic": topic, "reason": "trimmed",
                                                "epoch": epoch, "from": 2, "to": 7})
        self.assertEqual(gap.last_event_id, id_of(epoch, 7))  # the id moves past the gap
        self.assertEqual([(e.type, e.data) for e in got[1:]],
                         [("message", f"m{i}") for i in range(8, 13)])
        # Resuming after the gap event does not report it again.
        with open_stream(self.port, topic, headers={"Last-Event-ID": gap.last_event_id}) as c3:
            again = c3.events(5)
            self.assertEqual(c3.assert_quiet(0.2), [])
        self.assertEqual([(e.type, e.data) for e in again],
                         [("message", f"m{i}") for i in range(8, 13)])

    def test_resume_from_an_old_epoch_gets_an_epoch_changed_gap(self):
        topic = "gap.epoch"
        epoch, _ = self.pub(topic, "now")
        with open_stream(self.port, topic, headers={"Last-Event-ID": id_of(epoch - 1000, 3)}) as c:
            got = c.events(2)
        self.assertEqual(got[0].type, "gap")
        g = json.loads(got[0].data)
        self.assertEqual((g["topic"], g["reason"], g["epoch"]), (topic, "epoch_changed", epoch))
        self.assertEqual((got[1].type, got[1].data), ("message", "now"))
        self.assertEqual(got[1].last_event_id, id_of(epoch, 1))


class Heartbeat(ServerCase):
    CONFIG = "[sse]\nheartbeat_interval_ms = 200\n"

    def test_an_idle_stream_receives_comment_lines(self):
        with open_stream(self.port, "hb.idle") as c:
            deadline = time.monotonic() + 3
            while len(c.parser.comments) < 3 and time.monotonic() < deadline:
                c.pump(0.1)
            self.assertGreaterEqual(len(c.parser.comments), 3)
            self.assertEqual(c.assert_quiet(0.05), [])  # comments dispatch nothing
            self.assertEqual(c.last_event_id, "0:0:0")  # and leave the id alone
        self.assertGreaterEqual(metric(self.port, "herald_sse_heartbeats_total"), 3)

    def test_a_busy_stream_gets_events_rather_than_heartbeats(self):
        with open_stream(self.port, "hb.busy") as c:
            for i in range(12):
                self.pub("hb.busy", str(i))
                time.sleep(0.05)
            self.assertEqual([e.data for e in c.events(12)], [str(i) for i in range(12)])
            # 600 ms of traffic every 50 ms: at most one heartbeat slipped in.
            self.assertLessEqual(len(c.parser.comments), 1)


class HeartbeatDeadline(ServerCase):
    """An idle stream hears from the server within every heartbeat interval,
    counted from the last byte sent, the stream's start included (the first
    comment used to come after two intervals: 30 s with the default 15 s)."""
    CONFIG = "[sse]\nheartbeat_interval_ms = 1000\n"

    def first_comment_after(self, c):
        t0 = time.monotonic()
        n = len(c.parser.comments)
        while len(c.parser.comments) == n and time.monotonic() - t0 < 5:
            c.pump(0.02)
        return time.monotonic() - t0

    def test_the_first_comment_comes_within_one_interval_of_the_start(self):
        with open_stream(self.port, "hbd.start") as c:
            waited = self.first_comment_after(c)
        self.assertLess(waited, 1.7)  # one interval (+ a wheel tick and slack), not two

    def test_a_comment_comes_one_interval_after_the_last_event(self):
        with open_stream(self.port, "hbd.event") as c:
            self.first_comment_after(c)
            time.sleep(0.3)
            self.pub("hbd.event", "x")
            self.assertEqual([e.data for e in c.events(1)], ["x"])
            waited = self.first_comment_after(c)
        self.assertLess(waited, 1.7)
        self.assertGreater(waited, 0.5)  # not early: the event reset the clock


class BadInput(unittest.TestCase):
    def test_bad_requests_get_specific_4xx_json_and_leave_open_streams_alone(self):
        config = "[http]\nmax_body_bytes = 4096\n[sse]\nmax_topics = 4\n"
        with Heraldd(config=config) as h:
            pub = Publisher(h.port)
            self.addCleanup(pub.close)
            epoch, _ = pub("bad.existing", "x")
            live = open_stream(h.port, "bad.live")
            self.addCleanup(live.close)
            live2 = open_stream(h.port, "bad.live.>", "bad.live")
            self.addCleanup(live2.close)
            self.assertEqual(metric(h.port, "herald_sse_streams_open"), 2)
            subs = metric(h.port, "herald_subscriptions")
            long_q = "/sse?topic=" + "a" * 9000
            cases = [
                ("/sse?topic=a..b", None, 400, "invalid_topic"),
                ("/sse?topic=a.>.b", None, 400, "invalid_topic"),
                ("/sse?topic=_INBOX.x", None, 400, "invalid_topic"),
                ("/sse?topic=", None, 400, "invalid_topic"),
                ("/sse", None, 400, "missing_topic"),
                ("/sse?format=json", None, 400, "missing_topic"),
                ("/sse?topic=a&unknown=1", None, 400, "bad_parameter"),
                ("/sse?topic=a&format=xml", None, 400, "bad_parameter"),
                ("/sse?topic=a&event=name", None, 400, "bad_parameter"),
                ("/sse?topic=a&topic=b&topic=c&topic=d&topic=e", None, 400, "too_many_topics"),
                ("/sse?topic=%zz", None, 400, "bad_query"),
                ("/sse?topic=a%2", None, 400, "bad_query"),
                ("/sse?topic=a&x%G0=1", None, 400, "bad_query"),
                (long_q, None, 414, "uri_too_long"),
                ("/sse?topic=bad.existing", "abc", 400, "bad_event_id"),
                ("/sse?topic=bad.existing", "1:1:1", 400, "bad_event_id"),  # index out of range
                ("/sse?topic=bad.existing", "0:1", 400, "bad_event_id"),
                ("/sse?topic=bad.existing", "0:A:1", 400, "bad_event_id"),  # base 36 is lower case
                ("/sse?topic=bad.existing", "0:1:-1", 400, "bad_event_id"),
                ("/sse?topic=bad.existing", "0:1:1,0:1:2", 400, "bad_event_id"),  # twice
                ("/sse?topic=bad.existing", "0:1:1,", 400, "bad_event_id"),
                ("/sse?topic=bad.existing", "0:zzzzzzzzzzzzzz:1", 400, "bad_event_id"),  # > 2^64
                ("/sse?topic=bad.>", "0:1:1", 400, "bad_event_id"),  # index of a wildcard
                ("/sse?topic=bad.>", "@other.t:1:1", 400, "bad_event_id"),  # not in the stream
                ("/sse?topic=bad.>", "@bad..x:1:1", 400, "bad_event_id"),
                ("/sse?topic=bad.>", "@bad%2:1:1", 400, "bad_event_id"),
                ("/sse?topic=bad.existing&lastEventId=nope", None, 400, "bad_event_id"),
            ]
            for path, last_id, status, code in cases:
                with self.subTest(path=path[:60], last_id=last_id):
                    headers = {"Last-Event-ID": last_id} if last_id is not None else None
                    c = SseClient(h.port, path, headers=headers)
                    self.addCleanup(c.close)
                    c.close()
                    self.assertEqual(c.status, status, c.body)
                    self.assertTrue(c.headers["content-type"].startswith("application/json"))
                    body = c.json()
                    self.assertEqual(body["error"], code, body)
                    self.assertIsInstance(body["message"], str)
                    self.assertTrue(body["message"])
            resp, data = http_call(h.port, "POST", "/publish/bad.live", b"y" * 5000)
            self.assertEqual(resp.status, 413)
            self.assertEqual(json.loads(data)["error"], "body_too_large")
            # The open streams noticed nothing, and the counts are right.
            self.assertEqual(metric(h.port, "herald_sse_streams_open"), 2)
            self.assertEqual(metric(h.port, "herald_subscriptions"), subs)
            pub("bad.live", "still here")
            self.assertEqual(live.next_event().data, "still here")
            self.assertEqual(live2.next_event().data, "still here")
            self.assertEqual(live2.assert_quiet(0.2), [])
            live.close()
            live2.close()
            self.assertTrue(wait_until(lambda: metric(h.port, "herald_sse_streams_open") == 0))
            self.assertGreaterEqual(metric(h.port, "herald_sse_rejects_total"), 20)
            pub.close()


class Release(ServerCase):
    def test_a_client_that_goes_away_is_released_at_once(self):
        base = metrics(self.port)
        self.assertEqual(base["herald_sse_streams_open"], 0)
        subs0 = base["herald_subscriptions"]
        a = open_stream(self.port, "rel.a")
        self.addCleanup(a.close)
        b = open_stream(self.port, "rel.b", "rel.c.>", "rel.d")
        self.addCleanup(b.close)
        c = open_stream(self.port, "rel.e")
        self.addCleanup(c.close)
        m = metrics(self.port)
        self.assertEqual(m["herald_sse_streams_open"], 3)
        self.assertEqual(m["herald_subscriptions"], subs0 + 5)
        b.close()  # FIN
        self.assertTrue(wait_until(
            lambda: metrics(self.port)["herald_sse_streams_open"] == 2, timeout=2))
        self.assertEqual(metric(self.port, "herald_subscriptions"), subs0 + 2)
        a.kill()  # RST
        self.assertTrue(wait_until(
            lambda: metrics(self.port)["herald_sse_streams_open"] == 1, timeout=2))
        self.assertEqual(metric(self.port, "herald_subscriptions"), subs0 + 1)
        # Publishing to the released topics reaches nobody; the survivor still works.
        self.pub("rel.a", "x")
        self.pub("rel.e", "y")
        self.assertEqual(c.next_event().data, "y")
        c.close()
        self.assertTrue(wait_until(
            lambda: metrics(self.port)["herald_sse_streams_open"] == 0, timeout=2))
        self.assertEqual(metric(self.port, "herald_subscriptions"), subs0)
        # Left: the publisher's keep-alive connection and the /metrics request
        # itself (earlier /metrics connections may take a moment to go).
        self.assertTrue(wait_until(
            lambda: metrics(self.port)["herald_http_connections_open"] == 2, timeout=2))


class ManyClients(unittest.TestCase):
    N = 500
    M = 20

    def test_500_concurrent_streams_each_receive_every_event_once_in_order(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.N + 256
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need * 2), hard))

        class Conn:
            def __init__(self, sock):
                self.sock = sock
                self.head = b""
                self.status = None
                self.decoder = ChunkedDecoder()
                self.parser = SseParser()
                self.events = []
                self.sent = False
                self.eof = False

        with Heraldd() as h:
            sel = selectors.DefaultSelector()
            conns = []
            req = request_bytes(h.port, "/sse?topic=many.t")
            try:
                for _ in range(self.N):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.connect_ex(("127.0.0.1", h.port))
                    c = Conn(s)
                    conns.append(c)
                    sel.register(s, selectors.EVENT_WRITE, c)

                def loop(done, timeout):
                    deadline = time.monotonic() + timeout
                    while not done() and time.monotonic() < deadline:
                        for key, ev in sel.select(0.2):
                            c = key.data
                            if ev & selectors.EVENT_WRITE and not c.sent:
                                c.sock.send(req)  # small: fits the empty socket buffer
                                c.sent = True
                                sel.modify(c.sock, selectors.EVENT_READ, c)
                                continue
                            try:
                                data = c.sock.recv(65536)
                            except (BlockingIOError, InterruptedError):
                                continue
                            if not data:
                                c.eof = True
                                sel.unregister(c.sock)
                                continue
                            if c.status is None:
                                c.head += data
                                if b"\r\n\r\n" not in c.head:
                                    continue
                                head, data = c.head.split(b"\r\n\r\n", 1)
                                c.status, _ = parse_head(head)
                            c.events += [e for e in c.parser.feed(c.decoder.feed(data))
                                         if e.type != "position"]
                    return done()

                all_started = loop(lambda: all(c.parser.retry is not None for c in conns), 30)
                self.assertTrue(all_started, "%d of %d streams started" % (
                    sum(c.parser.retry is not None for c in conns), self.N))
                self.assertEqual({c.status for c in conns}, {200})
                self.assertEqual(metric(h.port, "herald_sse_streams_open"), self.N)
                pub = Publisher(h.port)
                self.addCleanup(pub.close)
                acks = [pub("many.t", f"event {i}") for i in range(self.M)]
                pub.close()
                loop(lambda: all(len(c.events) >= self.M for c in conns), 30)
                loop(lambda: False, 0.3)  # any duplicate would arrive now
                want = [f"event {i}" for i in range(self.M)]
                bad = [i for i, c in enumerate(conns) if [e.data for e in c.events] != want]
                self.assertEqual(bad, [], "streams with wrong events, e.g. %r" % (
                    [e.data for e in conns[bad[0]].events] if bad else None))
                ids = {tuple(e.last_event_id for e in c.events) for c in conns}
                self.assertEqual(ids, {tuple(id_of(*a) for a in acks)})
                self.assertEqual([c for c in conns if c.eof], [])
            finally:
                for c in conns:
                    c.sock.close()
                sel.close()
            self.assertTrue(wait_until(
                lambda: metric(h.port, "herald_sse_streams_open") == 0, timeout=10))


class SlowConsumer(unittest.TestCase):
    """A stream that stops reading while 32 KiB messages go out.

    The kernel takes about 3 MB for a stalled reader here (its send buffer),
    so COUNT messages are well past that plus max_outbound_bytes. The limit
    is 1 MiB for the tests that must pass: with 64 KiB, two messages that
    reach a stream in the same loop turn already exceed it, and healthy
    readers get cut too (a server bug, see the report and the expected
    failures below, which use 64 KiB)."""
    COUNT = 300
    SIZE = 32 * 1024
    HISTORY = "[history]\nmax_messages = 1000\nmax_bytes = 67108864\n"
    CONFIG = "[sse]\nmax_outbound_bytes = 1048576\n" + HISTORY
    SMALL_LIMIT = "[sse]\nmax_outbound_bytes = 65536\n" + HISTORY

    def payload(self, i):
        return f"{i:05d}".encode() + b"x" * (self.SIZE - 5)

    def stall_one_of_two(self, h, topic):
        """A stalled and a healthy stream while COUNT big messages go out;
        checks the healthy one got them all. Returns the stalled client."""
        # A small receive buffer, so that the kernel holds little for it.
        stalled = open_stream(h.port, topic, rcvbuf=4096)
        self.addCleanup(stalled.close)
        healthy = open_stream(h.port, topic)
        self.addCleanup(healthy.close)
        healthy_events = []
        errors = []

        def read_healthy():
            try:
                while len(healthy_events) < self.COUNT:
                    healthy_events.append(healthy.next_event(20))
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(e)

        reader = threading.Thread(target=read_healthy, daemon=True)
        reader.start()
        pub = Publisher(h.port)
        self.addCleanup(pub.close)
        deadline = time.monotonic() + 30
        for i in range(self.COUNT):
            # One at a time, as a backend would, and never more than 8 ahead of
            # the healthy reader: it keeps up, whatever the machine's load.
            while i - len(healthy_events) > 8 and not errors and time.monotonic() < deadline:
                time.sleep(0.001)
            pub(topic, self.payload(i))
        reader.join(30)
        self.assertEqual(errors, [])
        self.assertEqual([e.data[:5] for e in healthy_events],
                         [f"{i:05d}" for i in range(self.COUNT)])
        self.assertTrue(all(len(e.data) == self.SIZE for e in healthy_events))
        healthy.close()
        return stalled

    def test_a_stalled_stream_is_closed_and_the_others_are_unaffected(self):
        with Heraldd(config=self.CONFIG) as h:
            stalled = self.stall_one_of_two(h, "slow.feed")
            self.assertTrue(wait_until(
                lambda: metric(h.port, "herald_sse_slow_consumer_closes_total") >= 1, timeout=5))
            # The stalled client reads now: what it got, then the end of the stream.
            received = [e.data for e in stalled.read_to_eof(10)]
            stalled.close()
            self.assertLess(len(received), self.COUNT)
            self.assertEqual([d[:5] for d in received], [f"{i:05d}" for i in range(len(received))])
            # >= 1, not == 1: one close can be counted several times (see the
            # expected failure below).
            self.assertGreaterEqual(metric(h.port, "herald_sse_slow_consumer_closes_total"), 1)
            self.assertTrue(wait_until(lambda: metric(h.port, "herald_sse_streams_open") == 0))
            # The server still serves new streams.
            with open_stream(h.port, "slow.after") as c:
                publish_once(h.port, "slow.after", "fine")
                self.assertEqual(c.next_event().data, "fine")


    def test_reconnecting_after_a_slow_consumer_close_resumes_without_loss(self):
        with Heraldd(config=self.SMALL_LIMIT) as h:
            topic = "slow.resume"
            stalled = open_stream(h.port, topic, rcvbuf=4096)
            self.addCleanup(stalled.close)
            pub = Publisher(h.port)
            self.addCleanup(pub.close)
            for i in range(self.COUNT):
                pub(topic, self.payload(i))
            pub.close()
            received = [e.data for e in stalled.read_to_eof(10)]
            last = stalled.last_event_id
            stalled.close()
            # The close flushes what was queued (for up to 2 s): usually part
            # of the feed, all of it when the whole feed was queued at once.
            self.assertLessEqual(len(received), self.COUNT)
            # Reconnect after the last event received, as EventSource does, and
            # read as fast as possible. Each attempt must make progress.
            for attempt in range(20):
                if len(received) == self.COUNT:
                    break
                try:
                    c = SseClient(h.port, sse_path(topic), headers={"Last-Event-ID": last})
                    self.addCleanup(c.close)
                except ConnectionError as e:
                    self.fail(f"attempt {attempt} with {len(received)} of {self.COUNT} "
                              f"received: {e}")
                self.assertEqual(c.status, 200)
                before = len(received)
                try:
                    while len(received) < self.COUNT:
                        received.append(c.next_event(10).data)
                        last = c.last_event_id
                except EOFError:
                    pass  # cut again: reconnect from `last`
                finally:
                    c.close()
                self.assertGreater(len(received), before, f"attempt {attempt}: no progress")
            self.assertEqual([d[:5] for d in received], [f"{i:05d}" for i in range(self.COUNT)])
            self.assertTrue(all(len(d) == self.SIZE for d in received))


    def test_a_slow_consumer_close_is_counted_once_per_stream(self):
        with Heraldd(config=self.SMALL_LIMIT) as h:
            topic = "slow.count"
            stalled = open_stream(h.port, topic, rcvbuf=4096)  # never reads
            self.addCleanup(stalled.close)
            pub = Publisher(h.port)
            self.addCleanup(pub.close)
            for i in range(self.COUNT):
                pub(topic, self.payload(i))
            self.assertTrue(wait_until(
                lambda: metric(h.port, "herald_sse_slow_consumer_closes_total") >= 1))
            time.sleep(0.2)
            self.assertEqual(metric(h.port, "herald_sse_slow_consumer_closes_total"), 1)
            self.assertEqual(metric(h.port, "herald_slow_consumer_disconnects_total"), 1)

    def test_drop_policy_tells_the_stream_exactly_what_was_dropped(self):
        config = self.SMALL_LIMIT.replace("[sse]\n", "[sse]\nslow_consumer_policy = \"drop\"\n")
        with Heraldd(config=config) as h:
            topic = "slow.drop"
            stalled = open_stream(h.port, topic, rcvbuf=4096)
            self.addCleanup(stalled.close)
            pub = Publisher(h.port)
            self.addCleanup(pub.close)
            # Paced like a live feed. The limit counts what the kernel refused,
            # and a burst queued in one loop turn is only checked at its
            # flush: on a starved (sanitizer) build one turn can take hundreds
            # of these, all admitted. The feed goes on until the stream drops,
            # as a live one would; the bound only stops a broken server.
            published = 0
            while published < 4 * self.COUNT:
                pub(topic, self.payload(published))
                published += 1
                time.sleep(0.001)
                if published >= self.COUNT and published % 20 == 0 and wait_until(
                        lambda: metric(h.port, "herald_dropped_total") > 0, timeout=1):
                    break
            # Deliveries trail the acknowledgements (another worker's loop),
            # by seconds on a loaded sanitizer build.
            self.assertTrue(
                wait_until(lambda: metric(h.port, "herald_dropped_total") > 0, timeout=60),
                f"nothing dropped: {metric(h.port, 'herald_sse_events_total')} events sent "
                f"of {published}, {metric(h.port, 'herald_sse_streams_open')} streams open")
            # Drain: what fit, then a gap (slow_consumer) naming what was dropped.
            got = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    got.append(stalled.next_event(2))
                except TimeoutError:
                    break
            gaps = [json.loads(e.data) for e in got if e.type == "gap"]
            self.assertTrue(gaps, "no gap event")
            self.assertEqual({g["reason"] for g in gaps}, {"slow_consumer"})
            # Every offset is either delivered or inside a gap, exactly once.
            covered = []
            for e in got:
                if e.type == "gap":
                    g = json.loads(e.data)
                    covered += list(range(g["from"], g["to"] + 1))
                else:
                    covered.append(int(e.data[:5]) + 1)
            self.assertEqual(covered, list(range(1, published + 1)))
            self.assertEqual(parse_event_id(stalled.last_event_id)["0"][1], published)
            self.assertEqual(metric(h.port, "herald_sse_streams_open"), 1)  # not closed
            stalled.close()
            pub.close()


class Cors(unittest.TestCase):
    def test_allowed_origin_gets_cors_headers_on_the_stream_and_its_preflight(self):
        with Heraldd(config='[http]\ncors_origins = ["http://app.example"]\n') as h:
            with open_stream(h.port, "cors.t", headers={"Origin": "http://app.example"}) as c:
                self.assertEqual(c.headers.get("access-control-allow-origin"), "http://app.example")
                self.assertIn("Origin", c.headers.get("vary", ""))
                publish_once(h.port, "cors.t", "hi")
                self.assertEqual(c.next_event().data, "hi")
            with open_stream(h.port, "cors.t", headers={"Origin": "http://evil.example"}) as c:
                self.assertNotIn("access-control-allow-origin", c.headers)
            pre = {"Origin": "http://app.example", "Access-Control-Request-Method": "GET",
                   "Access-Control-Request-Headers": "last-event-id"}
            resp, _ = http_call(h.port, "OPTIONS", "/sse?topic=cors.t", headers=pre)
            self.assertEqual(resp.status, 204)
            self.assertEqual(resp.getheader("Access-Control-Allow-Origin"), "http://app.example")
            self.assertIn("GET", resp.getheader("Access-Control-Allow-Methods"))
            self.assertEqual(resp.getheader("Access-Control-Allow-Headers"), "last-event-id")
            resp, _ = http_call(h.port, "OPTIONS", "/sse?topic=cors.t",
                                headers=dict(pre, Origin="http://evil.example"))
            self.assertEqual(resp.status, 403)
            self.assertIsNone(resp.getheader("Access-Control-Allow-Origin"))
            # An error answer to an allowed origin is readable by it too.
            c = SseClient(h.port, "/sse?topic=a..b", headers={"Origin": "http://app.example"})
            self.addCleanup(c.close)
            c.close()
            self.assertEqual(c.status, 400)
            self.assertEqual(c.headers.get("access-control-allow-origin"), "http://app.example")


class Curl(ServerCase):
    def spawn(self, *args):
        proc = subprocess.Popen(["curl", "-sN", "--max-time", "30", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        lines = queue.Queue()

        def pump():
            for line in proc.stdout:
                lines.put(line.decode().rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return proc, lines

    def read_until(self, lines, want, timeout=5):
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            self.assertIsNotNone(line, "curl ended: %r" % seen)
            seen.append(line)
            if line == want:
                return seen

    def stop(self, proc):
        proc.terminate()  # by PID
        proc.wait(5)
        proc.stdout.close()

    def test_curl_receives_events_live_and_its_exit_releases_the_stream(self):
        url = f"http://127.0.0.1:{self.port}/sse?topic=curl.live"
        proc, lines = self.spawn(url)
        try:
            self.read_until(lines, "retry: 2000")
            self.assertTrue(wait_until(
                lambda: metric(self.port, "herald_sse_streams_open") == 1))
            epoch, offset = self.pub("curl.live", "hello curl\nsecond line")
            seen = self.read_until(lines, "data: second line")
            self.assertEqual(seen[-3:], [f"id: {id_of(epoch, offset)}", "data: hello curl",
                                         "data: second line"])
        finally:
            self.stop(proc)
        self.assertTrue(wait_until(lambda: metric(self.port, "herald_sse_streams_open") == 0))

    def test_curl_resumes_with_a_last_event_id_header(self):
        acks = [self.pub("curl.resume", f"c{i}") for i in range(3)]
        proc, lines = self.spawn("-H", f"Last-Event-ID: {id_of(*acks[0])}",
                                 f"http://127.0.0.1:{self.port}/sse?topic=curl.resume")
        try:
            seen = self.read_until(lines, "data: c2")
            # (the "position" event that starts the stream has an empty data line)
            self.assertEqual([l for l in seen if l.startswith("data:") and l != "data: "],
                             ["data: c1", "data: c2"])
        finally:
            self.stop(proc)


class CrossFront(ServerCase):
    def test_http_publish_reaches_websocket_and_sse_subscribers_alike(self):
        sse = open_stream(self.port, "xf.http", format="json")
        self.addCleanup(sse.close)

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                await ws.send(json.dumps({"op": "sub", "topic": "xf.http"}))
                self.assertEqual((await recv_json(ws))["op"], "subscribed")
                ack = await asyncio.to_thread(self.pub, "xf.http", b'{"n":1}', "application/json")
                m = await recv_json(ws)
                return ack, m
        (epoch, offset), wsmsg = run(go())
        env = json.loads(sse.next_event().data)
        sse.close()
        self.assertEqual((wsmsg["epoch"], wsmsg["offset"], wsmsg["payload"]), (epoch, offset, {"n": 1}))
        for k in ("topic", "epoch", "offset", "payload", "content_type"):
            self.assertEqual(env[k], wsmsg[k], k)

    def test_websocket_publish_reaches_an_sse_stream(self):
        sse = open_stream(self.port, "xf.ws.>", event="topic")
        self.addCleanup(sse.close)

        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws, \
                       websockets.connect(f"ws://127.0.0.1:{self.port}/ws/xf.ws.raw") as raw:
                acks = []
                for i, payload in enumerate(["text ✓\nline 2", {"json": [1, 2]}]):
                    await ws.send(json.dumps({"op": "pub", "id": i, "topic": "xf.ws.json",
                                              "payload": payload}))
                    acks.append(await recv_json(ws))
                await raw.send(b"\x00\x01binary")
                self.assertEqual(await asyncio.wait_for(raw.recv(), 3), b"\x00\x01binary")
                return acks
        acks = run(go())
        got = sse.events(3)
        sse.close()
        self.assertEqual([a["op"] for a in acks], ["ack", "ack"])
        self.assertEqual([(e.type, e.data) for e in got[:1]], [("xf.ws.json", "text ✓\nline 2")])
        self.assertEqual(got[1].type, "xf.ws.json")
        self.assertEqual(json.loads(got[1].data), {"json": [1, 2]})
        self.assertEqual(parse_event_id(got[1].last_event_id)["@xf.ws.json"],
                         (acks[1]["epoch"], acks[1]["offset"]))
        # A binary frame in raw mode arrives as base64. The stream sends both
        # "event: xf.ws.raw" and then "event: binary"; the last one wins.
        self.assertEqual(got[2].type, "binary")
        self.assertEqual(base64.b64decode(got[2].data), b"\x00\x01binary")
        self.assertEqual(list(parse_event_id(got[2].last_event_id))[-1], "@xf.ws.raw")


if __name__ == "__main__":
    unittest.main()
