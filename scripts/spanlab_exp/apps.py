"""Application workloads: real programs from Debian packages, run under the allocator
being measured, each with a correctness check and its own throughput metric.

An App turns a cell into a Plan: the measured program's argv (run under the
launcher with LD_PRELOAD), its stdin, extra environment, and a check of its output
that yields (work done, metric value) or a reason it is wrong. The scripts the
programs run live in bench/apps/; the expected answers are computed here from the
parameters, independently of the program. redis is a server: apps_redis.py drives
it (server under LD_PRELOAD, redis-benchmark as the load generator, not).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
APPS_DIR = REPO / "bench" / "apps"


class WrongAnswer(Exception):
    """The program's output is not the expected one; the message says how."""


@dataclass
class Outcome:
    ops: float           # units of work done (rows, iterations, requests, ...)
    metric: str          # the throughput metric's name, e.g. "rows/s"
    value: float         # its value
    extra: dict = field(default_factory=dict)


@dataclass
class Plan:
    argv: list[str]
    stdin: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[str, float], Outcome] | None = None   # (stdout, wall_s) -> Outcome


@dataclass(frozen=True)
class App:
    name: str
    programs: tuple[str, ...]    # executables needed (the first one is measured)
    package: str                 # Debian package(s) to install
    defaults: dict
    plan: Callable[["App", Path, dict, int], Plan] | None = None
    server: bool = False
    # The program links an allocator of its own (Debian's redis-server links
    # libjemalloc): under the glibc baseline it gets libspanlab-glibc.so preloaded.
    links_allocator: bool = False

    def program(self, params: dict) -> str:
        """The measured program's path (a `program` parameter overrides the name)."""
        exe = str(params.get("program") or self.programs[0])
        return shutil.which(exe) or exe

    def missing(self, params: dict) -> str | None:
        """None if every program is installed, else a one-line message."""
        for i, p in enumerate(self.programs):
            exe = self.program(params) if i == 0 else p
            if not shutil.which(exe):
                return (f"{Path(exe).name} not installed (install the Debian package "
                        f"{self.package}, or run scripts/install-deps.sh --apps)")
        return None


def _params(app: App, given: dict) -> dict:
    unknown = set(given) - set(app.defaults) - {"program"}
    if unknown:
        raise ValueError(f"app {app.name}: unknown parameter(s) {sorted(unknown)} "
                         f"(known: {', '.join(sorted(app.defaults))}, program)")
    out = dict(app.defaults)
    out.update(given)
    return out


def _last_lines(text: str, n: int) -> list[str]:
    return [l.strip() for l in text.splitlines() if l.strip()][-n:]


def _expect(got: list[str], want: list[str], what: str) -> None:
    if got != want:
        raise WrongAnswer(f"{what}: expected {' / '.join(want)!r}, got {' / '.join(got)!r}")


# ---------------------------------------------------------------- lua

def lua_expected(n: int) -> str:
    s = sum(i + len(f"item-{i:07d}") + i % 7 + i % 11 for i in range(1, n + 1, 3))
    removed = len(range(1, n + 1, 3))
    total = sum(i * 7 % 1000 for i in range(1, n + 1))
    return f"lua {s} {n} {total} {n - removed} true"


def _plan_lua(app: App, work: Path, p: dict, threads: int) -> Plan:
    n = int(p["n"])

    def check(out: str, wall: float) -> Outcome:
        _expect(_last_lines(out, 1), [lua_expected(n)], "lua output")
        return Outcome(n, "iterations/s", n / wall)
    return Plan([app.program(p), str(APPS_DIR / "tables.lua"), str(n)], check=check)


# ---------------------------------------------------------------- python

def python_expected(n: int) -> str:
    total = sum(i + len("rec-%06d" % i) + i % 5 + i % 7 for i in range(0, n, 2))
    longest = max(len(str(i * 13 % 997)) for i in range(n))
    return f"python {total} {n} {longest} {n - len(range(0, n, 2))}"


