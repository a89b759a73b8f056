"""LLM-judge verdict parsing (suites/grading/judge.py): strict, and an unreadable verdict is `error`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suites.grading.judge import RESPONSE_CHAR_LIMIT, judge_prompt, read_judge_reply, verdict_from_judge

CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases" / "judge.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_case_table_is_documented() -> None:
    assert len(CASES) >= 15
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["status"] for c in CASES} == {"correct", "incorrect", "error"}
    assert all(c["source"].strip() for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    verdict = verdict_from_judge(case["reply"])
    assert verdict.status == case["status"], f"{case['source']}: {verdict}"
    assert verdict.score == (1.0 if case["status"] == "correct" else 0.0)
    if case["status"] == "error":
        assert verdict.reason.startswith("unparseable judge verdict")


def test_reading_keeps_the_extracted_answer() -> None:
    reading = read_judge_reply("extracted_final_answer: 12 cm\nreasoning: same\ncorrect: yes")
    assert reading.correct is True and reading.extracted == "12 cm"


def test_prompt_carries_question_response_and_reference() -> None:
    prompt = judge_prompt("What is 6*7?", "It is 42.", "42")
    assert "[question]: What is 6*7?" in prompt and "[response]: It is 42." in prompt
    assert "[correct_answer]: 42" in prompt and "correct: <yes" in prompt
    long = judge_prompt("q", "x" * (RESPONSE_CHAR_LIMIT + 500), "a")
    assert "response cut for the judge" in long and len(long) < RESPONSE_CHAR_LIMIT + 2000


def test_the_prompt_itself_is_not_a_verdict() -> None:
    # a judge that echoes the instructions back must not be read as having answered
    assert verdict_from_judge(judge_prompt("q", "r", "a")).status == "error"
