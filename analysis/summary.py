"""Per-run statistics and paired system comparisons, computed once and shared by tables, plots and leaderboard.

For each (model, system, suite) run picked by analysis.load.select_runs: avg@k with a problem-clustered SE and a
Wilson interval on the design-effect-adjusted n (suites/stats.py), n problems, epochs, grading-status rates,
mean response tokens, mean tokens over every call of the system, end-to-end latency, per-request throughput,
the protocol mismatches, whether the problems are the paper's (analysis/catalogue.py) and the health of the
planner / judge calls (analysis/health.py). Ablation deltas compare each system with `plain` on the same model
and problems (paired); a degenerate system cell (planner or judge failing on > 10% of calls) is left out.

    python -m analysis        # writes everything; this module only computes
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.catalogue import (
    ABLATION_SYSTEMS,
    BASELINE_SYSTEM,
    MICRO_AVG,
    is_pipeline_check,
    label,
    problem_set_difference,
)
from analysis.health import RunHealth
from analysis.load import Reported, Run, load_reported, load_runs, select_runs, status_rates
from suites.stats import (
    Estimate,
    PairedComparison,
    mean_estimate,
    paired_comparison,
    paired_relative_change,
    proportion_estimate,
)

COMMITTED_LOGS = "logs/committed"


@dataclass
class RunStats:
    run: Run
    accuracy: Estimate  # fraction in [0, 1]
    rates: dict[str, float]
    response_tokens: Estimate | None  # output tokens of the graded response
    all_tokens: Estimate | None  # output tokens of every call the system made for a sample
    latency_mean_s: float | None
    latency_median_s: float | None
    tokens_per_second_median: float | None  # per solver request
    mismatches: list[str]
    health: RunHealth = field(default_factory=RunHealth)
    problem_set: str | None = None  # why the problems are not the paper's (None: they are)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.run.key

    @property
    def subset(self) -> str | None:
        """"10/30 problems" when the run covers only part of the suite (its problems are a subset)."""
        total = self.run.dataset_problems
        return f"{self.run.n_problems}/{total} problems" if total and self.run.n_problems < total else None

    @property
    def degenerate(self) -> bool:
        return self.health.degenerate


@dataclass
class MicroAverage:
    estimate: Estimate
    counts: dict[str, int]  # problems per benchmark we ran
    weights: dict[str, int]  # the paper's problems per benchmark (30/30/30/173)
    outcomes: dict[str, list[float]]  # "suite/problem" -> epoch outcomes, for paired comparisons
    problem_sets: dict[str, str]  # benchmark -> why its problems are not the paper's

    @property
    def partial(self) -> bool:
        return self.counts != self.weights

    def weights_text(self) -> str:
        return "/".join(str(self.counts[b]) for b in self.weights)

    def label(self) -> str | None:
        """None for a paper-comparable micro-average; else what makes it not one."""
        parts = []
        if self.partial:
            parts.append(f"partial: weights {self.weights_text()} problems (paper {'/'.join(map(str, self.weights.values()))})")
        if self.problem_sets:
            parts.append("different problem set: " + ", ".join(label(b) for b in self.problem_sets))
        return "; ".join(parts) or None


@dataclass
class Delta:
    model: str
    system: str
    baseline: str
    suite: str
    comparison: PairedComparison


@dataclass
class Summary:
    results_dir: Path
    reported: Reported
    runs: list[Run]  # every log found
    used: set[str]  # paths of the runs the tables use
    stats: dict[tuple[str, str, str], RunStats]
    micro: dict[tuple[str, str], MicroAverage]  # (model, system) -> pooled over the four math benchmarks
    deltas: list[Delta] = field(default_factory=list)
    length_changes: list[Delta] = field(default_factory=list)
    # (model, system, suite) -> why no delta was computed: a degenerate system cell
    excluded: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def models(self) -> list[str]:
        return sorted({k[0] for k in self.stats})

    def systems_of(self, model: str) -> list[str]:
        present = {k[1] for k in self.stats if k[0] == model}
        ordered = [s for s in ABLATION_SYSTEMS if s in present]
        return ordered + sorted(present - set(ordered))

    def suites(self) -> list[str]:
        return sorted({k[2] for k in self.stats})

    def get(self, model: str, system: str, suite: str) -> RunStats | None:
        return self.stats.get((model, system, suite))

    def of(self, model: str, system: str) -> list[RunStats]:
        return [st for k, st in self.stats.items() if k[:2] == (model, system)]

    def pipeline_check(self, model: str) -> bool:
        runs = [st.run for k, st in self.stats.items() if k[0] == model]
        return any(is_pipeline_check(model, r.model_meta) for r in runs) or is_pipeline_check(model, None)

    def degenerate(self, model: str, system: str, suite: str | None = None) -> list[str]:
        """Why a cell (or, without suite, any cell of the row) is degenerate; empty when it is not."""
        stats = [self.get(model, system, suite)] if suite and suite != MICRO_AVG else self.of(model, system)
        if suite == MICRO_AVG and (model, system) in self.micro:
            stats = [self.get(model, system, b) for b in self.micro[(model, system)].counts]
        return [f"{st.run.suite}: {r}" for st in stats if st is not None for r in st.health.failures()]

    def delta(self, model: str, system: str, suite: str) -> Delta | None:
        return next((d for d in self.deltas if (d.model, d.system, d.suite) == (model, system, suite)), None)

    def length_change(self, model: str, system: str, suite: str) -> Delta | None:
        return next((d for d in self.length_changes if (d.model, d.system, d.suite) == (model, system, suite)), None)


def run_stats(run: Run) -> RunStats:
    tokens = run.values("output_tokens")
    all_tokens = run.values("all_output_tokens")
    latencies = [s.latency_s for s in run.samples if s.latency_s is not None]
    tps = [c.tokens_per_second for c in run.solver_calls() if c.tokens_per_second is not None]
    return RunStats(
        run=run,
        accuracy=proportion_estimate(run.outcomes()),
        rates=status_rates(run),
        response_tokens=mean_estimate(tokens, lower=0.0) if tokens else None,
        all_tokens=mean_estimate(all_tokens, lower=0.0) if all_tokens else None,
        latency_mean_s=float(np.mean(latencies)) if latencies else None,
        latency_median_s=float(np.median(latencies)) if latencies else None,
        tokens_per_second_median=float(np.median(tps)) if tps else None,
        mismatches=run.protocol_mismatches(),
        health=run.health(),
        problem_set=problem_set_difference(run.suite, run.test_source, run.window),
    )


def micro_average(
    stats: dict[tuple[str, str, str], RunStats], model: str, system: str, weights: dict[str, int]
) -> MicroAverage | None:
    """The paper's math micro-average: every problem of the four benchmarks weighs the same (the mean of problem
    means, so epochs do not weigh a suite), clustered by problem. None unless all four benchmarks were run; a
    run on fewer problems than the paper's is labelled partial with its weights."""
    parts = [stats.get((model, system, suite)) for suite in weights]
    if any(p is None for p in parts):
        return None
    pooled: dict[str, list[float]] = {}
    counts, problem_sets = {}, {}
    for suite, part in zip(weights, parts, strict=True):
        outcomes = part.run.outcomes()
        counts[suite] = len(outcomes)
        pooled.update({f"{suite}/{pid}": v for pid, v in outcomes.items()})
        if part.problem_set:
            problem_sets[suite] = part.problem_set
    return MicroAverage(proportion_estimate(pooled), counts, dict(weights), pooled, problem_sets)


