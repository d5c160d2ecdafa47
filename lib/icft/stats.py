"""The statistics of the figures and the claims: a hierarchical bootstrap over seeds and question
clusters, one-sided tests against a reference (a margin, chance or a ceiling), and the false
discovery rate over a table of tests.

Questions are not independent draws. Every question of one seed shares that seed's generated data
set and its one fine-tuning run, and questions about one person (fact, category, ...) share what they
ask about (`DatasetSpec.cluster`). So an interval resamples what was drawn independently: the seeds
first, then within each drawn seed its clusters, with replacement (a question counts as often as its
cluster was drawn, times its seed). The seed-to-seed spread is part of the interval.

Comparisons are paired: every cell (a variant on a split) of the same data set and seed is weighted
by the same draws, so ICL, FT and augmented FT of one seed are compared on the same resampled
questions. Cells on different data (another data set, nonsense names) get independent draws.

    boot = Bootstrap(question_frame(records))
    a, b = boot.cell(key_a), boot.cell(key_b)          # Estimate: point, replicates
    test = Test.of(a - b, reference=0.0)               # p that it lies above / below the reference
    adjusted = fdr([test.p_above, test.p_below, ...])  # Benjamini-Hochberg

p-values follow the percentile bootstrap's duality with its interval: the share of replicates on the
far side of the reference, (1 + count) / (1 + replicates), so a 95% interval that excludes the
reference goes with a two-sided p below 0.05.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np
import pandas as pd

REPLICATES = 4000  # >= 2,000; 4,000 puts the smallest one-sided p at 2.5e-4, below BH's thresholds for ~100 tests
ALPHA = 0.05
LEVEL = 0.95


def question_frame(records: Sequence[dict[str, Any]], cell: Any = None) -> pd.DataFrame:
    """One row per scored question of every record: `cell` (what `cell(condition, split)` returns,
    default (dataset, model, profile, method, split)), `data` (which data set the question is from:
    data set, profile, seed and data options), `seed`, `cluster`, `id`, `correct`."""
    cell = cell or (lambda c, split: (c["dataset"], c["model"], c["profile"], c["method"], split))
    rows = []
    for rec in records:
        c = rec["condition"]
        data = json.dumps([c["dataset"], c["profile"], c.get("data_options") or {}], sort_keys=True)
        for q in rec["questions"]:
            if "cluster" not in q:
                from .errors import IcftError

                raise IcftError(f"record {rec.get('key')} ({c['dataset']}, {c['method']}) has questions without clusters",
                                fix="it is of an older record format: re-derive it (`icft run`) or take the shipped one")
            rows.append((cell(c, q["split"]), data, int(c["seed"]), str(q["cluster"]), str(q["id"]), bool(q["correct"])))
    return pd.DataFrame(rows, columns=["cell", "data", "seed", "cluster", "id", "correct"])


@dataclass(frozen=True)
class Estimate:
    """A statistic: its value on the data and its bootstrap replicates (NaN where a replicate drew no
    question of the cell)."""

    point: float
    replicates: np.ndarray

    def __sub__(self, other: "Estimate | float") -> "Estimate":
        if isinstance(other, Estimate):
            return Estimate(self.point - other.point, self.replicates - other.replicates)
        return Estimate(self.point - other, self.replicates - other)

    @property
    def interval(self) -> tuple[float, float]:
        r = self.replicates[~np.isnan(self.replicates)]
        if not len(r):
            return (math.nan, math.nan)
        lo, hi = np.percentile(r, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
        return float(lo), float(hi)

    @property
    def se(self) -> float:
        r = self.replicates[~np.isnan(self.replicates)]
        return float(r.std(ddof=1)) if len(r) > 1 else math.nan

    def p_above(self, reference: float = 0.0) -> float:
        """One-sided p for "the statistic lies above `reference`": the share of replicates at or below it."""
        r = self.replicates[~np.isnan(self.replicates)]
        return float((1 + np.sum(r <= reference)) / (1 + len(r)))

    def p_below(self, reference: float = 0.0) -> float:
        """One-sided p for "the statistic lies below `reference`"."""
        r = self.replicates[~np.isnan(self.replicates)]
        return float((1 + np.sum(r >= reference)) / (1 + len(r)))


def mean(estimates: Sequence[Estimate]) -> Estimate:
    """The mean of several statistics, replicate by replicate."""
    return Estimate(float(np.mean([e.point for e in estimates])), np.mean([e.replicates for e in estimates], axis=0))


class Bootstrap:
    """Replicates of the accuracy of every cell of a question frame, resampled jointly (seeds, then
    clusters within a seed): `cell(key)`, optionally on a subset of the seeds (a comparison uses the
    seeds both of its cells have). Deterministic for a `seed`."""

    def __init__(self, frame: pd.DataFrame, replicates: int = REPLICATES, seed: int = 0):
        self.n, self.seed = int(replicates), int(seed)
        self._clusters: dict[tuple[str, int], list[str]] = {}
        self._weights: dict[tuple[str, int], np.ndarray] = {}
        self._seed_draws: dict[tuple[int, ...], np.ndarray] = {}
        # per cell and seed: (data, correct per cluster, questions per cluster), clusters of that data and seed
        self._sums: dict[Hashable, dict[int, tuple[str, np.ndarray, np.ndarray]]] = {}
        self._answers: dict[tuple[Hashable, int], dict[str, bool]] = {}  # per cell and seed: question id -> correct
        for (data, s), part in frame.groupby(["data", "seed"], sort=True):
            self._clusters[(data, s)] = sorted(part["cluster"].unique())
        for (cell, data, s), part in frame.groupby(["cell", "data", "seed"], sort=False):
            index = {c: i for i, c in enumerate(self._clusters[(data, s)])}
            k = len(index)
            at = part["cluster"].map(index).to_numpy()
            correct = np.bincount(at, weights=part["correct"].to_numpy(dtype=float), minlength=k)
            count = np.bincount(at, minlength=k).astype(float)
            self._sums.setdefault(cell, {})[s] = (data, correct, count)
            self._answers[(cell, s)] = dict(zip(part["id"], part["correct"].astype(bool)))

    def _rng(self, *labels: Any) -> np.random.Generator:
        return np.random.default_rng([self.seed, *(zlib.crc32(str(x).encode()) for x in labels)])

    def _cluster_draws(self, data: str, s: int) -> np.ndarray:
        """(replicates, clusters): how often each cluster of one seed's data set is drawn."""
        key = (data, s)
        if key not in self._weights:
            k = len(self._clusters[key])
            self._weights[key] = self._rng("clusters", data, s).multinomial(k, np.full(k, 1.0 / k), size=self.n).astype(float)
        return self._weights[key]

    def _seeds_drawn(self, seeds: tuple[int, ...]) -> np.ndarray:
        """(replicates, seeds): how often each seed is drawn."""
        if seeds not in self._seed_draws:
            k = len(seeds)
            self._seed_draws[seeds] = self._rng("seeds", *seeds).multinomial(k, np.full(k, 1.0 / k), size=self.n).astype(float)
        return self._seed_draws[seeds]

    def seeds(self, key: Hashable) -> tuple[int, ...]:
        return tuple(sorted(self._sums.get(key, {})))

    def cell(self, key: Hashable, seeds: Sequence[int] | None = None) -> Estimate:
        """The pooled accuracy of one cell over `seeds` (default: all it has) and its replicates."""
        per_seed = self._sums[key]
        use = tuple(sorted(per_seed if seeds is None else seeds))
        missing = [s for s in use if s not in per_seed]
        if missing or not use:
            raise KeyError(f"cell {key!r} has no questions of seed(s) {missing or use}")
        drawn = self._seeds_drawn(use)
        num = np.zeros(self.n)
        den = np.zeros(self.n)
        point_num = point_den = 0.0
        for j, s in enumerate(use):
            data, correct, count = per_seed[s]
            w = self._cluster_draws(data, s)
            num += drawn[:, j] * (w @ correct)
            den += drawn[:, j] * (w @ count)
            point_num += correct.sum()
            point_den += count.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = np.where(den > 0, num / den, np.nan)
        return Estimate(point_num / point_den, reps)


    def counts(self, key: Hashable, seeds: Sequence[int] | None = None) -> tuple[int, int]:
        """(right, questions) of one cell over `seeds` (default: all it has)."""
        use = self.seeds(key) if seeds is None else seeds
        answers = [a for s in use for a in self._answers[(key, s)].values()]
        return int(sum(answers)), len(answers)

    def paired_counts(self, a: Hashable, b: Hashable, seeds: Sequence[int]) -> tuple[int, int, int]:
        """(questions only `a` gets right, only `b` gets right, questions both answered) over `seeds`,
        matched by question id within a seed (cells on the same data)."""
        only_a = only_b = n = 0
        for s in seeds:
            xa, xb = self._answers[(a, s)], self._answers[(b, s)]
            for q in xa.keys() & xb.keys():
                n += 1
                only_a += xa[q] and not xb[q]
                only_b += xb[q] and not xa[q]
        return only_a, only_b, n


