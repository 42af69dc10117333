"""Figures from a results folder (matplotlib, Agg backend; PNG and SVG of each).

Per workload:
  throughput_<w>  ops/s against threads, median line, min-max band over repetitions
  speedup_<w>     median ops/s at t threads / median ops/s at the fewest threads
  rss_<w>         peak resident set (ru_maxrss of the workload process) against threads
  bars_<w>        median ops/s per allocator side by side, one group per thread count
  memory_<w>      resident memory over time at the highest thread count: per
                  allocator the repetition with the median time-weighted mean, and
                  the min-max band of all repetitions (from rss.jsonl)
  latency_<w>     malloc and free latency CDFs per allocator, repetitions pooled,
                  with the tail (1 - CDF) on a log scale (from latency.jsonl)
  latency_threads_<w>  p99 and p99.9 malloc latency against threads
Across workloads:
  overview_throughput  the throughput panels of every workload with a successful
                       repetition, in one figure
  overview_relative    every allocator relative to the reference allocator at the
                       highest thread count of each workload (1 = as fast), whiskers
                       the 95 % bootstrap interval of the ratio
  apps_relative   applications: each allocator's throughput in the application's
                  own metric relative to the reference, with 95 % intervals
  apps_rss        applications: median peak RSS of the measured program
Variants are solid lines with filled markers, baselines dashed with open markers; an
allocator has the same colour in every figure of a folder.
"""

import math
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, NullLocator  # noqa: E402

from . import latency, results, stats  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*"]

plt.rcParams.update({
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "savefig.dpi": 200, "svg.hashsalt": "spanlab", "lines.linewidth": 1.6,
    "lines.markersize": 5,
})


class Style:
    def __init__(self, variants, baselines):
        self.colours = results.colours(variants, baselines)
        self.baselines = set(baselines)
        order = list(variants) + list(baselines)
        self.marker = {a: MARKERS[i % len(MARKERS)] for i, a in enumerate(order)}

    def line(self, alloc):
        base = alloc in self.baselines
        c = self.colours[alloc]
        return {"color": c, "marker": self.marker[alloc], "linestyle": "--" if base else "-",
                "markerfacecolor": "white" if base else c, "markeredgecolor": c,
                "label": alloc}


def _save(fig, folder, stem):
    paths = []
    for ext in ("png", "svg"):
        p = os.path.join(folder, f"{stem}.{ext}")
        fig.savefig(p, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def _threads_axis(ax, threads, cpus):
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(threads))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in threads])
    if len(threads) == 1:
        ax.set_xlim(threads[0] / 1.5, threads[0] * 1.5)
    else:
        ax.set_xlim(threads[0] / 1.25, threads[-1] * 1.25)
    ax.set_xlabel("threads")
    if cpus and threads[0] <= cpus < threads[-1]:
        ax.axvline(cpus, color="#999999", linestyle=":", linewidth=1)
        ax.annotate(f"{cpus} CPUs", xy=(cpus, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", fontsize=7, color="#666666",
                    va="top")


def _maybe_log_y(ax, lows, highs):
    lows = [v for v in lows if v and v > 0]
    highs = [v for v in highs if v and v > 0]
    if lows and highs and max(highs) / min(lows) > 30:
        ax.set_yscale("log")
        return True
    ax.set_ylim(bottom=0)
    return False


def _legend_outside(ax, fig=None):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False, borderaxespad=0)


def _subtitle(meta, label):
    w = results.workload_spec(meta, label)
    if w.get("kind") in ("app", "trace"):
        return results.workload_command(meta, label)
    prog, params = results.workload_params(meta, label)
    opts = " ".join(f"{k}={v}" for k, v in params.items())
    name = f"sl-{prog}" if prog == label else f"{label} (sl-{prog})"
    return f"{name}" + (f"  [{opts}]" if opts else "")


