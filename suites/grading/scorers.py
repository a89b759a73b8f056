"""The only inspect adapter over suites/grading: verdicts become inspect Scores.

A Score's value is a dict: `accuracy` (the verdict's score) plus one 0/1 entry per non-correct status, so
the log reports accuracy with its standard error *and* the rate of each failure kind (no_answer, truncated,
error) — an extraction failure or a truncation is visible, never folded silently into "wrong".
Epoch reduction (`Epochs(k, "mean")`) averages each key per sample, so accuracy is avg@k and its stderr is
clustered by problem (one reduced value per problem).
No completion can end a task: every grader call goes through `verdict.guarded`, so an exception while grading
one sample is that sample's `error` verdict with the cause (counted in the `error` rate), never a failed eval
(issue 15). Configuration mistakes that are not about a completion (a scorer without the metadata its suite
must provide, an unbound judge role) still stop the run with their message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from inspect_ai.scorer import Score, Scorer, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import TaskState

from suites.grading.math_answer import grade_math
from suites.grading.verdict import Verdict, error_from, guarded

if TYPE_CHECKING:
    from suites.grading.code_exec import CodeGrade, CodeTests

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
        verdict = await anyio.to_thread.run_sync(guarded, grade)
        return verdict_to_score(verdict, stop_reason=state.output.stop_reason)

    return score


# --- scorers added for HMMT, GPQA-Diamond and HLE (suites/hmmt, suites/gpqa_diamond, suites/hle) ---------
# Keys a suite writes into sample metadata to steer grading; the suites and these scorers share them.
ANSWER_KIND_KEY = "answer_kind"  # "set" -> unordered list of values (answer_set.py); anything else -> math
CHOICE_SHUFFLE_KEY = "choice_shuffle"  # {"seed", "epoch", "order", "gold_letter"}: the option order shown
GRADING_KEY = "grading"  # "choice" | "math" | "judge": how a mixed benchmark (HLE) grades one sample
JUDGE_REPLY_CHARS = 4000  # how much of a judge's reply the score keeps


@scorer(metrics=METRICS)
def math_set_scorer() -> Scorer:
    """math_scorer, except that samples whose metadata has answer_kind "set" are graded as unordered sets."""
    from suites.grading.answer_set import grade_answer_set

    async def score(state: TaskState, target: Target) -> Score:
        kind = state.metadata.get(ANSWER_KIND_KEY, "expression")
        grader = grade_answer_set if kind == "set" else grade_math
        grade = functools.partial(grader, state.output.completion, target.text, truncated=is_truncated(state))
        verdict = await anyio.to_thread.run_sync(guarded, grade)
        return verdict_to_score(verdict, stop_reason=state.output.stop_reason, answer_kind=kind)

    return score


@scorer(metrics=METRICS)
def choice_scorer() -> Scorer:
    """Grade the chosen option letter against the gold letter of the option order the model was shown.

    A suite that shuffles options per epoch stores that order under CHOICE_SHUFFLE_KEY in the sample
    metadata (and rewrites the prompt with it); without it the target letter is used as is.
    """
    from suites.grading.choice import grade_choice

    async def score(state: TaskState, target: Target) -> Score:
        shuffle = state.metadata.get(CHOICE_SHUFFLE_KEY)
        if shuffle is not None:
            gold, n_choices = shuffle["gold_letter"], len(shuffle["order"])
            extra = {
                "gold_letter": gold,
                "choice_order": shuffle["order"],
                "shuffle_seed": shuffle["seed"],
                "shuffle_epoch": shuffle["epoch"],
            }
        else:
            gold, n_choices = target.text, max(len(state.choices), 4)
            extra = {"gold_letter": gold}
        verdict = guarded(grade_choice, state.output.completion, gold, n_choices=n_choices, truncated=is_truncated(state))
        return verdict_to_score(verdict, stop_reason=state.output.stop_reason, **extra)

    return score


@scorer(metrics=METRICS)
def rule_or_judge_scorer(judge_role: str = "grader") -> Scorer:
    """Grade by rule where the answer allows it, else by an LLM judge taken from an inspect model role.

    The sample's metadata GRADING_KEY says how: "choice" (option letter, choice.py), "math" (grade_math) or
    "judge" (the `judge_role` model reads the answer part of the response and the reference answer;
    judge.py parses its reply strictly: an unreadable verdict is status `error`, never `incorrect`).
    """
    from inspect_ai.model import get_model

    from suites.grading.choice import grade_choice
    from suites.grading.extract import answer_region
    from suites.grading.judge import judge_prompt, verdict_from_judge

    async def score(state: TaskState, target: Target) -> Score:
        how = state.metadata[GRADING_KEY]
        completion, truncated = state.output.completion, is_truncated(state)
        if how == "choice":
            n_choices = int(state.metadata.get("n_choices", 4))
            verdict = guarded(grade_choice, completion, target.text, n_choices=n_choices, truncated=truncated)
            return verdict_to_score(verdict, stop_reason=state.output.stop_reason, grading=how)
        if how == "math":
            grade = functools.partial(grade_math, completion, target.text, truncated=truncated)
            verdict = await anyio.to_thread.run_sync(guarded, grade)
            return verdict_to_score(verdict, stop_reason=state.output.stop_reason, grading=how)
        if how != "judge":
            raise ValueError(f"unknown {GRADING_KEY} {how!r} in sample {state.sample_id}")
        region, where = answer_region(completion)
        if truncated:
            verdict = Verdict(0.0, "truncated", None, "generation stopped at max_tokens; the judge was not asked")
            return verdict_to_score(verdict, stop_reason=state.output.stop_reason, grading=how)
        if region is None or not region.strip():
            verdict = Verdict(0.0, "no_answer", None, f"{where}; nothing for the judge to read")
            return verdict_to_score(verdict, stop_reason=state.output.stop_reason, grading=how)
        judge = get_model(role=judge_role, required=True)  # an unbound role stops the run: no silent self-judging
        prompt = judge_prompt(state.metadata["question"], region.strip(), target.text)
        try:
            reply = (await judge.generate(prompt)).completion
        except Exception as err:  # the call failed: a grader error with its reason, not a wrong answer
            verdict = Verdict(0.0, "error", None, f"judge call to {judge} failed: {type(err).__name__}: {err}")
            return verdict_to_score(verdict, stop_reason=state.output.stop_reason, grading=how, judge_model=str(judge))
        verdict = guarded(verdict_from_judge, reply)
        return verdict_to_score(
            verdict,
            stop_reason=state.output.stop_reason,
            grading=how,
            judge_model=str(judge),
            judge_reply=reply[:JUDGE_REPLY_CHARS],
        )

    return score


# --- code scorer (suites/livecodebench; any benchmark graded by running a program on test cases) ----------
CODE_TESTS_KEY = "code_tests"  # sample metadata holding CodeTests.to_dict(), when no tests_for is given


@scorer(metrics=METRICS)
def code_scorer(
    tests_for: Callable[[TaskState], CodeTests] | None = None,
    time_s: float = 6.0,
    memory_mb: int = 1024,
    float_tol: float | None = None,
) -> Scorer:
    """Run the completion's last Python code block on the sample's tests in the sandbox (code_exec.grade_code).

    `tests_for(state)` returns a sample's CodeTests (a suite keeps large test suites out of the log this way);
    without it they are read from the sample metadata under CODE_TESTS_KEY. Tests are decoded and run in a
    worker thread: sandbox executions block (at most one per core), the event loop must not.
    """
    from suites.grading.code_exec import CodeTests, grade_code
    from suites.grading.sandbox import Limits

    limits = Limits(time_s=time_s, memory_mb=memory_mb)

    def tests_of(state: TaskState) -> CodeTests:
        if tests_for is not None:
            return tests_for(state)
        return CodeTests.from_dict(state.metadata[CODE_TESTS_KEY])

    async def score(state: TaskState, target: Target) -> Score:
        completion, truncated = state.output.completion, is_truncated(state)

        def grade() -> CodeGrade:
            return grade_code(completion, tests_of(state), truncated=truncated, limits=limits, float_tol=float_tol)

        try:
            graded = await anyio.to_thread.run_sync(grade)
        except Exception as err:  # a sample whose tests or run broke the grader: its error, not the run's
            return verdict_to_score(error_from(err, "grade_code"), stop_reason=state.output.stop_reason)
        return verdict_to_score(graded.verdict, stop_reason=state.output.stop_reason, **graded.metadata())

    return score

