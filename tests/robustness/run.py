#!/usr/bin/env python3
"""Runs the fault-and-abuse suite against one heraldd binary and writes the
report.

    python3 tests/robustness/run.py            # every scenario
    python3 tests/robustness/run.py a e        # some of them
    HERALDD=build/asan/server/heraldd python3 tests/robustness/run.py

The binary is $HERALDD (default build/release/server/heraldd). Each scenario
runs in a child process of its own (its threads, sockets and heraldd go with
it) under a deadline; on a timeout the child's process group — which this
runner created and which holds only what that child started — is killed.

Prints a table, writes docs/ROBUSTNESS.md (the results of other binaries
already in it are kept; a run of some scenarios replaces only theirs) and
exits 1 if any scenario failed (SKIP — a scenario that cannot run against
this binary, with the reason — does not fail the run).
"""
import datetime
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REPORT = os.path.join(ROOT, "docs", "ROBUSTNESS.md")
CHILD_TIMEOUT_S = 120
MARK = "@@robustness-result@@"
DATA_BEGIN = "<!-- robustness-results"
DATA_END = "robustness-results -->"


def binary():
    path = os.environ.get("HERALDD") or os.path.join(ROOT, "build", "release", "server", "heraldd")
    return os.path.abspath(path)


def child(name):
    sys.path.insert(0, HERE)
    import scenarios
    d = scenarios.run_scenario(name)
    sys.stdout.write("\n" + MARK + json.dumps(d) + "\n")
    sys.stdout.flush()


def run_child(name, env, timeout_s=CHILD_TIMEOUT_S):
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", name],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this runner created for the child
        out, err = proc.communicate()
        return {"name": name, "title": "", "what": "", "figures": [], "verdict": "FAIL",
                "reason": f"timed out after {timeout_s} s", "seconds": timeout_s}
    for line in out.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"name": name, "title": "", "what": "", "figures": [], "verdict": "FAIL",
            "reason": f"the scenario process exited {proc.returncode} without a result: "
                      f"{(err or out)[-600:]}", "seconds": round(time.monotonic() - t0, 1)}


# --- the report -------------------------------------------------------------------------

def load_previous():
    try:
        with open(REPORT) as f:
            text = f.read()
    except OSError:
        return {}
    if DATA_BEGIN not in text:
        return {}
    blob = text.split(DATA_BEGIN, 1)[1].split(DATA_END, 1)[0]
    try:
        return json.loads(blob)
    except ValueError:
        return {}


def cell(v):
    return str(v).replace("|", "\\|").replace("\n", " ")


def render(runs, order, titles, whats):
    """runs: {label: {"binary", "when", "version", "results": {name: result}}}."""
    labels = sorted(runs, key=lambda x: (x != "release", x))
    out = []
    w = out.append
    w("# Robustness: the fault-and-abuse suite\n")
    w("`tests/robustness/` attacks a real heraldd the way a hostile or broken network does: "
      "readers that stop reading, clients that vanish without a FIN, fragment floods and "
      "decompression bombs, slow-loris connections, request-smuggling vectors, descriptor "
      "exhaustion and a peer link cut mid-stream; and a service embedding libherald that "
      "starts and stops it 100 times. Every scenario starts its own heraldd (or embedding "
      "program) on 127.0.0.1 with a configuration tuned for fast detection, measures, and "
      "stops only the processes it started. Every wait has a deadline; the whole suite "
      "takes about half a minute per binary on a 2-core machine (both binaries: about a minute).\n")
    w("Losses are judged by a message ledger (`ledger.py`): publishers tag each message "
      "with (publisher, sequence) and record the broker's acknowledgement; subscribers "
      "record every message, gap notice and the end of their connection. A message that "
      "was acknowledged but never received is *gap-reported* when a gap notice names it "
      "or arrived where it should have been (or the connection ended after the last one "
      "received) and a *silent gap* otherwise. **Silent gap must be 0 in every "
      "scenario.** The TCP faults come from `fault_proxy.py` (pass, blackhole, delay, "
      "throttle, reset).\n")
    w("## How to run\n")
    w("    make test-robustness                     # release, then the ASan build")
    w("    python3 tests/robustness/run.py          # build/release/server/heraldd, every scenario")
    w("    python3 tests/robustness/run.py a e      # some scenarios")
    w("    HERALDD=build/asan/server/heraldd ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \\")
    w("        python3 tests/robustness/run.py\n")
    w("The runner prints a table, rewrites this file (keeping the other binary's results) "
      "and exits 1 if any scenario fails. Under a sanitizer build the timing bounds get "
      "three times the slack; a sanitizer report or a non-zero exit of heraldd fails the "
      "scenario. SKIP means the scenario cannot run against that binary (the reason says "
      "why); it does not fail the run.\n")
    w("## Summary\n")
    w("| scenario | " + " | ".join(labels) + " |")
    w("| --- | " + " | ".join("---" for _ in labels) + " |")
    for n in order:
        row = [f"{n}. {titles.get(n, '')}"]
        for lb in labels:
            res = runs[lb]["results"].get(n)
            row.append(f"**{res['verdict']}** ({res.get('seconds', '?')} s)" if res else "—")
        w("| " + " | ".join(cell(x) for x in row) + " |")
    w("")
    for lb in labels:
        r = runs[lb]
        w(f"- **{lb}**: `{r['binary']}` ({r['version']}, built {r['built']}), run {r['when']}")
    w("")
    failing = [(n, lb, runs[lb]["results"][n]) for n in order for lb in labels
               if runs[lb]["results"].get(n, {}).get("verdict") in ("FAIL", "SKIP")]
    if failing:
        w("### Not passing\n")
        for n, lb, res in failing:
            w(f"- **{n}** ({lb}, {res['verdict']}): {cell(res['reason'])}")
        w("")
    w("## Scenarios\n")
    for n in order:
        w(f"### {n}. {titles.get(n, '')}\n")
        w(" ".join(line.strip() for line in whats.get(n, "").splitlines()) + "\n")
        for lb in labels:
            res = runs[lb]["results"].get(n)
            if not res:
                continue
            w(f"**{lb}** — `{runs[lb]['binary']}`, {res.get('when', runs[lb]['when'])}: "
              f"**{res['verdict']}** — {cell(res['reason'])}\n")
            w("| figure | value |")
            w("| --- | --- |")
            for label, value, unit in res["figures"]:
                w(f"| {cell(label)} | {cell(value)} {cell(unit)} |")
            w("")
            if res.get("table"):
                w("<details><summary>every vector</summary>\n")
                w("| # | vector | status | responses | closed | smuggled run | verdict |")
                w("| --- | --- | --- | --- | --- | --- | --- |")
                for row in res["table"]:
                    i, name, status, nresp, closed, run, ok = row
                    w(f"| {i} | {cell(name)} | {status} | {nresp} | {'yes' if closed else 'no'} | "
                      f"{'**YES**' if run else 'no'} | {ok} |")
                w("\n</details>\n")
    # The figures again, as data: the next run of one binary keeps the other's.
    w(DATA_BEGIN)
    w("{")
    # ("--" escaped: an HTML comment must not contain "-->".)
    w(",\n".join(f"{json.dumps(lb)}: "
                 + json.dumps(runs[lb], sort_keys=True, ensure_ascii=False).replace("--", "-\\u002d")
                 for lb in labels))
    w("}")
    w(DATA_END)
    return "\n".join(out) + "\n"


