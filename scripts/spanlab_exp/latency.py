"""Allocation-latency histograms: the bucket layout shared with bench/trace/hist.h,
reading the latency shim's dump, percentiles, and merging repetitions.

Buckets (log-bucketed, HDR-style, 5 sub-bucket bits): a value v in nanoseconds
below 64 has its own bucket (index v); above, with e = floor(log2 v), the bucket
holds the values whose top 6 bits agree, index 64 + (e - 6) * 32 + (the 5 bits
after the leading one). A bucket is at most 1/32 of its lower bound wide, and a
percentile is reported as its bucket's midpoint: within 1.6 % of the true value.
Values of 2^41 ns and above share the last bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BITS = 5
SUB = 1 << SUB_BITS                 # 32 sub-buckets per power of two
LINEAR = 2 * SUB                    # values below 64 are exact
MAX_EXP = 40
NBUCKETS = LINEAR + (MAX_EXP - (SUB_BITS + 1) + 1) * SUB
DUMP_MAGIC = "spanlab-latency"


def bucket_of(v: int) -> int:
    """Bucket index of a value (nanoseconds), as hist.h computes it."""
    if v < LINEAR:
        return max(int(v), 0)
    e = int(v).bit_length() - 1
    if e > MAX_EXP:
        return NBUCKETS - 1
    sub = (int(v) >> (e - SUB_BITS)) & (SUB - 1)
    return LINEAR + (e - (SUB_BITS + 1)) * SUB + sub


def bucket_range(i: int) -> tuple[int, int]:
    """[lo, hi) of the values in bucket i."""
    if i < LINEAR:
        return i, i + 1
    e = (i - LINEAR) // SUB + SUB_BITS + 1
    sub = (i - LINEAR) % SUB
    width = 1 << (e - SUB_BITS)
    lo = (SUB + sub) << (e - SUB_BITS)
    return lo, lo + width


@dataclass
class Histogram:
    counts: dict[int, int] = field(default_factory=dict)
    max: int = 0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, v: int, n: int = 1) -> None:
        b = bucket_of(v)
        self.counts[b] = self.counts.get(b, 0) + n
        self.max = max(self.max, int(v))

    def merge(self, other: "Histogram") -> "Histogram":
        out = Histogram(dict(self.counts), max(self.max, other.max))
        for b, n in other.counts.items():
            out.counts[b] = out.counts.get(b, 0) + n
        return out

    def percentile(self, q: float) -> float | None:
        """Value at quantile q (0 < q <= 1): the midpoint of the bucket holding the
        ceil(q * count)-th smallest value, capped at the exact maximum (which is the
        answer for the largest rank)."""
        total = self.count
        if total == 0:
            return None
        rank = max(1, -(-int(q * total * 1_000_000) // 1_000_000))
        if rank >= total:
            return float(self.max)
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                lo, hi = bucket_range(b)
                mid = lo if hi - lo == 1 else (lo + hi - 1) / 2.0
                return float(min(mid, self.max)) if self.max else float(mid)
        return float(self.max)

    def cdf(self) -> list[tuple[float, float]]:
        """[(value at the top of a bucket, fraction of calls at or below it)]."""
        total = self.count
        out, seen = [], 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            out.append((float(bucket_range(b)[1]), seen / total))
        return out

    def to_json(self) -> dict:
        return {"max": self.max, "buckets": [[b, n] for b, n in sorted(self.counts.items())]}

    @classmethod
    def from_json(cls, d: dict) -> "Histogram":
        return cls({int(b): int(n) for b, n in d.get("buckets", [])}, int(d.get("max", 0)))


def read_dump(text: str) -> dict[str, Histogram]:
    """Parse the shim's dump:
        spanlab-latency 1 sample=N
        malloc COUNT MAX idx:count idx:count ...
        free COUNT MAX ...
    ValueError if it is not one."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(DUMP_MAGIC + " "):
        raise ValueError("not a spanlab latency dump")
    out = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 3:
            continue
        h = Histogram(max=int(parts[2]))
        for p in parts[3:]:
            b, n = p.split(":")
            h.counts[int(b)] = int(n)
        if h.count != int(parts[1]):
            raise ValueError(f"latency dump: {parts[0]} counts do not add up")
        out[parts[0]] = h
    return out
