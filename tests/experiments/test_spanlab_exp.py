#!/usr/bin/python3
"""Tests of scripts/spanlab-exp on tiny specs.

The workload is tests/experiments/bin/sl-fake (a stand-in that follows the workload
contract; --mode ok|fail|notok|nojson|hang) and the allocator is glibc only, so no
build is needed. Usage: test_spanlab_exp.py CASE, or 'all', or
--list (the cases, one a line: CMakeLists.txt registers one ctest test per line). The
launcher and the latency library come from SPANLAB_EXP_LAUNCHER and
SPANLAB_EXP_LATENCY_LIB (ctest sets them to the built targets). Each case runs the runner as a user would and checks its files and exit
status; nothing here depends on timing except that a hanging cell must come back.
"""

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXP = os.path.join(REPO, "scripts", "spanlab-exp")
BIN = os.path.join(HERE, "bin")
PY = "/usr/bin/python3"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def spec_text(name="tiny", workloads=None, threads="[1, 2]", reps=2, extra=""):
    if workloads is None:
        workloads = ['name = "fake"\nparams = { duration = 0.01 }']
    parts = [f'name = "{name}"', 'baselines = ["glibc"]', f"threads = {threads}",
             f"repetitions = {reps}", "timeout = 20", f'bin_dir = "{BIN}"', "seed = 7", extra]
    for w in workloads:
        parts.append("[[workload]]\n" + w)
    return "\n".join(parts) + "\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def exp(*args, env=None):
    e = dict(os.environ)
    e.pop("FAKE_WORKLOAD_LOG", None)
    if env:
        e.update(env)
    r = subprocess.run([PY, EXP] + list(args), capture_output=True, text=True, env=e,
                       timeout=300)
    return r


