"""`spanlab-exp run` in three steps: plan (what to run, from the spec, the options
and a folder being resumed), execute (build, metadata, one cell at a time), finish
(counts, summary, plots, exit status). The command line (cli.py) only calls them.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import apps, build, execute, machine, results, run, stats
from .run import Cell, Row
from .spec import Spec, load as load_spec

REPO = Path(__file__).resolve().parents[2]
PROG = "spanlab-exp"
BASELINE_PACKAGES = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0",
                     "tcmalloc": "libtcmalloc-minimal4"}
LATENCY_TARGET = "spanlab-latency"
GLIBC_TARGET = "spanlab-glibc"


class UsageError(Exception):
    """Reported as one line 'spanlab-exp: error: ...' with exit status 2."""


@dataclass
class Options:
    spec: str | None = None
    out: str | None = None
    resume: str | None = None
    retry_failed: bool = False
    shard: str | None = None
    build_dir: str | None = None
    bin_dir: str | None = None
    launcher: str | None = None
    seed: int | None = None
    reference: str = "glibc"
    no_plots: bool = False
    dry_run: bool = False
    until_ci: float | None = None        # target relative half-width, e.g. 0.05
    max_repetitions: int = 10


@dataclass
class RunPlan:
    spec: Spec
    folder: Path
    shard: tuple[int, int] | None
    seed: int
    cells: list[Cell]                    # the spec's cells in this shard (stable order)
    todo: list[Cell]                     # those not yet done, in run order
    existing: list[Row]
    build_dir: Path
    bin_dir: Path | None
    prog_dir: Path
    baselines: dict[str, str | None]
    single_node_env: dict[str, str]
    old_meta: dict
    opts: Options

    @property
    def csv_path(self) -> Path:
        return self.folder / "results.csv"


def parse_until_ci(text: str) -> float:
    """'5%' or '0.05' -> 0.05; ValueError otherwise."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"--until-ci must be a percentage like 5%, not {text!r}") from None
    if not 0 < v < 1:
        raise ValueError(f"--until-ci {text}: must be between 0% and 100%")
    return v


def choose_seed(opts: Options, spec: Spec, old_meta: dict) -> int:
    for s in (opts.seed, spec.seed, old_meta.get("seed")):
        if s is not None:
            return int(s)
    return random.SystemRandom().randrange(2 ** 32)


def plan(opts: Options, log: Callable[[str], None]) -> RunPlan:
    """Read the spec (or the resumed folder's), decide the folder, the shard, the
    seed, and which cells remain, in their run order. Writes nothing, except that
    --retry-failed drops the old rows of cells it will run again."""
    old_meta: dict = {}
    folder = None
    if opts.resume:
        folder = Path(opts.resume).resolve()
        if not folder.is_dir():
            raise UsageError(f"--resume {opts.resume}: no such folder")
        if opts.out and Path(opts.out).resolve() != folder:
            raise UsageError("give either --out or --resume, not both")
        if (folder / "metadata.json").exists():
            old_meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    spec_path = opts.spec or (str(folder / "spec.toml") if folder else None)
    if not spec_path:
        raise UsageError("run needs a spec file (e.g. experiments/quick.toml) or --resume DIR")
    spec = load_spec(spec_path)
    if old_meta.get("experiment") and old_meta["experiment"] != spec.name:
        raise UsageError(f"--resume {opts.resume} holds experiment '{old_meta['experiment']}', "
                         f"not '{spec.name}'")
    shard = run.parse_shard(opts.shard) if opts.shard else None
    if shard is None and old_meta.get("shard"):
        shard = tuple(old_meta["shard"])
    elif shard and old_meta.get("shard") and tuple(old_meta["shard"]) != shard:
        raise UsageError(f"--resume folder was shard {old_meta['shard'][0]}/{old_meta['shard'][1]}")
    build_dir = Path(opts.build_dir or REPO / "build").resolve()
    bin_dir = Path(opts.bin_dir).resolve() if opts.bin_dir else (
        Path(spec.bin_dir) if spec.bin_dir else None)
    if folder is None:
        if opts.out:
            folder = Path(opts.out).resolve()
        else:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            suffix = f"-shard{shard[0]}of{shard[1]}" if shard else ""
            folder = REPO / "results" / f"{spec.name}-{stamp}{suffix}"
        if (folder / "results.csv").exists():
            raise UsageError(f"{folder} already holds results; continue it with --resume {folder} "
                             "or choose another --out")
    cells = run.shard_cells(run.all_cells(spec), shard)
    existing = run.read_rows(folder / "results.csv") if opts.resume else []
    if opts.retry_failed and existing:
        keep = [r for r in existing if r.status == "ok"]
        if len(keep) != len(existing) and not opts.dry_run:
            run.write_rows(folder / "results.csv", keep)
            log(f"retrying {len(existing) - len(keep)} cell(s) that did not succeed")
        existing = keep
    done = {r.key for r in existing}
    seed = choose_seed(opts, spec, old_meta)
    todo = run.run_order([c for c in cells if c.key not in done], seed)
    nodes = machine.numa_nodes()
    return RunPlan(spec=spec, folder=folder, shard=shard, seed=seed, cells=cells, todo=todo,
                   existing=existing, build_dir=build_dir, bin_dir=bin_dir,
                   prog_dir=bin_dir or build_dir / "bin",
                   baselines=build.find_baselines(spec.baselines),
                   single_node_env=spec.single_node_env if nodes < 2 else {},
                   old_meta=old_meta, opts=opts)


