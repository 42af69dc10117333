"""Experiment specs: experiments/<name>.toml, read with tomllib and validated.

Every key is checked: unknown keys, wrong types and empty lists are errors with a
message naming the key, so a typo never silently changes an experiment. The format is
documented in experiments/README.md ("Spec format").
"""

import os
import re
import tomllib


class SpecError(Exception):
    """A spec that cannot be used; the message names the file and the key."""


KNOWN_BASELINES = ("glibc", "jemalloc", "mimalloc", "tcmalloc")

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
    "workload": (list, True, "an array of [[workload]] tables"),
}

WORKLOAD_KEYS = {
    "name": (str, True, "a string"),
    "label": (str, False, "a string"),
    "params": (dict, False, "a table of options"),
    "threads": (list, False, "a list of positive integers"),
    "env": (dict, False, "a table of environment variables"),
    "timeout": ((int, float), False, "a positive number of seconds"),
}

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PARAM_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _type_ok(value, types):
    # bool is a subclass of int; a bool where a number is wanted is a mistake.
    if isinstance(value, bool):
        return types is bool or (isinstance(types, tuple) and bool in types)
    return isinstance(value, types)


def _check_keys(table, schema, where):
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


def _check_threads(values, where):
    if not values:
        raise SpecError(f"{where}: 'threads' must not be empty")
    for t in values:
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise SpecError(f"{where}: 'threads' entries must be positive integers, not {t!r}")
    if len(set(values)) != len(values):
        raise SpecError(f"{where}: 'threads' has duplicates: {values}")
    return sorted(values)


def _check_env(env, where):
    out = {}
    for k, v in env.items():
        if not ENV_RE.match(k):
            raise SpecError(f"{where}: bad environment variable name '{k}'")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise SpecError(f"{where}: environment variable {k} must be a string or number")
        out[k] = str(v)
    return out


def _check_timeout(value, where):
    if value <= 0:
        raise SpecError(f"{where}: 'timeout' must be > 0 seconds, not {value!r}")
    return float(value)


def validate(data, path="<spec>"):
    """Check a parsed TOML document; return a normalised spec dict."""
    where = path
    _check_keys(data, TOP_KEYS, where)
    spec = {}
    name = data["name"]
    if not NAME_RE.match(name):
        raise SpecError(f"{where}: 'name' must be letters, digits, '-', '_' or '.', not {name!r}")
    spec["name"] = name
    spec["description"] = data.get("description", "")

    variants = data.get("variants", [])
    for v in variants:
        if not isinstance(v, str) or not v:
            raise SpecError(f"{where}: 'variants' entries must be non-empty strings, not {v!r}")
    if len(set(variants)) != len(variants):
        raise SpecError(f"{where}: 'variants' has duplicates")
    spec["variants"] = list(variants)

    baselines = data.get("baselines", [])
    for b in baselines:
        if b not in KNOWN_BASELINES:
            raise SpecError(f"{where}: unknown baseline {b!r} (known: {', '.join(KNOWN_BASELINES)})")
    if len(set(baselines)) != len(baselines):
        raise SpecError(f"{where}: 'baselines' has duplicates")
    spec["baselines"] = list(baselines)
    if not variants and not baselines:
        raise SpecError(f"{where}: no allocators: give 'variants' and/or 'baselines'")
    clash = set(variants) & set(KNOWN_BASELINES)
    if clash:
        raise SpecError(f"{where}: {sorted(clash)} is a baseline name, not a variant")

    spec["threads"] = _check_threads(data["threads"], where)
    reps = data.get("repetitions", 3)
    if reps < 1:
        raise SpecError(f"{where}: 'repetitions' must be >= 1, not {reps}")
    spec["repetitions"] = reps
    spec["timeout"] = _check_timeout(data.get("timeout", 60), where)
    spec["env"] = _check_env(data.get("env", {}), where + " [env]")
    spec["single_node_env"] = _check_env(data.get("single_node_env", {}),
                                         where + " [single_node_env]")
    spec["seed"] = data.get("seed")
    bin_dir = data.get("bin_dir")
    if bin_dir is not None:
        bin_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), bin_dir))
    spec["bin_dir"] = bin_dir

    workloads = data["workload"]
    if not workloads:
        raise SpecError(f"{where}: at least one [[workload]] is needed")
    labels = set()
    spec["workloads"] = []
    for i, w in enumerate(workloads, 1):
        wwhere = f"{where} [[workload]] #{i}"
        if not isinstance(w, dict):
            raise SpecError(f"{wwhere}: must be a table")
        _check_keys(w, WORKLOAD_KEYS, wwhere)
        wname = w["name"]
        if not NAME_RE.match(wname):
            raise SpecError(f"{wwhere}: bad workload name {wname!r}")
        label = w.get("label", wname)
        if not NAME_RE.match(label):
            raise SpecError(f"{wwhere}: bad label {label!r}")
        if label in labels:
            raise SpecError(f"{wwhere}: workload label '{label}' used twice; "
                            "give each [[workload]] of the same program a distinct 'label'")
        labels.add(label)
        params = {}
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
        threads = spec["threads"]
        if "threads" in w:
            threads = _check_threads(w["threads"], wwhere)
        timeout = spec["timeout"]
        if "timeout" in w:
            timeout = _check_timeout(w["timeout"], wwhere)
        spec["workloads"].append({
            "name": wname, "label": label, "params": params, "threads": threads,
            "env": _check_env(w.get("env", {}), wwhere + " env"), "timeout": timeout,
        })
    return spec


def load(path):
    """Read and validate the spec at path; SpecError on any problem."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise SpecError(f"cannot read spec {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    spec = validate(data, path)
    spec["path"] = os.path.abspath(path)
    spec["text"] = text.decode("utf-8")
    return spec
