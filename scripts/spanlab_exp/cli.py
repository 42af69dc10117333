"""Command line of scripts/spanlab-exp: run, plot, merge, list."""

import argparse
import glob
import json
import os
import signal
import sys

from . import build, results, run, runner, spec as specmod
from .runner import BASELINE_PACKAGES, PROG, UsageError

REPO = str(runner.REPO)


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def make_report(folder, reference):
    """Plots and summary.md for a folder; returns (paths, error message or None)."""
    from . import report
    paths = []
    err = None
    try:
        from . import plot
        paths = plot.plot_all(folder, reference, log)
    except ImportError as e:
        err = f"cannot plot: {e} (install python3-matplotlib)"
    except Exception as e:  # a plotting bug must not lose the summary
        err = f"plotting failed: {type(e).__name__}: {e}"
    paths.append(report.write_summary(folder, reference))
    return paths, err


def print_locations(folder, rows):
    counts = run.status_counts(rows)
    desc = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    nplots = len(glob.glob(os.path.join(folder, "plots", "*.png")))
    print(f"results:  {os.path.join(folder, 'results.csv')} ({len(rows)} rows: {desc or 'none'})")
    print(f"metadata: {os.path.join(folder, 'metadata.json')}")
    print(f"summary:  {os.path.join(folder, 'summary.md')}")
    print(f"plots:    {os.path.join(folder, 'plots')}/ ({nplots} PNG, same names in SVG)")


# ---------------------------------------------------------------- run

def options(a) -> runner.Options:
    return runner.Options(
        spec=a.spec, out=a.out, resume=a.resume, retry_failed=a.retry_failed, shard=a.shard,
        build_dir=a.build_dir, bin_dir=a.bin_dir, launcher=a.launcher, seed=a.seed,
        reference=a.reference, no_plots=a.no_plots, dry_run=a.dry_run,
        until_ci=runner.parse_until_ci(a.until_ci) if a.until_ci else None,
        max_repetitions=a.max_repetitions)


def cmd_run(a):
    opts = options(a)
    p = runner.plan(opts, log)
    runner.announce(p, log)
    if opts.dry_run:
        return runner.dry_run(p, log)
    ex = runner.prepare(p, log)
    runner.execute_plan(p, ex, log)

    def report(folder, reference):
        if opts.no_plots:
            from . import report as rep
            rep.write_summary(str(folder), reference)
            return None
        return make_report(str(folder), reference)[1]
    status = runner.finish(p, ex, log, report)
    if status != 130:
        print_locations(str(p.folder), run.read_rows(p.csv_path))
    return status


# ---------------------------------------------------------------- plot, merge, list

def cmd_plot(a):
    results.load(a.folder)  # clear error if it is not a results folder
    _paths, err = make_report(a.folder, a.reference)
    rows, _ = results.load(a.folder)
    print_locations(os.path.abspath(a.folder), rows)
    if err:
        log(f"{PROG}: {err}")
        return 1
    return 0


def cmd_merge(a):
    from . import merge
    n = merge.merge(a.out, a.folders, log)
    log(f"{PROG}: merged {len(a.folders)} folder(s), {n} cells, into {a.out}")
    _paths, err = make_report(a.out, a.reference)
    rows, _ = results.load(a.out)
    print_locations(os.path.abspath(a.out), rows)
    if err:
        log(f"{PROG}: {err}")
        return 1
    return 0


def cmd_list(a):
    build_dir = os.path.abspath(a.build_dir or os.path.join(REPO, "build"))
    values = build.policy_values(REPO)
    print("experiments (experiments/*.toml):")
    for p in sorted(glob.glob(os.path.join(REPO, "experiments", "*.toml"))):
        rel = os.path.relpath(p, REPO)
        try:
            s = specmod.load(p)
        except specmod.SpecError as e:
            print(f"  {rel}: INVALID: {e}")
            continue
        n = len(run.all_cells(s))
        print(f"  {rel}: {s.name}: {n} cells; {s.description.splitlines()[0] if s.description else ''}")
        for v in s.variants:
            reason = build.check_variant(REPO, v, values)
            state = ("built" if os.path.exists(build.lib_path(build_dir, v)) else "buildable") \
                if reason is None else f"NOT BUILDABLE: {reason}"
            print(f"      variant {v}: {state}")
    print("policies (variant = <sizeclass>-<sync>-<numa>[-<frontend>]):")
    for axis in ("sizeclass", "sync", "numa", "frontend"):
        vals = values[axis]
        print(f"  {axis}: {', '.join(vals) if vals else '(no headers yet' + ('; default freelist)' if axis == 'frontend' else ')')}")
    configured = build.Builder(REPO, build_dir, log).configured_variants()
    built = sorted(os.path.basename(p)[len("libspanlab-"):-3]
                   for p in glob.glob(os.path.join(build_dir, "lib", "libspanlab-*.so")))
    print(f"build folder {build_dir}:")
    print(f"  configured variants: {', '.join(configured) or 'none'}")
    print(f"  built variant libraries: {', '.join(built) or 'none'}")
    progs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(build_dir, "bin", "sl-*")))
    print(f"  workload programs: {', '.join(progs) or 'none'}")
    print("baselines:")
    for b, p in build.find_baselines(specmod.KNOWN_BASELINES).items():
        print(f"  {b}: {p if p else ('system malloc, no preload' if p == '' else 'not found (apt install ' + BASELINE_PACKAGES[b] + ')')}")
    return 0


