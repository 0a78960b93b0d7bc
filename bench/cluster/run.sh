#!/usr/bin/env bash
# Cluster benchmark (`make bench-cluster`): delivery across a gRPC peer link,
# with the single-node figures beside it, in one run on this machine.
#
#   single   one heraldd (no cluster): publish and subscribe on it.
#   1 hop    two nodes: publish on n1 to a topic n1 owns, subscribe on n2
#            (sequenced on n1, one crossing to n2).
#   2 hops   two nodes: publish on n2 to a topic n1 owns, subscribe on n2
#            (forwarded to the owner n1, sequenced, and sent back).
#
# Each: latency (unary Publish one at a time, publish-to-delivery p50/p99)
# and throughput (PublishStream, 64 messages per stream message, until the
# subscriber has the last one). 64-byte payloads. Unpinned: two nodes and the
# client share the machine's cores. Results: stdout and
# build/release/bench-results/cluster.md.
#   bash bench/cluster/run.sh
#   CLUSTER_MESSAGES=200000 CLUSTER_CALLS=5000 bash bench/cluster/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
BENCH="$BUILD_DIR/bench/cluster/herald_cluster_bench"
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
MESSAGES=${CLUSTER_MESSAGES:-500000}
CALLS=${CLUSTER_CALLS:-20000}
[[ -x "$BENCH" ]] || { echo "bench-cluster: $BENCH not found; build first (make build)" >&2; exit 1; }
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/cluster.jsonl"
: >"$JSONL"
LOGS=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$LOGS"; }
trap cleanup EXIT

# start NAME ARGS...: runs heraldd, waits for its ports, sets ${NAME}_GRPC.
start() {
  local name=$1; shift
  "$HERALDD" --node-id "$name" --listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 --log-level info \
    "$@" 2>"$LOGS/$name.log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    local port
    port=$(grep -oP 'gRPC API \(herald.v1.Broker\) listening on 127.0.0.1:\K[0-9]+' "$LOGS/$name.log")
    if [[ -n "$port" ]]; then printf -v "${name}_GRPC" '%s' "127.0.0.1:$port"; return 0; fi
    sleep 0.05
  done
  echo "bench-cluster: $name did not start" >&2; cat "$LOGS/$name.log" >&2; exit 1
}
peer_port() { grep -oP 'peer links \(herald.cluster.v1.Peer\) listening on 127.0.0.1:\K[0-9]+' "$LOGS/$1.log"; }

run() {  # run LABEL ARGS...
  local label=$1; shift
  local out
  out=$("$BENCH" "$@") || { echo "bench-cluster: $label failed: $out" >&2; exit 1; }
  echo "{\"case\":\"$label\",${out#\{}" | tee -a "$JSONL"
}

# One node.
start solo
run single-latency --publish "$solo_GRPC" --subscribe "$solo_GRPC" --topic bench.solo \
  --mode latency --messages "$CALLS"
run single-throughput --publish "$solo_GRPC" --subscribe "$solo_GRPC" --topic bench.solo \
  --mode throughput --messages "$MESSAGES" --batch 64
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null

# Two nodes.
start n1 --cluster-listen 127.0.0.1:0
start n2 --cluster-listen 127.0.0.1:0 --seed "127.0.0.1:$(peer_port n1)"
for _ in $(seq 100); do grep -q "link to node 'n1'" "$LOGS/n2.log" && break; sleep 0.05; done
sleep 0.3
OWN=(--owned-by n1 --nodes n1,n2 --topic bench.x)
run 1hop-latency --publish "$n1_GRPC" --subscribe "$n2_GRPC" "${OWN[@]}" --mode latency \
  --messages "$CALLS"
run 1hop-throughput --publish "$n1_GRPC" --subscribe "$n2_GRPC" "${OWN[@]}" --mode throughput \
  --messages "$MESSAGES" --batch 64
run 2hop-latency --publish "$n2_GRPC" --subscribe "$n2_GRPC" "${OWN[@]}" --mode latency \
  --messages "$CALLS"
run 2hop-throughput --publish "$n2_GRPC" --subscribe "$n2_GRPC" "${OWN[@]}" --mode throughput \
  --messages "$MESSAGES" --batch 64

/usr/bin/python3 - "$JSONL" "$OUT_DIR/cluster.md" <<'PY'
import json, sys
rows = {r["case"]: r for r in map(json.loads, open(sys.argv[1]))}
s_lat, s_thr = rows["single-latency"], rows["single-throughput"]
out = ["| case | p50 µs | p99 µs | vs single p50 | throughput msgs/s | vs single |",
       "|---|---|---|---|---|---|"]
for name, label in (("single", "one node"), ("1hop", "1 hop (publish on owner, subscribe on peer)"),
                    ("2hop", "2 hops (publish on peer, owner elsewhere)")):
    lat, thr = rows[name + "-latency"], rows[name + "-throughput"]
    out.append(f"| {label} | {lat['p50_us']:.0f} | {lat['p99_us']:.0f} | "
               f"{lat['p50_us'] / s_lat['p50_us']:.2f}× | {thr['msgs_per_s']:,.0f} | "
               f"{thr['msgs_per_s'] / s_thr['msgs_per_s']:.2f}× |")
text = "\n".join(out)
print(text)
open(sys.argv[2], "w").write(text + "\n")
PY