def _series(agg, workload, alloc, metric, threads, scale=1.0):
    xs, med, lo, hi = [], [], [], []
    for t in threads:
        g = agg.get((workload, alloc, t))
        s = g and g[metric]
        if s:
            xs.append(t)
            med.append(s["median"] * scale)
            lo.append(s["min"] * scale)
            hi.append(s["max"] * scale)
    return xs, med, lo, hi


def _band_alpha(n):
    """Lighter spread bands when many allocators share a panel."""
    return 0.15 if n <= 5 else 0.07


def _metric_panel(ax, agg, workload, allocs, style, threads, metric, scale, cpus):
    lows, highs, drawn = [], [], 0
    alpha = _band_alpha(len(allocs))
    for a in allocs:
        xs, med, lo, hi = _series(agg, workload, a, metric, threads, scale)
        if not xs:
            continue
        kw = style.line(a)
        ax.plot(xs, med, **kw, zorder=3)
        ax.fill_between(xs, lo, hi, color=kw["color"], alpha=alpha, linewidth=0, zorder=2)
        lows += lo
        highs += hi
        drawn += 1
    _threads_axis(ax, threads, cpus)
    logy = _maybe_log_y(ax, lows, highs)
    return drawn, logy


def plot_all(folder, reference=None, log=print):
    """Draw every figure of a results folder into folder/plots; return the paths."""
    rows, meta = results.load(folder)
    out = os.path.join(folder, "plots")
    os.makedirs(out, exist_ok=True)
    agg = results.aggregate(rows)
    variants, baselines = results.ordered_allocators(rows, meta)
    allocs = variants + baselines
    style = Style(variants, baselines)
    workloads = results.ordered_workloads(rows, meta)
    hosts = meta.get("hosts") or [meta.get("host", {})]
    cpus = min((h.get("logical_cpus") or 0) for h in hosts) if hosts else None
    exp = meta.get("experiment") or (rows[0].experiment if rows else "experiment")
    reference = reference or "glibc"
    paths = []

    def wthreads(w):
        return sorted({r.threads for r in rows if r.workload == w})

    for w in workloads:
        threads = wthreads(w)
        sub = _subtitle(meta, w)

        # throughput
        fig, ax = plt.subplots(figsize=(5.6, 3.6))
        drawn, logy = _metric_panel(ax, agg, w, allocs, style, threads, "tput", 1.0, cpus)
        ax.yaxis.set_major_formatter(EngFormatter(places=0 if not logy else None, sep=""))
        ax.set_ylabel("throughput (operations/s)")
        ax.set_title(f"{exp}: {w} throughput\n", loc="left")
        ax.text(0, 1.02, f"{sub}; median and min–max of repetitions", transform=ax.transAxes,
                fontsize=7, color="#555555")
        _legend_outside(ax)
        if drawn:
            paths += _save(fig, out, f"throughput_{w}")
        else:
            plt.close(fig)

        # speed-up over the fewest threads
        if len(threads) > 1 and drawn:
            base_t = threads[0]
            fig, ax = plt.subplots(figsize=(5.6, 3.6))
            top = 1.0
            for a in allocs:
                g0 = agg.get((w, a, base_t))
                if not (g0 and g0["tput"] and g0["tput"]["median"] > 0):
                    continue
                b = g0["tput"]["median"]
                xs, med, lo, hi = _series(agg, w, a, "tput", threads, 1.0 / b)
                kw = style.line(a)
                ax.plot(xs, med, **kw, zorder=3)
                ax.fill_between(xs, lo, hi, color=kw["color"], alpha=_band_alpha(len(allocs)),
                                linewidth=0)
                top = max(top, max(hi))
            ideal = [t / base_t for t in threads]
            if cpus:
                ideal = [min(t, max(cpus, base_t)) / base_t for t in threads]
            ax.plot(threads, ideal, color="#aaaaaa", linestyle=":", linewidth=1.2,
                    label="linear (up to #CPUs)" if cpus else "linear")
            _threads_axis(ax, threads, cpus)
            ax.set_ylim(0, max(top, max(ideal)) * 1.08)
            ax.set_ylabel(f"speed-up over {base_t} thread{'s' if base_t > 1 else ''} (×)")
            ax.set_title(f"{exp}: {w} speed-up\n", loc="left")
            ax.text(0, 1.02, f"{sub}; ratio of medians, band: min–max / median",
                    transform=ax.transAxes, fontsize=7, color="#555555")
            _legend_outside(ax)
            paths += _save(fig, out, f"speedup_{w}")

        # peak RSS
        fig, ax = plt.subplots(figsize=(5.6, 3.6))
        drawn_rss, logy = _metric_panel(ax, agg, w, allocs, style, threads, "rss",
                                        1.0 / 1024.0, cpus)
        ax.set_ylabel("peak RSS (MiB)")
        ax.set_title(f"{exp}: {w} peak resident memory\n", loc="left")
        ax.text(0, 1.02, f"{sub}; ru_maxrss of the process, median and min–max",
                transform=ax.transAxes, fontsize=7, color="#555555")
        _legend_outside(ax)
        if drawn_rss:
            paths += _save(fig, out, f"rss_{w}")
        else:
            plt.close(fig)

        # side-by-side bars per thread count
        if drawn:
            paths += _bars(agg, w, allocs, style, threads, out, exp, sub)

    rss_series = results.load_series(folder, results.RSS_FILE, rows)
    lat_series = results.load_series(folder, results.LATENCY_FILE, rows)
    for w in workloads:
        threads = wthreads(w)
        paths += _memory(rss_series, agg, w, allocs, style, threads[-1], out, exp,
                         _subtitle(meta, w))
        paths += _latency(lat_series, w, allocs, style, threads, out, exp, _subtitle(meta, w))
    apps = [w for w in workloads if results.workload_spec(meta, w).get("kind") == "app"]
    if apps:
        paths += _apps(agg, apps, allocs, style, wthreads, out, exp, reference)

    with_data = [w for w in workloads
                 if any((agg.get((w, a, t)) or {}).get("tput") for a in allocs for t in wthreads(w))]
    if with_data:
        p = _overview(agg, with_data, allocs, style, wthreads, out, exp, cpus)
        paths += p
        paths += _relative(agg, with_data, allocs, style, wthreads, out, exp, reference)
    return paths


