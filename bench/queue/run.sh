#!/usr/bin/env bash
# Work-queue benchmark (`make bench-queue`): jobs delivered and acknowledged
# per second with 1, 4 and 16 workers, and ack-to-next-delivery latency, for
# heraldd's work queues on each store (memory; disk with sync = "batch" and
# "always"; Redis, a redis-server with appendfsync always), side by side in one run with a Debian rabbitmq-server (a durable
# queue, manual acks, transient and persistent messages) and a Debian
# redis-server's Streams consumer groups (XREADGROUP + XACK; no persistence,
# and appendonly with appendfsync everysec).
#
# Every measurement is bench/queue/queue_bench.mjs (see its header): the queue
# is preloaded with QUEUE_JOBS jobs of QUEUE_SIZE bytes, then drained by the
# workers, one connection and one thread each, every job acknowledged one by
# one with at most QUEUE_PREFETCH unacknowledged per worker; latency is one
# worker with prefetch 1 over QUEUE_LATENCY_JOBS jobs. Each is run QUEUE_REPEAT
# times and the median reported (all runs are in the JSON lines). Servers listen on free
# loopback ports and keep their data under $BUILD_DIR/bench-queue.
# Results: stdout and build/release/bench-results/queue.md.
#   bash bench/queue/run.sh
#   QUEUE_JOBS=20000 QUEUE_WORKERS="1 4" bash bench/queue/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build/release}
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
DATA="$ROOT/$BUILD_DIR/bench-queue"
JOBS=${QUEUE_JOBS:-100000}
LATENCY_JOBS=${QUEUE_LATENCY_JOBS:-10000}
REPEAT=${QUEUE_REPEAT:-3}
SIZE=${QUEUE_SIZE:-64}
PREFETCH=${QUEUE_PREFETCH:-16}
WORKERS=${QUEUE_WORKERS:-1 4 16}
[[ -x "$HERALDD" ]] || { echo "bench-queue: build first (make build)" >&2; exit 1; }
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
need=()
command -v redis-server >/dev/null || need+=(redis-server)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || need+=(rabbitmq-server)
if ((${#need[@]})); then
  echo "bench-queue: installing ${need[*]} (Debian)"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ ! -d bench/queue/node_modules || bench/queue/package-lock.json -nt bench/queue/node_modules ]]; then
  (cd bench/queue && npm ci --no-audit --no-fund --silent) || { echo "bench-queue: npm ci failed" >&2; exit 1; }
fi
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/queue.jsonl"
: >"$JSONL"
rm -rf "$DATA" && mkdir -p "$DATA"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
PID=""
EPMD=""
STORE_PID=""  # heraldd's redis-server, stopped after heraldd
stop() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [[ -n "$EPMD" ]] && kill "$EPMD" 2>/dev/null
  [[ -n "$STORE_PID" ]] && kill "$STORE_PID" 2>/dev/null && wait "$STORE_PID" 2>/dev/null
  PID=""
  EPMD=""
  STORE_PID=""
}
trap stop EXIT
record() { echo "{\"server\":\"$1\",\"workers\":$2,${3#\{}" | tee -a "$JSONL"; }
run_one() {  # $1: row; $2: workers (0: the latency run); $3…: queue_bench.mjs arguments
  local row=$1 w=$2 out runs=() i
  shift 2
  for ((i = 0; i < REPEAT; i++)); do
    out=$(node bench/queue/queue_bench.mjs "$@") || { echo "bench-queue: $row with $w workers failed" >&2; exit 1; }
    runs+=("$out")
  done
  # The median run (by throughput, or by p50 for latency) stands for the row.
  record "$row" "$w" "$(printf '%s\n' "${runs[@]}" | python3 -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
key = "jobs_per_s" if "jobs_per_s" in runs[0] else "p50_us"
runs.sort(key=lambda r: r[key])
m = runs[len(runs) // 2]
m["runs"] = [r[key] for r in runs]
print(json.dumps(m, separators=(",", ":")))')"
}
measure() {  # $1: row name; $2…: queue_bench.mjs arguments (system, url, …)
  local row=$1 w
  shift
  for w in $WORKERS; do
    run_one "$row" "$w" "$@" --workers "$w" --jobs "$JOBS" --prefetch "$PREFETCH" --size "$SIZE"
  done
  run_one "$row" 0 "$@" --mode latency --jobs "$LATENCY_JOBS" --size "$SIZE"
}

heraldd() {  # $1: memory|batch|always|redis
  local conf="$DATA/heraldd-$1.toml" log="$DATA/heraldd-$1.log" args=(--listen 127.0.0.1:0)
  cat >"$conf" <<EOF
[[queues]]
name = "bench"
pattern = "jobs.>"
ack_wait_ms = 60000
max_in_flight = 100000
max_pending = 1000000
max_pending_bytes = 1073741824
EOF
  if [[ $1 == redis ]]; then
    # The store heraldd requires by default: every write fsynced.
    local rport dir="$DATA/heraldd-redis"
    rport=$(free_port)
    mkdir -p "$dir"
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
      --appendfsync always >"$dir/log" 2>&1 &
    STORE_PID=$!
    wait_port "$rport" || { echo "bench-queue: redis-server did not start" >&2; exit 1; }
    printf '[store]\nkind = "redis"\nredis_port = %s\n' "$rport" >>"$conf"
  elif [[ $1 != memory ]]; then
    args+=(--data-dir "$DATA/heraldd-$1")
    printf '[store]\nsync = "%s"\n' "$1" >>"$conf"
  fi
  "$HERALDD" "${args[@]}" --config "$conf" 2>"$log" &
  PID=$!
  for _ in $(seq 200); do grep -q "listening on" "$log" && break; sleep 0.05; done
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -1)
  [[ -n "$PORT" ]] || { echo "bench-queue: heraldd did not start" >&2; cat "$log" >&2; exit 1; }
}

