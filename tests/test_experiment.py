"""The runner: conditions -> records, written atomically, reused on rerun, checked when read."""

from __future__ import annotations

import json

import pytest

from icft import experiment, stats
from icft.errors import IcftError
from icft.experiment import Condition


def _cond(**kw) -> Condition:
    return Condition(**{"dataset": "simple_reversals", "profile": "smoke", "model": "tiny-gemma-3", "device": "cpu", **kw})


def test_condition_key_depends_on_what_decides_the_result():
    base = _cond()
    assert base.key == _cond().key
    assert base.key == _cond(device="cuda").key  # where it runs is not part of the experiment
    for other in (_cond(seed=1), _cond(method="icl"), _cond(icl={"fraction": 0.5}), _cond(model="tiny-smollm2")):
        assert other.key != base.key
    assert _cond(finetune={"steps": 10, "lr": 1e-3}).key == _cond(finetune={"lr": 1e-3, "steps": 10}).key


@pytest.mark.parametrize("kw", [{"method": "dreaming"}, {"seed": -1}, {"seed": "0"}])
def test_bad_conditions_are_refused(kw):
    with pytest.raises(IcftError):
        _cond(**kw)


def test_run_writes_a_record_and_reuses_it(tmp_path):
    cond = _cond(method="icl")
    rec = experiment.run(cond, root=tmp_path, progress=False)
    path = cond.path(tmp_path)
    assert path.is_file() and rec["key"] == cond.key
    assert set(rec["accuracy"]) == {"forward", "reversal"}
    for row in rec["accuracy"].values():
        assert 0 <= row["accuracy"] <= 1 and row["n"] == 6 and row["chance"] == 0.5
    assert len(rec["questions"]) == 12 and rec["compute"]["eval_flops"] > 0
    assert not rec["data"]["folder"].startswith("/")  # relative to the results folder
    mtime = path.stat().st_mtime_ns
    again = experiment.run(cond, root=tmp_path, progress=False)
    assert again == json.loads(path.read_text()) and path.stat().st_mtime_ns == mtime  # reused, not recomputed


def test_only_the_main_process_of_a_launch_writes(tmp_path, monkeypatch):
    """Under torchrun every process runs the condition; the others (RANK > 0) must not write."""
    cond = _cond(method="finetune", finetune={"steps": 2, "batch_size": 4})  # a few steps: what is written is the point
    monkeypatch.setenv("RANK", "1")
    rec = experiment.run(cond, root=tmp_path, progress=False)
    assert rec["key"] == cond.key and rec["accuracy"]
    assert not cond.path(tmp_path).exists() and not (tmp_path / rec["adapter"]).exists()
    monkeypatch.setenv("RANK", "0")
    experiment.run(cond, root=tmp_path, progress=False)
    assert cond.path(tmp_path).exists() and (tmp_path / rec["adapter"]).exists()


def test_fine_tuning_watches_the_validation_split(tmp_path):
    """A condition with eval_every checks the trained direction on a seeded sample of its validation
    questions while training; the record keeps every check, which questions, and their FLOPs."""
    cond = _cond(method="finetune", finetune={"steps": 4, "batch_size": 4, "eval_every": 2, "eval_questions": 4})
    rec = experiment.run(cond, root=tmp_path, progress=False)
    t = rec["training"]
    assert [e["step"] for e in t["evals"]] == [2, 4] and t["steps"] == t["max_steps"] == 4 and not t["stopped_early"]
    assert all(0 <= e["accuracy"] <= 1 for e in t["evals"])
    v = t["validation"]
    assert v["questions"] == 4 == len(v["ids"]) and v["checks"] == 2 and all("-validation-" in i for i in v["ids"])
    plain = experiment.run(_cond(method="finetune", finetune={"steps": 4, "batch_size": 4}), root=tmp_path, progress=False)
    assert plain["training"]["evals"] == [] and "validation" not in plain["training"]
    assert rec["compute"]["eval_flops"] > plain["compute"]["eval_flops"]  # the checks are counted


def test_another_model_can_write_the_augmentations(tmp_path):
    """augment.writer: the writer generates (its weights in the key and in the generations' cache),
    the condition's model is fine-tuned on what it wrote, and the FLOPs are the writer's."""
    from icft.registry import model_sha256

    opts = {"max_sentences": 2, "max_documents": 1, "max_new_tokens_local": 8, "max_new_tokens_global": 8}
    ft = {"steps": 2, "batch_size": 4}
    own = _cond(method="augmented", model="tiny-smollm2", augment=opts, finetune=ft)
    other = _cond(method="augmented", model="tiny-smollm2", augment={**opts, "writer": "tiny-gemma-3"}, finetune=ft)
    assert other.inputs["writer_sha256"] == model_sha256("tiny-gemma-3") and own.key != other.key
    a, b = (experiment.run(c, root=tmp_path, progress=False) for c in (own, other))
    assert b["augmentation"]["config"]["writer"] == "tiny-gemma-3" and "writer" not in a["augmentation"]["config"]
    caches = [json.loads(p.read_text())["fields"]["model"]["class"] for p in sorted((tmp_path / "augment").glob("*.json"))]
    assert {"LlamaForCausalLM", "Gemma3ForCausalLM"} <= set(caches)  # each writer's own generations
    assert a["augmentation"]["prompt_tokens"] != b["augmentation"]["prompt_tokens"]  # the writer's own tokenizer
    assert a["compute"]["augment_flops"] != b["compute"]["augment_flops"] > 0


