"""The grader case table (suites/grading/cases/math.jsonl): every row must get its expected status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suites.grading.math_answer import GraderError, equivalent, grade_math
from suites.grading.verdict import STATUSES, Verdict

CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases" / "math.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_case_table_is_large_and_documented() -> None:
    assert len(CASES) >= 60
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert case["status"] in STATUSES
        assert case["source"].strip(), f"{case['id']} has no comment on where it comes from"
    # every status the grader can give on its own appears in the table
    assert {c["status"] for c in CASES} >= {"correct", "incorrect", "no_answer", "truncated"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    verdict = grade_math(case["completion"], case["gold"], truncated=case["truncated"])
    assert verdict.status == case["status"], f"{case['source']}: {verdict}"
    assert verdict.score == (1.0 if case["status"] == "correct" else 0.0)
    assert verdict.reason


def test_verdict_rejects_inconsistent_scores() -> None:
    with pytest.raises(ValueError):
        Verdict(1.0, "incorrect", "5", "a wrong answer cannot score")
    with pytest.raises(ValueError):
        Verdict(0.0, "wrong", "5", "unknown status")


def test_timeout_is_an_error_not_incorrect() -> None:
    # a symbolic comparison (it must reach math-verify) with an impossible deadline
    with pytest.raises(GraderError):
        equivalent("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}+0", timeout=0.0001)
    verdict = grade_math("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}+0", timeout=0.0001)
    assert verdict.status == "error" and "exceeded" in verdict.reason
    # the pool recovers: the next comparison works
    assert grade_math("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}").status == "correct"


def test_unparseable_gold_is_an_error() -> None:
    # math-verify falls back to comparing strings for text it cannot parse, but an empty gold is nothing
    verdict = grade_math("\\boxed{x+1}", "$$")
    assert verdict.status == "error", verdict