def exact_floor(k: int, n: int, reference: float, direction: str = "above") -> tuple[float, float]:
    """(p_holds, p_contradicts) of an exact binomial test of k right of n against `reference`, the
    questions taken as independent. The bootstrap accounts for clusters and seeds, but when every
    question of a cell is right (or wrong) its replicates do not vary and its p-value is as small as
    it can be whatever n is; a part's p is the larger of the two (`Test.of(floor=...)`)."""
    from scipy.stats import binom

    above, below = float(binom.sf(k - 1, n, reference)), float(binom.cdf(k, n, reference))
    return (above, below) if direction == "above" else (below, above)


def paired_floor(only_a: int, only_b: int, n: int, reference: float = 0.0, direction: str = "above") -> tuple[float, float]:
    """(p_holds, p_contradicts) of exact tests on paired questions for "a - b lies above `reference`"
    (`direction` "below": under it), the guard of `exact_floor` for differences. Against 0: the sign
    test on the questions only one of the two gets right. Against a margin -m < 0 (non-inferiority):
    holds when the share of questions only b gets right is shown below m (then a - b > -m); the
    contradiction is the sign test for a < b."""
    from scipy.stats import binom

    m = only_a + only_b
    sign_a = float(binom.sf(only_a - 1, m, 0.5)) if m else 1.0  # a > b
    sign_b = float(binom.sf(only_b - 1, m, 0.5)) if m else 1.0  # b > a
    if direction == "below":
        if reference != 0:
            raise ValueError("a margin is tested in the direction 'above' only (a not more than m below b)")
        return sign_b, sign_a
    if reference == 0:
        return sign_a, sign_b
    if reference > 0:
        raise ValueError(f"the reference of a paired difference is 0 or a margin below it, got {reference}")
    return float(binom.cdf(only_b, n, -reference)), sign_b


