"""MATH-500 (smoke suite): data, gold self-check over all 500 golds in three renderings, the task."""

from __future__ import annotations

from pathlib import Path

import pytest

from suites._catalogue import task_spec
from suites._data import BENCHMARKS, load_records
from suites.grading.math_answer import _verify_in_pool, grade_math, normalize_answer
from suites.math500.math500 import math500

RENDERINGS = {
    "boxed": "<think>work</think> The final answer is $\\boxed{{{gold}}}$.",
    "answer_tag": "<think>work</think> <answer>{gold}</answer>",
    "answer_line": "<think>work</think>\nAnswer: {gold}",
}


def test_records(data_dir: Path) -> None:
    records = load_records("math500")
    assert len(records) == 500 and len({r["id"] for r in records}) == 500
    assert all(r["id"] == r["unique_id"] for r in records)
    # the hub copy at the pinned commit is byte-identical to the mirror: same canonical content checksum
    assert BENCHMARKS["math500"].hub.content_sha256 == BENCHMARKS["math500"].content_sha256


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_gold_self_check(rendering: str, data_dir: Path) -> None:
    failures = []
    for record in load_records("math500"):
        verdict = grade_math(RENDERINGS[rendering].format(gold=record["answer"]), record["answer"])
        if verdict.status != "correct":
            failures.append((record["id"], record["answer"], verdict.reason))
    assert not failures, failures[:10]


def test_every_gold_parses_in_math_verify(data_dir: Path) -> None:
    bad = []
    for record in load_records("math500"):
        gold = normalize_answer(record["answer"])
        if not _verify_in_pool(gold, gold, 30):
            bad.append(record["id"])
    assert not bad


def test_task_shape(data_dir: Path) -> None:
    task = math500(epochs=1)
    samples = list(task.dataset)
    assert len(samples) == 500 and task.version == task_spec("math500").version
    assert samples[0].id == samples[0].metadata["unique_id"] and samples[0].target == samples[0].metadata["answer"]
