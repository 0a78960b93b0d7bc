"""The examples' one-command demos run against a real heraldd and hold their
own invariants (they exit non-zero otherwise)."""
import os
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_demo(path, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, path), *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


class Examples(unittest.TestCase):
    def test_notifications_each_payment_notified_once_and_seen_by_the_browser(self):
        r = run_demo("examples/notifications/demo.py")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("each payment once: True", r.stdout)
        self.assertIn("saw 20 payments live, in order: True", r.stdout)

    def test_judge_a_judge_killed_mid_submission_loses_nothing_and_each_verdict_is_once(self):
        r = run_demo("examples/judge/demo.py")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"killed judge pid \d+ while it judged submissions\.\d+")
        self.assertIn("30 submissions judged, one verdict each: True", r.stdout)
        self.assertRegex(r.stdout, r"submissions\.\d+: judged on delivery [2-9] by pid \d+")
        self.assertIn("queue after: pending 0, acked 30", r.stdout)

    def test_ticker_feed_publishes_to_a_node_serving_the_dashboard(self):
        r = run_demo("examples/ticker/demo.py", "--seconds", "1", "--rate", "50")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"ticker dashboard: http://127.0.0.1:\d+/")
        self.assertRegex(r.stdout, r"published [1-9]\d* ticks")

    def test_cluster_three_nodes_deliver_a_message_published_on_n2_to_n1_and_n3(self):
        r = run_demo("examples/cluster/demo.py", "--check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("mesh: 3 nodes, every link up: True", r.stdout)
        self.assertRegex(r.stdout, r"n2: chat demo at http://127.0.0.1:\d+/")
        self.assertIn("n1 (WebSocket) received it: True", r.stdout)
        self.assertIn("n3 (SSE) received it: True", r.stdout)


if __name__ == "__main__":
    unittest.main()
