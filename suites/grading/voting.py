"""Grading N candidate answers to one problem: each by the suite's grader, then avg@n, maj@n, pass@n, first@1.

The equal-budget baselines of best-of-N (systems/best_of_n.py; inspect scorer: scorers.equal_budget_scorer): the
same N candidates the judge chose among, graded with the grader the suite declares by name
(suites/grading/registry.py), so a table shows what the judge adds over voting at the same generation cost.
Majority voting pools answers the grader's `same_answer` calls the same (HMMT's sets as multisets, GPQA's
letters of the order shown). Pure Python, no framework.

    from suites.grading.voting import grade_candidates, majority
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from suites.grading.registry import TRUNCATION_STOP_REASONS, get_grader
from suites.grading.verdict import Verdict, guarded

BASELINE_KEYS = ("judge_at_n", "avg_at_n", "maj_at_n", "pass_at_n", "first_at_1")


class Candidate(Protocol):
    completion: str
    stop_reason: str


@dataclass(frozen=True)
class CandidatePool:
    """The N candidates of one sample and the one a selector (the judge) picked."""

    candidates: Sequence[Any]  # each with .completion, .stop_reason (and .branch, recorded when present)
    winner: int
    selection_status: str | None = None


def grade_candidates(
    candidates: Sequence[Candidate], target: str, grader: str = "math", metadata: Mapping[str, Any] | None = None
) -> list[Verdict]:
    """Each candidate's Verdict under the grader named `grader`; a candidate that breaks the grader is `error`,
    not the run's end."""
    grade = get_grader(grader)
    return [
        guarded(grade, c.completion, target, truncated=c.stop_reason in TRUNCATION_STOP_REASONS, metadata=metadata or {})
        for c in candidates
    ]


def majority(
    verdicts: list[Verdict], grader: str = "math", metadata: Mapping[str, Any] | None = None
) -> tuple[float, dict[str, Any]]:
    """maj@n: cluster the extracted answers by the grader's `same_answer`; the largest cluster's correctness wins.

    Truncated and unanswered candidates do not vote (their answers are not final). Ties go to the cluster whose
    first member came first (deterministic) and are recorded. No votes at all scores 0. A comparison the
    grader cannot decide (a grader error) keeps the two answers apart and is recorded.
    """
    from suites.grading.math_answer import GraderError

    same_answer = get_grader(grader).same_answer
    if same_answer is None:
        raise ValueError(f"grader {grader!r} cannot vote (no same_answer)")
    voters = [
        (i, v) for i, v in enumerate(verdicts) if v.status in ("correct", "incorrect") and v.extracted is not None
    ]
    clusters: list[list[int]] = []
    errors: list[str] = []
    for i, verdict in voters:
        for cluster in clusters:
            try:
                same = same_answer(verdict.extracted, verdicts[cluster[0]].extracted, metadata or {})
            except GraderError as err:
                errors.append(str(err))
                same = False
            if same:
                cluster.append(i)
                break
        else:
            clusters.append([i])
    if not clusters:
        return 0.0, {"clusters": [], "majority": None, "tie": False, "errors": errors}
    size = max(len(c) for c in clusters)
    top = [c for c in clusters if len(c) == size]
    chosen = top[0]
    return verdicts[chosen[0]].score, {
        "clusters": [[verdicts[c[0]].extracted, c] for c in clusters],
        "majority": chosen,
        "tie": len(top) > 1,
        "errors": errors,
    }


def baselines(verdicts: list[Verdict], winner: int, maj: float) -> dict[str, float]:
    """judge@n (the selector's pick), avg@n, maj@n, pass@n (oracle: any correct) and first@1 (candidate 0 alone)."""
    scores = [v.score for v in verdicts]
    return {
        "judge_at_n": scores[winner],
        "avg_at_n": sum(scores) / len(scores),
        "maj_at_n": maj,
        "pass_at_n": max(scores),
        "first_at_1": scores[0],
    }
