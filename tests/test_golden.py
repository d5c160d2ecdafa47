"""Golden records: every condition of the paper's plan at the smoke profile, on the tiny models (every
method on every data set, and every variant the notebooks run), gives the records committed under
`tests/golden/`, apart from timings and software versions. A refactor that changes a number fails
here, and names the components whose version (`icft.versions`) must be bumped if the change is meant;
a change that *means* to change results bumps that version and regenerates the files in the same
commit, saying why:

    make golden            # ICFT_GOLDEN=write pytest tests/test_golden.py

On the machine kind that wrote them (same CPU flags, torch threads, torch and transformers versions,
recorded in `tests/golden/MACHINE.json`) the records must be identical; elsewhere floating-point
numbers may differ in their last digits (other kernels), so floats are compared to a relative 1e-4 and
everything else (keys, predictions, counts, texts) exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from icft import experiment, plan
from icft.verify import differences as _differences

GOLDEN = Path(__file__).parent / "golden"
MODEL = "tiny-gemma-3"
REL, ABS = 1e-4, 1e-6


def golden_conditions() -> list[experiment.Condition]:
    return plan.conditions("all", "smoke", MODEL, [0])


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    from icft.verify import canonical as what_it_computed  # timings, software and machine dropped

    return what_it_computed(record)


def differences(a: Any, b: Any, exact: bool, where: str = "") -> Iterator[str]:
    return _differences(a, b, exact, where, REL, ABS)


def machine() -> dict[str, Any]:
    """What decides the last digits of a float: CPU features, threads, library versions (the record's
    own `experiment.machine`, less the CPU's name and the device)."""
    import torch
    import transformers

    m = experiment.machine()
    return {"arch": m["arch"], "cpu_flags": m["cpu_flags"], "threads": m["threads"],
            "torch": torch.__version__, "transformers": transformers.__version__}


@pytest.fixture(scope="module")
def computed(smoke_results) -> dict[str, dict[str, Any]]:
    root, records = smoke_results
    return {r["key"]: canonical(r) for r in records}


def _by_condition(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {json.dumps(r["condition"], sort_keys=True): r for r in records}


def compare(computed: dict[str, dict[str, Any]], golden: list[dict[str, Any]], exact: bool) -> list[str]:
    """Why the computed records are not the golden ones, one line per condition (empty: they are).

    Records are matched by condition, so a changed key is told apart from a changed result:
    - inputs differ (a component's version bumped, a model's identity changed): the golden file is
      out of date, and `make golden` rewrites it in the commit that bumped;
    - inputs equal but the record differs: a result changed without a version bump. Bump the version
      of a component on the method's path (`icft.versions`), or undo the change.
    """
    from icft import versions

    stored = _by_condition(golden)
    failures = []
    for rec in computed.values():
        c = rec["condition"]
        name = f"{c['dataset']}-{c['method']}-{c['model']}-s{c['seed']} ({rec['key'][:8]})"
        old = stored.get(json.dumps(c, sort_keys=True))
        if old is None:
            failures.append(f"{name}: a condition no golden record has; if the plan meant to change, `make golden`")
            continue
        if old.get("inputs") != rec["inputs"]:
            changed = sorted(k for k in set(old.get("inputs", {}).get("versions", {})) | set(rec["inputs"]["versions"])
                             if old.get("inputs", {}).get("versions", {}).get(k) != rec["inputs"]["versions"].get(k))
            what = f"versions of {', '.join(changed)} changed" if changed else "its inputs changed (model identity or precision)"
            failures.append(f"{name}: {what} since the golden record was written: `make golden` and commit tests/golden/ "
                            "with the records this re-derives")
            continue
        diffs = list(differences(rec, old, exact))
        if diffs:
            path = ", ".join(versions.PATHS[c["method"]])
            failures.append(f"{name}: the result changed but no version did ({len(diffs)} differences, e.g. "
                            + "; ".join(diffs[:4]) + f"). If meant, bump one of {path} (or the data set's VERSION) in "
                            "lib/icft/versions.py and `make golden`; if not, the change is a bug")
    gone = set(stored) - set(_by_condition(list(computed.values())))
    failures += [f"golden condition no longer in the smoke plan: {g:.160}" for g in sorted(gone)]
    return failures


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
    golden = [json.loads(p.read_text()) for p in sorted(GOLDEN.glob("*.json")) if p.stem != "MACHINE"]
    failures = compare(computed, golden, exact)
    assert not failures, (f"{len(failures)} of {len(computed)} records differ from tests/golden/ "
                          f"({'exact' if exact else f'floats to rel {REL}'}):\n" + "\n".join(failures))


def test_a_result_changed_without_a_version_bump_is_named(computed):
    """The rule the golden test enforces, on one record: a changed number with unchanged versions asks
    for a bump (naming the method's components); a bumped version asks for `make golden` instead."""
    rec = next(r for r in computed.values() if r["condition"]["method"] == "icl")
    tampered = json.loads(json.dumps(rec))
    split = next(iter(tampered["accuracy"]))
    tampered["accuracy"][split]["accuracy"] += 0.25
    [failure] = compare({rec["key"]: rec}, [tampered], exact=True)
    assert "the result changed but no version did" in failure and "bump one of icl, scoring" in failure
    bumped = json.loads(json.dumps(tampered))
    bumped["inputs"]["versions"]["icl"] -= 1
    [failure] = compare({rec["key"]: rec}, [bumped], exact=True)
    assert "versions of icl changed" in failure and "make golden" in failure
    assert compare({rec["key"]: rec}, [rec], exact=True) == []


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
            # a token budget (the splitting comparison at matched tokens) resolves its steps when it runs
            budget = rec["training"]["max_steps"] if c["finetune"].get("token_epochs") else c["finetune"]["steps"]
            assert rec["training"]["steps"] == budget and (root / rec["adapter"]).is_dir()
        if c["method"] == "augmented":
            aug = rec["augmentation"]
            assert aug["counts"]["kept"] == aug["documents"] and "coverage" in aug["quality"]
            if c["augment"]["kind"] == "oracle":
                assert aug["documents"] > 0 and rec["compute"]["augment_flops"] == 0
            else:
                assert rec["compute"]["augment_flops"] > 0
