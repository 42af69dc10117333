#!/bin/bash
# preload_programs.sh LIB VARIANT CXX_CHURN — runs real Debian programs with and
# without LD_PRELOAD=LIB and requires identical output (cmp) and exit status; checks
# that SPANLAB_STATS=json prints a JSON object naming VARIANT, and that the preloaded
# library really served the programs' allocations. Programs not installed are
# reported and skipped, but at least five must run.
set -u
LIB=$(realpath "$1")
VARIANT=$2
CXX=$(realpath "$3")
PY=/usr/bin/python3
[ -r "$LIB" ] || { echo "no library $LIB"; exit 1; }
T=$(mktemp -d /tmp/spanlab-preload.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
ran=0

# Deterministic input: 150k lines of words and numbers (~5 MB), made without preload.
$PY - "$T/in.txt" <<'PYEOF'
import random, sys
r = random.Random(12345)
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
with open(sys.argv[1], "w") as f:
    for i in range(150000):
        f.write("%s %d %s %08x\n" % (r.choice(words), r.randrange(10**6), r.choice(words) * r.randrange(1, 4), r.getrandbits(32)))
PYEOF

# run NAME CMD...: runs CMD (a bash snippet) plain and preloaded, compares stdout and status.
run() {
	local name=$1 cmd=$2
	local tool=${3:-}
	if [ -n "$tool" ] && ! command -v "$tool" >/dev/null; then
		echo "SKIP $name: $tool not installed"
		return
	fi
	ran=$((ran + 1))
	local t0=$SECONDS
	(cd "$T" && bash -c "$cmd") >"$T/$name.plain" 2>"$T/$name.plain.err"
	local s1=$?
	(cd "$T" && LD_PRELOAD="$LIB" bash -c "$cmd") >"$T/$name.pre" 2>"$T/$name.pre.err"
	local s2=$?
	if grep -q "cannot be preloaded" "$T/$name.pre.err"; then
		echo "FAIL $name: the library was not preloaded"
		head -3 "$T/$name.pre.err"
		fail=1
	elif [ $s1 -ne 0 ] || [ $s2 -ne 0 ]; then
		echo "FAIL $name: exit status plain $s1, preloaded $s2"
		head -5 "$T/$name.pre.err"
		fail=1
	elif ! cmp -s "$T/$name.plain" "$T/$name.pre"; then
		echo "FAIL $name: output differs under LD_PRELOAD"
		cmp "$T/$name.plain" "$T/$name.pre" | head -3
		fail=1
	elif [ ! -s "$T/$name.plain" ]; then
		echo "FAIL $name: no output"
		fail=1
	else
		echo "ok   $name ($(wc -c <"$T/$name.plain") bytes of output, $((SECONDS - t0)) s)"
	fi
}

run sort 'sort in.txt' sort
run sort-parallel 'sort --parallel=2 -S 8M -k2,2n -k1,1 in.txt' sort
run python 'python3 -c "
import collections, sys
d = {}
c = collections.Counter()
for line in open(\"in.txt\"):
    w = line.split()
    d.setdefault(w[0], []).append(w[1] + w[2])
    c[w[2][:5]] += 1
s = sorted((k, len(v), sum(len(x) for x in v)) for k, v in d.items())
print(s, c.most_common(5))
print(len(\" \".join(str(i) * 3 for i in range(200000))))
"' /usr/bin/python3
run perl 'perl -e "my %h; while (<>) { my @w = split; \$h{\$w[3]} = \$w[0] x 3; push @{\$g{\$w[0]}}, \$w[1]; } my \$n = 0; for (sort keys %h) { \$n += length \$h{\$_} } print \$n, \" \", scalar(keys %h), \"\n\"; for (sort keys %g) { my @s = sort { \$a <=> \$b } @{\$g{\$_}}; print \"\$_ \$s[0] \$s[-1] \", scalar(@s), \"\n\" }" in.txt' perl
run gzip 'gzip -c in.txt | gzip -dc | cmp - in.txt && gzip -9 -c in.txt | md5sum' gzip
run sqlite 'sqlite3 :memory: "
create table t(k text, v integer, w text);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 100000)
insert into t select printf(\"key%d\", i % 997), i * 7 % 1000, hex(randomblob(0)) || printf(\"%0*d\", i % 50, i) from n;
create index ti on t(k);
select k, count(*), sum(v), max(length(w)) from t group by k order by k limit 20;
select count(distinct w) from t;
"' sqlite3
run xz 'head -c 1500000 in.txt >part.txt && xz -T2 -2 --block-size=300000 -c part.txt | tee part.xz | xz -T2 -dc | cmp - part.txt && md5sum <part.xz' xz
run cxx "$CXX"

if [ $ran -lt 5 ]; then
	echo "FAIL: only $ran programs ran (need at least 5)"
	fail=1
fi

# SPANLAB_STATS=json: one JSON object on stderr naming the variant.
SPANLAB_STATS=json LD_PRELOAD="$LIB" /bin/true 2>"$T/true.err"
if $PY - "$T/true.err" "$VARIANT" <<'PYEOF'
import json, sys
text = open(sys.argv[1]).read()
objs = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
assert len(objs) == 1, "expected one JSON object on stderr, got %r" % text[:300]
o = objs[0]
assert o.get("variant") == sys.argv[2], "variant %r, expected %r" % (o.get("variant"), sys.argv[2])
for k in ("sys", "heap_alloc", "mallocs", "frees", "classes"):
    assert k in o, "missing field " + k
PYEOF
then echo "ok   SPANLAB_STATS=json /bin/true"; else echo "FAIL SPANLAB_STATS=json /bin/true"; fail=1; fi

# The preloaded library really serves a program's allocations.
SPANLAB_STATS=json LD_PRELOAD="$LIB" perl -e 'my @a; push @a, "x" x ($_ % 3000) for 1 .. 100000; print scalar(@a), "\n"' \
	>/dev/null 2>"$T/perl.err"
if $PY - "$T/perl.err" <<'PYEOF'
import json, sys
o = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
assert o["mallocs"] > 100000 and o["sys"] + o["unmapped"] > 100 << 20, "perl did not allocate through spanlab: %r" % {k: o[k] for k in ("mallocs", "sys", "unmapped")}
PYEOF
then echo "ok   perl allocates through spanlab"; else echo "FAIL perl under LD_PRELOAD did not use spanlab"; fail=1; fi

exit $fail
