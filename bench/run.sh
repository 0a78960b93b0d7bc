#!/usr/bin/env bash
# Runs the core benchmarks of a release build (`make bench` calls this from the
# repository root after building build/release). Prints console tables and
# writes one JSON file per benchmark binary to build/release/bench-results/.
#
#   bash bench/run.sh                  # every *_bench binary
#   bash bench/run.sh match fanout     # only these
#   BENCH_ARGS=--benchmark_min_time=0.1 bash bench/run.sh   # quicker, noisier
#
# Single-threaded benchmarks (match_bench) are pinned to CPU 0 with taskset
# when it is available; the end-to-end ones use two threads (publisher and
# dispatcher/inbox owner) and are left unpinned so they get both cores.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
OUT_DIR="$BUILD_DIR/bench-results"
BENCH_DIR="$BUILD_DIR/bench"
SINGLE_THREADED=(match)
read -r -a EXTRA <<<"${BENCH_ARGS:-}"

if [[ ! -d "$BENCH_DIR" ]]; then
  echo "run.sh: $BENCH_DIR not found; build first (make build)" >&2
  exit 1
fi
mkdir -p "$OUT_DIR"

if [[ $# -gt 0 ]]; then
  names=("$@")
else
  names=()
  for bin in "$BENCH_DIR"/*_bench; do
    [[ -x "$bin" ]] && names+=("$(basename "$bin" _bench)")
  done
fi

status=0
for name in "${names[@]}"; do
  bin="$BENCH_DIR/${name}_bench"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: no benchmark binary $bin" >&2
    status=1
    continue
  fi
  prefix=()
  for single in "${SINGLE_THREADED[@]}"; do
    if [[ "$name" == "$single" ]] && command -v taskset >/dev/null; then
      prefix=(taskset -c 0)
    fi
  done
  echo "=== ${name}_bench ${prefix[*]:+(${prefix[*]})}"
  if ! "${prefix[@]}" "$bin" --benchmark_format=console \
      --benchmark_out="$OUT_DIR/${name}.json" --benchmark_out_format=json "${EXTRA[@]}"; then
    echo "run.sh: ${name}_bench failed" >&2
    status=1
  fi
done
echo "JSON results: $OUT_DIR/"
exit $status
