#!/usr/bin/env bash
# small_as: spanlab under a small address-space limit (`prlimit --as`). For each
# program, the smallest limit under which it runs with glibc is found by bisection
# (1 MiB steps); the program must then run under LD_PRELOAD of the variant with that
# limit plus SPANLAB_AS_OVERHEAD_MIB (16), with the same output, and the probe must
# report that spanlab (not a silently dropped preload) served it.
# Usage: small_as.sh LIB VARIANT PROBE
set -u
LIB=$1 VARIANT=$2 PROBE=$3
OVERHEAD=${SPANLAB_AS_OVERHEAD_MIB:-16}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
seq 1 20000 | sort -R --random-source=/dev/zero > "$T/input"
fail=0

# Smallest limit (MiB) under which "$@" exits 0 with glibc.
glibc_min() {
	local lo=1 hi=1024 mid
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(((lo + hi) / 2))
		if prlimit --as=$((mid << 20)) "$@" >/dev/null 2>&1; then hi=$mid; else lo=$mid; fi
	done
	echo "$hi"
}

check() {
	local name=$1; shift
	local min; min=$(glibc_min "$@")
	local lim=$((min + OVERHEAD))
	"$@" >"$T/plain.out" 2>/dev/null
	# SPANLAB_STATS=json: the exit report shows that spanlab, not a preload the loader
	# dropped for want of address space, served the program.
	if SPANLAB_STATS=json LD_PRELOAD="$LIB" prlimit --as=$((lim << 20)) "$@" >"$T/sl.out" 2>"$T/sl.err"; then
		if ! grep -q "\"variant\":\"$VARIANT\"" "$T/sl.err"; then
			echo "FAIL $name under $lim MiB: not served by spanlab (no exit report)"; fail=1
		elif [ "$name" = probe ]; then
			if grep -qx "spanlab $VARIANT" "$T/sl.out"; then echo "ok   $name under $lim MiB (glibc: $min MiB)"
			else echo "FAIL $name under $lim MiB: not served by spanlab: $(cat "$T/sl.out")"; fail=1; fi
		elif cmp -s "$T/plain.out" "$T/sl.out"; then echo "ok   $name under $lim MiB (glibc: $min MiB)"
		else echo "FAIL $name under $lim MiB: output differs"; fail=1; fi
	else
		echo "FAIL $name under $lim MiB (glibc: $min MiB): exit status $?: $(head -c 300 "$T/sl.err")"; fail=1
	fi
}

check probe "$PROBE"
check ls ls -l /usr/bin
check sort sort "$T/input"
exit $fail
