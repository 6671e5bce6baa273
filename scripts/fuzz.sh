#!/usr/bin/env bash
# Fuzzes the decoders (fuzz/README.md): builds the libFuzzer targets with
# clang, collects seeds from the unit tests' inputs, and runs each target
# for FUZZ_SECONDS (default 60). Exit code 0 only if no target found a
# crash, a sanitizer report or an exception other than switchyard::Error.
#
#   scripts/fuzz.sh [path/to/switchyard_unit_tests]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
unit_tests=${1:-build/tests/unit/switchyard_unit_tests}
work=build-fuzz

cmake -S fuzz -B "$work" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$work"

# Seeds: every input the unit tests hand to these decoders.
rm -rf "$work/seeds"
SWITCHYARD_FUZZ_SEEDS="$work/seeds" "$unit_tests" "[pgoutput],[binary_copy],[config]" >/dev/null

status=0
for target in pgoutput binary_copy config; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus" "$work/seeds/$target"
  echo "fuzz: $target for ${seconds}s ($(ls "$work/seeds/$target" | wc -l) seeds)"
  if ! (cd "$work" && "./${target}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=1 "corpus/$target" "seeds/$target" >"$target.log" 2>&1); then
    echo "fuzz: $target FAILED; the input and the report are in $work/ ($target.log, crash-*)"
    tail -30 "$work/$target.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/$target.log" | tr '\n' ' '
    echo
  fi
done
exit $status