def rows(folder):
    with open(os.path.join(folder, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


def keys(rs):
    return sorted((r["allocator"], r["workload"], int(r["threads"]), int(r["rep"])) for r in rs)


def expect_outputs(folder, workload="fake"):
    for f in ("results.csv", "metadata.json", "summary.md", "spec.toml"):
        check(os.path.exists(os.path.join(folder, f)), f"{f} missing in {folder}")
    for stem in (f"throughput_{workload}", f"rss_{workload}", f"bars_{workload}",
                 "overview_throughput"):
        for ext in ("png", "svg"):
            p = os.path.join(folder, "plots", f"{stem}.{ext}")
            check(os.path.exists(p) and os.path.getsize(p) > 1000, f"plot {p} missing or empty")


# ------------------------------------------------------------------ cases

def case_one_cell(tmp):
    spec = write(os.path.join(tmp, "one.toml"), spec_text(threads="[1]", reps=1))
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out)
    check(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    rs = rows(out)
    check(len(rs) == 1, f"expected 1 row, got {len(rs)}")
    row = rs[0]
    check(row["status"] == "ok" and row["allocator"] == "glibc" and row["kind"] == "baseline",
          f"bad row {row}")
    check(float(row["ops_per_sec"]) > 0 and int(row["ops"]) > 0, "ops not parsed")
    check(int(row["maxrss_kb"]) > 0, "no peak RSS from wait4")
    check(float(row["wall_s"]) > 0 and row["user_s"] != "" and row["sys_s"] != "", "no times")
    # The fake workload is a small Python process (about 10 MiB); through the
    # launcher its peak RSS must not include the runner's (see launch.c).
    check(int(row["maxrss_kb"]) < 20000, f"peak RSS {row['maxrss_kb']} KiB looks inflated")
    for k in ("minflt", "majflt", "nvcsw", "nivcsw", "rss_mean_kb"):
        check(row[k] != "", f"row lacks {k}")
    check(json.loads(row["workload_json"])["workload"] == "fake", "workload JSON not kept")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    for k in ("seed", "host", "git", "spec", "build", "baselines", "started_utc",
              "finished_utc"):
        check(k in meta, f"metadata lacks {k}")
    check(meta["seed"] == 7, "seed from the spec not recorded")
    for k in ("cpu_model", "logical_cpus", "kernel", "hwloc", "python"):
        check(k in meta["host"], f"metadata host lacks {k}")
    check(meta["status"] == "finished", "metadata status not finished")
    expect_outputs(out)
    summary = open(os.path.join(out, "summary.md")).read()
    check("## fake" in summary and "| 1 | glibc |" in summary, "summary table missing")
    check(out in r.stdout and "summary.md" in r.stdout, "final message does not name the folder")


def case_failure(tmp):
    spec = write(os.path.join(tmp, "f.toml"), spec_text(threads="[1]", reps=1, workloads=[
        'name = "fake"\nparams = { duration = 0.01 }',
        'name = "fake"\nlabel = "fails"\nparams = { mode = "fail" }',
        'name = "fake"\nlabel = "notok"\nparams = { mode = "notok" }',
        'name = "fake"\nlabel = "nojson"\nparams = { mode = "nojson" }',
        'name = "nosuchprogram"',
    ]))
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out)
    check(r.returncode == 1, f"expected exit 1 when cells fail, got {r.returncode}")
    by = {x["workload"]: x for x in rows(out)}
    check(len(by) == 5, f"every cell must be recorded, got {sorted(by)}")
    check(by["fake"]["status"] == "ok", "the good cell must still run")
    check(by["fails"]["status"] == "failed" and by["fails"]["exit_code"] == "1",
          f"failing cell: {by['fails']}")
    check("failing on purpose" in by["fails"]["note"], "stderr reason not recorded")
    check(by["notok"]["status"] == "failed" and "ok=false" in by["notok"]["note"], "ok=false")
    check(by["nojson"]["status"] == "failed" and "JSON" in by["nojson"]["note"], "no JSON")
    check(by["nosuchprogram"]["status"] == "failed" and "not found" in by["nosuchprogram"]["note"],
          "missing program")
    check(os.path.exists(os.path.join(out, "logs", "glibc_fails_t1_r1.log")), "no log kept")
    summary = open(os.path.join(out, "summary.md")).read()
    check("did not succeed" in summary and "failing on purpose" in summary,
          "summary does not list the failure")


def case_timeout(tmp):
    spec = write(os.path.join(tmp, "t.toml"), spec_text(threads="[1]", reps=1, workloads=[
        'name = "fake"\nparams = { duration = 0.01 }',
        'name = "fake"\nlabel = "hangs"\ntimeout = 0.5\nparams = { mode = "hang" }',
    ]))
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out)
    check(r.returncode == 1, f"expected exit 1 after a timeout, got {r.returncode}")
    by = {x["workload"]: x for x in rows(out)}
    check(by["hangs"]["status"] == "timeout", f"hang not recorded as timeout: {by['hangs']}")
    check(by["fake"]["status"] == "ok", "the run must go on after a timeout")


def _invocations(path):
    if not os.path.exists(path):
        return []
    return [l for l in open(path).read().splitlines() if l.strip()]


def case_resume(tmp):
    spec = write(os.path.join(tmp, "r.toml"), spec_text(threads="[1, 2]", reps=3))
    out = os.path.join(tmp, "out")
    logf = os.path.join(tmp, "calls.log")
    r = exp("run", spec, "--out", out, "--no-plots", env={"FAKE_WORKLOAD_LOG": logf})
    check(r.returncode == 0, f"first run failed: {r.stderr}")
    full = rows(out)
    check(len(full) == 6 and len(_invocations(logf)) == 6, "first run must run 6 cells")
    # Simulate an interrupted run: only the first 4 rows reached the file.
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(full[0]))
        w.writeheader()
        w.writerows(full[:4])
    os.remove(logf)
    r = exp("run", "--resume", out, "--no-plots", env={"FAKE_WORKLOAD_LOG": logf})
    check(r.returncode == 0, f"resume failed: {r.stderr}")
    calls = _invocations(logf)
    check(len(calls) == 2, f"resume must run only the 2 missing cells, ran {len(calls)}")
    after = rows(out)
    check(keys(after) == keys(full), "resumed results differ from the full cell set")
    check(len(set(keys(after))) == len(after), "a cell is recorded twice")
    # Nothing left to do: a second resume runs nothing.
    os.remove(logf)
    r = exp("run", "--resume", out, "--no-plots", env={"FAKE_WORKLOAD_LOG": logf})
    check(r.returncode == 0 and not _invocations(logf), "complete run re-ran cells")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    check(len(meta.get("resumes", [])) == 2, "resumes not recorded in metadata")
    # A fresh run into a folder with results is refused (no silent overwrite).
    r = exp("run", spec, "--out", out)
    check(r.returncode == 2 and "--resume" in r.stderr, "overwriting results must be refused")


