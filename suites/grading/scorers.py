"""Every inspect scorer that grades: verdicts from suites/grading become inspect Scores here and nowhere else.

A suite never builds a scorer itself: it declares its grader by name (suites/grading/registry.py) to the suite
builder (suites/_suite.py), which asks `scorer_for(name, **options)` here. The scorers:

| grader        | scorer               | grades with                                                              |
|---------------|----------------------|--------------------------------------------------------------------------|
| math          | math_scorer          | math_answer.grade_math (AIME, MATH-500, Omni-MATH-HARD)                  |
| math_set      | math_set_scorer      | grade_math, or answer_set.grade_answer_set where answer_kind is "set"    |
| choice        | choice_scorer        | choice.grade_choice, the gold letter of the option order shown (GPQA)    |
| rule_or_judge | rule_or_judge_scorer | choice / math by rule, else judge.py over an inspect model role (HLE)    |
| code          | code_scorer          | code_exec.grade_code in the sandbox (LiveCodeBench)                      |
| scicode_steps | steps_scorer         | a problem's steps, each graded by the suite's step grader (SciCode)      |
| (best-of-N)   | equal_budget_scorer  | voting.py: avg/maj/pass@n over the N candidates, with the suite's grader |

(`math_literal` is a TRL reward only: no suite declares it, so it has no scorer.) The only other inspect scorer
in k2bench is systems/accounting.py's `accounting_scorer`, which records model calls and grades nothing
(tests/suites/test_catalogue.py checks that no other module defines one).

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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    accuracy,
    mean,
    metric,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from suites.grading.math_answer import grade_math
from suites.grading.registry import (
    ANSWER_KIND_KEY,
    CHOICE_SHUFFLE_KEY,
    TRUNCATION_STOP_REASONS,
    GraderUnavailable,
    get_grader,
)
from suites.grading.verdict import Verdict, error_from, guarded
from suites.grading.voting import BASELINE_KEYS, CandidatePool

if TYPE_CHECKING:
    from suites.grading.code_exec import CodeGrade, CodeTests

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


# --- HMMT's sets, GPQA-Diamond's letters, HLE's rule-or-judge (suites/hmmt_feb2025, gpqa_diamond, hle) ----
# Keys a suite writes into sample metadata to steer grading; the suites and these scorers share them.
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


# --- code scorer (suites/livecodebench_v5; any benchmark graded by running a program on test cases) -------
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



# --- multi-step scorer (suites/scicode: a main problem of several steps, each graded by running its code) ---


class GradedStep(Protocol):
    """One step's grade as a suite's step grader returns it (suites/scicode/steps.StepGrade)."""

    step_number: str
    verdict: Verdict

    def summary(self) -> dict[str, Any]: ...


def _steps_ratio(key: str) -> Metric:
    def compute(scores: list[SampleScore]) -> float:
        total = sum(float(s.score.value["sub_total"]) for s in scores)  # type: ignore[index]
        return sum(float(s.score.value[key]) for s in scores) / total if total else 0.0  # type: ignore[index]

    return compute


@metric
def sub_problem_accuracy() -> Metric:
    return _steps_ratio("sub_correct")


@metric
def steps_incorrect() -> Metric:
    return _steps_ratio("steps_incorrect")


@metric
def steps_no_answer() -> Metric:
    return _steps_ratio("steps_no_answer")


@metric
def steps_truncated() -> Metric:
    return _steps_ratio("steps_truncated")


@metric
def steps_error() -> Metric:
    return _steps_ratio("steps_error")


STEP_METRICS = [{"accuracy": [accuracy(), stderr()]}, sub_problem_accuracy(), steps_incorrect(), steps_no_answer(),
                steps_truncated(), steps_error()]  # fmt: skip
WORST_FIRST = ("error", "incorrect", "truncated", "no_answer")  # the status a failed problem reports


@scorer(metrics=STEP_METRICS)
def steps_scorer(
    grade_steps: Callable[[Mapping[str, Any], list[dict[str, Any]]], list[GradedStep]],
    count_steps: Callable[[Mapping[str, Any]], int],
    steps_key: str,
) -> Scorer:
    """A main problem is correct when every scored step is; `accuracy` is that, `sub_problem_accuracy` = correct
    steps / scored steps, and the share of steps per failure status.

    The suite's solver leaves its step records in the sample metadata under `steps_key`; `grade_steps(metadata,
    records)` grades them (in a worker thread: it runs programs); `count_steps(metadata)` says how many steps
    are scored, for a problem whose grading broke (all its steps `error`, the run goes on).
    """

    async def score(state: TaskState, target: Target) -> Score:
        if steps_key not in state.metadata:
            raise ValueError(f"sample {state.sample_id} has no {steps_key}: the suite's own step solver must run")
        grade = functools.partial(grade_steps, state.metadata, state.metadata[steps_key])
        try:
            grades = await anyio.to_thread.run_sync(grade)
        except Exception as err:  # grading this problem broke: its scored steps are `error`, the run goes on
            n = count_steps(state.metadata)
            value = {"accuracy": 0.0, "sub_correct": 0, "sub_total": n, **{f"steps_{k}": 0 for k in STATUS_KEYS}}
            value["steps_error"] = n
            grader_fn = getattr(grade_steps, "func", grade_steps)  # a functools.partial names its function
            reason = error_from(err, getattr(grader_fn, "__name__", "grade_steps")).reason
            return Score(value=value, answer=f"0/{n} steps correct", explanation=reason,
                         metadata={"status": "error", "steps": []})  # fmt: skip
        statuses = [g.verdict.status for g in grades]
        solved = all(s == "correct" for s in statuses)
        worst = next((s for s in WORST_FIRST if s in statuses), "correct")
        value = {"accuracy": float(solved), "sub_correct": statuses.count("correct"), "sub_total": len(grades)}
        value.update({f"steps_{k}": statuses.count(k) for k in STATUS_KEYS})
        lines = [f"{g.step_number}: {g.verdict.status}: {g.verdict.reason}" for g in grades]
        return Score(
            value=value,
            answer=f"{statuses.count('correct')}/{len(grades)} steps correct",
            explanation="\n".join(lines),
            metadata={"status": "correct" if solved else worst, "steps": [g.summary() for g in grades]},
        )

    return score


# --- equal-budget baselines of best-of-N (systems/best_of_n.py) ---------------------------------------------


@scorer(metrics={key: [mean()] for key in BASELINE_KEYS})
def equal_budget_scorer(grader: str, pool: Callable[[TaskState], CandidatePool]) -> Scorer:
    """judge@n beside avg@n, maj@n, pass@n and first@1 over the same N candidates (suites/grading/voting.py),
    graded by `grader` (the name the suite declares) with the sample's metadata (HMMT's answer kind, GPQA's
    option order). `pool(state)` gives the sample's candidates and the selector's pick (the system's store)."""
    from suites.grading.voting import baselines, grade_candidates, majority

    if not get_grader(grader).answer_graded:
        raise ValueError(f"equal_budget_scorer: grader {grader!r} is not answer-graded (no avg/maj/pass@n)")

    async def score(state: TaskState, target: Target) -> Score:
        found = pool(state)
        metadata = dict(state.metadata)
        verdicts = await anyio.to_thread.run_sync(
            functools.partial(grade_candidates, found.candidates, target.text, grader, metadata)
        )
        maj, maj_detail = await anyio.to_thread.run_sync(functools.partial(majority, verdicts, grader, metadata))
        return Score(
            value=baselines(verdicts, found.winner, maj),
            answer=verdicts[found.winner].extracted,
            explanation=f"winner {found.winner} ({found.selection_status}); candidate scores {[v.score for v in verdicts]}",
            metadata={
                "grader": grader,
                "n": len(verdicts),
                "winner": found.winner,
                "selection_status": found.selection_status,
                "candidates": [
                    {"branch": getattr(c, "branch", i), "status": v.status, "extracted": v.extracted}
                    for i, (c, v) in enumerate(zip(found.candidates, verdicts, strict=True))
                ],
                "majority": maj_detail,
            },
        )

    return score


# --- a grader's name -> its scorer (the one way a suite gets a scorer: suites/_suite.py) -------------------

SCORERS: dict[str, Callable[..., Scorer]] = {
    "math": math_scorer,
    "math_set": math_set_scorer,
    "choice": choice_scorer,
    "rule_or_judge": rule_or_judge_scorer,
    "code": code_scorer,
    "scicode_steps": steps_scorer,
}


def scorer_for(grader: str, **options: Any) -> Scorer:
    """The inspect scorer of the grader named `grader`, built with the suite's options (code_scorer's tests_for,
    rule_or_judge_scorer's judge_role, ...); an unknown name, or one without a scorer, is one clear error."""
    get_grader(grader)
    if grader not in SCORERS:
        raise GraderUnavailable(f"grader {grader!r} has no inspect scorer (graders with one: {sorted(SCORERS)})")
    return SCORERS[grader](**options)