def summarize(results_dir: Path | str, logs_dir: Path | str | None = None) -> Summary:
    """Load results/reported.yaml and the logs (default results/logs/committed), then summarize_runs."""
    results_dir = Path(results_dir)
    reported = load_reported(results_dir / "reported.yaml")
    logs_dir = Path(logs_dir) if logs_dir is not None else results_dir / COMMITTED_LOGS
    return summarize_runs(results_dir, reported, load_runs(logs_dir, root=results_dir))


def summarize_runs(results_dir: Path, reported: Reported, runs: list[Run]) -> Summary:
    selected, used = select_runs(runs)
    stats = {key: run_stats(run) for key, run in selected.items()}
    micro = {}
    for model, system in sorted({(k[0], k[1]) for k in stats}):
        result = micro_average(stats, model, system, reported.micro_average)
        if result is not None:
            micro[(model, system)] = result
    summary = Summary(results_dir, reported, runs, used, stats, micro)
    for (model, system, suite), st in stats.items():
        base = stats.get((model, BASELINE_SYSTEM, suite))
        if system == BASELINE_SYSTEM or base is None:
            continue
        if base.run.suite_version.split("-")[0] != st.run.suite_version.split("-")[0]:
            continue  # different major suite versions are not comparable
        if st.degenerate:  # the planner / judge did not work: the cell measures something else
            summary.excluded[(model, system, suite)] = "degenerate: " + "; ".join(st.health.failures())
            continue
        comparison = paired_comparison(base.run.outcomes(), st.run.outcomes())
        summary.deltas.append(Delta(model, system, BASELINE_SYSTEM, suite, comparison))
        a, b = base.run.values("output_tokens"), st.run.values("output_tokens")
        if a and b and np.mean([np.mean(v) for v in a.values()]) > 0:
            change = paired_relative_change(a, b)
            summary.length_changes.append(Delta(model, system, BASELINE_SYSTEM, suite, change))
    for (model, system), micro_avg in micro.items():
        base = micro.get((model, BASELINE_SYSTEM))
        if system == BASELINE_SYSTEM or base is None:
            continue
        reasons = summary.degenerate(model, system, MICRO_AVG)
        if reasons:
            summary.excluded[(model, system, MICRO_AVG)] = "degenerate: " + "; ".join(reasons)
            continue
        comparison = paired_comparison(base.outcomes, micro_avg.outcomes)
        summary.deltas.append(Delta(model, system, BASELINE_SYSTEM, MICRO_AVG, comparison))
    return summary
