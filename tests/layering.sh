#!/usr/bin/env bash
# Fails when a source file includes upward. The layers and what each may include
# (the folders' READMEs state the same):
#   base/      nothing of the project but base/
#   include/   nothing of the project
#   policies/  base/ and policies/
#   numa/      base/ and numa/
#   core/      base/, include/, core/, and the policies only through their selection
#              headers (policies/<axis>.h, numa/numa.h)
# bench/ and tests/ stand above every layer and may include any of them. Checked: every
# `#include "..."` of the .c/.h files in the layers, resolved against the including
# file's folder (a quoted include in a layer that does not resolve so is reported too).
# Usage: tests/layering.sh [--root DIR]   check the tree at DIR (default: this one)
#        tests/layering.sh --self-test    check that the checker catches each rule
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

# What a file of layer $1 may include: an extended regex over root-relative paths.
allowed() {
  case "$1" in
    base) echo '^base/' ;;
    include) echo '^$' ;;
    policies) echo '^(base|policies)/' ;;
    numa) echo '^(base|numa)/' ;;
    core) echo '^(base|include|core)/|^policies/[^/]+\.h$|^numa/numa\.h$' ;;
  esac
}

# Prints one line per upward include in the tree at $1; returns 1 if there is one.
check() {
  local tree=$1 bad=0 layer f line inc target rel
  for layer in base include policies numa core; do
    [ -d "$tree/$layer" ] || continue
    while IFS= read -r f; do
      while IFS= read -r line; do
        inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$line")
        [ -n "$inc" ] || continue
        target=$(realpath -m "$(dirname "$f")/$inc")
        rel=${target#"$tree"/}
        if [ ! -e "$target" ]; then
          echo "${f#"$tree"/}: #include \"$inc\" does not resolve from its folder"
          bad=1
        elif ! grep -Eq "$(allowed "$layer")" <<<"$rel"; then
          echo "${f#"$tree"/}: #include \"$inc\" reaches $rel, which $layer/ may not include"
          bad=1
        fi
      done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
    done < <(find "$tree/$layer" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
  done
  return $bad
}

self_test() {
  local tmp fails=0 case
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp"/{base,include,policies/sync,numa,core}
  touch "$tmp"/base/compiler.h "$tmp"/include/api.h "$tmp"/policies/sync.h \
    "$tmp"/policies/sync/mutex.h "$tmp"/numa/numa.h "$tmp"/core/internal.h
  # A tree that obeys every rule passes.
  printf '#include "../../base/compiler.h"\n#include "mutex.h"\n' >"$tmp"/policies/sync/x.h
  printf '#include "../base/compiler.h"\n#include "numa.h"\n' >"$tmp"/numa/x.c
  printf '#include "../policies/sync.h"\n#include "../numa/numa.h"\n#include "../include/api.h"\n' >"$tmp"/core/x.c
  check "$tmp" >&2 || { echo "self-test: a clean tree was rejected" >&2; fails=1; }
  # Each upward include, alone, fails.
  for case in 'base/y.h:../include/api.h' 'include/y.h:../base/compiler.h' \
      'policies/y.h:../core/internal.h' 'policies/sync/y.h:../../numa/numa.h' \
      'numa/y.c:../core/internal.h' 'numa/y.c:../policies/sync.h' \
      'core/y.c:../policies/sync/mutex.h' 'core/y.c:missing.h'; do
    printf '#include "%s"\n' "${case#*:}" >"$tmp/${case%%:*}"
    if check "$tmp" >/dev/null; then
      echo "self-test: not caught: ${case%%:*} including ${case#*:}" >&2
      fails=1
    fi
    rm "$tmp/${case%%:*}"
  done
  [ $fails = 0 ] && echo "layering self-test: every rule caught"
  return $fails
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --self-test) self_test; exit ;;
  --root) root=$(cd "${2:?--root needs a folder}" && pwd) ;;
  "") ;;
  *) echo "layering.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
if check "$root"; then
  echo "layering: every include of base/ include/ policies/ numa/ core/ goes downward"
else
  echo "layering: upward includes found (rules: tests/layering.sh --help)" >&2
  exit 1
fi
