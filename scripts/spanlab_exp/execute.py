"""Running one cell: the measured process under the launcher, and its row.

Every measured program (a workload program, sl-replay, or an application) runs as
the child of spanlab-exp-launch (launch.c), which sets LD_PRELOAD for the program
only and reports its rusage, wall time and resident-memory samples. A load generator
(redis-benchmark) is started by the runner itself, never under LD_PRELOAD.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import latency, machine
from .run import Cell, Row

LAUNCHER_NAME = "spanlab-exp-launch"


class LauncherMissing(Exception):
    """The launcher is not built; the message says how to build it."""


def find_launcher(build_dir: Path, explicit: str | None = None) -> Path:
    """The launcher: explicit (--launcher or SPANLAB_EXP_LAUNCHER), else
    <build_dir>/bin/spanlab-exp-launch; LauncherMissing if it is not there."""
    explicit = explicit or os.environ.get("SPANLAB_EXP_LAUNCHER")
    path = Path(explicit) if explicit else build_dir / "bin" / LAUNCHER_NAME
    if not os.access(path, os.X_OK):
        raise LauncherMissing(
            f"the launcher {path} is not built; build it with: cmake --build {build_dir} "
            f"--target {LAUNCHER_NAME} (or point --launcher at one)")
    return path


@dataclass
class Measured:
    """What one measured process did."""
    exit_code: int
    signal: int | None
    timed_out: bool
    wall_s: float
    user_s: float | None = None
    sys_s: float | None = None
    maxrss_kb: int | None = None
    minflt: int | None = None
    majflt: int | None = None
    nvcsw: int | None = None
    nivcsw: int | None = None
    stdout: str = ""
    stderr: str = ""
    rss: list[tuple[float, int]] = field(default_factory=list)   # (ms, KiB)


def parse_report(text: str) -> dict[str, float | int]:
    """The launcher's report line -> its fields (ValueError if malformed)."""
    parts = text.split()
    if len(parts) != 8:
        raise ValueError(f"launcher report has {len(parts)} fields, want 8")
    u, s, m, mi, ma, nv, ni, w = parts
    return {"user_s": float(u), "sys_s": float(s), "maxrss_kb": int(m), "minflt": int(mi),
            "majflt": int(ma), "nvcsw": int(nv), "nivcsw": int(ni), "wall_s": float(w)}