def _plan_python(app: App, work: Path, p: dict, threads: int) -> Plan:
    n = int(p["n"])

    def check(out: str, wall: float) -> Outcome:
        _expect(_last_lines(out, 1), [python_expected(n)], "python output")
        return Outcome(n, "iterations/s", n / wall)
    return Plan([app.program(p), "-S", str(APPS_DIR / "objects.py"), str(n)],
                env={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}, check=check)


# ---------------------------------------------------------------- sqlite

def sqlite_expected(rows: int) -> list[str]:
    n = rows
    join_sum = sum((((i % n) + 1) * 37 % 1000) * (i % 13) for i in range(1, 2 * n + 1))
    groups = []
    for g in range(3):
        vals = [(i * 37) % 1000 for i in range(1, n + 1) if i % 100 == g]
        groups.append(f"{g}|{len(vals)}|{sum(vals)}")
    prefixes = len({f"name-{i:08d}"[:9] for i in range(1, n + 1)})
    like = sum(1 for i in range(1, n + 1) if f"{i:08d}".startswith("0000"))
    return ["off", f"{2 * n}|{join_sum}"] + groups + [str(prefixes), str(like)]


def _plan_sqlite(app: App, work: Path, p: dict, threads: int) -> Plan:
    rows = int(p["rows"])
    script = work / "queries.sql"
    script.write_text((APPS_DIR / "queries.sql").read_text().replace("@ROWS@", str(rows)))
    want = sqlite_expected(rows)

    def check(out: str, wall: float) -> Outcome:
        _expect([l.strip() for l in out.splitlines() if l.strip()], want, "sqlite output")
        return Outcome(rows, "rows/s", rows / wall)
    return Plan([app.program(p), "-batch", ":memory:"], stdin=script, check=check)


# ---------------------------------------------------------------- z3

def z3_problem(queens: int, holes: int) -> str:
    """N queens on integer columns (sat, the model is checked) and the pigeonhole
    principle for holes+1 pigeons (unsat)."""
    q = [f"q{i}" for i in range(queens)]
    lines = ["(set-option :produce-models true)", "(push 1)"]
    lines += [f"(declare-const {v} Int)" for v in q]
    lines += [f"(assert (and (>= {v} 0) (< {v} {queens})))" for v in q]
    lines.append(f"(assert (distinct {' '.join(q)}))")
    for i in range(queens):
        for j in range(i + 1, queens):
            d = j - i
            lines.append(f"(assert (and (not (= (- {q[j]} {q[i]}) {d})) "
                         f"(not (= (- {q[i]} {q[j]}) {d}))))")
    lines += ["(check-sat)", f"(get-value ({' '.join(q)}))", "(pop 1)", "(push 1)"]
    pig = [[f"p{i}_{h}" for h in range(holes)] for i in range(holes + 1)]
    for row in pig:
        lines += [f"(declare-const {v} Bool)" for v in row]
        lines.append(f"(assert (or {' '.join(row)}))")
    for h in range(holes):
        for i in range(holes + 1):
            for j in range(i + 1, holes + 1):
                lines.append(f"(assert (not (and {pig[i][h]} {pig[j][h]})))")
    lines += ["(check-sat)", "(pop 1)"]
    return "\n".join(lines) + "\n"


def z3_check(out: str, queens: int) -> None:
    words = out.split()
    if not words or words[0] != "sat":
        raise WrongAnswer(f"z3: queens: expected sat, got {words[:1]}")
    if words[-1] != "unsat":
        raise WrongAnswer(f"z3: pigeonhole: expected unsat, got {words[-1:]}")
    cols = {int(i): int(v) for i, v in re.findall(r"\(q(\d+) (\d+)\)", out)}
    if sorted(cols) != list(range(queens)):
        raise WrongAnswer(f"z3: queens: model has {len(cols)} of {queens} columns")
    for i in range(queens):
        for j in range(i + 1, queens):
            if cols[i] == cols[j] or abs(cols[i] - cols[j]) == j - i:
                raise WrongAnswer(f"z3: queens: model places q{i} and q{j} in conflict")


