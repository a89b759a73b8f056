"""The only inspect adapter over suites/grading: verdicts become inspect Scores.

A Score's value is a dict: `accuracy` (the verdict's score) plus one 0/1 entry per non-correct status, so
the log reports accuracy with its standard error *and* the rate of each failure kind (no_answer, truncated,
error) — an extraction failure or a truncation is visible, never folded silently into "wrong".
Epoch reduction (`Epochs(k, "mean")`) averages each key per sample, so accuracy is avg@k and its stderr is
clustered by problem (one reduced value per problem).
"""

from __future__ import annotations

import functools

import anyio
from inspect_ai.scorer import Score, Scorer, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import TaskState

from suites.grading.math_answer import grade_math
from suites.grading.verdict import Verdict

# stop reasons inspect uses when the generation did not end by itself
TRUNCATION_STOP_REASONS = ("max_tokens", "model_length")
STATUS_KEYS = ("incorrect", "no_answer", "truncated", "error")
METRICS = {"accuracy": [accuracy(), stderr()], **{key: [mean()] for key in STATUS_KEYS}}


def verdict_to_score(verdict: Verdict, **metadata: object) -> Score:
    value = {"accuracy": verdict.score, **{key: float(verdict.status == key) for key in STATUS_KEYS}}
    return Score(
        value=value,
        answer=verdict.extracted,
        explanation=verdict.reason,
        metadata={"status": verdict.status, **metadata},
    )


def is_truncated(state: TaskState) -> bool:
    return state.output.stop_reason in TRUNCATION_STOP_REASONS


@scorer(metrics=METRICS)
def math_scorer() -> Scorer:
    """Grade the final completion with suites.grading.math_answer.grade_math (off the event loop)."""

    async def score(state: TaskState, target: Target) -> Score:
        grade = functools.partial(grade_math, state.output.completion, target.text, truncated=is_truncated(state))
        verdict = await anyio.to_thread.run_sync(grade)
        return verdict_to_score(verdict, stop_reason=state.output.stop_reason)

    return score
