#!/usr/bin/python3
"""Unit tests of the experiment runner's pure parts, on the fixtures in fixtures/.

Run: /usr/bin/python3 tests/experiments/test_units.py [-v] (ctest: experiments/unit).
Tests that need a built C helper (the latency histogram program) take its path from
the environment ctest sets (SL_HIST_TEST) and fail, not skip, when it is missing.
"""

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIX = HERE / "fixtures"
sys.path.insert(0, str(REPO / "scripts"))

from spanlab_exp import (apps, apps_redis, execute, latency, report, results, run,  # noqa: E402
                         spec as specmod, stats)
from spanlab_exp.runner import parse_until_ci  # noqa: E402


class SpecTests(unittest.TestCase):
    def test_good_spec(self):
        s = specmod.load(FIX / "specs" / "good.toml")
        self.assertEqual(s.name, "good")
        self.assertEqual(s.threads, (1, 2))
        self.assertEqual(s.allocators, [("go-mutex-flat", "variant"), ("glibc", "baseline"),
                                        ("jemalloc", "baseline")])
        larson, lua, trace = s.workloads
        self.assertEqual((larson.kind, larson.program, larson.latency), ("program", "sl-larson", 4))
        self.assertEqual((lua.kind, lua.name, lua.label, lua.threads, lua.latency),
                         ("app", "lua", "lua", (1,), 0))
        self.assertEqual((trace.kind, trace.program, trace.label, trace.timeout),
                         ("trace", "sl-replay", "tiny", 5.0))
        self.assertEqual(trace.trace, str((FIX / "traces" / "tiny.sltrace.gz").resolve()))
        meta = s.for_metadata()
        self.assertNotIn("text", meta)
        self.assertEqual(meta["workloads"][1]["label"], "lua")

    def test_bad_specs(self):
        cases = {"two-kinds.toml": "exactly one of 'name'",
                 "unknown-app.toml": "unknown app 'emacs'",
                 "negative-latency.toml": "'latency' must be >= 0"}
        for name, needle in cases.items():
            with self.subTest(name):
                with self.assertRaises(specmod.SpecError) as cm:
                    specmod.load(FIX / "specs" / name)
                self.assertIn(needle, str(cm.exception))
                self.assertIn(name, str(cm.exception))


class MatrixTests(unittest.TestCase):
    def setUp(self):
        self.spec = specmod.load(FIX / "specs" / "good.toml")

    def test_all_cells(self):
        cells = run.all_cells(self.spec)
        # 3 allocators x (larson 2 threads + lua 1 + trace 2) x 2 repetitions
        self.assertEqual(len(cells), 3 * 5 * 2)
        self.assertEqual([c.key for c in cells], sorted(c.key for c in cells))
        self.assertEqual([c.index for c in cells], list(range(len(cells))))
        self.assertEqual(len({c.key for c in cells}), len(cells))

    def test_run_order_is_seeded_permutation(self):
        cells = run.all_cells(self.spec)
        a, b = run.run_order(cells, 7), run.run_order(cells, 7)
        self.assertEqual(a, b)
        self.assertNotEqual([c.key for c in a], [c.key for c in cells])
        self.assertEqual(sorted(c.key for c in a), [c.key for c in cells])
        self.assertNotEqual(run.run_order(cells, 8), a)

    def test_shards_partition(self):
        cells = run.all_cells(self.spec)
        parts = [run.shard_cells(cells, (i, 3)) for i in (1, 2, 3)]
        keys = [c.key for p in parts for c in p]
        self.assertEqual(sorted(keys), [c.key for c in cells])
        self.assertTrue(all(parts))
        for bad in ("0/2", "3/2", "x", "1/0"):
            with self.assertRaises(ValueError):
                run.parse_shard(bad)
        self.assertEqual(run.parse_shard("2/4"), (2, 4))


