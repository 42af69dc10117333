#!/usr/bin/python3
"""Generate, print and check spanlab's size-class tables.

Every size-class policy is one header policies/sizeclass/<name>.h (contract in
policies/sizeclass/README.md). This script is the only writer of those headers, which
hold data only (constants and arrays, with a readable waste table): the lookups over
the arrays are written once, in policies/sizeclass.h.

The algorithm is the one Go's runtime/mksizeclasses.go describes, with its constants
turned into parameters:

  1. Walk candidate sizes upwards from the smallest alignment. At every power of two
     p the step ("alignment") is re-chosen: p * size_waste (Go: p/8, so rounding a
     request up to the next class wastes at most 12.5 %), at least min_align (8 bytes,
     16 bytes from align16_from on) and at most max_align (Go: 256); above 1024 B the
     step is at least 128 so that the two-array lookup stays exact.
  2. For each candidate, choose the smallest number of pages per span whose tail
     (span bytes not covered by whole objects) is at most tail_waste of the span
     (Go: 1/8), and that holds at least min_objects(size) objects (TCMalloc asks for a
     quarter of a transfer batch; Go asks for one).
  3. If the candidate has the same pages per span and the same objects per span as
     the previous class, it replaces the previous class: a bigger object for free.
  4. Optionally (Go, "fill"), grow each class to the largest multiple of 128 bytes
     that still fits the same number of objects in its span.

The fixed tables (go, go19, tcmalloc, jemalloc, pow2) are literal lists taken from
their sources; for go, go19 and tcmalloc the generator re-derives them from their
parameters on every run and stops if it does not get the same numbers.

Examples:
  scripts/mksizeclasses.py --list
  scripts/mksizeclasses.py --print go19
  scripts/mksizeclasses.py --print custom --tail-waste 1/16 --size-waste 1/16
  scripts/mksizeclasses.py --write          # rewrite policies/sizeclass/*.h
  scripts/mksizeclasses.py --check          # exit 1 if a committed header is stale
"""

import argparse
import os
import sys
import textwrap
from fractions import Fraction

PAGE_SIZE = 8192          # the engine's page size (core: 8 KiB pages)
SMALL_STEP = 8            # class8[] granularity, sizes <= SMALL_LIMIT
SMALL_LIMIT = 1024
LARGE_STEP = 128          # class128[] granularity, sizes > SMALL_LIMIT
MAX_CLASSES = 255         # including class 0; class indices must fit a uint8_t
MAX_PAGES = 255           # class_pages[] is a uint8_t
MIN_MAX_SMALL = 32768     # the engine's large-object threshold never falls below Go's

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER_DIR = os.path.join(REPO, "policies", "sizeclass")


class Table:
    """One size-class table: sizes[0] == pages[0] == 0 is the unused class 0."""

    def __init__(self, name, sizes, pages, about, page_size=PAGE_SIZE):
        self.name = name
        self.sizes = list(sizes)
        self.pages = list(pages)
        # comment text for the header, rewrapped to 84 columns
        self.about = textwrap.wrap(" ".join(about), 84)
        self.page_size = page_size

    @property
    def max_small(self):
        return self.sizes[-1]


# --------------------------------------------------------------------------
# The generator (Go's mksizeclasses algorithm, bounds as parameters).

class Params:
    def __init__(self, page_size=PAGE_SIZE, max_small=32768, tail_waste=Fraction(1, 8),
                 size_waste=Fraction(1, 8), min_align=8, align16_from=32, max_align=256,
                 fill=True, min_objects=None):
        self.page_size = page_size
        self.max_small = max_small
        self.tail_waste = Fraction(tail_waste)
        self.size_waste = Fraction(size_waste)
        self.min_align = min_align
        self.align16_from = align16_from
        self.max_align = max_align
        self.fill = fill
        # size -> smallest number of objects a span must hold (default 1)
        self.min_objects = min_objects or (lambda size: 1)

    def describe(self):
        return ("page %d B, max_small %d B, tail waste <= %s, step p*%s at each power of "
                "two p (>= %d B, 16 B from %d B, <= %d B), fill %s" %
                (self.page_size, self.max_small, self.tail_waste, self.size_waste,
                 self.min_align, self.align16_from, self.max_align,
                 "on" if self.fill else "off"))


