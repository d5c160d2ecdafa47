"""Profiles, plans, summaries and claims: the layer between records and the paper."""

from __future__ import annotations

import math
import shlex

import pandas as pd
import pytest

from icft import analysis, claims, cli, experiment, labels, plan, profiles
from icft.variants import Variant, variant_of
from icft.errors import IcftError


def test_profile_defaults_fill_the_condition_and_overrides_win():
    c = experiment.condition("semantic_structure", "finetune", profile="quick")
    assert c.finetune == {**profiles.finetune_settings("quick")["semantic_structure"]}
    assert c.finetune["split"] == "none"  # the paper's semantic-structure FT baseline is unsplit
    d = experiment.condition("semantic_structure", "finetune", profile="quick", finetune={"split": "cumulative"})
    assert d.finetune["split"] == "cumulative" and d.finetune["lr"] == c.finetune["lr"] and d.key != c.key
    assert experiment.condition("simple_reversals", "augmented", profile="quick").augment["kind"] == "both"
    assert experiment.condition("simple_reversals", "icl").finetune == {}
    with pytest.raises(IcftError, match="unknown profile"):
        experiment.condition("simple_reversals", profile="huge")
    with pytest.raises(IcftError, match="unknown data set"):
        experiment.Condition("nope")


def test_the_data_version_is_part_of_the_key(monkeypatch):
    from icft import datasets

    c = experiment.condition("simple_reversals")
    before = c.key
    import dataclasses

    bumped = dataclasses.replace(datasets.REGISTRY["simple_reversals"], version="999")
    monkeypatch.setitem(datasets.REGISTRY, "simple_reversals", bumped)
    assert c.key != before


def test_plan_lists_each_condition_once_and_the_command_lines_rebuild_them():
    todo = plan.conditions("all", "smoke", "tiny-gemma-3", [0, 1])
    assert len({c.key for c in todo}) == len(todo)
    # headline conditions for every seed, ablations for the first only
    rc = [c for c in todo if c.dataset == "reversal_curse" and not c.data_options and c.model == "tiny-gemma-3"]
    assert {(c.method, c.seed) for c in rc} == {(m, s) for m in plan.HEADLINE for s in (0, 1)}
    assert {c.seed for c in todo if c.augment.get("kind") == "oracle"} == {0}
    assert any(c.model == "tiny-smollm2" for c in todo)  # the second family
    parser = cli.build_parser()
    for c in todo:
        args = parser.parse_args(shlex.split(plan.command_line(c))[1:])
        s = cli._parse_settings(args.set)
        again = experiment.condition(args.dataset, args.method, profile=args.profile, model=args.model, seed=args.seed,
                                     data=s["data"], icl=s["icl"], finetune=s["finetune"], augment=s["augment"])
        assert again.key == c.key, plan.command_line(c)
    with pytest.raises(IcftError, match="no notebook"):
        plan.conditions("99_nothing", "smoke", "tiny-gemma-3", [0])