def case_shard_merge(tmp):
    spec = write(os.path.join(tmp, "s.toml"), spec_text(threads="[1, 2, 4]", reps=3, workloads=[
        'name = "fake"\nparams = { duration = 0.01 }',
        'name = "fake"\nlabel = "fake-big"\nparams = { duration = 0.01, size = 4096 }',
    ]))
    full = os.path.join(tmp, "full")
    r = exp("run", spec, "--out", full, "--no-plots")
    check(r.returncode == 0, r.stderr)
    parts = []
    for i in (1, 2):
        d = os.path.join(tmp, f"shard{i}")
        r = exp("run", spec, "--out", d, "--shard", f"{i}/2", "--no-plots")
        check(r.returncode == 0, r.stderr)
        parts.append(d)
    k1, k2 = keys(rows(parts[0])), keys(rows(parts[1]))
    check(k1 and k2 and not set(k1) & set(k2), "shards must be non-empty and disjoint")
    merged = os.path.join(tmp, "merged")
    # Give one shard twice: identical cells must be deduplicated.
    r = exp("merge", merged, parts[0], parts[1], parts[0])
    check(r.returncode == 0, f"merge failed: {r.stderr}")
    check(keys(rows(merged)) == keys(rows(full)), "merged shards differ from the full run")
    meta = json.load(open(os.path.join(merged, "metadata.json")))
    check(len(meta["merged_from"]) == 3 and meta["hosts"], "merge metadata incomplete")
    expect_outputs(merged)
    r = exp("run", spec, "--shard", "3/2", "--dry-run")
    check(r.returncode == 2 and "shard" in r.stderr, "bad --shard must be refused")


def case_replot(tmp):
    spec = write(os.path.join(tmp, "p.toml"), spec_text())
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out)
    check(r.returncode == 0, r.stderr)
    before = rows(out)
    shutil.rmtree(os.path.join(out, "plots"))
    os.remove(os.path.join(out, "summary.md"))
    r = exp("plot", out, "--reference", "glibc")
    check(r.returncode == 0, f"plot failed: {r.stderr}")
    expect_outputs(out)
    check(os.path.exists(os.path.join(out, "plots", "speedup_fake.png")), "no speed-up plot")
    check(rows(out) == before, "plot must not change results.csv")
    r = exp("plot", tmp)
    check(r.returncode == 2 and "results.csv" in r.stderr and len(r.stderr.splitlines()) == 1,
          f"plot of a non-results folder: want one clear line, got {r.stderr!r}")


