"""heraldd under systemd (deploy/heraldd.service.in, Type=notify): READY=1
once every listener is bound, WATCHDOG=1 while its loops turn, STOPPING=1
on the way out. Under `systemd-run --user` where the machine has a user
manager; everywhere, with a notify socket of the test's own, speaking the
protocol systemd does (sd_notify(3): datagrams on $NOTIFY_SOCKET)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from heraldd import HERALDD, Heraldd, http_call, stop_process

UNIT_TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "heraldd.service.in")


class NotifySocket:
    """A datagram socket standing in for systemd's."""

    def __init__(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def next(self, timeout):
        """The next message as a dict of its KEY=VALUE lines, or None."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        return dict(line.split("=", 1) for line in data.split("\n") if "=" in line)

    def wait_for(self, key, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m and key in m:
                return m
        return None

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class NotifyProtocol(unittest.TestCase):
    def setUp(self):
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def env(self, **extra):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        env.update(extra)
        return env

    def test_ready_comes_once_every_listener_is_bound(self):
        proc = subprocess.Popen([HERALDD, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"],
                                env=self.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            ready = self.notify.wait_for("READY", 10)
            self.assertIsNotNone(ready, "no READY=1")
            self.assertEqual(ready["READY"], "1")
            # Its status names the port, which takes connections already.
            port = int(ready["STATUS"].rsplit(" ", 1)[1])
            resp, body = http_call(port, "GET", "/healthz")
            self.assertEqual(resp.status, 200, body)
            # Without WATCHDOG_USEC, no pings.
            self.assertIsNone(self.notify.wait_for("WATCHDOG", 0.5))
            proc.send_signal(signal.SIGTERM)
            stopping = self.notify.wait_for("STOPPING", 10)
            self.assertIsNotNone(stopping, "no STOPPING=1")
            self.assertEqual(proc.wait(10), 0)
        finally:
            stop_process(proc)

    def test_the_watchdog_is_pinged_every_quarter_period_while_the_loops_turn(self):
        # WatchdogSec=400ms: a ping about every 100 ms.
        with Heraldd(env=self.env(WATCHDOG_USEC="400000")) as h:
            self.assertIsNotNone(self.notify.wait_for("READY", 10))
            start = time.monotonic()
            pings = 0
            while time.monotonic() - start < 2.0:
                m = self.notify.next(1.0)
                self.assertIsNotNone(m, "the watchdog went unpinged for 1 s")
                pings += "WATCHDOG" in m
            # About ten in 2 s; a loaded machine may delay a few.
            self.assertGreaterEqual(pings, 5)
            resp, _ = http_call(h.port, "GET", "/healthz")
            self.assertEqual(resp.status, 200)

    def test_a_watchdog_for_another_process_is_not_ours(self):
        # WATCHDOG_PID names the process systemd watches: not this one.
        with Heraldd(env=self.env(WATCHDOG_USEC="400000", WATCHDOG_PID="1")):
            self.assertIsNotNone(self.notify.wait_for("READY", 10))
            self.assertIsNone(self.notify.wait_for("WATCHDOG", 1.0))


def user_manager():
    """Whether `systemd-run --user` works here (a user manager on a bus)."""
    if not shutil.which("systemd-run") or not shutil.which("systemctl"):
        return False
    r = subprocess.run(["systemd-run", "--user", "--wait", "--quiet", "true"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


class UnderSystemd(unittest.TestCase):
    def test_the_unit_file_is_valid(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze")
        with tempfile.TemporaryDirectory() as d:
            unit = os.path.join(d, "heraldd.service")
            with open(UNIT_TEMPLATE) as f:
                text = f.read().replace("@HERALDD_PATH@", os.path.abspath(HERALDD))
            self.assertNotIn("@HERALDD_PATH@", text)
            with open(unit, "w") as f:
                f.write(text)
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            # Unknown keys and bad values are only warnings to systemd.
            self.assertNotIn(unit, r.stderr + r.stdout)

    def test_a_transient_notify_service_starts_is_watched_and_stops(self):
        if not user_manager():
            self.skipTest("no systemd user manager here (systemd-run --user); "
                          "NotifyProtocol checks the protocol instead")
        unit = f"herald-test-{os.getpid()}"
        r = subprocess.run(["systemd-run", "--user", "--unit", unit, "-p", "Type=notify",
                            "-p", "WatchdogSec=2s", os.path.abspath(HERALDD), "--listen",
                            "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            def show(prop):
                return subprocess.run(["systemctl", "--user", "show", "-p", prop, "--value",
                                       unit], capture_output=True, text=True).stdout.strip()
            self.assertEqual(show("ActiveState"), "active")
            time.sleep(5)  # past WatchdogSec: alive only if it pings
            self.assertEqual(show("ActiveState"), "active")
            self.assertEqual(show("NRestarts"), "0")
        finally:
            subprocess.run(["systemctl", "--user", "stop", unit], capture_output=True, timeout=60)
            subprocess.run(["systemctl", "--user", "reset-failed", unit], capture_output=True)


if __name__ == "__main__":
    unittest.main()
