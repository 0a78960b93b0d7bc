#!/usr/bin/env bash
# History store benchmark (`make bench-store`): acknowledged publishes into
# heraldd with the memory store, the disk store with sync = "batch" and with
# sync = "always", side by side in one run with a Debian redis-server
# appending the same payloads with XADD under appendfsync everysec and always.
#
#   throughput: gRPC PublishStream, STORE_STREAMS concurrent streams (each
#               message acknowledged: group commit shows), and HTTP POST
#               /publish with wrk, STORE_CONNECTIONS keep-alive connections
#               over 64 topics; redis: redis-benchmark XADD with the same
#               number of connections, unpipelined.
#               HTTP on a fresh server of its own.
#   CPU:        each server's CPU (every thread) per acknowledged message
#               under the HTTP / redis-benchmark load.
#   latency:    acknowledged publish p50 / p99 — under that load (HTTP, and
#               redis with its connections), and one call at a time (gRPC
#               unary Publish; redis with one connection).
#   engines:    the store's candidate engines (RocksDB, which heraldd uses,
#               LMDB and SQLite, all from Debian) appending the same payloads
#               in groups, on the same filesystem (herald_engine_bench).
# Payloads of 64 B and 1 KiB. Each server measurement is made STORE_REPEAT
# times (3), each on a fresh server, and the table shows the median run of
# each row (by msgs/s; one call at a time: by p50): one run of each moves
# ±15% on this machine, enough to flip a ratio near its target. Every
# run is kept in store.jsonl. Every server's data goes under
# $BUILD_DIR/bench-store (one filesystem for all, its type is printed).
# Results: stdout and build/release/bench-results/store.md.
#   bash bench/store/run.sh
#   STORE_SECONDS=5 STORE_MESSAGES=20000 bash bench/store/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
BENCH="$BUILD_DIR/bench/grpc/herald_grpc_bench"
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
DATA="$BUILD_DIR/bench-store"
SECONDS_PER_RUN=${STORE_SECONDS:-5}
MESSAGES=${STORE_MESSAGES:-20000}   # per gRPC stream; redis: MESSAGES × streams
CALLS=${STORE_CALLS:-3000}
STREAMS=${STORE_STREAMS:-16}
CONNECTIONS=${STORE_CONNECTIONS:-16}
ENGINE_MESSAGES=${STORE_ENGINE_MESSAGES:-200000}  # per engine with sync = batch; always: a quarter
REPEAT=${STORE_REPEAT:-3}
[[ -x "$BENCH" && -x "$HERALDD" && -x "$BUILD_DIR/bench/store/herald_engine_bench" ]] || { echo "bench-store: build first (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench-store: wrk not installed" >&2; exit 1; }
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "bench-store: installing redis-server and redis-tools (Debian)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    redis-server redis-tools >/dev/null
fi
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/store.jsonl"
: >"$JSONL"
rm -rf "$DATA" && mkdir -p "$DATA"
echo "bench-store: data under $DATA on $(stat -f -c %T "$DATA") ($(df -h --output=source "$DATA" | tail -1))"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PID=""
stop() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap stop EXIT
# $4: the tool's JSON object; a run that printed none is recorded as failed
# (and named under "errors"), so one bad run never loses the table.
record() {
  local body=$4
  [[ $body == \{*\} ]] || body='{"failed":true}'
  echo "{\"server\":\"$1\",\"size\":$2,\"what\":\"$3\",\"rep\":${rep:-1},${body#\{}" | tee -a "$JSONL"
}

