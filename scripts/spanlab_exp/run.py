"""The run: the matrix of cells, one cell at a time, results.csv, progress, resume.

A cell is (allocator, workload, threads, repetition). Cells are numbered by their
sorted key (stable: independent of the run order), which is what --shard selects on;
they run in a seeded random order so that slow drift of the machine (heat, other
load) spreads over all allocators instead of biasing one. Every finished cell is
appended to results.csv at once and flushed, so an interrupted run loses at most
the cell in progress and --resume picks up the rest.
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import build, machine

CSV_FIELDS = ["experiment", "allocator", "kind", "workload", "program", "threads", "rep",
              "status", "exit_code", "wall_s", "user_s", "sys_s", "maxrss_kb", "ops",
              "ops_per_sec", "host", "started_utc", "note", "workload_json"]
STATUSES = ("ok", "failed", "timeout", "skipped")


def cell_key(alloc, workload, threads, rep):
    return (alloc, workload, int(threads), int(rep))


def row_key(row):
    return cell_key(row["allocator"], row["workload"], row["threads"], row["rep"])


def allocators(spec):
    """[(name, kind)] in spec order: variants, then baselines."""
    return [(v, "variant") for v in spec["variants"]] + [(b, "baseline") for b in spec["baselines"]]


def all_cells(spec):
    """Every cell of the spec as a dict, sorted by key (the stable order)."""
    cells = []
    for alloc, kind in allocators(spec):
        for w in spec["workloads"]:
            for t in w["threads"]:
                for rep in range(1, spec["repetitions"] + 1):
                    cells.append({"key": cell_key(alloc, w["label"], t, rep), "allocator": alloc,
                                  "kind": kind, "workload": w, "threads": t, "rep": rep})
    cells.sort(key=lambda c: c["key"])
    for i, c in enumerate(cells):
        c["index"] = i
    return cells


def parse_shard(text):
    """'i/n' -> (i, n) with 1 <= i <= n; ValueError otherwise."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 2/4), not {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def shard_cells(cells, shard):
    if shard is None:
        return cells
    i, n = shard
    return [c for c in cells if c["index"] % n == i - 1]


def read_rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if set(CSV_FIELDS) - set(r):
            raise ValueError(f"{path}: not a spanlab results.csv (columns {list(r)})")
    return rows


def write_rows(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    os.replace(tmp, path)


class CsvAppender:
    def __init__(self, path):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.f = open(path, "a", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def append(self, row):
        self.w.writerow(row)
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def _fmt_time(seconds):
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """'cell n of N, elapsed, ETA' on stderr: one rewritten line on a terminal,
    one line per cell otherwise (logs, CI, Slurm output files)."""

    def __init__(self, total, stream=sys.stderr):
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()
        self.dirty = False

    def _line(self, n, what):
        elapsed = time.monotonic() - self.start
        if self.done:
            eta = _fmt_time(elapsed / self.done * (self.total - self.done))
        else:
            eta = "?"
        pct = 100.0 * (n - 1) / self.total if self.total else 100.0
        return (f"[cell {n}/{self.total} {pct:3.0f}%  elapsed {_fmt_time(elapsed)}  "
                f"ETA {eta}] {what}")

    def starting(self, n, what):
        line = self._line(n, what)
        if self.tty:
            try:
                width = os.get_terminal_size(self.stream.fileno()).columns
            except OSError:
                width = 100
            self.stream.write("\r" + line[:max(width - 1, 20)] + "\x1b[K")
            self.dirty = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finished(self):
        self.done += 1

    def message(self, text):
        if self.tty and self.dirty:
            self.stream.write("\r\x1b[K")
            self.dirty = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty and self.dirty:
            self.stream.write("\n")
            self.dirty = False
        self.stream.flush()


LAUNCHER_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.c")


def build_launcher(folder, compilers):
    """Compile launch.c into folder; return (path, None) or (None, reason)."""
    exe = os.path.join(folder, "spanlab-exp-launch")
    reason = "no C compiler found"
    for cc in compilers:
        if not cc:
            continue
        try:
            r = subprocess.run([cc, "-O2", "-std=c11", "-o", exe, LAUNCHER_SOURCE],
                               capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            reason = f"{cc}: {e}"
            continue
        if r.returncode == 0:
            return exe, None
        reason = f"{cc} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
    return None, reason


def run_process(argv, env, timeout, launcher=None):
    """Run argv; return dict(exit_code, signal, timed_out, wall_s, user_s, sys_s,
    maxrss_kb, stdout, stderr). Resource use comes from wait4 on the workload: in
    the launcher (see launch.c, why) when there is one, else here."""
    report = None
    if launcher:
        fd, report = tempfile.mkstemp(prefix="spanlab-exp-ru-")
        os.close(fd)
        os.unlink(report)
        argv = [launcher, report] + list(argv)
    try:
        r = _run_process(argv, env, timeout)
        if report:
            try:
                with open(report) as f:
                    u, s, m = f.read().split()
                r.update(user_s=float(u), sys_s=float(s), maxrss_kb=int(m))
            except (OSError, ValueError):
                pass  # killed before it could report: keep the launcher's own figures
    finally:
        if report and os.path.exists(report):
            os.unlink(report)
    return r


def _run_process(argv, env, timeout):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, start_new_session=True)
        state = {"reaped": False, "timed_out": False}
        lock = threading.Lock()

        def kill(reason):
            with lock:
                if state["reaped"]:
                    return
                if reason == "timeout":
                    state["timed_out"] = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        timer = threading.Timer(timeout, kill, args=("timeout",))
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    _pid, status, ru = os.wait4(proc.pid, 0)
                    break
                except InterruptedError:
                    continue
        except BaseException:
            kill("interrupt")
            os.wait4(proc.pid, 0)
            with lock:
                state["reaped"] = True
            proc.returncode = -9
            raise
        finally:
            timer.cancel()
        with lock:
            state["reaped"] = True
        wall = time.monotonic() - t0
        if os.WIFEXITED(status):
            code, sig = os.WEXITSTATUS(status), None
        else:
            sig = os.WTERMSIG(status)
            code = -sig
        proc.returncode = code  # already reaped: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return {"exit_code": code, "signal": sig, "timed_out": state["timed_out"],
                "wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
                "maxrss_kb": ru.ru_maxrss,
                "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")}


