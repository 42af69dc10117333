"""Allocation traces (format: bench/trace/trace_format.h): reading, checking and
summarising them, for scripts/spanlab-trace.

read_trace() checks the header and every record as sl-replay does and raises
TraceError naming the byte offset of the first problem. analyse() walks the records
in time order with the same address-to-object rules as sl-replay, so the calls and
peak live bytes it reports are the ones sl-replay reports for the same file.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"SLTRACE\0"
VERSION = 1
HEADER = struct.Struct("<8sIIIIQ")
RECORD = struct.Struct("<BBHIQQQQ")
OPS = {1: "malloc", 2: "calloc", 3: "realloc", 4: "free", 5: "posix_memalign",
       6: "aligned_alloc", 7: "memalign", 8: "valloc", 9: "pvalloc"}
FREE, REALLOC = 4, 3
MAX_THREADS = 4096


class TraceError(Exception):
    """A malformed or truncated trace; the message names the byte offset."""


@dataclass(frozen=True)
class Record:
    op: int
    align_log2: int
    thread: int
    time_ns: int
    size: int
    ptr: int
    old_ptr: int


def load_bytes(path: str | Path) -> bytes:
    """The trace's bytes, gunzipped if the file is gzip'd."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise TraceError(f"{path}: cannot decompress: {e}") from None
    return data


def read_trace(data: bytes, name: str = "trace") -> list[Record]:
    if len(data) < HEADER.size:
        raise TraceError(f"{name}: byte offset {len(data)}: file ends inside the 32-byte "
                         "header (truncated, or not a trace)")
    magic, version, hsize, rsize, _flags, _start = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise TraceError(f"{name}: byte offset 0: no SLTRACE magic: not a spanlab allocation trace")
    if version != VERSION:
        raise TraceError(f"{name}: byte offset 8: unsupported trace version {version}")
    if hsize != HEADER.size or rsize != RECORD.size:
        raise TraceError(f"{name}: byte offset 12: unexpected header or record size")
    body = len(data) - HEADER.size
    if body % RECORD.size:
        off = HEADER.size + body // RECORD.size * RECORD.size
        raise TraceError(f"{name}: byte offset {off}: file ends inside a record (truncated)")
    out = []
    for i, (op, al, zero, th, t, size, ptr, old) in enumerate(
            RECORD.iter_unpack(memoryview(data)[HEADER.size:])):
        off = HEADER.size + i * RECORD.size
        if op not in OPS:
            raise TraceError(f"{name}: byte offset {off}: unknown operation {op}")
        if zero:
            raise TraceError(f"{name}: byte offset {off + 2}: reserved field is not zero")
        if th >= MAX_THREADS:
            raise TraceError(f"{name}: byte offset {off + 4}: thread number {th} too large")
        if al > 30:
            raise TraceError(f"{name}: byte offset {off + 1}: alignment too large")
        if op != FREE and size > 1 << 40:
            raise TraceError(f"{name}: byte offset {off + 16}: size too large (over 1 TiB)")
        if op != REALLOC and old:
            raise TraceError(f"{name}: byte offset {off + 32}: old address set on an "
                             "operation that is not realloc")
        out.append(Record(op, al, th, t, size, ptr, old))
    return out


@dataclass
class Summary:
    records: int = 0
    calls: int = 0                       # operations sl-replay replays
    threads: int = 0
    objects: int = 0
    dropped_frees: int = 0
    peak_live_bytes: int = 0
    never_freed: int = 0
    duration_ns: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)        # power-of-two bucket -> count
    lifetimes_ns: list[int] = field(default_factory=list)      # of objects freed


def _order(r_i: tuple[int, Record]) -> tuple:
    i, r = r_i
    return (r.time_ns, 0 if r.op == FREE else 1, i)


def analyse(records: list[Record]) -> Summary:
    s = Summary(records=len(records))
    s.threads = max((r.thread for r in records), default=-1) + 1
    live_at: dict[int, tuple[int, int]] = {}     # address -> (size, time allocated)
    live = 0
    for _i, r in sorted(enumerate(records), key=_order):
        name = OPS[r.op]
        s.by_op[name] = s.by_op.get(name, 0) + 1
        s.duration_ns = max(s.duration_ns, r.time_ns)
        if r.op in (FREE, REALLOC):
            addr = r.ptr if r.op == FREE else r.old_ptr
            had = False
            if addr:
                old = live_at.pop(addr, None)
                if old is None:
                    s.dropped_frees += 1
                    if r.op == FREE:
                        continue
                else:
                    had = True
                    live -= old[0]
                    s.lifetimes_ns.append(r.time_ns - old[1])
            if r.op == FREE:
                s.calls += 1
                continue
            if not r.ptr:
                if had:
                    s.calls += 1
                continue
        elif not r.ptr:
            continue
        s.objects += 1
        if r.ptr in live_at:
            live -= live_at[r.ptr][0]
        live_at[r.ptr] = (r.size, r.time_ns)
        live += r.size
        s.peak_live_bytes = max(s.peak_live_bytes, live)
        b = max(r.size, 1).bit_length() - 1
        s.sizes[b] = s.sizes.get(b, 0) + 1
        s.calls += 1
    s.never_freed = len(live_at)
    return s


def _q(vals: list[int], q: float) -> int:
    return vals[min(len(vals) - 1, int(q * len(vals)))] if vals else 0


def _dur(ns: float) -> str:
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.0f} ns"


def format_summary(s: Summary, name: str) -> str:
    lines = [f"{name}: {s.records} records, {s.calls} calls replayed, {s.threads} threads, "
             f"{_dur(s.duration_ns)} recorded",
             "calls: " + ", ".join(f"{k} {v}" for k, v in sorted(s.by_op.items())),
             f"objects: {s.objects} allocated, {s.never_freed} never freed, "
             f"{s.dropped_frees} frees of objects allocated before the recording",
             f"peak live bytes (requested): {s.peak_live_bytes}",
             "sizes (requested bytes, objects):"]
    total = sum(s.sizes.values()) or 1
    for b in sorted(s.sizes):
        n = s.sizes[b]
        lo, hi = (0 if b == 0 else 1 << b), (1 << (b + 1)) - 1
        lines.append(f"  {lo:>10}–{hi:<10} {n:>9}  {'#' * max(1, round(40 * n / total))}")
    life = sorted(s.lifetimes_ns)
    if life:
        lines.append(f"lifetimes of freed objects: median {_dur(_q(life, 0.5))}, p90 "
                     f"{_dur(_q(life, 0.9))}, p99 {_dur(_q(life, 0.99))}, max {_dur(life[-1])}")
    return "\n".join(lines)