def _bars(agg, w, allocs, style, threads, out, exp, sub):
    present = [a for a in allocs if any((agg.get((w, a, t)) or {}).get("tput") for t in threads)]
    if not present:
        return []
    n = len(present)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(5.6, 1.1 * len(threads) + 0.25 * n * len(threads)), 3.6))
    for i, a in enumerate(present):
        xs, hs, errs_lo, errs_hi = [], [], [], []
        for j, t in enumerate(threads):
            s = (agg.get((w, a, t)) or {}).get("tput")
            if not s:
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            hs.append(s["median"])
            ci = stats.median_ci((agg.get((w, a, t)) or {})["values"]["tput"])
            lo, hi = (ci.low, ci.high) if ci else (s["median"], s["median"])
            errs_lo.append(max(s["median"] - lo, 0))
            errs_hi.append(max(hi - s["median"], 0))
        c = style.colours[a]
        base = a in style.baselines
        ax.bar(xs, hs, width * 0.92, color=c if not base else "white", edgecolor=c,
               hatch="////" if base else None, linewidth=1.0, label=a, zorder=2)
        ax.errorbar(xs, hs, yerr=[errs_lo, errs_hi], fmt="none", ecolor="#333333",
                    elinewidth=0.8, capsize=2, zorder=3)
    ax.set_xticks(range(len(threads)))
    ax.set_xticklabels([f"{t} thread{'s' if t > 1 else ''}" for t in threads])
    ax.grid(axis="x", visible=False)
    ax.yaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_ylabel("throughput (operations/s)")
    ax.set_title(f"{exp}: {w}, variants against baselines\n", loc="left")
    ax.text(0, 1.02, f"{sub}; bar: median, whisker: its 95 % bootstrap interval",
            transform=ax.transAxes,
            fontsize=7, color="#555555")
    _legend_outside(ax)
    return _save(fig, out, f"bars_{w}")


