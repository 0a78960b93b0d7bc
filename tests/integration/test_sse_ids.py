"""SSE event ids against a real heraldd (issue 14, defect 9): a wildcard
stream over many long topic names used to get ids of 24 KB, which the
browser's reconnect sent back as Last-Event-ID and got 431 — and EventSource
does not retry after a 4xx. Ids now name long topics by hash and have a hard
ceiling; a reconnect with the last id is accepted and resumes exactly. The
figures are printed so they can be quoted."""
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heraldd import Heraldd  # noqa: E402
from sse_util import Publisher, SseClient, started  # noqa: E402

TOPICS = 32
MAX_ID_BYTES = 32 * 62 + 2  # MaxEventIdBytes(32) in frontends/sse/event_id.h


def long_topic(i):
    """250 bytes that an id would percent-encode to about 750 characters."""
    t = f"wide.{i:03d}."
    return t + "é" * ((250 - len(t)) // 2)


def publish(pub, topic, body):
    return pub(urllib.parse.quote(topic, safe=""), body)


def open_stream(port, pattern, headers=None):
    path = "/sse?" + urllib.parse.urlencode([("topic", pattern), ("event", "topic")])
    c = SseClient(port, path, headers=headers)
    return c


class LongTopicIds(unittest.TestCase):
    def attack(self, config, topics, after_reconnect_publish):
        """Streams `wide.>` over `topics` long topics (one message each), cuts
        it, publishes two more to each, and reconnects with the last id.
        Returns (largest id, reconnect client, missed {topic: [payload]})."""
        h = Heraldd(config=config).__enter__()
        self.addCleanup(h.__exit__)
        pub = Publisher(h.port)
        self.addCleanup(pub.close)
        c = open_stream(h.port, "wide.>")
        self.addCleanup(c.close)
        self.assertEqual(c.status, 200)
        c.wait_for(started)
        for i in range(topics):
            publish(pub, long_topic(i), f"first {i}")
        first = c.events(topics, timeout=10)
        self.assertEqual([e.data for e in first], [f"first {i}" for i in range(topics)])
        largest = max(len(e.last_event_id) for e in first)
        last = c.last_event_id
        c.kill()
        missed = {}
        for i in range(topics):
            for n in (1, 2):
                publish(pub, long_topic(i), f"missed {i}.{n}")
                missed.setdefault(long_topic(i), []).append(f"missed {i}.{n}")
        c2 = open_stream(h.port, "wide.>", headers={"Last-Event-ID": last})
        self.addCleanup(c2.close)
        print(f"\n[{topics} topics of {len(long_topic(0).encode())} bytes, {config!r}] largest id "
              f"{largest} bytes (ceiling {MAX_ID_BYTES}; before: 23,807 bytes and 431 on "
              f"reconnect), reconnect status {c2.status}", flush=True)
        self.assertEqual(c2.status, 200, c2.body)
        c2.wait_for(started)
        if after_reconnect_publish:
            for i in range(topics):
                publish(pub, long_topic(i), f"live {i}")
        return largest, last, c2, missed

    def assert_exact(self, events, want):
        got = {}
        for e in events:
            got.setdefault(e.type, []).append(e.data)
        self.assertEqual(got, want)

    def test_ids_stay_small_and_a_reconnect_resumes_every_topic_exactly(self):
        largest, last, c2, missed = self.attack(None, TOPICS, False)
        self.assertLessEqual(largest, MAX_ID_BYTES)
        self.assertNotIn("!", last.split(","))  # every topic is carried
        # This node remembers the names it hashed: all replayed at once.
        self.assert_exact(c2.events(2 * TOPICS, timeout=10), missed)
        self.assertEqual(c2.assert_quiet(0.3), [])

    def test_a_node_that_does_not_know_the_names_resumes_each_topic_at_its_next_message(self):
        # As after a restart or on another node: the hashes are resolved by
        # each topic's next message, and what the client missed comes first.
        largest, last, c2, missed = self.attack("[sse]\nid_topic_names = 0\n", TOPICS, True)
        self.assertLessEqual(largest, MAX_ID_BYTES)
        want = {t: m + [f"live {i}"] for i, (t, m) in enumerate(missed.items())}
        self.assert_exact(c2.events(3 * TOPICS, timeout=10), want)
        self.assertEqual(c2.assert_quiet(0.3), [])

    def test_topics_past_the_id_limit_are_announced_not_silently_skipped(self):
        topics = TOPICS + 8
        largest, last, c2, missed = self.attack(None, topics, False)
        self.assertLessEqual(largest, MAX_ID_BYTES)
        self.assertEqual(last.split(",")[-1], "!")
        notice = c2.next_event(5)
        self.assertEqual(notice.type, "gap")
        body = json.loads(notice.data)
        self.assertEqual((body["topic"], body["reason"]), ("wide.>", "positions_not_kept"))
        # The 32 most recent topics are carried and replayed exactly; the 8
        # oldest resume live (the notice above said so).
        carried = {t: m for i, (t, m) in enumerate(missed.items()) if i >= topics - TOPICS}
        self.assert_exact(c2.events(2 * TOPICS, timeout=10), carried)
        self.assertEqual(c2.assert_quiet(0.3), [])


if __name__ == "__main__":
    unittest.main()
