#!/usr/bin/env bash
# HTTP publish throughput with keep-alive: wrk (Debian package) POSTing
# 64-byte payloads to /publish/<topic> on heraldd with one worker, heraldd
# pinned to CPU 0 and wrk to CPU 1. Bounded: HTTP_BENCH_SECONDS (default 10).
#   bash bench/http/run.sh        (make bench-http)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
seconds=${HTTP_BENCH_SECONDS:-10}
connections=${HTTP_BENCH_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "bench-http: wrk not installed (apt-get install wrk)" >&2; exit 1; }
pin_server=() pin_client=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
log=$(mktemp)
"${pin_server[@]}" "$BUILD_DIR/server/heraldd" --listen 127.0.0.1:0 --workers 1 \
  --log-level info 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$log")
  [[ -n "$port" ]] && break
  sleep 0.05
done
[[ -n "$port" ]] || { echo "bench-http: heraldd did not start" >&2; cat "$log" >&2; exit 1; }
echo "bench-http: heraldd (1 worker) on port $port, wrk -t1 -c$connections -d${seconds}s"
"${pin_client[@]}" wrk -t1 -c"$connections" -d"${seconds}s" --latency \
  -s bench/http/publish.lua "http://127.0.0.1:$port"
