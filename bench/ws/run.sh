#!/usr/bin/env bash
# WebSocket fan-out comparison (`make bench-ws` calls this from the repository
# root after building build/release): runs scenarios S1-S5 of
# herald_ws_loadgen against heraldd, the Node `ws` reference server and
# nats-server (over its WebSocket listener, NATS protocol), each server on a
# free loopback port pinned to CPU 0, the generator pinned to CPU 1. Writes
# build/release/bench-results/ws.md (table + heraldd/baseline ratios),
# ws.json and ws.jsonl. See bench/ws/README.md.
#
#   bash bench/ws/run.sh
#   WS_SERVERS="node-ws nats" WS_SCENARIOS="S1 S3" WS_DURATION=2 bash bench/ws/run.sh
#
# Environment (defaults in brackets):
#   WS_SERVERS [heraldd node-ws nats]   WS_SCENARIOS [S1 S2 S3 S4 S5]
#   WS_DURATION [5] seconds of publishing per scenario   WS_DRAIN [3]
#   WS_WINDOW_S1 [256]  WS_WINDOW_S4 [64]  WS_S5_CONNS [10000]  WS_S5_HOLD [3]
#   WS_THREADS [1] generator event loops   WS_HERALD_WORKERS [1]
#   WS_SERVER_CPU [0]  WS_GEN_CPU [1]   WS_GEN_ARGS: extra generator flags
# A server that fails to start, or a scenario that fails (e.g. heraldd without
# its WebSocket front yet), is reported as "failed" and the run goes on.
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build/release}
OUT_DIR="$BUILD_DIR/bench-results"
GEN="$BUILD_DIR/bench/ws_loadgen/herald_ws_loadgen"
HERALDD="$BUILD_DIR/server/heraldd"
NODE_DIR="$ROOT/bench/baselines/node-ws"
NATS_CONF_IN="$ROOT/bench/baselines/nats/nats.conf.in"

WS_SERVERS=${WS_SERVERS:-heraldd node-ws nats}
WS_SCENARIOS=${WS_SCENARIOS:-S1 S2 S3 S4 S5}
WS_DURATION=${WS_DURATION:-5}
WS_DRAIN=${WS_DRAIN:-3}
WS_WINDOW_S1=${WS_WINDOW_S1:-256}
WS_WINDOW_S4=${WS_WINDOW_S4:-64}
WS_S5_CONNS=${WS_S5_CONNS:-10000}
WS_S5_HOLD=${WS_S5_HOLD:-3}
WS_THREADS=${WS_THREADS:-1}
WS_HERALD_WORKERS=${WS_HERALD_WORKERS:-1}
WS_SERVER_CPU=${WS_SERVER_CPU:-0}
WS_GEN_CPU=${WS_GEN_CPU:-1}
read -r -a GEN_EXTRA <<<"${WS_GEN_ARGS:-}"

if [[ ! -x "$GEN" ]]; then
  echo "bench-ws: $GEN not found; build first (make build)" >&2
  exit 1
fi
mkdir -p "$OUT_DIR"
JSONL="$OUT_DIR/ws.jsonl"
: >"$JSONL"
LOG_DIR="$OUT_DIR/ws-logs"
mkdir -p "$LOG_DIR"

# Servers and the generator hold up to WS_S5_CONNS sockets: raise the soft
# limit to the hard one here, children inherit it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < WS_S5_CONNS + 100)); then
  echo "bench-ws: warning: ulimit -n is $(ulimit -n), S5 needs more than $WS_S5_CONNS" >&2
fi

PIN_SERVER=()
PIN_GEN=()
if command -v taskset >/dev/null; then
  PIN_SERVER=(taskset -c "$WS_SERVER_CPU")
  PIN_GEN=(taskset -c "$WS_GEN_CPU")
fi
CLK_TCK=$(getconf CLK_TCK)

SERVER_PID=""
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