def label_of(path):
    parts = path.split(os.sep)
    if "build" in parts and parts.index("build") + 1 < len(parts):
        return parts[parts.index("build") + 1]
    return path


def main(argv):
    if len(argv) >= 2 and argv[0] == "--child":
        child(argv[1])
        return 0
    sys.path.insert(0, HERE)
    bin_path = binary()
    if not os.access(bin_path, os.X_OK):
        print(f"run.py: {bin_path} is not an executable heraldd (set HERALDD)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["HERALDD"] = bin_path
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    label = label_of(os.path.relpath(bin_path, ROOT))
    if "asan" in label:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    os.environ["HERALDD"] = bin_path
    import ledger
    ledger._self_test()
    import scenarios
    order = list(scenarios.SCENARIOS)
    names = argv or order
    unknown = [n for n in names if n not in scenarios.SCENARIOS]
    if unknown:
        print(f"run.py: unknown scenarios {unknown}; known: {order}", file=sys.stderr)
        return 2
    version = subprocess.run([bin_path, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    built = datetime.datetime.fromtimestamp(os.path.getmtime(bin_path)).strftime("%Y-%m-%d %H:%M")
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"robustness suite: {os.path.relpath(bin_path, ROOT)} ({version}), {when}")
    t_all = time.monotonic()
    results = {}
    for n in names:
        print(f"  {n}. {scenarios.SCENARIOS[n][0]} ...", end="", flush=True)
        res = run_child(n, env, scenarios.TIMEOUTS.get(n, CHILD_TIMEOUT_S))
        res["when"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        results[n] = res
        print(f" {res['verdict']} ({res.get('seconds', '?')} s)", flush=True)
    total = time.monotonic() - t_all
    # The table.
    print()
    print(f"{'':2}{'scenario':42} {'verdict':7} {'time':>6}  reason / key figures")
    for n in names:
        res = results[n]
        title = f"{n}. {scenarios.SCENARIOS[n][0]}"
        print(f"  {title:42} {res['verdict']:7} {res.get('seconds', 0):5.1f}s  "
              f"{res['reason'][:300]}")
    for n in names:
        res = results[n]
        print(f"\n  {n}. {scenarios.SCENARIOS[n][0]}: {res['verdict']}")
        for label_, value, unit in res["figures"]:
            print(f"      {label_}: {value} {unit}")
    failed = [n for n in names if results[n]["verdict"] == "FAIL"]
    skipped = [n for n in names if results[n]["verdict"] == "SKIP"]
    passed = len(names) - len(failed) - len(skipped)
    print(f"\n{total:.0f} s for {len(names)} scenarios against {os.path.relpath(bin_path, ROOT)}")
    print(f"robustness: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    # The report.
    runs = load_previous()
    prev = runs.get(label, {}).get("results", {}) if runs.get(label, {}).get("binary") == \
        os.path.relpath(bin_path, ROOT) else {}
    prev.update(results)
    runs[label] = {"binary": os.path.relpath(bin_path, ROOT), "version": version, "built": built,
                   "when": when, "results": prev}
    titles = {n: t for n, (t, _) in scenarios.SCENARIOS.items()}
    whats = {n: (fn.__doc__ or "") for n, (_, fn) in scenarios.SCENARIOS.items()}
    with open(REPORT, "w") as f:
        f.write(render(runs, order, titles, whats))
    print(f"report: {os.path.relpath(REPORT, ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
