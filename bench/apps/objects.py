"""spanlab application workload "python": dicts, strings and objects for python3.

usage: python3 objects.py N
Prints one line "python SUM WORDS LONGEST LIVE"; scripts/spanlab_exp/apps.py computes
the expected line from N and compares. The runner sets PYTHONMALLOC=malloc so that
every object, small ones too, comes from the allocator being measured.
"""
import sys


class Record:
    def __init__(self, i):
        self.id = i
        self.name = "rec-%06d" % i
        self.children = [i % 5, i % 7]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    table = {}
    for i in range(n):
        table["key%d" % i] = Record(i)
    total = 0
    for i in range(0, n, 2):
        r = table.pop("key%d" % i)
        total += r.id + len(r.name) + sum(r.children)
    words = " ".join(str(i * 13 % 997) for i in range(n)).split()
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    longest = max(len(w) for w in counts)
    print("python %d %d %d %d" % (total, len(words), longest, len(table)))


main()
