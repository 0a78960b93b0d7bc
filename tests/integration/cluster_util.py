"""Helpers for multi-process cluster tests: several real heraldd nodes on
127.0.0.1 (every port 0), the mesh they form, and a TCP fault proxy that can
cut and heal a peer link without restarting anything.

    nodes = start_cluster(3)          # n1..n3, each seeded with the one before
    wait_mesh(nodes)                  # every member live, every link up
    get_json(nodes[0].port, "/cluster")
    stop_all(nodes)

Every process is stopped by its own PID (Heraldd.stop); every wait has a
deadline.
"""
import http.client
import json
import os
import re
import sys
import time

from heraldd import Heraldd

# Failure detection fast enough for tests (defaults: 500 / 2500 / 5000 ms).
HEARTBEAT_MS = 200
PEER_TIMEOUT_MS = 1000
RECONNECT_MAX_MS = 1000
FAST_CLUSTER = (f"heartbeat_interval_ms = {HEARTBEAT_MS}\n"
                f"peer_timeout_ms = {PEER_TIMEOUT_MS}\n"
                f"reconnect_max_ms = {RECONNECT_MAX_MS}\n")


def cluster_config(extra_cluster="", top=""):
    """A config file: `top` keys, then a [cluster] section with the fast timings."""
    return top + "[cluster]\n" + FAST_CLUSTER + extra_cluster


def node_env(secret=None):
    """The environment for a node: ours, without an inherited cluster secret."""
    env = {k: v for k, v in os.environ.items() if k != "HERALD_CLUSTER_SECRET"}
    if secret is not None:
        env["HERALD_CLUSTER_SECRET"] = secret
    return env


def start_node(node_id, seeds=(), *, config=None, extra_args=(), secret=None, grpc=True,
               start_timeout=10.0):
    """Starts one clustered node (HTTP, gRPC, peer links on port 0); returns
    the started Heraldd (its .port, .grpc_port, .cluster_port are set)."""
    args = ["--node-id", node_id, "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0"]
    if grpc:
        args += ["--grpc-listen", "127.0.0.1:0"]
    for s in seeds:
        args += ["--seed", s]
    args += list(extra_args)
    h = Heraldd(*args, config=cluster_config() if config is None else config,
                env=node_env(secret), start_timeout=start_timeout)
    h.node_id = node_id
    h.__enter__()
    return h


def peer_address(node):
    return f"127.0.0.1:{node.cluster_port}"


def start_cluster(n, *, config=None, extra_args=None, secret=None, ids=None):
    """Starts n nodes n1..nN; node i is seeded with node i-1 (n1 with none).
    `extra_args`: {node index: [flags]}. Stops what it started on failure."""
    ids = ids or [f"n{i + 1}" for i in range(n)]
    nodes = []
    try:
        for i, node_id in enumerate(ids):
            seeds = [peer_address(nodes[i - 1])] if i else []
            nodes.append(start_node(node_id, seeds, config=config, secret=secret,
                                    extra_args=(extra_args or {}).get(i, ())))
    except BaseException:
        stop_all(nodes)
        raise
    return nodes


def stop_all(nodes):
    """Stops every node with SIGTERM; each must exit 0 (a clean shutdown, and
    under the sanitizers no report). A node killed earlier (-9) is skipped."""
    failures = []
    for h in nodes:
        if h is None:
            continue
        already_dead = h.proc is not None and h.proc.poll() is not None
        rc = h.stop()
        if not already_dead and rc != 0:
            failures.append(f"{' '.join(h.args[:2])}: exit status {rc}\n{h.logs()[-3000:]}")
    if failures:
        raise AssertionError("unclean shutdown:\n" + "\n".join(failures))


def get_json(port, path, timeout=5.0):
    """GET on a fresh connection; the decoded JSON body (status must be 200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise AssertionError(f"GET {path} on :{port}: {resp.status} {body!r}")
    return json.loads(body)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def metrics(port, timeout=5.0):
    """{(name, labels): value} of every /metrics sample; labels is the raw
    `{...}` text ('' when none), e.g. ('herald_cluster_link_up', '{peer="n2"}')."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric(port, name, **labels):
    """One sample of /metrics (None when absent)."""
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    return metrics(port).get((name, want))


