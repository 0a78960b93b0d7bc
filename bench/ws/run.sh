#!/usr/bin/env bash
# WebSocket fan-out comparison (`make bench-ws` calls this from the repository
# root after building build/release): runs scenarios S1-S5 of
# herald_ws_loadgen against heraldd, the Node `ws` reference server and
# nats-server (over its WebSocket listener, NATS protocol), each server on a
# free loopback port pinned to CPU 0, the generator pinned to CPU 1. With
# WS_TLS=1 (the default) heraldd and nats-server also run WS_TLS_SCENARIOS
# over wss (TLS on their WebSocket listeners, a test CA and server certificate
# made here with the openssl CLI), in the same run, each right after its
# plaintext row. Writes build/release/bench-results/ws.md (table +
# heraldd/baseline ratios + the TLS ratios), ws.json and ws.jsonl. See
# bench/ws/README.md.
#
#   bash bench/ws/run.sh
#   WS_SERVERS="node-ws nats" WS_SCENARIOS="S1 S3" WS_DURATION=2 bash bench/ws/run.sh
#   WS_SERVERS="heraldd nats" WS_SCENARIOS="S1 S3" bash bench/ws/run.sh   # issue #20
#
# Environment (defaults in brackets):
#   WS_SERVERS [heraldd node-ws nats]   WS_SCENARIOS [S1 S2 S3 S4 S5]
#   WS_DURATION [5] seconds of publishing per scenario   WS_DRAIN [3]
#   WS_WINDOW_S1 [256]  WS_WINDOW_S4 [64]  WS_S5_CONNS [10000]  WS_S5_HOLD [3]
#   WS_THREADS [1] generator event loops   WS_HERALD_WORKERS [1]
#   WS_SERVER_CPU [0]  WS_GEN_CPU [1]   WS_GEN_ARGS: extra generator flags
#   WS_TLS [1] also run over TLS (heraldd [tls] listener, nats websocket tls {})
#   WS_TLS_SCENARIOS [S1 S3] which of WS_SCENARIOS run over TLS too
#   (node-ws has no TLS variant: its rows stay plaintext only)
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
NATS_TLS_CONF_IN="$ROOT/bench/baselines/nats/nats-tls.conf.in"

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
WS_TLS=${WS_TLS:-1}
WS_TLS_SCENARIOS=${WS_TLS_SCENARIOS:-S1 S3}
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
TLS_DIR="$OUT_DIR/tls"

# make_certs: a throwaway CA and a server certificate it signs (EC P-256,
# subjectAltName IP:127.0.0.1, serverAuth) in $TLS_DIR, made anew every run.
# The generator verifies the servers against ca.pem.
make_certs() {
  rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR" || return 1
  (
    cd "$TLS_DIR" || exit 1
    set -e
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=herald bench-ws test CA" \
      -out ca.pem
    openssl ecparam -name prime256v1 -genkey -noout -out server.key
    openssl req -new -key server.key -subj "/CN=127.0.0.1" -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
      >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 2 \
      -extfile server.ext -out server.pem
    chmod 600 ca.key server.key
  ) >"$LOG_DIR/certs.log" 2>&1
}

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

