"""Per-run statistics and paired system comparisons, computed once and shared by tables, plots and leaderboard.

For each (model, system, suite) run picked by analysis.load.select_runs: avg@k with a problem-clustered SE and
95% t interval, n problems, epochs, grading-status rates, mean response tokens (clustered interval too), mean
tokens over every call of the system, end-to-end latency, per-request throughput, and the protocol mismatches
against the paper's protocol recorded in the log. Ablation deltas compare each system with `plain` on the same
model and problems (analysis.stats.paired_comparison).

    python -m analysis        # writes everything; this module only computes
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.load import Reported, Run, load_reported, load_runs, select_runs, status_rates
from analysis.stats import Estimate, PairedComparison, estimate, paired_comparison, paired_relative_change

BASELINE_SYSTEM = "plain"
# Table 2's systems, in the paper's row order; ids follow systems/*.yaml (DESIGN.md "Target layout")
ABLATION_SYSTEMS = ("plain", "plan", "best_of_n", "k2_full")
MICRO_AVG = "math_micro_avg"
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

    @property
    def key(self) -> tuple[str, str, str]:
        return self.run.key


@dataclass
class MicroAverage:
    estimate: Estimate
    counts: dict[str, int]  # problems per benchmark we ran (the paper's weights are 30/30/30/173)
    outcomes: dict[str, list[float]]  # "suite/problem" -> epoch outcomes, for paired comparisons


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
        accuracy=estimate(run.outcomes(), bounds=(0.0, 1.0)),
        rates=status_rates(run),
        response_tokens=estimate(tokens, bounds=(0.0, float("inf"))) if tokens else None,
        all_tokens=estimate(all_tokens, bounds=(0.0, float("inf"))) if all_tokens else None,
        latency_mean_s=float(np.mean(latencies)) if latencies else None,
        latency_median_s=float(np.median(latencies)) if latencies else None,
        tokens_per_second_median=float(np.median(tps)) if tps else None,
        mismatches=run.protocol_mismatches(),
    )


def micro_average(
    stats: dict[tuple[str, str, str], RunStats], model: str, system: str, weights: dict[str, int]
) -> MicroAverage | None:
    """The paper's math micro-average (every problem of the four benchmarks weighs the same): pooled avg@k over
    the problems of all four runs, clustered by problem. None unless all four benchmarks were run."""
    parts = [stats.get((model, system, suite)) for suite in weights]
    if any(p is None for p in parts):
        return None
    pooled: dict[str, list[float]] = {}
    counts = {}
    for suite, part in zip(weights, parts, strict=True):
        outcomes = part.run.outcomes()
        counts[suite] = len(outcomes)
        pooled.update({f"{suite}/{pid}": v for pid, v in outcomes.items()})
    return MicroAverage(estimate(pooled, bounds=(0.0, 1.0)), counts, pooled)


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
        comparison = paired_comparison(base.run.outcomes(), st.run.outcomes())
        summary.deltas.append(Delta(model, system, BASELINE_SYSTEM, suite, comparison))
        a, b = base.run.values("output_tokens"), st.run.values("output_tokens")
        if a and b and np.mean([np.mean(v) for v in a.values()]) > 0:
            change = paired_relative_change(a, b)
            summary.length_changes.append(Delta(model, system, BASELINE_SYSTEM, suite, change))
    for (model, system), micro_avg in micro.items():
        base = micro.get((model, BASELINE_SYSTEM))
        if system != BASELINE_SYSTEM and base is not None:
            comparison = paired_comparison(base.outcomes, micro_avg.outcomes)
            summary.deltas.append(Delta(model, system, BASELINE_SYSTEM, MICRO_AVG, comparison))
    return summary