def _overview(agg, workloads, allocs, style, wthreads, out, exp, cpus):
    n = len(workloads)
    cols = min(n, 3)
    rows_ = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(3.4 * cols, 2.7 * rows_), squeeze=False)
    seen = {}
    for k, w in enumerate(workloads):
        ax = axes[k // cols][k % cols]
        drawn, logy = _metric_panel(ax, agg, w, allocs, style, wthreads(w), "tput", 1.0, cpus)
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_title(w)
        if k % cols == 0:
            ax.set_ylabel("operations/s")
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    for k in range(n, rows_ * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle(f"{exp}: throughput against threads (median, min–max band)", x=0.01,
                 ha="left", fontsize=10)
    order = [a for a in allocs if a in seen]
    fig.legend([seen[a] for a in order], order, loc="lower center",
               ncol=min(len(order), 6), frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06 + 0.03 * (len(order) > 6), 1, 0.97))
    return _save(fig, out, "overview_throughput")


def _relative(agg, workloads, allocs, style, wthreads, out, exp, reference):
    """Each allocator's median over the reference's median at the highest thread count."""
    data = {}
    labels = []
    for w in workloads:
        t = wthreads(w)[-1]
        ref = (agg.get((w, reference, t)) or {}).get("tput")
        if not ref or ref["median"] <= 0:
            continue
        labels.append((w, t))
        for a in allocs:
            g = agg.get((w, a, t)) or {}
            s = g.get("tput")
            if s:
                ci = stats.ratio_ci(g["values"]["tput"], agg[(w, reference, t)]["values"]["tput"])
                r = s["median"] / ref["median"]
                data[(w, a)] = (r, ci.low if ci else r, ci.high if ci else r)
    present = [a for a in allocs if any((w, a) in data for w, _ in labels)]
    if not labels or not present:
        return []
    n = len(present)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(5.6, 0.9 * len(labels) + 0.22 * n * len(labels)), 3.6))
    vals = []
    series = []
    for i, a in enumerate(present):
        xs, hs, lo, hi = [], [], [], []
        for j, (w, _t) in enumerate(labels):
            if (w, a) not in data:
                continue
            m, mn, mx = data[(w, a)]
            xs.append(j - 0.4 + width * (i + 0.5))
            hs.append(m)
            lo.append(m - mn)
            hi.append(mx - m)
            vals += [mn, mx]
        series.append((a, xs, hs, lo, hi))
    # Ratios: on a log scale when they span a wide range, bars then grow up or down
    # from 1 so that 2x faster and 2x slower look alike.
    pos = [v for v in vals if v > 0]
    logy = bool(pos) and max(pos) / min(pos) > 6
    if logy:
        ax.set_yscale("log", base=2)
    for a, xs, hs, lo, hi in series:
        c = style.colours[a]
        base = a in style.baselines
        bottom = 1.0 if logy else 0.0
        ax.bar(xs, [h - bottom for h in hs], width * 0.92, bottom=bottom,
               color=c if not base else "white", edgecolor=c,
               hatch="////" if base else None, linewidth=1.0, label=a, zorder=2)
        ax.errorbar(xs, hs, yerr=[lo, hi], fmt="none", ecolor="#333333", elinewidth=0.8,
                    capsize=2, zorder=3)
    ax.axhline(1.0, color="#333333", linewidth=0.8, zorder=1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}×"))
    if logy:
        ax.set_ylim(min(pos) / 1.3, max(pos) * 1.3)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([f"{w}\n({t} thr.)" for w, t in labels])
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(f"throughput relative to {reference} (×)")
    ax.set_title(f"{exp}: all workloads at their highest thread count, relative to {reference}",
                 loc="left")
    _legend_outside(ax)
    return _save(fig, out, "overview_relative")


