#!/usr/bin/env bash
# Installs what spanlab needs from Debian's archive, only what is missing.
# Usage: scripts/install-deps.sh [--apps] [--check]
#   --apps   also the application programs of the 'apps' workloads (experiments/apps.toml)
#   --check  list what is missing, install nothing (exit 1 if anything is)
set -euo pipefail

PACKAGES=(
  cmake make gcc g++ pkg-config git          # build
  liburcu-dev libck-dev libhwloc-dev hwloc   # policies (rcu, spin/lockfree, numa)
  libbenchmark-dev                           # microbenchmarks
  python3 python3-matplotlib                 # experiments and plots
  libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4   # baseline allocators
  sqlite3 xz-utils gzip perl                 # real programs the tests preload into
  lua5.4                                     # the application workload the tests run
)
# Application workloads (spanlab-exp 'app' cells): the measured programs and redis's
# load generator.
APP_PACKAGES=(redis-server redis-tools rocksdb-tools sqlite3 lua5.4 python3 z3)

check=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --apps) PACKAGES+=("${APP_PACKAGES[@]}") ;;
    --check) check=1 ;;
    *) echo "install-deps: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: missing: ${missing[*]}"
[ "$check" = 1 ] && exit 1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo: install ${missing[*]} yourself" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