def is_pow2(n):
    return n > 0 and n & (n - 1) == 0


def pages_for(size, page_size, tail_waste, min_objects=1):
    """Smallest pages per span with tail <= tail_waste * span and >= min_objects objects."""
    span = 0
    while True:
        span += page_size
        # Go: for allocsize%size > allocsize/8 { allocsize += pageSize }
        while span % size > int(span * tail_waste):
            span += page_size
        if span // size >= min_objects:
            return span // page_size


def step_at(p, prm):
    """The candidate step chosen at power of two p."""
    align = prm.min_align if p < prm.align16_from else max(prm.min_align, 16)
    align = max(align, min(prm.max_align, int(p * prm.size_waste)))
    if p >= SMALL_LIMIT:
        align = max(align, LARGE_STEP)
    return align


def generate(prm):
    """Returns (sizes, pages), class 0 included."""
    assert prm.page_size % LARGE_STEP == 0, "page size must be a multiple of 128"
    assert prm.min_align % 8 == 0 and is_pow2(prm.min_align), "min_align must be 8, 16, ..."
    sizes, pages = [0], [0]
    align = prm.min_align
    size = align
    while size <= prm.max_small:
        if is_pow2(size):
            align = step_at(size, prm)
        assert is_pow2(align), "alignment %d is not a power of two" % align
        assert size % align == 0, "size %d is not a multiple of its step %d" % (size, align)
        npages = pages_for(size, prm.page_size, prm.tail_waste, prm.min_objects(size))
        assert npages <= MAX_PAGES, "size %d needs %d pages" % (size, npages)
        span = npages * prm.page_size
        if (len(sizes) > 1 and npages == pages[-1]
                and span // size == span // sizes[-1]):
            sizes[-1] = size
        else:
            sizes.append(size)
            pages.append(npages)
        size += align
    if prm.fill:
        for c in range(1, len(sizes)):
            span = pages[c] * prm.page_size
            grown = (span // (span // sizes[c])) & ~(LARGE_STEP - 1)
            if grown > sizes[c]:
                sizes[c] = grown
        # Growing may push the last class past max_small; clamp it back.
        assert sizes[-1] >= prm.max_small
        sizes[-1] = prm.max_small
    return sizes, pages


GO_PARAMS = Params()                      # Go 1.12 and later
GO19_PARAMS = Params(align16_from=16)     # Go 1.9: 16-byte steps from 16 B


def tcmalloc_min_objects(size):
    # gperftools SizeMap::NumMoveSize: about 64 KiB per batch, clamped to
    # [2, 32] (32 = default TCMALLOC_TRANSFER_NUM_OBJ); a span holds a quarter batch.
    num = max(2, min(32, int(64 * 1024 / size)))
    return num // 4


TCMALLOC_PARAMS = Params(max_small=256 * 1024, align16_from=16, max_align=PAGE_SIZE,
                         fill=False, min_objects=tcmalloc_min_objects)


def gen_params(bound):
    """The gen<N> family: one bound for both wastes, 16-byte steps from 16 B, no cap."""
    return Params(tail_waste=bound, size_waste=bound, align16_from=16, max_align=PAGE_SIZE)


# --------------------------------------------------------------------------
# The fixed tables.

GO_SIZES = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208,
    224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896,
    1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864,
    5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336,
    16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768]
GO_PAGES = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3,
    4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4]

# Go 1.9 runtime/sizeclasses.go: class_to_size and class_to_allocnpages.
GO19_SIZES = [
    0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
    240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024,
    1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376,
    6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768]
GO19_PAGES = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4,
    5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3,
    10, 7, 4]

