#!/usr/bin/env bash
# Prints the fast-path budget of spanlab variants as measured numbers: callgrind
# instructions per malloc+free pair of sl-fastpath, run twice under
# LD_PRELOAD=libspanlab-VARIANT.so with two loop lengths; the difference of the two
# instruction totals divided by the difference of the pairs (start-up, warm-up set-up
# and exit cancel out). Method: bench/README.md, "sl-fastpath and the fast-path goal".
# Usage: scripts/fastpath-budget.sh [--build DIR] [--iters N] VARIANT...
#   --build DIR  build folder holding lib/libspanlab-VARIANT.so and bin/sl-fastpath
#                (default: build); build them first (cmake --build DIR --target
#                spanlab-VARIANT sl-fastpath)
#   --iters N    sl-fastpath's timed steps in the shorter run (default 1000000); the
#                longer run takes 2N
# Prints one line per variant: `VARIANT  Ir/pair`.
set -euo pipefail
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
build=build
iters=1000000
variants=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    --iters) iters=${2:?--iters needs a number}; shift 2 ;;
    -*) echo "fastpath-budget: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) variants+=("$1"); shift ;;
  esac
done
[ ${#variants[@]} -gt 0 ] || { echo "fastpath-budget: no variant given (see --help)" >&2; exit 2; }
case "$iters" in ''|*[!0-9]*) echo "fastpath-budget: --iters takes a whole number" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "fastpath-budget: valgrind is not installed" >&2; exit 1; }
bin="$build/bin/sl-fastpath"
[ -x "$bin" ] || { echo "fastpath-budget: no $bin (build the sl-fastpath target)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions (Ir) of one run of sl-fastpath N under the library $1.
instructions() {
  LD_PRELOAD="$1" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
    "$bin" "$2" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg"
}

for v in "${variants[@]}"; do
  lib="$build/lib/libspanlab-$v.so"
  [ -f "$lib" ] || { echo "fastpath-budget: no $lib (build the spanlab-$v target)" >&2; exit 1; }
  lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
  short=$(instructions "$lib" "$iters")
  long=$(instructions "$lib" $((2 * iters)))
  # sl-fastpath N makes N timed pairs after N/10 + 1 warm-up pairs.
  pairs=$(( (2 * iters + 2 * iters / 10) - (iters + iters / 10) ))
  awk -v v="$v" -v a="$short" -v b="$long" -v n="$pairs" \
    'BEGIN { printf "%-24s %.1f\n", v, (b - a) / n }'
done
