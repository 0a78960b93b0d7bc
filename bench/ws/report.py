#!/usr/bin/env python3
"""Helpers for bench/ws/run.sh (Debian python3, standard library only).

  report.py annotate SERVER SCENARIO RC CPU_TICKS CLK_TCK [ws|wss] < generator-stdout >> ws.jsonl
      Takes the generator's JSON line (or synthesises a "failed" one when there
      is none), adds the server CPU figures measured by run.sh and the
      transport, prints one line.
  report.py failed SERVER SCENARIO "why" [ws|wss]         >> ws.jsonl
  report.py table ws.jsonl ws.md ws.json
      Writes the Markdown comparison (with heraldd/baseline ratios, and for the
      wss rows the ratios of issue #20) and a JSON array.
"""
import json
import sys

BASELINES = ("node-ws", "nats")


def annotate(server, scenario, rc, ticks, clk, transport="ws"):
    text = sys.stdin.read().strip().splitlines()
    row = None
    for line in reversed(text):
        try:
            row = json.loads(line)
            break
        except ValueError:
            continue
    if row is None:
        row = {"scenario": scenario, "server": server, "status": "failed",
               "error": f"generator exited with status {rc} and no result"}
    row["server"] = server
    row["transport"] = transport
    ticks, clk = int(ticks), int(clk)
    if ticks >= 0:
        cpu_us = ticks * 1e6 / clk
        row["server_cpu_us"] = cpu_us
        received = row.get("received", 0)
        row["server_cpu_us_per_delivery"] = cpu_us / received if received else None
        row["server_cpu_ticks"] = ticks
    print(json.dumps(row))


def failed(server, scenario, why, transport="ws"):
    print(json.dumps({"scenario": scenario, "server": server, "transport": transport,
                      "status": "failed", "error": why}))


def fmt(v, digits=1):
    if v is None or v == "" or (isinstance(v, (int, float)) and v < 0):
        return "–"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def ratio(a, b):
    if a is None or b is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "–"
    if a <= 0 or b <= 0:
        return "–"
    return f"{a / b:.2f}×"


def transport(r):
    return r.get("transport", "ws")