def case_spec_validation(tmp):
    bad = {
        "unknown top key": (spec_text(extra="treads = [1]"), "unknown key 'treads'"),
        "bad type": (spec_text().replace("repetitions = 2", 'repetitions = "two"'),
                     "'repetitions' must be"),
        "bad threads": (spec_text(threads="[0, 2]"), "positive integers"),
        "unknown baseline": (spec_text().replace('["glibc"]', '["glibc", "hoard"]'),
                             "unknown baseline 'hoard'"),
        "no workload": ('name = "x"\nbaselines = ["glibc"]\nthreads = [1]\n', "'workload'"),
        "unknown workload key": (spec_text(workloads=['name = "fake"\nparam = { a = 1 }']),
                                 "unknown key 'param'"),
        "threads as param": (spec_text(workloads=['name = "fake"\nparams = { threads = 4 }']),
                             "'threads' is not a parameter"),
        "duplicate label": (spec_text(workloads=['name = "fake"', 'name = "fake"']),
                            "used twice"),
        "not toml": ("name = \n", "not valid TOML"),
    }
    for what, (text, needle) in bad.items():
        p = write(os.path.join(tmp, "bad.toml"), text)
        r = exp("run", p, "--dry-run")
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2, f"{what}: expected exit 2, got {r.returncode}")
        check(len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr,
              f"{what}: expected one line containing {needle!r}, got {r.stderr!r}")
    r = exp("run", os.path.join(tmp, "missing.toml"))
    check(r.returncode == 2 and "cannot read spec" in r.stderr, "missing spec file")
    # The shipped specs are valid.
    shipped = sorted(f[:-5] for f in os.listdir(os.path.join(REPO, "experiments")) if f.endswith(".toml"))
    check({"quick", "scalability", "sizeclasses", "numa", "workloads", "frontends"} <= set(shipped),
          f"shipped specs: {shipped}")
    for name in shipped:
        r = exp("run", os.path.join(REPO, "experiments", name + ".toml"), "--dry-run",
                "--out", os.path.join(tmp, "dry-" + name))
        check(r.returncode == 0, f"experiments/{name}.toml: {r.stderr}")
        check(not os.path.exists(os.path.join(tmp, "dry-" + name)), "--dry-run wrote files")


def case_unbuildable_variant(tmp):
    text = spec_text(threads="[1]", reps=1).replace(
        'baselines = ["glibc"]',
        'baselines = ["glibc"]\nvariants = ["go-nosuchsync-flat", "go-mutex-flat-nosuchfe", "mutexflat"]')
    spec = write(os.path.join(tmp, "v.toml"), text)
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out, "--no-plots", "--build-dir", os.path.join(tmp, "build"))
    check(r.returncode == 1, f"expected exit 1, got {r.returncode}: {r.stderr}")
    by = {x["allocator"]: x for x in rows(out)}
    check(by["glibc"]["status"] == "ok", "baseline cells must still run")
    check(by["go-nosuchsync-flat"]["status"] == "failed" and
          "sync policy 'nosuchsync' does not exist" in by["go-nosuchsync-flat"]["note"],
          f"unknown policy reason: {by['go-nosuchsync-flat']}")
    check(by["go-mutex-flat-nosuchfe"]["status"] == "failed" and
          "frontend policy 'nosuchfe' does not exist" in by["go-mutex-flat-nosuchfe"]["note"],
          f"unknown front end reason: {by['go-mutex-flat-nosuchfe']}")
    check(by["mutexflat"]["status"] == "failed" and "<sizeclass>-<sync>-<numa>" in
          by["mutexflat"]["note"], "malformed variant name reason")
    check("Traceback" not in r.stderr, "crash")


def case_missing_baseline(tmp):
    # In-process, with jemalloc's file name pointed at a library that does not exist.
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from spanlab_exp import build, cli
    build.BASELINE_SONAMES["jemalloc"] = "libspanlab-test-no-such-lib.so.9"
    build.LIBDIRS = (tmp,)
    text = spec_text(threads="[1]", reps=1).replace('["glibc"]', '["glibc", "jemalloc"]')
    spec = write(os.path.join(tmp, "m.toml"), text)
    out = os.path.join(tmp, "out")
    rc = cli.main(["run", spec, "--out", out, "--no-plots"])
    check(rc == 0, f"a missing baseline is a warning, not a failure (exit {rc})")
    by = {x["allocator"]: x for x in rows(out)}
    check(by["jemalloc"]["status"] == "skipped" and "not found" in by["jemalloc"]["note"],
          f"missing baseline: {by['jemalloc']}")
    check(by["glibc"]["status"] == "ok", "other cells must run")


