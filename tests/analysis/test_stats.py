"""analysis/stats.py against cases with known answers: t quantiles, clustered SE, paired tests.

pytest tests/analysis/test_stats.py
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stats import (
    clustered_se,
    estimate,
    paired_comparison,
    paired_relative_change,
    sign_flip_p_value,
    t_cdf,
    t_quantile,
)

# Student t 0.975 quantiles from printed tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2)
T_975 = {1: 12.706, 2: 4.303, 5: 2.571, 10: 2.228, 29: 2.045, 100: 1.984}


@pytest.mark.parametrize(("df", "expected"), sorted(T_975.items()))
def test_t_quantile_matches_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-4)
    assert t_cdf(t_quantile(0.9, df), df) == pytest.approx(0.9, abs=1e-9)


def test_clustered_se_equals_se_of_problem_means_when_balanced():
    rng = np.random.default_rng(0)
    outcomes = {f"p{i}": list(rng.integers(0, 2, size=4).astype(float)) for i in range(30)}
    means = np.array([np.mean(v) for v in outcomes.values()])
    expected = means.std(ddof=1) / math.sqrt(len(means))
    assert clustered_se(list(outcomes.values())) == pytest.approx(expected, rel=1e-12)
    est = estimate(outcomes)
    assert est.mean == pytest.approx(means.mean())
    half = t_quantile(0.975, 29) * expected
    assert (est.ci_low, est.ci_high) == pytest.approx((means.mean() - half, means.mean() + half))
    assert (est.n_problems, est.n_samples) == (30, 120)


def test_clustering_widens_the_interval_when_epochs_agree():
    # every problem gives the same answer in all 8 epochs: 8 epochs carry the information of 1, so the clustered
    # SE must equal the SE of 10 independent problems, not of 80 samples
    outcomes = {f"p{i}": [float(i < 5)] * 8 for i in range(10)}
    naive = np.std([x for v in outcomes.values() for x in v], ddof=1) / math.sqrt(80)
    assert estimate(outcomes).se == pytest.approx(np.std([0.0] * 5 + [1.0] * 5, ddof=1) / math.sqrt(10))
    assert estimate(outcomes).se > 2.5 * naive


def test_estimate_bounds_and_degenerate_cases():
    est = estimate({"a": [0.0, 1.0], "b": [0.0, 0.0], "c": [0.0, 0.0]}, bounds=(0.0, 1.0))
    assert est.ci_low == 0.0 and est.ci_high > est.mean > 0
    zero = estimate({f"p{i}": [0.0, 0.0] for i in range(30)})
    assert (zero.mean, zero.se, zero.ci_low, zero.ci_high) == (0.0, 0.0, 0.0, 0.0)
    assert zero.contains(0.0) and not zero.contains(0.9083)
    with pytest.raises(ValueError):
        estimate({})


def test_paired_identical_systems():
    a = {f"p{i}": [float(i % 3 == 0), 1.0] for i in range(30)}
    c = paired_comparison(a, dict(a))
    assert (c.delta, c.ci_low, c.ci_high, c.p_value, c.n_problems) == (0.0, 0.0, 0.0, 1.0, 30)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_paired_exact_sign_flip_p_value(k):
    # b solves k more problems than a, all else equal: under H0 each of the k differences is +-1 with prob 1/2,
    # and |sum| >= k only for all-plus or all-minus: p = 2 / 2**k exactly
    a = {f"p{i}": [0.0] for i in range(30)}
    b = {f"p{i}": [1.0 if i < k else 0.0] for i in range(30)}
    c = paired_comparison(a, b)
    assert c.method == "exact"
    assert c.p_value == pytest.approx(min(1.0, 2.0 / 2**k))
    assert c.delta == pytest.approx(k / 30)
    assert c.ci_low <= c.delta <= c.ci_high
    assert c.significant() == (2.0 / 2**k < 0.05)


def test_paired_monte_carlo_on_many_differences_is_seeded_and_small():
    a = {f"p{i}": [0.0, 0.0] for i in range(40)}
    b = {f"p{i}": [1.0, 0.5] for i in range(40)}
    first, second = paired_comparison(a, b), paired_comparison(a, b)
    assert first == second  # fixed seed: identical bootstrap and permutation
    assert first.method == "monte-carlo"
    assert first.p_value == pytest.approx(1 / 20_001)  # no sign pattern reaches the observed sum except all-plus
    assert first.delta == pytest.approx(0.75)


def test_paired_null_has_large_p_and_interval_covering_zero():
    rng = np.random.default_rng(7)
    a = {f"p{i}": list(rng.integers(0, 2, size=4).astype(float)) for i in range(60)}
    b = {f"p{i}": list(rng.integers(0, 2, size=4).astype(float)) for i in range(60)}
    c = paired_comparison(a, b)
    assert c.p_value > 0.05 and c.ci_low < 0 < c.ci_high


def test_paired_uses_only_shared_problems():
    a = {"x": [1.0], "y": [0.0], "only_a": [1.0]}
    b = {"x": [1.0], "y": [1.0], "only_b": [0.0]}
    c = paired_comparison(a, b)
    assert c.n_problems == 2 and c.delta == pytest.approx(0.5)
    with pytest.raises(ValueError):
        paired_comparison({"x": [1.0]}, {"y": [1.0]})


def test_sign_flip_exact_small_case_by_hand():
    # diffs (+1, +1, -1): sums over the 8 sign patterns are +-3 (2 patterns) and +-1 (6): P(|S| >= 1) = 1
    assert sign_flip_p_value(np.array([1.0, 1.0, -1.0])) == (1.0, "exact")
    # diffs (+2, +1): |S| in {3, 1, 1, 3}: P(|S| >= 3) = 1/2
    assert sign_flip_p_value(np.array([2.0, 1.0])) == (0.5, "exact")


def test_relative_change_known_answer():
    a = {f"p{i}": [100.0, 100.0] for i in range(20)}
    b = {f"p{i}": [90.0, 90.0] for i in range(20)}
    c = paired_relative_change(a, b)
    assert c.delta == pytest.approx(-0.10)
    assert (c.ci_low, c.ci_high) == pytest.approx((-0.10, -0.10))