# start_server NAME TRANSPORT (ws|wss): sets SERVER_PID, BASE_URL (without the
# topic part), MODE.
start_server() {
  local name=$1 transport=${2:-ws} port log="$LOG_DIR/$1.log"
  [[ "$transport" == wss ]] && log="$LOG_DIR/$1-tls.log"
  MODE=raw
  if [[ "$transport" == wss && "$name" != heraldd && "$name" != nats ]]; then
    echo "$name has no TLS variant in this bench" >"$log"
    return 1
  fi
  case "$name" in
    heraldd)
      [[ -x "$HERALDD" ]] || { echo "no $HERALDD" >"$log"; return 1; }
      if [[ "$transport" == wss ]]; then
        # The [tls] listener beside the plain one (idle here), same worker count.
        local plain_port
        read -r plain_port port < <(free_ports 2)
        printf '[tls]\nlisten = "127.0.0.1:%s"\ncert_file = "%s"\nkey_file = "%s"\n' \
          "$port" "$TLS_DIR/server.pem" "$TLS_DIR/server.key" >"$OUT_DIR/heraldd-tls.toml"
        "${PIN_SERVER[@]}" "$HERALDD" --config "$OUT_DIR/heraldd-tls.toml" \
          --listen "127.0.0.1:$plain_port" --workers "$WS_HERALD_WORKERS" \
          --log-level warn >"$log" 2>&1 &
        SERVER_PID=$!
        BASE_URL="wss://127.0.0.1:$port/ws/"
      else
        port=$(free_ports 1)
        "${PIN_SERVER[@]}" "$HERALDD" --listen "127.0.0.1:$port" --workers "$WS_HERALD_WORKERS" \
          --log-level warn >"$log" 2>&1 &
        SERVER_PID=$!
        BASE_URL="ws://127.0.0.1:$port/ws/"
      fi
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
      local client_port conf="$OUT_DIR/nats.conf"
      read -r client_port port < <(free_ports 2)
      if [[ "$transport" == wss ]]; then
        conf="$OUT_DIR/nats-tls.conf"
        sed "s/@CLIENT_PORT@/$client_port/; s/@WS_PORT@/$port/; s|@CERT_FILE@|$TLS_DIR/server.pem|; s|@KEY_FILE@|$TLS_DIR/server.key|" \
          "$NATS_TLS_CONF_IN" >"$conf"
        BASE_URL="wss://127.0.0.1:$port/"
      else
        sed "s/@CLIENT_PORT@/$client_port/; s/@WS_PORT@/$port/" "$NATS_CONF_IN" >"$conf"
        BASE_URL="ws://127.0.0.1:$port/"
      fi
      "${PIN_SERVER[@]}" nats-server -c "$conf" >"$log" 2>&1 &
      SERVER_PID=$!
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
# run_one SERVER SCENARIO TRANSPORT: one row of ws.jsonl.
run_one() {
  local server=$1 scen=$2 transport=$3 label=$1
  [[ "$transport" == wss ]] && label="$1 (wss)"
  local tls_args=()
  [[ "$transport" == wss ]] && tls_args=(--ca "$TLS_DIR/ca.pem")
  if ! start_server "$server" "$transport"; then
    local why="server did not start (see $LOG_DIR/)"
    echo "bench-ws: $label $scen: $why" >&2
    python3 bench/ws/report.py failed "$server" "$scen" "$why" "$transport" >>"$JSONL"
    stop_server
    return
  fi
  sleep 0.3  # let the server finish starting up before RSS/CPU are read
  local lower url
  lower=$(tr 'A-Z' 'a-z' <<<"$scen")
  url="$BASE_URL"
  [[ "$MODE" == raw ]] && url="${BASE_URL}bench.$lower"
  local sargs
  read -r -a sargs <<<"$(scenario_args "$scen")"
  if [[ "$scen" == S5 ]]; then
    # Warm-up: 100 connections opened, held and closed first, so the
    # baseline RSS already includes what every server pays once (code pages
    # of its TLS/SHA-1/zlib libraries touched by the first handshake, the
    # allocator's first arenas), not per connection. Same for all servers.
    timeout 60 "${PIN_GEN[@]}" "$GEN" --url "$url" --mode "$MODE" --scenario S5 \
      --server "$server" --threads "$WS_THREADS" --conns 100 --hold 1 "${tls_args[@]}" \
      >/dev/null 2>&1 || true
    sleep 0.5
  fi
  local t0 t1 out rc ticks
  t0=$(cpu_ticks "$SERVER_PID")
  out=$(timeout 120 "${PIN_GEN[@]}" "$GEN" --url "$url" --mode "$MODE" --scenario "$scen" \
    --server "$server" --server-pid "$SERVER_PID" --threads "$WS_THREADS" \
    "${tls_args[@]}" "${sargs[@]}" "${GEN_EXTRA[@]}" 2> >(tee -a "$LOG_DIR/generator.log" >&2))
  rc=$?
  t1=$(cpu_ticks "$SERVER_PID")
  ticks=-1
  ((t0 >= 0 && t1 >= 0)) && ticks=$((t1 - t0))
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    out='{"scenario":"'$scen'","status":"failed","error":"server process exited during the run"}'
    ticks=-1
  fi
  python3 bench/ws/report.py annotate "$server" "$scen" "$rc" "$ticks" "$CLK_TCK" "$transport" \
    <<<"$out" >>"$JSONL"
  stop_server
}

tls_ok=0
if [[ "$WS_TLS" == 1 ]]; then
  if command -v openssl >/dev/null && make_certs; then
    tls_ok=1
  else
    echo "bench-ws: could not make the test certificates (see $LOG_DIR/certs.log): TLS rows fail" >&2
  fi
fi

# Each server's TLS row of a scenario runs right after its plaintext one, so
# the TLS/plain ratio compares neighbours in time.
started=$(date +%s)
for server in $WS_SERVERS; do
  echo "=== $server"
  for scen in $WS_SCENARIOS; do
    run_one "$server" "$scen" ws
    [[ "$WS_TLS" == 1 && " $WS_TLS_SCENARIOS " == *" $scen "* ]] || continue
    [[ "$server" == heraldd || "$server" == nats ]] || continue
    if ((tls_ok)); then
      run_one "$server" "$scen" wss
    else
      python3 bench/ws/report.py failed "$server" "$scen" "no test certificate" wss >>"$JSONL"
    fi
  done
done

echo
python3 bench/ws/report.py table "$JSONL" "$OUT_DIR/ws.md" "$OUT_DIR/ws.json"
echo
echo "bench-ws: $(($(date +%s) - started)) s; results in $OUT_DIR/ws.md and ws.json"
