"""HMMT Feb 2025: data, which problems are sets, gold self-check in three renderings, the case table, the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suites._catalogue import task_spec
from suites._data import load_records
from suites.grading.answer_set import grade_answer_set, split_values
from suites.grading.math_answer import _verify_in_pool, grade_math, normalize_answer
from suites.grading.verdict import STATUSES
from suites.hmmt_feb2025.hmmt_feb2025 import SET_ANSWER_IDS, hmmt_feb2025, hmmt_records

RENDERINGS = {
    "boxed": "<think>work</think> The final answer is $\\boxed{{{gold}}}$.",
    "answer_tag": "<think>work</think> <answer>{gold}</answer>",
    "answer_line": "<think>work</think>\nAnswer: {gold}",
}
CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases" / "hmmt.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_records_and_set_problems(data_dir: Path) -> None:
    records = hmmt_records()
    assert len(records) == 30 and len({r["id"] for r in records}) == 30
    # a gold with a top-level comma is a list: it must be declared, and only those are
    listed = {r["id"] for r in records if len(split_values(r["answer"])) > 1}
    assert listed == SET_ANSWER_IDS == {"hmmt_feb_2025-10"}
    assert {r["id"] for r in records if r["answer_kind"] == "set"} == SET_ANSWER_IDS
    problem10 = next(r for r in records if r["id"] == "hmmt_feb_2025-10")
    assert "comma-separated list" in problem10["problem"]


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_gold_self_check(rendering: str, data_dir: Path) -> None:
    for record in hmmt_records():
        completion = RENDERINGS[rendering].format(gold=record["answer"])
        grader = grade_answer_set if record["answer_kind"] == "set" else grade_math
        verdict = grader(completion, record["answer"])
        assert verdict.status == "correct", (record["id"], verdict)


def test_every_gold_parses_in_math_verify(data_dir: Path) -> None:
    # the fast path (equal strings) hides a gold Math-Verify cannot read; any other correct form would then be
    # an `error`, so each gold must also verify against itself through the worker
    for record in load_records("hmmt_feb2025"):
        gold = normalize_answer(record["answer"])
        assert _verify_in_pool(gold, gold, 30), record["id"]


def test_case_table_is_documented() -> None:
    assert len(CASES) >= 25 and len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case["status"] in STATUSES and case["source"].strip()
    assert {c["answer_kind"] for c in CASES} == {"set", "expression"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    grader = grade_answer_set if case["answer_kind"] == "set" else grade_math
    verdict = grader(case["completion"], case["gold"], truncated=case["truncated"])
    assert verdict.status == case["status"], f"{case['source']}: {verdict}"


def test_task_shape(data_dir: Path) -> None:
    task = hmmt_feb2025(epochs=2)
    samples = list(task.dataset)
    assert len(samples) == 30 and task.version == task_spec("hmmt_feb2025").version and task.epochs == 2
    ten = next(s for s in samples if s.id == "hmmt_feb_2025-10")
    assert ten.metadata["answer_kind"] == "set" and ten.target == ten.metadata["answer"]
    assert [m.role for m in ten.input] == ["system", "user"]
    assert task.config.max_tokens == 65536 and task.config.stop_seqs == ["</answer>"]
