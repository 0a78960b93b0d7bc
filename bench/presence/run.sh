#!/usr/bin/env bash
# Presence join storm (`make bench-presence`): bench/presence/storm.mjs against
# heraldd with coalescing (event_interval_ms = 100, the default) and without
# (0), PRESENCE_CLIENTS clients (default 1000) joining one topic over
# PRESENCE_SPREAD_MS (default 1000). Each heraldd is fresh, on a free
# loopback port. Results: stdout and build/release/bench-results/presence.md.
#   bash bench/presence/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
HERALDD="$BUILD_DIR/server/heraldd"
OUT_DIR="$BUILD_DIR/bench-results"
CLIENTS=${PRESENCE_CLIENTS:-1000}
SPREAD=${PRESENCE_SPREAD_MS:-1000}
[[ -x "$HERALDD" ]] || { echo "bench-presence: build first (make build)" >&2; exit 1; }
mkdir -p "$OUT_DIR"
ulimit -n 65536 2>/dev/null || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=()
for interval in 100 0; do
  label=$([[ $interval -gt 0 ]] && echo "coalesced (${interval} ms)" || echo "every change (0 ms)")
  cat > "$work/h.toml" <<TOML
[presence]
event_interval_ms = $interval
max_event_members = 64
TOML
  "$HERALDD" --listen 127.0.0.1:0 --config "$work/h.toml" 2> "$work/log" &
  pid=$!
  for _ in $(seq 100); do
    port=$(grep -oP 'listening on http://[^ ]+:\K\d+' "$work/log" | head -1)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  line=$(node bench/presence/storm.mjs --port "$port" --pid "$pid" --clients "$CLIENTS" \
    --spread "$SPREAD" --label "$label")
  kill "$pid"; wait "$pid" 2>/dev/null
  echo "$line"
  results+=("$line")
done
{
  echo "# Presence join storm ($(date -u +%F), $CLIENTS clients over ${SPREAD} ms)"
  echo
  echo '| run | all saw all (ms) | frames/client (median, max) | bytes/client | server CPU (s) | RSS growth (MiB) | presence bytes/member | events | resyncs |'
  echo '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
  for r in "${results[@]}"; do
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %d | %d, %d | %d | %.2f | %.1f | %d | %d | %d |" % (r["label"], r["all_seen_ms"], r["frames_per_client_median"], r["frames_per_client_max"], r["bytes_per_client"], r["server_cpu_s"], r["server_rss_growth_bytes"]/1048576, r["presence_bytes_per_member"], r["events"], r["resyncs"]))' "$r"
  done
} | tee "$OUT_DIR/presence.md"
