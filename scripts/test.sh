#!/usr/bin/env bash
# Builds rlboard and runs the whole test suite: the Check suites, the
# command's tests, the Python binding, the install test and the nginx
# demo test, all through ctest. Then runs the suite again under
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan), the thread
# stress test under ThreadSanitizer (build-tsan) and each fuzz target for
# RLB_FUZZ_SECONDS seconds, 60 by default (build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Runs ctest and keeps its output, for the summary at the end.
run_ctest() {
  ctest_runs=$((ctest_runs + 1))
  ctest "$@" --output-on-failure 2>&1 | tee "$logs/ctest-$ctest_runs.log"
}
ctest_runs=0

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
# Serial, because several tests measure release times of many processes
# and would only measure each other on a small machine.
run_ctest --test-dir build

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer. The
# nginx demo is left out because it only measures 429 counts, and the chaos
# run is shortened to 5 s. The Python binding and the install test leave
# themselves out of sanitizer builds.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRLBOARD_ASAN=ON -DRLBOARD_UBSAN=ON
cmake --build build-asan -j"$jobs"
RLB_CHAOS_SECONDS=5 run_ctest --test-dir build-asan -E '^nginx_demo$'

# Threads sharing one board under ThreadSanitizer. Clang is used because
# the runtime of GCC 12 sometimes fails to restore the stack of a reader's
# earlier access, and a report without that stack escapes tests/tsan.supp.
CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRLBOARD_TSAN=ON
cmake --build build-tsan -j"$jobs" --target stress_threads
run_ctest --test-dir build-tsan -R '^stress_threads$'

# The libFuzzer targets, built with clang. Each runs on a copy of its kept
# corpus, so that the kept corpus does not change, plus seeds made now,
# whose events have not expired yet. Crashing inputs are kept in
# build-fuzz/artifacts.
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRLBOARD_FUZZ=ON -DRLBOARD_BUILD_TESTS=OFF -DRLBOARD_BUILD_TOOLS=OFF \
  -DRLBOARD_BUILD_BENCH=OFF -DRLBOARD_INSTALL=OFF
cmake --build build-fuzz -j"$jobs"
fuzz_seconds=${RLB_FUZZ_SECONDS:-60}
fuzz_work="$logs/fuzz"
mkdir -p "$fuzz_work"
mkdir -p build-fuzz/artifacts
for target in attach verify restore; do
  mkdir -p "$fuzz_work/$target"
  cp fuzz/corpus/"$target"/* "$fuzz_work/$target/"
done
build-fuzz/fuzz/rlboard-fuzz-seeds "$fuzz_work/attach" "$fuzz_work/verify" \
  "$fuzz_work/restore"
for target in attach verify restore; do
  log="$fuzz_work/$target.log"
  if ! build-fuzz/fuzz/"$target"_fuzz -max_total_time="$fuzz_seconds" \
      -timeout=10 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$target-" \
      "$fuzz_work/$target" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in build-fuzz/artifacts" >&2
    exit 1
  fi
  echo "$target: $(grep -E '^stat::number_of_executed_units' "$log")" \
    "in $fuzz_seconds s"
done

# One closing line for the three ctest runs and the fuzz targets together.
passed=$(cat "$logs"/ctest-*.log |
  sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' |
  awk '{ passed += $1 - $2 } END { print passed + 3 }')
echo "test.sh: $passed passed, 0 failed"
