#!/usr/bin/env bash
# Installs what is needed, builds switchyard twice (release, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test: the
# Catch2 unit tests in both builds; each integration test (real PostgreSQL
# 15 clusters, MariaDB, pgbouncer started on loopback) once, those about
# load and speed (label `release`) in the release build and all others in
# the sanitizer build (tests/integration/CMakeLists.txt); then fuzzes the
# decoders for a bounded time (scripts/fuzz.sh). Exit code 0 only if
# everything passed. Each phase prints the seconds it took.
set -euo pipefail
cd "$(dirname "$0")/.."

timings=() current="" phase_start=$SECONDS
phase() {
  [ -z "$current" ] || timings+=("$(printf '%6d s  %s' $(( SECONDS - phase_start )) "$current")")
  current=$1 phase_start=$SECONDS
  [ -z "$current" ] || echo "== $current"
}

phase "installing what is needed"
scripts/install-deps.sh
jobs=$(nproc)

phase "formatting"
if ! git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror 2>/dev/null; then
  echo "clang-format: some files are not formatted (run: git ls-files '*.cpp' '*.h' | xargs clang-format -i)"
  exit 1
fi

phase "release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build build -j "$jobs"
phase "release build: unit tests, and the integration tests about load and speed"
(cd build && ctest --output-on-failure -j 2 --timeout 900 -L "unit|release")

phase "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_SANITIZE=ON -DCMAKE_UNITY_BUILD=ON \
  >/dev/null
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The unit tests in one process here: ctest runs each of its ~400 cases in
# a process of its own, and a sanitized one takes half a second to start
# and check for leaks (200 s in all, against seconds for the cases).
phase "sanitizer build: unit tests, and every other integration test"
build-asan/tests/unit/switchyard_unit_tests
(cd build-asan && ctest --output-on-failure -j 2 --timeout 900 -L integration -LE release)

export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
phase "fuzzing the decoders (libFuzzer, $FUZZ_SECONDS s per target)"
scripts/fuzz.sh build/tests/unit/switchyard_unit_tests
phase ""
echo "== all tests passed (release and sanitizer builds, fuzzing), in $SECONDS s:"
printf '%s\n' "${timings[@]}"
