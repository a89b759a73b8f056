"""suites/stats.py (the statistics analysis/, training/report.py and systems/speculative.py share) against cases
with known answers: t quantiles, clustered SE, Wilson / exact intervals at the boundaries, the same-problem
reproduction test, paired and two-sample tests.

    pytest tests/analysis/test_stats.py
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from suites.stats import (
    REPRODUCTION_TOLERANCE,
    clopper_pearson,
    clustered_se,
    effective_n,
    mean_estimate,
    paired_comparison,
    paired_relative_change,
    proportion_estimate,
    reproduction_test,
    sign_flip_p_value,
    t_quantile,
    two_sample_comparison,
    wilson_interval,
)

# Student t 0.975 quantiles from printed tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2)
T_975 = {1: 12.706, 2: 4.303, 5: 2.571, 10: 2.228, 29: 2.045, 100: 1.984}
# An AIME-like run: 30 problems x 16 epochs, successes per problem as a strong model's are spread (13 always
# solved, 2 never, the rest in between): mean 70.4%
TYPICAL_SUCCESSES = [16] * 13 + [15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 4, 3, 2, 1, 0, 0]


def typical_run(successes=TYPICAL_SUCCESSES, epochs=16):
    return {f"p{i:02d}": [1.0] * s + [0.0] * (epochs - s) for i, s in enumerate(successes)}


@pytest.mark.parametrize(("df", "expected"), sorted(T_975.items()))
def test_t_quantile_matches_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-4)


def test_clustered_se_equals_se_of_problem_means_when_balanced():
    rng = np.random.default_rng(0)
    outcomes = {f"p{i}": list(rng.integers(0, 2, size=4).astype(float)) for i in range(30)}
    means = np.array([np.mean(v) for v in outcomes.values()])
    expected = means.std(ddof=1) / math.sqrt(len(means))
    assert clustered_se(list(outcomes.values())) == pytest.approx(expected, rel=1e-12)
    est = proportion_estimate(outcomes)
    assert est.mean == pytest.approx(means.mean()) and est.se == pytest.approx(expected)
    assert (est.n_problems, est.n_samples, est.method) == (30, 120, "wilson-deff")
    assert est.ci_low < est.mean < est.ci_high


def test_mean_estimate_is_a_t_interval_over_problem_means():
    outcomes = {f"p{i}": [float(10 * i), float(10 * i + 2)] for i in range(12)}
    means = np.array([10 * i + 1.0 for i in range(12)])
    est = mean_estimate(outcomes, lower=0.0)
    half = t_quantile(0.975, 11) * means.std(ddof=1) / math.sqrt(12)
    assert (est.ci_low, est.ci_high) == pytest.approx((max(0.0, means.mean() - half), means.mean() + half))
    assert est.method == "t"


def test_zero_of_ten_has_an_honest_upper_bound():
    """The collapse this replaced: 0/10 printed [0.0, 0.0]. Exact 95% upper bound is 30.8%, Wilson's 27.8%."""
    est = proportion_estimate({f"p{i}": [0.0] for i in range(10)})
    assert est.mean == 0.0 and est.ci_low == 0.0
    assert 0.25 < est.ci_high < 0.35
    assert est.ci_high == pytest.approx(wilson_interval(0.0, 10)[1])
    low, high = clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))  # the closed form of the exact bound
    # the mirror image at 100%, and a single problem (n=1) never collapses either
    full = proportion_estimate({f"p{i}": [1.0, 1.0] for i in range(10)})
    assert full.ci_high == 1.0 and 0.65 < full.ci_low < 0.75
    one = proportion_estimate({"p": [0.0]})
    assert one.ci_high > 0.7


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (31, 200), (3, 7)])
def test_wilson_matches_scipy_for_integer_counts(k, n):
    ci = scipy_stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson_interval(k / n, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_effective_n_between_problems_and_samples():
    # 8 epochs that always agree carry the information of 1: n_eff = n problems
    agree = {f"p{i}": [float(i < 5)] * 8 for i in range(10)}
    est = proportion_estimate(agree)
    assert est.n_effective == pytest.approx(10, rel=0.12)  # p(1-p)/SE^2 = 0.25 / (0.25 * 10/9 / 10) = 9 -> 10
    assert est.n_effective == 10  # clamped at the number of problems
    # every problem at the same rate: no between-problem variance, the epochs are all the information
    same_rate = {f"p{i}": [1.0, 0.0, 1.0, 0.0] for i in range(20)}
    assert proportion_estimate(same_rate).n_effective == 80
    assert effective_n(0.0, 0.0, 20, 80) == 20  # at 0%: the design effect cannot be measured, taken as k
    assert effective_n(0.5, 0.05, 20, 80) == pytest.approx(80)  # 0.25 / 0.0025 = 100, clamped to 80 samples
    assert effective_n(0.5, 0.2, 20, 80) == 20  # 6.25, clamped up to the 20 problems
    wide, narrow = proportion_estimate(agree), proportion_estimate(same_rate)
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low


def test_reproduction_below_when_five_points_under_on_30_by_16():
    outcomes = typical_run()
    ours = np.mean([np.mean(v) for v in outcomes.values()])
    below = reproduction_test(outcomes, ours + 0.05)
    assert below.verdict == "below"
    assert below.difference == pytest.approx(-0.05)
    assert below.half_width < 0.05  # the epochs' noise on the same problems is ~+-4 points, not the +-12 of a t CI
    same = reproduction_test(outcomes, ours)
    assert same.verdict == "reproduced" and same.tolerance == REPRODUCTION_TOLERANCE
    assert reproduction_test(outcomes, ours - 0.05).verdict == "above"
    # 3 points under is within the noise but not within the tolerance: not decided either way
    assert reproduction_test(outcomes, ours + 0.03).verdict == "inconclusive"


def test_reproduction_is_inconclusive_on_one_epoch_or_few_problems():
    one_epoch = {f"p{i}": [float(i % 4 != 0)] for i in range(30)}
    mean = np.mean([v[0] for v in one_epoch.values()])
    assert reproduction_test(one_epoch, mean).verdict == "inconclusive"  # +-16 points: cannot resolve 5
    # even an all-correct run on 30 problems x 1 epoch cannot claim to reproduce 100%: Jeffreys keeps noise
    assert reproduction_test({f"p{i}": [1.0] for i in range(30)}, 1.0).verdict == "inconclusive"
    with pytest.raises(ValueError):
        reproduction_test(one_epoch, 90.83)  # a percentage passed as a fraction: refused


def test_reproduction_variance_is_the_binomial_formula():
    outcomes = typical_run()
    p = np.array([(s + 0.5) / 17 for s in TYPICAL_SUCCESSES])
    expected = math.sqrt(np.sum(p * (1 - p) * (1 / 16 + 1 / 16)) / 30**2)
    assert reproduction_test(outcomes, 0.7).se == pytest.approx(expected)
    assert reproduction_test(outcomes, 0.7, paper_epochs=64).se < expected  # a more precise paper value


def test_paired_identical_systems():
    a = {f"p{i}": [float(i % 3 == 0), 1.0] for i in range(30)}
    c = paired_comparison(a, dict(a))
    assert (c.delta, c.p_value, c.n_problems) == (0.0, 1.0, 30)
    # agreement on 30 problems does not prove equality: the interval is the exact bound of the share of problems
    # the systems could disagree on (Clopper-Pearson, 0 of 30: 1 - 0.025 ** (1 / 30)), not a collapsed [0, 0]
    assert c.ci_high == pytest.approx(1 - 0.025 ** (1 / 30)) and c.ci_low == -c.ci_high
    assert 0.11 < c.ci_high < 0.12
    # one problem of 30 apart: the bootstrap interval again, its upper end above 0
    b = {**a, "p1": [1.0, 1.0]}
    assert paired_comparison(a, b).ci_high > 0


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
    # no random sign pattern reaches the all-plus sum: scipy's (0 + 1) / (20,000 + 1) per tail, doubled
    assert first.p_value == pytest.approx(2 / 20_001)
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
    assert sign_flip_p_value(np.array([0.0, 3.0])) == (1.0, "exact")  # one non-zero difference


def test_relative_change_known_answer():
    a = {f"p{i}": [100.0, 100.0] for i in range(20)}
    b = {f"p{i}": [90.0, 90.0] for i in range(20)}
    c = paired_relative_change(a, b)
    assert c.delta == pytest.approx(-0.10)
    assert (c.ci_low, c.ci_high) == pytest.approx((-0.10, -0.10))


def test_two_sample_comparison():
    low = [0.0, 0.1, 0.0, 0.1, 0.0]
    high = [0.9, 1.0, 0.9, 1.0, 1.0]
    up = two_sample_comparison(low, high)
    assert up.difference == pytest.approx(0.92) and up.ci_low > 0.8
    assert up.p_greater == pytest.approx(1 / 252)  # exact: C(10, 5) = 252 relabellings, only the observed one
    assert two_sample_comparison(high, low).p_greater == pytest.approx(1.0)
