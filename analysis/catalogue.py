"""What analysis knows about benchmarks, systems and models: labels and marks, the paper's problem sets, which
of our cells run a different problem set than the paper's, and which rows are a pipeline check rather than a
model result. Tables, leaderboard and plots take their vocabulary from here. Facts from ../shared/reference/k2think-facts.md and each suite's README ("Deviations").

    python -c "from analysis.catalogue import BENCHMARK_LABELS; print(BENCHMARK_LABELS)"
"""

from __future__ import annotations

from typing import Any

MICRO_AVG = "math_micro_avg"
BASELINE_SYSTEM = "plain"
# Table 2's systems, in the paper's row order; ids follow systems/*.yaml (DESIGN.md "Target layout")
ABLATION_SYSTEMS = ("plain", "plan", "best_of_n", "k2_full")
PAPER_MODEL = "k2-think"

BENCHMARK_LABELS = {
    "aime2024": "AIME 2024",
    "aime2025": "AIME 2025",
    "hmmt_feb2025": "HMMT 2025",
    "omni_math_hard": "Omni-MATH-HARD",
    MICRO_AVG: "Math micro-avg",
    "livecodebench_v5": "LiveCodeBench v5",
    "scicode_subproblem": "SciCode (sub)",
    "scicode_main": "SciCode (main)",
    "gpqa_diamond": "GPQA-Diamond",
    "hle": "HLE",
    "math500": "MATH-500",
}
TABLE1_BENCHMARKS = (
    "aime2024",
    "aime2025",
    "hmmt_feb2025",
    "omni_math_hard",
    MICRO_AVG,
    "livecodebench_v5",
    "scicode_subproblem",
    "scicode_main",
    "gpqa_diamond",
    "hle",
)
TABLE2_BENCHMARKS = ("aime2024", "aime2025", "hmmt_feb2025", "omni_math_hard", MICRO_AVG)
NOT_RUN = "not run"
NOT_RECOVERED = "NR"
DIFFERENT_SET_MARK = "†"  # the problems are not the paper's: no verdict, not in a paper-comparable average
DEGENERATE_MARK = "⚠"  # the system's planner / judge failed on > 10% of calls: not a measurement of the system
VERDICT_MARKS = {"reproduced": "✓", "below": "↓", "above": "↑", "inconclusive": "?"}
SYSTEM_LABELS = {"plain": "plain", "plan": "+ plan", "best_of_n": "+ best-of-3", "k2_full": "+ plan + best-of-3"}

# Benchmarks whose problems (or grading) are never the paper's in k2bench, and why (suites/*/README.md)
DIFFERENT_PROBLEM_SET = {
    "omni_math_hard": "k2bench's 173-problem proxy (rule173); the paper's selection rule is not recovered",
    "hle": "text-only subset and judge; the paper's subset and judge are not recovered",
}
# LiveCodeBench: the paper's window per [SRI] is "July 2024 onwards"; comparable only on the hub's full tests
LCB_PAPER_START = "2024-07-01"
LCB = "livecodebench_v5"

# Models that cannot score on these benchmarks: their rows check the pipeline end to end, they are no result
PIPELINE_CHECK_FAMILIES = ("SmolLM2",)
PIPELINE_CHECK_NOTE = (
    "pipeline check: SmolLM2-135M scores ~0 on competition problems (on CPU at a 256-token cap, and on the H200 "
    "with its whole 8,192-token context alike); these rows "
    "show that the pipeline runs end to end with real logs, they are not a model result and say nothing about "
    "K2-Think"
)


def label(benchmark: str) -> str:
    return BENCHMARK_LABELS.get(benchmark, benchmark)


def system_label(system: str) -> str:
    return SYSTEM_LABELS.get(system, system)


def row_label(model: str, system: str) -> str:
    return f"{model} · {system} (ours)"


def problem_set_difference(suite: str, test_source: str | None = None, window: tuple[str, str] | None = None) -> str | None:
    """Why a run of `suite` does not grade the paper's problems the paper's way, or None when it does."""
    if suite in DIFFERENT_PROBLEM_SET:
        return DIFFERENT_PROBLEM_SET[suite]
    if suite == LCB:
        if test_source != "full":
            return f"graded on {test_source or 'unknown'} tests, not LiveCodeBench's official test suites"
        if window is None or window[0] != LCB_PAPER_START:
            shown = "…".join(window) if window else "unrecorded"
            return f"window {shown}; the paper's is July 2024 onwards [SRI]"
    return None


def is_pipeline_check(model: str, model_meta: dict[str, Any] | None) -> bool:
    family = str((model_meta or {}).get("family") or "")
    return family in PIPELINE_CHECK_FAMILIES or model.lower().startswith("smollm2")
