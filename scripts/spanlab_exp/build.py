"""Allocators: spanlab variants (built with CMake when missing) and baseline libraries.

A variant is named <sizeclass>-<sync>-<numa>[-<frontend>]. The values that exist are
what scripts/axes.sh finds in policies/sizeclass/, policies/sync/, numa/ and
core/frontend/ (the front end is part of the engine); a name using any other value is
reported as unbuildable without calling CMake. CMake has the last word: a name it
rejects, or a library that fails to compile, is reported with CMake's message. Either
way the variant's cells are recorded as failed and the other cells still run.
"""

import os
import re
import subprocess

FRONTENDS_DEFAULT = "freelist"

BASELINE_SONAMES = {
    "jemalloc": "libjemalloc.so.2",
    "mimalloc": "libmimalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
}
LIBDIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib",
           "/lib/x86_64-linux-gnu")

# Files whose change makes a built library or workload stale.
SOURCE_DIRS = ("core", "include", "policies", "numa", "bench", "cmake", "scripts/spanlab_exp")
SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp", ".txt", ".cmake", ".in")


class BuildError(Exception):
    pass


def policy_values(repo):
    """{axis: sorted list of implementation names, or None if the axis has no folder},
    as scripts/axes.sh prints them for the tree at repo (the one place that knows the
    axes and which files on disk are their values)."""
    axes_sh = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "axes.sh")
    try:
        out = subprocess.run(["bash", axes_sh, "--root", repo], check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as e:
        raise BuildError(f"scripts/axes.sh failed: {e.stderr.strip()}") from e
    values = {axis: None for axis in ("sizeclass", "sync", "numa", "frontend")}
    for line in out.splitlines():
        words = line.split()
        if words:
            values[words[0]] = sorted(words[1:])
    return values


def parse_variant(name):
    """Split a variant name into its policies; ValueError if the shape is wrong."""
    parts = name.split("-")
    if len(parts) not in (3, 4) or not all(re.match(r"^[a-z0-9_]+$", p) for p in parts):
        raise ValueError(f"variant name {name!r} is not <sizeclass>-<sync>-<numa>[-<frontend>]")
    return {"sizeclass": parts[0], "sync": parts[1], "numa": parts[2],
            "frontend": parts[3] if len(parts) == 4 else FRONTENDS_DEFAULT}


def check_variant(repo, name, values=None):
    """Return None if the name may be buildable, else a one-line reason."""
    try:
        pol = parse_variant(name)
    except ValueError as e:
        return str(e)
    values = values if values is not None else policy_values(repo)
    for axis in ("sizeclass", "sync", "numa", "frontend"):
        known = values.get(axis)
        if axis == "frontend":
            # A tree without core/frontend/ (older checkouts): CMake decides.
            if not known:
                continue
        elif known is None:
            return f"variant {name}: no {axis} policies in this tree"
        if pol[axis] not in known:
            return (f"variant {name}: {axis} policy '{pol[axis]}' does not exist "
                    f"(available: {', '.join(known) or 'none'})")
    return None


def find_baselines(names):
    """{name: path or None}; glibc maps to '' (no preload)."""
    ldconfig = None
    out = {}
    for b in names:
        if b == "glibc":
            out[b] = ""
            continue
        soname = BASELINE_SONAMES[b]
        path = None
        for d in LIBDIRS:
            p = os.path.join(d, soname)
            if os.path.exists(p):
                path = p
                break
        if path is None:
            if ldconfig is None:
                ldconfig = _ldconfig_p()
            path = ldconfig.get(soname)
        out[b] = path
    return out


def _ldconfig_p():
    libs = {}
    for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            r = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
            if m and "x86-64" in m.group(2):
                libs.setdefault(m.group(1), m.group(3))
        break
    return libs


def read_cache(build_dir):
    """Entries of build_dir/CMakeCache.txt as {NAME: value} ({} if absent)."""
    out = {}
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                m = re.match(r"^([A-Za-z0-9_.-]+):[A-Z_]+=(.*)$", line.rstrip("\n"))
                if m:
                    out[m.group(1)] = m.group(2)
    except OSError:
        pass
    return out


def lib_path(build_dir, variant):
    return os.path.join(build_dir, "lib", f"libspanlab-{variant}.so")


def newest_source(repo):
    newest = 0.0
    for top in ("CMakeLists.txt",):
        p = os.path.join(repo, top)
        if os.path.exists(p):
            newest = max(newest, os.path.getmtime(p))
    for d in SOURCE_DIRS:
        for root, _dirs, files in os.walk(os.path.join(repo, d)):
            for fn in files:
                if fn.endswith(SOURCE_SUFFIXES):
                    try:
                        newest = max(newest, os.path.getmtime(os.path.join(root, fn)))
                    except OSError:
                        pass
    return newest


def _stale(path, newest):
    return not os.path.exists(path) or os.path.getmtime(path) < newest


def _tail(text, n=12):
    lines = [l for l in text.splitlines() if l.strip()]
    return "\n".join(lines[-n:])


def _first_error(text):
    """The most telling part of CMake/compiler output, as one line."""
    lines = [l.rstrip() for l in text.splitlines() if l.strip()]
    for l in lines:  # a compiler diagnostic: file:line:col: error: ...
        if re.search(r"\berror:", l) and not l.startswith(("make", "gmake")):
            return l.strip()[:300]
    for i, l in enumerate(lines):  # CMake Error at file:line (command): message...
        if l.startswith("CMake Error"):
            more = []
            for m in lines[i + 1:i + 6]:
                if not m.startswith((" ", "\t")):
                    break
                more.append(m.strip())
            return " ".join([l.strip()] + more)[:300]
    for l in lines:
        if "error" in l.lower():
            return l.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


class Builder:
    """Builds the wanted variants and workload programs; remembers what failed and why."""

    def __init__(self, repo, build_dir, log):
        self.repo = repo
        self.build_dir = build_dir
        self.log = log                   # callable(str) for messages on stderr
        self.failed = {}                 # variant or "sl-<w>" -> reason

    def _run(self, argv):
        self.log("+ " + " ".join(argv))
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def configured_variants(self):
        v = read_cache(self.build_dir).get("SPANLAB_VARIANTS", "")
        return [x for x in v.split(";") if x]

    def _configure(self, variants):
        argv = ["cmake", "-S", self.repo, "-B", self.build_dir, "-DCMAKE_BUILD_TYPE=Release"]
        if variants:  # none wanted (baselines only): keep CMake's default list
            argv.append(f"-DSPANLAB_VARIANTS={';'.join(variants)}")
        return self._run(argv)

    def ensure(self, variants, workloads, bin_dir):
        """Build what is missing or stale. Returns nothing; see self.failed."""
        values = policy_values(self.repo)
        wanted = []
        for v in variants:
            reason = check_variant(self.repo, v, values)
            if reason:
                self.failed[v] = reason
                self.log(f"warning: {reason}; its cells will be recorded as failed")
            else:
                wanted.append(v)
        newest = newest_source(self.repo)
        stale_v = [v for v in wanted if _stale(lib_path(self.build_dir, v), newest)]
        stale_w = []
        if bin_dir is None:
            stale_w = [w for w in workloads
                       if _stale(os.path.join(self.build_dir, "bin", f"sl-{w}"), newest)]
        if not stale_v and not stale_w:
            return
        if not os.path.exists(os.path.join(self.repo, "CMakeLists.txt")):
            for v in stale_v:
                self.failed[v] = f"cannot build variant {v}: no CMakeLists.txt in {self.repo}"
            for w in stale_w:
                self.failed["sl-" + w] = f"cannot build sl-{w}: no CMakeLists.txt in {self.repo}"
            self.log(f"warning: no CMakeLists.txt in {self.repo}; nothing can be built")
            return
        configured = self.configured_variants()
        union = list(dict.fromkeys(configured + wanted))
        need_configure = (not configured and not os.path.exists(
            os.path.join(self.build_dir, "CMakeCache.txt"))) or set(union) != set(configured)
        if need_configure:
            rc, out = self._configure(union)
            if rc != 0:
                # Find the culprits: add the new variants one at a time.
                good = list(configured)
                for v in wanted:
                    if v in good:
                        continue
                    rc1, out1 = self._configure(good + [v])
                    if rc1 == 0:
                        good.append(v)
                    else:
                        self.failed[v] = f"CMake rejected variant {v}: {_first_error(out1)}"
                        self.log("warning: " + self.failed[v])
                if good != union:
                    rc, out = self._configure(good)
                if rc != 0:
                    reason = f"CMake configure failed: {_first_error(out)}"
                    self.log("error: " + reason + "\n" + _tail(out))
                    for v in stale_v:
                        self.failed.setdefault(v, reason)
                    for w in stale_w:
                        self.failed.setdefault("sl-" + w, reason)
                    return
        jobs = str(os.cpu_count() or 2)
        # Workloads first, one build each so a missing or broken one names itself.
        for w in stale_w:
            rc, out = self._run(["cmake", "--build", self.build_dir, "-j", jobs,
                                 "--target", f"sl-{w}"])
            if rc != 0:
                self.failed["sl-" + w] = f"cannot build workload sl-{w}: {_first_error(out)}"
                self.log("warning: " + self.failed["sl-" + w])
        for v in stale_v:
            if v in self.failed:
                continue
            rc, out = self._run(["cmake", "--build", self.build_dir, "-j", jobs,
                                 "--target", f"spanlab-{v}"])
            if rc != 0:
                self.failed[v] = f"cannot build variant {v}: {_first_error(out)}"
                self.log("warning: " + self.failed[v])
            elif not os.path.exists(lib_path(self.build_dir, v)):
                self.failed[v] = f"building spanlab-{v} did not produce {lib_path(self.build_dir, v)}"
                self.log("warning: " + self.failed[v])

    def ensure_tool(self, target, output):
        """Build one helper target (the launcher, the latency library) if its output is
        missing or stale; True if the output exists afterwards."""
        if not _stale(output, newest_source(self.repo)) or self.failed.get(target):
            return os.path.exists(output) and target not in self.failed
        if not os.path.exists(os.path.join(self.build_dir, "CMakeCache.txt")):
            rc, out = self._configure([])
            if rc != 0:
                self.failed[target] = f"CMake configure failed: {_first_error(out)}"
                return False
        rc, out = self._run(["cmake", "--build", self.build_dir, "--target", target])
        if rc != 0:
            self.failed[target] = f"cannot build {target}: {_first_error(out)}"
            self.log("warning: " + self.failed[target])
            return False
        return os.path.exists(output)