# gperftools 2.10 (Debian 12's libtcmalloc-minimal4), default build: 8 KiB pages,
# kMaxSize 256 KiB. Read back with malloc_usable_size() from the installed library
# for every request size 1 .. 262144; pages per span are gperftools' rule.
TCMALLOC_SIZES = [
    0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
    240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024,
    1152, 1280, 1408, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 4096, 4608, 5120,
    6144, 6656, 8192, 9216, 10240, 12288, 13312, 16384, 20480, 24576, 26624, 32768,
    40960, 49152, 57344, 65536, 73728, 81920, 90112, 98304, 106496, 114688, 122880,
    131072, 139264, 147456, 155648, 163840, 172032, 180224, 188416, 196608, 204800,
    212992, 221184, 229376, 237568, 245760, 253952, 262144]

# jemalloc 5 size classes on x86-64 (16-byte quantum): 8, then 4 classes per doubling;
# jemalloc's small bins stop at 14336 B with 4 KiB pages, its large classes continue
# the same series, which is kept here up to 32 KiB (the engine's threshold).
JEMALLOC_SIZES = [0, 8, 16, 32, 48, 64] + [
    base + k * (base // 4) for base in (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
    for k in (1, 2, 3, 4)]

POW2_SIZES = [0] + [1 << k for k in range(3, 16)]


def waste_rule_pages(sizes):
    """Pages per span by Go's rule (tail <= 1/8), for tables without published pages."""
    return [0] + [pages_for(s, PAGE_SIZE, Fraction(1, 8)) for s in sizes[1:]]


def build_tables():
    tables = {}

    def add(t):
        tables[t.name] = t

    add(Table("go", GO_SIZES, GO_PAGES, [
        "go: Go's current size-class table (runtime/sizeclasses.go, Go 1.12 and later):",
        "67 classes from 8 B to 32 KiB plus the unused class 0, with Go's pages per span.",
        "The generator re-derives it from: " + GO_PARAMS.describe() + "."]))
    add(Table("go19", GO19_SIZES, GO19_PAGES, [
        "go19: the Go 1.9 size-class table (runtime/sizeclasses.go as of Go 1.9):",
        "66 classes from 8 B to 32 KiB plus class 0 (no 24 B class: 16-byte steps from",
        "16 B), with its class_to_allocnpages. The generator re-derives it from:",
        GO19_PARAMS.describe() + "."]))
    tc_sizes, tc_pages = generate(TCMALLOC_PARAMS)
    assert tc_sizes == TCMALLOC_SIZES, "gperftools rule no longer gives the 2.10 table"
    add(Table("tcmalloc", TCMALLOC_SIZES, tc_pages, [
        "tcmalloc: the classic gperftools TCMalloc table as built by gperftools 2.10",
        "(Debian 12 libtcmalloc-minimal4, 8 KiB pages, default transfer batch of 32):",
        "%d classes from 8 B to 256 KiB plus class 0; the largest small size is 256 KiB."
        % (len(TCMALLOC_SIZES) - 1),
        "Sizes read back from the installed library; pages per span by gperftools' rule",
        "(tail <= 1/8 and at least a quarter transfer batch per span)."]))
    add(Table("jemalloc", JEMALLOC_SIZES, waste_rule_pages(JEMALLOC_SIZES), [
        "jemalloc: jemalloc 5's size classes on x86-64 (16 B quantum, 4 classes per",
        "doubling), %d classes from 8 B to 32 KiB plus class 0. jemalloc's small bins end"
        % (len(JEMALLOC_SIZES) - 1),
        "at 14 KiB; its large classes 16 .. 32 KiB are kept so that max_small is 32 KiB.",
        "Pages per span by Go's rule (tail <= 1/8); jemalloc's own slab sizes assume",
        "4 KiB pages."]))
    add(Table("pow2", POW2_SIZES, waste_rule_pages(POW2_SIZES), [
        "pow2: powers of two from 8 B to 32 KiB (%d classes plus class 0), pages per span"
        % (len(POW2_SIZES) - 1),
        "by Go's rule (tail <= 1/8). The simplest table: worst-case round-up waste ~50 %."]))
    for pct, bound in (("12", Fraction(1, 8)), ("6", Fraction(1, 16))):
        prm = gen_params(bound)
        sizes, pages = generate(prm)
        add(Table("gen" + pct, sizes, pages, [
            "gen%s: generated by Go's algorithm with one bound of %s (%.2f %%) for both"
            % (pct, bound, float(bound) * 100),
            "the round-up step and the span tail, 16-byte steps from 16 B, and no cap on",
            "the step (Go caps it at 256 B): " + prm.describe() + "."]))

    # The generator must reproduce the published Go tables from their parameters.
    for name, prm in (("go", GO_PARAMS), ("go19", GO19_PARAMS)):
        got = generate(prm)
        want = (tables[name].sizes, tables[name].pages)
        assert got == want, "generator does not reproduce the %s table" % name
    assert len(GO_SIZES) == 68 and len(GO19_SIZES) == 67
    for t in tables.values():
        check_rules(t)
    return tables


def check_rules(t):
    """The rules of policies/sizeclass/README.md."""
    s, p = t.sizes, t.pages
    assert len(s) == len(p), t.name
    assert s[0] == 0 and p[0] == 0, t.name
    assert 2 <= len(s) <= MAX_CLASSES, "%s: %d classes" % (t.name, len(s))
    assert t.max_small >= MIN_MAX_SMALL, t.name
    for c in range(1, len(s)):
        assert s[c] > s[c - 1], "%s: class %d not increasing" % (t.name, c)
        assert s[c] % SMALL_STEP == 0, "%s: class %d not a multiple of 8" % (t.name, c)
        if s[c] > SMALL_LIMIT:
            assert s[c] % LARGE_STEP == 0, "%s: class %d > 1024 not a multiple of 128" % (
                t.name, c)
        assert 1 <= p[c] <= MAX_PAGES, "%s: class %d pages %d" % (t.name, c, p[c])
        assert p[c] * t.page_size >= s[c], "%s: class %d holds no object" % (t.name, c)
    # The engine keeps glibc's 16-byte alignment for requests over 16 bytes by rounding
    # them up to a multiple of 16 when the table has a class of 16 B or more that is not
    # one (align16 = 0): the class such a rounded request lands on must be one.
    for size in range(32, t.max_small + 1, 16):
        c = next(c for c in range(1, len(s)) if s[c] >= size)
        assert s[c] % 16 == 0, "%s: a %d B request lands on class %d (%d B), not 16-aligned" % (
            t.name, size, c, s[c])


def align16(t):
    """1 if every class of 16 bytes or more is a multiple of 16."""
    return int(all(x % 16 == 0 for x in t.sizes if x >= 16))


# --------------------------------------------------------------------------
# Output.

def waste_rows(t):
    """Rows of (class, size, span bytes, objects, tail waste, max waste fraction)."""
    rows = []
    prev = 0
    for c in range(1, len(t.sizes)):
        size = t.sizes[c]
        span = t.pages[c] * t.page_size
        objects = span // size
        tail = span - objects * size
        # Worst case: every object holds a request of prev+1 bytes.
        max_waste = ((size - prev - 1) * objects + tail) / span
        rows.append((c, size, span, objects, tail, max_waste))
        prev = size
    return rows


def readable(t, prefix=""):
    out = [prefix + "class  bytes/obj  bytes/span  objects  tail waste  max waste"]
    for c, size, span, objects, tail, mw in waste_rows(t):
        out.append(prefix + "%5d  %9d  %10d  %7d  %10d  %8.2f%%" % (
            c, size, span, objects, tail, mw * 100))
    return "\n".join(out)


def c_array(ctype, name, values, per_line=16):
    lines = ["static const %s %s[%d] = {" % (ctype, name, len(values))]
    for i in range(0, len(values), per_line):
        lines.append("\t" + ", ".join(str(v) for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def lookup_arrays(t):
    """Go's two arrays: class8[(size+7)>>3] for size <= 1024, class128[...] above;
    and class8_a16, class8 for requests of more than 16 bytes rounded up to a multiple
    of 16 (glibc's alignment). Above 1024 B the rounding changes nothing: class128's
    buckets are 128 B wide, and check_rules makes multiples of 16 land on 16-byte
    multiples."""
    def smallest(size):
        size = max(size, 1)
        for c in range(1, len(t.sizes)):
            if t.sizes[c] >= size:
                return c
        raise AssertionError("size %d above max_small" % size)

    def round16(size):
        return size if size <= 16 else (size + 15) // 16 * 16
    class8 = [smallest(i * SMALL_STEP) for i in range(SMALL_LIMIT // SMALL_STEP + 1)]
    class8_a16 = [smallest(round16(i * SMALL_STEP)) for i in range(SMALL_LIMIT // SMALL_STEP + 1)]
    n128 = (t.max_small - SMALL_LIMIT + LARGE_STEP - 1) // LARGE_STEP + 1
    class128 = [smallest(SMALL_LIMIT + i * LARGE_STEP) for i in range(n128)]
    return class8, class8_a16, class128


def class8_a16_text(t, class8, class8_a16):
    """C text of class8_a16: an array when rounding requests up to a multiple of 16
    changes a class, else a name for class8 itself."""
    n = t.name
    if class8_a16 == class8:
        return f"""/* Every class of 16 B or more is a multiple of 16: rounding a request up to a multiple
 * of 16 changes no class, so the glibc-aligned lookup reads class8 itself. */
#define sl_sc_{n}_class8_a16 sl_sc_{n}_class8"""
    return f"""/* class8 for requests of more than 16 B rounded up to a multiple of 16 (glibc's
 * alignment): class8_a16[(size + 7) >> 3]. Above 1024 B the rounding changes no
 * class128 bucket. */
{c_array("uint8_t", "sl_sc_%s_class8_a16" % n, class8_a16)}"""


def header(t):
    n = t.name
    guard = "SPANLAB_SIZECLASS_%s_H" % n.upper()
    class8, class8_a16, class128 = lookup_arrays(t)
    about = "\n".join((" * " + line).rstrip() for line in t.about)
    return f"""/*
 * Code generated by scripts/mksizeclasses.py; DO NOT EDIT.
 * tests/sizeclass checks it against the generator (scripts/mksizeclasses.py --check).
 *
{about}
 * Data only: the lookups over these arrays are written once, in policies/sizeclass.h.
 * Contract: policies/sizeclass/README.md. Page size {t.page_size} B.
 *
{readable(t, " * ")}
 */
#ifndef {guard}
#define {guard}

#include <stdint.h>

enum {{
	sl_sc_{n}_num_classes = {len(t.sizes)}, /* including class 0 */
	sl_sc_{n}_max_small = {t.max_small},
	sl_sc_{n}_align16 = {align16(t)}, /* every class of 16 B or more is a multiple of 16 */
}};

{c_array("uint32_t", "sl_sc_%s_class_size" % n, t.sizes)}

{c_array("uint8_t", "sl_sc_%s_class_pages" % n, t.pages)}

/* Class of each size up to 1024 B, in 8-byte steps: class8[(size + 7) >> 3]. */
{c_array("uint8_t", "sl_sc_%s_class8" % n, class8)}

{class8_a16_text(t, class8, class8_a16)}

/* Class of each size above 1024 B, in 128-byte steps: class128[(size - 1024 + 127) >> 7]. */
{c_array("uint8_t", "sl_sc_%s_class128" % n, class128)}

#endif
"""


def parse_fraction(text):
    text = text.strip()
    try:
        if text.endswith("%"):
            return Fraction(text[:-1]) / 100
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError("not a fraction: %r (try 1/8, 0.125 or 12.5%%)" % text)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    act = ap.add_mutually_exclusive_group(required=True)
    act.add_argument("--list", action="store_true", help="list the table names")
    act.add_argument("--print", metavar="NAME",
                     help="print the readable waste table of NAME (a listed table, or "
                          "'custom' for the generator with the parameters below)")
    act.add_argument("--write", action="store_true",
                     help="write policies/sizeclass/<name>.h for every table")
    act.add_argument("--check", action="store_true",
                     help="exit 1 if a committed header differs from what --write writes")
    ap.add_argument("--dir", default=HEADER_DIR,
                    help="header directory for --write/--check (default: %(default)s)")
    g = ap.add_argument_group("generator parameters (for --print custom; defaults are Go's)")
    g.add_argument("--page-size", type=int, default=PAGE_SIZE, help="bytes (default 8192)")
    g.add_argument("--max-small", type=int, default=32768, help="largest class (default 32768)")
    g.add_argument("--tail-waste", type=parse_fraction, default=Fraction(1, 8),
                   help="bound on span tail waste, e.g. 1/8 or 12.5%% (default 1/8)")
    g.add_argument("--size-waste", type=parse_fraction, default=Fraction(1, 8),
                   help="step at power of two p is p*SIZE_WASTE (default 1/8)")
    g.add_argument("--align16-from", type=int, default=32,
                   help="steps are at least 16 B from this size on (Go 32, Go 1.9 16)")
    g.add_argument("--max-align", type=int, default=256,
                   help="cap on the step (Go 256; 8192 for no cap)")
    g.add_argument("--no-fill", action="store_true",
                   help="skip Go's last step (growing classes to fill their span)")
    args = ap.parse_args(argv)

    try:
        tables = build_tables()
    except AssertionError as e:
        sys.exit("mksizeclasses: assumption failed: %s" % e)

    if args.list:
        for name, t in tables.items():
            print("%-9s %3d classes  max_small %6d" % (name, len(t.sizes) - 1, t.max_small))
        return 0
    if args.print:
        if args.print == "custom":
            prm = Params(page_size=args.page_size, max_small=args.max_small,
                         tail_waste=args.tail_waste, size_waste=args.size_waste,
                         align16_from=args.align16_from, max_align=args.max_align,
                         fill=not args.no_fill)
            try:
                sizes, pages = generate(prm)
                t = Table("custom", sizes, pages, [prm.describe()], args.page_size)
                check_rules(t)
            except AssertionError as e:
                sys.exit("mksizeclasses: these parameters break a rule: %s" % e)
            print("# custom: " + prm.describe())
        elif args.print in tables:
            t = tables[args.print]
            print("# " + "\n# ".join(t.about))
        else:
            sys.exit("mksizeclasses: no table %r (have: %s, custom)" % (
                args.print, ", ".join(tables)))
        print("# %d classes plus class 0, max_small %d" % (len(t.sizes) - 1, t.max_small))
        print(readable(t))
        return 0

    stale = []
    for name, t in tables.items():
        path = os.path.join(args.dir, name + ".h")
        text = header(t)
        if args.write:
            with open(path, "w") as f:
                f.write(text)
            print("wrote " + os.path.relpath(path))
        else:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(os.path.relpath(path))
            except FileNotFoundError:
                stale.append(os.path.relpath(path))
    if args.check:
        # Every table must also be reachable from the selection point.
        with open(os.path.join(os.path.dirname(HEADER_DIR), "sizeclass.h")) as f:
            selection = f.read()
        for name in tables:
            if "defined(SPANLAB_SIZECLASS_%s)" % name.upper() not in selection:
                stale.append("policies/sizeclass.h (no SPANLAB_SIZECLASS_%s branch)"
                             % name.upper())
    if stale:
        print("stale or missing (run scripts/mksizeclasses.py --write):", file=sys.stderr)
        for what in stale:
            print("  " + what, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