def ratio_value(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a <= 0 or b <= 0:
        return None
    return a / b


def tls_section(rows):
    """The wss rows against nats over TLS and against heraldd's own plaintext
    rows (issue #20); empty when the run had no wss row."""
    by = {(r.get("server"), r.get("scenario"), transport(r)): r
          for r in rows if r.get("status") == "ok"}
    scenarios = []
    for r in rows:
        if transport(r) == "wss" and r.get("scenario") not in scenarios:
            scenarios.append(r.get("scenario"))
    if not scenarios:
        return []
    g = lambda r, k: (r or {}).get(k)
    p99 = lambda r: ((r or {}).get("latency_us") or {}).get("p99")
    out = ["", "## TLS (wss): heraldd vs nats-server, and what TLS costs", "",
           "Both servers with TLS on their WebSocket listener, same certificate (EC P-256), "
           "same generator (OpenSSL client, TLS 1.2+, ALPN http/1.1, server verified "
           "against the run's test CA). Negotiated: " +
           "; ".join(sorted({f"{r.get('server')} {r.get('tls_version', '?')} "
                             f"{r.get('tls_cipher', '?')}"
                             for r in rows if transport(r) == "wss" and r.get("status") == "ok"}))
           + ".", "",
           "| scen. | heraldd/nats deliveries/s | heraldd/nats p99 | heraldd/nats CPU µs/deliv. "
           "| heraldd TLS/plain CPU µs/deliv. | nats TLS/plain CPU µs/deliv. |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for s in scenarios:
        hw, nw = by.get(("heraldd", s, "wss")), by.get(("nats", s, "wss"))
        hp, np_ = by.get(("heraldd", s, "ws")), by.get(("nats", s, "ws"))
        cpu = "server_cpu_us_per_delivery"
        out.append(f"| {s} | {ratio(g(hw, 'deliveries_per_s'), g(nw, 'deliveries_per_s'))} | "
                   f"{ratio(p99(hw), p99(nw))} | {ratio(g(hw, cpu), g(nw, cpu))} | "
                   f"{ratio(g(hw, cpu), g(hp, cpu))} | {ratio(g(nw, cpu), g(np_, cpu))} |")
    # The targets of issue #20, where this run measured them.
    out += ["", "Targets (issue #20): heraldd over wss at least 1× nats over wss in "
            "deliveries/s (≥ 1) and in CPU per delivery (heraldd/nats ≤ 1); heraldd's S3 "
            "CPU per delivery over TLS under 2× its plaintext one.", "",
            "| target | measured | met? |", "| --- | ---: | --- |"]
    yes = lambda ok: "–" if ok is None else ("yes" if ok else "no")
    for s in scenarios:
        hw, nw = by.get(("heraldd", s, "wss")), by.get(("nats", s, "wss"))
        t = ratio_value(g(hw, "deliveries_per_s"), g(nw, "deliveries_per_s"))
        c = ratio_value(g(hw, "server_cpu_us_per_delivery"), g(nw, "server_cpu_us_per_delivery"))
        met = None if t is None else t >= 1
        note = ""
        if t is not None and (g(hw, "rate") or 0) > 0:
            # Paced: the offered load is the ceiling; met when heraldd delivered
            # all of it (nothing lost, every expected delivery arrived).
            met = g(hw, "lost") == 0 and g(hw, "received") >= g(hw, "expected")
            note = " (paced: heraldd delivered " + ("all" if met else "not all") + " of the offered load)"
        out.append(f"| {s} wss deliveries/s heraldd/nats ≥ 1 | "
                   f"{'–' if t is None else f'{t:.2f}×'}{note} | {yes(met)} |")
        out.append(f"| {s} wss CPU/delivery heraldd/nats ≤ 1 | "
                   f"{'–' if c is None else f'{c:.2f}×'} | {yes(None if c is None else c <= 1)} |")
    if "S3" in scenarios:
        x = ratio_value(g(by.get(("heraldd", "S3", "wss")), "server_cpu_us_per_delivery"),
                        g(by.get(("heraldd", "S3", "ws")), "server_cpu_us_per_delivery"))
        out.append(f"| S3 heraldd CPU/delivery TLS/plain < 2 | "
                   f"{'–' if x is None else f'{x:.2f}×'} | {yes(None if x is None else x < 2)} |")
    out += ["", "S3 is paced (100 clients × 10 msg/s, everyone receives everything): its "
            "deliveries/s is the offered load when nothing is lost, so its ratio is ~1 by "
            "construction; CPU per delivery and p99 are what S3 compares. In S1 check the "
            "gen CPU % column: near 100% means the generator (which decrypts every "
            "delivery too) was the limit, not the server."]
    return out


def table(jsonl, md_path, json_path):
    rows = [json.loads(l) for l in open(jsonl) if l.strip()]
    with open(json_path, "w") as f:
        json.dump(rows, f, indent=1)
    out = ["# WebSocket fan-out: heraldd vs baselines", "",
           "Generated by `make bench-ws` (bench/ws/run.sh); scenarios in bench/ws/README.md. "
           "Server pinned to CPU 0, generator to CPU 1. Latency in µs (publish → delivery, "
           "same clock). Server CPU = utime+stime of the server process over the scenario "
           "(incl. connection setup), per delivery. gen CPU = the generator's own CPU share "
           "during the run (≈100% means the generator, not the server, was the limit).", "",
           "| server | transport | scen. | status | deliveries/s | p50 | p99 | p99.9 | lost | dup | "
           "server CPU µs/deliv. | KiB/conn | gen CPU % |",
           "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lat = r.get("latency_us") or {}
        ok = r.get("status") == "ok"
        idle = r.get("scenario") == "S5"
        status = "ok" if ok else "failed: " + str(r.get("error", ""))[:80].replace("|", "/")
        out.append("| " + " | ".join([
            r.get("server", "?"), transport(r), r.get("scenario", "?"), status,
            fmt(r.get("deliveries_per_s")) if ok and not idle else "–",
            fmt(lat.get("p50")) if ok and not idle else "–",
            fmt(lat.get("p99")) if ok and not idle else "–",
            fmt(lat.get("p999")) if ok and not idle else "–",
            fmt(r.get("lost")) if ok and not idle else "–",
            fmt(r.get("duplicates")) if ok and not idle else "–",
            fmt(r.get("server_cpu_us_per_delivery"), 2) if ok and not idle else "–",
            fmt(r.get("kib_per_conn"), 2) if ok and idle else "–",
            fmt(r.get("generator_cpu_pct"), 0) if ok and not idle else "–",
        ]) + " |")
    by = {(r.get("server"), r.get("scenario")): r
          for r in rows if r.get("status") == "ok" and transport(r) == "ws"}
    scenarios = []
    for r in rows:
        if r.get("scenario") not in scenarios:
            scenarios.append(r.get("scenario"))
    out += ["", "## Ratios heraldd / baseline (plaintext ws)", "",
            "deliveries/s: above 1 is better; p99, CPU/delivery and KiB/conn: below 1 is better. "
            "– where either side failed or does not apply.", "",
            "| scen. | baseline | deliveries/s | p99 | CPU µs/deliv. | KiB/conn |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for s in scenarios:
        h = by.get(("heraldd", s))
        for b in BASELINES:
            base = by.get((b, s))
            if not base and not h:
                continue
            g = lambda r, k: (r or {}).get(k)
            gl = lambda r: ((r or {}).get("latency_us") or {}).get("p99")
            idle = s == "S5"
            out.append(f"| {s} | {b} | "
                       f"{'–' if idle else ratio(g(h, 'deliveries_per_s'), g(base, 'deliveries_per_s'))} | "
                       f"{'–' if idle else ratio(gl(h), gl(base))} | "
                       f"{'–' if idle else ratio(g(h, 'server_cpu_us_per_delivery'), g(base, 'server_cpu_us_per_delivery'))} | "
                       f"{ratio(g(h, 'kib_per_conn'), g(base, 'kib_per_conn')) if idle else '–'} |")
    out += tls_section(rows)
    with open(md_path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "annotate" and len(sys.argv) in (7, 8):
        annotate(*sys.argv[2:])
    elif cmd == "failed" and len(sys.argv) in (5, 6):
        failed(*sys.argv[2:])
    elif cmd == "table" and len(sys.argv) == 5:
        table(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
