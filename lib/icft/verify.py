"""`make verify`: re-derive shipped records on this machine and compare them with what ships.

    icft verify [NAME ...] [--n 3 --seed 0] [--figure fig3] [--profile quick --model M --seeds 0,1]

NAME is a record's name (`icft records status --list`) or a key prefix; without names, a seeded
sample of `--n` shipped conditions across methods and data sets (one of them a fine-tuning one when
any ships), or every condition of one figure. Each is run afresh into a scratch results folder
(`build/verify/`: the shipped records are never touched, and an interrupted verify leaves nothing
half-written) and compared with its shipped record:

- on the machine kind that made it (same CPU flags, threads, device, torch and transformers
  versions): the records must be identical apart from timings, software and machine;
- elsewhere: per split, the accuracy difference and an exact McNemar test on the questions one run
  got right and the other wrong (paired: same questions), which fails below `ALPHA`; and the share of
  questions whose predicted choice agrees.

One table is printed, `results/verify.json` written, and the exit code is non-zero on a mismatch.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import IcftError
from .experiment import Condition
from .io import atomic_write_json
from .paths import repo_root, results_dir

ALPHA = 0.01  # per split; a shipped record and its re-derivation agree unless this unlikely by chance
DROPPED = ("timings", "software", "machine")  # where and how fast it ran, not what it computed
TRAINED = ("finetune", "augmented")


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in DROPPED}


def machine_kind(record: dict[str, Any]) -> dict[str, Any]:
    """What decides a record's last digits: CPU features, threads, device, torch and transformers."""
    m, s = record.get("machine") or {}, record.get("software") or {}
    return {"arch": m.get("arch"), "cpu_flags": m.get("cpu_flags"), "threads": m.get("threads"),
            "device": m.get("device"), "torch": s.get("torch"), "transformers": s.get("transformers")}


def differences(a: Any, b: Any, exact: bool = True, where: str = "", rel: float = 1e-4, abs_: float = 1e-6) -> Iterator[str]:
    """Where `a` (computed) and `b` (reference) differ, as JSON paths with both values; floats to
    `rel`/`abs_` unless `exact`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{where}.{k}: {'missing' if k not in a else 'new'}"
            else:
                yield from differences(a[k], b[k], exact, f"{where}.{k}", rel, abs_)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} items, golden {len(b)}"
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from differences(x, y, exact, f"{where}[{i}]", rel, abs_)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return  # NaN (a share of no sentences) equals itself here
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool) and not exact:
        if not math.isclose(a, b, rel_tol=rel, abs_tol=abs_):
            yield f"{where}: {a!r}, golden {b!r}"
    elif a != b or type(a) is not type(b):
        yield f"{where}: {a!r}, golden {b!r}"


def per_split(shipped: dict[str, Any], fresh: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per split: both accuracies, their difference, the exact McNemar p on paired correctness, and
    the share of questions with the same predicted choice."""
    from scipy.stats import binomtest

    old = {q["id"]: q for q in shipped["questions"]}
    rows: dict[str, dict[str, Any]] = {}
    by_split: dict[str, list[tuple[dict, dict]]] = {}
    for q in fresh["questions"]:
        if q["id"] in old:
            by_split.setdefault(q["split"], []).append((old[q["id"]], q))
    for split, pairs in sorted(by_split.items()):
        only_old = sum(a["correct"] and not b["correct"] for a, b in pairs)
        only_new = sum(b["correct"] and not a["correct"] for a, b in pairs)
        discordant = only_old + only_new
        p = binomtest(only_old, discordant, 0.5).pvalue if discordant else 1.0
        n = len(pairs)
        acc_old, acc_new = sum(a["correct"] for a, _ in pairs) / n, sum(b["correct"] for _, b in pairs) / n
        rows[split] = {"n": n, "shipped": acc_old, "fresh": acc_new, "difference": acc_new - acc_old, "mcnemar_p": p,
                       "agree": sum(a["pred"] == b["pred"] for a, b in pairs) / n}
    return rows


