"""Graders by name: the one place that says how an answer is graded, for every caller.

Each suite declares its grader's name once, to the suite builder (suites/_suite.py `suite_task`, called by every
suite's @task), which records it in the Task metadata (key GRADER_KEY) and takes the suite's inspect scorer
from it (suites/grading/scorers.py `scorer_for`). Callers look the grader up by that name, never by sniffing a
scorer function:
  * systems/compose.py: equal-budget baselines (avg@n, maj@n, pass@n over the same n candidates,
    suites/grading/voting.py) for every suite whose grader is answer-graded, majority voting with the grader's
    `same_answer`;
  * training/rewards.py: the TRL rewards `math`, `math_literal`, `choice`, `code` are these graders.

A grader is a pure function `grade(completion, target, *, truncated=False, metadata=None) -> Verdict`
(suites/grading/verdict.py): `metadata` is the sample's metadata, for graders whose sample says more than its
target (HMMT's per-problem `answer_kind`, GPQA's per-epoch option order). `same_answer(a, b, metadata)` says
whether two extracted answers are the same answer (majority voting); a grader without it cannot vote.

| name          | grades                                                                     | votes |
|---------------|----------------------------------------------------------------------------|-------|
| math          | suites.grading.math_answer.grade_math (AIME, MATH-500, Omni-MATH-HARD)     | yes   |
| math_set      | math, or an unordered set where the sample's answer_kind is "set" (HMMT)   | yes   |
| math_literal  | math, but a numeral gold must be answered with a numeral (a TRL reward)    | yes   |
| choice        | option letter, the gold letter of the order shown (GPQA-Diamond)           | yes   |
| code          | the last Python block run on the tests in the sandbox (LiveCodeBench)      | no    |
| rule_or_judge | HLE: choice / math by rule, else an LLM judge: not a pure function         | no    |
| scicode_steps | SciCode: every step's function run on its tests: not (completion, target)  | no    |

Pure Python; imports no framework (the graders it names import none either).

    from suites.grading.registry import get_grader
    get_grader("math").grade("... \\boxed{7}", "7").status   # 'correct'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from suites.grading.verdict import Verdict

GRADER_KEY = "grader"  # Task metadata: the suite's grader name
# a generation that stopped for one of these reasons (inspect's stop_reason) is graded with truncated=True
TRUNCATION_STOP_REASONS = ("max_tokens", "model_length")
# sample metadata keys a suite writes to steer grading (scorers.py reads the same constants)
ANSWER_KIND_KEY = "answer_kind"  # "set" -> unordered list of values (answer_set.py); anything else -> math
CHOICE_SHUFFLE_KEY = "choice_shuffle"  # {"seed", "epoch", "order", "gold_letter"}: the option order shown

GradeFn = Callable[..., Verdict]
SameFn = Callable[[str, str, Mapping[str, Any]], bool]


class GraderUnavailable(RuntimeError):
    """A grader was asked for something it cannot grade (an unknown name, an impure grader, an unsupported target)."""


@dataclass(frozen=True)
class Grader:
    name: str
    description: str
    grade: GradeFn | None  # None: not a pure (completion, target) function; `graded_by` says what grades it
    same_answer: SameFn | None = None  # None: answers cannot be pooled by a vote
    graded_by: str | None = None

    @property
    def answer_graded(self) -> bool:
        """Graded by comparing one extracted answer with the target, so avg/maj/pass@n over candidates apply."""
        return self.grade is not None and self.same_answer is not None

    def __call__(
        self, completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any] | None = None
    ) -> Verdict:
        if self.grade is None:
            raise GraderUnavailable(f"grader {self.name!r} is not a pure function of (completion, target): {self.graded_by}")
        return self.grade(completion, target, truncated=truncated, metadata=metadata or {})


# --- math ------------------------------------------------------------------------------------------------


def _math(completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any]) -> Verdict:
    from suites.grading.math_answer import grade_math

    return grade_math(completion, target, truncated=truncated)


def _same_math(a: str, b: str, metadata: Mapping[str, Any]) -> bool:
    from suites.grading.math_answer import equivalent

    return equivalent(a, b)[0]


def _is_set(metadata: Mapping[str, Any]) -> bool:
    return metadata.get(ANSWER_KIND_KEY) == "set"


def _math_set(completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any]) -> Verdict:
    if not _is_set(metadata):
        return _math(completion, target, truncated=truncated, metadata=metadata)
    from suites.grading.answer_set import grade_answer_set

    return grade_answer_set(completion, target, truncated=truncated)


def _same_math_set(a: str, b: str, metadata: Mapping[str, Any]) -> bool:
    if not _is_set(metadata):
        return _same_math(a, b, metadata)
    from suites.grading.answer_set import split_values
    from suites.grading.math_answer import equivalent

    left, right = split_values(a), split_values(b)
    if len(left) != len(right):
        return False
    unmatched = list(range(len(left)))
    for value in right:  # a multiset match, as grade_answer_set matches values to the gold's
        hit = next((i for i in unmatched if equivalent(left[i], value)[0]), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True


NUMERAL = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _math_literal(completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any]) -> Verdict:
    """grade_math, except that a numeral gold must be answered with a numeral.

    Measured on the CPU GRPO run (results/training/README.md): with `math` as the reward a 135M policy learned
    to box the problem's own expression (`\\boxed{33 + 87}`), which Math-Verify rightly finds equal to 120, so
    held-out "accuracy" reached 200/200 with 0 numerals. For RL on computed answers that is a shortcut, not a
    solution; this grader pays only when the boxed answer is written as a number, as AIME's are.
    """
    from suites.grading.math_answer import normalize_answer
    from suites.grading.verdict import incorrect

    verdict = _math(completion, target, truncated=truncated, metadata=metadata)
    if verdict.status == "correct" and NUMERAL.match(normalize_answer(target)):
        if not NUMERAL.match(normalize_answer(verdict.extracted or "")):
            return incorrect(verdict.extracted or "", "equal to the gold but not written as a number "
                             "(e.g. the problem's unevaluated expression)")  # fmt: skip
    return verdict


# --- choice ----------------------------------------------------------------------------------------------


def choice_target(target: str, metadata: Mapping[str, Any]) -> tuple[str, int]:
    """(gold letter, number of options) of the order the model was shown: the sample's per-epoch shuffle when it
    has one (GPQA), else the target, which may be a JSON spec {"answer": "E", "n_choices": 5} (training rows)."""
    shuffle = metadata.get(CHOICE_SHUFFLE_KEY)
    if shuffle is not None:
        return str(shuffle["gold_letter"]), len(shuffle["order"])
    if target.lstrip().startswith("{"):
        spec = json.loads(target)
        return str(spec["answer"]), int(spec.get("n_choices", 4))
    return target, int(metadata.get("n_choices", 4))


def _choice(completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any]) -> Verdict:
    from suites.grading.choice import grade_choice

    gold, n_choices = choice_target(target, metadata)
    return grade_choice(completion, gold, n_choices=n_choices, truncated=truncated)


def _same_choice(a: str, b: str, metadata: Mapping[str, Any]) -> bool:
    return a.strip().upper() == b.strip().upper()


# --- code ------------------------------------------------------------------------------------------------


def code_tests(target: str) -> tuple[Any, str | None]:
    """A code target -> (suites.grading.code_exec.CodeTests, an assert script or None).

    Accepted: k2bench's own `CodeTests.to_dict()` ({"cases": [[stdin, stdout], ...], "mode", "fn_name"}), Guru's
    stdin tests ({"inputs": [...], "outputs": [...]}) and Guru's assert scripts ({"functional": "<test code>"}).
    """
    from suites.grading.code_exec import CodeTests
    from suites.grading.sandbox import TestCase

    spec = json.loads(target)
    if "cases" in spec:
        return CodeTests.from_dict(spec), None
    if "inputs" in spec and "outputs" in spec:
        return CodeTests.stdin(zip(spec["inputs"], spec["outputs"], strict=True), source="guru:stdin"), None
    if "functional" in spec:  # one "test": the program followed by the row's asserts must exit cleanly
        return CodeTests((TestCase("", ""),), "stdin", None, "guru:functional"), spec["functional"]
    raise GraderUnavailable(f"code grader: unsupported target keys {sorted(spec)} (pytest/solution_file)")


def _code(
    completion: str, target: str, *, truncated: bool = False, metadata: Mapping[str, Any], limits: Any = None
) -> Verdict:
    """suites.grading.code_exec.grade_code: last Python block after </think>, run on the target's tests in the
    sandbox (a suite with large test suites keeps them out of the target: suites/livecodebench_v5's scorer)."""
    from suites.grading.code_exec import grade_code
    from suites.grading.sandbox import DEFAULT_LIMITS, run_program

    tests, asserts = code_tests(target)
    limits = limits or DEFAULT_LIMITS
    if asserts is None:
        return grade_code(completion, tests, truncated=truncated, limits=limits).verdict

    def run_with_asserts(code: str, cases: list, *, limits: Any, **_: Any):  # noqa: ANN202
        return run_program(code + "\n" + asserts, limits=limits)

    return grade_code(completion, tests, truncated=truncated, limits=limits, run=run_with_asserts).verdict


# --- the registry -----------------------------------------------------------------------------------------

GRADERS: dict[str, Grader] = {
    g.name: g
    for g in (
        Grader("math", "math answer, K2-Think extraction order + Math-Verify", _math, _same_math),
        Grader("math_set", "math, or an unordered set of values where answer_kind is 'set'", _math_set, _same_math_set),
        Grader("math_literal", "math, a numeral gold needs a numeral answer", _math_literal, _same_math),
        Grader("choice", "option letter of the order shown", _choice, _same_choice),
        Grader("code", "program run on test cases in the sandbox", _code),
        Grader(
            "rule_or_judge", "HLE: option letter or math by rule, else an LLM judge", None,
            graded_by="suites.grading.scorers.rule_or_judge_scorer (needs the `grader` model role for judge samples)",
        ),
        Grader(
            "scicode_steps", "SciCode: each step's function run on its tests", None,
            graded_by="suites.grading.scorers.steps_scorer over suites/scicode/steps.grade_problem (all steps of a problem)",
        ),
    )
}  # fmt: skip


def get_grader(name: str) -> Grader:
    try:
        return GRADERS[name]
    except KeyError:
        raise GraderUnavailable(f"no grader {name!r}; known: {sorted(GRADERS)}") from None


def declared_grader(task_metadata: Mapping[str, Any] | None) -> Grader | None:
    """The grader a suite's Task declares (None when it declares none); an unknown name is an error."""
    name = (task_metadata or {}).get(GRADER_KEY)
    return None if name is None else get_grader(str(name))
