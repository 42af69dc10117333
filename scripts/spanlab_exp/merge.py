"""Joining results folders (shards of one experiment, or runs on several machines).

Rows are concatenated; a cell recorded in more than one folder is kept once,
preferring a successful repetition, then the first folder given. The metadata of the
first folder is the base; "hosts" lists the machine of every folder and "merged_from"
the folders themselves.
"""

import json
import os
import shutil

from . import machine, results, run


def merge(out, folders, log):
    if os.path.exists(os.path.join(out, "results.csv")):
        raise results.ResultsError(f"{out} already holds a results.csv; merge into a new folder")
    loaded = []
    for d in folders:
        rows, meta = results.load(d)
        loaded.append((d, rows, meta))
    names = {m.get("experiment") or (r[0].experiment if r else None) for _d, r, m in loaded}
    names.discard(None)
    if len(names) > 1:
        log(f"warning: merging different experiments: {', '.join(sorted(names))}")
    kept = {}
    order = []
    dupes = conflicts = 0
    for _d, rows, _m in loaded:
        for r in rows:
            k = r.key
            if k not in kept:
                kept[k] = r
                order.append(k)
                continue
            dupes += 1
            old = kept[k]
            same = old == r
            if not same:
                conflicts += 1
                if old.status != "ok" and r.status == "ok":
                    kept[k] = r
    if dupes:
        log(f"note: {dupes} cell(s) appear in more than one folder "
            f"({conflicts} with different rows); each is kept once")
    os.makedirs(out, exist_ok=True)
    run.write_rows(os.path.join(out, "results.csv"), [kept[k] for k in sorted(order)])

    base = dict(loaded[0][2])
    hosts, seen = [], set()
    for _d, _r, m in loaded:
        for h in m.get("hosts") or ([m["host"]] if m.get("host") else []):
            ident = json.dumps(h, sort_keys=True)
            if ident not in seen:
                seen.add(ident)
                hosts.append(h)
    base.pop("host", None)
    base["hosts"] = hosts
    base["merged_from"] = [{"folder": os.path.abspath(d), "shard": m.get("shard"),
                            "started_utc": m.get("started_utc"),
                            "finished_utc": m.get("finished_utc"),
                            "git": m.get("git"), "seed": m.get("seed")}
                           for d, _r, m in loaded]
    base["merged_utc"] = machine.utc_now()
    base["shard"] = None
    revs = {json.dumps(m.get("git"), sort_keys=True) for _d, _r, m in loaded}
    if len(revs) > 1:
        log("warning: the folders come from different git revisions (see merged_from)")
    with open(os.path.join(out, "metadata.json"), "w", encoding="utf-8") as f:
        json.dump(base, f, indent=2, sort_keys=True)
        f.write("\n")
    # The per-cell series: every folder's lines, in folder order (the last line of a
    # cell wins when they are read, as within one folder).
    for name in (results.RSS_FILE, results.LATENCY_FILE):
        parts = [os.path.join(d, name) for d in folders if os.path.exists(os.path.join(d, name))]
        if parts:
            with open(os.path.join(out, name), "w", encoding="utf-8") as fout:
                for part in reversed(parts):
                    with open(part, encoding="utf-8") as fin:
                        shutil.copyfileobj(fin, fout)
    spec_copy = os.path.join(folders[0], "spec.toml")
    if os.path.exists(spec_copy):
        shutil.copyfile(spec_copy, os.path.join(out, "spec.toml"))
    return len(order)
