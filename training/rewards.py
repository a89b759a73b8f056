"""TRL reward functions that ARE the eval graders: each reward is a verdict of suites/grading turned into a float.

Peers' RL rewards drift from their eval graders (open-r1 paid 1.0 on unparseable gold and once reversed
`verify()`'s arguments; ../shared/reference/peers.md): here the rewards `math`, `math_literal`, `choice` and
`code` are the graders of those names in suites/grading/registry.py (`grade_math`, `grade_choice`,
`grade_code`, whose program runs in `suites/grading/sandbox/`), looked up by name as the suites declare
theirs: the functions the inspect scorers call, so a reward of 1 means "the suite would score this correct".
tests/training/test_reward_parity.py runs the grader case tables through grader, inspect scorer and reward
and requires the same verdicts.

Multi-task rows carry a `domain` column (training/data.py); a domain reward returns None for rows of another
domain, which TRL treats as "not applicable" (NaN, ignored by nanmean/nansum). A completion that did not end
with an end-of-sequence token was cut at max_completion_length: it gets the grader's `truncated` verdict (0),
exactly as the suite scores a generation that hit max_tokens. Each call logs the rate of every verdict status
(`<domain>/<status>`) so a run shows *why* rewards are 0 (no_answer vs incorrect vs truncated).

Rewards are picked by name from `REWARDS` (open-r1 style); `format` rewards the K2-Think output shape
`<think>…</think><answer>…</answer>`. Guru domains without a grader in suites/grading (logic puzzles, CodeIO
simulation, the STEM LLM-verifier) are registered as `UnavailableReward`s: their names resolve, but
training/grpo.py refuses to start when one of them would be needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from suites.grading.registry import GraderUnavailable, get_grader
from suites.grading.verdict import STATUSES, Verdict
from training.chat_template import follows_format

Completion = str | list[dict[str, Any]]


def completion_text(completion: Completion) -> str:
    """TRL passes a string (standard format) or a list of messages (conversational format)."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content") or "") for m in completion if m.get("role") == "assistant")


def truncation_flags(completion_ids: Sequence[Sequence[int]] | None, eos_token_ids: Sequence[int], n: int) -> list[bool]:
    """True where a completion ended without an EOS token, i.e. TRL cut it at max_completion_length."""
    if completion_ids is None or not eos_token_ids:
        return [False] * n
    return [not ids or ids[-1] not in eos_token_ids for ids in completion_ids]


# --- graders, by name from suites/grading/registry.py (the suites' own declarations use the same names) ----


def _grade_math(completion: str, gold: str, truncated: bool) -> Verdict:
    return get_grader("math")(completion, gold, truncated=truncated)


def _grade_math_literal(completion: str, gold: str, truncated: bool) -> Verdict:
    """registry `math_literal`: a numeral gold must be answered with a numeral (why: its docstring)."""
    return get_grader("math_literal")(completion, gold, truncated=truncated)


def _grade_choice(completion: str, gold: str, truncated: bool) -> Verdict:
    """registry `choice`; gold is a letter or {"answer": "C", "n_choices": 5} for questions with more options."""
    return get_grader("choice")(completion, gold, truncated=truncated)


def _grade_code(completion: str, gold: str, truncated: bool, limits: Any = None) -> Verdict:
    """registry `code`: last Python block after </think>, run on the row's tests in the sandbox."""
    grader = get_grader("code")
    assert grader.grade is not None
    return grader.grade(completion, gold, truncated=truncated, metadata={}, limits=limits)


# --- TRL reward callables ------------------------------------------------------------------------------


