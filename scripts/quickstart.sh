#!/usr/bin/env bash
# Installs what is missing, builds rlboard and runs its demo: worker
# processes against a rate-limited HTTP server on loopback, with the board
# and without it, ending with the comparison and the board's events.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
echo "Built build/tools/rlboard; running the demo." >&2
exec build/tools/rlboard demo "$@"