def parse_rss_samples(text: str) -> list[tuple[float, int]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out.append((float(parts[0]), int(parts[1])))
            except ValueError:
                continue
    return out


class Launched:
    """A program started under the launcher; wait() reaps it and returns Measured."""

    def __init__(self, launcher: Path, argv: list[str], env: dict[str, str],
                 preload: str = "", rss_interval_ms: int = 10, cwd: str | None = None,
                 stdin: IO | None = None):
        self.tmp = tempfile.mkdtemp(prefix="spanlab-exp-cell-")
        self.report = Path(self.tmp) / "report"
        self.rss = Path(self.tmp) / "rss"
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        full = [str(launcher), "-r", str(self.rss), "-i", str(rss_interval_ms)]
        if preload:
            full += ["-p", preload]
        full += [str(self.report)] + list(argv)
        env = dict(env)
        env.pop("LD_PRELOAD", None)
        self.timed_out = False
        self.reaped = False
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(full, stdin=stdin or subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err, env=env, cwd=cwd,
                                     start_new_session=True)

    def running(self) -> bool:
        """True while the launcher has not exited (it is not reaped here)."""
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def kill(self, reason: str = "") -> None:
        with self.lock:
            if self.reaped:
                return
            if reason == "timeout":
                self.timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> Measured:
        timer = threading.Timer(max(timeout, 0.001), self.kill, args=("timeout",))
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    _pid, status, _ru = os.wait4(self.proc.pid, 0)
                    break
                except InterruptedError:
                    continue
        except BaseException:
            self.kill("interrupt")
            os.wait4(self.proc.pid, 0)
            with self.lock:
                self.reaped = True
            self.proc.returncode = -9
            self.close()
            raise
        finally:
            timer.cancel()
        with self.lock:
            self.reaped = True
        if os.WIFEXITED(status):
            code, sig = os.WEXITSTATUS(status), None
        else:
            sig = os.WTERMSIG(status)
            code = -sig
        self.proc.returncode = code  # already reaped: keep Popen from waiting again
        m = Measured(exit_code=code, signal=sig, timed_out=self.timed_out, wall_s=0.0)
        try:
            for k, v in parse_report(self.report.read_text()).items():
                setattr(m, k, v)
        except (OSError, ValueError):
            pass  # killed before it could report
        try:
            m.rss = parse_rss_samples(self.rss.read_text())
        except OSError:
            pass
        self.out.seek(0)
        self.err.seek(0)
        m.stdout = self.out.read().decode("utf-8", "replace")
        m.stderr = self.err.read().decode("utf-8", "replace")
        self.close()
        return m

    def close(self) -> None:
        self.out.close()
        self.err.close()
        for p in (self.report, self.rss):
            try:
                p.unlink()
            except OSError:
                pass
        try:
            os.rmdir(self.tmp)
        except OSError:
            pass


def last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def cell_env(base: dict[str, str], spec_env: dict[str, str], workload_env: dict[str, str],
             single_node_env: dict[str, str]) -> dict[str, str]:
    """The measured program's environment, without LD_PRELOAD (the launcher sets it)."""
    env = dict(base)
    env.pop("LD_PRELOAD", None)
    env.update(spec_env)
    env.update(single_node_env)
    env.update(workload_env)
    return env


def program_argv(program: str, cell: Cell) -> list[str]:
    """sl-<name> --threads T --key value ...; sl-replay FILE --threads T ..."""
    w = cell.workload
    argv = [program]
    if w.kind == "trace":
        argv.append(w.trace or "")
    argv += ["--threads", str(cell.threads)]
    for k, v in w.params.items():
        argv += [f"--{k}", str(v)]
    return argv


def time_weighted_mean(samples: list[tuple[float, int]]) -> float | None:
    """Mean of a step function through the samples (each value holds until the next)."""
    if not samples:
        return None
    if len(samples) == 1:
        return float(samples[0][1])
    total = span = 0.0
    for (t0, v0), (t1, _v1) in zip(samples, samples[1:]):
        dt = max(t1 - t0, 0.0)
        total += v0 * dt
        span += dt
    return total / span if span > 0 else float(samples[-1][1])


def fill_measured(row: Row, m: Measured) -> None:
    """Copy the launcher's figures into the row."""
    row.exit_code = m.exit_code
    row.wall_s = m.wall_s
    row.user_s, row.sys_s, row.maxrss_kb = m.user_s, m.sys_s, m.maxrss_kb
    row.minflt, row.majflt, row.nvcsw, row.nivcsw = m.minflt, m.majflt, m.nvcsw, m.nivcsw
    row.rss_mean_kb = time_weighted_mean(m.rss)


def judge_program(row: Row, m: Measured, timeout: float) -> None:
    """Status of a workload-program cell from its exit and its JSON result line."""
    result = machine.find_json_object(m.stdout)
    row.workload_json = json.dumps(result, sort_keys=True) if result else ""
    row.metric = "ops/s"
    if result:
        if isinstance(result.get("ops"), (int, float)) and not isinstance(result["ops"], bool):
            row.ops = float(result["ops"])
        if isinstance(result.get("ops_per_sec"), (int, float)):
            row.ops_per_sec = float(result["ops_per_sec"])
    if m.timed_out:
        row.status, row.note = "timeout", f"killed after the {timeout:g} s timeout"
    elif m.signal is not None:
        row.status = "failed"
        row.note = (f"killed by {signal.Signals(m.signal).name}: "
                    f"{last_line(m.stderr)}").rstrip(": ")
    elif result is not None and result.get("ok") is False:
        row.status = "failed"
        row.note = (f"workload reported ok=false (verification failed), exit status "
                    f"{m.exit_code}: {last_line(m.stderr)}").rstrip(": ")
    elif m.exit_code != 0:
        row.status = "failed"
        row.note = f"exit status {m.exit_code}: {last_line(m.stderr)}".rstrip(": ")
    elif result is None:
        row.status, row.note = "failed", "no JSON result line on stdout"
    elif row.ops_per_sec is None:
        row.status, row.note = "failed", "result line has no numeric ops_per_sec"
    else:
        row.status = "ok"


def fill_latency(row: Row, path: Path) -> dict | None:
    """Read the latency shim's output file into the row's percentile columns; return
    the parsed histograms (for latency.jsonl), or None if there is none."""
    try:
        hists = latency.read_dump(path.read_text())
    except (OSError, ValueError):
        return None
    for op in ("malloc", "free"):
        h = hists.get(op)
        if not h or not h.count:
            continue
        for q, col in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
            setattr(row, f"{op}_{col}_ns", h.percentile(q))
        setattr(row, f"{op}_max_ns", float(h.max))
    return {op: h.to_json() for op, h in hists.items()}


# ---------------------------------------------------------------- one cell

@dataclass
class Context:
    """What every cell of a run needs to know; fixed before the first cell."""
    experiment: str
    host: str
    launcher: Path
    prog_dir: Path
    libs: dict[str, str]            # allocator -> LD_PRELOAD value ("" = none)
    unusable: dict[str, str]        # allocator or program -> why its cells cannot run
    spec_env: dict[str, str]
    single_node_env: dict[str, str]
    latency_lib: Path | None
    glibc_lib: Path | None = None   # libspanlab-glibc.so (see apps.App.links_allocator)
    traces: dict[str, Path] = field(default_factory=dict)   # trace -> decompressed file
    rss_interval_ms: int = 10
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class CellResult:
    row: Row
    argv: list[str]
    preload: str
    stdout: str = ""
    stderr: str = ""
    rss: list[tuple[float, int]] = field(default_factory=list)
    latency: dict | None = None


def new_row(ctx: Context, cell: Cell) -> Row:
    return Row(experiment=ctx.experiment, allocator=cell.allocator, kind=cell.kind,
               workload=cell.workload.label, program=cell.workload.program,
               threads=cell.threads, rep=cell.rep, host=ctx.host,
               started_utc=machine.utc_now())


def not_runnable(ctx: Context, cell: Cell) -> tuple[str, str] | None:
    """(status, reason) if the cell cannot start, else None."""
    from . import apps
    w = cell.workload
    if cell.allocator in ctx.unusable:
        status = "skipped" if cell.kind == "baseline" else "failed"
        return status, ctx.unusable[cell.allocator]
    if w.kind == "app":
        try:
            params = apps.params_for(w.name, w.params)
        except ValueError as e:
            return "failed", str(e)
        why = apps.APPS[w.name].missing(params)
        if why:
            return "skipped", why
        if apps.APPS[w.name].links_allocator and cell.allocator == "glibc" and not ctx.glibc_lib:
            return "failed", ctx.unusable.get("glibc-lib", "libspanlab-glibc.so is not built")
        return None
    if w.program in ctx.unusable:
        return "failed", ctx.unusable[w.program]
    if not os.access(ctx.prog_dir / w.program, os.X_OK):
        return "failed", f"workload program {ctx.prog_dir / w.program} not found"
    if w.kind == "trace" and w.trace not in ctx.traces:
        return "failed", ctx.unusable.get(w.trace or "", f"trace {w.trace} not readable")
    if w.latency and ctx.latency_lib is None:
        return "failed", ctx.unusable.get("latency", "the latency library is not built")
    return None


def run_cell(ctx: Context, cell: Cell) -> CellResult:
    """Run one cell (the caller checked not_runnable) and decide its row."""
    w = cell.workload
    row = new_row(ctx, cell)
    preload = ctx.libs.get(cell.allocator, "")
    env = cell_env(ctx.base_env, ctx.spec_env, w.env, ctx.single_node_env)
    lat_file = None
    if w.latency:
        fd, name = tempfile.mkstemp(prefix="spanlab-exp-lat-")
        os.close(fd)
        lat_file = Path(name)
        env["SPANLAB_LATENCY_OUT"] = str(lat_file)
        env["SPANLAB_LATENCY_SAMPLE"] = str(w.latency)
        preload = ":".join(p for p in (str(ctx.latency_lib), preload) if p)
    try:
        if w.kind == "app":
            res = _run_app(ctx, cell, row, env, preload)
        else:
            if w.kind == "trace":
                argv = [str(ctx.prog_dir / w.program), str(ctx.traces[w.trace or ""])]
                argv += [a for k, v in w.params.items() for a in (f"--{k}", str(v))]
            else:
                argv = program_argv(str(ctx.prog_dir / w.program), cell)
            m = Launched(ctx.launcher, argv, env, preload, ctx.rss_interval_ms).wait(w.timeout)
            fill_measured(row, m)
            judge_program(row, m, w.timeout)
            res = CellResult(row, argv, preload, m.stdout, m.stderr, m.rss)
        if lat_file is not None and row.status == "ok":
            res.latency = fill_latency(row, lat_file)
            if res.latency is None:
                row.status, row.note = "failed", "no latency histogram written"
        return res
    finally:
        if lat_file is not None:
            try:
                lat_file.unlink()
            except OSError:
                pass


def _run_app(ctx: Context, cell: Cell, row: Row, env: dict[str, str],
             preload: str) -> CellResult:
    from . import apps
    w = cell.workload
    app = apps.APPS[w.name]
    params = apps.params_for(w.name, w.params)
    if app.links_allocator and cell.allocator == "glibc":
        preload = ":".join(p for p in (preload, str(ctx.glibc_lib or "")) if p)
    work = Path(tempfile.mkdtemp(prefix=f"spanlab-exp-{w.name}-"))
    try:
        if app.server:
            return _run_redis(ctx, cell, row, env, preload, params, work)
        plan = app.plan(app, work, params, cell.threads)
        env.update(plan.env)
        stdin = plan.stdin.open("rb") if plan.stdin else None
        try:
            m = Launched(ctx.launcher, plan.argv, env, preload, ctx.rss_interval_ms,
                         cwd=str(work), stdin=stdin).wait(w.timeout)
        finally:
            if stdin:
                stdin.close()
        fill_measured(row, m)
        row.metric = ""
        if m.timed_out:
            row.status, row.note = "timeout", f"killed after the {w.timeout:g} s timeout"
        elif m.signal is not None:
            row.status = "failed"
            row.note = f"killed by {signal.Signals(m.signal).name}: {last_line(m.stderr)}".rstrip(": ")
        elif m.exit_code != 0:
            row.status = "failed"
            row.note = f"exit status {m.exit_code}: {last_line(m.stderr)}".rstrip(": ")
        else:
            try:
                out = plan.check(m.stdout, m.wall_s or 1e-9) if plan.check else None
            except apps.WrongAnswer as e:
                row.status, row.note = "failed", f"wrong answer: {e}"
            else:
                _fill_outcome(row, out, params)
        return CellResult(row, plan.argv, preload, m.stdout, m.stderr, m.rss)
    finally:
        import shutil
        shutil.rmtree(work, ignore_errors=True)


def _fill_outcome(row: Row, out, params: dict) -> None:
    row.status = "ok"
    row.ops, row.ops_per_sec, row.metric = out.ops, out.value, out.metric
    row.workload_json = json.dumps({"app": row.workload, "params": params, "ops": out.ops,
                                    "metric": out.metric, "value": out.value, **out.extra},
                                   sort_keys=True)


def _run_redis(ctx: Context, cell: Cell, row: Row, env: dict[str, str], preload: str,
               params: dict, work: Path) -> CellResult:
    import time
    from . import apps, apps_redis as rd
    w = cell.workload
    app = apps.APPS["redis"]
    deadline = time.monotonic() + w.timeout
    port = rd.free_port()
    argv = rd.server_argv(app.program(params), port, work)
    server = Launched(ctx.launcher, argv, env, preload, ctx.rss_interval_ms, cwd=str(work))
    outcome, problem = None, None
    try:
        rd.wait_ready(port, deadline, server.running)
        client = rd.Resp(port, timeout=max(deadline - time.monotonic(), 1.0))
        try:
            rd.data_check(client, int(params["check-keys"]), int(params["value-size"]), True)
            outcome = rd.run_load(port, params, deadline)
            rd.data_check(client, int(params["check-keys"]), int(params["value-size"]), False)
            client.send("SHUTDOWN", "NOSAVE")
        finally:
            client.close()
    except apps.WrongAnswer as e:
        problem = ("failed", f"wrong answer: {e}")
    except (TimeoutError, subprocess.TimeoutExpired):
        problem = ("timeout", f"not done after the {w.timeout:g} s timeout")
    except (OSError, ConnectionError) as e:
        problem = ("failed", f"talking to redis-server: {e}")
    if problem:
        server.kill()
    m = server.wait(max(deadline - time.monotonic(), 5.0))
    fill_measured(row, m)
    if problem:
        row.status, row.note = problem
    elif m.timed_out:
        row.status, row.note = "timeout", "redis-server did not stop after SHUTDOWN NOSAVE"
    elif m.exit_code != 0:
        row.status = "failed"
        row.note = f"redis-server exit status {m.exit_code} after SHUTDOWN: {last_line(m.stdout + m.stderr)}"
    else:
        _fill_outcome(row, outcome, params)
    return CellResult(row, argv, preload, m.stdout, m.stderr, m.rss)
