"""summary.md: one Markdown table per workload with confidence intervals, then the
applications, the variants against the production allocators, latency,
memory-over-time and counter tables when the folder has them, the cells that did
not succeed, and the machine's load during the run."""

from __future__ import annotations

import math
import os

from . import results, stats


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


def ns(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.3g} ms"
    if x >= 1e3:
        return f"{x / 1e3:.3g} µs"
    return f"{x:.0f} ns"


def _med(g, m):
    return (g.get(m) or {}).get("median") if g else None


def ratio_cell(g, ref):
    """'1.23× [1.10–1.31]' and a verdict, for a group against the reference group."""
    if not g or not ref or not g["tput"] or not ref["tput"] or ref["tput"]["median"] <= 0:
        return "–", ""
    r = g["tput"]["median"] / ref["tput"]["median"]
    ci = stats.ratio_ci(g["values"]["tput"], ref["values"]["tput"])
    if ci is None:
        return f"{r:.2f}×", "? (one repetition)"
    return f"{r:.2f}× [{ci.low:.2f}–{ci.high:.2f}]", stats.verdict(ci)


def _header(meta, rows, reference):
    exp = meta.get("experiment") or (rows[0].experiment if rows else "experiment")
    hosts = meta.get("hosts") or ([meta["host"]] if meta.get("host") else [])
    git = meta.get("git", {})
    rev = git.get("revision")
    lines = [f"# {exp}: summary", ""]
    if meta.get("spec", {}).get("description"):
        lines += [meta["spec"]["description"], ""]
    lines += [
        f"- started: {meta.get('started_utc', '?')}, finished: {meta.get('finished_utc', '?')}",
        "- host(s): " + ("; ".join(f"{h.get('hostname')} ({h.get('cpu_model')}, "
                                  f"{h.get('logical_cpus')} CPUs)" for h in hosts) or "?"),
        f"- source: {rev[:12] + (' (dirty)' if git.get('dirty') else '') if rev else 'unknown'}"
        f", build: {meta.get('build', {}).get('CMAKE_BUILD_TYPE') or '?'}",
        f"- seed: {meta.get('seed', '?')}, repetitions: {meta.get('spec', {}).get('repetitions', '?')}"
        + (f" (more where --until-ci {meta['until_ci']['target']:.0%} asked, up to "
           f"{meta['until_ci']['max_repetitions']})" if meta.get("until_ci") else ""),
        f"- statistics over the repetitions that succeeded: median; spread = min–max; "
        f"ratio = median throughput ÷ median throughput of **{reference}** at the same "
        f"thread count (> 1: faster than {reference}), with its 95 % bootstrap interval "
        f"[low–high] ({stats.BOOT} resamples of each allocator's repetitions, fixed seed); "
        f"*indistinguishable* when the interval contains 1: these repetitions cannot tell "
        f"the two apart. Peak RSS = ru_maxrss of the measured process (median); mean RSS = "
        f"time-weighted mean of its resident set sampled every 10 ms (median). **Bold**: "
        f"highest median at that thread count.",
        "",
    ]
    return lines


def _workload_table(w, rows, agg, allocs, reference, meta):
    lines = [f"## {w}", "", f"`{results.workload_command(meta, w)}`", ""]
    metric = next((g["metric"] for k, g in sorted(agg.items())
                   if k[0] == w and g["metric"]), "") or "ops/s"
    lines += [f"| threads | allocator | median {metric} | min–max | vs {reference} [95 % CI] "
              "| verdict | median peak RSS | mean RSS | ok/runs |",
              "|---:|---|---:|---:|---:|---|---:|---:|---:|"]
    threads = sorted({r.threads for r in rows if r.workload == w})
    for t in threads:
        ref = agg.get((w, reference, t))
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
                ratio, verdict = ratio_cell(g, ref) if a != reference else ("1", "reference")
            else:
                med, spread, ratio, verdict = "–", "–", "–", ""
            okruns = f"{g['n_ok']}/{g['n_total']}"
            bad = {k: v for k, v in g["statuses"].items() if k != "ok"}
            if bad:
                okruns += " (" + ", ".join(f"{v} {k}" for k, v in sorted(bad.items())) + ")"
            lines.append(f"| {t} | {a} | {med} | {spread} | {ratio} | {verdict} | "
                         f"{mib(_med(g, 'rss'))} | {mib(_med(g, 'rss_mean'))} | {okruns} |")
    lines.append("")
    return lines


