"""docs/METRICS.md lists every metric heraldd exports, as /metrics declares it.

heraldd is started with every front that has metrics of its own (HTTP,
WebSocket, SSE, gRPC, TLS, hooks, a one-node cluster); its /metrics declares
each metric once (`# HELP` and `# TYPE`, samples or not), from the one table
in server/*_metrics.cc. The doc's table must hold exactly those names, with
the same type and help text: a metric added, renamed or re-described
without the doc fails here. To write the doc from the running table:

    HERALD_WRITE_METRICS_DOC=1 HERALDD=build/release/server/heraldd \\
        /usr/bin/python3 -m unittest test_metrics_doc
"""
import os
import re
import unittest
import urllib.request

from cluster_util import cluster_config
from heraldd import Heraldd
from tls_util import Pki

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "METRICS.md")

HEAD = """# Metrics

Every metric heraldd exports at `GET /metrics` (Prometheus text format
0.0.4), as its one table declares it (`server/*_metrics.cc`). A front's
metrics are there when the front is: gRPC with `--grpc-listen`, TLS with
`[tls]`, hooks with `[hooks]`, the cluster with `[cluster]`. Counters whose
limit trips are also written to heraldd's log, once per
`limit_log_interval_ms` (docs/CONFIG.md). Labels: `queue` (a work queue),
`peer` (a cluster link), `reason`, `code`, `result` and others, as each
help text says.

This file is checked against a running heraldd by
`tests/integration/test_metrics_doc.py`, which also rewrites it
(`HERALD_WRITE_METRICS_DOC=1`).

| name | type | help |
|---|---|---|
"""

_ROW = re.compile(r"^\| `([a-z0-9_]+)` \| (\w+) \| (.*) \|$")


def declared(text):
    """{name: (type, help)} from /metrics' HELP and TYPE lines, in order."""
    helps, out = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE "):].partition(" ")
            out[name] = (kind, helps.get(name, ""))
    return out


def cell(text):
    return text.replace("|", "\\|")


def render(metrics):
    rows = [f"| `{name}` | {kind} | {cell(help_text)} |"
            for name, (kind, help_text) in metrics.items()]
    return HEAD + "\n".join(rows) + "\n"


def documented(text):
    out = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3).replace("\\|", "|"))
    return out


class MetricsDoc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.pki.ca("ca")
        cls.pki.node("server", "ca")

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def test_the_doc_lists_every_metric_with_its_type_and_help(self):
        config = cluster_config(top=(
            "[tls]\n"
            'listen = "127.0.0.1:0"\n'
            f'cert_file = "{self.pki.path("server.pem")}"\n'
            f'key_file = "{self.pki.path("server.key")}"\n'
            "[hooks]\n"
            'url = "http://127.0.0.1:9/hooks"\n'))
        with Heraldd("--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
                     "--cluster-listen", "127.0.0.1:0", config=config) as h:
            with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/metrics", timeout=5) as r:
                live = declared(r.read().decode())
        # Every front started: one metric of each is declared.
        for name in ("herald_http_requests_total", "herald_ws_protocol_errors_total",
                     "herald_grpc_publish_refused_total", "herald_cluster_link_overflows_total",
                     "herald_subscriptions_refused_total"):
            self.assertIn(name, live)
        self.assertTrue(any(n.startswith("herald_tls_") for n in live), sorted(live))
        self.assertTrue(any(n.startswith("herald_hook") for n in live), sorted(live))
        if os.environ.get("HERALD_WRITE_METRICS_DOC"):
            with open(DOC, "w") as f:
                f.write(render(live))
        with open(DOC) as f:
            doc = documented(f.read())
        missing = sorted(set(live) - set(doc))
        stale = sorted(set(doc) - set(live))
        changed = sorted(n for n in set(live) & set(doc) if live[n] != doc[n])
        hint = " (HERALD_WRITE_METRICS_DOC=1 rewrites docs/METRICS.md; see this file's docstring)"
        self.assertEqual(missing, [], "exported but not in docs/METRICS.md" + hint)
        self.assertEqual(stale, [], "in docs/METRICS.md but not exported" + hint)
        self.assertEqual(changed, [], "type or help differs from docs/METRICS.md" + hint)


if __name__ == "__main__":
    unittest.main()