# ---------------------------------------------------------------- parser

def parser():
    p = argparse.ArgumentParser(
        prog=PROG, description="Run spanlab experiments, plot and merge their results. "
        "See experiments/README.md.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="build what is missing and run an experiment",
                       description="Build missing variants and workloads, run every cell of "
                       "the spec in a seeded random order, and write results.csv, "
                       "metadata.json, summary.md and plots/ into a results folder.")
    r.add_argument("spec", nargs="?", help="experiment spec (experiments/NAME.toml); "
                   "optional with --resume (the folder's spec.toml is used)")
    r.add_argument("--out", metavar="DIR", help="results folder "
                   "(default: results/<experiment>-<UTC time>[-shardIofN]/)")
    r.add_argument("--resume", metavar="DIR", help="continue the run in DIR: cells already "
                   "recorded there are not run again")
    r.add_argument("--retry-failed", action="store_true", help="with --resume: run failed, "
                   "timed-out and skipped cells again (their old rows are dropped)")
    r.add_argument("--shard", metavar="I/N", help="run only cells whose stable index modulo N "
                   "is I-1 (1 <= I <= N); merge the folders afterwards")
    r.add_argument("--build-dir", metavar="DIR", help="CMake build folder (default: build)")
    r.add_argument("--bin-dir", metavar="DIR", help="take workload programs sl-* from DIR "
                   "instead of BUILD_DIR/bin (no workload build); also spec key bin_dir")
    r.add_argument("--seed", type=int, help="seed of the run order (default: spec 'seed', "
                   "else random; always recorded in metadata.json)")
    r.add_argument("--reference", default="glibc", metavar="ALLOC",
                   help="allocator the summary's ratios refer to (default glibc)")
    r.add_argument("--no-plots", action="store_true", help="write summary.md but no plots")
    r.add_argument("--dry-run", action="store_true", help="print the cells in run order "
                   "(as command lines) and what would be built; run nothing")
    r.add_argument("--launcher", metavar="PATH", help="the launcher program (default: "
                   "BUILD_DIR/bin/spanlab-exp-launch, built when missing; also "
                   "SPANLAB_EXP_LAUNCHER)")
    r.add_argument("--until-ci", metavar="PCT", help="after the spec's repetitions, add "
                   "repetitions to every cell whose median throughput has a 95%% bootstrap "
                   "interval wider than +-PCT (e.g. 5%%), up to --max-repetitions")
    r.add_argument("--max-repetitions", type=int, default=10, metavar="N",
                   help="with --until-ci: at most N repetitions per cell (default 10)")
    r.set_defaults(func=cmd_run)

    pl = sub.add_parser("plot", help="redraw plots and summary.md of a results folder",
                        description="Redraw plots/ and summary.md from results.csv and "
                        "metadata.json of a results folder, without running anything.")
    pl.add_argument("folder", metavar="RESULTS_DIR")
    pl.add_argument("--reference", default="glibc", metavar="ALLOC",
                    help="allocator the summary's ratios refer to (default glibc)")
    pl.set_defaults(func=cmd_plot)

    m = sub.add_parser("merge", help="merge results folders (shards, machines) into one",
                       description="Concatenate the results.csv of several folders into OUT "
                       "(a cell present twice is kept once), join their metadata (hosts, "
                       "merged_from) and draw plots and summary.md.")
    m.add_argument("out", metavar="OUT")
    m.add_argument("folders", metavar="DIR", nargs="+")
    m.add_argument("--reference", default="glibc", metavar="ALLOC",
                   help="allocator the summary's ratios refer to (default glibc)")
    m.set_defaults(func=cmd_merge)

    li = sub.add_parser("list", help="list specs, buildable policies, built variants, baselines",
                        description="List experiment specs, the policy values variants can "
                        "use, what the build folder holds, and the baselines found.")
    li.add_argument("--build-dir", metavar="DIR", help="CMake build folder (default: build)")
    li.set_defaults(func=cmd_list)
    return p


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None):
    args = parser().parse_args(argv)
    # Ctrl-C, and SIGTERM (kill, a batch system's time limit) stop a run cleanly: the
    # cell in progress is killed, finished cells stay recorded, --resume continues.
    # (Set explicitly: a shell starts background jobs with SIGINT ignored.)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except (UsageError, specmod.SpecError, results.ResultsError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in msg:
            msg += f": {e.filename}"
        log(f"{PROG}: error: {msg}")
        return 2
    except KeyboardInterrupt:
        log(f"{PROG}: interrupted")
        return 130
