"""The claims table: C1-C8 of the paper, checked against our records. Nothing here is typed in by hand:
each claim is a list of testable parts, each part a statistic computed from the records' questions,
and the verdict follows from what the parts show.

Every statistic (an accuracy minus chance, a difference between two methods, a difference of
differences) gets its interval from one hierarchical bootstrap (`icft.stats`: seeds, then question
clusters within a seed, paired across methods of one seed), and two one-sided p-values: one for the
direction the paper claims, one for the opposite. Over all parts of one table (every claim, every
model) both are adjusted for the false discovery rate (Benjamini-Hochberg). A part then *holds*
(adjusted p < 0.05 in the claimed direction), is *contradicted* (in the opposite one) or is
*inconclusive*. "About as high as" is a non-inferiority test: not more than `MARGIN` below.
A claim is *reproduced* when every part holds, *contradicted* when parts are contradicted and none
holds, *inconclusive* when none holds and none is contradicted, else *partly*; not run when its
conditions were not run.

Preconditions are apart: they make a claim's comparison meaningful but are not what it claims (the
pretrained model at chance, which the data design ensures; FT at >= 95% on the trained direction; ICL
high on it). Each is shown beside its claim with its numbers, as ok or not, and never changes a verdict.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pandas as pd

from . import shortcuts, stats
from .analysis import bootstrap, key, row, splitting_table, summary
from .labels import text as readable
from .stats import Bootstrap, Estimate, Test
from .variants import Variant, as_variant

CEILING = 0.8  # "near ceiling"
MARGIN = 0.10  # "about as high as" and "at chance": within 10 points
VERDICTS = ("reproduced", "partly", "contradicted", "inconclusive", "not run")
STATUSES = ("holds", "contradicted", "inconclusive", "not run")

STATEMENTS = {
    "C1": "Reversal curse: FT ~0% on reversals (below chance: it prefers names that were training targets); "
          "ICL near ceiling; augmented FT about as high as ICL.",
    "C2": "Simple reversals: ICL beats FT, by less than on the reversal curse; augmented FT beats both.",
    "C3": "Simple syllogisms: FT somewhat above chance; ICL much better; augmented FT best.",
    "C4": "Semantic structure: ICL beats FT overall, with a larger gain on reversals and syllogisms than on "
          "rephrasings; category holdout stays hard; augmented FT often beats ICL.",
    "C5": "Within a coherent body of knowledge (semantic structure) plain FT reverses above chance, unlike the "
          "isolated reversal-curse facts.",
    "C6": "Sentence splitting improves FT generalization at matched data size and steps.",
    "C7": "Replacing names with nonsense words lowers ICL on the reversal-curse data.",
    "C8": "Process knowledge: ICL beats FT, and augmentation improves FT.",
}

# What each claim is about, in a few words (the abstract and the conclusions list the claims by these).
TITLES = {
    "C1": "the reversal curse", "C2": "simple reversals", "C3": "simple syllogisms", "C4": "semantic structure",
    "C5": "FT reverses within a coherent body of knowledge", "C6": "sentence splitting",
    "C7": "nonsense names lower ICL", "C8": "process knowledge",
}

GENERALIZATION = {"semantic_structure": ("reversal", "syllogism", "category_holdout")}


class _Missing(Exception):
    pass


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _pts(x: float) -> str:
    return f"{100 * x:+.0f}"


class _Parts:
    """Collects the parts (and preconditions) of one claim on one model's rows of one data set."""

    def __init__(self, table: pd.DataFrame, boot: Bootstrap, dataset: str, source: str | None = None):
        self.boot = boot
        self.t = table[table["dataset"] == dataset]
        if source is not None:
            self.t = self.t[self.t["source"] == source]
        self.dataset = dataset
        self.source = source
        self.parts: list[dict[str, Any]] = []
        self.preconditions: list[dict[str, Any]] = []
        self.splits: list[str] = []  # the splits the parts read, in order

    def row(self, variant: Variant | str, split: str) -> pd.Series:
        if split not in self.splits:
            self.splits.append(split)
        try:
            return row(self.t, as_variant(variant), split)
        except KeyError:
            raise _Missing(f"{readable(as_variant(variant))} on {readable(split)}") from None

    def accuracy(self, variant: Variant | str, split: str, seeds: Sequence[int] | None = None) -> Estimate:
        return self.boot.cell(key(self.row(variant, split)), seeds)

    def common_seeds(self, *cells: tuple[Variant | str, str]) -> tuple[int, ...]:
        """The seeds every cell has: a comparison is made on the same seeds (paired)."""
        sets = [set(self.boot.seeds(key(self.row(v, s)))) for v, s in cells]
        common = tuple(sorted(set.intersection(*sets)))
        if not common:
            raise _Missing(f"a seed shared by {', '.join(f'{readable(as_variant(v))} on {readable(s)}' for v, s in cells)}")
        return common

    def difference(self, a: Variant | str, b: Variant | str, split: str) -> Estimate:
        seeds = self.common_seeds((a, split), (b, split))
        return self.accuracy(a, split, seeds) - self.accuracy(b, split, seeds)

    def paired_floor(self, a: Variant | str, b: Variant | str, split: str, reference: float = 0.0) -> tuple[float, float]:
        seeds = self.common_seeds((a, split), (b, split))
        counts = self.boot.paired_counts(key(self.row(a, split)), key(self.row(b, split)), seeds)
        return stats.paired_floor(*counts, reference=reference)

    def pooled_paired_floor(self, a: Variant | str, b: Variant | str, splits: Sequence[str]) -> tuple[float, float]:
        """`paired_floor` of a difference averaged over splits: the sign test on their questions pooled."""
        counts = [self.boot.paired_counts(key(self.row(a, s)), key(self.row(b, s)), self.common_seeds((a, s), (b, s)))
                  for s in splits]
        return stats.paired_floor(*(sum(c[i] for c in counts) for i in range(3)))

    def exact_floor(self, variant: Variant | str, split: str, reference: float, direction: str = "above") -> tuple[float, float]:
        return stats.exact_floor(*self.boot.counts(key(self.row(variant, split))), reference, direction)

    def add(self, test_text: str, stat: Estimate, numbers: str, reference: float = 0.0, direction: str = "above",
            floor: tuple[float, float] = (0.0, 0.0)) -> None:
        t = Test.of(stat, reference, direction, floor)
        self.parts.append({"test": test_text, "numbers": numbers, **_fields(t)})

    # --- the kinds of part
    def better(self, a: Variant | str, b: Variant | str, split: str, what: str | None = None) -> Estimate:
        seeds = self.common_seeds((a, split), (b, split))
        ea, eb = self.accuracy(a, split, seeds), self.accuracy(b, split, seeds)
        d, pa, pb = ea - eb, ea.point, eb.point
        self.add(what or f"{readable(as_variant(a))} > {readable(as_variant(b))} on {readable(split)}", d,
                 f"{_pct(pa)} vs {_pct(pb)} (diff {_pts(d.point)} pts, 95% CI {_pts(d.interval[0])} to {_pts(d.interval[1])})",
                 floor=self.paired_floor(a, b, split))
        return d

    def not_below(self, a: Variant | str, b: Variant | str, split: str) -> None:
        """"a about as high as b": a is not more than MARGIN below b (non-inferiority)."""
        d = self.difference(a, b, split)
        self.add(f"{readable(as_variant(a))} about as high as {readable(as_variant(b))} (not {100 * MARGIN:.0f} pts below) on {readable(split)}",
                 d, f"diff {_pts(d.point)} pts (95% CI {_pts(d.interval[0])} to {_pts(d.interval[1])})", reference=-MARGIN,
                 floor=self.paired_floor(a, b, split, -MARGIN))

    def versus_chance(self, variant: Variant | str, split: str, direction: str) -> Estimate:
        r = self.row(variant, split)
        stat = self.accuracy(variant, split) - float(r["chance"])
        self.add(f"{readable(as_variant(variant))} {direction} chance on {readable(split)}", stat,
                 f"{_pct(r['accuracy'])} (95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])}, n = {r['n']}, chance {_pct(r['chance'])})",
                 direction=direction, floor=self.exact_floor(variant, split, float(r["chance"]), direction))
        return stat

    def near_ceiling(self, variant: Variant | str, split: str) -> None:
        r = self.row(variant, split)
        self.add(f"{readable(as_variant(variant))} near ceiling (above {CEILING:.0%}) on {readable(split)}",
                 self.accuracy(variant, split) - CEILING, f"{_pct(r['accuracy'])} (95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])})",
                 floor=self.exact_floor(variant, split, CEILING))

    def not_run(self, test_text: str, why: str) -> None:
        self.parts.append({"test": test_text, "numbers": f"not run: {why}", "status": "not run"})

    # --- preconditions
    def precondition_chance(self, split: str) -> None:
        """The pretrained model within MARGIN of chance (two one-sided tests at 5%, not adjusted)."""
        try:
            r = self.row("pretrained", split)
        except _Missing:
            return
        chance = float(r["chance"])
        t = Test.within(self.accuracy("pretrained", split) - chance, MARGIN)
        low, high = self.exact_floor("pretrained", split, chance - MARGIN), self.exact_floor("pretrained", split, chance + MARGIN)
        p_within = max(t.p_holds, low[0], high[1])  # above chance - m and below chance + m
        p_outside = max(t.p_contradicts, min(1.0, 2 * min(low[1], high[0])))
        # ok: shown within the margin; not met: shown outside it; None: too few questions to tell
        ok = True if p_within < stats.ALPHA else False if p_outside < stats.ALPHA else None
        self.preconditions.append({
            "check": f"pretrained at chance (within {100 * MARGIN:.0f} pts) on {readable(split)}",
            "numbers": f"{_pct(r['accuracy'])} (95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])}, chance {_pct(r['chance'])})",
            "ok": ok})

    def precondition_control(self, control: pd.DataFrame) -> None:
        """No word-statistics scorer above chance on a generalization split the claim reads
        (`icft.shortcuts`): where one is, a model can pass that split by association."""
        from .datasets import spec
        from .labels import SCORERS

        for split in self.splits:
            if split in spec(self.dataset).trained_splits:
                continue
            rows = shortcuts.for_split(control, self.dataset, split, self.source)
            if rows.empty:
                continue
            numbers = ", ".join(f"{SCORERS[r['scorer']]} {_pct(r['accuracy'])}" for _, r in rows.iterrows()) + f" (chance {_pct(rows['chance'].iloc[0])})"
            self.preconditions.append({"check": f"no word-statistics shortcut on {readable(split)}", "numbers": numbers,
                                       "ok": not bool(rows["beats_chance"].any())})

    def precondition_trained(self, table: pd.DataFrame | None = None, variants: Sequence[Variant] | None = None,
                             where: str = "") -> None:
        """Each trained variant (default FT and augmented FT) at >= 95% on the trained direction (the
        records' validity, every seed), and ICL high on it; from `table` (default the data set's rows),
        `where` said after "the trained direction"."""
        from .datasets import spec

        t = self.t if table is None else table
        trained = spec(self.dataset).trained_splits
        for variant in variants or (Variant("finetune"), Variant("augmented"), Variant("icl")):
            rows = t[(t["variant"] == variant) & t["split"].isin(trained)]
            if rows.empty:
                continue
            # the check is per seed: where it failed, a pooled accuracy above 95% can hide the seed that missed it
            by_seed = variant.method != "icl" and rows["valid"].eq(False).any() and rows["n_seeds"].max() > 1
            numbers = ", ".join(f"{readable(r['split'])} {_pct(r['accuracy'])}"
                                + (" (by seed: " + ", ".join(f"s{s} {_pct(a)}" for s, a in r["seed_accuracy"].items()) + ")"
                                   if by_seed else "")
                                for _, r in rows.iterrows())
            if variant.method == "icl":
                self.preconditions.append({"check": f"ICL high (>= {CEILING:.0%}) on the trained direction{where}", "numbers": numbers,
                                           "ok": bool((rows["accuracy"] >= CEILING).all())})
            else:
                valid = rows["valid"].dropna()
                self.preconditions.append({"check": f"{readable(variant)} >= 95% on the trained direction{where} (every seed)",
                                           "numbers": numbers, "ok": bool(valid.all()) if len(valid) else None})


