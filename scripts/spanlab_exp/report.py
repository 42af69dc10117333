"""summary.md: one Markdown table per workload, plus the cells that did not succeed."""

import os

from . import results


def si(x):
    """1234567 -> '1.23 M' (three significant digits)."""
    if x is None:
        return "–"
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g} {unit}"
    return f"{x:.3g}"


def mib(kb):
    return "–" if kb is None else f"{kb / 1024.0:.1f} MiB"


def write_summary(folder, reference=None):
    rows, meta = results.load(folder)
    reference = reference or "glibc"
    agg = results.aggregate(rows)
    variants, baselines = results.ordered_allocators(rows, meta)
    allocs = variants + baselines
    workloads = results.ordered_workloads(rows, meta)
    exp = meta.get("experiment") or (rows[0]["experiment"] if rows else "experiment")
    hosts = meta.get("hosts") or ([meta["host"]] if meta.get("host") else [])
    git = meta.get("git", {})
    lines = [f"# {exp}: summary", ""]
    if meta.get("spec", {}).get("description"):
        lines += [meta["spec"]["description"], ""]
    rev = git.get("revision")
    lines += [
        f"- started: {meta.get('started_utc', '?')}, finished: {meta.get('finished_utc', '?')}",
        "- host(s): " + ("; ".join(f"{h.get('hostname')} ({h.get('cpu_model')}, "
                                  f"{h.get('logical_cpus')} CPUs)" for h in hosts) or "?"),
        f"- source: {rev[:12] + (' (dirty)' if git.get('dirty') else '') if rev else 'unknown'}"
        f", build: {meta.get('build', {}).get('CMAKE_BUILD_TYPE') or '?'}",
        f"- seed: {meta.get('seed', '?')}, repetitions: {meta.get('spec', {}).get('repetitions', '?')}",
        f"- statistics over the repetitions that succeeded: median; spread = min–max; "
        f"ratio = median ops/s ÷ median ops/s of **{reference}** at the same thread count "
        f"(> 1: faster than {reference}); peak RSS = ru_maxrss of the workload process "
        f"(median). **Bold**: highest median at that thread count.",
        "",
    ]
    if reference not in allocs:
        lines += [f"Reference allocator {reference} is not in these results; ratios are left out.",
                  ""]
    for w in workloads:
        prog, params = results.workload_params(meta, w)
        opts = " ".join(f"--{k} {v}" for k, v in params.items())
        lines += [f"## {w}", "", f"`sl-{prog}{' ' + opts if opts else ''} --threads N`", ""]
        lines += [f"| threads | allocator | median ops/s | min–max ops/s | vs {reference} "
                  "| median peak RSS | ok/runs |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        threads = sorted({int(r["threads"]) for r in rows if r["workload"] == w})
        for t in threads:
            ref = (agg.get((w, reference, t)) or {}).get("tput")
            best = max((g["tput"]["median"] for a in allocs
                        for g in [agg.get((w, a, t))] if g and g["tput"]), default=None)
            for a in allocs:
                g = agg.get((w, a, t))
                if not g:
                    continue
                s = g["tput"]
                if s:
                    med = si(s["median"])
                    if best is not None and s["median"] == best:
                        med = f"**{med}**"
                    spread = f"{si(s['min'])} – {si(s['max'])}"
                    ratio = (f"{s['median'] / ref['median']:.2f}×" if ref and ref["median"] > 0
                             else "–")
                else:
                    med, spread, ratio = "–", "–", "–"
                rss = mib(g["rss"]["median"]) if g["rss"] else "–"
                okruns = f"{g['n_ok']}/{g['n_total']}"
                bad = {k: v for k, v in g["statuses"].items() if k != "ok"}
                if bad:
                    okruns += " (" + ", ".join(f"{v} {k}" for k, v in sorted(bad.items())) + ")"
                lines.append(f"| {t} | {a} | {med} | {spread} | {ratio} | {rss} | {okruns} |")
        lines.append("")
    bad_rows = [r for r in rows if r["status"] != "ok"]
    if bad_rows:
        lines += ["## Cells that did not succeed", "",
                  "| allocator | workload | status | cells | reason |", "|---|---|---|---:|---|"]
        groups = {}
        for r in bad_rows:
            k = (r["allocator"], r["workload"], r["status"], r["note"])
            groups[k] = groups.get(k, 0) + 1
        for (a, w, st, note), n in sorted(groups.items()):
            note = note.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {a} | {w} | {st} | {n} | {note} |")
        lines.append("")
    plots = os.path.join(folder, "plots")
    if os.path.isdir(plots):
        pngs = sorted(p for p in os.listdir(plots) if p.endswith(".png"))
        if pngs:
            lines += ["## Plots", ""] + [f"- [{p[:-4]}](plots/{p})" for p in pngs] + [""]
    path = os.path.join(folder, "summary.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path
