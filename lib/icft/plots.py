"""Figure style and saving, shared by every notebook so figures look alike."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display on CI or under papermill
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402
from .labels import text as display  # noqa: E402
from .labels import weights as size_label  # noqa: E402
from .paths import figures_dir  # noqa: E402
from .variants import Variant, as_variant  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (3.4, 2.4),  # one column
    "figure.dpi": 150,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}


def use_style() -> None:
    plt.rcParams.update(STYLE)


def save_figure(fig: plt.Figure, name: str, folder: str | Path | None = None) -> dict[str, Path]:
    """Write `name`.pdf (for the paper) and `name`.png (for viewing), each atomically."""
    folder = Path(folder) if folder else figures_dir()
    written = {}
    for fmt in ("pdf", "png"):
        buf = io.BytesIO()
        # a fixed creation date keeps the PDF bytes reproducible
        fig.savefig(buf, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
        written[fmt] = atomic_write_bytes(folder / f"{name}.{fmt}", buf.getvalue())
    return written


# One colour per method, the same in every figure.
METHOD_COLOURS = {
    "pretrained": "#999999",
    "icl": PALETTE[0],
    "finetune": PALETTE[1],
    "augmented": PALETTE[2],
}
# Variants with a colour of their own: (method, option, value) -> colour, checked in this order.
OPTION_COLOURS = (
    ("augmented", "kind", "oracle", PALETTE[4]),
    ("augmented", "kind", "local", PALETTE[6]),
    ("augmented", "kind", "global", PALETTE[3]),
    ("icl", "nonsense_names", True, PALETTE[5]),
    ("icl", "relevant_only", True, PALETTE[5]),
)


def colour(v: Variant | str) -> str | None:
    """A variant's own colour: its method's when it runs at the profile's settings, else that of the
    first of its options with one (`OPTION_COLOURS`), else None (the chart picks a spare one)."""
    v = as_variant(v)
    if not v.options:
        return METHOD_COLOURS.get(v.method)
    return next((c for m, k, x, c in OPTION_COLOURS if v.method == m and v.get(k) == x), None)


def grouped_bars(
    table: "pd.DataFrame",
    *,
    group: str = "split",
    hue: str = "method",
    value: str = "accuracy",
    err: str | None = "se",
    chance: str | float | None = "chance",
    ax: plt.Axes | None = None,
    order: list[str] | None = None,
    hue_order: list[str] | None = None,
    colours: dict | None = None,
    legend: bool = True,
) -> plt.Axes:
    """Paper-style grouped bars: one group per `group` value, one bar per `hue` value, error bars
    from `err`, and a dashed chance line per group (`chance`: a column or one number). With
    hue="variant", `hue_order` takes variants or method names (a method's plain variant)."""
    import numpy as np

    ax = ax or plt.subplots()[1]
    groups = order or _default_order(table, group)
    hues = [as_variant(h) for h in hue_order] if hue_order and hue == "variant" else hue_order or list(dict.fromkeys(table[hue]))
    given = colours or {}
    colours = {h: given.get(h) or (colour(h) if isinstance(h, (Variant, str)) and hue in ("variant", "method") else None)
               for h in hues}
    # a variant with no colour of its own takes a palette colour no other bar of this chart uses
    spare = iter([c for c in PALETTE if c not in set(colours.values())] + PALETTE)
    colours = {h: c or next(spare) for h, c in colours.items()}
    width = 0.8 / max(1, len(hues))
    for j, h in enumerate(hues):
        rows = table[table[hue] == h].set_index(group).reindex(groups)
        x = np.arange(len(groups)) + (j - (len(hues) - 1) / 2) * width
        yerr = rows[err].to_numpy(dtype=float) if err else None
        if yerr is not None and err != "se" and "se" in rows:  # e.g. se over subsets, where a split has one subset
            yerr = np.where(np.isnan(yerr), rows["se"].to_numpy(dtype=float), yerr)
        values = rows[value].to_numpy(dtype=float)
        ax.bar(x, values, width, yerr=yerr, label=display(h), color=colours[h], error_kw={"elinewidth": 0.8, "capsize": 1.5})
        # a bar asked for but absent (a build from the records there are) is marked, not left as a gap
        for xi in x[np.isnan(values)]:
            ax.text(xi, 0.02, "no record", rotation=90, ha="center", va="bottom", fontsize=5, color="grey")
    for i, g in enumerate(groups):
        level = chance if isinstance(chance, (int, float)) else (table.loc[table[group] == g, chance].mean() if chance else None)
        if level is not None:
            ax.hlines(level, i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=0.8)
    # two-word splits on two lines, so that neighbouring labels of a narrow panel do not run together
    ax.set_xticks(range(len(groups)), [textwrap.fill(display(str(g)), 12, break_long_words=False) for g in groups])
    ax.set_ylim(0, 1)
    ax.set_ylabel(value)
    if legend:
        ax.legend(fontsize=7, ncols=min(len(hues), 4), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return ax


def _default_order(table: "pd.DataFrame", group: str) -> list[str]:
    """The groups as they come, except splits of one data set: in its reading order (`DatasetSpec.splits`)."""
    present = list(dict.fromkeys(table[group]))
    if group != "split" or "dataset" not in table or table["dataset"].nunique() != 1:
        return present
    from .datasets import spec

    known = [s for s in spec(table["dataset"].iloc[0]).splits if s in present]
    return known + [s for s in present if s not in known]


MARKERS = "osD^vP"  # one per data set, in plotting order


def compute_scatter(compute: "pd.DataFrame", ax: plt.Axes | None = None, main_model: str | None = None,
                    marker_by: str = "dataset") -> plt.Axes:
    """Accuracy on the generalization splits against FLOPs, one point per record (`analysis.compute_table`):
    colour = method, marker = data set (or model, with `marker_by="model"`), hollow = a model other
    than `main_model`; a legend for each."""
    from matplotlib.lines import Line2D

    ax = ax or plt.subplots()[1]
    names = list(dict.fromkeys(compute[marker_by]))
    markers = dict(zip(names, MARKERS))
    for (method, name, model), t in compute.groupby(["method", marker_by, "model"], sort=False):
        colour = METHOD_COLOURS.get(method, "black")
        hollow = main_model is not None and model != main_model
        ax.scatter(t["total_flops"], t["generalization"], s=14, marker=markers[name], linewidths=0.8,
                   facecolors="none" if hollow else colour, edgecolors=colour)
    methods = [m for m in METHOD_COLOURS if m in set(compute["method"])]
    by_colour = [Line2D([], [], ls="", marker="o", color=METHOD_COLOURS[m], label=display(m)) for m in methods]
    by_shape = [Line2D([], [], ls="", marker=markers[n], color="black", label=display(n)) for n in names]
    if main_model is not None and compute["model"].nunique() > 1 and marker_by != "model":
        by_shape.append(Line2D([], [], ls="", marker="o", markerfacecolor="none", color="black", label="hollow: other model"))
    ax.add_artist(ax.legend(handles=by_colour, fontsize=6, loc="upper left"))
    ax.legend(handles=by_shape, fontsize=6, loc="upper right")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs (train + augment + eval)")
    ax.set_ylabel("generalization accuracy")
    ax.set_ylim(0, 1.25)  # room for the legends above the points
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    return ax


def scale_lines(scale: "pd.DataFrame", ax: plt.Axes | None = None, variants: "list[Variant] | None" = None) -> plt.Axes:
    """Accuracy against the model's weights (log axis) for one data set and split of an
    `analysis.scale_table`: a line per variant with its 95% interval, a marker per model family,
    chance dotted."""
    from .analysis import SCALE_VARIANTS

    ax = ax or plt.subplots()[1]
    families = list(dict.fromkeys(scale.sort_values("parameters")["family"]))
    shapes = dict(zip(families, MARKERS))
    for i, v in enumerate(variants or SCALE_VARIANTS):
        t = scale[scale["variant"] == v].sort_values("parameters")
        if t.empty:
            continue
        c = colour(v) or PALETTE[(i + 3) % len(PALETTE)]
        ls = "--" if v.options else "-"
        ax.plot(t["parameters"], t["accuracy"], color=c, lw=1, ls=ls, label=display(v))
        ax.vlines(t["parameters"], t["ci_low"], t["ci_high"], color=c, lw=0.6)
        for fam, g in t.groupby("family", sort=False):
            ax.scatter(g["parameters"], g["accuracy"], color=c, marker=shapes[fam], s=12, zorder=3)
    if len(scale):
        ax.axhline(float(scale["chance"].mean()), color="grey", ls=":", lw=0.7)
    weight_axis(ax, scale["parameters"])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    return ax


def weight_axis(ax: plt.Axes, weights: "pd.Series | list[int]") -> None:
    """A log x axis ticked at the models' weights, labelled as their sizes ("135M", "1.8B")."""
    ax.set_xscale("log")
    at = sorted(set(int(w) for w in weights))
    if at:
        ax.set_xticks(at, [size_label(n) for n in at], fontsize=6)
        ax.minorticks_off()
    ax.set_xlabel("weights")


def family_legend(fig: plt.Figure, scale: "pd.DataFrame") -> None:
    """A legend of the marker each model family has in `scale_lines`, below the panels."""
    from matplotlib.lines import Line2D

    families = list(dict.fromkeys(scale.sort_values("parameters")["family"]))
    handles = [Line2D([], [], ls="", marker=m, color="black", label=f) for f, m in zip(families, MARKERS)]
    if handles:
        fig.legend(handles=handles, fontsize=7, ncols=len(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0))


def budget_curve(table: "pd.DataFrame", ax: plt.Axes | None = None, splits: list[str] | None = None) -> plt.Axes:
    """Accuracy per split against the share of sentences and documents augmented (`analysis.budget_table`
    of one data set and model): a line per split with its 95% interval, chance dashed in the line's colour."""
    ax = ax or plt.subplots()[1]
    splits = splits or _default_order(table, "split")
    shares = sorted(set(table["share"]))
    at = {s: i for i, s in enumerate(shares)}  # evenly spaced: the budgets double from one to the next
    for i, split in enumerate(splits):
        t = table[table["split"] == split].sort_values("share")
        c = PALETTE[i % len(PALETTE)]
        ax.errorbar(t["share"].map(at), t["accuracy"], yerr=[t["accuracy"] - t["ci_low"], t["ci_high"] - t["accuracy"]],
                    marker="o", ms=3, lw=1, elinewidth=0.7, capsize=1.5, color=c, label=display(split))
        ax.axhline(float(t["chance"].mean()), color=c, ls=":", lw=0.7)
    ax.set_xticks(range(len(shares)), ["FT" if s == 0 else ("all" if s == 1 else f"1/{round(1 / s)}") for s in shares])
    ax.set_xlabel("share augmented")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    return ax


def panel_widths(datasets: "list[str] | tuple[str, ...]", least: int = 2) -> list[int]:
    """Width ratios for a row of panels, one data set each: as many units as it has splits (at least
    `least`), so that every bar is about as wide and no split's label runs into its neighbour's."""
    from .datasets import spec

    return [max(least, len(spec(d).splits)) for d in datasets]


def label_outer(axes) -> None:
    """A row of panels sharing the y axis: the y label on the first panel only."""
    for ax in list(axes)[1:]:
        ax.set_ylabel("")


def shared_legend(fig: plt.Figure, ax: plt.Axes, ncols: int = 4) -> None:
    """One legend above all panels (from `ax`'s bars), so panel titles stay readable."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncols=min(ncols, len(labels)), loc="lower center", bbox_to_anchor=(0.5, 1.0))


def hierarchy_figure(profile: str = "full", seed: int | None = 0, *, fontsize: float = 6.5) -> plt.Figure:
    """The semantic structure's tree, one column per root, real names with their nonsense words."""
    from .datasets.semantic_structure import hierarchy_lines

    lines = hierarchy_lines(profile, seed)  # one line per category
    starts = [i for i, line in enumerate(lines) if not line.startswith((" ", "│", "├", "└"))]  # the roots
    columns = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]
    height_in = max(len(c) for c in columns) * fontsize * 1.3 / 72 + 0.8  # monospace lines at 1.3 line spacing
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), height_in))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.01, top=1 - 0.6 / height_in, wspace=0.05)
    axes = [axes] if len(columns) == 1 else list(axes)
    for ax, col in zip(axes, columns):
        ax.axis("off")
        ax.text(0, 1, "\n".join(col), va="top", ha="left", family="monospace", fontsize=fontsize,
                linespacing=1.3, transform=ax.transAxes)
    fig.suptitle(f"Semantic structure ({profile}: {len(lines)} categories)" + ("" if seed is None else f", seed {seed}"),
                 fontsize=fontsize + 3)
    return fig