def _fields(t: Test) -> dict[str, Any]:
    return {"estimate": t.estimate, "ci_low": t.ci_low, "ci_high": t.ci_high, "reference": t.reference,
            "p_holds": t.p_holds, "p_contradicts": t.p_contradicts}


def _c1(t: pd.DataFrame, p: _Parts) -> None:
    p.versus_chance("finetune", "reversal", "below")
    p.near_ceiling("icl", "reversal")
    p.better("icl", "finetune", "reversal")
    p.better("augmented", "finetune", "reversal")
    p.not_below("augmented", "icl", "reversal")
    p.precondition_chance("reversal")


def _c2(t: pd.DataFrame, p: _Parts) -> None:
    gap = p.better("icl", "finetune", "reversal")
    rc = _Parts(t, p.boot, "reversal_curse")
    what = "ICL's gain over FT smaller than on the reversal curse"
    try:
        rc_gap = rc.difference("icl", "finetune", "reversal")
    except _Missing as e:
        p.not_run(what, f"the reversal curse's {e}")
    else:
        d = rc_gap - gap  # different data sets: independent draws
        p.add(what, d, f"{_pts(gap.point)} vs {_pts(rc_gap.point)} pts (difference {_pts(d.point)}, 95% CI "
                       f"{_pts(d.interval[0])} to {_pts(d.interval[1])})")
    p.better("augmented", "icl", "reversal")
    p.better("augmented", "finetune", "reversal")
    p.precondition_chance("reversal")