def announce(p: RunPlan, log: Callable[[str], None]) -> None:
    log(f"{PROG}: experiment '{p.spec.name}': {len(p.cells)} cells"
        + (f" in shard {p.shard[0]}/{p.shard[1]}" if p.shard else "")
        + (f", {len(p.cells) - len(p.todo)} already done" if p.opts.resume else "")
        + f", {len(p.todo)} to run; seed {p.seed}")
    log(f"{PROG}: results folder {p.folder}")
    for b, path in p.baselines.items():
        if path is None:
            log(f"warning: baseline {b} not found on this machine (Debian package "
                f"{BASELINE_PACKAGES[b]}); its cells are recorded as skipped")
    if p.single_node_env:
        log(f"{PROG}: one NUMA node here; using "
            f"{' '.join(f'{k}={v}' for k, v in p.single_node_env.items())}")


def preload_of(p: RunPlan, cell: Cell) -> str:
    if cell.kind == "variant":
        return build.lib_path(str(p.build_dir), cell.allocator)
    return p.baselines.get(cell.allocator) or ""


def dry_run(p: RunPlan, log: Callable[[str], None]) -> int:
    values = build.policy_values(str(REPO))
    for v in p.spec.variants:
        reason = build.check_variant(str(REPO), v, values)
        lib = build.lib_path(str(p.build_dir), v)
        log(f"  variant {v}: {reason or ('built' if os.path.exists(lib) else 'would be built')}")
    for b, path in p.baselines.items():
        log(f"  baseline {b}: {path if path else ('no preload' if path == '' else 'NOT FOUND')}")
    for c in p.todo:
        lib = preload_of(p, c)
        w = c.workload
        if w.kind == "app":
            argv = [w.name] + [f"{k}={v}" for k, v in w.params.items()]
        elif w.kind == "trace":
            argv = [str(p.prog_dir / w.program), w.trace or ""]
        else:
            argv = execute.program_argv(str(p.prog_dir / w.program), c)
        print(("LD_PRELOAD=" + lib + " " if lib else "") + " ".join(argv)
              + f"   # {c.describe()}")
    return 0


# ---------------------------------------------------------------- execute

@dataclass
class Execution:
    """The state of a run in progress."""
    ctx: execute.Context
    meta: dict
    builder: build.Builder
    tmpdir: Path
    announced: set[str] = field(default_factory=set)
    interrupted: bool = False


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _decompress_traces(p: RunPlan, tmpdir: Path, unusable: dict[str, str]) -> dict[str, Path]:
    out = {}
    for w in p.spec.workloads:
        if w.kind != "trace" or not w.trace or w.trace in out:
            continue
        src = Path(w.trace)
        try:
            if src.suffix == ".gz":
                dst = tmpdir / (src.stem + f".{len(out)}")
                with gzip.open(src, "rb") as fin, dst.open("wb") as fout:
                    shutil.copyfileobj(fin, fout)
                out[w.trace] = dst
            else:
                src.stat()
                out[w.trace] = src
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            unusable[w.trace] = f"trace {src}: cannot read: {e}"
    return out


