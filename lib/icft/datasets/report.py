"""Tables that describe built data sets (for the inspection notebook and reports)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .base import load_card, load_documents, load_questions


def counts_table(card: dict[str, Any], max_subsets: int = 6) -> pd.DataFrame:
    """Questions and chance level per split, and per split x subset where a split has few subsets.

    A split with more than `max_subsets` subsets (the reversal curse's templates) gets its total only.
    """
    rows = [
        {"split": split, "subset": subset or "-", "questions": n, "chance": card["chance_by_subset"][split][subset]}
        for split, subsets in card["counts"]["questions_by_subset"].items() if len(subsets) <= max_subsets
        for subset, n in subsets.items()
    ]
    rows += [{"split": split, "subset": f"(all {len(card['counts']['questions_by_subset'][split])} subsets)",
              "questions": n, "chance": card["chance"][split]}
             for split, n in card["counts"]["questions"].items()]
    df = pd.DataFrame(rows).sort_values(["split", "subset"], kind="stable").reset_index(drop=True)
    df.attrs["documents"] = card["counts"]["documents"]
    return df


def overview(cards: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per data set: source, documents, questions per split, chance per split."""
    rows = []
    for c in cards:
        row = {"data set": c["name"] + (" (nonsense names)" if c.get("names") == "nonsense" else ""),
               "source": c.get("source", "generated"), "profile": c["profile"], "seed": c["seed"],
               "documents": c["counts"]["documents"]}
        for split, n in c["counts"]["questions"].items():
            row[f"{split}"] = f"{n} (chance {c['chance'][split]:.2f})"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def document_examples(folder: str | Path, n: int = 2) -> pd.DataFrame:
    """The first `n` training documents of each style."""
    seen: dict[str, int] = {}
    rows = []
    for d in load_documents(folder):
        style = d.meta.get("style", "")
        if seen.get(style, 0) < n:
            seen[style] = seen.get(style, 0) + 1
            rows.append({"style": style, "id": d.id, "text": d.text})
    return pd.DataFrame(rows)


def question_examples(folder: str | Path, n: int = 2, by_subset: bool = False) -> pd.DataFrame:
    """The first `n` questions of each split (or of each split x subset): prompt, answer, other choices."""
    seen: dict[tuple[str, str], int] = {}
    rows = []
    for q in load_questions(folder):
        group = (q.split, q.subset if by_subset else "")
        if seen.get(group, 0) < n:
            seen[group] = seen.get(group, 0) + 1
            rows.append({
                "split": q.split, "subset": q.subset, "prompt": q.prompt, "answer": q.choices[q.answer],
                "other choices": " | ".join(c for i, c in enumerate(q.choices) if i != q.answer),
            })
    return pd.DataFrame(rows)


def word_table(cards: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Nonsense-word statistics per data set (tokens per word when the card has them)."""
    rows = []
    for c in cards:
        w = c["nonsense_words"]
        if not w["n"]:
            continue
        tpw = w.get("tokens_per_word") or {}
        rows.append({
            "data set": c["name"] + (" (nonsense names)" if c.get("names") == "nonsense" else ""),
            "words": w["n"],
            "4 letters": w["length_counts"].get("4", 0), "5 letters": w["length_counts"].get("5", 0),
            "max zipf frequency": w["max_zipf_frequency"],
            "tokens/word mean": tpw.get("mean"), "min": tpw.get("min"), "max": tpw.get("max"),
            "tokenizer": c.get("tokenizer"),
            "examples": ", ".join(w["examples"][:8]),
        })
    return pd.DataFrame(rows)


def load_cards(folders: Iterable[str | Path]) -> list[dict[str, Any]]:
    return [load_card(f) for f in folders]


def summary(cards: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the paper's data-set table shows, as JSON: per data set, documents and questions per split."""
    return [
        {
            "name": c["name"] + (" (nonsense names)" if c.get("names") == "nonsense" else ""),
            "source": c.get("source", "generated"),
            "profile": c["profile"],
            "documents": c["counts"]["documents"],
            "splits": [{"split": s, "questions": n, "chance": c["chance"][s]} for s, n in c["counts"]["questions"].items()],
            "tokens_per_word": (c.get("nonsense_words") or {}).get("tokens_per_word", {}).get("mean"),
        }
        for c in cards
    ]