def case_dry_run(tmp):
    spec = write(os.path.join(tmp, "d.toml"), spec_text(reps=2))
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out, "--dry-run")
    check(r.returncode == 0, r.stderr)
    lines = [l for l in r.stdout.splitlines() if "sl-fake" in l]
    check(len(lines) == 4 and all("--threads" in l for l in lines), f"dry run: {r.stdout}")
    check(not os.path.exists(out), "--dry-run must not create the results folder")
    r2 = exp("run", spec, "--out", out, "--dry-run")
    check(r2.stdout == r.stdout, "the same seed must give the same order")
    for sub in ("run", "plot", "merge", "list"):
        h = exp(sub, "--help")
        check(h.returncode == 0 and "usage" in h.stdout, f"{sub} --help")


def case_app(tmp):
    # lua5.4 is installed by scripts/install-deps.sh (and so by scripts/test.sh).
    text = spec_text(threads="[1]", reps=1, extra="latency = 1", workloads=[
        'app = "lua"\nparams = { n = 2000 }',
        'app = "lua"\nlabel = "wrong"\nparams = { n = 2000, program = "%s" }'
        % os.path.join(BIN, "fake-app"),
        'app = "lua"\nlabel = "absent"\nparams = { program = "/nonexistent/lua5.4" }',
    ])
    spec = write(os.path.join(tmp, "a.toml"), text)
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out)
    check(r.returncode == 1, f"a wrong answer must make the run fail: {r.returncode} {r.stderr}")
    by = {x["workload"]: x for x in rows(out)}
    lua = by["lua"]
    check(lua["status"] == "ok", f"lua cell: {lua}")
    check(lua["metric"] == "iterations/s" and float(lua["ops_per_sec"]) > 0, "lua metric")
    check(int(lua["maxrss_kb"]) > 0 and float(lua["rss_mean_kb"]) > 0, "lua memory")
    check(float(lua["malloc_p50_ns"]) > 0 and float(lua["malloc_max_ns"]) >=
          float(lua["malloc_p99_ns"]) >= float(lua["malloc_p50_ns"]), f"lua latency: {lua}")
    check(by["wrong"]["status"] == "failed" and "wrong answer" in by["wrong"]["note"],
          f"wrong answer not a failure: {by['wrong']}")
    check(by["absent"]["status"] == "skipped" and "install the Debian package lua5.4"
          in by["absent"]["note"], f"missing program: {by['absent']}")
    for f in ("latency_lua.png", "memory_lua.png", "apps_relative.png", "apps_rss.png"):
        p = os.path.join(out, "plots", f)
        check(os.path.exists(p) and os.path.getsize(p) > 1000, f"plot {f} missing")
    summary = open(os.path.join(out, "summary.md")).read()
    check("## Applications" in summary and "## Allocation latency" in summary
          and "## Memory over time" in summary, "summary lacks the toolkit sections")


