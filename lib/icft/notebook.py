"""What the experiment notebooks share: their setup, the columns they show, and the prose of their
"What we found" cells, computed from the summary table so that no number is typed by hand.

    seed_list = notebook.setup(seeds)          # the figure style, the seeds parameter parsed
    notebook.show(table)                       # the summary's display columns, variants as labels
    notebook.findings(table, "reversal_curse") # "- reversal (generalization, chance 25%): ICL 27% (19%-35%), ..."
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from . import labels, plots
from .plan import HEADLINE, parse_seeds
from .variants import Variant, as_variant

COLUMNS = ["variant", "split", "accuracy", "se", "n", "n_seeds", "seed_sd", "chance", "valid"]


def setup(seeds: str) -> list[int]:
    """The figure style for every plot, and the notebook's `seeds` parameter as integers."""
    plots.use_style()
    return parse_seeds(seeds)


def show(table: pd.DataFrame, *extra: str, by: Sequence[str] = ()) -> pd.DataFrame:
    """The summary's display columns (`by` first, `extra` last), each variant as its label, rounded."""
    return labelled(table[[*by, *COLUMNS, *extra]])


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """A table for display: its variants as labels, numbers rounded."""
    t = table.copy()
    if "variant" in t:
        t["variant"] = t["variant"].map(labels.text)
    return t.round(3)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def findings(table: pd.DataFrame, dataset: str, variants: Sequence[Variant | str] = HEADLINE,
             splits: Sequence[str] | None = None) -> str:
    """One Markdown line per split of `dataset`: each variant's accuracy with its 95% interval, the
    chance level, and the variant highest on it where one is. Tests of the paper's claims are in the
    claims list that follows (`icft.claims`)."""
    from .datasets import spec

    s = spec(dataset)
    t = table[table["dataset"] == dataset]
    wanted = [as_variant(v) for v in variants]
    lines = []
    for split in splits or s.splits:
        rows = [(v, t[(t["variant"] == v) & (t["split"] == split)]) for v in wanted]
        rows = [(v, r.iloc[0]) for v, r in rows if len(r) == 1]
        if not rows:
            continue
        kind = "trained direction" if split in s.trained_splits else "generalization"
        parts = [f"{labels.text(v)} {_pct(r['accuracy'])} ({_pct(r['ci_low'])}-{_pct(r['ci_high'])})" for v, r in rows]
        line = f"- **{labels.text(split)}** ({kind}, chance {_pct(rows[0][1]['chance'])}): " + ", ".join(parts) + "."
        ranked = sorted(rows, key=lambda vr: -vr[1]["accuracy"])
        if len(ranked) > 1 and ranked[0][1]["accuracy"] > ranked[1][1]["accuracy"]:
            line += f" Highest: {labels.text(ranked[0][0])}."
        lines.append(line)
    return "\n".join(lines) + "\n\n(95% intervals: hierarchical bootstrap, seeds then question clusters; `icft.stats`.)"


def budget_findings(budget: pd.DataFrame, dataset: str) -> str:
    """One Markdown line per split of `dataset`: accuracy at each augmentation budget of the curve
    (`analysis.budget_table`), from plain FT (share 0) to every sentence and document."""
    from .datasets import spec

    s = spec(dataset)
    t = budget[budget["dataset"] == dataset]
    lines = []
    for split in s.splits:
        r = t[t["split"] == split].sort_values("share")
        if r.empty:
            continue
        kind = "trained direction" if split in s.trained_splits else "generalization"
        points = ", ".join(f"{'FT' if x == 0 else ('all' if x == 1 else f'{x:.0%}')} {_pct(a)}"
                           for x, a in zip(r["share"], r["accuracy"]))
        lines.append(f"- **{labels.text(split)}** ({kind}, chance {_pct(r['chance'].mean())}): {points}.")
    return "\n".join(lines)


def splitting_findings(runs: pd.DataFrame, dataset: str) -> str:
    """Markdown of the sentence-splitting comparison on `dataset` (`analysis.splitting_table`): per
    method and budget, each split's accuracy on every split of the data set, unsplit first."""
    from .datasets import spec

    s = spec(dataset)
    t = runs[runs["dataset"] == dataset]
    lines = [f"**{labels.text(dataset)}**"]
    for (method, budget), g in t.groupby(["method", "budget"], sort=False):
        cells = []
        for split in s.splits:
            r = g[g["split"] == split].set_index("splitting")
            if r.empty:
                continue
            kind = "trained" if split in s.trained_splits else "generalization"
            values = ", ".join(f"{k} {_pct(r.loc[k, 'accuracy'])}" for k in ("none", "independent", "cumulative") if k in r.index)
            cells.append(f"{labels.text(split)} ({kind}): {values}")
        lines.append(f"- {labels.text(method)}, matched {budget}: " + "; ".join(cells) + ".")
    return "\n".join(lines)


