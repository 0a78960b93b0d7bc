"""Mutual TLS on peer links: real heraldd nodes with certificates made by the
openssl command line for each run (a cluster CA, node certificates naming
127.0.0.1, and the wrong ones: another CA's, one naming another host).

    HERALDD=build/release/server/heraldd /usr/bin/python3 -m unittest -v test_cluster_tls
"""
import json
import os
import sys
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))

from cluster_util import (cluster_config, get_json, mesh_state, metric,  # noqa: E402
                          peer_address, start_node, stop_all, wait_mesh)
from heraldd import http_call, run_heraldd  # noqa: E402
import tls_util  # noqa: E402


class Pki(tls_util.Pki):
    def config(self, name, ca, key=None):
        return cluster_config(
            f'tls_cert_file = "{self.path(name + ".pem")}"\n'
            f'tls_key_file = "{self.path((key or name) + ".key")}"\n'
            f'tls_ca_file = "{self.path(ca + ".pem")}"\n')


class MutualTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.pki.ca("cluster-ca")
        cls.pki.ca("rogue-ca")
        for n in ("n1", "n2", "n3"):
            cls.pki.node(n, "cluster-ca")
        cls.pki.node("rogue", "rogue-ca")
        cls.pki.node("elsewhere", "cluster-ca", san="DNS:elsewhere.example")

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def start(self, node_id, seeds=(), config=None):
        h = start_node(node_id, seeds, config=config)
        self.addCleanup(lambda: h.proc.poll() is None and stop_all([h]))
        return h

    def assert_alone_for(self, nodes, seconds):
        """Each node stays without a link for `seconds` (dials keep failing)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for h in nodes:
                live, up = mesh_state(h)
                self.assertEqual((live, up), ([h.node_id], []),
                                 f"{h.node_id} linked: {get_json(h.port, '/cluster')}")
            time.sleep(0.1)

    def test_nodes_with_certificates_from_the_cluster_ca_form_a_mesh_over_tls(self):
        n1 = self.start("n1", config=self.pki.config("n1", "cluster-ca"))
        n2 = self.start("n2", [peer_address(n1)], config=self.pki.config("n2", "cluster-ca"))
        n3 = self.start("n3", [peer_address(n2)], config=self.pki.config("n3", "cluster-ca"))
        took = wait_mesh([n1, n2, n3])
        sys.stderr.write(f"\n    [tls] mesh of 3 over mutual TLS in {took * 1000:.0f} ms")
        for h in (n1, n2, n3):
            self.assertIn("(mutual TLS)", h.logs())
        # Publishes on n3 to topics owned across the mesh, read back on n1:
        # every one crossed at least one TLS link (forward or history fetch).
        for i in range(12):
            resp, body = http_call(n3.port, "POST", f"/publish/tls.t{i}", body=b"m%d" % i)
            self.assertEqual(resp.status, 200, body)
        for i in range(12):
            resp, body = http_call(n1.port, "GET", f"/history/tls.t{i}")
            self.assertEqual(resp.status, 200, body)
            msgs = json.loads(body)["messages"]
            self.assertEqual([m.get("payload") for m in msgs], [f"m{i}"], body)
        forwards = sum(metric(h.port, "herald_cluster_forwards_total") or 0 for h in (n3,))
        self.assertGreater(forwards, 0, "no publish was forwarded: the test proves nothing")

    def test_a_node_with_a_certificate_from_another_ca_gets_no_link(self):
        n1 = self.start("n1", config=self.pki.config("n1", "cluster-ca"))
        # The rogue ("n0" sorts first) dials n1, and trusts only its own CA.
        rogue = self.start("n0", [peer_address(n1)], config=self.pki.config("rogue", "rogue-ca"))
        self.assert_alone_for([n1, rogue], 2.0)
        self.assertFalse(any(m["node_id"] == "n0" for m in get_json(n1.port, "/cluster")["members"]))

    def test_the_peer_port_serves_only_clients_with_a_certificate_from_the_cluster_ca(self):
        # A client that trusts n1's certificate but presents none, or one
        # from another CA, is refused by n1 itself (the server side of mTLS).
        n1 = self.start("n1", config=self.pki.config("n1", "cluster-ca"))

        def read(name):
            with open(self.pki.path(name), "rb") as f:
                return f.read()

        def link_status(**client):
            creds = grpc.ssl_channel_credentials(root_certificates=read("cluster-ca.pem"),
                                                 **client)
            ch = grpc.secure_channel(f"127.0.0.1:{n1.cluster_port}", creds)
            try:
                call = ch.stream_stream("/herald.cluster.v1.Peer/Link")
                # One empty LinkBatch, then the half-close: n1 ends the link OK.
                for _ in call(iter([b""]), timeout=5):
                    pass
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()
            finally:
                ch.close()

        self.assertEqual(link_status(private_key=read("n3.key"),
                                     certificate_chain=read("n3.pem")), grpc.StatusCode.OK)
        self.assertEqual(link_status(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(link_status(private_key=read("rogue.key"),
                                     certificate_chain=read("rogue.pem")),
                         grpc.StatusCode.UNAVAILABLE)

    def test_a_plaintext_node_cannot_join_a_tls_cluster_nor_a_tls_node_a_plaintext_one(self):
        n1 = self.start("n1", config=self.pki.config("n1", "cluster-ca"))
        plain = self.start("n2", [peer_address(n1)])
        n3 = self.start("n3", [peer_address(plain)], config=self.pki.config("n3", "cluster-ca"))
        self.assert_alone_for([n1, plain, n3], 2.0)

    def test_a_certificate_that_does_not_name_the_dialled_host_is_refused(self):
        # n1 dials n2 at 127.0.0.1; n2's certificate names elsewhere.example only.
        n2 = self.start("n2", config=self.pki.config("elsewhere", "cluster-ca"))
        n1 = self.start("n1", [peer_address(n2)], config=self.pki.config("n1", "cluster-ca"))
        self.assert_alone_for([n1, n2], 2.0)

    def test_bad_tls_settings_stop_the_node_at_start_with_the_reason(self):
        cases = [
            (self.pki.config("n1", "cluster-ca", key="n2"), "does not match the certificate"),
            (self.pki.config("rogue", "cluster-ca"), "does not verify against tls_ca_file"),
            (cluster_config(f'tls_cert_file = "{self.pki.path("n1.pem")}"\n'),
             "go together"),
            (cluster_config(f'tls_cert_file = "{self.pki.path("n1.pem")}"\n'
                            f'tls_key_file = "{self.pki.path("n1.key")}"\n'
                            f'tls_ca_file = "{self.pki.path("missing.pem")}"\n'),
             "cannot read"),
        ]
        for config, reason in cases:
            path = os.path.join(self.pki.dir, "bad.toml")
            with open(path, "w") as f:
                f.write(config)
            p = run_heraldd("--config", path, "--node-id", "n1", "--listen", "127.0.0.1:0",
                            "--cluster-listen", "127.0.0.1:0")
            self.assertNotEqual(p.returncode, 0, reason)
            self.assertIn(reason, p.stderr, p.stderr)
            self.assertIn("cluster.tls_", p.stderr)


if __name__ == "__main__":
    unittest.main()