def case_rss_series(tmp):
    # The fake application holds 40 MiB for 0.6 s, then 120 MiB for 0.6 s, then
    # nothing for 0.5 s; the sampled series must show both steps in order, the
    # return to the start, and agree with the peak.
    text = spec_text(threads="[1]", reps=1, workloads=[
        'app = "lua"\nlabel = "steps"\nparams = { n = 10, program = "%s" }\n'
        'env = { FAKE_APP_RSS_STEPS = "40:0.6,120:0.6,0:0.5" }' % os.path.join(BIN, "fake-app")])
    spec = write(os.path.join(tmp, "m.toml"), text)
    out = os.path.join(tmp, "out")
    exp("run", spec, "--out", out, "--no-plots")
    row = rows(out)[0]
    check(row["status"] == "failed" and "wrong answer" in row["note"], f"row: {row}")
    series = [json.loads(l) for l in open(os.path.join(out, "rss.jsonl"))]
    check(len(series) == 1, f"one series per cell, got {len(series)}")
    kb = series[0]["rss_kb"]
    t = series[0]["t_ms"]
    check(len(kb) >= 60 and t == sorted(t), f"{len(kb)} samples: want one every 10 ms")
    mib = [v / 1024 for v in kb]
    base = min(mib[:3])
    held40 = [m for m in mib if base + 35 <= m <= base + 50]
    held120 = [m for m in mib if m >= base + 115]
    check(len(held40) >= 20 and len(held120) >= 20, f"steps not seen: {mib}")
    first120 = next(i for i, m in enumerate(mib) if m >= base + 115)
    check(all(m < base + 115 for m in mib[:first120]) and
          any(base + 35 <= m <= base + 50 for m in mib[:first120]), "40 MiB step must come first")
    last120 = max(i for i, m in enumerate(mib) if m >= base + 115)
    after = mib[last120 + 1:]
    check(len(after) >= 20 and sum(1 for m in after if m < base + 20) >= 20,
          f"memory must shrink back after the 120 MiB step: {after}")
    check(abs(int(row["maxrss_kb"]) / 1024 - max(mib)) < 8, "peak RSS and the series disagree")
    check(float(row["rss_mean_kb"]) < int(row["maxrss_kb"]), "mean RSS must be below the peak")


def _tool(var):
    path = os.environ.get(var)
    check(path and os.path.exists(path), f"{var} must name the built helper (ctest sets it)")
    return path


def case_trace(tmp):
    replay, demo = _tool("SL_REPLAY"), _tool("SL_TRACE_DEMO")
    _tool("SPANLAB_TRACE_LIB")
    tr = os.path.join(tmp, "demo.sltrace.gz")
    r = subprocess.run([PY, os.path.join(REPO, "scripts", "spanlab-trace"), "record", "-o", tr,
                        "--", demo], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and os.path.exists(tr), f"record failed: {r.stderr}")
    info = subprocess.run([PY, os.path.join(REPO, "scripts", "spanlab-trace"), "info", tr],
                          capture_output=True, text=True, timeout=120)
    check(info.returncode == 0, f"info failed: {info.stderr}")
    calls = int(info.stdout.split(" calls replayed")[0].split(", ")[-1])
    peak = int(info.stdout.split("peak live bytes (requested): ")[1].split()[0])
    threads = int(info.stdout.split(" threads")[0].split(", ")[-1])
    # sl-trace-demo: two threads make 2000 allocations each (plus one malloc per
    # realloc), a third frees the first thread's objects.
    check(threads >= 3 and calls >= 2 * 2000 + 2000, f"info: {info.stdout}")
    raw = os.path.join(tmp, "demo.sltrace")
    with gzip.open(tr, "rb") as f, open(raw, "wb") as g:
        g.write(f.read())
    res = json.loads(subprocess.run([replay, raw], capture_output=True, text=True,
                                    timeout=120, check=True).stdout)
    check(res["ok"] and res["calls"] == calls and res["peak_live_bytes"] == peak,
          f"replay {res} differs from info (calls {calls}, peak {peak})")
    # As a workload of the runner (which decompresses the .gz).
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    os.symlink(replay, os.path.join(bindir, "sl-replay"))
    spec = write(os.path.join(tmp, "t.toml"), spec_text(threads="[1]", reps=1).replace(
        f'bin_dir = "{BIN}"', f'bin_dir = "{bindir}"').split("[[workload]]")[0]
        + f'[[workload]]\ntrace = "{tr}"\n')
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out, "--no-plots")
    check(r.returncode == 0, f"trace cell failed: {r.stderr}")
    row = rows(out)[0]
    check(row["workload"] == "demo" and row["status"] == "ok" and int(float(row["ops"])) == calls,
          f"trace row: {row}")


