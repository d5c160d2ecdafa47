"""From records to the numbers the figures, the claims table and the paper show.

A *variant* (`icft.variants.Variant`: a method and the options that differ from the profile's) is a
condition without its seed: one bar of a figure. Its accuracy on a split is pooled over seeds (every
seed has its own generated data set and its own runs). Its interval is a hierarchical bootstrap
(`icft.stats`): seeds, then question clusters within a seed (a person, a fact, a category), so
neither the questions about one person nor the questions of one fine-tuning run count as independent
draws; `se` is the bootstrap's standard deviation. The spread between seeds is reported beside it
(`seed_sd`) and is part of the interval. Where the paper uses the spread over task subsets (semantic
structure) `se_subsets` holds that one.

    records = [experiment.run(c) for c in plan.conditions(...)]
    boot = analysis.bootstrap(records)         # every cell's replicates, paired within a seed
    table = analysis.summary(records, boot)    # one row per variant x split
    boot.cell(analysis.key(analysis.row(table, "icl", "reversal")))  # one cell's Estimate
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .stats import Bootstrap, question_frame
from .variants import Variant, as_variant, data_source, variant_of

# what names one cell (a variant on a split): a row of the summary and a cell of the bootstrap
KEY = ("dataset", "source", "model", "profile", "variant", "split")


def unique(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record once (a condition can belong to several groups of a notebook), in first-seen order."""
    seen: set[str] = set()
    return [r for r in records if not (r["key"] in seen or seen.add(r["key"]))]


def variants(records: Sequence[dict[str, Any]]) -> list[Variant]:
    """The variants of `records`, each once, in first-seen order."""
    return list(dict.fromkeys(variant_of(r["condition"]) for r in records))


def cell_of(condition: dict[str, Any], split: str) -> tuple:
    """The cell (`KEY`) a record's questions on `split` belong to."""
    c = condition
    return (c["dataset"], data_source(c), c["model"], c["profile"], variant_of(c), split)


def key(row: pd.Series) -> tuple:
    """The cell of a summary row."""
    return tuple(row[k] for k in KEY)


def bootstrap(records: Sequence[dict[str, Any]], replicates: int | None = None, seed: int = 0) -> Bootstrap:
    """The hierarchical bootstrap of every cell of `records` (seeded, paired within a seed's data)."""
    from .stats import REPLICATES

    return Bootstrap(question_frame(unique(records), cell_of), replicates or REPLICATES, seed)


SUMMARY_COLUMNS = ["dataset", "source", "model", "profile", "variant", "method", "split", "accuracy", "se", "ci_low", "ci_high",
                   "n", "n_seeds", "seeds", "seed_accuracy", "seed_sd", "chance", "se_subsets", "subsets", "valid"]


def summary(records: Sequence[dict[str, Any]], boot: Bootstrap | None = None) -> pd.DataFrame:
    """One row per variant (dataset, model, `Variant`) and split: accuracy pooled over seeds, its
    bootstrap se and 95% interval (`bootstrap`), n (questions, all seeds), seeds, each seed's accuracy
    (`seed_accuracy`, seed -> accuracy) and their sd, chance, se over subsets."""
    boot = boot if boot is not None else bootstrap(records)
    rows: dict[tuple, dict[str, Any]] = {}
    for rec in unique(records):
        c = rec["condition"]
        variant = variant_of(c)
        source = data_source(c)
        for split, a in rec["accuracy"].items():
            r = rows.setdefault(cell_of(c, split), {"dataset": c["dataset"], "source": source, "model": c["model"], "profile": c["profile"],
                                      "variant": variant, "method": c["method"], "split": split,
                                      "correct": 0.0, "n": 0, "seeds": [], "per_seed": [], "chance_sum": 0.0,
                                      "se_subsets": [], "subsets": {}, "valid": []})
            if "ok" in rec.get("validity", {}):
                r["valid"].append(bool(rec["validity"]["ok"]))
            r["correct"] += a["accuracy"] * a["n"]
            r["n"] += a["n"]
            r["chance_sum"] += a["chance"] * a["n"]
            r["seeds"].append(c["seed"])
            r["per_seed"].append(a["accuracy"])
            if a.get("se_subsets") is not None:
                r["se_subsets"].append(a["se_subsets"])
            for s, sub in a.get("subsets", {}).items():
                acc = r["subsets"].setdefault(s, [0.0, 0])
                acc[0] += sub["accuracy"] * sub["n"]
                acc[1] += sub["n"]
    out = []
    for cell, r in rows.items():
        n = r["n"]
        p = r["correct"] / n
        est = boot.cell(cell)
        se = est.se
        lo, hi = est.interval
        ps = r["per_seed"]
        sd = float(pd.Series(ps).std()) if len(ps) > 1 else float("nan")
        out.append({
            "dataset": r["dataset"], "source": r["source"], "model": r["model"], "profile": r["profile"], "variant": r["variant"],
            "method": r["method"], "split": r["split"], "accuracy": p, "se": se,
            "ci_low": lo, "ci_high": hi, "n": n,
            "n_seeds": len(ps), "seeds": ",".join(map(str, sorted(r["seeds"]))),
            "seed_accuracy": dict(sorted(zip(r["seeds"], ps))), "seed_sd": sd,
            "chance": r["chance_sum"] / n,
            "se_subsets": sum(r["se_subsets"]) / len(r["se_subsets"]) if r["se_subsets"] else float("nan"),
            "subsets": {s: v[0] / v[1] for s, v in sorted(r["subsets"].items())},
            # the record's validity check (FT: trained direction >= 95%; pretrained: not above chance), all seeds
            "valid": all(r["valid"]) if r["valid"] else None,
        })
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)  # the columns even without records: a figure of none is empty, not an error