def prepare(p: RunPlan, log: Callable[[str], None]) -> Execution:
    """Build what the remaining cells need, find the launcher, write the metadata."""
    p.folder.mkdir(parents=True, exist_ok=True)
    builder = build.Builder(str(REPO), str(p.build_dir), log)
    need_v = sorted({c.allocator for c in p.todo if c.kind == "variant"})
    need_w = sorted({c.workload.name for c in p.todo if c.workload.kind != "app"}) \
        if p.bin_dir is None else []
    if need_v or need_w:
        builder.ensure(need_v, need_w, None if p.bin_dir is None else str(p.bin_dir))
    launcher_path = p.opts.launcher or os.environ.get("SPANLAB_EXP_LAUNCHER")
    if not launcher_path:
        builder.ensure_tool(execute.LAUNCHER_NAME,
                            str(p.build_dir / "bin" / execute.LAUNCHER_NAME))
    try:
        launcher = execute.find_launcher(p.build_dir, launcher_path)
    except execute.LauncherMissing as e:
        raise UsageError(str(e)) from None
    # Variants and programs ("sl-<name>") that could not be built, with the reason.
    unusable: dict[str, str] = dict(builder.failed)
    libs: dict[str, str] = {}
    for v in p.spec.variants:
        lib = build.lib_path(str(p.build_dir), v)
        libs[v] = lib
        if v not in unusable and not os.path.exists(lib):
            unusable[v] = f"library {lib} missing"
    for b, path in p.baselines.items():
        libs[b] = path or ""
        if path is None:
            unusable[b] = f"{b} not found (install {BASELINE_PACKAGES[b]})"
    latency_lib = None
    if any(w.latency for w in p.spec.workloads):
        given = os.environ.get("SPANLAB_EXP_LATENCY_LIB")
        out = Path(given) if given else p.build_dir / "lib" / f"lib{LATENCY_TARGET}.so"
        if given and not out.exists():
            unusable["latency"] = f"SPANLAB_EXP_LATENCY_LIB={given} does not exist"
        elif given or builder.ensure_tool(LATENCY_TARGET, str(out)):
            latency_lib = out
        else:
            unusable["latency"] = builder.failed.get(
                LATENCY_TARGET, f"the latency library {out} is not built")
    glibc_lib = None
    if "glibc" in p.spec.baselines and any(
            w.kind == "app" and apps.APPS[w.name].links_allocator for w in p.spec.workloads):
        given = os.environ.get("SPANLAB_EXP_GLIBC_LIB")
        out = Path(given) if given else p.build_dir / "lib" / f"lib{GLIBC_TARGET}.so"
        if given and not out.exists():
            unusable["glibc-lib"] = f"SPANLAB_EXP_GLIBC_LIB={given} does not exist"
        elif given or builder.ensure_tool(GLIBC_TARGET, str(out)):
            glibc_lib = out
        else:
            unusable["glibc-lib"] = builder.failed.get(GLIBC_TARGET, f"{out} is not built")
    tmpdir = Path(tempfile.mkdtemp(prefix="spanlab-exp-"))
    traces = _decompress_traces(p, tmpdir, unusable)
    meta = dict(p.old_meta)
    now = machine.utc_now()
    host = machine.host_info()
    if not p.old_meta:
        meta.update({"experiment": p.spec.name, "started_utc": now, "seed": p.seed,
                     "shard": list(p.shard) if p.shard else None, "host": host,
                     "git": machine.git_info(str(REPO))})
    else:
        meta.setdefault("resumes", []).append(
            {"utc": now, "hostname": host["hostname"], "cells_to_run": len(p.todo),
             "git": machine.git_info(str(REPO)), "seed": p.seed})
    variants_meta = {}
    for v in p.spec.variants:
        lib = libs[v]
        try:
            pol = build.parse_variant(v)
        except ValueError:
            pol = None
        info = {"policies": pol, "library": lib, "built": os.path.exists(lib),
                "error": builder.failed.get(v)}
        if info["built"] and v not in builder.failed:
            info["library_report"] = machine.library_stats(lib)
        variants_meta[v] = info
    meta.update({
        "build_errors": builder.failed, "spec": p.spec.for_metadata(),
        "command": [PROG] + sys.argv[1:], "build_dir": str(p.build_dir),
        "build": machine.compiler_info(str(p.build_dir)), "bin_dir": str(p.prog_dir),
        "variants": variants_meta,
        "baselines": {b: {"library": path, "found": path is not None}
                      for b, path in p.baselines.items()},
        "single_node_env_applied": p.single_node_env, "status": "running",
        "cells": {"in_spec": len(run.all_cells(p.spec)), "in_shard": len(p.cells)},
        "measurement": {
            "rusage": f"wait4 in {launcher} (scripts/spanlab_exp/launch.c), the measured "
                      "program's parent: user/sys time, ru_maxrss, page faults, context "
                      "switches",
            "launcher": str(launcher), "launcher_error": None,
            "wall": "CLOCK_MONOTONIC from fork to wait4 in the launcher",
            "rss_series": "VmRSS of /proc/PID/status every 10 ms, sampled by the launcher",
            "latency_library": str(latency_lib) if latency_lib else None,
            "glibc_library": str(glibc_lib) if glibc_lib else None,
            "hardware_counters": machine.hardware_counters(),
        },
        "machine_load": {"before": machine.load_snapshot()},
    })
    _write_json(p.folder / "metadata.json", meta)
    if not (p.folder / "spec.toml").exists():
        (p.folder / "spec.toml").write_text(p.spec.text, encoding="utf-8")
    ctx = execute.Context(experiment=p.spec.name, host=host["hostname"], launcher=launcher,
                          prog_dir=p.prog_dir, libs=libs, unusable=unusable,
                          spec_env=p.spec.env, single_node_env=p.single_node_env,
                          latency_lib=latency_lib, glibc_lib=glibc_lib, traces=traces)
    return Execution(ctx=ctx, meta=meta, builder=builder, tmpdir=tmpdir)


