"""The run's data: cells, their order, shards, and results.csv rows.

A cell is (allocator, workload, threads, repetition). Cells are numbered by their
sorted key (stable: independent of the run order), which is what --shard selects on;
they run in a seeded random order so that slow drift of the machine (heat, other
load) spreads over all allocators instead of biasing one. Every finished cell is
appended to results.csv at once and flushed, so an interrupted run loses at most
the cell in progress and --resume picks up the rest.

Everything here is pure data and functions of it, except the CSV file helpers and
Progress (stderr); running a cell is execute.py.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from .spec import Spec, Workload

STATUSES = ("ok", "failed", "timeout", "skipped")
CellKey = tuple[str, str, int, int]


def cell_key(alloc: str, workload: str, threads: int | str, rep: int | str) -> CellKey:
    return (alloc, workload, int(threads), int(rep))


@dataclass(frozen=True)
class Cell:
    allocator: str
    kind: str            # "variant" or "baseline"
    workload: Workload
    threads: int
    rep: int
    index: int = -1      # position in the sorted list of all cells of the spec

    @property
    def key(self) -> CellKey:
        return cell_key(self.allocator, self.workload.label, self.threads, self.rep)

    def describe(self) -> str:
        return f"{self.allocator} {self.workload.label} threads={self.threads} rep={self.rep}"

    def log_name(self) -> str:
        return f"{self.allocator}_{self.workload.label}_t{self.threads}_r{self.rep}"


def all_cells(spec: Spec, repetitions: int | None = None) -> list[Cell]:
    """Every cell of the spec, sorted by key (the stable order), with its index."""
    reps = repetitions or spec.repetitions
    cells = [Cell(alloc, kind, w, t, rep)
             for alloc, kind in spec.allocators
             for w in spec.workloads
             for t in w.threads
             for rep in range(1, reps + 1)]
    cells.sort(key=lambda c: c.key)
    return [dataclasses.replace(c, index=i) for i, c in enumerate(cells)]


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 1 <= i <= n; ValueError otherwise."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 2/4), not {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def shard_cells(cells: list[Cell], shard: tuple[int, int] | None) -> list[Cell]:
    if shard is None:
        return cells
    i, n = shard
    return [c for c in cells if c.index % n == i - 1]


def run_order(cells: Iterable[Cell], seed: int) -> list[Cell]:
    """The cells in the seeded random order they run in."""
    out = list(cells)
    random.Random(seed).shuffle(out)
    return out


# ---------------------------------------------------------------- rows

@dataclass
class Row:
    """One line of results.csv: one repetition of one cell. Numbers that a cell did
    not produce are None (an empty CSV field)."""
    experiment: str
    allocator: str
    kind: str
    workload: str
    program: str
    threads: int
    rep: int
    status: str = ""
    exit_code: int | None = None
    wall_s: float | None = None
    user_s: float | None = None
    sys_s: float | None = None
    maxrss_kb: int | None = None
    ops: float | None = None
    ops_per_sec: float | None = None
    host: str = ""
    started_utc: str = ""
    note: str = ""
    workload_json: str = ""
    # Since the toolkit: counters from wait4, memory over time, the throughput
    # metric's name, allocation latency percentiles (nanoseconds).
    minflt: int | None = None
    majflt: int | None = None
    nvcsw: int | None = None
    nivcsw: int | None = None
    rss_mean_kb: float | None = None
    metric: str = ""
    malloc_p50_ns: float | None = None
    malloc_p90_ns: float | None = None
    malloc_p99_ns: float | None = None
    malloc_p999_ns: float | None = None
    malloc_max_ns: float | None = None
    free_p50_ns: float | None = None
    free_p90_ns: float | None = None
    free_p99_ns: float | None = None
    free_p999_ns: float | None = None
    free_max_ns: float | None = None

    @property
    def key(self) -> CellKey:
        return cell_key(self.allocator, self.workload, self.threads, self.rep)

    def to_csv(self) -> dict[str, str]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None:
                out[f.name] = ""
            elif isinstance(v, float):
                out[f.name] = _fmt_float(f.name, v)
            else:
                out[f.name] = str(v)
        return out

    @classmethod
    def from_csv(cls, d: dict[str, str]) -> "Row":
        kw = {}
        for f in dataclasses.fields(cls):
            text = d.get(f.name)
            kw[f.name] = _parse(f.type, text if text is not None else "")
        return cls(**kw)


CSV_FIELDS = [f.name for f in dataclasses.fields(Row)]
# Columns every results.csv has had; newer columns may be missing from older files.
REQUIRED_FIELDS = CSV_FIELDS[:CSV_FIELDS.index("workload_json") + 1]


def _fmt_float(name: str, v: float) -> str:
    if name in ("wall_s", "user_s", "sys_s"):
        return f"{v:.6f}"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _parse(typ: str, text: str):
    if typ == "str":
        return text
    if text == "":
        return None
    try:
        if typ.startswith("int"):
            return int(float(text)) if "." in text or "e" in text else int(text)
        return float(text)
    except ValueError:
        return None


def read_rows(path: str | Path) -> list[Row]:
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if header and set(REQUIRED_FIELDS) - set(header):
            raise ValueError(f"{path}: not a spanlab results.csv (columns {list(header)})")
        return [Row.from_csv(d) for d in reader]


def write_rows(path: str | Path, rows: Iterable[Row]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow(r.to_csv())
    os.replace(tmp, path)


class CsvAppender:
    """Appends rows to results.csv, each flushed to disk before the next cell. A file
    written by an older runner (fewer columns) is rewritten with the current header
    first."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            with path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            if header != CSV_FIELDS:
                write_rows(path, read_rows(path))
        new = not path.exists() or path.stat().st_size == 0
        self.f = path.open("a", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.f, fieldnames=CSV_FIELDS)
        if new:
            self.w.writeheader()
            self.f.flush()

    def append(self, row: Row) -> None:
        self.w.writerow(row.to_csv())
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def status_counts(rows: Iterable[Row]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


# ---------------------------------------------------------------- progress

def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Progress:
    """'cell n of N, elapsed, ETA' on stderr: one rewritten line on a terminal,
    one line per cell otherwise (logs, CI, Slurm output files)."""
    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    start: float = field(default_factory=time.monotonic)
    dirty: bool = False

    def _line(self, n: int, what: str) -> str:
        elapsed = time.monotonic() - self.start
        eta = _fmt_time(elapsed / self.done * (self.total - self.done)) if self.done else "?"
        pct = 100.0 * (n - 1) / self.total if self.total else 100.0
        return (f"[cell {n}/{self.total} {pct:3.0f}%  elapsed {_fmt_time(elapsed)}  "
                f"ETA {eta}] {what}")

    def starting(self, n: int, what: str) -> None:
        line = self._line(n, what)
        if self.stream.isatty():
            try:
                width = os.get_terminal_size(self.stream.fileno()).columns
            except OSError:
                width = 100
            self.stream.write("\r" + line[:max(width - 1, 20)] + "\x1b[K")
            self.dirty = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finished(self) -> None:
        self.done += 1

    def message(self, text: str) -> None:
        if self.stream.isatty() and self.dirty:
            self.stream.write("\r\x1b[K")
            self.dirty = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty() and self.dirty:
            self.stream.write("\n")
            self.dirty = False
        self.stream.flush()