heraldd() {  # $1: memory|batch|always; sets PID, PORT, GPORT
  GPORT=$(free_port)
  local args=(--listen 127.0.0.1:0 --grpc-listen "127.0.0.1:$GPORT")
  local conf="$OUT_DIR/store-$1.toml"
  # History large enough that nothing is trimmed while measuring.
  printf '[history]\nmax_messages = 100000\nmax_bytes = 134217728\n[limits]\nmax_history_bytes = 4294967296\n' >"$conf"
  if [[ $1 != memory ]]; then
    rm -rf "$DATA/herald-$1"
    args+=(--data-dir "$DATA/herald-$1")
    printf '[store]\nsync = "%s"\n' "$1" >>"$conf"
  fi
  "$HERALDD" "${args[@]}" --config "$conf" 2>"$OUT_DIR/store-heraldd.log" &
  PID=$!
  for _ in $(seq 100); do grep -q "gRPC API" "$OUT_DIR/store-heraldd.log" && break; sleep 0.05; done
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$OUT_DIR/store-heraldd.log" | head -1)
  [[ -n "$PORT" ]] || { echo "bench-store: heraldd did not start" >&2; cat "$OUT_DIR/store-heraldd.log" >&2; exit 1; }
}

# The server's CPU (every thread, user + system) while it answers: what one
# acknowledged message costs it, beside what the client costs. On this
# machine both share two cores, so these figures say where the bound is.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

