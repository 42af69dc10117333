"""Reading a results folder and aggregating repetitions.

Only repetitions with status ok enter the statistics; the others are counted so the
summary can say how many of each cell's repetitions are behind a number.
"""

import json
import os
import statistics

from . import run

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


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


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


def aggregate(rows):
    """{(workload, allocator, threads): {"tput": stats, "rss": stats, "n_ok", "n_total",
    "statuses": {status: count}}}."""
    groups = {}
    for r in rows:
        key = (r["workload"], r["allocator"], int(r["threads"]))
        g = groups.setdefault(key, {"tput_vals": [], "rss_vals": [], "n_ok": 0, "n_total": 0,
                                    "statuses": {}})
        g["n_total"] += 1
        g["statuses"][r["status"]] = g["statuses"].get(r["status"], 0) + 1
        if r["status"] == "ok":
            g["n_ok"] += 1
            g["tput_vals"].append(_num(r["ops_per_sec"]))
            g["rss_vals"].append(_num(r["maxrss_kb"]))
    for g in groups.values():
        g["tput"] = stats(g.pop("tput_vals"))
        g["rss"] = stats(g.pop("rss_vals"))
    return groups


def ordered_allocators(rows, meta):
    """Variants (spec order, then others sorted), then baselines in a fixed order."""
    spec = meta.get("spec", {}) if meta else {}
    kinds = {}
    for r in rows:
        kinds.setdefault(r["allocator"], r["kind"])
    variants = [v for v in spec.get("variants", []) if v in kinds]
    variants += sorted(a for a, k in kinds.items() if k == "variant" and a not in variants)
    baselines = [b for b in BASELINE_ORDER if kinds.get(b) == "baseline"]
    baselines += sorted(a for a, k in kinds.items() if k == "baseline" and a not in baselines)
    return variants, baselines


def ordered_workloads(rows, meta):
    spec = meta.get("spec", {}) if meta else {}
    present = []
    for r in rows:
        if r["workload"] not in present:
            present.append(r["workload"])
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
