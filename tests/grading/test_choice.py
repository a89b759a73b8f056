"""Multiple-choice grading (suites/grading/choice.py) over its case table, plus the scorer's gold-letter source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suites.grading.choice import extract_choice, grade_choice, letter_of
from suites.grading.verdict import STATUSES

CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases" / "choice.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_case_table_is_documented() -> None:
    assert len(CASES) >= 20
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case["status"] in STATUSES and case["source"].strip()
    assert {c["status"] for c in CASES} >= {"correct", "incorrect", "no_answer", "truncated"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    verdict = grade_choice(case["completion"], case["gold"], n_choices=case["n_choices"], truncated=case["truncated"])
    assert verdict.status == case["status"], f"{case['source']}: {verdict}"
    assert verdict.score == (1.0 if case["status"] == "correct" else 0.0)
    if case["status"] in ("correct", "incorrect"):
        assert verdict.extracted is not None and len(verdict.extracted) == 1


@pytest.mark.parametrize("gold", list("ABCD"))
def test_every_letter_in_every_format_grades_correct(gold: str) -> None:
    formats = ["Answer: {g}", "\\boxed{{{g}}}", "<answer>{g}</answer>", "<answer>({g}) the value</answer>",
               "<think>(A)(B)(C)(D)</think>\nAnswer: {g}"]
    for template in formats:
        assert grade_choice(template.format(g=gold), gold).status == "correct", template
        other = "ABCD"[("ABCD".index(gold) + 1) % 4]
        assert grade_choice(template.format(g=other), gold).status == "incorrect", template


def test_more_options_and_bad_gold() -> None:
    assert grade_choice("Answer: E", "E", n_choices=5).status == "correct"
    assert letter_of("F", 5)[0] is None
    with pytest.raises(ValueError):
        grade_choice("Answer: A", "E")  # a gold outside the options is a suite bug, not a verdict


def test_reason_names_the_method() -> None:
    letter, reason = extract_choice("<think>x</think><answer>B</answer>")
    assert letter == "B" and "<answer>" in reason
