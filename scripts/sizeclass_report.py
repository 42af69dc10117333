#!/usr/bin/python3
"""Compare the size-class tables on the same request-size distributions (Markdown).

For every table of scripts/mksizeclasses.py and every distribution, over the requests
of 1 .. 32768 bytes (the range every table serves; larger requests are page runs and
left out, their share is printed):

  classes     number of classes (class 0 not counted) / classes the distribution uses
  round-up    internal fragmentation: bytes lost rounding requests up to their class,
              as a share of the class bytes handed out (byte-weighted mean)
  worst       the largest round-up loss of any request size above 128 B that occurs,
              as a share of its class size (below 128 B the 8/16-byte minimum steps
              dominate: a 1-byte request in an 8-byte class always loses 87.5 %)
  tail        span tail waste: bytes at the end of spans that hold no object, as a
              share of span bytes, with spans in proportion to each class's demand
  total       1 - requested bytes / span bytes used (round-up and tail together)

Distributions:
  uniform-1k    sizes uniform on 1 .. 1024
  uniform-32k   sizes uniform on 1 .. 32768
  powerlaw      P(size) proportional to size^-ALPHA on 1 .. 32768 (small-biased;
                ALPHA = 1.5 unless --alpha)
  recorded: each histogram in bench/sizeclass/data/*.txt ("size count" lines),
                recorded with the LD_PRELOAD shim bench/sizeclass/sizelog.c from a real
                program; the file's comment says which.

Example: scripts/sizeclass_report.py > sizeclass-report.md
"""

import argparse
import bisect
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mksizeclasses  # noqa: E402  (the tables live there)

LIMIT = 32768
DATA_GLOB = os.path.join(mksizeclasses.REPO, "bench", "sizeclass", "data", "*.txt")


def synthetic(alpha):
    return [
        ("uniform-1k", "sizes uniform on 1 .. 1024", {s: 1.0 for s in range(1, 1025)}),
        ("uniform-32k", "sizes uniform on 1 .. 32768",
         {s: 1.0 for s in range(1, LIMIT + 1)}),
        ("powerlaw", "P(size) ~ size^-%g on 1 .. 32768" % alpha,
         {s: s ** -alpha for s in range(1, LIMIT + 1)}),
    ]


def load_histogram(path):
    """Returns (description, {size: count} for sizes <= LIMIT, share of larger requests)."""
    hist, about, large, total = {}, [], 0, 0
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith("#"):
                about.append(line.lstrip("# "))
                continue
            if not line:
                continue
            try:
                size, count = line.split()
                count = int(count)
                big = size.startswith(">")
                size = int(size.lstrip(">"))
            except ValueError:
                sys.exit("%s:%d: expected 'size count', got %r" % (path, lineno, line))
            total += count
            if big or size > LIMIT:
                large += count
            else:
                size = max(size, 1)          # malloc(0) is served as malloc(1)
                hist[size] = hist.get(size, 0) + count
    if not hist:
        sys.exit("%s: no request sizes <= %d" % (path, LIMIT))
    return " ".join(about), hist, (large / total if total else 0.0)


def measure(table, hist):
    sizes = table.sizes
    per_class = {}                 # class -> (requests, requested bytes)
    worst = 0.0
    for s, w in hist.items():
        c = bisect.bisect_left(sizes, s, 1)
        n, b = per_class.get(c, (0.0, 0.0))
        per_class[c] = (n + w, b + w * s)
        if s > 128:
            worst = max(worst, (sizes[c] - s) / sizes[c])
    requested = class_bytes = tail_bytes = 0.0
    for c, (n, b) in per_class.items():
        span = table.pages[c] * table.page_size
        objects = span // sizes[c]
        requested += b
        class_bytes += n * sizes[c]
        tail_bytes += n * (span - objects * sizes[c]) / objects
    span_bytes = class_bytes + tail_bytes
    return {
        "classes": len(sizes) - 1,
        "used": len(per_class),
        "roundup": 1 - requested / class_bytes,
        "worst": worst,
        "tail": tail_bytes / span_bytes,
        "total": 1 - requested / span_bytes,
    }


def pct(x):
    return "%.2f %%" % (100 * x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alpha", type=float, default=1.5,
                    help="power-law exponent of the small-biased distribution (default 1.5)")
    ap.add_argument("--recorded", nargs="*", metavar="FILE",
                    help="recorded histograms (default: bench/sizeclass/data/*.txt)")
    ap.add_argument("--tables", metavar="A,B,...",
                    help="only these tables (default: all of mksizeclasses.py --list)")
    args = ap.parse_args(argv)

    try:
        tables = mksizeclasses.build_tables()
    except AssertionError as e:
        sys.exit("sizeclass_report: generator assumption failed: %s" % e)
    if args.tables:
        names = args.tables.split(",")
        missing = [n for n in names if n not in tables]
        if missing:
            sys.exit("sizeclass_report: no table %s (have: %s)" % (
                ", ".join(missing), ", ".join(tables)))
        tables = {n: tables[n] for n in names}

    dists = [(name, about, hist, 0.0) for name, about, hist in synthetic(args.alpha)]
    paths = args.recorded if args.recorded is not None else sorted(glob.glob(DATA_GLOB))
    for path in paths:
        about, hist, large = load_histogram(path)
        name = "recorded: " + os.path.splitext(os.path.basename(path))[0]
        dists.append((name, about, hist, large))

    out = ["# Size-class tables compared", "",
           "Generated by `scripts/sizeclass_report.py`. Requests of 1 .. %d B; page size "
           "%d B. Columns: see `scripts/sizeclass_report.py --help`." % (
               LIMIT, mksizeclasses.PAGE_SIZE), ""]
    out.append("| table | classes | max_small |")
    out.append("| --- | ---: | ---: |")
    for name, t in tables.items():
        out.append("| %s | %d | %d |" % (name, len(t.sizes) - 1, t.max_small))
    out.append("")
    for name, about, hist, large in dists:
        out.append("## %s" % name)
        out.append("")
        out.append(about.rstrip(".") + ".")
        if large:
            out.append("Requests above %d B (left out): %s of all requests." % (LIMIT, pct(large)))
        out.append("")
        out.append("| table | classes used | round-up (mean) | worst > 128 B | "
                   "span tail | total waste |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for tname, t in tables.items():
            m = measure(t, hist)
            out.append("| %s | %d / %d | %s | %s | %s | %s |" % (
                tname, m["used"], m["classes"], pct(m["roundup"]), pct(m["worst"]),
                pct(m["tail"]), pct(m["total"])))
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
