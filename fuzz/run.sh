#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] — builds the libFuzzer targets in build/fuzz with
# clang-14 and runs each for SECONDS (default 60). New inputs go to
# build/fuzz/corpus/<target>; the committed seeds in fuzz/corpus/<target> are
# read only. Fails if any target crashes; the crashing input is left in
# build/fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ once fixed).
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."

targets=(frame_parser handshake inflate utf8 json sse trie jwt config http grpc peer)
CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHERALD_FUZZ=ON -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF >/dev/null
cmake --build build/fuzz -j"${JOBS:-2}" --target "${targets[@]/#/fuzz_}"

status=0
for t in "${targets[@]}"; do
  corpus=build/fuzz/corpus/$t
  artifacts=build/fuzz/artifacts/$t/
  log=build/fuzz/$t.log
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $t for ${seconds}s"
  if ./build/fuzz/fuzz/fuzz_$t -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $t ok: $execs runs, $rate exec/s, corpus $(ls "$corpus" | wc -l) files"
  else
    echo "fuzz: $t FAILED: see $log and $artifacts"
    tail -n 30 "$log"
    status=1
  fi
done
exit $status