def scale_findings(scale: pd.DataFrame, dataset: str) -> str:
    """One Markdown line per split of `dataset` and variant of the scale axis (`analysis.scale_table`):
    its accuracy for each model, smallest first, with the model's weights."""
    from .analysis import SCALE_VARIANTS
    from .datasets import spec

    s = spec(dataset)
    t = scale[scale["dataset"] == dataset]
    lines = []
    for split in s.splits:
        g = t[t["split"] == split]
        if g.empty:
            continue
        kind = "trained direction" if split in s.trained_splits else "generalization"
        cells = []
        for v in SCALE_VARIANTS:
            r = g[g["variant"] == v].sort_values("parameters")
            if len(r):
                cells.append(f"{labels.text(v)} " + " / ".join(f"{_pct(a)} ({labels.weights(p)})" for a, p in zip(r["accuracy"], r["parameters"])))
        lines.append(f"- **{labels.text(split)}** ({kind}, chance {_pct(g['chance'].mean())}): " + "; ".join(cells) + ".")
    return "\n".join(lines)


def gap_findings(gaps: pd.DataFrame) -> str:
    """The ICL - FT gap per data set (`analysis.gap_table`), model by model in order of size."""
    lines = []
    for name, g in gaps.groupby("dataset", sort=False):
        g = g.sort_values("parameters")
        lines.append(f"- **{labels.text(name)}**: " + ", ".join(
            f"{m} {100 * x:+.0f} points" for m, x in zip(g["model"], g["gap"])) + ".")
    return "\n".join(lines) or "- No model has both ICL and FT records yet."


def writer_findings(writers: pd.DataFrame, fit: dict) -> str:
    """Markdown of the writer comparison (`analysis.writer_table`, `analysis.gain_explained`): per
    learner and data set, FT and each writer's augmented FT on the generalization splits, with the
    shares of the writer's sentences that are true and false and the test facts they cover."""
    lines = []
    for (name, model), g in writers.groupby(["dataset", "model"], sort=False):
        ft = g["finetune"].dropna()
        head = f"- **{labels.text(name)}, {model}**: FT {_pct(ft.iloc[0])}" if len(ft) else f"- **{labels.text(name)}, {model}**: FT not run"
        cells = [f"{w} {_pct(a)}" + (f" (true {_pct(t)}, false {_pct(f)}, covers {_pct(c)})" if pd.notna(t) and pd.notna(c) else "")
                 for w, a, t, f, c in zip(g["writer"], g["generalization"], g["share_true"], g["share_false"], g["coverage"])]
        lines.append(head + "; augmented FT written by " + ", ".join(cells) + ".")
    if fit.get("r2") is not None:
        lines.append(f"\nAcross the {fit['n']} learner x data set x writer points, gain over FT = {fit['intercept']:+.2f} "
                     f"{fit['slope']:+.2f} x coverage of the test facts: r^2 = {fit['r2']:.2f} (p = {fit['p']:.2g}).")
    else:
        lines.append(f"\nToo few points with both a gain and a coverage ({fit['n']}) to fit how much coverage explains the gain.")
    return "\n".join(lines) or "- No writer records yet."


def trend_findings(trends: pd.DataFrame) -> str:
    """Per variant of the scale axis (`analysis.scale_trends`): on how many generalization splits it
    rises, falls or stays from the smallest to the largest model, and the splits where it moves."""
    lines = []
    for v, g in trends.groupby("variant", sort=False):
        counts = {d: int((g["direction"] == d).sum()) for d in ("up", "down", "flat")}
        moved = [f"{labels.text(d)} {labels.text(s)} {_pct(a)} -> {_pct(b)}"
                 for d, s, a, b, x in zip(g["dataset"], g["split"], g["accuracy_smallest"], g["accuracy_largest"], g["direction"]) if x != "flat"]
        lines.append(f"- **{labels.text(v)}**: up on {counts['up']}, down on {counts['down']}, within the noise on "
                     f"{counts['flat']} of {len(g)} splits" + (f" ({'; '.join(moved)})" if moved else "") + ".")
    return "\n".join(lines) or "- Fewer than two models have records for any method yet."
