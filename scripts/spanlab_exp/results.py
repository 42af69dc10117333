"""Reading a results folder and aggregating repetitions.

Only repetitions with status ok enter the statistics; the others are counted so the
summary can say how many of each cell's repetitions are behind a number.

Besides results.csv a folder may hold two JSON-lines files, one object per cell
repetition, appended as cells finish (the last object of a cell wins, so a cell run
again after --retry-failed replaces its series):
  rss.jsonl      {"allocator", "workload", "threads", "rep", "interval_ms",
                  "t_ms": [...], "rss_kb": [...]}: resident memory over time
  latency.jsonl  {..., "sample": N, "malloc": {"max", "buckets": [[i, n], ...]},
                  "free": {...}}: latency histograms (see latency.py)
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from . import run
from .run import Row

RSS_FILE = "rss.jsonl"
LATENCY_FILE = "latency.jsonl"

BASELINE_ORDER = ("glibc", "jemalloc", "mimalloc", "tcmalloc")
# Fixed colours for baselines, so every plot of every experiment shows them alike.
BASELINE_COLOURS = {"glibc": "#4d4d4d", "jemalloc": "#a6611a", "mimalloc": "#1b9e77",
                    "tcmalloc": "#e6ab02"}
VARIANT_COLOURS = ["#1f5fbf", "#d6272e", "#7b3fb3", "#17a2b8", "#e7298a", "#66a61e",
                   "#ff7f0e", "#8c564b", "#000080", "#bcbd22", "#6b6ecf", "#ad494a"]


class ResultsError(Exception):
    pass


def load(folder):
    """(rows, metadata) of a results folder; ResultsError if it is not one."""
    csv_path = os.path.join(folder, "results.csv")
    if not os.path.isdir(folder):
        raise ResultsError(f"{folder}: no such results folder")
    if not os.path.exists(csv_path):
        raise ResultsError(f"{folder}: no results.csv (not a results folder?)")
    try:
        rows = run.read_rows(csv_path)
    except ValueError as e:
        raise ResultsError(str(e)) from None
    meta = {}
    mpath = os.path.join(folder, "metadata.json")
    if os.path.exists(mpath):
        try:
            with open(mpath, encoding="utf-8") as f:
                meta = json.load(f)
        except ValueError as e:
            raise ResultsError(f"{mpath}: not valid JSON: {e}") from None
    return rows, meta


def quantile(sorted_vals, q):
    """Linear-interpolation quantile of a sorted list (like numpy's default)."""
    if not sorted_vals:
        return None
    pos = (len(sorted_vals) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def stats(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    return {"n": len(vals), "median": statistics.median(vals), "min": vals[0],
            "max": vals[-1], "q1": quantile(vals, 0.25), "q3": quantile(vals, 0.75)}


METRICS = {"tput": "ops_per_sec", "rss": "maxrss_kb", "rss_mean": "rss_mean_kb",
           "minflt": "minflt", "nvcsw": "nvcsw", "nivcsw": "nivcsw",
           "malloc_p50": "malloc_p50_ns", "malloc_p90": "malloc_p90_ns", "malloc_p99": "malloc_p99_ns",
           "malloc_p999": "malloc_p999_ns", "malloc_max": "malloc_max_ns",
           "free_p50": "free_p50_ns", "free_p99": "free_p99_ns",
           "free_p999": "free_p999_ns", "free_max": "free_max_ns"}


def aggregate(rows: list[Row]) -> dict:
    """{(workload, allocator, threads): {"tput": stats, "rss": stats, ... (METRICS),
    "values": {metric: [value per ok repetition]}, "metric": name of the throughput
    metric, "n_ok", "n_total", "statuses": {status: count}}}."""
    groups: dict = {}
    for r in rows:
        key = (r.workload, r.allocator, r.threads)
        g = groups.setdefault(key, {"values": {m: [] for m in METRICS}, "n_ok": 0,
                                    "n_total": 0, "statuses": {}, "metric": r.metric})
        g["n_total"] += 1
        g["statuses"][r.status] = g["statuses"].get(r.status, 0) + 1
        if r.status == "ok":
            g["n_ok"] += 1
            g["metric"] = r.metric or g["metric"]
            for m, col in METRICS.items():
                v = getattr(r, col)
                if v is not None:
                    g["values"][m].append(float(v))
    for g in groups.values():
        for m in METRICS:
            g[m] = stats(g["values"][m])
    return groups


def append_series(folder: str | Path, name: str, row: Row, data: dict) -> None:
    obj = {"allocator": row.allocator, "workload": row.workload, "threads": row.threads,
           "rep": row.rep, **data}
    with open(Path(folder) / name, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj, separators=(",", ":")) + "\n")


def load_series(folder: str | Path, name: str, rows: list[Row] | None = None) -> dict:
    """{(allocator, workload, threads, rep): object} from a JSON-lines file; only cells
    whose row is ok when rows are given. {} if the file is absent."""
    path = Path(folder) / name
    if not path.exists():
        return {}
    ok = None if rows is None else {r.key for r in rows if r.status == "ok"}
    out = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
                key = run.cell_key(obj["allocator"], obj["workload"], obj["threads"], obj["rep"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by an interrupted run
            if ok is None or key in ok:
                out[key] = obj
    return out


def ordered_allocators(rows, meta):
    """Variants (spec order, then others sorted), then baselines in a fixed order."""
    spec = meta.get("spec", {}) if meta else {}
    kinds = {}
    for r in rows:
        kinds.setdefault(r.allocator, r.kind)
    variants = [v for v in spec.get("variants", []) if v in kinds]
    variants += sorted(a for a, k in kinds.items() if k == "variant" and a not in variants)
    baselines = [b for b in BASELINE_ORDER if kinds.get(b) == "baseline"]
    baselines += sorted(a for a, k in kinds.items() if k == "baseline" and a not in baselines)
    return variants, baselines


def ordered_workloads(rows, meta):
    spec = meta.get("spec", {}) if meta else {}
    present = []
    for r in rows:
        if r.workload not in present:
            present.append(r.workload)
    order = [w["label"] for w in spec.get("workloads", []) if w.get("label") in present]
    return order + sorted(w for w in present if w not in order)


def colours(variants, baselines):
    """Allocator -> colour; variants get palette colours by sorted name so the same
    set of variants is coloured alike in every plot of a folder."""
    out = {}
    for i, v in enumerate(sorted(variants)):
        out[v] = VARIANT_COLOURS[i % len(VARIANT_COLOURS)]
    for b in baselines:
        out[b] = BASELINE_COLOURS.get(b, "#999999")
    return out


def workload_params(meta, label):
    for w in (meta.get("spec", {}) if meta else {}).get("workloads", []):
        if w.get("label") == label:
            return w.get("name", label), w.get("params", {})
    return label, {}


def workload_spec(meta, label) -> dict:
    """The workload's entry in the metadata's spec ({} if absent)."""
    for w in (meta.get("spec", {}) if meta else {}).get("workloads", []):
        if w.get("label") == label:
            return w
    return {}


def workload_command(meta, label) -> str:
    """How the summary and plots name a workload: `sl-x --k v`, `app lua n=...`."""
    w = workload_spec(meta, label)
    kind = w.get("kind", "program")
    params = w.get("params", {})
    if kind == "app":
        return f"application {w.get('name')}" + "".join(f" {k}={v}" for k, v in params.items())
    if kind == "trace":
        return f"sl-replay {os.path.basename(w.get('trace') or '')}"
    opts = " ".join(f"--{k} {v}" for k, v in params.items())
    return f"sl-{w.get('name', label)}{' ' + opts if opts else ''} --threads N"