def _memory(series, agg, w, allocs, style, t, out, exp, sub):
    """RSS over time: the median repetition's series and the band of all of them."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    drawn = 0
    for a in allocs:
        reps = [v for k, v in sorted(series.items()) if k[:3] == (a, w, t) and v.get("t_ms")]
        if not reps:
            continue
        means = []
        for v in reps:
            pts = list(zip(v["t_ms"], v["rss_kb"]))
            from .execute import time_weighted_mean
            means.append(time_weighted_mean(pts) or 0)
        order = sorted(range(len(reps)), key=lambda i: means[i])
        med = reps[order[len(order) // 2]]
        kw = style.line(a)
        kw.pop("marker")
        ax.plot([x / 1000 for x in med["t_ms"]], [y / 1024 for y in med["rss_kb"]], **kw,
                zorder=3, linewidth=1.2)
        # Band: min and max over the repetitions at each sample index they all have.
        n = min(len(v["rss_kb"]) for v in reps)
        if len(reps) > 1 and n > 1:
            ts = [x / 1000 for x in med["t_ms"][:n]]
            lo = [min(v["rss_kb"][i] for v in reps) / 1024 for i in range(n)]
            hi = [max(v["rss_kb"][i] for v in reps) / 1024 for i in range(n)]
            ax.fill_between(ts, lo, hi, color=kw["color"], alpha=_band_alpha(len(allocs)),
                            linewidth=0, zorder=2)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return []
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.set_title(f"{exp}: {w} memory over time ({t} thread{'s' if t > 1 else ''})\n",
                 loc="left")
    ax.text(0, 1.02, f"{sub}; VmRSS every 10 ms: median repetition, band min–max",
            transform=ax.transAxes, fontsize=7, color="#555555")
    _legend_outside(ax)
    return _save(fig, out, f"memory_{w}")


def _pooled(series, a, w, t, op):
    h = latency.Histogram()
    for k, v in series.items():
        if k[:3] == (a, w, t) and op in v:
            h = h.merge(latency.Histogram.from_json(v[op]))
    return h


def _latency(series, w, allocs, style, threads, out, exp, sub):
    if not any(k[1] == w for k in series):
        return []
    paths = []
    t = threads[-1]
    fig, axes = plt.subplots(2, 2, figsize=(8.4, 5.6), sharex="col")
    drawn = 0
    for col, op in enumerate(("malloc", "free")):
        for a in allocs:
            h = _pooled(series, a, w, t, op)
            if not h.count:
                continue
            cdf = h.cdf()
            xs = [x for x, _ in cdf]
            kw = style.line(a)
            kw.pop("marker")
            axes[0][col].step(xs, [y for _, y in cdf], where="post", **kw)
            tail = [(x, 1 - y) for x, y in cdf if 1 - y > 0]
            if tail:
                axes[1][col].step([x for x, _ in tail], [y for _, y in tail], where="post", **kw)
            drawn += 1
        axes[0][col].set_title(f"{op}", loc="left")
        axes[0][col].set_ylabel("fraction of calls ≤ x")
        axes[1][col].set_ylabel("fraction of calls > x")
        axes[1][col].set_yscale("log")
        for r in (0, 1):
            axes[r][col].set_xscale("log")
        axes[1][col].set_xlabel("latency (ns)")
        for q in (1e-2, 1e-3):
            axes[1][col].axhline(q, color="#999999", linestyle=":", linewidth=0.8)
    if not drawn:
        plt.close(fig)
        return []
    fig.suptitle(f"{exp}: {w} allocation latency CDF ({t} thread{'s' if t > 1 else ''}; "
                 f"{sub}; repetitions pooled; dotted: p99, p99.9)", x=0.01, ha="left",
                 fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    paths += _save(fig, out, f"latency_{w}")

    if len(threads) > 1:
        fig, ax = plt.subplots(figsize=(5.6, 3.6))
        drawn = 0
        for a in allocs:
            for q, ls in ((0.99, "-"), (0.999, "--")):
                xs, ys = [], []
                for th in threads:
                    h = _pooled(series, a, w, th, "malloc")
                    if h.count:
                        xs.append(th)
                        ys.append(h.percentile(q))
                if xs:
                    kw = style.line(a)
                    kw["linestyle"] = ls
                    kw["label"] = f"{a} p{q * 100:g}"
                    ax.plot(xs, ys, **kw)
                    drawn += 1
        if drawn:
            _threads_axis(ax, threads, None)
            ax.set_yscale("log")
            ax.set_ylabel("malloc latency (ns)")
            ax.set_title(f"{exp}: {w} malloc tail latency against threads\n", loc="left")
            ax.text(0, 1.02, f"{sub}; solid p99, dashed p99.9; repetitions pooled",
                    transform=ax.transAxes, fontsize=7, color="#555555")
            _legend_outside(ax)
            paths += _save(fig, out, f"latency_threads_{w}")
        else:
            plt.close(fig)
    return paths


def _apps(agg, apps, allocs, style, wthreads, out, exp, reference):
    """Grouped bars per application: throughput relative to the reference (with the
    ratio's 95 % interval) and median peak RSS."""
    paths = []
    present = [a for a in allocs if any(agg.get((w, a, wthreads(w)[-1])) for w in apps)]
    n = max(len(present), 1)
    width = 0.8 / n
    for what in ("relative", "rss"):
        fig, ax = plt.subplots(figsize=(max(5.6, 1.0 * len(apps) + 0.2 * n * len(apps)), 3.6))
        drawn = 0
        for i, a in enumerate(present):
            xs, hs, lo, hi = [], [], [], []
            for j, w in enumerate(apps):
                t = wthreads(w)[-1]
                g = agg.get((w, a, t)) or {}
                ref = agg.get((w, reference, t)) or {}
                if what == "relative":
                    if not g.get("tput") or not ref.get("tput") or ref["tput"]["median"] <= 0:
                        continue
                    r = g["tput"]["median"] / ref["tput"]["median"]
                    ci = stats.ratio_ci(g["values"]["tput"], ref["values"]["tput"])
                    xs.append(j - 0.4 + width * (i + 0.5))
                    hs.append(r)
                    lo.append(r - (ci.low if ci else r))
                    hi.append((ci.high if ci else r) - r)
                else:
                    if not g.get("rss"):
                        continue
                    xs.append(j - 0.4 + width * (i + 0.5))
                    hs.append(g["rss"]["median"] / 1024)
                    lo.append((g["rss"]["median"] - g["rss"]["min"]) / 1024)
                    hi.append((g["rss"]["max"] - g["rss"]["median"]) / 1024)
            if not xs:
                continue
            c = style.colours[a]
            base = a in style.baselines
            ax.bar(xs, hs, width * 0.92, color=c if not base else "white", edgecolor=c,
                   hatch="////" if base else None, linewidth=1.0, label=a, zorder=2)
            ax.errorbar(xs, hs, yerr=[lo, hi], fmt="none", ecolor="#333333", elinewidth=0.8,
                        capsize=2, zorder=3)
            drawn += 1
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xticks(range(len(apps)))
        ax.set_xticklabels(apps)
        ax.grid(axis="x", visible=False)
        if what == "relative":
            ax.axhline(1.0, color="#333333", linewidth=0.8, zorder=1)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}×"))
            ax.set_ylabel(f"throughput relative to {reference} (×)")
            ax.set_title(f"{exp}: applications, each in its own metric, relative to "
                         f"{reference}\n", loc="left")
            ax.text(0, 1.02, "bar: ratio of medians; whisker: its 95 % bootstrap interval",
                    transform=ax.transAxes, fontsize=7, color="#555555")
        else:
            ax.set_ylabel("peak RSS (MiB)")
            ax.set_title(f"{exp}: applications, peak resident memory of the measured "
                         f"program\n", loc="left")
            ax.text(0, 1.02, "bar: median ru_maxrss; whisker: min–max",
                    transform=ax.transAxes, fontsize=7, color="#555555")
        _legend_outside(ax)
        paths += _save(fig, out, f"apps_{what}")
    return paths