def _c3(t: pd.DataFrame, p: _Parts) -> None:
    p.versus_chance("finetune", "syllogism", "above")
    p.better("icl", "finetune", "syllogism")
    p.better("augmented", "icl", "syllogism")
    p.precondition_chance("syllogism")


def _c4(t: pd.DataFrame, p: _Parts) -> None:
    gains = {s: p.better("icl", "finetune", s) for s in ("rephrased", "reversal", "syllogism")}
    for s in ("reversal", "syllogism"):
        d = gains[s] - gains["rephrased"]
        p.add(f"ICL's gain over FT larger on {readable(s)} than on rephrased", d,
              f"{_pts(gains[s].point)} vs {_pts(gains['rephrased'].point)} pts (95% CI of the difference "
              f"{_pts(d.interval[0])} to {_pts(d.interval[1])})")
    general = GENERALIZATION["semantic_structure"]
    others = [s for s in general if s != "category_holdout"]  # the other generalization splits, never the trained one
    for m in ("icl", "finetune", "augmented"):
        hold = p.accuracy(m, "category_holdout")
        rest = stats.mean([p.accuracy(m, s) for s in others])
        d = hold - rest
        p.add(f"{readable(as_variant(m))}: category holdout below its other generalization splits", d,
              f"{_pct(hold.point)} vs {_pct(rest.point)} ({' and '.join(map(readable, others))})", direction="below")
    wins = stats.mean([p.difference("augmented", "icl", s) for s in general])
    p.add("augmented FT above ICL on average over the generalization splits", wins,
          f"mean diff {_pts(wins.point)} pts (95% CI {_pts(wins.interval[0])} to {_pts(wins.interval[1])}) over "
          f"{', '.join(map(readable, general))}", floor=p.pooled_paired_floor("augmented", "icl", general))
    for s in general:
        p.precondition_chance(s)


