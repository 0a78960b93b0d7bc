"""Measurements an attack test reports: a process's memory and CPU, and a
/metrics value. Read from /proc of the heraldd the test started."""
import os
import re

from heraldd import http_call

_TICKS = os.sysconf("SC_CLK_TCK")

# A sanitizer build of heraldd (CTest points $HERALDD into build/asan or
# build/tsan): slower, and ASan keeps freed memory in quarantine, so memory
# bounds are checked on release builds only and time bounds get slack.
SANITIZED = any(x in os.environ.get("HERALDD", "") for x in ("asan", "tsan", "ubsan"))


def rss_mib(pid):
    """Resident set size in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def metric(port, name, labels=""):
    """The value of one /metrics sample (`labels` as written, e.g. '{reason="x"}'), or None."""
    _, body = http_call(port, "GET", "/metrics")
    m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", body.decode(), re.M)
    return float(m.group(1)) if m else None


def report(test, what, value):
    """Prints a figure the closing note and docs/ROBUSTNESS.md can quote."""
    print(f"\n[figure] {type(test).__name__}.{test._testMethodName}: {what} = {value}", flush=True)
