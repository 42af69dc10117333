"""Command line of scripts/spanlab-exp: run, plot, merge, list."""

import argparse
import datetime
import glob
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

from . import build, machine, results, run, spec as specmod

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "spanlab-exp"
BASELINE_PACKAGES = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0",
                     "tcmalloc": "libtcmalloc-minimal4"}


class UsageError(Exception):
    """Reported as one line 'spanlab-exp: error: ...' with exit status 2."""


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _spec_for_metadata(spec):
    return {k: v for k, v in spec.items() if k not in ("text",)}


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
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    desc = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    nplots = len(glob.glob(os.path.join(folder, "plots", "*.png")))
    print(f"results:  {os.path.join(folder, 'results.csv')} ({len(rows)} rows: {desc or 'none'})")
    print(f"metadata: {os.path.join(folder, 'metadata.json')}")
    print(f"summary:  {os.path.join(folder, 'summary.md')}")
    print(f"plots:    {os.path.join(folder, 'plots')}/ ({nplots} PNG, same names in SVG)")


# ---------------------------------------------------------------- run

def cmd_run(a):
    old_meta = {}
    folder = None
    if a.resume:
        folder = os.path.abspath(a.resume)
        if not os.path.isdir(folder):
            raise UsageError(f"--resume {a.resume}: no such folder")
        if a.out and os.path.abspath(a.out) != folder:
            raise UsageError("give either --out or --resume, not both")
        mpath = os.path.join(folder, "metadata.json")
        if os.path.exists(mpath):
            with open(mpath, encoding="utf-8") as f:
                old_meta = json.load(f)
    spec_path = a.spec or (os.path.join(folder, "spec.toml") if folder else None)
    if not spec_path:
        raise UsageError("run needs a spec file (e.g. experiments/quick.toml) or --resume DIR")
    spec = specmod.load(spec_path)
    if old_meta.get("experiment") and old_meta["experiment"] != spec["name"]:
        raise UsageError(f"--resume {a.resume} holds experiment '{old_meta['experiment']}', "
                         f"not '{spec['name']}'")
    shard = run.parse_shard(a.shard) if a.shard else None
    if shard is None and old_meta.get("shard"):
        shard = tuple(old_meta["shard"])
    elif shard and old_meta.get("shard") and tuple(old_meta["shard"]) != shard:
        raise UsageError(f"--resume folder was shard {old_meta['shard'][0]}/{old_meta['shard'][1]}")
    build_dir = os.path.abspath(a.build_dir or os.path.join(REPO, "build"))
    bin_dir = os.path.abspath(a.bin_dir) if a.bin_dir else spec["bin_dir"]
    if folder is None:
        if a.out:
            folder = os.path.abspath(a.out)
        else:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            suffix = f"-shard{shard[0]}of{shard[1]}" if shard else ""
            folder = os.path.join(REPO, "results", f"{spec['name']}-{stamp}{suffix}")
        if os.path.exists(os.path.join(folder, "results.csv")):
            raise UsageError(f"{folder} already holds results; continue it with --resume {folder} "
                             "or choose another --out")
    csv_path = os.path.join(folder, "results.csv")

    cells = run.shard_cells(run.all_cells(spec), shard)
    existing = run.read_rows(csv_path) if a.resume else []
    if a.retry_failed and existing:
        keep = [r for r in existing if r["status"] == "ok"]
        if len(keep) != len(existing) and not a.dry_run:
            run.write_rows(csv_path, keep)
            log(f"retrying {len(existing) - len(keep)} cell(s) that did not succeed")
        existing = keep
    done = {run.row_key(r) for r in existing}
    todo = [c for c in cells if c["key"] not in done]
    if a.seed is not None:
        seed = a.seed
    elif spec["seed"] is not None:
        seed = spec["seed"]
    elif old_meta.get("seed") is not None:
        seed = old_meta["seed"]
    else:
        seed = random.SystemRandom().randrange(2 ** 32)
    random.Random(seed).shuffle(todo)

    nodes = machine.numa_nodes()
    single_env = spec["single_node_env"] if nodes < 2 else {}
    baselines = build.find_baselines(spec["baselines"])
    programs = sorted({w["name"] for w in spec["workloads"]})
    prog_dir = bin_dir or os.path.join(build_dir, "bin")

    log(f"{PROG}: experiment '{spec['name']}': {len(cells)} cells"
        + (f" in shard {shard[0]}/{shard[1]}" if shard else "")
        + (f", {len(cells) - len(todo)} already done" if a.resume else "")
        + f", {len(todo)} to run; seed {seed}")
    log(f"{PROG}: results folder {folder}")
    for b, p in baselines.items():
        if p is None:
            log(f"warning: baseline {b} not found on this machine (Debian package "
                f"{BASELINE_PACKAGES[b]}); its cells are recorded as skipped")
    if single_env:
        log(f"{PROG}: one NUMA node here; using {' '.join(f'{k}={v}' for k, v in single_env.items())}")

    if a.dry_run:
        values = build.policy_values(REPO)
        for v in spec["variants"]:
            reason = build.check_variant(REPO, v, values)
            lib = build.lib_path(build_dir, v)
            state = reason or ("built" if os.path.exists(lib) else "would be built")
            log(f"  variant {v}: {state}")
        for b, p in baselines.items():
            log(f"  baseline {b}: {p if p else ('no preload' if p == '' else 'NOT FOUND')}")
        for c in todo:
            lib = build.lib_path(build_dir, c["allocator"]) if c["kind"] == "variant" \
                else baselines.get(c["allocator"]) or ""
            argv = run.cell_argv(os.path.join(prog_dir, "sl-" + c["workload"]["name"]),
                                 c["workload"], c["threads"])
            print(("LD_PRELOAD=" + lib + " " if lib else "") + " ".join(argv)
                  + f"   # {run.describe(c)}")
        return 0

    os.makedirs(folder, exist_ok=True)
    # Build what the remaining cells need.
    builder = build.Builder(REPO, build_dir, log)
    need_v = sorted({c["allocator"] for c in todo if c["kind"] == "variant"})
    need_w = sorted({c["workload"]["name"] for c in todo}) if bin_dir is None else []
    if need_v or need_w:
        builder.ensure(need_v, need_w, bin_dir)

    # Metadata: written before the first cell, completed at the end.
    now = machine.utc_now()
    variants_meta = {}
    for v in spec["variants"]:
        lib = build.lib_path(build_dir, v)
        try:
            pol = build.parse_variant(v)
        except ValueError:
            pol = None
        info = {"policies": pol, "library": lib, "built": os.path.exists(lib),
                "error": builder.failed.get(v)}
        if info["built"] and v not in builder.failed:
            info["library_report"] = machine.library_stats(lib)
        variants_meta[v] = info
    meta = dict(old_meta) if old_meta else {}
    if not old_meta:
        meta.update({
            "experiment": spec["name"], "started_utc": now, "seed": seed,
            "shard": list(shard) if shard else None,
            "host": machine.host_info(), "git": machine.git_info(REPO),
        })
    else:
        meta.setdefault("resumes", []).append(
            {"utc": now, "hostname": machine.host_info()["hostname"], "cells_to_run": len(todo),
             "git": machine.git_info(REPO), "seed": seed})
    meta.update({
        "build_errors": builder.failed,
        "spec": _spec_for_metadata(spec), "command": [PROG] + sys.argv[1:],
        "build_dir": build_dir, "build": machine.compiler_info(build_dir),
        "bin_dir": prog_dir, "variants": variants_meta,
        "baselines": {b: {"library": p, "found": p is not None} for b, p in baselines.items()},
        "single_node_env_applied": single_env, "status": "running",
        "cells": {"in_spec": len(run.all_cells(spec)), "in_shard": len(cells)},
    })
    _write_json(os.path.join(folder, "metadata.json"), meta)
    if not os.path.exists(os.path.join(folder, "spec.toml")):
        with open(os.path.join(folder, "spec.toml"), "w", encoding="utf-8") as f:
            f.write(spec["text"])

    # Peak RSS needs a small parent process (see launch.c); compile it for this run.
    tmpdir = tempfile.mkdtemp(prefix="spanlab-exp-")
    cc = build.read_cache(build_dir).get("CMAKE_C_COMPILER")
    launcher, why = run.build_launcher(tmpdir, [cc, shutil.which("cc"), shutil.which("gcc")])
    if launcher is None:
        log(f"warning: cannot compile the launcher ({why}); peak RSS of every cell will "
            "include the runner's own (about tens of MiB)")
    meta["measurement"] = {
        "rusage": "wait4 in spanlab-exp-launch (scripts/spanlab_exp/launch.c), the "
                  "workload's parent" if launcher else
                  "wait4 in the Python runner; maxrss is max(runner, workload)",
        "launcher_error": why,
        "wall": "monotonic clock around the process, in the runner",
    }
    _write_json(os.path.join(folder, "metadata.json"), meta)

    appender = run.CsvAppender(csv_path)
    progress = run.Progress(len(todo))
    logs_dir = os.path.join(folder, "logs")
    host = meta["host"]["hostname"] if "host" in meta else machine.host_info()["hostname"]
    interrupted = False
    announced = set()
    try:
        for n, c in enumerate(todo, 1):
            progress.starting(n, run.describe(c))
            w = c["workload"]
            program = os.path.join(prog_dir, "sl-" + w["name"])
            row = {"experiment": spec["name"], "allocator": c["allocator"], "kind": c["kind"],
                   "workload": w["label"], "program": "sl-" + w["name"], "threads": c["threads"],
                   "rep": c["rep"], "host": host, "started_utc": machine.utc_now()}
            lib = ""
            if c["kind"] == "variant":
                lib = build.lib_path(build_dir, c["allocator"])
                if c["allocator"] in builder.failed:
                    row.update(status="failed", note=builder.failed[c["allocator"]])
                elif not os.path.exists(lib):
                    row.update(status="failed", note=f"library {lib} missing")
            else:
                path = baselines[c["allocator"]]
                if path is None:
                    row.update(status="skipped", note=f"{c['allocator']} not found (install "
                               f"{BASELINE_PACKAGES[c['allocator']]})")
                lib = path or ""
            if "status" not in row and "sl-" + w["name"] in builder.failed:
                # Missing, or stale and the rebuild failed: an old binary would not
                # match the recorded source revision.
                row.update(status="failed", note=builder.failed["sl-" + w["name"]])
            elif "status" not in row and not os.access(program, os.X_OK):
                row.update(status="failed", note=f"workload program {program} not found")
            if "status" not in row:
                env = run.cell_env(spec, w, lib, single_env)
                fields, argv, r = run.execute_cell(c, program, lib, env, launcher)
                row.update(fields)
                if row["status"] != "ok":
                    os.makedirs(logs_dir, exist_ok=True)
                    name = f"{c['allocator']}_{w['label']}_t{c['threads']}_r{c['rep']}.log"
                    with open(os.path.join(logs_dir, name), "w", encoding="utf-8") as f:
                        f.write(("LD_PRELOAD=" + lib + " " if lib else "") + " ".join(argv) + "\n")
                        f.write(f"status {row['status']}: {row['note']}\n--- stdout\n")
                        f.write(r["stdout"][-20000:] + "\n--- stderr\n" + r["stderr"][-20000:])
            if row["status"] != "ok":
                # A cell that could not start (unbuilt variant, missing baseline) shares
                # its reason with many others: say each reason once.
                said = row["note"]
                if "exit_code" in row or said not in announced:
                    announced.add(said)
                    progress.message(f"{row['status']}: {run.describe(c)}: {row.get('note', '')}")
            appender.append(row)
            progress.finished()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        appender.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    rows = run.read_rows(csv_path)
    keys = {c["key"] for c in cells}
    mine = [r for r in rows if run.row_key(r) in keys]
    counts = {}
    for r in mine:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    meta["cells"]["counts"] = counts
    meta["finished_utc"] = machine.utc_now()
    meta["status"] = "interrupted" if interrupted else "finished"
    _write_json(os.path.join(folder, "metadata.json"), meta)
    if interrupted:
        log(f"\n{PROG}: interrupted; continue with: scripts/spanlab-exp run --resume {folder}")
        return 130
    status = 0
    if a.no_plots:
        from . import report
        report.write_summary(folder, a.reference)
    else:
        _paths, err = make_report(folder, a.reference)
        if err:
            log(f"{PROG}: {err}")
            status = 1
    print_locations(folder, rows)
    failed = counts.get("failed", 0) + counts.get("timeout", 0)
    if failed:
        log(f"{PROG}: {failed} cell(s) failed or timed out (see summary.md and {logs_dir})")
        status = 1
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
        print(f"  {rel}: {s['name']}: {n} cells; {s['description'].splitlines()[0] if s['description'] else ''}")
        for v in s["variants"]:
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