class RowTests(unittest.TestCase):
    def test_old_csv_reads_and_round_trips(self):
        rows = run.read_rows(FIX / "results-small" / "results.csv")
        self.assertEqual(len(rows), 10)
        r = rows[0]
        self.assertEqual((r.threads, r.rep, r.ops_per_sec, r.maxrss_kb, r.minflt),
                         (1, 1, 100.0, 10240, None))
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "results.csv"
            run.write_rows(p, rows)
            self.assertEqual(run.read_rows(p), rows)
            self.assertEqual(p.read_text().splitlines()[0].split(","), run.CSV_FIELDS)

    def test_not_a_results_csv(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "results.csv"
            p.write_text("a,b\n1,2\n")
            with self.assertRaises(ValueError):
                run.read_rows(p)


class AggregateTests(unittest.TestCase):
    def test_medians_and_failures(self):
        rows, meta = results.load(FIX / "results-small")
        agg = results.aggregate(rows)
        g = agg[("w", "fast", 1)]
        self.assertEqual((g["tput"]["median"], g["tput"]["min"], g["tput"]["max"]),
                         (200.0, 190.0, 210.0))
        self.assertEqual(g["rss"]["median"], 20480.0)
        b = agg[("w", "broken", 1)]
        self.assertEqual((b["n_ok"], b["n_total"], b["tput"]), (0, 1, None))
        self.assertEqual(results.ordered_allocators(rows, meta),
                         (["fast", "same", "broken"], ["glibc"]))

    def test_summary_ratios_and_verdicts(self):
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / "r"
            shutil.copytree(FIX / "results-small", folder)
            text = Path(report.write_summary(str(folder), "glibc")).read_text()
        fast = next(l for l in text.splitlines() if "| fast |" in l)
        same = next(l for l in text.splitlines() if "| same |" in l)
        self.assertIn("2.00×", fast)
        self.assertIn("faster", fast)
        self.assertIn("1.01×", same)
        self.assertIn("indistinguishable", same)
        self.assertIn("exit status 1: boom", text)


class AgainstProductionTests(unittest.TestCase):
    """The summary's table of each cell's best variant against its best production
    allocator (glibc, the system allocator, is not one of them)."""

    def rows(self):
        tput = {("v1", 1): 90, ("v2", 1): 40, ("mimalloc", 1): 100, ("tcmalloc", 1): 80,
                ("glibc", 1): 500, ("v1", 2): 150, ("v2", 2): 300, ("mimalloc", 2): 100,
                ("tcmalloc", 2): 200, ("glibc", 2): 10}
        rss = {"v1": 1000, "v2": 3000, "mimalloc": 2000, "tcmalloc": 1500, "glibc": 100}
        out = []
        for (a, t), x in tput.items():
            kind = "variant" if a.startswith("v") else "baseline"
            for rep, f in enumerate((0.99, 1.0, 1.01), 1):
                out.append(run.Row("x", a, kind, "w", "sl-w", t, rep, "ok",
                                   ops_per_sec=x * f, maxrss_kb=rss[a]))
        return out

    def test_cells_and_geomeans(self):
        rows = self.rows()
        agg = results.aggregate(rows)
        lines = report._against_production(["w"], agg, ["v1", "v2"],
                                           ["glibc", "mimalloc", "tcmalloc"], rows)
        text = "\n".join(lines)
        one = next(l for l in lines if l.startswith("| w | 1 |"))
        two = next(l for l in lines if l.startswith("| w | 2 |"))
        # Threads 1: v1 best (90), mimalloc the best production (100, glibc's 500 is
        # not counted), v2 slowest at 0.40; RSS 1000 / lowest production 1500.
        self.assertRegex(one, r"\| v1 \| 90\.?0? \| mimalloc \| 100\.?0? \| 0\.90 ")
        self.assertIn("| v2 (0.40) | 0.67 |", one)
        # Threads 2: v2 best (300) against tcmalloc (200); its RSS 3000 / 1500.
        self.assertIn("| v2 | 300 | tcmalloc | 200 | 1.50 ", two)
        self.assertIn("| v1 (0.75) | 2.00 |", two)
        self.assertIn("over the 2 cells: 1.162.", text)   # sqrt(0.9 * 1.5)
        v2 = next(l for l in lines if l.startswith("| v2 | "))
        self.assertEqual(v2, "| v2 | 0.77 | 0.40 (w, 1) | 1 | 2.00 |")   # sqrt(0.4 * 1.5)
        self.assertFalse(any(l.startswith("| glibc |") for l in lines))

    def test_left_out_without_production_baseline(self):
        rows = [r for r in self.rows() if r.allocator in ("v1", "glibc")]
        agg = results.aggregate(rows)
        self.assertIsNone(report._against_production(["w"], agg, ["v1"], ["glibc"], rows))


class StatsTests(unittest.TestCase):
    def test_ratio_interval(self):
        ci = stats.ratio_ci([200, 210, 190], [100, 110, 90])
        self.assertTrue(1.6 < ci.low <= 2.0 <= ci.high < 2.4, ci)
        self.assertEqual(ci, stats.ratio_ci([200, 210, 190], [100, 110, 90]))
        self.assertEqual(stats.verdict(ci), "faster")
        same = stats.ratio_ci([101, 89, 111], [100, 110, 90])
        self.assertEqual(stats.verdict(same), "indistinguishable")
        self.assertIsNone(stats.ratio_ci([1], [1, 2]))
        self.assertEqual(stats.verdict(stats.ratio_ci([50, 52, 51], [100, 101, 99])), "slower")

    def test_cells_needing_more(self):
        spec = specmod.validate({"name": "x", "baselines": ["glibc"], "threads": [1],
                                 "repetitions": 3, "workload": [{"name": "a"}, {"name": "b"}]})
        cells = run.all_cells(spec)
        rows = []
        for c in cells:
            tput = {"a": [100, 100.5, 99.5], "b": [50, 100, 150]}[c.workload.label][c.rep - 1]
            rows.append(run.Row("x", c.allocator, c.kind, c.workload.label, "sl", 1, c.rep,
                                "ok", ops_per_sec=tput))
        more = stats.cells_needing_more(rows, cells, 0.05, 10)
        self.assertEqual([(c.workload.label, c.rep) for c in more], [("b", 4)])
        self.assertEqual(stats.cells_needing_more(rows, cells, 0.05, 3), [])
        self.assertEqual(parse_until_ci("5%"), 0.05)
        with self.assertRaises(ValueError):
            parse_until_ci("150%")


class LatencyTests(unittest.TestCase):
    def test_buckets_cover_values(self):
        for v in list(range(0, 300)) + [1000, 12345, 2 ** 20 + 7, 2 ** 39 + 3]:
            lo, hi = latency.bucket_range(latency.bucket_of(v))
            self.assertTrue(lo <= v < hi, (v, lo, hi))
            if lo >= 64:
                self.assertLessEqual((hi - lo) / lo, 1 / 32 + 1e-9)
            else:
                self.assertEqual(hi - lo, 1)

    def test_percentiles_of_known_input(self):
        h = latency.Histogram()
        for v in range(1, 100001):
            h.add(v)
        for q, want in ((0.5, 50000), (0.9, 90000), (0.99, 99000), (0.999, 99900)):
            got = h.percentile(q)
            self.assertLess(abs(got - want) / want, 0.016, (q, got))
        self.assertEqual(h.max, 100000)
        self.assertEqual(h.percentile(1.0), 100000)

    def test_c_histogram_matches(self):
        exe = os.environ.get("SL_HIST_TEST")
        self.assertTrue(exe and os.access(exe, os.X_OK),
                        "SL_HIST_TEST must name the built sl-hist-test (ctest sets it)")
        out = subprocess.run([exe, "100000"], capture_output=True, text=True, check=True).stdout
        hists = latency.read_dump(out)
        h = hists["malloc"]
        self.assertEqual((h.count, h.max), (100000, 100000))
        py = latency.Histogram()
        for v in range(1, 100001):
            py.add(v)
        self.assertEqual(h.counts, py.counts)
        self.assertLess(abs(h.percentile(0.99) - 99000) / 99000, 0.016)

    def test_shim_counts_cxx_operators_under_every_allocator(self):
        # jemalloc, tcmalloc and mimalloc define operator new/delete themselves; the
        # shim must see the same calls under them as under glibc.
        from spanlab_exp import build
        demo, lib = os.environ.get("SL_CXX_DEMO"), os.environ.get("SPANLAB_EXP_LATENCY_LIB")
        self.assertTrue(demo and lib and os.path.exists(demo) and os.path.exists(lib),
                        "SL_CXX_DEMO and SPANLAB_EXP_LATENCY_LIB must name the built helpers")
        libs = build.find_baselines(["glibc", "jemalloc", "mimalloc", "tcmalloc"])
        for name, path in libs.items():
            with self.subTest(name):
                self.assertIsNotNone(path, f"{name} is not installed (scripts/install-deps.sh)")
                with tempfile.TemporaryDirectory() as d:
                    out = Path(d) / "lat.txt"
                    env = dict(os.environ, SPANLAB_LATENCY_OUT=str(out),
                               LD_PRELOAD=":".join(p for p in (lib, path) if p))
                    subprocess.run([demo, "3000"], env=env, check=True, capture_output=True)
                    h = latency.read_dump(out.read_text())
                # 3000 new + 3000 new[]; stdio's buffer may add an allocation or two.
                self.assertTrue(6000 <= h["malloc"].count <= 6004, h["malloc"].count)
                self.assertEqual(h["free"].count, 6000)

    def test_bad_dump(self):
        with self.assertRaises(ValueError):
            latency.read_dump("hello\n")
        with self.assertRaises(ValueError):
            latency.read_dump("spanlab-latency 1 sample=1\nmalloc 5 10 3:2\n")


class MeasureTests(unittest.TestCase):
    def test_time_weighted_mean(self):
        # 100 KiB for 30 ms, 400 KiB for 10 ms, then 100 KiB again (last sample).
        samples = [(0, 100), (10, 100), (20, 100), (30, 400), (40, 100)]
        self.assertAlmostEqual(execute.time_weighted_mean(samples), 175.0)
        self.assertIsNone(execute.time_weighted_mean([]))

    def test_launcher_report(self):
        r = execute.parse_report("0.5 0.25 1024 10 1 3 4 0.75\n")
        self.assertEqual((r["user_s"], r["maxrss_kb"], r["nivcsw"], r["wall_s"]),
                         (0.5, 1024, 4, 0.75))
        with self.assertRaises(ValueError):
            execute.parse_report("0.5 0.25 1024\n")


class AppCheckTests(unittest.TestCase):
    # The expected outputs below are what lua5.4 5.4.4, python3 3.11 and sqlite3 3.40
    # printed for these sizes.
    def test_lua_python_expected(self):
        self.assertEqual(apps.lua_expected(10), "lua 100 10 385 6 true")
        self.assertEqual(apps.python_expected(10), "python 93 10 3 5")

    def test_sqlite_expected_small(self):
        self.assertEqual(apps.sqlite_expected(100),
                         ["off", "200|598645", "0|1|700", "1|1|37", "2|1|74", "1", "100"])

    def test_z3_check(self):
        good = "sat\n((q0 1)\n (q1 3)\n (q2 0)\n (q3 2))\nunsat\n"
        apps.z3_check(good, 4)
        for bad in ("sat\n((q0 0)\n (q1 1)\n (q2 2)\n (q3 3))\nunsat\n",
                    "unsat\nunsat\n", good.replace("unsat", "sat")):
            with self.assertRaises(apps.WrongAnswer):
                apps.z3_check(bad, 4)

    def test_rocksdb_check(self):
        out = apps.rocksdb_check((FIX / "db_bench.txt").read_text())
        self.assertEqual(out.ops, 400000)
        self.assertAlmostEqual(out.value, 400000 / 1.481)
        with self.assertRaises(apps.WrongAnswer):
            apps.rocksdb_check((FIX / "db_bench-missing.txt").read_text())

    def test_redis_benchmark_csv(self):
        text = '"test","rps","avg_latency_ms"\n"SET","50000.00","0.5"\n"GET","25000.00","1.0"\n'
        self.assertEqual(apps_redis.parse_benchmark_csv(text), {"SET": 50000.0, "GET": 25000.0})

    def test_unknown_param(self):
        with self.assertRaises(ValueError):
            apps.params_for("lua", {"nn": 3})


if __name__ == "__main__":
    unittest.main()
