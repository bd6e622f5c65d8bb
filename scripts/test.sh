#!/usr/bin/env bash
# Builds FlexLLM with warnings as errors and runs the whole test suite.
# Extra arguments go to ctest (e.g. -LE slow to skip the minute-long tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FLEXLLM_BUILD:-$root/build}
export FLEXLLM_DATA=${FLEXLLM_DATA:-$root/../shared/data}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLEXLLM_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"
