"""Statistics for k2bench results: avg@k with problem-clustered uncertainty, and paired system comparisons.

Why clustered: with k epochs per problem the k outcomes of one problem are correlated, so the standard error
must treat the problem (not the sample) as the unit, or it shrinks by ~sqrt(k) and every AIME-sized
difference looks significant (k2think-facts.md; Miller 2024, "Adding Error Bars to Evals"). The formula is
the cluster-robust one inspect_ai's `stderr(cluster=...)` uses; with equal epochs per problem it equals
sd(problem means, ddof=1) / sqrt(n problems), which is what inspect reports for `Epochs(k, "mean")`.
The 95% interval is mean +- t(0.975, n-1) * SE, as in inspect's `ci(method="t")`.

Paired comparison (MathArena-style): per-problem mean outcomes of two systems on the same problems; the delta's
interval is a percentile bootstrap over problems and its p-value a sign-flip permutation test (exact when at
most EXACT_PERMUTATION_MAX problems differ, else Monte Carlo), both with a fixed seed so tables are
reproducible byte for byte.

    python -m analysis          # uses these through analysis/tables.py
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
SEED = 20250907  # fixed: the paper's first release date; any constant makes the resampling reproducible
BOOTSTRAP_RESAMPLES = 10_000
PERMUTATION_RESAMPLES = 20_000
EXACT_PERMUTATION_MAX = 16  # 2**16 sign patterns enumerate in well under a second


# --------------------------------------------------------------------------------------------------------------
# Student t quantile without scipy (not a project dependency): regularized incomplete beta by Lentz's continued
# fraction (Numerical Recipes 6.4), then bisection on the CDF.


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of t_cdf (bisection to 1e-12; accurate to the printed digits of any table)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------------------------
# avg@k


@dataclass(frozen=True)
class Estimate:
    """avg@k of a 0/1 (or [0,1]) outcome over problems, with a problem-clustered SE and a t interval."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n_problems: int
    n_samples: int

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


def estimate(
    outcomes: Mapping[str, Sequence[float]],
    confidence: float = CONFIDENCE,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """avg@k from {problem id: [outcome of each epoch]}: the pooled mean (= mean of problem means when every
    problem has the same number of epochs), its problem-clustered SE and a t interval with n-1 df, clipped to
    `bounds` when given (a proportion's interval stays inside [0, 1])."""
    clusters = [list(v) for _, v in sorted(outcomes.items()) if len(v)]
    if not clusters:
        raise ValueError("no outcomes to estimate from")
    values = np.concatenate([np.asarray(c, dtype=float) for c in clusters])
    mean = float(values.mean())
    se = clustered_se(clusters)
    n = len(clusters)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * se if n > 1 else 0.0
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(mean, se, low, high, n, int(values.size))


# --------------------------------------------------------------------------------------------------------------
# paired comparison of two systems on the same problems


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


def sign_flip_p_value(diffs: np.ndarray, seed: int = SEED, resamples: int = PERMUTATION_RESAMPLES) -> tuple[float, str]:
    """Two-sided p-value of H0 "the two systems are exchangeable on each problem" (mean diff = 0 by symmetry).

    Under H0 each problem's difference is equally likely to carry either sign. Exact enumeration over the
    non-zero differences when there are few (zeros flip to themselves); otherwise a Monte Carlo estimate with
    the +1 correction so p is never 0.
    """
    nonzero = diffs[diffs != 0.0]
    observed = abs(float(diffs.sum()))
    if nonzero.size == 0:
        return 1.0, "exact"
    tol = 1e-12 * max(1.0, observed)
    if nonzero.size <= EXACT_PERMUTATION_MAX:
        signs = np.asarray(list(itertools.product((1.0, -1.0), repeat=int(nonzero.size))))
        sums = np.abs(signs @ nonzero)
        return float(np.mean(sums >= observed - tol)), "exact"
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(resamples, nonzero.size))
    sums = np.abs(signs @ nonzero)
    return float((np.sum(sums >= observed - tol) + 1) / (resamples + 1)), "monte-carlo"


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
    delta = float(diffs.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diffs.size, size=(resamples, diffs.size))
    boot = diffs[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.quantile(boot, [tail, 1.0 - tail]))
    p_value, method = sign_flip_p_value(diffs, seed=seed)
    return PairedComparison(delta, low, high, p_value, int(diffs.size), method)


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
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(shared), size=(resamples, len(shared)))
    sa, sb = xa[idx].mean(axis=1), xb[idx].mean(axis=1)
    boot = np.divide(sb, sa, out=np.full_like(sb, np.nan), where=sa != 0) - 1.0
    tail = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.nanquantile(boot, [tail, 1.0 - tail]))
    p_value, method = sign_flip_p_value(xb - xa, seed=seed)
    return PairedComparison(ratio, low, high, p_value, len(shared), method)