def test_rc_data_applies_to_every_reversal_curse_condition_of_a_build():
    todo = plan.conditions("all", "smoke", "tiny-gemma-3", [0, 1], rc_data="data/rc")
    rc = [c for c in todo if c.dataset == "reversal_curse"]
    # the original files everywhere (both models, oracle, relevant-only ICL), but for the nonsense-name
    # variant, which renames the generated people
    assert {c.data_options.get("rc_data") for c in rc if not c.data_options.get("nonsense_names")} == {"data/rc"}
    assert {c.method for c in rc if c.data_options.get("nonsense_names")} == {"pretrained", "icl"}
    assert not any("rc_data" in c.data_options for c in rc if c.data_options.get("nonsense_names"))
    assert {c.model for c in rc if c.data_options.get("rc_data")} == {"tiny-gemma-3", "tiny-smollm2"}
    assert not any("rc_data" in c.data_options for c in todo if c.dataset != "reversal_curse")
    assert {c.key for c in todo if c.dataset != "reversal_curse"} == \
        {c.key for c in plan.conditions("all", "smoke", "tiny-gemma-3", [0, 1]) if c.dataset != "reversal_curse"}


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_sentence_splitting_runs_take_matched_steps_and_matched_tokens(profile):
    """C6 compares splits at two fixed budgets of E passes over the documents: matched steps (every run
    E whole epochs of the unsplit run's steps) and matched tokens (`token_epochs` = E); none stops early.
    The unsplit run serves both budgets; augmented FT runs at matched tokens on the first seed."""
    groups = plan.sentence_splitting(profile, "gemma-3-270m", [0, 1, 2])
    assert tuple(groups) == profiles.splitting_datasets(profile)
    for d, runs in groups.items():
        e = profiles.split_epochs(d, profile)
        assert all(r.finetune.get("stop_at") is None and r.finetune.get("eval_every") == 0 for r in runs)
        for s in plan.ablation_seeds([0, 1, 2]):
            mine = [r for r in runs if r.seed == s and r.method == "finetune"]
            at_steps = [r for r in mine if "token_epochs" not in r.finetune]
            at_tokens = [r for r in mine if "token_epochs" in r.finetune]
            one = experiment.condition(d, "finetune", profile=profile, finetune={"split": "none", "epochs": 1}, seed=s)
            assert {r.finetune["steps"] for r in at_steps} == {math.ceil(e * plan._steps_of(one))}
            assert [r.finetune["split"] for r in at_steps] == list(plan.SPLITS)
            assert [(r.finetune["split"], r.finetune["token_epochs"]) for r in at_tokens] == [(x, e) for x in plan.SPLITS[1:]]
        augmented = [r for r in runs if r.method == "augmented"]
        assert [(r.seed, r.finetune["split"], r.finetune["token_epochs"]) for r in augmented] == \
            ([] if profile == "smoke" else [(0, x, e) for x in plan.SPLITS])


def test_the_splitting_comparison_runs_where_documents_have_several_sentences():
    """At quick, the data sets whose documents hold 1.5 sentences or more on average, and only those."""
    from icft import datasets
    from icft.examples import make_examples

    def sentences_per_document(d: str) -> float:
        gen, _, _ = datasets.generate(d, "quick", 0)
        return len(make_examples(gen.documents, "independent")) / len(gen.documents)

    assert set(profiles.splitting_datasets("quick")) == {d for d in datasets.names() if sentences_per_document(d) >= 1.5}