def _apps_table(apps, agg, allocs, rows):
    present = [a for a in allocs if any(agg.get((w, a, t)) for w in apps
                                        for t in {r.threads for r in rows})]
    lines = ["## Applications", "",
             "Median throughput in each application's own metric, and median peak RSS of "
             "the measured program.", "",
             "| application | metric | " + " | ".join(present) + " |",
             "|---|---|" + "---:|" * len(present)]
    for w in apps:
        t = max(r.threads for r in rows if r.workload == w)
        metric = next((agg[(w, a, t)]["metric"] for a in present if (w, a, t) in agg), "")
        cells = []
        for a in present:
            g = agg.get((w, a, t))
            cells.append(f"{si(_med(g, 'tput'))} ({mib(_med(g, 'rss'))})" if g and g["tput"]
                         else "–")
        lines.append(f"| {w} | {metric} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _latency_table(workloads, agg, allocs, rows):
    lines = ["## Allocation latency", "",
             "Per call, from the latency shim's histograms (log buckets, ≤ 1.6 % error), "
             "median over repetitions, at the highest thread count.", "",
             "| workload | allocator | malloc p50 | p90 | p99 | p99.9 | max | free p50 | p99 "
             "| p99.9 | max |", "|---|---|" + "---:|" * 9]
    for w in workloads:
        t = max(r.threads for r in rows if r.workload == w)
        for a in allocs:
            g = agg.get((w, a, t))
            if not g or not g["malloc_p50"]:
                continue
            lines.append(f"| {w} | {a} | {ns(_med(g, 'malloc_p50'))} | {ns(_med(g, 'malloc_p90'))} | {ns(_med(g, 'malloc_p99'))} "
                         f"| {ns(_med(g, 'malloc_p999'))} | {ns(_med(g, 'malloc_max'))} "
                         f"| {ns(_med(g, 'free_p50'))} | {ns(_med(g, 'free_p99'))} "
                         f"| {ns(_med(g, 'free_p999'))} | {ns(_med(g, 'free_max'))} |")
    lines.append("")
    return lines


def _memory_table(workloads, agg, allocs, rows):
    lines = ["## Memory over time", "",
             "Resident set of the measured process sampled every 10 ms: peak (ru_maxrss) and "
             "time-weighted mean, medians over repetitions, at the highest thread count; "
             "minor page faults and context switches (voluntary / involuntary) from wait4.",
             "", "| workload | allocator | peak RSS | mean RSS | minor faults | ctx switches |",
             "|---|---|---:|---:|---:|---:|"]
    for w in workloads:
        t = max(r.threads for r in rows if r.workload == w)
        for a in allocs:
            g = agg.get((w, a, t))
            if not g or not g["rss"]:
                continue
            lines.append(f"| {w} | {a} | {mib(_med(g, 'rss'))} | {mib(_med(g, 'rss_mean'))} "
                         f"| {si(_med(g, 'minflt'))} | {si(_med(g, 'nvcsw'))} / "
                         f"{si(_med(g, 'nivcsw'))} |")
    lines.append("")
    return lines


SYSTEM_ALLOCATOR = "glibc"


def _geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def _against_production(workloads, agg, variants, baselines, rows):
    """Each cell's best variant against its best production allocator (every baseline
    but the system allocator), the slowest variant against the same, and peak RSS;
    then each allocator's geometric mean over the cells. None when the results have
    no variant or no production baseline."""
    prod = [b for b in baselines if b != SYSTEM_ALLOCATOR]
    if not variants or not prod:
        return None
    tput = lambda w, a, t: _med(agg.get((w, a, t)), "tput")
    cells = [(w, t) for w in workloads for t in sorted({r.threads for r in rows if r.workload == w})
             if any(tput(w, v, t) for v in variants) and any(tput(w, b, t) for b in prod)]
    if not cells:
        return None
    lines = ["## Variants against the production allocators", "",
             f"Per cell: the variant with the highest median throughput against the "
             f"production allocator ({', '.join(prod)}) with the highest, their ratio with "
             f"its 95 % bootstrap interval, the slowest variant's ratio to the same "
             f"allocator, and the best variant's median peak RSS divided by the lowest "
             f"median peak RSS among the production allocators.", "",
             "| workload | threads | best variant | median | best production | median "
             "| ratio [95 % CI] | slowest variant (ratio) | peak RSS ratio |",
             "|---|---:|---|---:|---|---:|---:|---|---:|"]
    ratios, per_alloc, per_rss = [], {}, {}
    for w, t in cells:
        have = [v for v in variants if tput(w, v, t)]
        bv = max(have, key=lambda a: tput(w, a, t))
        sv = min(have, key=lambda a: tput(w, a, t))
        bp = max((b for b in prod if tput(w, b, t)), key=lambda a: tput(w, a, t))
        top = tput(w, bp, t)
        r = tput(w, bv, t) / top
        ratios.append(r)
        ci = stats.ratio_ci(agg[(w, bv, t)]["values"]["tput"], agg[(w, bp, t)]["values"]["tput"])
        rs = f"{r:.2f}" + (f" [{ci.low:.2f}–{ci.high:.2f}]" if ci else "")
        low_rss = min((x for b in prod for x in [_med(agg.get((w, b, t)), "rss")] if x),
                      default=None)
        rss = _med(agg.get((w, bv, t)), "rss")
        rss_r = f"{rss / low_rss:.2f}" if rss and low_rss else "–"
        lines.append(f"| {w} | {t} | {bv} | {si(tput(w, bv, t))} | {bp} | {si(top)} | {rs} "
                     f"| {sv} ({tput(w, sv, t) / top:.2f}) | {rss_r} |")
        for a in variants + prod:
            if tput(w, a, t):
                per_alloc.setdefault(a, []).append((tput(w, a, t) / top, w, t))
            ra = _med(agg.get((w, a, t)), "rss")
            if ra and low_rss:
                per_rss.setdefault(a, []).append(ra / low_rss)
    lines += ["", f"Geometric mean of the best variant's ratio over the {len(cells)} cells: "
              f"{_geomean(ratios):.3f}.", "",
              "| allocator | geometric mean of throughput ÷ the cell's best production "
              "| lowest (cell) | cells below 0.5 | geometric mean of peak RSS ÷ the cell's lowest |",
              "|---|---:|---|---:|---:|"]
    for a in variants + prod:
        got = per_alloc.get(a)
        if not got:
            continue
        low = min(got)
        g_rss = _geomean(per_rss.get(a, []))
        lines.append(f"| {a} | {_geomean([x for x, _, _ in got]):.2f} | {low[0]:.2f} "
                     f"({low[1]}, {low[2]}) | {sum(1 for x, _, _ in got if x < 0.5)} | "
                     f"{'–' if g_rss is None else f'{g_rss:.2f}'} |")
    lines.append("")
    return lines


def _load_lines(meta):
    load = meta.get("machine_load") or {}
    if not load.get("before"):
        return []
    b, a = load["before"], load.get("after") or {}
    la = lambda s: ", ".join(f"{x:.2f}" for x in s["loadavg_1_5_15"]) if s.get("loadavg_1_5_15") else "?"
    hw = (meta.get("measurement") or {}).get("hardware_counters") or {}
    lines = ["## Machine during the run", "",
             f"- load average (1, 5, 15 min) before: {la(b)}; after: {la(a) if a else '?'}",
             f"- CPU time of other processes during the run: "
             f"{load.get('others_cpu_s', '?')} s (/proc/stat busy time minus this runner's)",
             f"- hardware counters: {'available' if hw.get('available') else 'unavailable'}"
             + (f" ({hw.get('reason')})" if hw.get("reason") else ""), ""]
    return lines


def write_summary(folder, reference=None):
    rows, meta = results.load(folder)
    reference = reference or "glibc"
    agg = results.aggregate(rows)
    variants, baselines = results.ordered_allocators(rows, meta)
    allocs = variants + baselines
    workloads = results.ordered_workloads(rows, meta)
    lines = _header(meta, rows, reference)
    if reference not in allocs:
        lines += [f"Reference allocator {reference} is not in these results; ratios are left out.",
                  ""]
    for w in workloads:
        lines += _workload_table(w, rows, agg, allocs, reference, meta)
    apps = [w for w in workloads if results.workload_spec(meta, w).get("kind") == "app"]
    if apps:
        lines += _apps_table(apps, agg, allocs, rows)
    lat = [w for w in workloads if any((g.get("malloc_p50") for k, g in agg.items() if k[0] == w))]
    if lat:
        lines += _latency_table(lat, agg, allocs, rows)
    prog = [w for w in workloads if results.workload_spec(meta, w).get("kind") not in ("app",)]
    lines += _against_production(prog, agg, variants, baselines, rows) or []
    mem = [w for w in workloads if any(g.get("rss") for k, g in agg.items() if k[0] == w)]
    if mem:
        lines += _memory_table(mem, agg, allocs, rows)
    bad_rows = [r for r in rows if r.status != "ok"]
    if bad_rows:
        lines += ["## Cells that did not succeed", "",
                  "| allocator | workload | status | cells | reason |", "|---|---|---|---:|---|"]
        groups = {}
        for r in bad_rows:
            k = (r.allocator, r.workload, r.status, r.note)
            groups[k] = groups.get(k, 0) + 1
        for (a, w, st, note), n in sorted(groups.items()):
            note = note.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {a} | {w} | {st} | {n} | {note} |")
        lines.append("")
    lines += _load_lines(meta)
    plots = os.path.join(folder, "plots")
    if os.path.isdir(plots):
        pngs = sorted(p for p in os.listdir(plots) if p.endswith(".png"))
        if pngs:
            lines += ["## Plots", ""] + [f"- [{p[:-4]}](plots/{p})" for p in pngs] + [""]
    path = os.path.join(folder, "summary.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path