def row(table: pd.DataFrame, variant: Variant | str, split: str, **where: Any) -> pd.Series:
    """The one row of `variant` (a method name: its plain variant) on `split`, narrowed by `where` columns."""
    variant = as_variant(variant)
    sel = (table["variant"] == variant) & (table["split"] == split)
    for k, v in where.items():
        sel &= table[k] == v
    hits = table[sel]
    if len(hits) != 1:
        # several rows: the table mixes models, data sets or data sources the caller did not select
        raise KeyError(f"{len(hits)} rows for variant={variant!r} split={split!r} {where}")
    return hits.iloc[0]


def bars_table(table: pd.DataFrame, variants: Sequence[Variant | str], splits: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of `variants` on `splits`, for `plots.grouped_bars` (hue=variant)."""
    t = table[table["variant"].isin([as_variant(v) for v in variants])]
    if splits is not None:
        t = t[t["split"].isin(splits)]
    return t


def to_json_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the paper (Typst reads them): floats rounded, NaN as null; a variant becomes its
    `options` (the paper selects by `method` and `options`) and a `label` to show."""
    from . import labels

    out = []
    for r in table.to_dict(orient="records"):
        clean = {}
        for k, v in r.items():
            if isinstance(v, Variant):
                clean["options"] = v.to_dict()["options"]
                clean["label"] = labels.variant(v)
            elif isinstance(v, float):
                clean[k] = None if math.isnan(v) else round(v, 4)
            elif isinstance(v, dict):
                clean[k] = {kk: round(vv, 4) if isinstance(vv, float) else vv for kk, vv in v.items()}
            else:
                clean[k] = v
        out.append(clean)
    return out


def write_results(name: str, **payload: Any) -> Path:
    """results/<name>.json: what a notebook hands to the paper (Typst reads it). DataFrames become rows."""
    from .io import atomic_write_json
    from .paths import results_dir

    out = {k: to_json_rows(v) if isinstance(v, pd.DataFrame) else v for k, v in payload.items()}
    path = results_dir() / f"{name}.json"
    atomic_write_json(path, out)
    return path


def compute_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per record: FLOPs spent on training, augmentation and evaluation, wall time, and the mean accuracy
    over the data set's generalization splits (those not trained on), for the accuracy-vs-compute plot."""
    from .datasets import spec

    rows = []
    for rec in unique(records):
        c = rec["condition"]
        trained = set(spec(c["dataset"]).trained_splits)
        general = [a["accuracy"] for s, a in rec["accuracy"].items() if s not in trained] or \
                  [a["accuracy"] for a in rec["accuracy"].values()]
        comp = rec.get("compute", {})
        t = rec.get("timings", {})
        rows.append({
            "dataset": c["dataset"], "model": c["model"], "variant": variant_of(c), "method": c["method"], "seed": c["seed"],
            "train_flops": comp.get("train_flops", 0.0), "augment_flops": comp.get("augment_flops", 0.0),
            "eval_flops": comp.get("eval_flops", 0.0),
            "total_flops": sum(comp.get(k, 0.0) for k in ("train_flops", "augment_flops", "eval_flops")),
            "seconds": sum(v for k, v in t.items() if isinstance(v, (int, float))),
            "generalization": sum(general) / len(general),
        })
    return pd.DataFrame(rows, columns=["dataset", "model", "variant", "method", "seed", "train_flops", "augment_flops", "eval_flops",
                                       "total_flops", "seconds", "generalization"])


def augmentation_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per augmented record: what was generated and how much of it is true, false or unverifiable
    against the data set's ground truth, and the share of each test split's facts it states."""
    rows = []
    for rec in unique(records):
        aug = rec.get("augmentation")
        if not aug:
            continue
        c, q = rec["condition"], aug.get("quality", {})
        r = {"dataset": c["dataset"], "model": c["model"], "variant": variant_of(c), "seed": c["seed"],
             "kind": aug["config"]["kind"], "documents": aug["documents"], "generated_tokens": aug["generated_tokens"],
             "sentences": q.get("sentences", 0), "share_true": q.get("share_true"), "share_false": q.get("share_false"),
             "share_unverifiable": q.get("share_unverifiable")}
        for split, cov in sorted(q.get("coverage", {}).items()):
            r[f"covers_{split}"] = cov.get("share")
        rows.append(r)
    return pd.DataFrame(rows)


def budget_table(table: pd.DataFrame) -> pd.DataFrame:
    """The augmentation budget curve's points from a `summary` table: plain FT (share 0) and augmented
    FT whose only option is its budget, with a `share` column (the profile's own where not set;
    1 = every sentence and document)."""
    from . import profiles

    def share(r: pd.Series) -> float | None:
        v = r["variant"]
        if v.method == "finetune" and not v.options:
            return 0.0
        if v.method != "augmented" or set(v.opts) - {"share"}:
            return None
        s = v.opts["share"] if "share" in v.opts else profiles.defaults(r["dataset"], "augmented", r["profile"])["augment"].get("share")
        return 1.0 if s is None else float(s)

    t = table.assign(share=table.apply(share, axis=1)) if len(table) else table.assign(share=[])
    return t[t["share"].notna()].sort_values(["dataset", "split", "share"]).reset_index(drop=True)


def in_context_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For every ICL record whose context held only part of the documents (its fraction below 1): the
    same record on the questions whose facts were in that context (`icft.icl.in_context`), as a record
    of the variant ICL with `in_context_only`. The data are generated again from the record's seed to
    know which; data that cannot be (the reversal curse's original files) give one warning."""
    import warnings

    from . import datasets, icl
    from .errors import IcftError

    out, skipped = [], []
    for rec in unique(records):
        c, opts = rec["condition"], rec.get("icl") or {}
        if c["method"] != "icl" or float(opts.get("fraction", 1.0)) >= 1.0:
            continue
        try:
            gen, _, _ = datasets.generate(c["dataset"], c["profile"], c["seed"], **(c.get("data_options") or {}))
        except IcftError as e:
            skipped.append(f"{c['dataset']} seed {c['seed']}: {e.what}")
            continue
        questions = [q for q in gen.questions if q.answer is not None]
        inside = {q.id for q, ok in zip(questions, icl.in_context(gen.documents, questions, float(opts["fraction"]), opts["seed"])) if ok}
        chance = {q.id: q.chance for q in questions}
        rows = [q for q in rec["questions"] if q["id"] in inside]
        accuracy = {}
        for split in rec["accuracy"]:
            mine = [q for q in rows if q["split"] == split]
            if mine:
                accuracy[split] = {"accuracy": sum(q["correct"] for q in mine) / len(mine), "n": len(mine),
                                   "chance": sum(chance[q["id"]] for q in mine) / len(mine), "subsets": {}}
        out.append({**rec, "key": rec["key"] + ":in-context", "questions": rows, "accuracy": accuracy,
                    "condition": {**c, "icl": {**(c.get("icl") or {}), "in_context_only": True}}})
    if skipped:
        warnings.warn("ICL on the questions in context is not computed for " + "; ".join(skipped), stacklevel=2)
    return out


def splitting_table(table: pd.DataFrame) -> pd.DataFrame:
    """The sentence-splitting comparison's rows (`plan.sentence_splitting`) from a `summary` table, with
    `splitting` (none, independent, cumulative: the run's own or its profile's) and `budget` ("steps" or
    "tokens"): FT and augmented FT at a fixed budget (no stopping rule) of steps or of `token_epochs`.
    The unsplit run at matched steps is also the one at matched tokens (E whole passes either way), so
    its rows appear under both budgets where no unsplit run at matched tokens exists."""
    from . import profiles

    def kind(r: pd.Series) -> tuple[str | None, str | None]:
        v = r["variant"]
        if v.method not in ("finetune", "augmented") or v.get("stop_at", "default") is not None:
            return None, None
        budget = "tokens" if "token_epochs" in v.opts else "steps" if "steps" in v.opts else None
        if budget is None:
            return None, None
        return v.opts.get("split", profiles.defaults(r["dataset"], v.method, r["profile"])["finetune"].get("split", "none")), budget

    cols = ["splitting", "budget"]
    if not len(table):
        return table.assign(splitting=[], budget=[])
    t = table.join(pd.DataFrame(table.apply(kind, axis=1).tolist(), columns=cols, index=table.index))
    t = t[t["budget"].notna()]
    have = set(zip(t["dataset"], t["model"], t["method"], t["splitting"], t["budget"]))
    shared = t[(t["splitting"] == "none") & (t["budget"] == "steps")]
    shared = shared[[(d, m, me, "none", "tokens") not in have for d, m, me in zip(shared["dataset"], shared["model"], shared["method"])]]
    return pd.concat([t, shared.assign(budget="tokens")], ignore_index=True)


# The bars of the scale axis (notebook 08): the plain methods and ICL on only the relevant documents.
SCALE_VARIANTS = (Variant("pretrained"), Variant("icl"), Variant.of("icl", relevant_only=True), Variant("finetune"),
                  Variant("augmented"))


def scale_table(table: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The rows of a `summary` table on the scale axis: `models`' runs of `SCALE_VARIANTS`, each with
    its model's weights, body weights (`models.parameter_counts`) and family, whether the split is a
    generalization split, smallest model first."""
    from .datasets import spec
    from .models import parameter_counts
    from .registry import family

    t = table[table["model"].isin(list(models)) & table["variant"].isin(SCALE_VARIANTS)].copy()
    counts = {m: parameter_counts(m) for m in models}
    t["parameters"] = t["model"].map(lambda m: counts[m][0])
    t["body_parameters"] = t["model"].map(lambda m: counts[m][1])
    t["family"] = t["model"].map(lambda m: family(m) or str(m))
    t["generalization"] = pd.Series([s not in spec(d).trained_splits for d, s in zip(t["dataset"], t["split"])], index=t.index, dtype=bool)
    return t.sort_values(["parameters", "dataset", "split"]).reset_index(drop=True)


def gap_table(scale: pd.DataFrame, minus: Variant | str = "finetune", plus: Variant | str = "icl") -> pd.DataFrame:
    """Per model and data set: `plus` minus `minus` (default ICL - FT), the mean over the data set's
    generalization splits, where the model has both (a `scale_table`)."""
    g = scale[scale["generalization"]]
    rows = []
    for (model, name), t in g.groupby(["model", "dataset"], sort=False):
        a, b = t[t["variant"] == as_variant(plus)], t[t["variant"] == as_variant(minus)]
        if a.empty or b.empty:
            continue
        rows.append({"model": model, "dataset": name, "parameters": int(t["parameters"].iloc[0]),
                     "family": t["family"].iloc[0], "plus": float(a["accuracy"].mean()), "minus": float(b["accuracy"].mean()),
                     "gap": float(a["accuracy"].mean() - b["accuracy"].mean())})
    return pd.DataFrame(rows, columns=["model", "dataset", "parameters", "family", "plus", "minus", "gap"])


def writer_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per augmented record of the writer comparison: who wrote the augmentations (the learner itself,
    another model, or the oracle), the learner's mean accuracy on the generalization splits and its gain
    over the same model's plain FT (from `records`, same data set and seed), and what the
    augmentations are worth (`augmentation_table`: shares true / false / unverifiable; `coverage`, the
    mean over the generalization splits of the share of test facts some true sentence states)."""
    from .datasets import spec

    recs = unique(records)

    def general(rec: dict[str, Any]) -> float:
        trained = set(spec(rec["condition"]["dataset"]).trained_splits)
        accs = [a["accuracy"] for s, a in rec["accuracy"].items() if s not in trained]
        return sum(accs) / len(accs)

    plain = {(r["condition"]["dataset"], r["condition"]["model"], r["condition"]["seed"]): general(r)
             for r in recs if variant_of(r["condition"]) == Variant("finetune")}
    quality = augmentation_table(recs)
    rows = []
    for rec in recs:
        c, aug = rec["condition"], rec.get("augmentation")
        v = variant_of(c)
        if not aug or set(v.opts) - {"writer", "kind", "max_sentences"} or v.get("kind") not in (None, "oracle"):
            continue
        ft = plain.get((c["dataset"], c["model"], c["seed"]))
        q = quality[(quality["dataset"] == c["dataset"]) & (quality["model"] == c["model"]) & (quality["variant"] == v)
                    & (quality["seed"] == c["seed"])].iloc[0]
        general_splits = [s for s in spec(c["dataset"]).splits if s not in spec(c["dataset"]).trained_splits]
        cov = [q.get(f"covers_{s}") for s in general_splits if pd.notna(q.get(f"covers_{s}"))]
        writer = "oracle" if v.get("kind") == "oracle" else (v.get("writer") or "self")
        rows.append({"dataset": c["dataset"], "model": c["model"], "seed": c["seed"], "variant": v, "writer": writer,
                     "generalization": general(rec), "finetune": ft, "gain": None if ft is None else general(rec) - ft,
                     "share_true": q["share_true"], "share_false": q["share_false"], "share_unverifiable": q["share_unverifiable"],
                     "coverage": sum(cov) / len(cov) if cov else None, "sentences": q["sentences"]})
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "variant", "writer", "generalization", "finetune", "gain",
                                       "share_true", "share_false", "share_unverifiable", "coverage", "sentences"])


