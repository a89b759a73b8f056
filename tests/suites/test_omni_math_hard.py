"""Omni-MATH-HARD: gold self-check over the whole rule subset (2,821), gold clean-up and repairs, the
committed id list against the selection rule, and the task.

All 3 x 2,821 renderings are graded: golds compare equal as strings after extraction (the fast path), so
this takes ~2 s; the Math-Verify parse check of every gold runs in the worker pool (~10 s on 2 cores).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from suites._catalogue import task_spec
from suites._data import load_records
from suites.grading.math_answer import _verify_in_pool, equivalent, grade_math, normalize_answer
from suites.omni_math_hard import selection
from suites.omni_math_hard.omni_math_hard import omni_math_hard

RENDERINGS = {
    "boxed": "<think>work</think> The final answer is $\\boxed{{{gold}}}$.",
    "answer_tag": "<think>work</think> <answer>{gold}</answer>",
    "answer_line": "<think>work</think>\nAnswer: {gold}",
}


@pytest.fixture(scope="module")
def graded(data_dir: Path) -> list[dict]:
    return [selection.graded_record(r) for r in load_records("omni_math_rule")]


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_gold_self_check_whole_rule_subset(rendering: str, graded: list[dict]) -> None:
    assert len(graded) == 2821
    failures = []
    for record in graded:
        verdict = grade_math(RENDERINGS[rendering].format(gold=record["answer"]), record["answer"])
        if verdict.status != "correct":
            failures.append((record["id"], record["answer"], verdict.reason))
    assert not failures, failures[:10]


def test_every_gold_parses_in_math_verify(graded: list[dict]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from suites.grading.math_answer import POOL_WORKERS

    def parses(record: dict) -> bool:
        gold = normalize_answer(record["answer"])
        return _verify_in_pool(gold, gold, 30)

    with ThreadPoolExecutor(POOL_WORKERS) as pool:
        bad = [r["id"] for r, ok in zip(graded, pool.map(parses, graded), strict=True) if not ok]
    assert not bad


def test_cleaning_never_changes_a_gold_s_value(graded: list[dict]) -> None:
    changed = [r for r in graded if r["answer"] != r["answer_original"] and "gold_fix" not in r]
    assert len(changed) == 57  # $...$, \[...\], \boxed{...} wrappers and line breaks are common in the source
    for record in changed:
        ok, why = equivalent(record["answer"], record["answer_original"])
        assert ok, (record["id"], why)


def test_no_control_characters_left_in_golds(graded: list[dict]) -> None:
    # "\frac" decoded as form feed + "rac" upstream: such golds must be repaired, not graded as they are
    assert not [r["id"] for r in graded if re.search(r"[\x00-\x1f]", r["answer"])]


def test_repaired_golds_are_needed_and_work(data_dir: Path) -> None:
    by_id = {r["id"]: r for r in load_records("omni_math_rule")}
    for record_id, (fixed, why) in selection.GOLD_FIXES.items():
        source = by_id[record_id]["answer"]
        assert why and source != fixed
        # the well-formed answer a model would write fails against the source gold, passes against the repair
        completion = f"<think>w</think> \\boxed{{{fixed}}}"
        assert grade_math(completion, source).status != "correct" or "\x0c" in source, record_id
        assert grade_math(completion, selection.graded_record(by_id[record_id])["answer"]).status == "correct"


def test_clean_gold_unwraps() -> None:
    assert selection.clean_gold("$\\boxed{n^2-n-1}$") == "n^2-n-1"
    assert selection.clean_gold("\\[\n\\boxed{2018}\n\\]") == "2018"
    assert selection.clean_gold("\\[\n(2n)! \\cdot 2^{n^2}\n\\]") == "(2n)! \\cdot 2^{n^2}"
    assert selection.clean_gold("\\boxed{a} + \\boxed{b}") == "\\boxed{a} + \\boxed{b}"  # not one lone box


def test_committed_ids_follow_the_rule(data_dir: Path) -> None:
    records = load_records("omni_math_rule")
    assert selection.read_ids_file() == selection.id_rows(selection.select_hard(records))
    assert selection.main([]) == 0


def test_selection_properties(data_dir: Path) -> None:
    rows = selection.read_ids_file()
    assert len(rows) == selection.HARD_COUNT == 173 and len({r["id"] for r in rows}) == 173
    chosen = {r["id"] for r in rows}
    assert not chosen & set(selection.EXCLUDED)
    cutoff = min(r["difficulty"] for r in rows)
    pool = [r for r in load_records("omni_math_rule") if r["id"] not in selection.EXCLUDED]
    # every problem harder than the cut-off is in; the cut-off level is split by the content hash only
    assert {r["id"] for r in pool if r["difficulty"] > cutoff} <= chosen
    assert all(r["difficulty"] >= cutoff for r in pool if r["id"] in chosen)
    # the exclusions were reviewed where the rule reaches: each would otherwise be selected
    top = {r["id"] for r in sorted(load_records("omni_math_rule"), key=selection.rank_key)[:200]}
    assert set(selection.EXCLUDED) <= top


def test_task_shape(data_dir: Path) -> None:
    task = omni_math_hard(epochs=1)
    samples = list(task.dataset)
    assert len(samples) == 173 and task.version == task_spec("omni_math_hard").version
    first = samples[0]
    assert first.id == "omni-math-rule-1062" and first.metadata["hard_rank"] == 1
    assert first.target == first.metadata["answer"] and "answer_original" in first.metadata
    assert first.target == "2^{n+1}-2"  # source gold "$ 2^{n+1}-2$", cleaned
