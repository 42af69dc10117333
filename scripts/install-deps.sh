#!/usr/bin/env bash
# Installs what spanlab needs from Debian's archive, only what is missing.
# Usage: scripts/install-deps.sh [--check]   (--check: list what is missing, install nothing)
set -euo pipefail

PACKAGES=(
  cmake make gcc g++ pkg-config git          # build
  liburcu-dev libck-dev libhwloc-dev hwloc   # policies (rcu, spin/lockfree, numa)
  libbenchmark-dev                           # microbenchmarks
  python3 python3-matplotlib                 # experiments and plots
  libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4   # baseline allocators
  sqlite3 xz-utils gzip perl                 # real programs the tests preload into
)

case "${1:-}" in
  -h|--help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: missing: ${missing[*]}"
[ "${1:-}" = "--check" ] && exit 1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo: install ${missing[*]} yourself" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