free_ports() {  # free_ports N: N distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

wait_port() {  # wait_port PORT: until it accepts (10 s) and the server lives
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

cpu_ticks() {  # utime+stime of a PID in clock ticks (fields 14, 15 of /proc/PID/stat)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  stat=${stat##*) }  # the command name may hold spaces: cut after its ")"
  awk '{print $12 + $13}' <<<"$stat"
}

# start_server NAME: sets SERVER_PID, BASE_URL (without the topic part), MODE.
start_server() {
  local name=$1 port log="$LOG_DIR/$1.log"
  MODE=raw
  case "$name" in
    heraldd)
      [[ -x "$HERALDD" ]] || { echo "no $HERALDD" >"$log"; return 1; }
      port=$(free_ports 1)
      "${PIN_SERVER[@]}" "$HERALDD" --listen "127.0.0.1:$port" --workers "$WS_HERALD_WORKERS" \
        --log-level warn >"$log" 2>&1 &
      SERVER_PID=$!
      BASE_URL="ws://127.0.0.1:$port/ws/"
      ;;
    node-ws)
      command -v node >/dev/null || { echo "node not installed" >"$log"; return 1; }
      if [[ ! -d "$NODE_DIR/node_modules/ws" ]]; then
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1 || return 1
      fi
      port=$(free_ports 1)
      "${PIN_SERVER[@]}" node "$NODE_DIR/server.js" "$port" 127.0.0.1 >>"$log" 2>&1 &
      SERVER_PID=$!
      BASE_URL="ws://127.0.0.1:$port/ws/"
      ;;
    nats)
      # Installed here, not by scripts/install-deps.sh: Debian's package also
      # registers a system service, which a plain `make test` should not do.
      if ! command -v nats-server >/dev/null; then
        sudo_cmd=()
        [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nats-server \
          >"$log" 2>&1 || true
      fi
      command -v nats-server >/dev/null || { echo "nats-server not installed" >"$log"; return 1; }
      local client_port
      read -r client_port port < <(free_ports 2)
      sed "s/@CLIENT_PORT@/$client_port/; s/@WS_PORT@/$port/" "$NATS_CONF_IN" >"$OUT_DIR/nats.conf"
      "${PIN_SERVER[@]}" nats-server -c "$OUT_DIR/nats.conf" >"$log" 2>&1 &
      SERVER_PID=$!
      BASE_URL="ws://127.0.0.1:$port/"
      MODE=nats
      ;;
    *)
      echo "unknown server $name" >"$log"
      return 1
      ;;
  esac
  wait_port "$port"
}

scenario_args() {  # per-scenario flags from the environment
  case "$1" in
    S1) echo "--window $WS_WINDOW_S1 --duration $WS_DURATION --drain $WS_DRAIN" ;;
    S4) echo "--window $WS_WINDOW_S4 --duration $WS_DURATION --drain $WS_DRAIN" ;;
    S5) echo "--conns $WS_S5_CONNS --hold $WS_S5_HOLD" ;;
    *) echo "--duration $WS_DURATION --drain $WS_DRAIN" ;;
  esac
}

# A fresh server process per scenario: CPU ticks, RSS (S5 before/after) and
# allocator/GC state are not carried over from the previous scenario.
started=$(date +%s)
for server in $WS_SERVERS; do
  echo "=== $server"
  for scen in $WS_SCENARIOS; do
    if ! start_server "$server"; then
      why="server did not start (see $LOG_DIR/$server.log)"
      echo "bench-ws: $server $scen: $why" >&2
      python3 bench/ws/report.py failed "$server" "$scen" "$why" >>"$JSONL"
      stop_server
      continue
    fi
    sleep 0.3  # let the server finish starting up before RSS/CPU are read
    lower=$(tr 'A-Z' 'a-z' <<<"$scen")
    url="$BASE_URL"
    [[ "$MODE" == raw ]] && url="${BASE_URL}bench.$lower"
    read -r -a sargs <<<"$(scenario_args "$scen")"
    if [[ "$scen" == S5 ]]; then
      # Warm-up: 100 connections opened, held and closed first, so the
      # baseline RSS already includes what every server pays once (code pages
      # of its TLS/SHA-1/zlib libraries touched by the first handshake, the
      # allocator's first arenas), not per connection. Same for all servers.
      timeout 60 "${PIN_GEN[@]}" "$GEN" --url "$url" --mode "$MODE" --scenario S5 \
        --server "$server" --threads "$WS_THREADS" --conns 100 --hold 1 >/dev/null 2>&1 || true
      sleep 0.5
    fi
    t0=$(cpu_ticks "$SERVER_PID")
    out=$(timeout 120 "${PIN_GEN[@]}" "$GEN" --url "$url" --mode "$MODE" --scenario "$scen" \
      --server "$server" --server-pid "$SERVER_PID" --threads "$WS_THREADS" \
      "${sargs[@]}" "${GEN_EXTRA[@]}" 2> >(tee -a "$LOG_DIR/generator.log" >&2))
    rc=$?
    t1=$(cpu_ticks "$SERVER_PID")
    ticks=-1
    ((t0 >= 0 && t1 >= 0)) && ticks=$((t1 - t0))
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      out='{"scenario":"'$scen'","status":"failed","error":"server process exited during the run"}'
      ticks=-1
    fi
    python3 bench/ws/report.py annotate "$server" "$scen" "$rc" "$ticks" "$CLK_TCK" \
      <<<"$out" >>"$JSONL"
    stop_server
  done
done

echo
python3 bench/ws/report.py table "$JSONL" "$OUT_DIR/ws.md" "$OUT_DIR/ws.json"
echo
echo "bench-ws: $(($(date +%s) - started)) s; results in $OUT_DIR/ws.md and ws.json"
