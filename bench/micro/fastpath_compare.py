#!/usr/bin/python3
"""Runs build/bin/sl-fastpath under several allocators and prints a Markdown table.

Each allocator is selected with LD_PRELOAD (glibc: none). Runs are interleaved
(repetition 1 of every allocator, then repetition 2, ...) so drift in machine load
spreads over all of them. Times are CPU time of the process by default (steadier when
other programs share the machine; --wall for wall-clock time). Reports the median ns per
malloc+free pair, the spread
(min-max), and the ratios of glibc's and mimalloc's medians to each allocator's
(> 1: faster than glibc / mimalloc).

Example:
  bench/micro/fastpath_compare.py --build build --variant go-mutex-flat --reps 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"
BASELINES = [
    ("glibc", None),
    ("jemalloc", f"{LIBDIR}/libjemalloc.so.2"),
    ("mimalloc", f"{LIBDIR}/libmimalloc.so.2"),
    ("tcmalloc", f"{LIBDIR}/libtcmalloc_minimal.so.4"),
]


def run_once(binary, preload, iters, live, key):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run([binary, str(iters), str(live)], env=env, check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            return json.loads(line)[key]
    raise RuntimeError(f"no JSON line from {binary} (LD_PRELOAD={preload}): {out!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--variant", action="append", default=None,
                    help="spanlab variant to include (repeatable; default: go-mutex-flat)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per allocator (default: 5)")
    ap.add_argument("--iters", type=int, default=20_000_000, help="pairs per run (default: 20000000)")
    ap.add_argument("--live", type=int, default=1024, help="objects in the ring (default: 1024)")
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    ap.add_argument("--json", action="store_true", help="also print every raw result as JSON")
    args = ap.parse_args()

    binary = os.path.join(args.build, "bin", "sl-fastpath")
    if not os.access(binary, os.X_OK):
        sys.exit(f"fastpath_compare: {binary} not found: build the sl-fastpath target first")
    allocators = []
    for v in args.variant or ["go-mutex-flat"]:
        lib = os.path.abspath(os.path.join(args.build, "lib", f"libspanlab-{v}.so"))
        if not os.path.exists(lib):
            sys.exit(f"fastpath_compare: {lib} not found: build variant {v} first")
        allocators.append((f"spanlab {v}", lib))
    for name, lib in BASELINES:
        if lib is None or os.path.exists(lib):
            allocators.append((name, lib))
        else:
            print(f"fastpath_compare: skipping {name}: {lib} not installed", file=sys.stderr)

    key = "ns_per_pair" if args.wall else "cpu_ns_per_pair"
    raw = {name: [] for name, _ in allocators}
    for rep in range(args.reps):
        for name, lib in allocators:
            raw[name].append(run_once(binary, lib, args.iters, args.live, key))
        print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)

    med = {name: statistics.median(v) for name, v in raw.items()}
    glibc, mimalloc = med.get("glibc"), med.get("mimalloc")
    print(f"sl-fastpath: {args.iters} malloc+free pairs, ring of {args.live} objects of 16..512 B, "
          f"{args.reps} interleaved repetitions, {'wall-clock' if args.wall else 'CPU'} time, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| allocator | median ns/pair | min - max | glibc / this | mimalloc / this |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, _ in allocators:
        m = med[name]
        g = f"{glibc / m:.2f}x" if glibc else "-"
        mi = f"{mimalloc / m:.2f}x" if mimalloc else "-"
        print(f"| {name} | {m:.2f} | {min(raw[name]):.2f} - {max(raw[name]):.2f} | {g} | {mi} |")
    if args.json:
        print(json.dumps(raw))


if __name__ == "__main__":
    main()
