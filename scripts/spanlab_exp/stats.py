"""Statistics a reviewer accepts: bootstrap confidence intervals over repetitions.

The repetitions of two allocators at one (workload, threads) point ran interleaved
in a random order, but not in pairs, so the interval of a ratio of medians is a
percentile bootstrap that resamples each allocator's repetitions independently
(BOOT resamples, a fixed seed: the same rows give the same interval). With n
repetitions a median can take only n values, so with 3 repetitions an interval is
coarse; that is what it is, and --until-ci adds repetitions until it is narrow.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

BOOT = 2000
SEED = 20261201
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _quantile(sorted_vals: Sequence[float], q: float) -> float:
    pos = (len(sorted_vals) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def median_ci(values: Sequence[float], level: float = LEVEL, boot: int = BOOT,
              seed: int = SEED) -> Interval | None:
    """Percentile-bootstrap interval of the median; None with fewer than 2 values."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(vals, k=len(vals))) for _ in range(boot))
    a = (1 - level) / 2
    return Interval(_quantile(meds, a), _quantile(meds, 1 - a))


def ratio_ci(num: Sequence[float], den: Sequence[float], level: float = LEVEL,
             boot: int = BOOT, seed: int = SEED) -> Interval | None:
    """Interval of median(num) / median(den); None with fewer than 2 values in either
    or a zero median in a resample's denominator."""
    a_vals = [v for v in num if v is not None]
    b_vals = [v for v in den if v is not None]
    if len(a_vals) < 2 or len(b_vals) < 2:
        return None
    rng = random.Random(seed)
    ratios = []
    for _ in range(boot):
        d = statistics.median(rng.choices(b_vals, k=len(b_vals)))
        if d == 0:
            return None
        ratios.append(statistics.median(rng.choices(a_vals, k=len(a_vals))) / d)
    ratios.sort()
    q = (1 - level) / 2
    return Interval(_quantile(ratios, q), _quantile(ratios, 1 - q))


def relative_half_width(values: Sequence[float]) -> float | None:
    """Half the median's interval width over the median (0.05 = +-5 %)."""
    ci = median_ci(values)
    vals = [v for v in values if v is not None]
    if ci is None or not vals:
        return None
    med = statistics.median(vals)
    return (ci.high - ci.low) / 2 / med if med else None


def verdict(ci: Interval | None) -> str:
    """How a ratio's interval reads: 'faster', 'slower', 'indistinguishable' or '?'."""
    if ci is None:
        return "?"
    if ci.contains(1.0):
        return "indistinguishable"
    return "faster" if ci.low > 1.0 else "slower"


def cells_needing_more(rows: Iterable, cells: Sequence, target: float,
                       max_reps: int) -> list:
    """For --until-ci: one new repetition (a Cell with the next rep number) for every
    (allocator, workload, threads) of `cells` whose median throughput interval is
    wider than +-target and that has fewer than max_reps repetitions. Groups without
    any successful repetition get none (more of a failing cell is no use)."""
    groups: dict[tuple, list] = {}
    reps: dict[tuple, int] = {}
    for r in rows:
        k = (r.allocator, r.workload, r.threads)
        reps[k] = max(reps.get(k, 0), r.rep)
        if r.status == "ok" and r.ops_per_sec is not None:
            groups.setdefault(k, []).append(r.ops_per_sec)
    out, seen = [], set()
    for c in cells:
        k = (c.allocator, c.workload.label, c.threads)
        if k in seen or k not in groups:
            continue
        seen.add(k)
        if reps.get(k, 0) >= max_reps:
            continue
        hw = relative_half_width(groups[k])
        if hw is None or hw > target:
            out.append(replace(c, rep=reps[k] + 1, index=-1))
    return out