def _keep_log(folder: Path, cell: Cell, res: execute.CellResult) -> None:
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    text = (("LD_PRELOAD=" + res.preload + " " if res.preload else "") + " ".join(res.argv)
            + f"\nstatus {res.row.status}: {res.row.note}\n--- stdout\n"
            + res.stdout[-20000:] + "\n--- stderr\n" + res.stderr[-20000:])
    (logs / f"{cell.log_name()}.log").write_text(text, encoding="utf-8")


def run_cells(p: RunPlan, ex: Execution, cells: list[Cell], log: Callable[[str], None]) -> bool:
    """Run cells in the given order, appending each row; False if interrupted."""
    appender = run.CsvAppender(p.csv_path)
    progress = run.Progress(len(cells))
    try:
        for n, c in enumerate(cells, 1):
            progress.starting(n, c.describe())
            why = execute.not_runnable(ex.ctx, c)
            if why:
                row = execute.new_row(ex.ctx, c)
                row.status, row.note = why
                res = None
            else:
                res = execute.run_cell(ex.ctx, c)
                row = res.row
                if row.status != "ok":
                    _keep_log(p.folder, c, res)
                if res.rss:
                    results.append_series(p.folder, results.RSS_FILE, row,
                                          {"interval_ms": ex.ctx.rss_interval_ms,
                                           "t_ms": [t for t, _ in res.rss],
                                           "rss_kb": [v for _, v in res.rss]})
                if res.latency:
                    results.append_series(p.folder, results.LATENCY_FILE, row,
                                          {"sample": c.workload.latency, **res.latency})
            if row.status != "ok":
                # A cell that could not start (unbuildable variant, missing baseline or
                # program) shares its reason with many others: say each reason once.
                if res is not None or row.note not in ex.announced:
                    ex.announced.add(row.note)
                    progress.message(f"{row.status}: {c.describe()}: {row.note}")
            appender.append(row)
            progress.finished()
    except KeyboardInterrupt:
        return False
    finally:
        progress.close()
        appender.close()
    return True


def execute_plan(p: RunPlan, ex: Execution, log: Callable[[str], None]) -> None:
    """The planned cells, then (with --until-ci) more repetitions of the groups whose
    confidence interval is still too wide."""
    if not run_cells(p, ex, p.todo, log):
        ex.interrupted = True
        return
    target = p.opts.until_ci
    if target is None:
        return
    for _round in range(p.opts.max_repetitions):
        rows = run.read_rows(p.csv_path)
        more = stats.cells_needing_more(rows, p.cells, target, p.opts.max_repetitions)
        if not more:
            return
        log(f"{PROG}: --until-ci {target:.0%}: {len(more)} cell(s) get one more repetition")
        if not run_cells(p, ex, run.run_order(more, p.seed + _round + 1), log):
            ex.interrupted = True
            return


def finish(p: RunPlan, ex: Execution, log: Callable[[str], None],
           report: Callable[[Path, str], str | None]) -> int:
    """Counts and status into the metadata, summary and plots; the exit status."""
    shutil.rmtree(ex.tmpdir, ignore_errors=True)
    rows = run.read_rows(p.csv_path)
    keys = {c.key for c in p.cells}
    counts = run.status_counts(r for r in rows if r.key in keys or r.rep > p.spec.repetitions)
    meta = ex.meta
    meta["cells"]["counts"] = counts
    meta["finished_utc"] = machine.utc_now()
    meta["status"] = "interrupted" if ex.interrupted else "finished"
    before = meta.get("machine_load", {}).get("before")
    after = machine.load_snapshot()
    meta.setdefault("machine_load", {})["after"] = after
    if before:
        meta["machine_load"]["others_cpu_s"] = machine.others_cpu_seconds(before, after)
        meta["machine_load"]["note"] = (
            "others_cpu_s: CPU time the whole machine spent busy during the run "
            "(/proc/stat) minus this runner's and its children's; a large figure means "
            "something else ran at the same time")
    if p.opts.until_ci is not None:
        meta["until_ci"] = {"target": p.opts.until_ci,
                            "max_repetitions": p.opts.max_repetitions}
    _write_json(p.folder / "metadata.json", meta)
    if ex.interrupted:
        log(f"\n{PROG}: interrupted; continue with: scripts/spanlab-exp run --resume {p.folder}")
        return 130
    status = 0
    err = report(p.folder, p.opts.reference)
    if err:
        log(f"{PROG}: {err}")
        status = 1
    failed = counts.get("failed", 0) + counts.get("timeout", 0)
    if failed:
        log(f"{PROG}: {failed} cell(s) failed or timed out (see summary.md and "
            f"{p.folder / 'logs'})")
        status = 1
    return status