def mesh_state(node):
    """(live member ids, ids of peers with an up link) as the node reports them."""
    c = get_json(node.port, "/cluster")
    live = sorted(m["node_id"] for m in c["members"] if m["live"])
    up = sorted(l["peer"] for l in c["links"] if l["state"] == "up")
    return live, up


def wait_mesh(nodes, n=None, timeout=10.0, interval=0.05):
    """Polls GET /cluster on every node until each lists exactly the given
    nodes as live members and has an up link to each of the others. Returns
    the seconds it took; raises AssertionError with every node's view."""
    ids = sorted(h.node_id for h in nodes)
    n = len(nodes) if n is None else n
    assert n == len(ids), "wait_mesh: n must match the nodes given"
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        views = {}
        ok = True
        for h in nodes:
            try:
                live, up = mesh_state(h)
            except (OSError, AssertionError, ValueError) as e:
                views[h.node_id] = repr(e)
                ok = False
                continue
            views[h.node_id] = {"live": live, "up": up}
            if live != ids or up != [i for i in ids if i != h.node_id]:
                ok = False
        if ok:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            raise AssertionError(f"no full mesh of {ids} within {timeout}s: {views}")
        time.sleep(interval)


def _interest_now(nodes):
    return [metric(h.port, "herald_peer_subscriptions") or 0 for h in nodes]


def peer_interest(nodes, settle=0.1, timeout=5.0):
    """Each node's herald_peer_subscriptions (the other nodes' interest it
    holds), in the order of `nodes`, once it has settled: the same in two
    reads `settle` seconds apart. Read it before subscribing, then
    wait_interest. Settled, because an earlier test's closed sockets arrive
    as decrements, and a link that just came up sends its whole set (the
    readiness canaries' patterns too), either of which would skew a
    reading taken while it lands."""
    last = _interest_now(nodes)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(settle)
        now = _interest_now(nodes)
        if now == last or time.monotonic() > deadline:
            return now
        last = now


def wait_interest(nodes, before, grown_by, timeout=10.0):
    """Waits until each node holds at least grown_by[i] more peer interest
    than before[i]; raises AssertionError after `timeout`. A subscription
    receives what is published once its interest reached the topic's owner
    (CLUSTER.md); its subscribe ack is local and does not wait for that.
    Interest is announced to every peer, so a test that does not know the
    owner waits for all of them."""
    deadline = time.monotonic() + timeout
    while True:
        now = _interest_now(nodes)
        if all(n >= b + g for n, b, g in zip(now, before, grown_by)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"peer interest {now}, wanted {before} grown by {grown_by}")
        time.sleep(0.02)


def owner_of(nodes, topic, publish, rounds=5):
    """Which node owns `topic`, found through the public API: a publish on a
    node that does not own the topic is forwarded (herald_cluster_forwards_total
    rises there). `publish(node, topic)` publishes one message on that node.
    Must not race other publishes on these nodes. The readiness canaries do
    race it: each node forwards a request to every peer each interval, so the
    owner's counter may rise beside our publish. A canary only ever adds, so
    a round that names no owner is asked again (a round never names two)."""
    for _ in range(rounds):
        owners = []
        for h in nodes:
            before = metric(h.port, "herald_cluster_forwards_total")
            publish(h, topic)
            after = metric(h.port, "herald_cluster_forwards_total")
            if after == before:
                owners.append(h.node_id)
        if owners:
            break
    if len(owners) != 1:
        raise AssertionError(f"{topic}: {len(owners)} nodes sequence it locally: {owners}")
    return owners[0]


# The TCP fault proxy (pass, blackhole, delay, throttle, reset) is the
# robustness suite's: one implementation for both.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "robustness"))
from fault_proxy import FaultProxy  # noqa: E402,F401


class TapProxy:
    """127.0.0.1:`port` forwards to 127.0.0.1:`target_port` and keeps a copy
    of every byte each way (to check what a peer link puts on the wire).
    Daemon threads; stop() closes everything it opened."""

    def __init__(self, target_port):
        import socket
        import threading
        self.target_port = target_port
        self.lock = threading.Lock()
        self.up, self.down = bytearray(), bytearray()  # client→target, target→client
        self.socks = []
        self.stopped = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, self.up),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.down),
                             daemon=True).start()

    def _pipe(self, src, dst, record):
        import socket
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def captured(self):
        """(bytes client→target, bytes target→client) so far."""
        with self.lock:
            return bytes(self.up), bytes(self.down)

    def stop(self):
        self.stopped = True
        self.listener.close()
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