def compare(shipped: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """One verification: exact on the machine kind that made the record, statistical elsewhere."""
    same = machine_kind(shipped) == machine_kind(fresh)
    splits = per_split(shipped, fresh)
    out: dict[str, Any] = {"mode": "exact" if same else "statistical", "splits": splits,
                           "same_questions": sorted(q["id"] for q in shipped["questions"]) == sorted(q["id"] for q in fresh["questions"])}
    if same:
        diffs = list(differences(canonical(fresh), canonical(shipped)))
        out["differences"] = diffs[:10]
        out["n_differences"] = len(diffs)
        out["ok"] = not diffs
    else:
        out["ok"] = out["same_questions"] and all(row["mcnemar_p"] >= ALPHA for row in splits.values())
    return out


def choose(records: Sequence[dict[str, Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A seeded sample of `n` records across methods and data sets: a fine-tuning one first (where any
    ships; among the faster half by recorded time, so `make verify` takes minutes, not an hour), then
    one per other method in turn, each from a data set not yet chosen where one is left."""
    from .provenance import seconds_of

    rng = random.Random(seed)
    pool = sorted(records, key=lambda r: r["key"])
    chosen: list[dict[str, Any]] = []
    trained = sorted((r for r in pool if r["condition"]["method"] in TRAINED), key=seconds_of)
    if trained and n > 0:
        chosen.append(rng.choice(trained[: max(1, (len(trained) + 1) // 2)]))
    used = {chosen[0]["condition"]["method"]} if chosen else set()
    methods = sorted({r["condition"]["method"] for r in pool} - used)
    rng.shuffle(methods)
    while len(chosen) < min(n, len(pool)):
        progressed = False
        for m in methods:
            if len(chosen) >= n:
                break
            left = [r for r in pool if r["condition"]["method"] == m and r not in chosen]
            fresh_sets = [r for r in left if r["condition"]["dataset"] not in {c["condition"]["dataset"] for c in chosen}]
            if left:
                chosen.append(rng.choice(fresh_sets or left))
                progressed = True
        if not progressed:
            chosen += [r for r in pool if r not in chosen][: n - len(chosen)]
    return chosen


def find(records: Sequence[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Records by name (file stem) or key prefix; IcftError naming what exists."""
    from .experiment import Condition

    out = []
    for name in names:
        hits = [r for r in records if Condition.from_dict(r["condition"]).name == name or r["key"].startswith(name)]
        if len(hits) != 1:
            some = ", ".join(sorted(Condition.from_dict(r["condition"]).name for r in records)[:4])
            raise IcftError(f"{'no' if not hits else 'more than one'} shipped record is named {name!r}",
                            fix=f"give a record name or key prefix from `icft records status --list` (e.g. {some}, ...)")
        out.append(hits[0])
    return out


def run(records: Sequence[dict[str, Any]], scratch: Path | None = None, device: str = "auto",
        out: Path | None = None) -> dict[str, Any]:
    """Re-derive each record's condition into `scratch` and compare; write and return the report."""
    from . import experiment
    from .provenance import commit_of

    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    scratch = scratch or repo_root() / "build" / "verify" / time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for i, shipped in enumerate(records, 1):
        c = Condition.from_dict(shipped["condition"], device=device)
        print(f"[verify] ({i}/{len(records)}) {c.name}: re-deriving (shipped one took {_took(shipped)})", flush=True)
        t = time.perf_counter()
        with warnings.catch_warnings():  # as in run_all: peft's deprecation notice says nothing to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            fresh = experiment.run(c, root=scratch, force=True, progress=False)
        row = {"name": c.name, "key": c.key, "method": c.method, "dataset": c.dataset, "seconds": round(time.perf_counter() - t, 1),
               "shipped_commit": commit_of(shipped), "shipped_machine": (shipped.get("machine") or {}).get("cpu"),
               **compare(shipped, fresh)}
        rows.append(row)
        print(f"[verify]     {'ok' if row['ok'] else 'MISMATCH'} ({row['mode']}) in {row['seconds']:.0f}s", flush=True)
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": _head(), "machine": experiment.machine(),
              "alpha": ALPHA, "test": "exact McNemar (paired correctness) per split", "conditions": rows,
              "ok": all(r["ok"] for r in rows), "scratch": str(scratch)}
    atomic_write_json(out or results_dir() / "verify.json", report)
    return report


def _took(record: dict[str, Any]) -> str:
    from .provenance import seconds_of

    return f"{seconds_of(record):.0f}s on {(record.get('machine') or {}).get('cpu', '?')}"


def _head() -> str | None:
    from .experiment import _git_commit

    return _git_commit()


def table(report: dict[str, Any]) -> str:
    """The report as a text table: one line per condition and split."""
    lines = [f"{'condition':62s} {'mode':11s} {'split':16s} {'shipped':>7s} {'fresh':>7s} {'diff':>6s} {'p':>6s} {'agree':>6s}  verdict"]
    for r in report["conditions"]:
        verdict = "ok" if r["ok"] else "MISMATCH"
        if r["mode"] == "exact" and not r["ok"]:
            verdict += f" ({r['n_differences']} differences, e.g. {r['differences'][0]})"
        for j, (split, s) in enumerate(r["splits"].items()):
            lines.append(f"{r['name'] if j == 0 else '':62.62s} {r['mode'] if j == 0 else '':11s} {split:16.16s} "
                         f"{s['shipped']:7.1%} {s['fresh']:7.1%} {s['difference']:+6.1%} {s['mcnemar_p']:6.3f} {s['agree']:6.1%}"
                         f"  {verdict if j == 0 else ''}")
    lines.append(f"{sum(r['ok'] for r in report['conditions'])} of {len(report['conditions'])} conditions verified"
                 + ("" if report["ok"] else "; MISMATCH") + f" (scratch records in {report['scratch']})")
    return "\n".join(lines)
