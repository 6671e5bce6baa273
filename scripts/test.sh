#!/usr/bin/env bash
# Installs what is needed, builds switchyard twice (release, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in both:
# Catch2 unit tests and integration tests against real PostgreSQL 15
# clusters started on loopback; then fuzzes the decoders for a bounded time
# (scripts/fuzz.sh). Exit code 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

echo "== formatting"
if ! git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror 2>/dev/null; then
  echo "clang-format: some files are not formatted (run: git ls-files '*.cpp' '*.h' | xargs clang-format -i)"
  exit 1
fi

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j 2 --timeout 900)

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The unit tests in one process here: ctest runs each of its ~400 cases in
# a process of its own, and a sanitized one takes half a second to start
# and check for leaks (200 s in all, against seconds for the cases).
build-asan/tests/unit/switchyard_unit_tests
(cd build-asan && ctest --output-on-failure -j 2 --timeout 900 -LE unit)

echo "== fuzzing the decoders (libFuzzer, ${FUZZ_SECONDS:-60} s per target)"
scripts/fuzz.sh build/tests/unit/switchyard_unit_tests
echo "== all tests passed (release and sanitizer builds, fuzzing)"
