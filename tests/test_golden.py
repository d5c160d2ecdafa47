"""Golden records: every condition of the paper's plan at the smoke profile, on the tiny models (every
method on every data set, and every variant the notebooks run), gives the records committed under
`tests/golden/`, apart from timings and software versions. A refactor that changes a number fails
here; a change that *means* to change results regenerates the files in a commit of its own that says
why:

    make golden            # ICFT_GOLDEN=write pytest tests/test_golden.py

On the machine kind that wrote them (same CPU flags, torch threads, torch and transformers versions,
recorded in `tests/golden/MACHINE.json`) the records must be identical; elsewhere floating-point
numbers may differ in their last digits (other kernels), so floats are compared to a relative 1e-4 and
everything else (keys, predictions, counts, texts) exactly.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from icft import experiment, plan

GOLDEN = Path(__file__).parent / "golden"
MODEL = "tiny-gemma-3"
DROPPED = ("timings", "software", "machine")  # where and how fast it ran, not what it computed
REL, ABS = 1e-4, 1e-6


def golden_conditions() -> list[experiment.Condition]:
    return plan.conditions("all", "smoke", MODEL, [0])


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in DROPPED}


def machine() -> dict[str, Any]:
    """What decides the last digits of a float: CPU features, threads, library versions (the record's
    own `experiment.machine`, less the CPU's name and the device)."""
    import torch
    import transformers

    m = experiment.machine()
    return {"arch": m["arch"], "cpu_flags": m["cpu_flags"], "threads": m["threads"],
            "torch": torch.__version__, "transformers": transformers.__version__}


def differences(a: Any, b: Any, exact: bool, where: str = "") -> Iterator[str]:
    """Where `a` (computed) and `b` (golden) differ, as JSON paths with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{where}.{k}: {'missing' if k not in a else 'new'}"
            else:
                yield from differences(a[k], b[k], exact, f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} items, golden {len(b)}"
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from differences(x, y, exact, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return  # NaN (a share of no sentences) equals itself here
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool) and not exact:
        if not math.isclose(a, b, rel_tol=REL, abs_tol=ABS):
            yield f"{where}: {a!r}, golden {b!r}"
    elif a != b or type(a) is not type(b):
        yield f"{where}: {a!r}, golden {b!r}"


@pytest.fixture(scope="module")
def computed(smoke_results) -> dict[str, dict[str, Any]]:
    root, records = smoke_results
    return {r["key"]: canonical(r) for r in records}


def test_records_equal_the_golden_files(computed):
    conditions = golden_conditions()
    names = {c.key: c.name for c in conditions}
    if os.environ.get("ICFT_GOLDEN") == "write":
        GOLDEN.mkdir(exist_ok=True)
        for old in GOLDEN.glob("*.json"):
            old.unlink()
        for key, rec in computed.items():
            (GOLDEN / f"{names[key]}.json").write_text(json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        (GOLDEN / "MACHINE.json").write_text(json.dumps(machine(), indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {len(computed)} golden records to {GOLDEN}")

    assert (GOLDEN / "MACHINE.json").is_file(), "no golden records: run `make golden` and commit tests/golden/"
    exact = json.loads((GOLDEN / "MACHINE.json").read_text()) == machine()
    stored = {p.stem for p in GOLDEN.glob("*.json")} - {"MACHINE"}
    assert stored == set(names.values()), (
        f"the smoke plan's conditions changed: new {sorted(set(names.values()) - stored)}, "
        f"gone {sorted(stored - set(names.values()))}; if that is meant, `make golden` and say why in the commit")
    failures = []
    for key, rec in computed.items():
        golden = json.loads((GOLDEN / f"{names[key]}.json").read_text())
        diffs = list(differences(rec, golden, exact))
        if diffs:
            failures.append(f"{names[key]}: {len(diffs)} differences, e.g. " + "; ".join(diffs[:5]))
    assert not failures, (f"{len(failures)} of {len(computed)} records differ from tests/golden/ "
                          f"({'exact' if exact else f'floats to rel {REL}'}):\n" + "\n".join(failures))


def test_differences_are_found():
    golden = {"a": 1.0, "b": [1, 2], "c": {"d": "x"}, "n": float("nan")}
    assert list(differences(golden, golden, exact=True)) == []
    assert list(differences({"a": 1.0 + 1e-9, "b": [1, 2], "c": {"d": "x"}, "n": float("nan")}, golden, exact=False)) == []
    found = list(differences({"a": 1.1, "b": [1], "c": {"d": "y", "e": 0}, "n": 0.0}, golden, exact=False))
    assert found == [".a: 1.1, golden 1.0", ".b: 1 items, golden 2", ".c.d: 'y', golden 'x'", ".c.e: new", ".n: 0.0, golden nan"]
    assert list(differences({"a": 1.0 + 1e-9, "b": [1, 2], "c": {"d": "x"}, "n": float("nan")}, golden, exact=True)) == [".a: 1.000000001, golden 1.0"]


def test_every_record_states_where_it_was_made(smoke_results):
    _, records = smoke_results
    for rec in records:
        m = rec["machine"]
        assert m["cpu"] and m["threads"] >= 1 and m["device"] == "cpu" and isinstance(m["cpu_flags"], list)
        assert set(m["cpu_flags"]) <= set(experiment.CPU_FLAGS)
        assert rec["software"]["torch"] and rec["software"]["transformers"]


def test_every_method_gives_a_complete_record(smoke_results):
    """What the records say of themselves, whatever the numbers: every question scored, FT took its
    steps and saved its adapter, augmentation's counts add up and its FLOPs are counted."""
    root, records = smoke_results
    methods = {(r["condition"]["dataset"], r["condition"]["method"]) for r in records}
    assert {m for _, m in methods} == set(experiment.METHODS)
    assert {d for d, _ in methods} == {"reversal_curse", "simple_reversals", "simple_syllogisms", "semantic_structure",
                                       "process_knowledge"}
    for rec in records:
        c = rec["condition"]
        assert rec["accuracy"] and all(0 <= row["accuracy"] <= 1 for row in rec["accuracy"].values()), c
        assert len(rec["questions"]) == sum(rec["data"]["questions"].values())
        if c["method"] in ("finetune", "augmented"):
            assert rec["training"]["steps"] == c["finetune"]["steps"] and (root / rec["adapter"]).is_dir()
        if c["method"] == "augmented":
            aug = rec["augmentation"]
            assert aug["counts"]["kept"] == aug["documents"] and "coverage" in aug["quality"]
            if c["augment"]["kind"] == "oracle":
                assert aug["documents"] > 0 and rec["compute"]["augment_flops"] == 0
            else:
                assert rec["compute"]["augment_flops"] > 0
