"""The claims table: C1-C8 of the paper, checked against our records. Nothing here is typed in by hand:
each claim is a list of testable parts, each part a comparison computed from the summary table
(`analysis.summary`), and the verdict follows from how many parts hold.

A part "A > B" holds when the difference is positive at the two-sided 5% level (its 95% interval
lies above 0, z > 1.96, binomial errors pooled over seeds and questions); "at chance" holds when a
one-sided binomial test does not find the accuracy above chance (p >= 0.05); "near ceiling" means
>= 80%; "A about as high as B" holds when A is not below B at the same level.
Verdict: every part holds -> "reproduced"; some -> "partly"; none -> "not reproduced"; a claim whose
conditions were not run -> "not run". A claim whose FT or augmented FT failed its validity check
(below 95% on the trained direction, so it may have failed for a dull reason) carries a caveat that
says so, with the numbers: the verdict is computed as usual, the caveat tells how far to trust it.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from .analysis import Z95, above_chance, compare, row
from .labels import text as readable
from .variants import Variant, as_variant

CEILING = 0.8

STATEMENTS = {
    "C1": "Reversal curse: FT ~0% on reversals; ICL near ceiling; augmented FT about as high as ICL; pretrained at chance.",
    "C2": "Simple reversals: ICL beats FT, by less than on the reversal curse; augmented FT beats both.",
    "C3": "Simple syllogisms: pretrained at chance; FT somewhat above chance; ICL much better; augmented FT best.",
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


class _Missing(Exception):
    pass


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _difference(c: Any) -> str:
    return f"{_pct(c.a)} vs {_pct(c.b)} (diff {100 * c.diff:+.0f} pts, 95% CI {100 * (c.diff - Z95 * c.se):+.0f} to {100 * (c.diff + Z95 * c.se):+.0f})"


def _with_ci(r: pd.Series) -> str:
    return f"{_pct(r['accuracy'])} (95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])}, n = {r['n']}, chance {_pct(r['chance'])})"


class _Parts:
    """Collects the parts of one claim on one model's rows."""

    def __init__(self, table: pd.DataFrame, dataset: str):
        self.t = table[table["dataset"] == dataset]
        self.parts: list[dict[str, Any]] = []
        self.used: set[Variant] = set()  # the variants the parts compare: a caveat concerns only those

    def _row(self, variant: Variant | str, split: str) -> pd.Series:
        variant = as_variant(variant)
        self.used.add(variant)
        try:
            return row(self.t, variant, split)
        except KeyError:
            raise _Missing(f"{readable(variant)} on {readable(split)}") from None

    def better(self, a: Variant | str, b: Variant | str, split: str, what: str | None = None) -> float:
        self._row(a, split), self._row(b, split)
        c = compare(self.t, a, b, split)
        self.parts.append({
            "test": what or f"{readable(a)} > {readable(b)} on {readable(split)}",
            "numbers": _difference(c),
            "holds": bool(c.z > Z95),
        })
        return c.diff

    def not_below(self, a: Variant | str, b: Variant | str, split: str) -> None:
        """"a about as high as b": a is not below b at the two-sided 5% level."""
        self._row(a, split), self._row(b, split)
        c = compare(self.t, a, b, split)
        self.parts.append({
            "test": f"{readable(a)} about as high as {readable(b)} (not below it) on {readable(split)}",
            "numbers": _difference(c),
            "holds": bool(c.z >= -Z95),
        })

    def at_chance(self, variant: Variant | str, split: str) -> None:
        r = self._row(variant, split)
        self.parts.append({
            "test": f"{readable(variant)} at chance on {readable(split)}",
            "numbers": _with_ci(r),
            "holds": not above_chance(r),
        })

    def above_chance(self, variant: Variant | str, split: str) -> None:
        r = self._row(variant, split)
        self.parts.append({
            "test": f"{readable(variant)} above chance on {readable(split)}",
            "numbers": _with_ci(r),
            "holds": above_chance(r),
        })

    def at_least(self, variant: Variant | str, split: str, level: float, what: str) -> None:
        r = self._row(variant, split)
        self.parts.append({"test": what, "numbers": f"{_pct(r['accuracy'])} (95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])})",
                           "holds": bool(r["accuracy"] >= level)})

    def fact(self, test: str, numbers: str, holds: bool) -> None:
        self.parts.append({"test": test, "numbers": numbers, "holds": bool(holds)})


