#!/bin/sh
# The README's main job: on a fresh Debian machine, install what is missing,
# build, run the 'quick' experiment and say where its results, plots and summary
# are. Extra arguments go to 'spanlab-exp run' (e.g. --out DIR).
#   scripts/main.sh                 # quick experiment
#   SPEC=experiments/scalability.toml scripts/main.sh
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
spec=${SPEC:-experiments/quick.toml}

if [ -x scripts/install-deps.sh ]; then
	scripts/install-deps.sh
elif [ -f scripts/install-deps.sh ]; then
	sh scripts/install-deps.sh
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
# spanlab-exp builds the variants and workloads the spec needs, shows progress on
# stderr and prints the locations of its outputs on stdout.
/usr/bin/python3 scripts/spanlab-exp run "$spec" "$@" >"$out" || status=$?
cat "$out"
folder=$(sed -n 's|^summary: *\(.*\)/summary.md$|\1|p' "$out")
if [ -n "$folder" ]; then
	echo
	echo "Done (exit status $status). Results folder: $folder"
	echo "  summary table: $folder/summary.md"
	echo "  plots:         $folder/plots/ (PNG and SVG)"
	echo "  raw rows:      $folder/results.csv, run metadata: $folder/metadata.json"
	echo "Re-plot later with: scripts/spanlab-exp plot $folder"
fi
exit "$status"
