"""A shortcut control for every test split: how far a scorer that knows only the training documents'
word statistics gets, with no language model and no inference.

A split is meant to test what a model inferred from the documents. If a scorer that only counts which
words follow which (an n-gram model of the documents) or which words share a document (co-occurrence)
beats chance on it, the split rewards association, and a model's accuracy there is not evidence of
inference. The control is reported beside each figure (`table`) and in the claims notebook.

    rows = shortcuts.table(records)        # the data sets and seeds of `records`, every split, both scorers
    rows[rows.beats_chance]                # the splits a word-statistics scorer passes

Two scorers, both fitted on the training documents of one generated data set (the documents that FT
trains on and ICL reads), both scoring a question's choices as the models do, as continuations of its
prompt:

- `ngram`: a word trigram model (`nltk.lm.WittenBellInterpolated`, documents lower-cased into words,
  each document one padded sequence); a choice scores the summed log-probability of its words after
  the prompt's last words, as the records' `sum` normalization does. A word the documents never hold
  gets the probability add-one smoothing would give it, so no choice is ruled out by one new word.
- `cooccurrence`: for every pair of a choice word and a prompt word (Porter stems, words in more than
  half of the documents left out as function words), the share of the choice word's documents that
  also hold the prompt word; a choice scores the mean over its pairs.

Ties (a choice scoring exactly what another does) are broken at random with a seed, so a scorer with
nothing to go on sits at chance. Uncertainty is the hierarchical bootstrap of the records (`icft.stats`:
seeds, then each data set's question clusters), and "beats chance" is its one-sided test against chance,
Benjamini-Hochberg adjusted over the table.
"""

from __future__ import annotations

import math
import random
import re
import warnings
from collections import Counter, defaultdict
from typing import Any, Sequence

import pandas as pd

from .records import Document, Question

SCORERS = ("ngram", "cooccurrence")
ORDER = 3  # trigrams: a choice's first word is scored after the prompt's last two
COMMON = 0.5  # co-occurrence ignores stems in more than this share of the documents (function words)
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits), punctuation dropped."""
    return _WORD.findall(text.lower())


class Ngram:
    """A word n-gram model of the documents (`nltk.lm.WittenBellInterpolated`)."""

    def __init__(self, documents: Sequence[Document], order: int = ORDER):
        from nltk.lm import WittenBellInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline

        texts = [words(d.text) for d in documents]
        train, vocab = padded_everygram_pipeline(order, texts)
        self.order = order
        self.lm = WittenBellInterpolated(order)
        self.lm.fit(train, vocab)
        tokens = sum(len(t) for t in texts)
        self._unseen = 1.0 / (tokens + len(self.lm.vocab))  # add-one's probability of a word never seen

    def choice_scores(self, q: Question) -> list[float]:
        context = ["<s>"] * (self.order - 1) + words(q.prompt)
        scores = []
        for choice in q.choices:
            seq, total = list(context), 0.0
            for w in words(choice):
                p = self.lm.score(w, seq[-(self.order - 1):]) if w in self.lm.vocab else 0.0
                total += math.log(max(p, self._unseen))
                seq.append(w)
            scores.append(total)
        return scores


class Cooccurrence:
    """Which stems share a document: `share(c, p)` = documents holding both / documents holding c."""

    def __init__(self, documents: Sequence[Document]):
        from nltk.stem import PorterStemmer

        self._stem = PorterStemmer().stem
        sets = [set(self.stems(d.text)) for d in documents]
        df = Counter(s for doc in sets for s in doc)
        self.common = {s for s, n in df.items() if n > COMMON * len(sets)}
        self.df = df
        self.pairs: defaultdict[str, Counter] = defaultdict(Counter)
        for doc in sets:
            content = doc - self.common
            for c in content:
                self.pairs[c].update(content - {c})

    def stems(self, text: str) -> list[str]:
        return [self._stem(w) for w in words(text)]

    def choice_scores(self, q: Question) -> list[float]:
        prompt = set(self.stems(q.prompt)) - self.common
        scores = []
        for choice in q.choices:
            shares = [self.pairs[c][p] / self.df[c] if self.df[c] else 0.0
                      for c in set(self.stems(choice)) - self.common for p in prompt if p != c]
            scores.append(sum(shares) / len(shares) if shares else 0.0)
        return scores


def pick(scores: Sequence[float], rng: random.Random) -> int:
    """The best-scoring choice, ties broken at random."""
    best = max(scores)
    return rng.choice([i for i, s in enumerate(scores) if s == best])


def score(documents: Sequence[Document], questions: Sequence[Question], seed: int = 0) -> dict[str, list[int]]:
    """Each scorer's predicted choice for every question, fitted on `documents`."""
    fitted = {"ngram": Ngram(documents), "cooccurrence": Cooccurrence(documents)}
    out = {}
    for name, scorer in fitted.items():
        rng = random.Random(f"{name}-{seed}")
        out[name] = [pick(scorer.choice_scores(q), rng) for q in questions]
    return out


