"""Which records a plan can use, which are stale and why, and where each one came from.

Records ship with the code (`results/runs/`, committed). A record is *current* for a condition when
its key is the condition's key: same fields, same model identity, same component versions. A record
of the same condition under another key is *stale*, and says why (which version, which weights).
Nothing stale is ever used: its file keeps its old name, and the condition counts as missing.

    icft records status [--profile quick --model M --seeds 0,1]    current / stale (why) / missing
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import IcftError
from .experiment import Condition, load_record
from .paths import results_dir


@dataclass
class Status:
    """A plan's conditions sorted by what `results/runs` holds for them."""

    current: list[tuple[Condition, dict[str, Any]]] = field(default_factory=list)
    stale: list[tuple[Condition, Path, str]] = field(default_factory=list)  # condition, old record, why
    missing: list[Condition] = field(default_factory=list)  # stale ones included: neither is usable
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # path, the problem and its fix
    other: int = 0  # records of conditions outside the plan (another model, profile or seed)
    outdated: list[tuple[Path, str]] = field(default_factory=list)  # outside the plan and stale for their own condition

    @property
    def planned(self) -> int:
        return len(self.current) + len(self.missing)


def why_stale(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What changed between a record's `inputs` and the condition's: "scoring 1 -> 2; model weights changed"."""
    if not old:
        return "made before records stated their inputs (record format 1)"
    parts = []
    ov, nv = old.get("versions", {}), new.get("versions", {})
    for comp in sorted(set(ov) | set(nv)):
        if comp not in ov:
            parts.append(f"now runs through {comp} (version {nv[comp]})")
        elif comp not in nv:
            parts.append(f"no longer runs through {comp}")
        elif ov[comp] != nv[comp]:
            parts.append(f"{comp} version {ov[comp]} -> {nv[comp]}")
    if old.get("model_sha256") != new.get("model_sha256"):
        parts.append(f"model weights changed (sha256 {str(old.get('model_sha256'))[:12]} -> {str(new.get('model_sha256'))[:12]})")
    for k in sorted((set(old) | set(new)) - {"versions", "model_sha256"}):
        if old.get(k) != new.get(k):
            parts.append(f"{k} {old.get(k, '-')} -> {new.get(k, '-')}")
    return "; ".join(parts) or "another key (the key's rule changed)"


def _read(path: Path) -> dict[str, Any]:
    """A record as JSON, whatever its format (stale ones included); IcftError if it is not one."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise IcftError(f"{path} is not a readable results record ({e})", fix=f"restore it (git checkout -- {path}) or delete it") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("condition"), dict) or not isinstance(rec.get("key"), str):
        raise IcftError(f"{path} is not a results record (no condition or key)", fix=f"move it out of results/runs: rm {path}")
    return rec


def status(conditions: Sequence[Condition], root: Path | None = None) -> Status:
    """Sort `conditions` by the records under `root`/runs (default results/): never runs anything."""
    base = (root or results_dir()) / "runs"
    st = Status()
    by_condition: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path in sorted(base.glob("*/*.json")):
        try:
            rec = _read(path)
        except IcftError as e:
            st.unreadable.append((path, f"{e} ({e.fix})"))
            continue
        by_condition.setdefault(json.dumps(rec["condition"], sort_keys=True), []).append((path, rec))
    planned = set()
    for c in conditions:
        ident = json.dumps(c.to_dict(), sort_keys=True)
        planned.add(ident)
        path = c.path(root)
        found = False
        if path.exists():
            try:
                st.current.append((c, load_record(path, c)))
                found = True
            except IcftError as e:
                st.unreadable.append((path, f"{e} ({e.fix})"))
        if not found:
            st.missing.append(c)
        # a record of the same condition under another key is stale, superseded or not
        for old_path, rec in by_condition.get(ident, []):
            if old_path != path:
                st.stale.append((c, old_path, why_stale(rec.get("inputs") or {}, c.inputs)))
    for ident, recs in by_condition.items():
        if ident in planned:
            continue
        st.other += len(recs)
        for old_path, rec in recs:
            why = _outdated(rec)
            if why:
                st.outdated.append((old_path, why))
    return st


def _outdated(rec: dict[str, Any]) -> str:
    """Why a record no plan asked about is stale for its own condition, or "" if it is current (or its
    model is not on this machine to tell)."""
    try:
        c = Condition.from_dict(rec["condition"])
        new = c.inputs
    except IcftError:
        return ""  # e.g. a user's model folder that is not here: nothing to compare with
    except (TypeError, ValueError, KeyError) as e:
        return f"its condition no longer reads ({e})"
    old = rec.get("inputs") or {}
    return why_stale(old, new) if old != new or rec["key"] != c.key else ""


def origin(records: Sequence[dict[str, Any]]) -> str:
    """Where a set of records was made, in one phrase: "commit abc1234, AMD EPYC 7B13 (2 threads)"."""
    commits = Counter(commit_of(r) for r in records)
    machines = Counter(f"{(r.get('machine') or {}).get('cpu') or '?'} ({(r.get('machine') or {}).get('threads', '?')} threads)"
                       for r in records)

    def most(counter: Counter) -> str:
        top, _ = counter.most_common(1)[0]
        return top + (f" and {len(counter) - 1} other{'s' if len(counter) > 2 else ''}" if len(counter) > 1 else "")

    return f"commit {most(commits)}, {most(machines)}" if records else "no records"


def commit_of(record: dict[str, Any]) -> str:
    """The short commit a record was made at, "+" marking a working tree with changes to lib/."""
    s = record.get("software") or {}
    return str(s.get("git_commit") or "?")[:7] + ("+" if s.get("git_dirty") else "")


def seconds_of(record: dict[str, Any]) -> float:
    return float(sum(v for v in (record.get("timings") or {}).values() if isinstance(v, (int, float))))


def estimate_seconds(missing: Sequence[Condition], records: Sequence[dict[str, Any]]) -> tuple[float, list[str]]:
    """What the missing conditions take at the rates the records measured (the mean time of records of
    the same data set, method and model, else of the same method), and the methods no record measured."""
    rates: dict[tuple, list[float]] = {}
    for r in records:
        c = r["condition"]
        for k in ((c["dataset"], c["method"], c["model"]), (c["method"],)):
            rates.setdefault(k, []).append(seconds_of(r))
    total, unmeasured = 0.0, []
    for c in missing:
        seen = rates.get((c.dataset, c.method, c.model)) or rates.get((c.method,))
        if seen:
            total += sum(seen) / len(seen)
        else:
            unmeasured.append(c.method)
    return total, sorted(set(unmeasured))


def summary(st: Status) -> str:
    """The line `make paper` prints first: what comes from shipped records, what is to compute and how long."""
    recs = [r for _, r in st.current]
    line = f"{len(st.current)} of {st.planned} conditions from shipped records ({origin(recs)})"
    if not st.missing:
        return line + ", 0 to compute"
    stale = len({c.key for c, _, _ in st.stale} & {c.key for c in st.missing})
    line += f", {len(st.missing)} to compute" + (f" ({stale} of them stale)" if stale else "")
    seconds, unmeasured = estimate_seconds(st.missing, recs)
    if recs:
        where = origin(recs).split(", ", 1)[1]
        line += f": ~{seconds / 60:.0f} min at the rates the records measured on {where}"
        if unmeasured:
            line += f", plus the {', '.join(unmeasured)} conditions, which no record has timed yet"
    return line


def provenance_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per record for the paper's appendix: the condition, the commit and the machine that made it."""
    rows = []
    for r in records:
        c, m = r["condition"], r.get("machine") or {}
        rows.append({"dataset": c["dataset"], "method": c["method"], "model": c["model"], "seed": c["seed"], "key": r["key"],
                     "commit": commit_of(r), "cpu": m.get("cpu") or "?", "threads": m.get("threads"),
                     "device": m.get("device", "?"), "seconds": round(seconds_of(r), 1)})
    return rows