def _c1(t: pd.DataFrame, p: _Parts) -> None:
    p.at_chance("finetune", "reversal")
    p.at_least("icl", "reversal", CEILING, f"ICL near ceiling (>= {CEILING:.0%}) on reversal")
    p.better("icl", "finetune", "reversal")
    p.better("augmented", "finetune", "reversal")
    p.not_below("augmented", "icl", "reversal")
    p.at_chance("pretrained", "reversal")


def _c2(t: pd.DataFrame, p: _Parts) -> None:
    gap = p.better("icl", "finetune", "reversal")
    rc = _Parts(t, "reversal_curse")
    try:
        rc_gap = compare(rc.t, "icl", "finetune", "reversal").diff
        p.fact("ICL's gain over FT positive but smaller than on the reversal curse",
               f"{100 * gap:+.0f} vs {100 * rc_gap:+.0f} pts", 0 < gap < rc_gap)
    except KeyError:
        pass
    p.better("augmented", "icl", "reversal")
    p.better("augmented", "finetune", "reversal")


def _c3(t: pd.DataFrame, p: _Parts) -> None:
    p.at_chance("pretrained", "syllogism")
    p.above_chance("finetune", "syllogism")
    p.better("icl", "finetune", "syllogism")
    p.better("augmented", "icl", "syllogism")


def _c4(t: pd.DataFrame, p: _Parts) -> None:
    gains = {s: p.better("icl", "finetune", s) for s in ("rephrased", "reversal", "syllogism")}
    p.fact("ICL's gain over FT larger on reversal and syllogism than on rephrased",
           ", ".join(f"{s} {100 * g:+.0f}" for s, g in gains.items()) + " pts",
           min(gains["reversal"], gains["syllogism"]) > gains["rephrased"])
    hold = {m: p._row(m, "category_holdout")["accuracy"] for m in ("icl", "finetune", "augmented")}
    others = {m: sum(p._row(m, s)["accuracy"] for s in ("rephrased", "reversal", "syllogism")) / 3 for m in hold}
    p.fact("category holdout below each method's other splits", ", ".join(f"{readable(m)} {_pct(hold[m])} vs {_pct(others[m])}" for m in hold),
           all(hold[m] < others[m] for m in hold))
    wins = [s for s in ("rephrased", "reversal", "syllogism", "category_holdout")
            if p._row("augmented", s)["accuracy"] > p._row("icl", s)["accuracy"]]
    p.fact("augmented FT above ICL on at least 2 of 4 splits", f"on {len(wins)}: {', '.join(map(readable, wins)) or 'none'}", len(wins) >= 2)


def _c5(t: pd.DataFrame, p: _Parts) -> None:
    p.above_chance("finetune", "reversal")
    rc = _Parts(t, "reversal_curse")
    rc.at_chance("finetune", "reversal")
    p.parts += [{**x, "test": "reversal curse: " + x["test"]} for x in rc.parts]


def _c6(t: pd.DataFrame, p: _Parts) -> None:
    # Notebook 04: each split run against the unsplit run of the same budget, i.e. its own variant
    # without the split (the headline FT where that has no other option).
    split_variants = sorted((v for v in p.t["variant"].unique() if v.method == "finetune" and v.get("split") is not None),
                            key=lambda v: v.options)
    if not split_variants:
        raise _Missing("the split runs of notebook 04")
    for v in split_variants:
        unsplit = Variant(v.method, tuple((k, x) for k, x in v.options if k != "split"))
        for s in ("reversal", "syllogism"):
            p.better(v, unsplit if unsplit.options else "finetune", s)