@dataclass(frozen=True)
class Test:
    """A statistic against a reference, as the claims table reads it: `p_holds` for the claimed
    direction, `p_contradicts` for the opposite one (both one-sided, before any adjustment)."""

    estimate: float
    ci_low: float
    ci_high: float
    reference: float
    p_holds: float
    p_contradicts: float

    @classmethod
    def of(cls, e: Estimate, reference: float = 0.0, direction: str = "above",
           floor: tuple[float, float] = (0.0, 0.0)) -> "Test":
        """`direction` "above": the claim is that the statistic exceeds `reference`; "below": that it is
        under it. `floor`: exact p-values (`exact_floor`, `paired_floor`) below which neither goes."""
        if direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
        up, down = e.p_above(reference), e.p_below(reference)
        lo, hi = e.interval
        holds, contradicts = (up, down) if direction == "above" else (down, up)
        return cls(e.point, lo, hi, reference, max(holds, floor[0]), max(contradicts, floor[1]))

    @classmethod
    def within(cls, e: Estimate, margin: float) -> "Test":
        """Equivalence, two one-sided tests: the claim is that the statistic lies within +-`margin` of
        0 (holds: both one-sided tests reject the outside), contradicted when it lies clearly outside."""
        lo, hi = e.interval
        holds = max(e.p_above(-margin), e.p_below(margin))
        contradicts = min(1.0, 2 * min(e.p_below(-margin), e.p_above(margin)))
        return cls(e.point, lo, hi, 0.0, holds, contradicts)


def fdr(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (`scipy.stats.false_discovery_control`), in the given order."""
    from scipy.stats import false_discovery_control

    if not len(p_values):
        return []
    return [float(x) for x in false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]


def binomial_p_above(k: int, n: int, p: float) -> float:
    """One-sided exact binomial test: P(X >= k) for X ~ Binomial(n, p) (`scipy.stats.binom`: any n)."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, p))
