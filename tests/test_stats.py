"""The statistics against cases with a known answer (icft.stats)."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from icft import stats


def _frame(cells: dict, seed_of=lambda cell: 0, per_cluster: int = 1, data: str = "d") -> pd.DataFrame:
    """cells: cell -> list of 0/1 outcomes; question i of a cell is in cluster i // per_cluster."""
    rows = [(cell, data, seed_of(cell), f"c{i // per_cluster}", f"q{i}", bool(x)) for cell, xs in cells.items() for i, x in enumerate(xs)]
    return pd.DataFrame(rows, columns=["cell", "data", "seed", "cluster", "id", "correct"])


def _outcomes(p: float, n: int, seed: int = 0) -> list[int]:
    right = set(random.Random(seed).sample(range(n), round(p * n)))
    return [int(i in right) for i in range(n)]


def test_the_interval_of_independent_questions_is_the_binomial_one():
    boot = stats.Bootstrap(_frame({"a": _outcomes(0.3, 400)}), replicates=4000, seed=1)
    e = boot.cell("a")
    se = math.sqrt(0.3 * 0.7 / 400)
    assert e.point == pytest.approx(0.3) and e.se == pytest.approx(se, rel=0.1)
    lo, hi = e.interval
    assert lo < 0.3 < hi and hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    again = stats.Bootstrap(_frame({"a": _outcomes(0.3, 400)}), replicates=4000, seed=1).cell("a")
    assert np.array_equal(again.replicates, e.replicates)  # seeded


def test_clusters_widen_the_interval_as_their_count_says():
    """20 clusters of 10 questions answered alike carry the information of 20 questions, not 200."""
    xs = [x for x in _outcomes(0.5, 20) for _ in range(10)]
    clustered = stats.Bootstrap(_frame({"a": xs}, per_cluster=10), seed=2).cell("a")
    naive = stats.Bootstrap(_frame({"a": xs}, per_cluster=1), seed=2).cell("a")
    assert clustered.se == pytest.approx(math.sqrt(0.25 / 20), rel=0.15)
    assert clustered.se / naive.se == pytest.approx(math.sqrt(10), rel=0.2)


def test_seeds_are_resampled_so_their_spread_is_in_the_interval():
    cells = {("a", 0): _outcomes(0.2, 500, 0), ("a", 1): _outcomes(0.8, 500, 1)}
    frame = _frame(cells, seed_of=lambda c: c[1])
    frame["cell"] = "a"
    e = stats.Bootstrap(frame, seed=3).cell("a")
    assert e.point == pytest.approx(0.5)
    lo, hi = e.interval
    assert lo <= 0.21 and hi >= 0.79  # a replicate may draw one seed twice


def test_identical_methods_differ_by_nothing_and_paired_differences_are_tighter():
    a = _outcomes(0.6, 300, 4)
    boot = stats.Bootstrap(_frame({"a": a, "b": list(a)}, per_cluster=10), seed=4)
    d = boot.cell("a") - boot.cell("b")
    assert d.point == 0 and np.all(d.replicates == 0)
    t = stats.Test.of(d, 0.0, floor=stats.paired_floor(*boot.paired_counts("a", "b", [0])))
    assert t.p_holds == 1.0 and t.p_contradicts == 1.0
    # b: a's answers with 15 of them flipped; pairing removes the variance the two share
    flip = set(random.Random(5).sample(range(300), 15))
    b = [1 - x if i in flip else x for i, x in enumerate(a)]
    boot = stats.Bootstrap(_frame({"a": a, "b": b}, per_cluster=10), seed=4)
    paired = (boot.cell("a") - boot.cell("b")).se
    assert paired < 0.5 * math.hypot(boot.cell("a").se, boot.cell("b").se)


def test_exact_floors_guard_cells_whose_questions_all_agree():
    """All 8 questions wrong: the bootstrap's replicates do not vary, the binomial test says it is no evidence."""
    boot = stats.Bootstrap(_frame({"a": [0] * 8}), seed=0)
    e = boot.cell("a") - 0.25
    assert stats.Test.of(e, 0.0, "below").p_holds < 0.001
    floored = stats.Test.of(e, 0.0, "below", floor=stats.exact_floor(*boot.counts("a"), 0.25, "below"))
    assert floored.p_holds == pytest.approx(0.75**8)
    assert stats.paired_floor(8, 0, 8) == (pytest.approx(0.5**8), 1.0)  # the sign test
    assert stats.paired_floor(0, 0, 8, reference=-0.1)[0] == pytest.approx(0.9**8)  # non-inferiority from 8 ties: weak


def test_equivalence_needs_both_one_sided_tests():
    boot = stats.Bootstrap(_frame({"a": _outcomes(0.5, 2000)}), seed=6)
    assert stats.Test.within(boot.cell("a") - 0.5, 0.1).p_holds < 0.001  # tight and centred: shown within
    wide = stats.Bootstrap(_frame({"a": _outcomes(0.5, 20)}), seed=6)
    assert stats.Test.within(wide.cell("a") - 0.5, 0.1).p_holds > 0.05  # n = 20 cannot show it
    off = stats.Test.within(boot.cell("a") - 0.2, 0.1)
    assert off.p_holds > 0.5 and off.p_contradicts < 0.001


def test_benjamini_hochberg_on_a_fixed_list():
    assert stats.fdr([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.fdr([]) == []


def test_the_binomial_test_does_not_overflow():
    assert stats.binomial_p_above(50_800, 100_000, 0.5) < 1e-6
    assert stats.binomial_p_above(50_000, 100_000, 0.5) == pytest.approx(0.5, abs=0.01)
    assert stats.exact_floor(0, 100_000, 0.25, "below")[0] == 0.0