def _c7(t: pd.DataFrame, p: _Parts) -> None:
    p.better("icl", Variant.of("icl", nonsense_names=True), "reversal", "ICL with real names > with nonsense names on reversal")


def _c8(t: pd.DataFrame, p: _Parts) -> None:
    p.better("icl", "finetune", "compositional")
    p.better("augmented", "finetune", "compositional")


CLAIMS: dict[str, tuple[str, Callable[[pd.DataFrame, _Parts], None]]] = {
    "C1": ("reversal_curse", _c1), "C2": ("simple_reversals", _c2), "C3": ("simple_syllogisms", _c3),
    "C4": ("semantic_structure", _c4), "C5": ("semantic_structure", _c5), "C6": ("semantic_structure", _c6),
    "C7": ("reversal_curse", _c7), "C8": ("process_knowledge", _c8),
}


def _caveats(t: pd.DataFrame, dataset: str, used: set[Variant]) -> list[str]:
    """FT conditions of `dataset` among `used` whose trained direction stayed below 95% (the records'
    validity check)."""
    from .datasets import spec

    d = t[t["dataset"] == dataset]
    out = []
    for variant in (Variant("finetune"), Variant("augmented")):
        if variant not in used:
            continue
        rows = d[d["variant"] == variant]
        if rows.empty or not (rows["valid"] == False).any():  # noqa: E712 (valid may be None)
            continue
        trained = [f"{s} {_pct(r['accuracy'])}" for s in spec(dataset).trained_splits
                   for _, r in rows[rows["split"] == s].iterrows()]
        out.append(f"{readable(variant)} reached {', '.join(trained) or 'less than 95%'} on the trained direction (below 95%)")
    return out


def _verdict(parts: list[dict[str, Any]]) -> str:
    held = sum(p["holds"] for p in parts)
    if not parts:
        return "not run"
    return "reproduced" if held == len(parts) else "partly" if held else "not reproduced"


def claims_table(table: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per claim and model: the paper's statement, each part with our numbers, the verdict."""
    out = []
    for model in sorted(table["model"].unique()):
        t = table[table["model"] == model]
        for cid, (dataset, check) in CLAIMS.items():
            p = _Parts(t, dataset)
            missing = None
            try:
                check(t, p)
            except _Missing as e:
                missing = str(e)
            parts = [] if missing else p.parts
            out.append({"claim": cid, "model": model, "dataset": dataset, "title": TITLES[cid], "statement": STATEMENTS[cid],
                        "parts": parts, "held": sum(x["holds"] for x in parts), "of": len(parts),
                        "verdict": _verdict(parts), "missing": missing, "caveats": [] if missing else _caveats(t, dataset, p.used),
                        "seeds": sorted({int(s) for v in t[t["dataset"] == dataset]["seeds"] for s in str(v).split(",") if s})})
    return out


def to_markdown(entries: list[dict[str, Any]]) -> str:
    """The claims as a Markdown list, for a notebook's closing cell."""
    lines = []
    for e in entries:
        head = f"**{e['claim']}** ({e['model']}, seeds {', '.join(map(str, e['seeds'])) or '-'}): **{e['verdict']}**"
        if e["missing"]:
            head += f" (not run: {e['missing']})"
        elif e["of"]:
            head += f", {e['held']} of {e['of']} parts hold"
        lines.append(f"- {head}. *Paper:* {e['statement']}")
        lines += [f"    - {'✓' if p['holds'] else '✗'} {p['test']}: {p['numbers']}" for p in e["parts"]]
        lines += [f"    - *Caveat:* {c}" for c in e.get("caveats", [])]
    return "\n".join(lines)


def table(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per claim and model, for display."""
    return pd.DataFrame([{"claim": e["claim"], "model": e["model"], "verdict": e["verdict"],
                          "parts held": f"{e['held']}/{e['of']}",
                          "numbers": "; ".join(f"{p['test']}: {p['numbers']}" for p in e["parts"]) or e["missing"],
                          "caveats": "; ".join(e.get("caveats", []))}
                         for e in entries])
