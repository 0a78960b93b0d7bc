"""A TCP fault proxy for the robustness suite: 127.0.0.1:`port` forwards to
127.0.0.1:`target_port`, and the path can be broken at any moment, for the
connections already open and for new ones alike:

  pass        bytes flow untouched
  blackhole   connections stay open (accepted, never closed) but carry
              nothing: bytes are read and dropped in both directions, so
              neither peer sees a FIN, a RST or back-pressure — only silence,
              as when a peer vanishes; new connections are accepted and held
  delay       every chunk is forwarded `delay_ms` late (per direction, in order)
  throttle    each direction is limited to `rate` bytes per second
  reset       open connections are reset (SO_LINGER 0, then close: an RST);
              new ones are accepted and reset at once

    with FaultProxy(target_port) as p:
        connect to p.port ...
        p.set_mode("blackhole"); p.set_mode("throttle", rate=2000); p.set_mode("pass")

The API of tests/integration/cluster_util.FaultProxy is kept (cut("blackhole"
| "reset"), heal(), set_target(), address, connections(), stop()) so either
can drive a peer link; that one stays as it is for test_cluster.py.

`upstream_rcvbuf` sets SO_RCVBUF on the proxy's side towards the target
(before connecting), so a throttled reader pushes back on the server quickly.
Threads are daemons; every wait is bounded; stop() ends everything the proxy
opened.
"""
import select
import socket
import struct
import threading
import time

MODES = ("pass", "blackhole", "delay", "throttle", "reset")


def rst_close(sock):
    """Closes with a reset (RST) rather than an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pair:
    """One proxied connection: client <-> upstream, one thread per direction."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client, self.upstream = client, upstream
        self.lock = threading.Lock()
        self.closed = False
        self.half = 0
        self.threads = []
        self.bytes = {"up": 0, "down": 0}

    def close(self, rst=True):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            if rst:
                rst_close(s)
            else:
                try:
                    s.close()
                except OSError:
                    pass

    def pump(self, src, dst, direction):
        budget = 0.0  # throttle: bytes this direction may still send
        last = time.monotonic()
        try:
            while not self.closed and not self.proxy._stopped:
                mode, params = self.proxy.mode_now()
                if mode == "reset":
                    self.close(rst=True)
                    return
                try:
                    r, _, _ = select.select([src], [], [], 0.05)
                except (ValueError, OSError):
                    break
                if not r:
                    continue
                mode, params = self.proxy.mode_now()
                if mode == "throttle":
                    rate = max(1, int(params.get("rate", 1000)))
                    now = time.monotonic()
                    budget = min(rate, budget + (now - last) * rate)  # at most 1 s of burst
                    last = now
                    if budget < 1:
                        time.sleep(min(0.05, (1 - budget) / rate))
                        continue
                    data = src.recv(int(min(65536, budget)))
                    budget -= len(data)
                else:
                    data = src.recv(65536)
                    last = time.monotonic()
                if not data:
                    with self.lock:
                        self.half += 1
                        both = self.half == 2
                    if both:
                        self.close(rst=False)
                    elif self.proxy.mode_now()[0] != "blackhole":
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    return
                mode, params = self.proxy.mode_now()
                if mode == "blackhole":
                    continue  # dropped on the floor; both sockets stay open
                if mode == "reset":
                    self.close(rst=True)
                    return
                if mode == "delay":
                    time.sleep(params.get("delay_ms", 0) / 1000.0)
                    mode, params = self.proxy.mode_now()  # cut while the chunk waited?
                    if mode == "blackhole":
                        continue
                    if mode == "reset":
                        self.close(rst=True)
                        return
                dst.sendall(data)
                self.bytes[direction] += len(data)
        except OSError:
            self.close()


class FaultProxy:
    def __init__(self, target_port=None, port=0, upstream_rcvbuf=None):
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", port))
        self._lsock.listen(128)
        self._lsock.settimeout(0.05)
        self.port = self._lsock.getsockname()[1]
        self.upstream_rcvbuf = upstream_rcvbuf
        self._target = target_port
        self._target_set = threading.Event()
        if target_port is not None:
            self._target_set.set()
        self._lock = threading.Lock()
        self._mode = "pass"
        self._params = {}
        self._pairs = set()
        self._held = []  # accepted while blackholed
        self._stopped = False
        self.accepted = 0
        self.forwarded = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def set_target(self, port):
        self._target = port
        self._target_set.set()

    def mode_now(self):
        with self._lock:
            return self._mode, self._params

    def set_mode(self, mode, **params):
        """Switches every open connection and every new one to `mode`.
        Leaving blackhole resets what the blackhole held (its bytes are gone:
        carrying on would corrupt the stream)."""
        assert mode in MODES, mode
        with self._lock:
            was = self._mode
            self._mode, self._params = mode, dict(params)
            pairs = list(self._pairs)
            held = []
            if mode == "reset" or (was == "blackhole" and mode != "blackhole"):
                held, self._held = self._held, []
                self._pairs = set() if mode == "reset" else self._pairs
        if mode == "reset":
            for p in pairs:
                p.close(rst=True)
        if was == "blackhole" and mode != "blackhole":
            for p in pairs:
                p.close(rst=True)
            with self._lock:
                self._pairs -= set(pairs)
        for s in held:
            rst_close(s)

    # cluster_util.FaultProxy's API
    def cut(self, mode="blackhole"):
        assert mode in ("blackhole", "reset"), mode
        self.set_mode(mode)

    def heal(self):
        self.set_mode("pass")

    def _accept_loop(self):
        while not self._stopped:
            try:
                client, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        with self._lock:
            mode = self._mode
            if mode == "blackhole":
                self._held.append(client)
                return
        if mode == "reset" or self._stopped:
            self.refused += 1
            rst_close(client)
            return
        if not self._target_set.wait(5):
            rst_close(client)
            return
        try:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.upstream_rcvbuf:
                upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.upstream_rcvbuf)
            upstream.settimeout(2)
            upstream.connect(("127.0.0.1", self._target))
        except OSError:
            rst_close(client)
            return
        for s in (client, upstream):
            s.settimeout(5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(self, client, upstream)
        with self._lock:
            if self._mode == "reset" or self._stopped:
                pair.close()
                return
            self._pairs.add(pair)
            self.forwarded += 1
        for src, dst, d in ((client, upstream, "up"), (upstream, client, "down")):
            t = threading.Thread(target=pair.pump, args=(src, dst, d), daemon=True)
            pair.threads.append(t)
            t.start()

    def connections(self):
        with self._lock:
            self._pairs = {p for p in self._pairs if not p.closed}
            return len(self._pairs)

    def stop(self):
        self._stopped = True
        with self._lock:
            pairs, self._pairs = list(self._pairs), set()
            held, self._held = self._held, []
        try:
            self._lsock.close()
        except OSError:
            pass
        for p in pairs:
            p.close()
        for s in held:
            rst_close(s)
        self._thread.join(2)
        for p in pairs:
            for t in p.threads:
                t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
