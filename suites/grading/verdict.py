"""The verdict every grader returns: score, status, extracted answer and reason.

An extraction failure, a truncated generation or a grader error is never silently a wrong answer: each
has its own status (DESIGN.md, "A grader"). `guarded` turns a grader's exception into an `error` verdict, so
no single completion can end an eval (issue 15: one 5,000-digit answer once failed a whole task). Pure Python; imports no framework, so the same verdicts serve
the inspect scorer (suites/grading/scorers.py) and the TRL reward (training/rewards.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["correct", "incorrect", "no_answer", "truncated", "error"]
STATUSES: tuple[Status, ...] = ("correct", "incorrect", "no_answer", "truncated", "error")


@dataclass(frozen=True)
class Verdict:
    """The outcome of grading one completion against one gold answer."""

    score: float
    status: Status
    extracted: str | None
    reason: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}; expected one of {STATUSES}")
        if self.status != "correct" and self.score != 0.0:
            raise ValueError(f"a {self.status} verdict must score 0, got {self.score}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def correct(extracted: str, reason: str) -> Verdict:
    return Verdict(1.0, "correct", extracted, reason)


def incorrect(extracted: str, reason: str) -> Verdict:
    return Verdict(0.0, "incorrect", extracted, reason)


REASON_CHARS = 500  # how much of an exception's message a verdict keeps


def guarded(grade: Callable[..., Verdict], *args: Any, **kwargs: Any) -> Verdict:
    """Call a grader; an exception becomes an `error` verdict with its cause, counted in the error rate."""
    try:
        return grade(*args, **kwargs)
    except Exception as err:  # one input that breaks a grader is that sample's error, not the run's
        target = getattr(grade, "func", grade)  # a functools.partial names its function
        return error_from(err, getattr(target, "__name__", type(target).__name__))


def error_from(err: BaseException, grader: str) -> Verdict:
    """The `error` verdict for an exception raised by `grader` (its type and message, cut to REASON_CHARS)."""
    return Verdict(0.0, "error", None, f"{grader} raised {type(err).__name__}: {str(err)[:REASON_CHARS]}")
