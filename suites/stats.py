"""The statistics of k2bench, on scipy.stats: avg@k intervals, the same-problem reproduction test, paired and
two-sample comparisons. One module for analysis/, training/report.py and systems/speculative.py.

Why here: DESIGN.md's import directions are training -> suites, systems -> suites (models data + inspect), analysis
-> results only, and nothing imports analysis. A pure module under suites/ (numpy + scipy, no inspect_ai, no
torch; `suites/__init__.py` is empty) is the one place all three may import without a new edge into analysis or
a new top-level package, and it sits beside the metrics it describes (a suite's avg@k is `Epochs(k, "mean")`).

What and why (the reasons in full, with references: analysis/README.md):
- avg@k of a 0/1 outcome: the mean over problems of the mean over epochs. Its uncertainty over the population
  of problems is problem-clustered (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640, clustered SEs):
  SE = sd(problem means) / sqrt(n), which is inspect_ai's `stderr(cluster=...)` for balanced epochs.
- Proportion intervals: Wilson (Brown, Cai & DasGupta 2001) with the effective sample size n_eff = p(1-p)/SE^2
  of the clustered design (Kish's design effect; Korn & Graubard 1998, Dean & Pagano 2015): honest at 0 and 1,
  where a t interval collapses to [0, 0]. With nothing to measure the design effect by (every outcome 0, or
  every outcome 1) it is taken as its maximum, k: n_eff = the number of problems.
- Reproduction (`reproduction_test`): does a run score what the paper reports *on the same problems*? The noise
  is then only the epochs' sampling noise given the problems (Miller 2024's within-question variance under
  resampling, sum_i sigma_i^2 / (K n^2)), for our K epochs and for the paper's 16 alike; the verdict is an
  equivalence test against a stated tolerance.
- Paired comparisons of two systems: percentile bootstrap over problems (scipy.stats.bootstrap) and a sign-flip
  permutation test (scipy.stats.permutation_test; exact when few problems differ), seeded for reproducibility.

    python -c "from suites.stats import wilson_interval; print(wilson_interval(0.0, 10))"   # (0.0, 0.2775...)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
SEED = 20250907  # fixed: the paper's first release date; any constant makes the resampling reproducible
BOOTSTRAP_RESAMPLES = 10_000
PERMUTATION_RESAMPLES = 20_000
EXACT_PERMUTATION_MAX = 16  # 2**16 sign patterns enumerate in well under a second
PAPER_EPOCHS = 16  # the paper's avg@16 (suites/_protocol.py PAPER_EPOCHS; repeated to keep this module pure)
# Reproduction tolerance: a run reproduces the paper when ours - paper lies, with 95% confidence, within +-5
# points. The paper's full system gains 3.5-7.3 points over its own SFT+RL checkpoint on these benchmarks
# (Table 2): a test that cannot resolve 5 points cannot tell the system from its checkpoint.
REPRODUCTION_TOLERANCE = 0.05
VERDICTS = ("reproduced", "below", "above", "inconclusive")


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def t_quantile(p: float, df: float) -> float:
    """Student t quantile (scipy.stats.t.ppf)."""
    from scipy import stats

    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    return float(stats.t.ppf(p, df))


# --------------------------------------------------------------------------------------------------------------
# avg@k


@dataclass(frozen=True)
class Estimate:
    """A mean over problems (of per-problem epoch means), its problem-clustered SE and a 95% interval."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n_problems: int
    n_samples: int
    method: str  # "wilson-deff" (proportions) or "t" (unbounded means: tokens, seconds)
    n_effective: float | None = None  # Wilson's n after the design effect (proportions only)

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def clustered_se(clusters: Sequence[Sequence[float]]) -> float:
    """Cluster-robust standard error of the pooled sample mean (inspect_ai's `stderr(cluster=...)` formula)."""
    arrays = [np.asarray(c, dtype=float) for c in clusters if len(c)]
    n_clusters = len(arrays)
    if n_clusters < 2:
        return 0.0
    values = np.concatenate(arrays)
    mean = values.mean()
    variance = sum(float((a - mean).sum()) ** 2 for a in arrays)
    return math.sqrt(variance * n_clusters / (n_clusters - 1)) / len(values)


def _problem_means(outcomes: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, int]:
    clusters = [np.asarray(v, dtype=float) for _, v in sorted(outcomes.items()) if len(v)]
    if not clusters:
        raise ValueError("no outcomes to estimate from")
    return np.asarray([c.mean() for c in clusters]), int(sum(c.size for c in clusters))