class GraderReward:
    """A TRL reward over one suites/grading grader; rows of other domains get None."""

    def __init__(self, domain: str, grade: Callable[[str, str, bool], Verdict], eos_token_ids: Sequence[int] = (),
                 name: str | None = None):
        self.domain, self.grade, self.eos_token_ids = domain, grade, tuple(eos_token_ids)
        self.__name__ = f"{name or domain}_reward"  # TRL logs rewards/<__name__>/mean
        self.available = True

    def verdicts(self, completions: Sequence[Completion], answer: Sequence[str], domain: Sequence[str],
                 completion_ids: Sequence[Sequence[int]] | None = None) -> list[Verdict | None]:
        cut = truncation_flags(completion_ids, self.eos_token_ids, len(completions))
        return [
            self.grade(completion_text(c), str(a), t) if d == self.domain else None
            for c, a, d, t in zip(completions, answer, domain, cut, strict=True)
        ]

    def __call__(self, completions: Sequence[Completion], answer: Sequence[str] | None = None,
                 domain: Sequence[str] | None = None, completion_ids: Sequence[Sequence[int]] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **_: Any) -> list[float | None]:
        if answer is None or domain is None:
            raise KeyError(f"{self.__name__} needs the dataset columns 'answer' and 'domain' (training/data.py)")
        verdicts = self.verdicts(completions, answer, domain, completion_ids)
        graded = [v for v in verdicts if v is not None]
        if log_metric is not None and graded:
            counts = Counter(v.status for v in graded)
            for status in STATUSES:
                log_metric(f"{self.domain}/{status}", counts[status] / len(graded))
        return [None if v is None else v.score for v in verdicts]


class UnavailableReward:
    """A Guru domain k2bench has no grader for: resolvable by name, raises if a row of its domain is graded."""

    def __init__(self, domain: str, why: str, eos_token_ids: Sequence[int] = ()):
        self.domain, self.why = domain, why
        self.__name__ = f"{domain}_reward"
        self.available = False

    def __call__(self, completions: Sequence[Completion], domain: Sequence[str] | None = None, **_: Any) -> list[None]:
        if domain is None or any(d == self.domain for d in domain):
            raise GraderUnavailable(f"{self.__name__}: {self.why}")
        return [None] * len(completions)


class FormatReward:
    """1.0 when the whole completion is `<think>…</think><answer>…</answer>` and ended by itself; any domain."""

    def __init__(self, eos_token_ids: Sequence[int] = ()):
        self.eos_token_ids = tuple(eos_token_ids)
        self.__name__ = "format_reward"
        self.available = True

    def __call__(self, completions: Sequence[Completion], completion_ids: Sequence[Sequence[int]] | None = None,
                 **_: Any) -> list[float]:
        cut = truncation_flags(completion_ids, self.eos_token_ids, len(completions))
        return [float(not t and follows_format(completion_text(c))) for c, t in zip(completions, cut, strict=True)]


_NO_GRADER = {
    "logic": "Guru logic puzzles (zebra, ordering, graph, ARC) need Reasoning360's puzzle checkers; suites/grading has none",
    "simulation": "Guru CodeIO needs Reasoning360's output-prediction checker; suites/grading has none",
    "stem": "Guru WebInstruct-STEM is graded by the LLM verifier TIGER-Lab/general-verifier; no judge reward yet",
}
REWARDS: dict[str, Callable[[Sequence[int]], Any]] = {
    "math": lambda eos: GraderReward("math", _grade_math, eos),
    "math_literal": lambda eos: GraderReward("math", _grade_math_literal, eos, name="math_literal"),
    "choice": lambda eos: GraderReward("choice", _grade_choice, eos),
    "code": lambda eos: GraderReward("code", _grade_code, eos),
    "format": lambda eos: FormatReward(eos),
    **{d: (lambda eos, d=d, why=why: UnavailableReward(d, why, eos)) for d, why in _NO_GRADER.items()},
}


def resolve_rewards(names: Sequence[str], eos_token_ids: Sequence[int] = ()) -> list[Any]:
    """Reward callables for the names of a recipe's `reward_funcs` (unknown names fail here, before training)."""
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; known: {sorted(REWARDS)}")
    return [REWARDS[n](tuple(eos_token_ids)) for n in names]