rabbitmq() {  # a private node: its own ports, files and Erlang port mapper
  local dir="$DATA/rabbitmq" epmd_port
  rm -rf "$dir" && mkdir -p "$dir"
  echo "[]." >"$dir/enabled_plugins"
  RPORT=$(free_port)
  epmd_port=$(free_port)
  # Our own port mapper in the foreground, so that it has a PID to stop (the
  # one the node would start itself daemonizes and outlives it).
  ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$epmd_port" >"$dir/epmd.log" 2>&1 &
  EPMD=$!
  wait_port "$epmd_port" || { echo "bench-queue: epmd did not start" >&2; exit 1; }
  env HOME="$dir" RABBITMQ_NODENAME=herald-bench@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RPORT" RABBITMQ_DIST_PORT="$(free_port)" ERL_EPMD_PORT="$epmd_port" \
    ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/pid" \
    /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/stdout.log" 2>&1 &
  PID=$!
  wait_port "$RPORT" || { echo "bench-queue: rabbitmq-server did not start" >&2; tail -20 "$dir/stdout.log" >&2; exit 1; }
}

redis() {  # $1: none|everysec
  RPORT=$(free_port)
  local dir="$DATA/redis-$1" persist=(--save "" --appendonly no)
  mkdir -p "$dir"
  [[ $1 == everysec ]] && persist=(--save "" --appendonly yes --appendfsync everysec)
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$dir" "${persist[@]}" >"$dir/log" 2>&1 &
  PID=$!
  wait_port "$RPORT" || { echo "bench-queue: redis-server did not start" >&2; exit 1; }
}

echo "bench-queue: $JOBS jobs of $SIZE B, prefetch $PREFETCH, workers: $WORKERS, median of $REPEAT; $(nproc) cores; data on $(stat -f -c %T "$DATA")"
# heraldd's workers join with `batch` = the prefetch: the jobs that are ready
# together come in one `jobs` frame, as XREADGROUP COUNT returns up to COUNT
# entries (and as the JS client joins). The memory store is also measured
# with one `job` frame per job, the protocol's default.
for mode in memory batch always redis; do
  heraldd "$mode"
  measure "heraldd-$mode" --system herald --url "ws://127.0.0.1:$PORT/ws" --batch "$PREFETCH"
  [[ $mode == memory ]] && measure heraldd-memory-frames --system herald --url "ws://127.0.0.1:$PORT/ws"
  stop
done
rabbitmq
measure rabbitmq-transient --system rabbit --url "amqp://guest:guest@127.0.0.1:$RPORT"
measure rabbitmq-persistent --system rabbit --url "amqp://guest:guest@127.0.0.1:$RPORT" --persistent
stop
for persist in none everysec; do
  redis "$persist"
  measure "redis-$persist" --system redis --url "redis://127.0.0.1:$RPORT"
  stop
done
rm -rf "$DATA"

python3 - "$JSONL" "$OUT_DIR/queue.md" "$WORKERS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
workers = [int(w) for w in sys.argv[3].split()]
names = {"heraldd-memory": "heraldd, memory store", "heraldd-memory-frames": "heraldd, memory store, a `job` frame per job",
         "heraldd-batch": "heraldd, disk store (sync batch)",
         "heraldd-always": "heraldd, disk store (sync always)",
         "heraldd-redis": "heraldd, Redis store (appendfsync always)", "rabbitmq-transient": "RabbitMQ, durable queue, transient messages",
         "rabbitmq-persistent": "RabbitMQ, durable queue, persistent messages", "redis-none": "Redis Streams, no persistence",
         "redis-everysec": "Redis Streams, appendfsync everysec"}
def get(server, w):
    return next(r for r in rows if r["server"] == server and r["workers"] == w)
out = ["| server | " + " | ".join(f"{w} worker{'s' if w > 1 else ''} jobs/s" for w in workers)
       + " | ack → next delivery p50 / p99 µs |", "|---" * (len(workers) + 2) + "|"]
for s in names:
    lat = get(s, 0)
    out.append(f"| {names[s]} | " + " | ".join(f"{get(s, w)['jobs_per_s']:,}" for w in workers)
               + f" | {lat['p50_us']} / {lat['p99_us']} |")
out += ["", "| target | " + " | ".join(f"{w} w" for w in workers) + " |", "|---" * (len(workers) + 1) + "|"]
def ratio(a, b):
    return " | ".join(f"{get(a, w)['jobs_per_s'] / get(b, w)['jobs_per_s']:.2f}×" for w in workers)
out.append("| memory ≥ 1× RabbitMQ (transient) | " + ratio("heraldd-memory", "rabbitmq-transient") + " |")
out.append("| memory ≥ 1× Redis Streams | " + ratio("heraldd-memory", "redis-none") + " |")
out.append("| memory, a `job` frame per job, vs Redis Streams | " + ratio("heraldd-memory-frames", "redis-none") + " |")
out.append("| disk (batch) ≥ 1× RabbitMQ persistent | " + ratio("heraldd-batch", "rabbitmq-persistent") + " |")
out.append("| disk (always) ≥ 1× RabbitMQ persistent | " + ratio("heraldd-always", "rabbitmq-persistent") + " |")
out.append("| Redis store ≥ 1× RabbitMQ persistent | " + ratio("heraldd-redis", "rabbitmq-persistent") + " |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
