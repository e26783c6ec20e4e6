#!/usr/bin/env bash
# Builds rlboard and runs the whole test suite: the Check suites, the
# command's tests, the Python binding, the install test and the nginx
# demo test, all through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
# Serial, because several tests measure release times of many processes
# and would only measure each other on a small machine.
ctest --test-dir build --output-on-failure