def test_plan_cli_prints_run_commands(capsys):
    assert cli.main(["plan", "05_process_knowledge", "--profile", "smoke", "--model", "tiny-gemma-3", "--seeds", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("icft run process_knowledge") for line in lines)
    assert cli.main(["plan", "all", "--seeds", "0,x"]) == 2


def _questions(split: str, acc: float, n: int, per_cluster: int = 10, seed: int = 0) -> list[dict]:
    """n questions of one split, `per_cluster` to a cluster, round(acc * n) of them right at seeded
    random places; the same ids and clusters in every record of a seed, so methods pair."""
    import random

    right = set(random.Random(f"{split}-{acc}-{seed}").sample(range(n), round(acc * n)))
    return [{"id": f"{split}-{i}", "split": split, "cluster": f"{split}-c{i % max(1, n // per_cluster)}",
             "correct": i in right} for i in range(n)]


def _record(method: str, seed: int, split_acc: dict[str, tuple[float, int]], key: str | None = None, **cond) -> dict:
    c = experiment.condition("reversal_curse", method, profile="smoke", model="tiny-gemma-3", seed=seed, **cond)
    return {"key": key or experiment.key_of(c.to_dict(), {}), "condition": c.to_dict(), "validity": {},
            "accuracy": {s: {"accuracy": round(a * n) / n, "n": n, "chance": 0.25, "se": 0.0, "subsets": {}}
                         for s, (a, n) in split_acc.items()},
            "questions": [q for s, (a, n) in split_acc.items() for q in _questions(s, a, n, seed=seed)]}


def test_summary_pools_seeds_and_counts_each_record_once():
    r0 = _record("icl", 0, {"reversal": (0.5, 100)})
    r1 = _record("icl", 1, {"reversal": (0.7, 100)})
    t = analysis.summary([r0, r1, r0])  # r0 twice: it belongs to two groups of a notebook
    row = analysis.row(t, "icl", "reversal")
    assert row["n"] == 200 and row["n_seeds"] == 2 and row["accuracy"] == pytest.approx(0.6)
    # the interval resamples seeds and clusters: wider than the binomial of 200 independent questions
    assert row["se"] > (0.6 * 0.4 / 200) ** 0.5 and row["ci_low"] < 0.6 < row["ci_high"]
    assert row["seed_sd"] == pytest.approx(pd.Series([0.5, 0.7]).std())
    nonsense = _record("icl", 0, {"reversal": (0.3, 100)}, data={"nonsense_names": True})
    assert variant_of(nonsense["condition"]) == Variant.of("icl", nonsense_names=True)
    assert labels.text(variant_of(nonsense["condition"])) == "ICL (nonsense names)"  # made only to be shown
    assert analysis.row(analysis.summary([r0, nonsense]), Variant.of("icl", nonsense_names=True), "reversal")["accuracy"] == 0.3
    # the bar of notebook 06: the oracle at the profile's budget share, never under the smoke profile's sentence cap
    oracle = Variant.of("augmented", kind="oracle", max_sentences=None)
    for profile in ("smoke", "quick", "full"):
        planned = plan.beyond_the_paper(profile, "gemma-3-270m", [0])["oracle"]
        assert {variant_of(c) for c in planned} == {oracle}, profile
    budget = _record("augmented", 0, {"reversal": (0.9, 100)}, augment={"kind": "oracle", "max_sentences": 20})
    assert variant_of(budget["condition"]) == Variant.of("augmented", kind="oracle", max_sentences=20)
    assert labels.text(variant_of(budget["condition"])) == "augmented FT (oracle, 20 sentences)"
    # the sentence-splitting runs of notebook 04: the split and the fixed budget, not `epochs: None`
    runs = plan.sentence_splitting("smoke", "tiny-gemma-3", [0])["semantic_structure"]
    fixed = {"eval_every": 0, "stop_at": None}
    steps = runs[0].finetune["steps"]
    assert [variant_of(c) for c in runs[:5]] == [
        Variant.of("finetune", steps=steps, **fixed), Variant.of("finetune", split="independent", steps=steps, **fixed),
        Variant.of("finetune", split="cumulative", steps=steps, **fixed),
        Variant.of("finetune", split="independent", token_epochs=0.1, **fixed),
        Variant.of("finetune", split="cumulative", token_epochs=0.1, **fixed)]
    assert [labels.text(variant_of(c)) for c in (runs[1], runs[3])] == [
        f"FT (split independent, {steps} steps, fixed budget)", "FT (split independent, fixed budget, the tokens of 0.1 passes)"]


def _rc(ft_rev: float, icl_rev: float, aug_rev: float, pre_rev: float, seeds=(0, 1), **cond) -> list[dict]:
    return [_record(m, s, {"reversal": (a, 300)}, **cond) for s in seeds
            for m, a in (("finetune", ft_rev), ("icl", icl_rev), ("augmented", aug_rev), ("pretrained", pre_rev))]


def _claim(records: list[dict], cid: str) -> dict:
    return next(e for e in claims.claims_table(records) if e["claim"] == cid)


def test_claims_verdicts_follow_the_numbers():
    c1 = _claim(_rc(0.02, 0.95, 0.93, 0.25), "C1")
    assert c1["verdict"] == "reproduced" and c1["counts"]["holds"] == c1["of"] == 5, claims.to_markdown([c1])
    # preconditions stand beside the claim: the pretrained model at chance is not a part of it
    assert not any("pretrained" in p["test"] for p in c1["parts"])
    assert [c["ok"] for c in c1["preconditions"] if "pretrained" in c["check"]] == [True]
    # augmented FT well above FT but clearly below ICL is not "about as high as ICL": contradicted
    below = _claim(_rc(0.02, 0.95, 0.6, 0.25), "C1")
    assert below["verdict"] == "partly" and [p["status"] for p in below["parts"] if "about as high" in p["test"]] == ["contradicted"]
    # every part the other way round: contradicted, not merely "not reproduced"
    assert _claim(_rc(0.7, 0.3, 0.1, 0.25), "C1")["verdict"] == "contradicted"
    # indistinguishable methods at chance: only "about as high as" (within the margin) holds
    flat = _claim(_rc(0.25, 0.25, 0.25, 0.25), "C1")
    assert [p["test"] for p in flat["parts"] if p["status"] == "holds"] == [
        f"augmented FT about as high as ICL (not {100 * claims.MARGIN:.0f} pts below) on reversal"]
    c8 = _claim(_rc(0.02, 0.95, 0.93, 0.25), "C8")
    assert c8["verdict"] == "not run" and c8["missing"]
    assert "C1" in claims.to_markdown([c1])
    # the only precondition not met is the data's own: the reversal curse's documents tie each name to
    # its description's words, so co-occurrence answers the reversal (icft.shortcuts)
    assert [c["check"] for c in c1["preconditions"] if c["ok"] is False] == ["no word-statistics shortcut on reversal"]
    assert c1["caveats"] == [f"{c['check']}: {c['numbers']}" for c in c1["preconditions"] if c["ok"] is False]


def test_c2_names_its_cross_data_set_part_when_the_reversal_curse_is_missing():
    sr = [{**r, "key": "sr-" + r["key"], "condition": {**r["condition"], "dataset": "simple_reversals"}} for r in _rc(0.1, 0.6, 0.9, 0.5)]
    for r in sr:
        r["accuracy"]["reversal"]["chance"] = 0.5
    c2 = _claim(sr, "C2")
    gone = [p for p in c2["parts"] if "reversal curse" in p["test"]]
    assert len(gone) == 1 and gone[0]["status"] == "not run" and c2["verdict"] == "partly"
    both = _claim(sr + _rc(0.0, 0.95, 0.9, 0.25), "C2")
    assert [p["status"] for p in both["parts"] if "reversal curse" in p["test"]] == ["holds"]  # 50 < 95 points


def test_c6_compares_each_split_with_the_unsplit_run_of_its_budget():
    """Sentence splitting is judged at matched steps and at matched tokens, each split against the
    fixed-budget unsplit run of the same method and budget (notebook 04), never against the headline FT
    run (which stops by its own rule); the unsplit FT run at matched steps serves both budgets, and
    every run's validity is a precondition."""
    general = ("reversal", "syllogism", "category_holdout")

    def rec(c, acc):
        return {"key": c.key, "condition": c.to_dict(), "validity": {"ok": True},
                "accuracy": {s: {"accuracy": acc if s in general else 0.97, "n": 300, "chance": 0.25, "se": 0.0, "subsets": {}}
                             for s in (*general, "rephrased")},
                "questions": [q for s in (*general, "rephrased") for q in _questions(s, acc if s in general else 0.97, 300)]}

    runs = plan.sentence_splitting("smoke", "tiny-gemma-3", [0])["semantic_structure"]
    fixed = {"epochs": None, "eval_every": 0, "stop_at": None, "token_epochs": 0.1}
    runs += [experiment.condition("semantic_structure", "augmented", profile="smoke", model="tiny-gemma-3",
                                  finetune={"split": x, **fixed}) for x in plan.SPLITS]  # as quick plans them
    headline = experiment.condition("semantic_structure", "finetune", profile="smoke", model="tiny-gemma-3")
    unsplit = {id(runs[0]), id(runs[5])}  # plain FT at matched steps, augmented FT at matched tokens
    recs = [rec(headline, 0.9)] + [rec(c, 0.2 if id(c) in unsplit else 0.6) for c in runs]
    c6 = _claim(recs, "C6")
    # (FT at steps, FT at tokens, augmented FT at tokens) x (independent, cumulative) x 3 generalization splits
    assert c6["verdict"] == "reproduced" and c6["held"] == c6["of"] == 18, c6
    assert sum("matched tokens" in p["test"] for p in c6["parts"]) == 12
    assert len([c for c in c6["preconditions"] if "trained direction" in c["check"]]) >= len(runs)
    # without the augmented runs their parts are missing; without an unsplit run of a budget, "not run"
    c6 = _claim([r for r in recs if r["condition"]["method"] != "augmented" and r["key"] != runs[0].key], "C6")
    assert all(p["status"] == "not run" for p in c6["parts"]) and c6["of"] == 4


def test_claims_read_the_original_files_like_the_generated_set():
    """With RC_DATA the bars keep their names (the data source is a column), so C1 is checked, not "not run";
    records of the two sources are never pooled."""
    data = {"rc_data": "data/rc"}
    recs = _rc(0.02, 0.95, 0.93, 0.25, data=data)
    t = analysis.summary(recs)
    assert set(t["variant"]) == {Variant(m) for m in plan.HEADLINE} and set(t["source"]) == {"original files"}
    with pytest.warns(UserWarning, match="shortcut control is not computed for reversal_curse"):
        c1 = _claim(recs, "C1")
    assert c1["verdict"] == "reproduced"
    # the shortcut control needs the files themselves: without them it is not computed, and says so
    assert not any(c["check"].startswith("no word-statistics") for c in c1["preconditions"])
    both = analysis.summary(recs + [_record("icl", 0, {"reversal": (0.3, 300)})])
    assert sorted(both[both["variant"] == Variant("icl")]["source"]) == ["generated", "original files"]
    with pytest.raises(KeyError, match="2 rows"):
        analysis.row(both, "icl", "reversal")
    # C7 reads the generated data only: real-style against nonsense names on the same design
    nonsense = [_record("icl", s, {"reversal": (0.3, 300)}, data={"nonsense_names": True}) for s in (0, 1)]
    assert _claim(recs + nonsense, "C7")["verdict"] == "not run"
    generated = [_record("icl", s, {"reversal": (0.9, 300)}) for s in (0, 1)]
    assert _claim(recs + nonsense + generated, "C7")["verdict"] == "reproduced"


def test_claims_show_failed_preconditions_beside_the_verdict():
    recs = _rc(0.02, 0.95, 0.93, 0.25)
    for r in recs:
        if r["condition"]["method"] == "finetune":
            r["validity"] = {"ok": False}
            r["accuracy"]["d2p"] = {"accuracy": 0.6, "n": 100, "chance": 0.25, "se": 0.0, "subsets": {}}
            r["questions"] += _questions("d2p", 0.6, 100)
    c1 = _claim(recs, "C1")
    assert c1["verdict"] == "reproduced"  # computed as usual ...
    trained = [c for c in c1["caveats"] if not c.startswith("no word-statistics shortcut")]  # that one is the data's (above)
    assert len(trained) == 1 and "d2p 60%" in trained[0] and "95%" in trained[0]  # ... and flagged
    assert "Precondition* not met" in claims.to_markdown([c1])


def test_a_seed_below_95_percent_is_named_where_the_pooled_accuracy_is_above():
    recs = _rc(0.02, 0.95, 0.93, 0.25)
    for r in recs:
        if r["condition"]["method"] == "finetune":
            acc = {0: 0.98, 1: 0.92}[r["condition"]["seed"]]
            r["validity"] = {"ok": acc >= 0.95}
            r["accuracy"]["d2p"] = {"accuracy": acc, "n": 100, "chance": 0.25, "se": 0.0, "subsets": {}}
            r["questions"] += _questions("d2p", acc, 100, seed=r["condition"]["seed"])
    t = analysis.summary(recs)
    assert analysis.row(t, "finetune", "d2p")["seed_accuracy"] == {0: 0.98, 1: 0.92}
    trained = [c for c in _claim(recs, "C1")["caveats"] if not c.startswith("no word-statistics shortcut")]
    assert len(trained) == 1 and "d2p 95% (by seed: s0 98%, s1 92%)" in trained[0], trained


def test_random_models_hold_no_claim():
    """The smoke build's records (tests/golden: randomly initialised tiny models, every method on every
    data set) must not reproduce anything: no part holds beyond what the false discovery rate allows."""
    import json
    from pathlib import Path

    records = [json.loads(p.read_text()) for p in sorted((Path(__file__).parent / "golden").glob("*-*.json"))]
    entries = claims.claims_table([r for r in records if "condition" in r])
    tested = [p for e in entries for p in e["parts"] if p["status"] != "not run"]
    held = [f"{e['claim']} {e['model']}: {p['test']}" for e in entries for p in e["parts"] if p["status"] == "holds"]
    assert len(tested) >= 20 and len(held) <= 0.05 * len(tested), held
    assert not [e for e in entries if e["verdict"] in ("reproduced", "partly")], claims.to_markdown(entries)


def test_planning_loads_no_model_library():
    """`icft plan` and `icft data` start in well under a second: conditions, their options and the data
    registry import no torch (the model code is imported only when a condition runs)."""
    import subprocess
    import sys

    code = ("import sys; from icft import cli, plan; plan.conditions('01_reversal_curse', 'quick', 'gemma-3-270m', [0, 1]); "
            "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules); print(heavy); assert not heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_c1_reports_how_often_ft_picks_a_trained_target_name():
    """The share of reversal questions on which FT picks a d2p person's name (a training target),
    against those names' share of the choices: a model that always picks one when offered scores the
    share of questions offering one."""
    import json
    from pathlib import Path

    from icft import datasets

    ft = next(json.loads(p.read_text()) for p in sorted((Path(__file__).parent / "golden").glob("reversal_curse-finetune-tiny-gemma-3-*.json")))
    c = ft["condition"]
    gen, _, _ = datasets.generate(c["dataset"], c["profile"], c["seed"])
    group = {q.meta["person"]: q.meta["group"] for q in gen.questions}
    by_id = {q.id: q for q in gen.questions}
    offers = 0
    for row in ft["questions"]:
        if row["split"] == "reversal":
            names = [x.strip() for x in by_id[row["id"]].choices]
            target = [i for i, x in enumerate(names) if group.get(x) == "d2p"]  # distractors may be no one's
            row["pred"] = target[0] if target else row["pred"]
            offers += bool(target)
    n = sum(row["split"] == "reversal" for row in ft["questions"])
    tt = claims.trained_targets([ft], c["model"])
    assert tt["n"] == n and tt["share_picked"] == pytest.approx(offers / n) and 0 < tt["share_offered"] < tt["share_picked"]
    assert claims.trained_targets([ft], "another-model") is None


def test_budget_curve_reuses_the_headline_record_and_reads_shares():
    for profile, own in (("quick", 0.25), ("full", 1.0)):
        groups = plan.beyond_the_paper(profile, "gemma-3-270m", [0, 1, 2])
        headline = {c.name for c in groups["main_model"] if c.method == "augmented"}
        budget = groups["augmentation_budget"]
        # the profile's own share is the headline record, under its key, not a copy under another
        assert {c.name for c in budget if not c.augment.get("share") and "share" not in variant_of(c).opts} <= headline
        assert len({c.name for c in budget}) == len(budget) == len(plan.HEADLINE_DATASETS) * len(plan.AUGMENT_SHARES)
        assert {c.name for c in budget} & headline == {c.name for c in groups["main_model"]
                                                        if c.method == "augmented"}, profile
        shares = {variant_of(c).get("share", own) for c in budget}
        assert shares == {0.125, 0.25, 0.5, None if profile == "quick" else 1.0}  # None: all, where not the profile's own
        # the few-shot ablation: matched and generic on the same (ablation) seeds
        fs = groups["generic_examples"]
        assert {(c.dataset, c.seed) for c in fs if c.augment.get("fewshot") == "generic"} == \
               {(c.dataset, c.seed) for c in fs if "fewshot" not in c.augment} == \
               {(d, s) for d in plan.HEADLINE_DATASETS for s in (0, 1)}
    ft = _record("finetune", 0, {"reversal": (0.1, 40)})
    own = _record("augmented", 0, {"reversal": (0.3, 40)})  # smoke's own budget: every sentence (up to its caps)
    half = _record("augmented", 0, {"reversal": (0.2, 40)}, augment={"share": 0.5})
    other = _record("augmented", 0, {"reversal": (0.9, 40)}, augment={"share": 0.5, "fewshot": "generic"})
    b = analysis.budget_table(analysis.summary([ft, own, half, other]))
    assert list(zip(b["share"], b["accuracy"])) == [(0.0, 0.1), (0.5, 0.2), (1.0, 0.3)]  # not the generic run
    assert labels.text(variant_of(half["condition"])) == "augmented FT (50% augmented)"
    assert labels.text(variant_of(other["condition"])) == "augmented FT (generic examples, 50% augmented)"


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_model_scale_plan_is_on_demand_and_each_writer_run_names_its_writer(profile):
    """Notebook 08: every scale model runs the inference methods on every data set of the profile; `make
    paper` ("all") computes none of its conditions that no other notebook runs; the writer runs differ
    from the self-written ones by the writer's weights in their key."""
    main = "tiny-gemma-3" if profile == "smoke" else "gemma-3-270m"
    groups = plan.model_scale(profile, main, [0, 1])
    models = plan.scale_models(profile)
    inference = groups["inference"]
    assert {c.model for c in inference} == set(models) and {c.seed for c in inference} == {0}
    assert {c.dataset for c in inference} == set(plan._SMOKE_SCALE["datasets"] if profile == "smoke" else plan.HEADLINE_DATASETS)
    assert sum(c.icl.get("relevant_only", False) for c in inference) == len(inference) // 3
    if profile == "quick":  # the 1.5B model trains on one data set only
        big = [c for c in groups["training"] if c.model == "qwen2.5-coder-1.5b-instruct"]
        assert {c.dataset for c in big} == {"simple_reversals"} and len(big) == 2
    writer = [c for c in groups["writer"] if c.augment.get("writer")]
    assert writer and {c.augment["writer"] for c in writer} == {plan.writer_of(profile)}
    for c in writer:
        own = experiment.condition(c.dataset, "augmented", profile=profile, model=c.model, seed=0)
        assert c.key != own.key and "writer_sha256" in c.inputs and "writer_sha256" not in own.inputs
    paper = {c.key for c in plan.conditions("all", profile, main, [0, 1])}
    assert writer[0].key not in paper and "08_model_scale" in plan.ON_DEMAND
    every = {c.key for c in plan.every_condition(profile, main, [0, 1])}
    assert paper < every and writer[0].key in every
    # a model of one's own joins the axis
    assert plan.scale_models(profile, "/data/my-model")[-1] == "/data/my-model"
    with pytest.raises(IcftError, match="writer"):
        experiment.condition("simple_reversals", "augmented", profile=profile, augment={"kind": "oracle", "writer": "tiny-gemma-3"})


def test_scale_analysis_reads_no_records_and_known_answers():
    """Notebook 08 under `make paper FRESH=1` has no records: every table is empty, none fails; the
    trend and the gain fit give the known answers of made-up rows."""
    import pandas as pd

    from icft import analysis
    from icft.variants import Variant

    scale = analysis.scale_table(analysis.summary([]), ["tiny-smollm2", "tiny-gemma-3"])
    assert scale.empty and {"parameters", "family", "generalization"} <= set(scale.columns)
    assert analysis.gap_table(scale).empty and analysis.scale_trends(scale).empty and analysis.writer_table([]).empty
    assert analysis.gain_explained(analysis.writer_table([]))["r2"] is None
    rows = [{"variant": Variant("icl"), "dataset": "simple_reversals", "split": "reversal", "model": m, "parameters": p,
             "accuracy": a, "se": 0.02, "generalization": True} for m, p, a in (("a", 1, 0.3), ("b", 2, 0.5), ("c", 3, 0.8))]
    trend = analysis.scale_trends(pd.DataFrame(rows)).iloc[0]
    assert (trend["smallest"], trend["largest"], trend["direction"]) == ("a", "c", "up") and trend["difference"] == pytest.approx(0.5)
    flat = analysis.scale_trends(pd.DataFrame([{**r, "accuracy": 0.5 + 0.01 * i} for i, r in enumerate(rows)])).iloc[0]
    assert flat["direction"] == "flat"
    writers = pd.DataFrame({"coverage": [0.0, 0.2, 0.6, 1.0], "gain": [0.1, 0.2, 0.4, 0.6]})
    fit = analysis.gain_explained(writers)
    assert fit["n"] == 4 and fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(0.1) and fit["r2"] == pytest.approx(1.0)