def test_same_condition_gives_the_same_record_apart_from_timings(tmp_path):
    cond = _cond()
    a = experiment.run(cond, root=tmp_path / "a", progress=False)
    b = experiment.run(cond, root=tmp_path / "b", progress=False)
    a.pop("timings"), b.pop("timings")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_foreign_or_corrupt_records_are_reported(tmp_path):
    cond = _cond()
    path = cond.path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{half a rec")
    with pytest.raises(IcftError, match="not a readable"):
        experiment.run(cond, root=tmp_path, progress=False)
    path.write_text(json.dumps({"format": 999}))
    with pytest.raises(IcftError, match="another format"):
        experiment.run(cond, root=tmp_path, progress=False)
    path.write_text(json.dumps({"format": experiment.RECORD_FORMAT, "key": "0" * 16}))
    with pytest.raises(IcftError, match="another condition"):
        experiment.run(cond, root=tmp_path, progress=False)


def test_accuracy_table_standard_errors():
    from icft.records import Question
    from icft.scoring import ScoredQuestion, ScoreResult

    qs = [Question(f"q{i}", "p", [" a", " b"], answer=0, split="s", subset="x" if i < 4 else "y") for i in range(8)]
    right = [ScoredQuestion(q, [-1.0, -2.0] if i in (0, 1, 2, 4) else [-2.0, -1.0], [1, 1]) for i, q in enumerate(qs)]
    row = experiment.accuracy_table(ScoreResult(right))["s"]
    assert row["accuracy"] == 0.5 and row["n"] == 8
    assert row["se"] == pytest.approx((0.5 * 0.5 / 8) ** 0.5)
    assert row["subsets"] == {"x": {"accuracy": 0.75, "n": 4}, "y": {"accuracy": 0.25, "n": 4}}
    assert row["se_subsets"] == pytest.approx(0.25)  # sd 0.3536 over 2 subsets / sqrt(2)


def test_cli_run_reports_bad_input_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from icft.cli import main

    monkeypatch.setenv("ICFT_RESULTS", str(tmp_path))
    assert main(["run", "no_such_data", "--quiet"]) == 2
    assert "unknown data set" in capsys.readouterr().err
    assert main(["run", "simple_reversals", "--set", "steps=3"]) == 2
    assert "GROUP.KEY=VALUE" in capsys.readouterr().err


def test_records_table_and_grouped_bars(tmp_path):
    from icft import plots

    for method in ("pretrained", "icl"):
        experiment.run(_cond(method=method), root=tmp_path, progress=False)
    table = experiment.records_table(experiment.load_records("simple_reversals", root=tmp_path))
    assert sorted(zip(table["method"], table["split"])) == [
        ("icl", "forward"), ("icl", "reversal"), ("pretrained", "forward"), ("pretrained", "reversal")]
    ax = plots.grouped_bars(table, order=["forward", "reversal"], hue_order=["pretrained", "icl"])
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 4
    expected = [table.set_index(["method", "split"]).loc[(m, s), "accuracy"] for m in ("pretrained", "icl") for s in ("forward", "reversal")]
    assert heights == pytest.approx(expected)
    assert len(ax.collections) >= 2  # the chance lines
    assert not [t for t in ax.texts if t.get_text() == "no record"]
    # a method asked for with no record (a build from the records there are) is marked on each of its bars
    ax = plots.grouped_bars(table, order=["forward", "reversal"], hue_order=["pretrained", "icl", "finetune"])
    assert [t.get_text() for t in ax.texts] == ["no record", "no record"]


def test_binomial_test_and_validity_checks():
    assert stats.binomial_p_above(0, 10, 0.5) == pytest.approx(1.0)
    assert stats.binomial_p_above(10, 10, 0.5) == pytest.approx(0.5**10)
    assert stats.binomial_p_above(6, 10, 0.5) == pytest.approx(386 / 1024)
    row = lambda acc, n=40: {"accuracy": acc, "n": n, "chance": 0.5}  # noqa: E731
    ok = experiment.validity(_cond(), {"forward": row(0.55), "reversal": row(0.5)})
    assert ok["ok"] and ok["above_chance_p"]["reversal"] > 0.5
    guessable = experiment.validity(_cond(), {"forward": row(0.9), "reversal": row(0.5)})
    assert not guessable["ok"] and guessable["below_chance"] == []
    biased = experiment.validity(_cond(), {"forward": row(0.05), "reversal": row(0.5)})
    assert biased["ok"] and biased["below_chance"] == ["forward"]
    assert biased["below_chance_p"]["forward"] == pytest.approx((1 + 40 + 780) / 2**40)  # P(X <= 2), n=40
    ft = experiment.validity(_cond(method="finetune"), {"forward": row(1.0), "reversal": row(0.1)})
    assert ft == {"trained_accuracy": {"forward": 1.0}, "ok": True}
    assert not experiment.validity(_cond(method="finetune"), {"forward": row(0.9), "reversal": row(0.1)})["ok"]


# Every method on every data set at the smoke profile: tests/test_golden.py (the golden records).


def test_trained_splits_are_splits_of_their_data_sets():
    from icft import datasets

    for name in datasets.names():
        gen, _, _ = datasets.generate(name, "smoke", 0)
        splits = {q.split for q in gen.questions}
        assert set(datasets.spec(name).trained_splits) <= splits, name


def test_grouped_bars_give_each_variant_its_own_colour():
    """Variants of one method (FT with and without splitting) must not share the method's colour."""
    import pandas as pd
    from matplotlib.colors import to_rgba

    from icft import plots
    from icft.variants import Variant

    variants = [Variant("finetune"), Variant.of("finetune", split="independent"), Variant.of("finetune", split="cumulative")]
    table = pd.DataFrame([{"dataset": "semantic_structure", "variant": v, "split": s, "accuracy": 0.5, "se": 0.1, "chance": 0.25}
                          for v in variants for s in ("category_holdout", "reversal")])
    ax = plots.grouped_bars(table, hue="variant", hue_order=["finetune", *variants[1:]])  # a method name: its plain variant
    colours = [tuple(p.get_facecolor()) for p in ax.patches[::2]]
    assert len(set(colours)) == 3
    assert to_rgba(plots.METHOD_COLOURS["finetune"]) == colours[0]  # the method's own colour stays
    # the data set's split order, not the table's; labels made for the legend only
    assert [t.get_text() for t in ax.get_xticklabels()] == ["reversal", "category\nholdout"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["FT", "FT (split independent)", "FT (split cumulative)"]


def test_compute_scatter_marks_method_data_set_and_model():
    import pandas as pd

    from icft import plots

    compute = pd.DataFrame([{"dataset": d, "model": m, "method": meth, "total_flops": 1e10 * (i + 1), "generalization": 0.5}
                            for i, (d, m, meth) in enumerate([("reversal_curse", "a", "icl"), ("reversal_curse", "b", "icl"),
                                                             ("simple_reversals", "a", "finetune")])])
    ax = plots.compute_scatter(compute, main_model="a")
    assert sum(len(c.get_offsets()) for c in ax.collections) == 3
    hollow = [c for c in ax.collections if len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0]
    assert len(hollow) == 1  # model b
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["reversal curse", "simple reversals", "hollow: other model"]


@pytest.mark.parametrize("model", ["/some/folder", "../../outside", "org/name", "a b/c:d", "..", "/x/../../y/"])
def test_record_file_names_are_safe_whatever_the_model_argument(tmp_path, model, monkeypatch):
    """A folder, a hub id or `..` in --model never makes nested folders or a path outside results/."""
    from icft import registry

    monkeypatch.setattr(registry, "model_sha256", lambda name: "0" * 64)  # none of these exists: the name is what is tested
    c = _cond(model=model)
    path = c.path(tmp_path)
    assert path.parent == tmp_path / "runs" / c.dataset and "/" not in c.name and ".." not in c.name
    assert path.resolve().is_relative_to((tmp_path / "runs").resolve())
    assert experiment.model_slug(model) != experiment.model_slug(model + "2")  # the hash tells folders apart
    assert experiment.model_slug("tiny-gemma-3") == "tiny-gemma-3"  # plain names stay as they are


def test_an_icl_condition_naming_no_fraction_takes_the_largest_that_fits(tmp_path, monkeypatch):
    """As in the first build: a context longer than the window is halved until it fits (here a window
    made small), not refused."""
    from icft import icl

    full = experiment.run(experiment.condition("simple_reversals", "icl", profile="smoke", model="tiny-gemma-3", device="cpu"),
                          root=tmp_path, progress=False)
    assert full["icl"]["fraction"] == 1.0
    real_room = icl.room
    monkeypatch.setattr(icl, "room", lambda model, longest: real_room(model, longest) and 200)
    halved = experiment.run(experiment.condition("simple_reversals", "icl", profile="smoke", model="tiny-gemma-3", seed=1,
                                                 device="cpu"), root=tmp_path, progress=False)
    assert 0 < halved["icl"]["fraction"] < 1.0
