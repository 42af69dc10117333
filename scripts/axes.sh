#!/usr/bin/env bash
# Prints spanlab's policy axes and their values, one line per axis: `axis value...`
# (values sorted), in variant-name order: sizeclass, sync, numa, frontend. The one
# place that knows where each axis lives; CMakeLists.txt, scripts/variants.sh and the
# experiment runner (scripts/spanlab_exp/build.py) read it.
#
# The values are what is on disk in the axis's folder: every header <value>.h, and every
# folder <value>/ that holds <value>.h. Not values: the axis's own selection header when
# it lives in the folder (numa/numa.h) and headers whose name starts with `_` (helpers
# an implementation shares). An axis whose folder does not exist prints no line.
#
# Usage: scripts/axes.sh [--root DIR]   (DIR: the source tree; default: this script's)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --root) root=${2:?--root needs a folder}; [ -d "$root" ] || { echo "axes.sh: no folder $root" >&2; exit 2; } ;;
  "") ;;
  *) echo "axes.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

# axis and the folder of its implementations, relative to the root
axes="sizeclass policies/sizeclass
sync policies/sync
numa numa
frontend core/frontend"

while read -r axis folder; do
  dir="$root/$folder"
  [ -d "$dir" ] || continue
  self=$(basename "$folder")
  values=$(
    for f in "$dir"/*.h "$dir"/*/; do
      [ -e "$f" ] || continue
      case "$f" in
        */) v=$(basename "$f"); [ -f "$dir/$v/$v.h" ] || continue ;;
        *) v=$(basename "$f" .h) ;;
      esac
      case "$v" in "$self"|_*) continue ;; esac
      echo "$v"
    done | LC_ALL=C sort -u | paste -sd' ')
  echo "$axis${values:+ $values}"
done <<<"$axes"