def problem_se(means: np.ndarray) -> float:
    """SE of the mean of problem means: sd(ddof=1) / sqrt(n); 0 for one problem (no spread to measure)."""
    return float(means.std(ddof=1) / math.sqrt(means.size)) if means.size > 1 else 0.0


def wilson_interval(p: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed on n (possibly effective, non-integer) trials.

    Equals scipy.stats.binomtest(k, n).proportion_ci(method="wilson") for integer k = p n; written out because
    binomtest takes integers only and an effective n is not one.
    """
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    z = _z(confidence)
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    # the bound at an observed 0 (or 1) is exactly 0 (or 1); floating point would give 1e-17 / 0.9999999999999999
    return (0.0 if p == 0.0 else max(0.0, centre - half)), (1.0 if p == 1.0 else min(1.0, centre + half))


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact binomial interval (scipy.stats.binomtest), for independent trials with integer counts."""
    from scipy import stats

    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def effective_n(mean: float, se: float, n_problems: int, n_samples: int) -> float:
    """Kish's effective sample size n / deff = p(1-p) / SE^2 of a clustered proportion, kept in [n_problems,
    n_samples] (deff in [1, k] for k epochs per problem). At p = 0 or 1 the design effect cannot be measured
    and is taken as its maximum, k: n_eff = n problems (the conservative choice). With 0 < p < 1 and SE 0
    (every problem has the same mean, or one problem) the epochs carry all the information: n_eff = n samples."""
    variance = mean * (1.0 - mean)
    if variance <= 0.0:  # all 0 or all 1: nothing to measure the correlation by
        return float(n_problems)
    if se <= 0.0:  # every problem has the same mean: no between-problem variance, deff ~ 0 -> all samples
        return float(n_samples)
    return float(min(max(variance / (se * se), n_problems), n_samples))


def proportion_estimate(outcomes: Mapping[str, Sequence[float]], confidence: float = CONFIDENCE) -> Estimate:
    """avg@k of outcomes in [0, 1] from {problem id: [outcome of each epoch]}: the mean of problem means, its
    problem-clustered SE and a Wilson interval on the design-effect-adjusted n (never [0, 0] at 0/n)."""
    means, n_samples = _problem_means(outcomes)
    if means.min() < 0.0 or means.max() > 1.0:
        raise ValueError("proportion_estimate needs outcomes in [0, 1]")
    mean, se = float(means.mean()), problem_se(means)
    n_eff = effective_n(mean, se, int(means.size), n_samples)
    low, high = wilson_interval(mean, n_eff, confidence)
    return Estimate(mean, se, low, high, int(means.size), n_samples, "wilson-deff", n_eff)


def mean_estimate(
    outcomes: Mapping[str, Sequence[float]], confidence: float = CONFIDENCE, lower: float | None = None
) -> Estimate:
    """Mean of problem means of an unbounded quantity (tokens, seconds), problem-clustered SE, t interval with
    n-1 df (clipped at `lower`, e.g. 0 tokens). One problem: the interval is the point (nothing to estimate)."""
    means, n_samples = _problem_means(outcomes)
    mean, se = float(means.mean()), problem_se(means)
    half = t_quantile(0.5 + confidence / 2.0, means.size - 1) * se if means.size > 1 else 0.0
    low, high = mean - half, mean + half
    if lower is not None:
        low = max(low, lower)
    return Estimate(mean, se, low, high, int(means.size), n_samples, "t")


# --------------------------------------------------------------------------------------------------------------
# reproduction: the same problems, the epochs' sampling noise only


@dataclass(frozen=True)
class Reproduction:
    """ours - paper on the same problems, with the 95% half-width of the epochs' sampling noise (ours + paper's)."""

    verdict: str  # one of VERDICTS
    difference: float  # ours - paper, fraction
    se: float
    ci_low: float
    ci_high: float
    tolerance: float
    n_problems: int
    paper_epochs: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2.0


def reproduction_test(
    outcomes: Mapping[str, Sequence[float]],
    paper_value: float,
    *,
    paper_epochs: int = PAPER_EPOCHS,
    tolerance: float = REPRODUCTION_TOLERANCE,
    confidence: float = CONFIDENCE,
) -> Reproduction:
    """Is our avg@k on these problems the paper's avg@k on the same problems, up to sampling noise?

    Given the problems, each problem i has a success rate p_i; our avg@k and the paper's avg@16 are both means
    of per-problem binomial proportions. Under H0 (same p_i) the difference has variance
        V = (1/n^2) sum_i sigma_i^2 (1/k_i + 1/paper_epochs),   sigma_i^2 = p_i (1 - p_i),
    estimated with p_i = (s_i + 1/2) / (k_i + 1) (the Jeffreys posterior mean: an all-0 or all-1 problem
    still carries sampling noise; with one epoch it carries a lot, so one epoch is rarely conclusive).
    Interval D +- z V^0.5; verdict, first match: reproduced when the interval lies inside +-tolerance (an
    equivalence test, TOST at the same level); below / above when it excludes 0; else inconclusive.
    `paper_value` is a fraction.
    """
    if not 0.0 <= paper_value <= 1.0:
        raise ValueError(f"paper_value must be a fraction in [0, 1], got {paper_value}")
    rows = [np.asarray(v, dtype=float) for _, v in sorted(outcomes.items()) if len(v)]
    if not rows:
        raise ValueError("no outcomes to test")
    n = len(rows)
    means = np.asarray([r.mean() for r in rows])
    k = np.asarray([r.size for r in rows], dtype=float)
    p_tilde = (means * k + 0.5) / (k + 1.0)
    variance = float(np.sum(p_tilde * (1.0 - p_tilde) * (1.0 / k + 1.0 / paper_epochs))) / (n * n)
    se = math.sqrt(variance)
    difference = float(means.mean()) - paper_value
    half = _z(confidence) * se
    low, high = difference - half, difference + half
    if -tolerance <= low and high <= tolerance:
        verdict = "reproduced"
    elif high < 0.0:
        verdict = "below"
    elif low > 0.0:
        verdict = "above"
    else:
        verdict = "inconclusive"
    return Reproduction(verdict, difference, se, low, high, tolerance, n, paper_epochs)


# --------------------------------------------------------------------------------------------------------------
# comparisons


@dataclass(frozen=True)
class PairedComparison:
    """b minus a on the problems both ran: mean delta, bootstrap interval and a sign-flip permutation p-value."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_problems: int
    method: str  # "exact" or "monte-carlo" permutation

    def significant(self, alpha: float = 1.0 - CONFIDENCE) -> bool:
        return self.p_value < alpha


def problem_means(outcomes: Mapping[str, Sequence[float]]) -> dict[str, float]:
    return {pid: float(np.mean(v)) for pid, v in outcomes.items() if len(v)}


def paired_differences(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Per-problem mean(b) - mean(a) over the problems present in both, in sorted problem order."""
    ma, mb = problem_means(a), problem_means(b)
    shared = sorted(set(ma) & set(mb))
    return np.asarray([mb[p] - ma[p] for p in shared], dtype=float)


def _sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(x, axis=axis)


def sign_flip_p_value(diffs: np.ndarray, seed: int = SEED, resamples: int = PERMUTATION_RESAMPLES) -> tuple[float, str]:
    """Two-sided p-value of H0 "the two systems are exchangeable on each problem" (scipy.stats.permutation_test,
    one sample, permutation_type="samples": the signs of the differences are flipped).

    Zeros flip to themselves, so only the non-zero differences are permuted: all 2^m sign patterns when m <=
    EXACT_PERMUTATION_MAX, else `resamples` random ones (scipy's +1 correction keeps p > 0). scipy's two-sided
    p is 2 min(P(S >= s), P(S <= s)), which for this symmetric null equals P(|S| >= |s|).
    """
    from scipy import stats

    nonzero = np.asarray(diffs, dtype=float)
    nonzero = nonzero[nonzero != 0.0]
    if nonzero.size <= 1:  # one difference: both signs give the same |sum| (scipy needs two observations)
        return 1.0, "exact"
    exact = nonzero.size <= EXACT_PERMUTATION_MAX
    result = stats.permutation_test(
        (nonzero,),
        _sum,
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf if exact else resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(min(1.0, result.pvalue)), "exact" if exact else "monte-carlo"


def bootstrap_interval(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    paired: bool,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[float, float]:
    """Percentile bootstrap interval (scipy.stats.bootstrap, vectorized statistic with an `axis` argument).

    Percentile, not scipy's default BCa: BCa's jackknife acceleration is undefined when every difference is
    equal (a common case: two systems that agree on every problem), percentile is well defined there."""
    from scipy import stats

    arrays = tuple(np.asarray(d, dtype=float) for d in data)
    if all(np.all(a == a[0]) for a in arrays):  # no spread: every resample gives the statistic itself
        value = float(statistic(*arrays, axis=-1))
        return value, value
    result = stats.bootstrap(
        arrays,
        statistic,
        paired=paired,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def paired_comparison(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> PairedComparison:
    """Compare system b against system a ({problem id: [epoch outcomes]} each) on their shared problems."""
    diffs = paired_differences(a, b)
    if diffs.size == 0:
        raise ValueError("the two runs share no problems")
    if np.any(diffs):
        low, high = bootstrap_interval((diffs,), _mean, paired=True, confidence=confidence, seed=seed,
                                       resamples=resamples)
    else:
        low, high = no_discordance_interval(int(diffs.size), confidence)
    p_value, method = sign_flip_p_value(diffs, seed=seed)
    return PairedComparison(float(diffs.mean()), low, high, p_value, int(diffs.size), method)


def no_discordance_interval(n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval of a paired delta when the two systems agree on all n problems.

    Every bootstrap resample of n zero differences is zero, so the percentile interval collapses to [0, 0]: it
    claims certainty that n agreements cannot give (0 of 30 AIME problems solved by both is not proof that the
    systems are equal). Each problem's difference lies in [-1, 1] and is non-zero only where the systems disagree,
    so |delta| <= the share of problems they disagree on; the exact (Clopper-Pearson) upper bound of that share
    from 0 disagreements in n (scipy.stats.binomtest) bounds the delta on both sides: +-11.6 pp at n = 30.
    """
    from scipy import stats

    high = float(stats.binomtest(0, n).proportion_ci(confidence_level=confidence, method="exact").high)
    return -high, high


def _ratio_minus_one(xa: np.ndarray, xb: np.ndarray, axis: int = -1) -> np.ndarray:
    sa, sb = np.mean(xa, axis=axis), np.mean(xb, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sa != 0, sb / np.where(sa != 0, sa, 1.0), np.nan) - 1.0


def paired_relative_change(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> PairedComparison:
    """Relative change of the mean, (mean b - mean a) / mean a, on shared problems (e.g. response tokens:
    planning's length reduction). Interval: paired bootstrap over problems; p-value: sign-flip test of the
    per-problem differences."""
    ma, mb = problem_means(a), problem_means(b)
    shared = sorted(set(ma) & set(mb))
    if not shared:
        raise ValueError("the two runs share no problems")
    xa = np.asarray([ma[p] for p in shared], dtype=float)
    xb = np.asarray([mb[p] for p in shared], dtype=float)
    if xa.mean() == 0:
        raise ValueError("relative change undefined: baseline mean is 0")
    ratio = float(xb.mean() / xa.mean() - 1.0)
    low, high = bootstrap_interval(
        (xa, xb), _ratio_minus_one, paired=True, confidence=confidence, seed=seed, resamples=resamples
    )
    p_value, method = sign_flip_p_value(xb - xa, seed=seed)
    return PairedComparison(ratio, low, high, p_value, len(shared), method)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


@dataclass(frozen=True)
class TwoSampleComparison:
    """mean(b) - mean(a) of two independent samples: percentile bootstrap interval, one-sided permutation p."""

    difference: float
    ci_low: float
    ci_high: float
    p_greater: float  # H1: mean(b) > mean(a)


def two_sample_comparison(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    permutations: int = PERMUTATION_RESAMPLES,
) -> TwoSampleComparison:
    """Unpaired comparison (scipy.stats.bootstrap, paired=False; scipy.stats.permutation_test, independent
    relabelling, alternative "greater"): e.g. the last vs the first training steps, overlay vs plain NLLs."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("both samples need at least one value")
    low, high = bootstrap_interval(
        (x, y), _mean_difference, paired=False, confidence=confidence, seed=seed, resamples=resamples
    )
    return TwoSampleComparison(float(y.mean() - x.mean()), low, high, permutation_p_greater(x, y, seed, permutations))


def permutation_p_greater(a: Sequence[float], b: Sequence[float], seed: int = SEED, permutations: int = PERMUTATION_RESAMPLES) -> float:
    """One-sided p-value of mean(b) - mean(a) under exchangeable labels (scipy.stats.permutation_test)."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    result = stats.permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="independent",
        vectorized=True,
        n_resamples=permutations,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)
