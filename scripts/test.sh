#!/usr/bin/env bash
# The README's test command: installs missing dependencies (apt), builds every variant
# the suite covers (scripts/variants.sh) and runs the whole ctest suite; then builds
# go-mutex-flat with the engine's invariant checks on (-DSPANLAB_DEBUG=ON, in
# <build-dir>-debug) and runs its engine tests.
# Usage: scripts/test.sh [build-dir]        (default: build-test)
# Environment: SPANLAB_VARIANTS="a;b" to test other variants, CTEST_ARGS for ctest
# (e.g. CTEST_ARGS="-R engine"), JOBS for parallelism (default: nproc); with either
# SPANLAB_VARIANTS or CTEST_ARGS set the debug run is skipped.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-test}
jobs=${JOBS:-$(nproc)}
"$root/scripts/install-deps.sh"
variants=${SPANLAB_VARIANTS:-$("$root/scripts/variants.sh" --cmake)}
echo "test: variants: $variants"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANLAB_VARIANTS="$variants"
cmake --build "$build" -j "$jobs"
# shellcheck disable=SC2086
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 600 ${CTEST_ARGS:-}
if [ -z "${SPANLAB_VARIANTS:-}" ] && [ -z "${CTEST_ARGS:-}" ]; then
  echo "test: go-mutex-flat with SPANLAB_DEBUG (internal invariant checks): engine tests"
  cmake -S "$root" -B "$build-debug" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANLAB_DEBUG=ON \
    -DSPANLAB_VARIANTS=go-mutex-flat
  cmake --build "$build-debug" -j "$jobs"
  ctest --test-dir "$build-debug" -j "$jobs" --output-on-failure --timeout 600 -R '^go-mutex-flat/engine/'
fi