def _last_line(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def cell_env(spec, workload, lib, single_node_env):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(spec["env"])
    env.update(single_node_env)
    env.update(workload["env"])
    if lib:
        env["LD_PRELOAD"] = lib
    return env


def cell_argv(program, workload, threads):
    argv = [program, "--threads", str(threads)]
    for k, v in workload["params"].items():
        argv += [f"--{k}", str(v)]
    return argv


def execute_cell(cell, program, lib, env, launcher=None):
    """Run one cell; return the CSV row fields it decides and the full output."""
    w = cell["workload"]
    argv = cell_argv(program, w, cell["threads"])
    r = run_process(argv, env, w["timeout"], launcher)
    result = machine.find_json_object(r["stdout"])
    row = {"exit_code": r["exit_code"], "wall_s": f"{r['wall_s']:.6f}",
           "user_s": f"{r['user_s']:.6f}", "sys_s": f"{r['sys_s']:.6f}",
           "maxrss_kb": r["maxrss_kb"], "ops": "", "ops_per_sec": "", "note": "",
           "workload_json": json.dumps(result, sort_keys=True) if result else ""}
    if result:
        if isinstance(result.get("ops"), (int, float)):
            row["ops"] = result["ops"]
        if isinstance(result.get("ops_per_sec"), (int, float)):
            row["ops_per_sec"] = result["ops_per_sec"]
    if r["timed_out"]:
        row["status"] = "timeout"
        row["note"] = f"killed after the {w['timeout']:g} s timeout"
    elif r["signal"] is not None:
        row["status"] = "failed"
        row["note"] = (f"killed by {signal.Signals(r['signal']).name}: "
                       f"{_last_line(r['stderr'])}").rstrip(": ")
    elif result is not None and result.get("ok") is False:
        row["status"] = "failed"
        row["note"] = (f"workload reported ok=false (verification failed), exit status "
                       f"{r['exit_code']}: {_last_line(r['stderr'])}").rstrip(": ")
    elif r["exit_code"] != 0:
        row["status"] = "failed"
        row["note"] = f"exit status {r['exit_code']}: {_last_line(r['stderr'])}".rstrip(": ")
    elif result is None:
        row["status"] = "failed"
        row["note"] = "no JSON result line on stdout"
    elif row["ops_per_sec"] == "":
        row["status"] = "failed"
        row["note"] = "result line has no numeric ops_per_sec"
    else:
        row["status"] = "ok"
    return row, argv, r


def describe(cell):
    return (f"{cell['allocator']} {cell['workload']['label']} "
            f"threads={cell['threads']} rep={cell['rep']}")