def _c5(t: pd.DataFrame, p: _Parts) -> None:
    own = p.versus_chance("finetune", "reversal", "above")
    rc = _Parts(t, p.boot, "reversal_curse")
    what = "FT's reversal margin over chance larger than on the reversal curse"
    try:
        rc_own = rc.accuracy("finetune", "reversal") - float(rc.row("finetune", "reversal")["chance"])
    except _Missing as e:
        p.not_run(what, f"the reversal curse's {e}")
        return
    d = own - rc_own
    p.add(what, d, f"{_pts(own.point)} vs {_pts(rc_own.point)} pts over chance (95% CI of the difference "
                   f"{_pts(d.interval[0])} to {_pts(d.interval[1])})")


def _c6(t: pd.DataFrame, p: _Parts) -> None:
    # Notebook 04: on each data set with multi-sentence documents, each split run against the unsplit
    # run of the same method and budget (matched steps; matched tokens), on that data set's
    # generalization splits; every run's validity (trained direction >= 95%) beside it.
    from .datasets import spec

    runs = splitting_table(t)
    if runs.empty:
        raise _Missing("the split runs of notebook 04")
    for dataset in dict.fromkeys(runs["dataset"]):
        q = p if dataset == p.dataset else _Parts(t, p.boot, dataset)
        general = [s for s in spec(dataset).splits if s not in spec(dataset).trained_splits]
        r = runs[runs["dataset"] == dataset]
        for (method, budget), g in r.groupby(["method", "budget"], sort=False):
            unsplit = list(dict.fromkeys(g.loc[g["splitting"] == "none", "variant"]))
            for splitting in ("independent", "cumulative"):
                split = list(dict.fromkeys(g.loc[g["splitting"] == splitting, "variant"]))
                what = f"{readable(method)} {splitting} > unsplit at matched {budget} on {readable(dataset)}"
                if len(unsplit) != 1 or len(split) != 1:
                    q.not_run(what, "no " + ("unsplit" if len(unsplit) != 1 else splitting) + " run of this budget")
                    continue
                for s in general:
                    q.better(split[0], unsplit[0], s, what=f"{what}, {readable(s)}")
        once = r.drop_duplicates(subset=["variant", "split"])  # the unsplit run serves both budgets: its rows once
        q.precondition_trained(once, variants=list(dict.fromkeys(once["variant"])), where=f" of {readable(dataset)}")
        if q is not p:
            p.parts += q.parts
            p.preconditions += q.preconditions