wrk_json() {  # wrk --latency output, $1 server CPU ticks → {"msgs_per_s":…,"p50_us":…,"p99_us":…,"errors":…,"socket_errors":…,"server_cpu_us":…}
  python3 -c '
import re, sys
ticks = int(sys.argv[1]) * int(sys.argv[2])
t = sys.stdin.read()
def us(s):
    v, u = re.match(r"([\d.]+)(\w+)", s).groups()
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
# The lines of the latency distribution ("     50%  768.00us"): a value
# in the "+/- Stdev" column of the thread stats can end in "50%" too.
p50 = us(re.search(r"^\s*50%\s+(\S+)", t, re.M).group(1))
p99 = us(re.search(r"^\s*99%\s+(\S+)", t, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errors = int(bad.group(1)) if bad else 0
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
acked = int(re.search(r"(\d+) requests in", t).group(1)) - errors
print("{\"msgs_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%d,\"socket_errors\":%d,\"server_cpu_us\":%.1f}" % (rps, p50, p99, errors, socket_errors, ticks / max(acked, 1)))' "$1" "$TICK_US"
}
redis_csv() {  # redis-benchmark --csv, $1 server CPU ticks, $2 requests → {"msgs_per_s":…,"p50_us":…,"p99_us":…,"server_cpu_us":…}
  tail -1 | awk -F',' -v cpu="$(($1 * TICK_US))" -v n="$2" '{for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
    printf "{\"msgs_per_s\":%s,\"p50_us\":%.1f,\"p99_us\":%.1f,\"server_cpu_us\":%.1f}\n", $2, $5 * 1000, $7 * 1000, cpu / n}'
}

for size in 64 1024; do
  payload=$(head -c "$size" /dev/zero | tr '\0' x)
  for rep in $(seq "$REPEAT"); do
    for mode in memory batch always; do
      heraldd "$mode"
      record "heraldd-$mode" "$size" grpc-stream \
        "$("$BENCH" --target "127.0.0.1:$GPORT" --mode stream --streams "$STREAMS" --messages "$MESSAGES" --size "$size")"
      record "heraldd-$mode" "$size" grpc-unary \
        "$("$BENCH" --target "127.0.0.1:$GPORT" --mode publish --calls "$CALLS" --size "$size")"
      stop
      # HTTP on a server of its own (a new data directory), so that its CPU
      # figure carries no flush or compaction of the gRPC runs' messages.
      heraldd "$mode"
      t0=$(cpu_ticks "$PID")
      out=$(SIZE=$size wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s bench/store/publish.lua \
        "http://127.0.0.1:$PORT")
      record "heraldd-$mode" "$size" http "$(wrk_json $(($(cpu_ticks "$PID") - t0)) <<<"$out")"
      stop
    done
    for fsync in everysec always; do
      RPORT=$(free_port)
      rm -rf "$DATA/redis-$fsync" && mkdir -p "$DATA/redis-$fsync"
      # No AOF rewrite: its forked child's CPU would not be in the figure (and
      # heraldd's store compacts on its own threads, which are).
      redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly yes \
        --appendfsync "$fsync" --auto-aof-rewrite-percentage 0 --dir "$DATA/redis-$fsync" \
        >"$OUT_DIR/store-redis.log" 2>&1 &
      PID=$!
      for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
      n=$((MESSAGES * STREAMS / 4))
      t0=$(cpu_ticks "$PID")
      out=$(redis-benchmark -p "$RPORT" -n "$n" -c "$CONNECTIONS" -P 1 -r 64 --csv \
        XADD s:__rand_int__ MAXLEN '~' 100000 '*' p "$payload")
      record "redis-$fsync" "$size" load "$(redis_csv $(($(cpu_ticks "$PID") - t0)) "$n" <<<"$out")"
      t0=$(cpu_ticks "$PID")
      out=$(redis-benchmark -p "$RPORT" -n "$CALLS" -c 1 -P 1 -r 64 --csv \
        XADD s:__rand_int__ MAXLEN '~' 100000 '*' p "$payload")
      record "redis-$fsync" "$size" one "$(redis_csv $(($(cpu_ticks "$PID") - t0)) "$CALLS" <<<"$out")"
      stop
    done
  done
done
unset rep
# The engines themselves, on the same filesystem in the same run: each
# candidate's prototype appends the same payloads in groups of STREAMS (what
# heraldd's writer commits when every stream waits for its acknowledgement).
ENGINE="$BUILD_DIR/bench/store/herald_engine_bench"
for size in 64 1024; do
  for sync in always batch; do
    n=$ENGINE_MESSAGES
    [[ $sync == always ]] && n=$((ENGINE_MESSAGES / 4))
    for engine in rocksdb lmdb sqlite; do
      rm -rf "$DATA/engine" && mkdir -p "$DATA/engine"
      record "engine-$engine" "$size" "$sync" "$("$ENGINE" "$engine" "$sync" "$size" "$STREAMS" "$n" "$DATA/engine")"
    done
  done
done
rm -rf "$DATA"

python3 - "$JSONL" "$OUT_DIR/store.md" <<'PY'
import json, sys
# A run whose tool printed nothing usable is a row {"failed": true}
# (record) or, at worst, a line that does not parse: both are listed under
# "errors", and the table shows "–" where a row has no run left.
rows, broken = [], []
for line in open(sys.argv[1]):
    if line.strip():
        try:
            rows.append(json.loads(line))
        except ValueError:
            broken.append(line.strip()[:60])
def get(server, size, what):
    # The median of a row's runs: by throughput, or by p50 for one call at a time.
    key = "p50_us" if what in ("grpc-unary", "one") else "msgs_per_s"
    runs = sorted((r for r in rows if r.get("server") == server and r.get("size") == size
                   and r.get("what") == what and key in r), key=lambda r: r[key])
    return runs[(len(runs) - 1) // 2] if runs else None
def cell(row, fmt, *keys):
    return fmt.format(*(row[k] for k in keys)) if row and all(k in row for k in keys) else "–"
def ratio(a, b, fmt):
    return fmt.format(a["msgs_per_s"] / b["msgs_per_s"]) if a and b and b["msgs_per_s"] else "–"
reps = max((r.get("rep", 1) for r in rows if str(r.get("server", "")).startswith("heraldd")), default=0)
out = [f"Each server row: the median of {reps} runs, each on a fresh server (every run: store.jsonl).", "",
       "| size | server | gRPC PublishStream msgs/s | gRPC unary p50 / p99 µs | HTTP msgs/s | HTTP p50 / p99 µs (loaded) | server CPU µs per acknowledged message (HTTP; redis: XADD) |",
       "|---|---|---|---|---|---|---|"]
for size in (64, 1024):
    for mode in ("memory", "batch", "always"):
        s, u, h = (get(f"heraldd-{mode}", size, w) for w in ("grpc-stream", "grpc-unary", "http"))
        out.append(f"| {size} B | heraldd {mode} | {cell(s, '{:,.0f}', 'msgs_per_s')} | "
                   f"{cell(u, '{:.0f} / {:.0f}', 'p50_us', 'p99_us')} | {cell(h, '{:,.0f}', 'msgs_per_s')} | "
                   f"{cell(h, '{:.0f} / {:.0f}', 'p50_us', 'p99_us')} | {cell(h, '{:.1f}', 'server_cpu_us')} |")
    for fsync in ("everysec", "always"):
        l, o = get(f"redis-{fsync}", size, "load"), get(f"redis-{fsync}", size, "one")
        out.append(f"| {size} B | redis XADD {fsync} | – | {cell(o, '{:.0f} / {:.0f} (1 conn)', 'p50_us', 'p99_us')} | "
                   f"{cell(l, '{:,.0f}', 'msgs_per_s')} | {cell(l, '{:.0f} / {:.0f}', 'p50_us', 'p99_us')} | "
                   f"{cell(l, '{:.1f}', 'server_cpu_us')} |")
out += ["", "| size | target | measured |", "|---|---|---|"]
for size in (64, 1024):
    mem, bat, alw = (get(f"heraldd-{m}", size, "grpc-stream") for m in ("memory", "batch", "always"))
    hm, hb, ha = (get(f"heraldd-{m}", size, "http") for m in ("memory", "batch", "always"))
    re_, ra = (get(f"redis-{f}", size, "load") for f in ("everysec", "always"))
    out.append(f"| {size} B | disk batch ≥ 50% of memory (gRPC stream) | {ratio(bat, mem, '{:.0%}')} |")
    out.append(f"| {size} B | disk batch ≥ 1× redis everysec | gRPC {ratio(bat, re_, '{:.2f}×')}, "
               f"HTTP {ratio(hb, re_, '{:.2f}×')} |")
    out.append(f"| {size} B | disk always ≥ 1× redis always | gRPC {ratio(alw, ra, '{:.2f}×')}, "
               f"HTTP {ratio(ha, ra, '{:.2f}×')} |")
    # Not a target: where HTTP's bound is. heraldd's HTTP front with history
    # in memory (no store), against redis everysec, in the same run.
    out.append(f"| {size} B | (not a target: heraldd HTTP with history in memory vs redis everysec) | "
               f"{ratio(hm, re_, '{:.2f}×')} |")
group = get("engine-rocksdb", 64, "always")
out += ["", "Engines (prototypes of the store, same filesystem, same run; groups of "
        f"{cell(group, '{}', 'group')} messages):", "",
        "| size | sync | RocksDB msgs/s (commit p50 / p99 µs) | LMDB | SQLite |", "|---|---|---|---|---|"]
for size in (64, 1024):
    for sync in ("always", "batch"):
        cells = [cell(get(f"engine-{engine}", size, sync), "{:,.0f} ({:.0f} / {:.0f})",
                      "msgs_per_s", "commit_p50_us", "commit_p99_us")
                 for engine in ("rocksdb", "lmdb", "sqlite")]
        out.append(f"| {size} B | {sync} | " + " | ".join(cells) + " |")
def named(r):
    return f"{r.get('server')} {r.get('size')} {r.get('what')} run {r.get('rep', 1)}"
errors = [f"{named(r)}: {r['errors']}" for r in rows if r.get("errors")]
errors += [f"{named(r)}: {r['socket_errors']} socket errors" for r in rows if r.get("socket_errors")]
errors += [f"{named(r)}: no result" for r in rows if r.get("failed")]
errors += [f"a line that is not JSON: {b}" for b in broken]
# A stream's last BatchAck must count every message sent, or some went unacknowledged.
errors += [f"{named(r)}: {r['messages'] - r['accepted']} not acknowledged"
           for r in rows if r.get("what") == "grpc-stream" and "accepted" in r
           and r["accepted"] != r.get("messages")]
out += ["", "errors: " + (", ".join(errors) or "none")]
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