# The claims table's part statuses, one colour each (the same in the notebook and the paper).
STATUS_COLOURS = {"holds": PALETTE[2], "contradicted": PALETTE[3], "inconclusive": "#999999"}


def forest(entries: list[dict], model: str, ax: plt.Axes | None = None) -> plt.Figure:
    """Every tested part of `model`'s claims (`icft.claims.claims_table`) as an estimate with its 95%
    interval, in points, grouped by claim; the tick on each row marks what it is tested against (0, a
    margin, chance or the ceiling already subtracted), the colour its status."""
    rows = [(e["claim"], p) for e in entries if e["model"] == model for p in e["parts"] if p.get("status") in STATUS_COLOURS]
    height = 0.9 + 0.16 * max(1, len(rows))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.8, height))
    y = list(range(len(rows)))[::-1]
    for yi, (_, p) in zip(y, rows):
        c = STATUS_COLOURS[p["status"]]
        ax.plot([100 * p["ci_low"], 100 * p["ci_high"]], [yi, yi], color=c, lw=1.4)
        ax.plot([100 * p["estimate"]], [yi], "o", color=c, ms=3.5)
        ax.plot([100 * p["reference"]], [yi], "|", color="black", ms=6, mew=0.8)
    ax.axvline(0, color="black", lw=0.5, ls=":")
    ax.set_yticks(y, [f"{claim}: {textwrap.shorten(p['test'], 70, placeholder='...')}" for claim, p in rows], fontsize=6)
    for i in range(1, len(rows)):  # a rule between claims
        if rows[i][0] != rows[i - 1][0]:
            ax.axhline(y[i] + 0.5, color="#dddddd", lw=0.6)
    ax.set_xlabel("estimate and 95% interval (percentage points; | what it is tested against)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", ms=3.5, lw=1.4, label=s) for s, c in STATUS_COLOURS.items()]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=6, ncols=3)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    return fig
