#!/usr/bin/env bash
# Prints the variants the test suite covers, one per line: every size-class table with
# mutex-flat, every central-sync policy and every NUMA policy with the go table, and
# every other front end with every sync policy (go, flat) and with node (go, mutex).
# Values come from scripts/axes.sh (what is on disk).
# Usage: scripts/variants.sh [--cmake]   (--cmake: one semicolon-separated line)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
axes=$("$(dirname "$0")/axes.sh")
values() { awk -v a="$1" '$1 == a { $1 = ""; print }' <<<"$axes"; }
{
  for sc in $(values sizeclass); do echo "$sc-mutex-flat"; done
  for sy in $(values sync); do echo "go-$sy-flat"; done
  for nu in $(values numa); do echo "go-mutex-$nu"; done
  for fe in $(values frontend); do
    [ "$fe" = freelist ] && continue
    for sy in $(values sync); do echo "go-$sy-flat-$fe"; done
    for nu in $(values numa); do echo "go-mutex-$nu-$fe"; done
  done
} | awk '!seen[$0]++' | { if [ "${1:-}" = "--cmake" ]; then paste -sd';'; else cat; fi; }
