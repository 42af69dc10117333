#!/usr/bin/env bash
# Runs sl-misuse under glibc (no preload), under every spanlab variant built in BUILD
# (lib/libspanlab-*.so) and under jemalloc, mimalloc and tcmalloc where their Debian
# libraries are installed, and prints one table: per allocator how many cases it
# caught, crashed on and missed, and per category how many it caught; then the cases
# glibc catches and a spanlab variant does not. Builds nothing.
# Usage: bench/misuse/run.sh [--out DIR] [--timeout S] BUILD [ALLOCATOR...]
#   BUILD         build folder holding bin/sl-misuse and lib/libspanlab-*.so
#                 (cmake --build BUILD --target sl-misuse spanlab-VARIANT)
#   ALLOCATOR...  only these: glibc, jemalloc, mimalloc, tcmalloc or a variant name
#                 (default: glibc, every built variant, every installed baseline)
#   --out DIR     keep each allocator's sl-misuse output as DIR/ALLOCATOR.txt
#   --timeout S   sl-misuse's limit per case in seconds (default 5)
# glibc's list-corruption results vary between runs: its check is on the decoded link's
# alignment, and the decoding key is address bits that ASLR moves (bench/README.md).
set -euo pipefail
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
out=""
timeout=5
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
    -*) echo "misuse/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -gt 0 ] || { echo "misuse/run.sh: no build folder given (see --help)" >&2; exit 2; }
build=${args[0]}
bin=$build/bin/sl-misuse
[ -x "$bin" ] || { echo "misuse/run.sh: $bin not found; build it: cmake --build $build --target sl-misuse" >&2; exit 1; }

# The baselines' libraries, as scripts/spanlab_exp/build.py finds them.
libdirs="/usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib /lib/x86_64-linux-gnu"
baseline_lib() {
  local soname
  case "$1" in
    jemalloc) soname=libjemalloc.so.2 ;;
    mimalloc) soname=libmimalloc.so.2 ;;
    tcmalloc) soname=libtcmalloc_minimal.so.4 ;;
    *) return 1 ;;
  esac
  for d in $libdirs; do
    [ -e "$d/$soname" ] && { echo "$d/$soname"; return 0; }
  done
  return 1
}
# A spanlab variant's library. Variant names are <sizeclass>-<sync>-<numa>[-<frontend>];
# libspanlab-glibc.so, -trace.so and -latency.so (bench/apps, bench/trace) are shims.
is_variant() { [[ "$1" =~ ^[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+(-[a-z0-9_]+)?$ ]]; }
variant_lib() {
  is_variant "$1" && [ -e "$build/lib/libspanlab-$1.so" ] && echo "$build/lib/libspanlab-$1.so"
}

names=() libs=()
add() { names+=("$1"); libs+=("$2"); }
if [ ${#args[@]} -gt 1 ]; then
  for a in "${args[@]:1}"; do
    if [ "$a" = glibc ]; then add glibc ""
    elif lib=$(baseline_lib "$a"); then add "$a" "$lib"
    elif lib=$(variant_lib "$a"); then add "$a" "$lib"
    else echo "misuse/run.sh: no library for '$a' (not a baseline installed here, nor $build/lib/libspanlab-$a.so)" >&2; exit 1
    fi
  done
else
  add glibc ""
  for so in "$build"/lib/libspanlab-*.so; do
    [ -e "$so" ] || continue
    v=${so##*/libspanlab-}; v=${v%.so}
    is_variant "$v" || continue
    add "$v" "$so"
  done
  for b in jemalloc mimalloc tcmalloc; do
    if lib=$(baseline_lib "$b"); then add "$b" "$lib"; fi
  done
fi

dir=${out:-$(mktemp -d)}
[ -n "$out" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"
for i in "${!names[@]}"; do
  f=$dir/${names[$i]}.txt
  if [ -n "${libs[$i]}" ]; then
    LD_PRELOAD=${libs[$i]} "$bin" --timeout "$timeout" -v >"$f" 2>"$dir/${names[$i]}.err" || true
  else
    "$bin" --timeout "$timeout" -v >"$f" 2>"$dir/${names[$i]}.err" || true
  fi
  grep -q '^caught [0-9]* of ' "$f" || { echo "misuse/run.sh: sl-misuse under ${names[$i]} gave no summary (see $f)" >&2; exit 1; }
done

# One line per case in every file: "name result [note]  # message"; the table.
files=()
for n in "${names[@]}"; do files+=("$dir/$n.txt"); done
awk -v names="${names[*]}" '
  BEGIN { na = split(names, an, " "); for (i = 1; i <= na; i++) if (an[i] == "glibc") hasglibc = 1 }
  FNR == 1 { a = an[++fi] }
  /^[a-z-]+\/[^ ]+ (caught|crashed|missed|skipped)/ {
    split($1, parts, "/"); cat = parts[1]
    if (!(cat in seencat)) { seencat[cat] = 1; cats[++nc] = cat }
    if (!($1 in seencase)) { seencase[$1] = 1; cases[++ncase] = $1; catof[$1] = cat }
    r[a, $1] = $2; note = $3; if (note ~ /^\(/) r[a, $1] = $2 " " note
    count[a, $2]++
    if ($2 != "skipped") { tot[a, cat]++; total[a]++ }
    if ($2 == "caught") got[a, cat]++
  }
  END {
    printf "%-24s %7s %7s %7s %7s", "allocator", "caught", "crashed", "missed", "skipped"
    for (c = 1; c <= nc; c++) printf " %15s", cats[c]
    printf "\n"
    for (i = 1; i <= na; i++) {
      a = an[i]
      printf "%-24s %3d/%-3d %7d %7d %7d", a, count[a, "caught"], total[a], count[a, "crashed"], count[a, "missed"], count[a, "skipped"]
      for (c = 1; c <= nc; c++) printf " %15s", (got[a, cats[c]] + 0) "/" (tot[a, cats[c]] + 0)
      printf "\n"
    }
    if (!hasglibc) exit
    printf "\nglibc catches, spanlab does not:\n"
    any = 0
    for (k = 1; k <= ncase; k++) {
      cs = cases[k]
      if (r["glibc", cs] != "caught") continue
      line = ""
      for (i = 1; i <= na; i++) {
        a = an[i]
        if (a == "glibc" || a == "jemalloc" || a == "mimalloc" || a == "tcmalloc") continue
        if (r[a, cs] != "caught" && r[a, cs] != "skipped") line = line sprintf("  %s: %s", a, r[a, cs])
      }
      if (line != "") { printf "  %-40s%s\n", cs, line; any = 1 }
    }
    if (!any) printf "  (none)\n"
  }
' "${files[@]}"
