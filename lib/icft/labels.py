"""How things read where they are shown (figures, tables, the claims' text): the one place labels are made.

Nothing selects by these strings: rows are chosen by data (`icft.variants.Variant`, split names).
"""

from __future__ import annotations

from typing import Any

from .variants import Variant

# How methods read in figures, tables and the claims' text.
METHODS = {"icl": "ICL", "finetune": "FT", "augmented": "augmented FT", "pretrained": "pretrained"}
# The shortcut control's scorers (`icft.shortcuts`).
SCORERS = {"ngram": "word trigrams", "cooccurrence": "co-occurrence"}


def _option(key: str, value: Any, options: dict[str, Any]) -> str | None:
    if key == "nonsense_names":
        return "nonsense names" if value else None
    if key == "relevant_only":
        return "relevant only" if value else None
    if key == "kind":
        if value == "oracle":
            n = options.get("max_sentences")
            return "oracle" if n is None else f"oracle, {n} sentences"
        return str(value)
    if key == "max_sentences" and options.get("kind") == "oracle":
        return None  # said with the kind
    if key == "in_context_only":
        return "questions in context" if value else None
    if key == "share":
        return "all augmented" if value is None else f"{value:.0%} augmented"
    if key == "writer":
        return f"written by {value}"
    if key == "fewshot":
        return f"{value} examples"
    if key == "steps":
        return f"{value} steps"
    if key == "token_epochs":
        return f"the tokens of {value:g} passes"
    if key == "stop_at":
        return "fixed budget" if value is None else f"stop at {value:.0%}"
    if key in ("eval_every", "eval_questions"):
        return None  # how often the stopping rule looks, said by stop_at
    return f"{key} {value}"


def weights(n: float) -> str:
    """A model's size as its name says it: "135M", "1.8B"."""
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def variant(v: Variant) -> str:
    """"FT", "augmented FT (oracle)", "ICL (relevant only)", "FT (split cumulative, steps 75)"..."""
    notes = [n for k, x in v.options if (n := _option(k, x, v.opts))]
    return METHODS.get(v.method, v.method) + (f" ({', '.join(notes)})" if notes else "")


def text(x: Any) -> str:
    """A variant's label, a method's name, or a split or data set name with spaces ("category holdout")."""
    if isinstance(x, Variant):
        return variant(x)
    return METHODS.get(str(x), str(x).replace("_", " "))