def _plan_z3(app: App, work: Path, p: dict, threads: int) -> Plan:
    queens, holes = int(p["queens"]), int(p["holes"])
    problem = work / "problem.smt2"
    problem.write_text(z3_problem(queens, holes))

    def check(out: str, wall: float) -> Outcome:
        z3_check(out, queens)
        return Outcome(2, "problems/s", 2 / wall)
    return Plan([app.program(p), "-smt2", str(problem)], check=check)


# ---------------------------------------------------------------- rocksdb

DB_BENCH_LINE = re.compile(r"^(\w+)\s*:\s*([\d.]+) micros/op\s+(\d+) ops/sec(?:\s+([\d.]+) "
                           r"seconds\s+(\d+) operations;)?(.*)$")


def db_bench_results(out: str) -> dict[str, dict]:
    """{benchmark: {"ops_per_sec", "seconds", "ops", "rest"}} from db_bench's report."""
    res = {}
    for line in out.splitlines():
        m = DB_BENCH_LINE.match(line.strip())
        if m:
            res[m.group(1)] = {"ops_per_sec": float(m.group(3)),
                               "seconds": float(m.group(4) or 0),
                               "ops": int(m.group(5) or 0), "rest": m.group(6)}
    return res


ROCKSDB_BENCHMARKS = ("fillseq", "readrandom", "fillrandom", "readrandomwriterandom")


def rocksdb_check(out: str) -> Outcome:
    res = db_bench_results(out)
    for b in ROCKSDB_BENCHMARKS:
        if b not in res:
            raise WrongAnswer(f"db_bench: no result line for {b}")
    # After fillseq every key exists: readrandom must find all it looks for.
    m = re.search(r"\(\s*(\d+) of (\d+) found\)", res["readrandom"]["rest"])
    if not m or m.group(1) != m.group(2):
        raise WrongAnswer(f"db_bench: readrandom after fillseq did not find every key: "
                          f"{res['readrandom']['rest'].strip()!r}")
    ops = sum(res[b]["ops"] for b in ROCKSDB_BENCHMARKS)
    secs = sum(res[b]["seconds"] for b in ROCKSDB_BENCHMARKS)
    if ops <= 0 or secs <= 0:
        raise WrongAnswer("db_bench: no operations or no time reported")
    return Outcome(ops, "ops/s", ops / secs,
                   {b: res[b]["ops_per_sec"] for b in ROCKSDB_BENCHMARKS})


def _plan_rocksdb(app: App, work: Path, p: dict, threads: int) -> Plan:
    n = int(p["num"])
    db = work / "db"
    argv = [app.program(p), f"--db={db}", f"--benchmarks={','.join(ROCKSDB_BENCHMARKS)}",
            f"--num={n}", f"--reads={n}", f"--threads={threads}",
            f"--value_size={int(p['value-size'])}", "--compression_type=none",
            "--disable_wal=1", "--statistics=0", "--histogram=0", f"--seed={int(p['seed'])}",
            f"--cache_size={int(p['cache-mb']) << 20}"]
    return Plan(argv, check=lambda out, wall: rocksdb_check(out))


APPS: dict[str, App] = {a.name: a for a in (
    App("redis", ("redis-server", "redis-benchmark"), "redis-server redis-tools",
        {"requests": 20000, "clients": 50, "pipeline": 16, "keys": 10000, "value-size": 64,
         "check-keys": 1000}, server=True, links_allocator=True),
    App("rocksdb", ("db_bench",), "rocksdb-tools",
        {"num": 100000, "value-size": 100, "seed": 42, "cache-mb": 8}, _plan_rocksdb),
    App("sqlite", ("sqlite3",), "sqlite3", {"rows": 100000}, _plan_sqlite),
    App("lua", ("lua5.4",), "lua5.4", {"n": 100000}, _plan_lua),
    App("python", ("/usr/bin/python3",), "python3", {"n": 100000}, _plan_python),
    App("z3", ("z3",), "z3", {"queens": 12, "holes": 7}, _plan_z3),
)}


def params_for(name: str, given: dict) -> dict:
    """The app's parameters with defaults filled in; ValueError for unknown ones."""
    return _params(APPS[name], given)