def control_records(dataset: str, profile: str, seed: int, data_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The control on one generated data set as records of the shape `icft.stats.question_frame` reads,
    one per scorer (its `condition.method` is the scorer's name); the test questions only."""
    from . import datasets

    gen, _, _ = datasets.generate(dataset, profile, seed, **(data_options or {}))
    cluster = datasets.spec(dataset).cluster
    questions = [q for q in gen.questions if q.answer is not None]
    picks = score(gen.documents, questions, seed)
    condition = {"dataset": dataset, "profile": profile, "seed": seed, "data_options": dict(data_options or {})}
    return [{"condition": {**condition, "method": name},
             "questions": [{"id": q.id, "split": q.split, "cluster": cluster(q), "correct": p == q.answer, "chance": q.chance}
                           for q, p in zip(questions, picks[name])]}
            for name in SCORERS]


def _data_of(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, int, tuple]]:
    """The generated data sets the records ran on: (dataset, profile, seed, data options), each once."""
    out = {}
    for r in records:
        c = r["condition"]
        opts = tuple(sorted((c.get("data_options") or {}).items()))
        out.setdefault((c["dataset"], c["profile"], int(c["seed"]), opts), None)
    return list(out)


def table(records: Sequence[dict[str, Any]], replicates: int | None = None) -> pd.DataFrame:
    """The control on every data set (and seed) of `records`: one row per data set, data options,
    scorer and split, with its accuracy, 95% interval, chance, the one-sided p of beating chance
    (BH-adjusted over the table, `p_adjusted`) and `beats_chance` (adjusted p < 0.05)."""
    from .stats import ALPHA, REPLICATES, Bootstrap, Test, exact_floor, fdr, question_frame

    from .errors import IcftError

    controls, skipped = [], []
    for d, p, s, o in _data_of(records):
        try:
            controls += control_records(d, p, s, dict(o))
        except IcftError as e:  # data that cannot be read here (the reversal curse's original files)
            skipped.append(f"{d} seed {s}: {e.what}")
    if skipped:
        warnings.warn("the shortcut control is not computed for " + "; ".join(skipped), stacklevel=2)
    if not controls:
        return pd.DataFrame(columns=["dataset", "data_options", "scorer", "split", "accuracy", "ci_low", "ci_high",
                                     "chance", "n", "seeds", "p", "p_adjusted", "beats_chance"])

    def cell(c: dict[str, Any], split: str) -> tuple:
        return (c["dataset"], tuple(sorted(c["data_options"].items())), c["method"], split)

    boot = Bootstrap(question_frame(controls, cell), replicates or REPLICATES)
    chance: dict[tuple, list[float]] = defaultdict(list)
    seeds: dict[tuple, set[int]] = defaultdict(set)
    for rec in controls:
        for q in rec["questions"]:
            key = cell(rec["condition"], q["split"])
            chance[key].append(q["chance"])
            seeds[key].add(rec["condition"]["seed"])
    rows = []
    for key in chance:
        est = boot.cell(key)
        ref = sum(chance[key]) / len(chance[key])
        k, n = boot.counts(key)
        test = Test.of(est, reference=ref, floor=exact_floor(k, n, ref))
        dataset, opts, scorer, split = key
        rows.append({"dataset": dataset, "data_options": dict(opts), "scorer": scorer, "split": split,
                     "accuracy": est.point, "ci_low": test.ci_low, "ci_high": test.ci_high, "chance": ref, "n": n,
                     "seeds": ",".join(map(str, sorted(seeds[key]))), "p": test.p_holds})
    out = pd.DataFrame(rows)
    out["p_adjusted"] = fdr(out["p"].tolist())
    out["beats_chance"] = out["p_adjusted"] < ALPHA
    return out


def for_split(control: pd.DataFrame, dataset: str, split: str, source: str | None = None) -> pd.DataFrame:
    """The control's rows (one per scorer) for one split of a data set's main data (`source`: the
    generated set or the reversal curse's original files; None: whichever was run), never a variant's
    data such as nonsense names."""
    from .variants import data_source

    if control.empty:
        return control
    main = control["data_options"].map(lambda o: not (set(o) - {"rc_data"})
                                       and (source is None or data_source({"data_options": o}) == source))
    return control[main & (control["dataset"] == dataset) & (control["split"] == split)]


def to_markdown(control: pd.DataFrame) -> str:
    """The control as a Markdown table: per data set (and data options) and split, chance and each
    scorer's accuracy with its interval; a split a scorer passes (BH-adjusted p < 0.05) is marked."""
    from .labels import SCORERS as LABELS
    from .labels import text as readable

    if control.empty:
        return "*(no data set to control)*"
    head = "| data set | split | chance | " + " | ".join(LABELS[s] for s in SCORERS) + " |"
    lines = [head, "|" + "---|" * (3 + len(SCORERS))]
    groups = control.groupby([control["dataset"], control["data_options"].map(lambda o: tuple(sorted(o.items()))), "split"], sort=False)
    for (dataset, opts, split), rows in groups:
        by = {r["scorer"]: r for _, r in rows.iterrows()}
        name = readable(dataset) + "".join(f" ({readable(k)})" for k, v in opts if v and k != "rc_data")
        cells = [f"{by[s]['accuracy']:.0%} ({by[s]['ci_low']:.0%}-{by[s]['ci_high']:.0%})" + (" **above chance**" if by[s]["beats_chance"] else "")
                 if s in by else "-" for s in SCORERS]
        chance = rows["chance"].iloc[0]
        lines.append(f"| {name} | {readable(split)} | {chance:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
