"""Experiment specs: experiments/<name>.toml, read with tomllib and validated.

Every key is checked: unknown keys, wrong types and empty lists are errors with a
message naming the key, so a typo never silently changes an experiment. The format is
documented in experiments/README.md ("Spec format"). A validated spec is a Spec with
a tuple of Workload; both are frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SpecError(Exception):
    """A spec that cannot be used; the message names the file and the key."""


KNOWN_BASELINES = ("glibc", "jemalloc", "mimalloc", "tcmalloc")
# Application workloads (spanlab_exp.apps); the list lives here so that a spec can be
# validated without importing the application drivers.
KNOWN_APPS = ("redis", "rocksdb", "sqlite", "lua", "python", "z3")
# The program that replays allocation traces (bench/trace/replay.c).
REPLAY_PROGRAM = "replay"

# key -> (accepted types, required, description used in messages)
TOP_KEYS = {
    "name": (str, True, "a string"),
    "description": (str, False, "a string"),
    "variants": (list, False, "a list of variant names"),
    "baselines": (list, False, "a list of baseline names"),
    "threads": (list, True, "a list of positive integers"),
    "repetitions": (int, False, "a positive integer"),
    "timeout": ((int, float), False, "a positive number of seconds"),
    "env": (dict, False, "a table of environment variables"),
    "single_node_env": (dict, False, "a table of environment variables"),
    "seed": (int, False, "an integer"),
    "bin_dir": (str, False, "a directory path"),
    "latency": (int, False, "a sampling period (0 = off, 1 = every call, N = 1 in N)"),
    "workload": (list, True, "an array of [[workload]] tables"),
}

WORKLOAD_KEYS = {
    "name": (str, False, "a string"),
    "app": (str, False, "an application name"),
    "trace": (str, False, "a trace file path"),
    "label": (str, False, "a string"),
    "params": (dict, False, "a table of options"),
    "threads": (list, False, "a list of positive integers"),
    "env": (dict, False, "a table of environment variables"),
    "timeout": ((int, float), False, "a positive number of seconds"),
    "latency": (int, False, "a sampling period (0 = off, 1 = every call, N = 1 in N)"),
}

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PARAM_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Param = str | int | float


@dataclass(frozen=True)
class Workload:
    """One [[workload]] of a spec.

    kind "program": the workload program sl-<name>; "app": the application <name>
    (see apps.py); "trace": sl-replay of the trace file `trace`."""
    name: str
    label: str
    kind: str = "program"
    params: dict[str, Param] = field(default_factory=dict)
    threads: tuple[int, ...] = (1,)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    latency: int = 0
    trace: str | None = None

    @property
    def program(self) -> str:
        """What the results call the measured program: sl-<name>, or the app name."""
        return self.name if self.kind == "app" else "sl-" + self.name


@dataclass(frozen=True)
class Spec:
    name: str
    threads: tuple[int, ...]
    workloads: tuple[Workload, ...]
    description: str = ""
    variants: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()
    repetitions: int = 3
    timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    single_node_env: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    bin_dir: str | None = None
    latency: int = 0
    path: str | None = None
    text: str = ""

    @property
    def allocators(self) -> list[tuple[str, str]]:
        """[(name, kind)] in spec order: variants, then baselines."""
        return ([(v, "variant") for v in self.variants]
                + [(b, "baseline") for b in self.baselines])

    def for_metadata(self) -> dict[str, Any]:
        """The spec as metadata.json records it (everything but the file's text)."""
        d = dataclasses.asdict(self)
        d.pop("text")
        return d


def _type_ok(value: Any, types: Any) -> bool:
    # bool is a subclass of int; a bool where a number is wanted is a mistake.
    if isinstance(value, bool):
        return types is bool or (isinstance(types, tuple) and bool in types)
    return isinstance(value, types)


def _check_keys(table: dict, schema: dict, where: str) -> None:
    for key in table:
        if key not in schema:
            raise SpecError(f"{where}: unknown key '{key}' (known: {', '.join(schema)})")
    for key, (types, required, what) in schema.items():
        if key not in table:
            if required:
                raise SpecError(f"{where}: missing required key '{key}' ({what})")
            continue
        if not _type_ok(table[key], types):
            raise SpecError(f"{where}: '{key}' must be {what}, "
                            f"not {type(table[key]).__name__} {table[key]!r}")


def _check_threads(values: list, where: str) -> tuple[int, ...]:
    if not values:
        raise SpecError(f"{where}: 'threads' must not be empty")
    for t in values:
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise SpecError(f"{where}: 'threads' entries must be positive integers, not {t!r}")
    if len(set(values)) != len(values):
        raise SpecError(f"{where}: 'threads' has duplicates: {values}")
    return tuple(sorted(values))


def _check_env(env: dict, where: str) -> dict[str, str]:
    out = {}
    for k, v in env.items():
        if not ENV_RE.match(k):
            raise SpecError(f"{where}: bad environment variable name '{k}'")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise SpecError(f"{where}: environment variable {k} must be a string or number")
        out[k] = str(v)
    return out


def _check_timeout(value: float, where: str) -> float:
    if value <= 0:
        raise SpecError(f"{where}: 'timeout' must be > 0 seconds, not {value!r}")
    return float(value)


def _check_latency(value: int, where: str) -> int:
    if value < 0:
        raise SpecError(f"{where}: 'latency' must be >= 0 (0 = off), not {value!r}")
    return value


def _check_names(values: list, what: str, where: str) -> tuple[str, ...]:
    for v in values:
        if not isinstance(v, str) or not v:
            raise SpecError(f"{where}: '{what}' entries must be non-empty strings, not {v!r}")
    if len(set(values)) != len(values):
        raise SpecError(f"{where}: '{what}' has duplicates")
    return tuple(values)


def _workload(w: Any, i: int, spec_dir: Path, defaults: dict, where: str) -> Workload:
    wwhere = f"{where} [[workload]] #{i}"
    if not isinstance(w, dict):
        raise SpecError(f"{wwhere}: must be a table")
    _check_keys(w, WORKLOAD_KEYS, wwhere)
    given = [k for k in ("name", "app", "trace") if k in w]
    if len(given) != 1:
        raise SpecError(f"{wwhere}: give exactly one of 'name' (a workload program), "
                        f"'app' (an application) or 'trace' (a trace file)"
                        + (f", not {' and '.join(given)}" if given else ""))
    trace = None
    if "app" in w:
        kind, wname = "app", w["app"]
        if wname not in KNOWN_APPS:
            raise SpecError(f"{wwhere}: unknown app {wname!r} (known: {', '.join(KNOWN_APPS)})")
    elif "trace" in w:
        kind, wname = "trace", REPLAY_PROGRAM
        trace = str((spec_dir / w["trace"]).resolve())
        default_label = Path(w["trace"]).name.split(".")[0]
    else:
        kind, wname = "program", w["name"]
        if not NAME_RE.match(wname):
            raise SpecError(f"{wwhere}: bad workload name {wname!r}")
    label = w.get("label", default_label if kind == "trace" else wname)
    if not NAME_RE.match(label):
        raise SpecError(f"{wwhere}: bad label {label!r}")
    params: dict[str, Param] = {}
    for k, v in w.get("params", {}).items():
        if not PARAM_RE.match(k):
            raise SpecError(f"{wwhere}: bad parameter name '{k}' "
                            "(lower case letters, digits and '-'; it becomes --{k})")
        if k == "threads":
            raise SpecError(f"{wwhere}: 'threads' is not a parameter; "
                            "the runner passes --threads from the 'threads' list")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise SpecError(f"{wwhere}: parameter '{k}' must be a string or number, not {v!r}")
        params[k] = v
    threads = _check_threads(w["threads"], wwhere) if "threads" in w else defaults["threads"]
    timeout = _check_timeout(w["timeout"], wwhere) if "timeout" in w else defaults["timeout"]
    latency = _check_latency(w["latency"], wwhere) if "latency" in w else defaults["latency"]
    return Workload(name=wname, label=label, kind=kind, params=params, threads=threads,
                    env=_check_env(w.get("env", {}), wwhere + " env"), timeout=timeout,
                    latency=latency, trace=trace)


def validate(data: dict, path: str = "<spec>") -> Spec:
    """Check a parsed TOML document; return the Spec (SpecError on any problem)."""
    where = path
    _check_keys(data, TOP_KEYS, where)
    name = data["name"]
    if not NAME_RE.match(name):
        raise SpecError(f"{where}: 'name' must be letters, digits, '-', '_' or '.', not {name!r}")
    variants = _check_names(data.get("variants", []), "variants", where)
    baselines = _check_names(data.get("baselines", []), "baselines", where)
    for b in baselines:
        if b not in KNOWN_BASELINES:
            raise SpecError(f"{where}: unknown baseline {b!r} (known: {', '.join(KNOWN_BASELINES)})")
    if not variants and not baselines:
        raise SpecError(f"{where}: no allocators: give 'variants' and/or 'baselines'")
    clash = set(variants) & set(KNOWN_BASELINES)
    if clash:
        raise SpecError(f"{where}: {sorted(clash)} is a baseline name, not a variant")
    reps = data.get("repetitions", 3)
    if reps < 1:
        raise SpecError(f"{where}: 'repetitions' must be >= 1, not {reps}")
    spec_dir = Path(path).resolve().parent
    bin_dir = data.get("bin_dir")
    if bin_dir is not None:
        bin_dir = str((spec_dir / bin_dir).resolve())
    defaults = {"threads": _check_threads(data["threads"], where),
                "timeout": _check_timeout(data.get("timeout", 60), where),
                "latency": _check_latency(data.get("latency", 0), where)}
    if not data["workload"]:
        raise SpecError(f"{where}: at least one [[workload]] is needed")
    workloads = []
    labels: set[str] = set()
    for i, w in enumerate(data["workload"], 1):
        wl = _workload(w, i, spec_dir, defaults, where)
        if wl.label in labels:
            raise SpecError(f"{where} [[workload]] #{i}: workload label '{wl.label}' used "
                            "twice; give each [[workload]] of the same program a distinct "
                            "'label'")
        labels.add(wl.label)
        workloads.append(wl)
    return Spec(name=name, description=data.get("description", ""), variants=variants,
                baselines=baselines, threads=defaults["threads"], repetitions=reps,
                timeout=defaults["timeout"], env=_check_env(data.get("env", {}), where + " [env]"),
                single_node_env=_check_env(data.get("single_node_env", {}),
                                           where + " [single_node_env]"),
                seed=data.get("seed"), bin_dir=bin_dir, latency=defaults["latency"],
                workloads=tuple(workloads))


def load(path: str | Path) -> Spec:
    """Read and validate the spec at path; SpecError on any problem."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    spec = validate(data, str(path))
    return dataclasses.replace(spec, path=str(Path(path).resolve()), text=text)
