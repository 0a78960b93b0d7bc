#!/usr/bin/env bash
# gRPC API benchmark (`make bench-grpc`): heraldd's gRPC front measured with
# the C++ bench client (bench/grpc/grpc_bench.cc), side by side in one run
# with redis-benchmark PUBLISH against a Debian redis-server started here.
#
#   throughput: PublishStream, 64-byte messages, batch acks — one message
#               per stream message, and 64 per stream message (its `batch`
#               field) — heraldd pinned to CPU 0 (as redis is) and unpinned
#               (gRPC's threads on both cores); redis: PUBLISH pipelined 64
#               deep on one connection.
#   latency:    one call at a time — unary Publish and Request (to a
#               responder on a Connect session) vs redis PUBLISH unpipelined.
#
# Servers on CPU 0, clients on CPU 1. Results: stdout and
# build/release/bench-results/grpc.md.
#   bash bench/grpc/run.sh
#   GRPC_MESSAGES=500000 GRPC_CALLS=5000 bash bench/grpc/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
BENCH="$BUILD_DIR/bench/grpc/herald_grpc_bench"
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
MESSAGES=${GRPC_MESSAGES:-2000000}
CALLS=${GRPC_CALLS:-20000}
[[ -x "$BENCH" ]] || { echo "bench-grpc: $BENCH not found; build first (make build)" >&2; exit 1; }
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/grpc.jsonl"
: >"$JSONL"

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "bench-grpc: installing redis-server and redis-tools (Debian)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    redis-server redis-tools >/dev/null
fi

PIN0=() PIN1=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then PIN0=(taskset -c 0) PIN1=(taskset -c 1); fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PID=""
stop() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap stop EXIT

heraldd() {  # $@: pinning prefix; sets PID, GPORT
  GPORT=$(free_port)
  "$@" "$HERALDD" --listen 127.0.0.1:0 --grpc-listen "127.0.0.1:$GPORT" --workers 1 \
    2>"$OUT_DIR/grpc-heraldd.log" &
  PID=$!
  for _ in $(seq 100); do grep -q "gRPC API" "$OUT_DIR/grpc-heraldd.log" && return 0; sleep 0.05; done
  echo "bench-grpc: heraldd did not start" >&2
  cat "$OUT_DIR/grpc-heraldd.log" >&2
  exit 1
}
record() { echo "{\"server\":\"$1\",\"setup\":\"$2\",${3#\{}" | tee -a "$JSONL"; }

echo "bench-grpc: $MESSAGES messages per throughput run, $CALLS calls per latency run"
heraldd "${PIN0[@]}"
record heraldd pinned "$("${PIN1[@]}" "$BENCH" --target "127.0.0.1:$GPORT" --mode stream --messages "$MESSAGES")"
record heraldd pinned "$("${PIN1[@]}" "$BENCH" --target "127.0.0.1:$GPORT" --mode stream --messages "$MESSAGES" --batch 64)"
record heraldd pinned "$("${PIN1[@]}" "$BENCH" --target "127.0.0.1:$GPORT" --mode publish --calls "$CALLS")"
record heraldd pinned "$("${PIN1[@]}" "$BENCH" --target "127.0.0.1:$GPORT" --mode request --calls "$CALLS")"
stop
heraldd
record heraldd unpinned "$("$BENCH" --target "127.0.0.1:$GPORT" --mode stream --messages "$MESSAGES")"
record heraldd unpinned "$("$BENCH" --target "127.0.0.1:$GPORT" --mode stream --messages "$MESSAGES" --batch 64)"
stop

RPORT=$(free_port)
"${PIN0[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
  >"$OUT_DIR/grpc-redis.log" 2>&1 &
PID=$!
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
payload=$(printf 'x%.0s' $(seq 64))
redis_csv() {  # last CSV line → {"msgs_per_s":…,"p50_us":…,"p99_us":…}
  tail -1 | awk -F',' '{for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
    printf "{\"msgs_per_s\":%s,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", $2, $5 * 1000, $7 * 1000}'
}
record redis pipelined "$("${PIN1[@]}" redis-benchmark -p "$RPORT" -n "$MESSAGES" -P 64 -c 1 --csv \
  PUBLISH bench "$payload" | redis_csv)"
record redis unpipelined "$("${PIN1[@]}" redis-benchmark -p "$RPORT" -n "$CALLS" -P 1 -c 1 --csv \
  PUBLISH bench "$payload" | redis_csv)"
stop

python3 - "$JSONL" "$OUT_DIR/grpc.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(server, setup, mode=None, batch=None):
    for r in rows:
        if (r["server"] == server and r["setup"] == setup and (mode is None or r.get("mode") == mode)
                and (batch is None or r.get("batch") == batch)):
            return r
h_stream = get("heraldd", "pinned", "stream", 1)
h_batch = get("heraldd", "pinned", "stream", 64)
h_free = get("heraldd", "unpinned", "stream", 1)
h_free_batch = get("heraldd", "unpinned", "stream", 64)
h_pub = get("heraldd", "pinned", "publish")
h_req = get("heraldd", "pinned", "request")
r_pipe = get("redis", "pipelined")
r_one = get("redis", "unpipelined")
out = [
    "| measurement | heraldd | redis PUBLISH | heraldd / redis |",
    "|---|---|---|---|",
    f"| throughput, server on 1 core (msgs/s) | {h_stream['msgs_per_s']:,.0f} (PublishStream, 1 per request) | "
    f"{r_pipe['msgs_per_s']:,.0f} (pipelined ×64) | {h_stream['msgs_per_s'] / r_pipe['msgs_per_s']:.2f}× |",
    f"| throughput, server on 1 core (msgs/s) | {h_batch['msgs_per_s']:,.0f} (PublishStream, 64 per request) | "
    f"{r_pipe['msgs_per_s']:,.0f} (pipelined ×64) | {h_batch['msgs_per_s'] / r_pipe['msgs_per_s']:.2f}× |",
    f"| throughput, unpinned (msgs/s) | {h_free['msgs_per_s']:,.0f} (1 per request), "
    f"{h_free_batch['msgs_per_s']:,.0f} (64 per request) | – | – |",
    f"| one-at-a-time publish p50 / p99 (µs) | {h_pub['p50_us']:.0f} / {h_pub['p99_us']:.0f} (unary Publish) | "
    f"{r_one['p50_us']:.0f} / {r_one['p99_us']:.0f} | {h_pub['p50_us'] / r_one['p50_us']:.2f}× / {h_pub['p99_us'] / r_one['p99_us']:.2f}× |",
    f"| request/reply round trip p50 / p99 (µs) | {h_req['p50_us']:.0f} / {h_req['p99_us']:.0f} (Request) | – | – |",
    "",
    "PublishStream accepted (of sent): " + ", ".join(
        f"{r['accepted']:,}/{r['messages']:,}" for r in (h_stream, h_batch, h_free, h_free_batch))
    + f"; errors: publish {h_pub['errors']}, request {h_req['errors']}.",
]
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
