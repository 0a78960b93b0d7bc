#!/usr/bin/env bash
# Installs what the build, the tests and the benchmarks need: Debian packages
# and the npm packages of the test suites. Idempotent and near-instant when
# everything is present: dpkg is asked first, apt-get and npm only run for
# what is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ccache pkg-config git curl
  libuv1-dev node-llhttp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  zlib1g-dev libssl-dev openssl libsimdjson-dev libjwt-dev
  librocksdb-dev liblmdb-dev libsqlite3-dev libjemalloc-dev
  libhiredis-dev redis-server redis-sentinel libcurl4-openssl-dev libsystemd-dev
  python3 python3-prometheus-client python3-websockets python3-grpcio python3-grpc-tools
  wrk libfuzzer-14-dev libclang-rt-14-dev clang-14
  chromium libnss3-tools
)

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js for the tests that use npm clients (ws, eventsource). The machine
# image ships Node 20; a bare Debian 12 gets Debian's nodejs and npm.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of the test suites, pinned by their package-lock.json.
for dir in tests/integration/node; do
  if [[ ! -d "$root/$dir/node_modules" || "$root/$dir/package-lock.json" -nt "$root/$dir/node_modules" ]]; then
    echo "install-deps: npm ci in $dir"
    (cd "$root/$dir" && npm ci --no-audit --no-fund --silent)
    touch "$root/$dir/node_modules"
  fi
done