def gain_explained(writers: pd.DataFrame) -> dict[str, Any]:
    """How much of augmented FT's gain over FT the coverage of the test facts explains: an ordinary
    least-squares line of gain on coverage over every (learner, data set, writer) of a `writer_table`,
    with its slope, intercept, r^2 and n (None with fewer than three points or no spread)."""
    from scipy import stats as sps

    t = writers.dropna(subset=["gain", "coverage"])
    if len(t) < 3 or t["coverage"].nunique() < 2 or t["gain"].nunique() < 2:
        return {"n": int(len(t)), "slope": None, "intercept": None, "r2": None, "p": None}
    fit = sps.linregress(t["coverage"].astype(float), t["gain"].astype(float))
    return {"n": int(len(t)), "slope": float(fit.slope), "intercept": float(fit.intercept), "r2": float(fit.rvalue ** 2),
            "p": float(fit.pvalue)}


def models_table(models: Sequence[str], compute: pd.DataFrame) -> pd.DataFrame:
    """The scale axis's models: family, weights, body weights, whether instruction-tuned (prompts go
    through the chat template), and the wall seconds of each method summed over its records of
    `compute` (`compute_table`; NaN where a method has none)."""
    from .models import parameter_counts
    from .registry import EMBEDDED, TINY, family

    rows = []
    for m in models:
        total, body = parameter_counts(m)
        base = TINY[m].base if m in TINY else m
        r = {"model": m, "family": family(m) or "(a folder)", "weights": total, "body_weights": body,
             "instruct": EMBEDDED[base].instruct if base in EMBEDDED else None}
        mine = compute[compute["model"] == m] if len(compute) else compute
        for method in ("pretrained", "icl", "finetune", "augmented"):
            t = mine[mine["method"] == method] if len(mine) else mine
            r[f"{method}_seconds"] = float(t["seconds"].sum()) if len(t) else float("nan")
        rows.append(r)
    return pd.DataFrame(rows)