def _c7(t: pd.DataFrame, p: _Parts) -> None:
    # on the generated data only: with RC_DATA the plain ICL bar reads the original files, whose real
    # names would be confounded with the data source
    p.better("icl", Variant.of("icl", nonsense_names=True), "reversal", "ICL with real-style names > with nonsense names on reversal")


def _c8(t: pd.DataFrame, p: _Parts) -> None:
    p.better("icl", "finetune", "compositional")
    p.better("augmented", "finetune", "compositional")


CLAIMS: dict[str, tuple[str, Callable[[pd.DataFrame, _Parts], None]]] = {
    "C1": ("reversal_curse", _c1), "C2": ("simple_reversals", _c2), "C3": ("simple_syllogisms", _c3),
    "C4": ("semantic_structure", _c4), "C5": ("semantic_structure", _c5), "C6": ("semantic_structure", _c6),
    "C7": ("reversal_curse", _c7), "C8": ("process_knowledge", _c8),
}
_SOURCE = {"C7": "generated"}  # claims read on one data source whatever else was run


def trained_targets(records: Sequence[dict[str, Any]], model: str, method: str = "finetune") -> dict[str, Any] | None:
    """C1's explanation, measured: on the reversal curse's reversal questions (a description, then a
    choice of names), how often `method` picks the name of a person whose training documents end in
    their name (group d2p: names that were training targets), against the share of such names among
    the choices (what a model blind to it would pick). The generated data only; None without records."""
    from .datasets import generate
    from .variants import variant_of

    picked = offered = n = 0
    for rec in records:
        c = rec["condition"]
        if (c["dataset"], c["model"], c["method"]) != ("reversal_curse", model, method) or variant_of(c).options \
                or (c.get("data_options") or {}).get("rc_data"):
            continue
        gen, _, _ = generate(c["dataset"], c["profile"], c["seed"], **(c.get("data_options") or {}))
        group = {q.meta["person"]: q.meta["group"] for q in gen.questions}
        questions = {q.id: q for q in gen.questions}
        for answer in rec["questions"]:
            if answer["split"] != "reversal":
                continue
            q = questions.get(answer["id"])
            if q is None:  # not a question of this generation (a hand-made record)
                continue
            names = [x.strip() for x in q.choices]
            picked += group.get(names[answer["pred"]]) == "d2p"
            offered += sum(group.get(x) == "d2p" for x in names) / len(names)
            n += 1
    if not n:
        return None
    return {"share_picked": picked / n, "share_offered": offered / n, "n": n}


def _verdict(parts: list[dict[str, Any]]) -> str:
    if not parts:
        return "not run"
    held = sum(p["status"] == "holds" for p in parts)
    contradicted = sum(p["status"] == "contradicted" for p in parts)
    if held == len(parts):
        return "reproduced"
    if held:
        return "partly"
    return "contradicted" if contradicted else "inconclusive"


