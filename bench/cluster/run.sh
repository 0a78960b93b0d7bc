#!/usr/bin/env bash
# Cluster benchmark (`make bench-cluster`): delivery across a gRPC peer link,
# with the single-node figures beside it, in one run on this machine.
#
#   single   one heraldd (no cluster): publish and subscribe on it.
#   1 hop    two nodes: publish on n1 to a topic n1 owns, subscribe on n2
#            (sequenced on n1, one crossing to n2).
#   2 hops   two nodes: publish on n2 to a topic n1 owns, subscribe on n2
#            (forwarded to the owner n1, sequenced, and sent back).
#   redis    1 and 2 hops again, the two nodes on one Redis as the shared
#            store (every message appended to Redis first), with Redis on
#            appendfsync always and on everysec, and with a replica and
#            durability = "replicated"; ratios to the memory store.
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

kill "${PIDS[1]}" "${PIDS[2]}"; wait "${PIDS[1]}" "${PIDS[2]}" 2>/dev/null

# Two nodes on one Redis as the shared store ([store] kind = "redis"): every
# message of a topic with history (1,000 by default) is appended to Redis
# before it is delivered or acknowledged. Redis with fsync on every write
# (what heraldd requires by default), then with fsync once a second.
REDIS_DIR=$(mktemp -d)
redis_case() {  # redis_case LABEL FSYNC [replicated]
  local label=$1 fsync=$2 durability=${3:-master} rport replica_pid=
  rport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$REDIS_DIR/$label"; mkdir -p "$REDIS_DIR/$label"
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$REDIS_DIR/$label" --save "" \
    --appendonly yes --appendfsync "$fsync" --daemonize no --logfile "$REDIS_DIR/$label/log" &
  PIDS+=($!)
  local redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  if [[ $durability == replicated ]]; then
    # One replica, as durable as the master; acknowledged once it has each group.
    local qport
    qport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$REDIS_DIR/$label/replica"
    redis-server --port "$qport" --bind 127.0.0.1 --dir "$REDIS_DIR/$label/replica" --save "" \
      --appendonly yes --appendfsync "$fsync" --replicaof 127.0.0.1 "$rport" --daemonize no \
      --logfile "$REDIS_DIR/$label/replica/log" &
    replica_pid=$!
    PIDS+=("$replica_pid")
    for _ in $(seq 200); do
      redis-cli -p "$qport" info replication 2>/dev/null | grep -q 'master_link_status:up' && break
      sleep 0.05
    done
  fi
  printf '[store]\nkind = "redis"\nredis_port = %s\nredis_require_durable = %s\ndurability = "%s"\n' \
    "$rport" "$([[ $fsync == always ]] && echo true || echo false)" "$durability" \
    >"$REDIS_DIR/$label.toml"
  start "${label}1" --cluster-listen 127.0.0.1:0 --config "$REDIS_DIR/$label.toml"
  local p1=${#PIDS[@]}
  start "${label}2" --cluster-listen 127.0.0.1:0 --seed "127.0.0.1:$(peer_port "${label}1")" \
    --config "$REDIS_DIR/$label.toml"
  for _ in $(seq 100); do grep -q "link to node '${label}1'" "$LOGS/${label}2.log" && break; sleep 0.05; done
  sleep 0.3
  local a b
  a=$(eval echo "\$${label}1_GRPC"); b=$(eval echo "\$${label}2_GRPC")
  local own=(--owned-by "${label}1" --nodes "${label}1,${label}2" --topic bench.x)
  run "$label-1hop-latency" --publish "$a" --subscribe "$b" "${own[@]}" --mode latency \
    --messages "$CALLS"
  run "$label-1hop-throughput" --publish "$a" --subscribe "$b" "${own[@]}" --mode throughput \
    --messages "$MESSAGES" --batch 64
  run "$label-2hop-latency" --publish "$b" --subscribe "$b" "${own[@]}" --mode latency \
    --messages "$CALLS"
  run "$label-2hop-throughput" --publish "$b" --subscribe "$b" "${own[@]}" --mode throughput \
    --messages "$MESSAGES" --batch 64
  kill "${PIDS[$((p1 - 1))]}" "${PIDS[$p1]}" "$redis_pid" $replica_pid
  wait "${PIDS[$((p1 - 1))]}" "${PIDS[$p1]}" "$redis_pid" $replica_pid 2>/dev/null
}
if command -v redis-server >/dev/null; then
  redis_case redis always
  redis_case rediseverysec everysec
  redis_case redisreplicated always replicated
fi
rm -rf "$REDIS_DIR"

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
# The shared store on Redis, against the memory store's same case.
stores = (("redis", "Redis store, appendfsync always"),
          ("rediseverysec", "Redis store, appendfsync everysec"),
          ("redisreplicated", "Redis store, appendfsync always, durability replicated"))
if any(f"{k}-1hop-latency" in rows for k, _ in stores):
    out += ["", "| case | p50 µs | p99 µs | p99 vs memory | throughput msgs/s | vs memory |",
            "|---|---|---|---|---|---|"]
    for key, what in stores:
        for hop, label in (("1hop", "1 hop"), ("2hop", "2 hops")):
            if f"{key}-{hop}-latency" not in rows:
                continue
            lat, thr = rows[f"{key}-{hop}-latency"], rows[f"{key}-{hop}-throughput"]
            mlat, mthr = rows[f"{hop}-latency"], rows[f"{hop}-throughput"]
            out.append(f"| {what}, {label} | {lat['p50_us']:.0f} | {lat['p99_us']:.0f} | "
                       f"{lat['p99_us'] / mlat['p99_us']:.2f}× | {thr['msgs_per_s']:,.0f} | "
                       f"{thr['msgs_per_s'] / mthr['msgs_per_s']:.2f}× |")
text = "\n".join(out)
print(text)
open(sys.argv[2], "w").write(text + "\n")
PY