def scale_trends(scale: pd.DataFrame) -> pd.DataFrame:
    """What moves with scale: per variant and generalization split of a `scale_table`, the accuracy of
    the smallest and the largest model that have it, the difference, and its direction ("up", "down",
    or "flat" where the difference is within twice its standard error, the two models' bootstrap se
    combined)."""
    rows = []
    g = scale[scale["generalization"]]
    for (variant, name, split), t in g.groupby(["variant", "dataset", "split"], sort=False):
        t = t.sort_values("parameters")
        if len(t) < 2:
            continue
        lo, hi = t.iloc[0], t.iloc[-1]
        diff = float(hi["accuracy"] - lo["accuracy"])
        se = math.sqrt(float(lo["se"]) ** 2 + float(hi["se"]) ** 2)
        rows.append({"variant": variant, "method": variant.method, "dataset": name, "split": split, "smallest": lo["model"], "largest": hi["model"],
                     "accuracy_smallest": float(lo["accuracy"]), "accuracy_largest": float(hi["accuracy"]), "difference": diff,
                     "direction": "flat" if abs(diff) <= 2 * se else ("up" if diff > 0 else "down")})
    return pd.DataFrame(rows, columns=["variant", "method", "dataset", "split", "smallest", "largest", "accuracy_smallest",
                                       "accuracy_largest", "difference", "direction"])
