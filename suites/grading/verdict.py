"""The verdict every grader returns: score, status, extracted answer and reason.

An extraction failure, a truncated generation or a grader error is never silently a wrong answer: each
has its own status (DESIGN.md, "A grader"). Pure Python; imports no framework, so the same verdicts serve
the inspect scorer (suites/grading/scorers.py) and the TRL reward (training/rewards.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

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
