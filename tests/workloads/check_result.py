#!/usr/bin/python3
"""Run one workload program and check its result line (tests/workloads).

usage: check_result.py --name NAME [--preload LIB] [--expect-status N]
                       [--require KEY]... -- PROGRAM [ARG]...

Runs PROGRAM (with LD_PRELOAD=LIB for the program only, when --preload is
given) and checks, with the default --expect-status 0: exit status 0,
exactly one line on stdout, that line a JSON object with the contract's keys
and sane types, "ok" true, "workload" equal to NAME, "threads" equal to
params.threads, and at least one op done.  --require adds further keys that
must hold non-negative integers (e.g. final_rss_kb).  With --expect-status 1
(a verification failure, e.g. under a broken allocator) it checks for one
JSON line with "ok" false and the workload's name, and a "verification
failed" message on stderr.  With another --expect-status N (e.g. 2 for a
bad option) it checks only the status, that stdout is empty and that stderr
says something.  Exit status 0 when all checks pass, 1 with a message
otherwise.
"""
import argparse
import json
import os
import subprocess
import sys


def fail(msg):
    print("check_result: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool))


def check_line(line, name, required):
    try:
        r = json.loads(line)
    except ValueError as e:
        fail("result line is not JSON (%s): %r" % (e, line))
    if not isinstance(r, dict):
        fail("result line is not a JSON object: %r" % line)
    types = {"workload": str, "threads": "int", "params": dict,
             "ops": "int", "seconds": "num", "ops_per_sec": "num",
             "peak_rss_kb": "int", "ok": bool}
    for key, want in types.items():
        if key not in r:
            fail("key %r missing: %s" % (key, line))
        v = r[key]
        good = (is_int(v) if want == "int" else
                is_num(v) if want == "num" else isinstance(v, want))
        if not good:
            fail("key %r has a bad type: %r" % (key, v))
    if r["workload"] != name:
        fail("workload is %r, expected %r" % (r["workload"], name))
    if r["ok"] is not True:
        fail("ok is not true: %s" % line)
    if r["threads"] < 1 or r["params"].get("threads") != r["threads"]:
        fail("threads %r does not match params %r"
             % (r["threads"], r["params"]))
    for key in ("duration", "seed"):
        if key not in r["params"]:
            fail("params lack %r: %s" % (key, line))
    if r["ops"] <= 0:
        fail("no operations done: %s" % line)
    if r["seconds"] < 0 or r["ops_per_sec"] < 0 or r["peak_rss_kb"] <= 0:
        fail("negative time/rate or no peak RSS: %s" % line)
    for key in required:
        if not is_int(r.get(key)) or r[key] < 0:
            fail("key %r missing or not a non-negative integer: %s"
                 % (key, line))


def check_failure(p, name):
    lines = p.stdout.splitlines()
    if len(lines) != 1:
        fail("expected exactly one line on stdout, got %r" % p.stdout)
    try:
        r = json.loads(lines[0])
    except ValueError:
        fail("result line is not JSON: %r" % lines[0])
    if not isinstance(r, dict) or r.get("ok") is not False:
        fail("expected \"ok\": false, got %r" % lines[0])
    if r.get("workload") != name:
        fail("workload is %r, expected %r" % (r.get("workload"), name))
    if "verification failed" not in p.stderr:
        fail("no 'verification failed' message on stderr")
    print(lines[0])


def main():
    ap = argparse.ArgumentParser(
        description="Run a workload program and check its result line.")
    ap.add_argument("--name", required=True, help="expected workload name")
    ap.add_argument("--preload", help="library for LD_PRELOAD (program only)")
    ap.add_argument("--expect-status", type=int, default=0)
    ap.add_argument("--require", action="append", default=[],
                    help="extra integer key the result must have")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="-- PROGRAM [ARG]...")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no program given")
    env = dict(os.environ)
    if a.preload:
        if not os.path.exists(a.preload):
            fail("preload library %s does not exist" % a.preload)
        env["LD_PRELOAD"] = a.preload
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=120)
    except subprocess.TimeoutExpired:
        fail("%s did not finish within 120 s" % cmd[0])
    sys.stderr.write(p.stderr)
    if p.returncode != a.expect_status:
        fail("exit status %d, expected %d; stdout: %r"
             % (p.returncode, a.expect_status, p.stdout))
    if a.expect_status == 1:
        check_failure(p, a.name)
        return
    if a.expect_status != 0:
        if p.stdout.strip():
            fail("expected no result line, got %r" % p.stdout)
        if not p.stderr.strip():
            fail("expected a message on stderr")
        return
    lines = p.stdout.splitlines()
    if len(lines) != 1:
        fail("expected exactly one line on stdout, got %d: %r"
             % (len(lines), p.stdout))
    check_line(lines[0], a.name, a.require)
    print(lines[0])


if __name__ == "__main__":
    main()