def _adjust(entries: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg over both one-sided p-values of every tested part of the table; each part's status."""
    tested = [p for e in entries for p in e["parts"] if p.get("status") != "not run"]
    adjusted = stats.fdr([p["p_holds"] for p in tested] + [p["p_contradicts"] for p in tested])
    for p, q_holds, q_contra in zip(tested, adjusted[:len(tested)], adjusted[len(tested):]):
        p["q_holds"], p["q_contradicts"] = q_holds, q_contra
        p["status"] = "holds" if q_holds < stats.ALPHA else "contradicted" if q_contra < stats.ALPHA else "inconclusive"


def claims_table(records: Sequence[dict[str, Any]], control: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One entry per claim and model: the paper's statement, each part with our numbers, estimate,
    interval and status, the preconditions, the verdict. The false discovery rate is controlled over
    the parts of this one call: the claims notebook's table (all records) is the one the paper shows.
    `control`: `shortcuts.table(records)` where the caller has it already (it is computed otherwise)."""
    if isinstance(records, pd.DataFrame):
        from .errors import IcftError

        raise IcftError("claims_table takes the records, not a summary table: its tests resample their questions",
                        fix="pass the list of records the summary was made from (experiment.run_all's result)")
    boot = bootstrap(records)
    table = summary(records, boot)
    control = shortcuts.table(records) if control is None else control
    out = []
    for model in sorted(table["model"].unique()):
        t = table[table["model"] == model]
        for cid, (dataset, check) in CLAIMS.items():
            p = _Parts(t, boot, dataset, source=_SOURCE.get(cid))
            missing = None
            try:
                check(t, p)
                p.precondition_trained()
                p.precondition_control(control)
            except _Missing as e:
                missing = str(e)
            out.append({"claim": cid, "model": model, "dataset": dataset, "title": TITLES[cid], "statement": STATEMENTS[cid],
                        "parts": [] if missing else p.parts, "preconditions": [] if missing else p.preconditions,
                        "missing": missing,
                        "seeds": sorted({int(s) for v in t[t["dataset"] == dataset]["seeds"] for s in str(v).split(",") if s})})
    _adjust(out)
    for e in out:
        if e["claim"] == "C1" and not e["missing"]:
            e["trained_targets"] = trained_targets(records, e["model"])
        e["verdict"] = _verdict(e["parts"])
        e["counts"] = {s: sum(p["status"] == s for p in e["parts"]) for s in STATUSES}
        e["held"], e["of"] = e["counts"]["holds"], len(e["parts"])
        e["caveats"] = [f"{c['check']}: {c['numbers']}" for c in e["preconditions"] if c["ok"] is False]
    return out


_MARK = {"holds": "✓", "contradicted": "✗", "inconclusive": "?", "not run": "-"}


def to_markdown(entries: list[dict[str, Any]]) -> str:
    """The claims as a Markdown list, for a notebook's closing cell."""
    lines = []
    for e in entries:
        head = f"**{e['claim']}** ({e['model']}, seeds {', '.join(map(str, e['seeds'])) or '-'}): **{e['verdict']}**"
        if e["missing"]:
            head += f" (not run: {e['missing']})"
        elif e["of"]:
            c = e["counts"]
            head += f", of {e['of']} parts {c['holds']} hold, {c['contradicted']} contradicted, {c['inconclusive']} inconclusive"
        lines.append(f"- {head}. *Paper:* {e['statement']}")
        lines += [f"    - {_MARK[p['status']]} {p['test']}: {p['numbers']}"
                  + (f" (adjusted p {p['q_holds']:.2g})" if p["status"] != "not run" else "") for p in e["parts"]]
        if e.get("trained_targets"):
            tt = e["trained_targets"]
            lines.append(f"    - *Why:* FT picks a name that was a training target (a d2p person's) on {_pct(tt['share_picked'])} "
                         f"of the {tt['n']} reversal questions; such names are {_pct(tt['share_offered'])} of the choices")
        lines += [f"    - *Precondition* {'ok' if c['ok'] else 'not met' if c['ok'] is False else 'not shown'}: {c['check']}: {c['numbers']}"
                  for c in e.get("preconditions", [])]
    return "\n".join(lines)


def table(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per claim and model, for display."""
    return pd.DataFrame([{"claim": e["claim"], "model": e["model"], "verdict": e["verdict"],
                          "held": e.get("counts", {}).get("holds", 0), "contradicted": e.get("counts", {}).get("contradicted", 0),
                          "inconclusive": e.get("counts", {}).get("inconclusive", 0),
                          "numbers": "; ".join(f"{p['test']}: {p['numbers']}" for p in e["parts"]) or e["missing"],
                          "preconditions not met": "; ".join(e.get("caveats", []))}
                         for e in entries])