def case_trace_corrupt(tmp):
    replay = _tool("SL_REPLAY")
    demo = _tool("SL_TRACE_DEMO")
    _tool("SPANLAB_TRACE_LIB")
    raw = os.path.join(tmp, "demo.sltrace")
    subprocess.run([PY, os.path.join(REPO, "scripts", "spanlab-trace"), "record", "-o", raw,
                    "--", demo], capture_output=True, timeout=120, check=True)
    data = bytearray(open(raw, "rb").read())
    bad_op = bytearray(data)
    bad_op[32 + 40 * 5] = 77                       # record 5's operation
    cut = data[:32 + 40 * 7 + 13]                  # ends inside record 7
    cases = {"badop": (bad_op, "byte offset 232", "unknown operation"),
             "truncated": (cut, "byte offset 312", "truncated"),
             "header": (data[:20], "byte offset 20", "header")}
    for name, (content, where, what) in cases.items():
        p = os.path.join(tmp, name + ".sltrace")
        with open(p, "wb") as f:
            f.write(content)
        r = subprocess.run([replay, p], capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and where in r.stderr and what in r.stderr
              and len(r.stderr.strip().splitlines()) == 1,
              f"sl-replay on {name}: exit {r.returncode}, {r.stderr!r}")
        r = subprocess.run([PY, os.path.join(REPO, "scripts", "spanlab-trace"), "info", p],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and where in r.stderr and "Traceback" not in r.stderr,
              f"spanlab-trace info on {name}: {r.stderr!r}")


def case_until_ci(tmp):
    counter = os.path.join(tmp, "counter")
    spec = write(os.path.join(tmp, "u.toml"), spec_text(threads="[1]", reps=2, workloads=[
        'name = "fake"\nlabel = "steady"\nparams = { mode = "steady" }',
        'name = "fake"\nlabel = "noisy"\nparams = { mode = "alternate" }\n'
        f'env = {{ FAKE_COUNTER = "{counter}" }}']))
    out = os.path.join(tmp, "out")
    r = exp("run", spec, "--out", out, "--until-ci", "10%", "--max-repetitions", "5")
    check(r.returncode == 0, f"until-ci run: {r.stderr}")
    reps = {}
    for x in rows(out):
        reps.setdefault(x["workload"], []).append(int(x["rep"]))
    check(sorted(reps["steady"]) == [1, 2], f"a steady cell needs no more repetitions: {reps}")
    check(sorted(reps["noisy"]) == [1, 2, 3, 4, 5], f"a noisy cell runs up to the bound: {reps}")
    meta = json.load(open(os.path.join(out, "metadata.json")))
    check(meta["until_ci"] == {"target": 0.1, "max_repetitions": 5}, "until_ci not recorded")
    check(meta["machine_load"]["before"]["loadavg_1_5_15"] is not None and
          meta["machine_load"]["others_cpu_s"] is not None, "machine load not recorded")
    summary = open(os.path.join(out, "summary.md")).read()
    check("--until-ci 10%" in summary and "Machine during the run" in summary, "summary")


CASES = {
    "one-cell": case_one_cell, "failure": case_failure, "timeout": case_timeout,
    "resume": case_resume, "shard-merge": case_shard_merge, "replot": case_replot,
    "spec-validation": case_spec_validation, "unbuildable-variant": case_unbuildable_variant,
    "missing-baseline": case_missing_baseline, "dry-run": case_dry_run,
    "app": case_app, "rss-series": case_rss_series, "trace": case_trace,
    "trace-corrupt": case_trace_corrupt, "until-ci": case_until_ci,
}


def main(argv):
    if argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return 0
    names = list(CASES) if argv[1:] in ([], ["all"]) else argv[1:]
    status = 0
    for name in names:
        if name not in CASES:
            print(f"unknown case {name}; known: {', '.join(CASES)}", file=sys.stderr)
            return 2
        tmp = tempfile.mkdtemp(prefix=f"spanlab-exp-{name}-")
        try:
            CASES[name](tmp)
            print(f"PASS {name}")
            shutil.rmtree(tmp, ignore_errors=True)
        except Failure as e:
            print(f"FAIL {name}: {e} (files kept in {tmp})", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
