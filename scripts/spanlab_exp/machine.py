"""Metadata that makes a run reproducible: machine, build, source revision, run."""

import datetime
import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys

from . import build


def _cmd(argv, timeout=20, cwd=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def physical_cores():
    """Distinct (package, core) pairs from sysfs; None if unknown."""
    pairs = set()
    for d in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology"):
        try:
            with open(os.path.join(d, "physical_package_id")) as f:
                pkg = f.read().strip()
            with open(os.path.join(d, "core_id")) as f:
                core = f.read().strip()
        except OSError:
            continue
        pairs.add((pkg, core))
    return len(pairs) or None


def numa_nodes():
    n = len(glob.glob("/sys/devices/system/node/node[0-9]*"))
    return n or 1


def hwloc_topology():
    for argv in (["hwloc-ls", "--of", "console"], ["lstopo-no-graphics", "--of", "console"]):
        if shutil.which(argv[0]):
            out = _cmd(argv)
            if out is not None:
                return {"tool": argv[0], "text": out}
    return {"tool": None, "text": None,
            "note": "hwloc-ls / lstopo-no-graphics not found (Debian package hwloc)"}


def git_info(repo):
    rev = _cmd(["git", "rev-parse", "HEAD"], cwd=repo)
    if rev is None:
        return {"revision": None, "dirty": None, "note": "not a git checkout or no commits"}
    status = _cmd(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    return {"revision": rev.strip(), "dirty": bool(status and status.strip())}


def compiler_info(build_dir):
    cache = build.read_cache(build_dir)
    if not cache:
        return {"note": f"no CMakeCache.txt in {build_dir}"}
    info = {k: cache.get(k) for k in ("CMAKE_C_COMPILER", "CMAKE_C_FLAGS", "CMAKE_BUILD_TYPE",
                                       "CMAKE_C_FLAGS_RELEASE", "SPANLAB_VARIANTS")}
    cc = cache.get("CMAKE_C_COMPILER")
    if cc:
        out = _cmd([cc, "--version"])
        info["compiler_version"] = out.splitlines()[0] if out else None
    return info


def library_stats(lib):
    """Ask a variant library about itself: SPANLAB_STATS=json prints a JSON object on
    stderr at exit. Returns the parsed object or None."""
    env = dict(os.environ, LD_PRELOAD=lib, SPANLAB_STATS="json")
    try:
        r = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    report = find_json_object(r.stderr)
    if report is None:
        return None
    # Keep the scalar figures (variant, policies, totals); per-class tables are long
    # and all zero for /bin/true.
    return {k: v for k, v in report.items() if not isinstance(v, list)}


def find_json_object(text):
    """The last JSON object in text: a whole line, else the outermost {...} span."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
            except ValueError:
                pass
    i, j = text.find("{"), text.rfind("}")
    if 0 <= i < j:
        try:
            obj = json.loads(text[i:j + 1])
            if isinstance(obj, dict):
                return obj
        except ValueError:
            pass
    return None


def host_info():
    u = platform.uname()
    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:
        mpl = None
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "numa_nodes": numa_nodes(),
        "kernel": f"{u.system} {u.release} {u.version} {u.machine}",
        "python": sys.version.split()[0],
        "matplotlib": mpl,
        "hwloc": hwloc_topology(),
    }


# ---------------------------------------------------------------- load during a run

def _cpu_busy_seconds():
    """Seconds all CPUs spent busy since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = f.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    vals = [int(x) for x in parts[1:9]]
    busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + vals[7]  # not idle, iowait
    return busy / float(os.sysconf("SC_CLK_TCK"))


def _own_cpu_seconds():
    import resource
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def load_snapshot():
    """Load average and CPU counters now, to tell afterwards what else ran."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"utc": utc_now(), "loadavg_1_5_15": load, "cpu_busy_s": _cpu_busy_seconds(),
            "own_cpu_s": _own_cpu_seconds()}


def others_cpu_seconds(before, after):
    """CPU seconds used by other processes between two snapshots (never negative)."""
    if before.get("cpu_busy_s") is None or after.get("cpu_busy_s") is None:
        return None
    busy = after["cpu_busy_s"] - before["cpu_busy_s"]
    own = after["own_cpu_s"] - before["own_cpu_s"]
    return round(max(busy - own, 0.0), 2)


def hardware_counters():
    """Whether `perf stat` can count instructions here: {"available": bool, ...}."""
    perf = shutil.which("perf")
    if not perf:
        return {"available": False, "reason": "perf not installed (Debian package linux-perf)"}
    try:
        r = subprocess.run([perf, "stat", "-x", ",", "-e", "instructions,cycles", "--", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"available": False, "reason": f"perf stat failed: {e}"}
    text = r.stderr
    if r.returncode != 0 or "<not supported>" in text or "<not counted>" in text:
        line = next((l for l in text.splitlines() if l.strip()), "")
        return {"available": False,
                "reason": f"perf stat cannot count instructions/cycles here: {line.strip()[:200]}"}
    return {"available": True, "reason": None}
