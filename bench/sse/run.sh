#!/usr/bin/env bash
# SSE fan-out (`make bench-sse`): 1 publisher → SSE_CONNS (1000) SSE
# subscribers of one topic, at SSE_RATES (1000 and 100) msg/s for
# SSE_SECONDS (10) s each, against heraldd with one worker and, side by side
# in the same run, the plain Node `http` SSE server of
# bench/baselines/node-sse (the floor). Server pinned to CPU 0, generator
# (bench/sse/sse_loadgen.cc) to CPU 1. Reports loss, duplicates, latency
# p50/p99/max and server CPU per delivery, with heraldd/node ratios, to
# stdout and build/release/bench-results/sse.md.
#
#   bash bench/sse/run.sh
#   SSE_SERVERS=heraldd SSE_RATES=1000 SSE_SECONDS=5 bash bench/sse/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
GEN="$BUILD_DIR/bench/sse/herald_sse_loadgen"
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
SSE_SERVERS=${SSE_SERVERS:-heraldd node-sse}
SSE_RATES=${SSE_RATES:-1000 100}
SSE_CONNS=${SSE_CONNS:-1000}
SSE_SECONDS=${SSE_SECONDS:-10}
SSE_DRAIN=${SSE_DRAIN:-10}
[[ -x "$GEN" ]] || { echo "bench-sse: $GEN not found; build first (make build)" >&2; exit 1; }
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/sse.jsonl"
: >"$JSONL"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PIN_SERVER=() PIN_GEN=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
  PIN_SERVER=(taskset -c 0) PIN_GEN=(taskset -c 1)
fi
cpu_ticks() {  # utime+stime of a PID (fields 14, 15 of /proc/PID/stat)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

PID=""
stop_server() {
  [[ -n "$PID" ]] || return 0
  kill -TERM "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  PID=""
}
trap stop_server EXIT

start_server() {  # $1 = name; sets PID and PORT
  local log="$OUT_DIR/sse-$1.log"
  PORT=""
  case "$1" in
    heraldd)
      "${PIN_SERVER[@]}" "$HERALDD" --listen 127.0.0.1:0 --workers 1 2>"$log" &
      PID=$!
      for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$log")
        [[ -n "$PORT" ]] && break
        sleep 0.05
      done ;;
    node-sse)
      PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      "${PIN_SERVER[@]}" node bench/baselines/node-sse/server.js "$PORT" >"$log" 2>&1 &
      PID=$!
      for _ in $(seq 100); do
        grep -q listening "$log" && break
        sleep 0.05
      done ;;
  esac
  [[ -n "$PORT" ]] && kill -0 "$PID" 2>/dev/null
}

echo "bench-sse: $SSE_CONNS subscribers, rates [$SSE_RATES] msg/s, ${SSE_SECONDS}s each"
for rate in $SSE_RATES; do
  for server in $SSE_SERVERS; do
    if ! start_server "$server"; then
      echo "{\"server\":\"$server\",\"rate\":$rate,\"status\":\"failed\"}" >>"$JSONL"
      stop_server
      continue
    fi
    sleep 0.3
    t0=$(cpu_ticks "$PID")
    out=$("${PIN_GEN[@]}" "$GEN" --port "$PORT" --conns "$SSE_CONNS" --rate "$rate" \
      --seconds "$SSE_SECONDS" --drain "$SSE_DRAIN")
    t1=$(cpu_ticks "$PID")
    stop_server
    cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/hz}')
    echo "{\"server\":\"$server\",\"status\":\"ok\",\"server_cpu_s\":$cpu_s,${out#\{}" | tee -a "$JSONL"
  done
done

python3 - "$JSONL" "$OUT_DIR/sse.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = ["| server | rate msg/s | subscribers | acked | lost | dup | p50 ms | p99 ms | max ms | server CPU µs/delivery |",
       "|---|---|---|---|---|---|---|---|---|---|"]
by = {}
for r in rows:
    if r.get("status") != "ok":
        out.append(f"| {r['server']} | {r['rate']} | failed | | | | | | | |")
        continue
    per = r["server_cpu_s"] * 1e6 / max(r["received"], 1)
    r["cpu_per_delivery_us"] = per
    by[(r["server"], r["rate"])] = r
    out.append(f"| {r['server']} | {r['rate']} | {r['conns']} | {r['acked']}/{r['sent']} | {r['lost']} | "
               f"{r['duplicates']} | {r['p50_us']/1e3:.2f} | {r['p99_us']/1e3:.2f} | {r['max_us']/1e3:.2f} | {per:.2f} |")
out.append("")
for rate in sorted({k[1] for k in by}, reverse=True):
    h, n = by.get(("heraldd", rate)), by.get(("node-sse", rate))
    if h and n:
        out.append(f"- {rate} msg/s: heraldd/node p99 latency = {h['p99_us']/max(n['p99_us'],1):.3f}×, "
                   f"CPU per delivery = {h['cpu_per_delivery_us']/max(n['cpu_per_delivery_us'],1e-9):.3f}×, "
                   f"node acked {n['acked']}/{n['sent']} and lost {n['lost']}")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
