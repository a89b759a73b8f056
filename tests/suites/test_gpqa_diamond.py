"""GPQA-Diamond: in-memory loading, per-epoch option shuffle (balance, determinism, gold letter under every
shuffle), the setup solver, and that no plaintext question sits in the repository or under results/.

Assertions compare question text only through booleans, so a failure prints record ids, never the text.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from suites._catalogue import task_spec
from suites.gpqa_diamond.gpqa_diamond import gpqa_diamond, shuffle_options
from suites.gpqa_diamond.questions import (
    DEFAULT_SEED,
    LETTERS,
    load_questions,
    option_order,
    shuffle_metadata,
    user_prompt,
)
from suites.grading.choice import grade_choice
from suites.grading.scorers import CHOICE_SHUFFLE_KEY

EPOCHS = 16


@pytest.fixture(scope="module")
def questions(data_dir: Path) -> list:
    return load_questions()


def test_loads_198_in_memory(questions: list) -> None:
    assert len(questions) == 198 and len({q.record_id for q in questions}) == 198
    assert Counter(q.domain for q in questions) == {"Chemistry": 93, "Physics": 86, "Biology": 19}
    assert all(all(q.options) and q.options[0] not in q.options[1:] for q in questions)
    # an official quirk: two questions repeat a distractor (two letters show the same wrong text); the correct
    # option is still unique, so grading is unaffected
    assert {q.record_id for q in questions if len(set(q.options)) < 4} == {"recZSGUkn56v9kEp1", "recnGEpF1srQpaqWq"}
    assert q_text_not_in_repr(questions[0])


def q_text_not_in_repr(question) -> bool:
    return question.question not in repr(question) and question.options[0] not in repr(question)


def _shown_options(prompt: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^([A-D])\) (.*)$", prompt, flags=re.MULTILINE)}


def test_gold_letter_is_correct_under_every_shuffle(questions: list) -> None:
    for q in questions:
        for epoch in range(1, EPOCHS + 1):
            meta = shuffle_metadata(q.record_id, epoch)
            gold = meta["gold_letter"]
            shown = _shown_options(user_prompt(q, meta["order"]))
            if all("\n" not in o for o in q.options):  # multi-line options cannot be read back line by line
                # compared outside the assert so that a failure prints ids, never question text
                gold_shown = shown[gold] == q.options[0]
                assert gold_shown, (q.record_id, epoch)
            assert sorted(meta["order"]) == [0, 1, 2, 3]
            assert grade_choice(f"<think>...</think>\nAnswer: {gold}", gold).status == "correct"
            for other in set(LETTERS) - {gold}:
                assert grade_choice(f"Answer: {other}", gold).status == "incorrect"


def test_gold_letter_balanced_over_16_epochs(questions: list) -> None:
    for q in questions:
        letters = Counter(shuffle_metadata(q.record_id, e)["gold_letter"] for e in range(1, EPOCHS + 1))
        assert letters == {"A": 4, "B": 4, "C": 4, "D": 4}, q.record_id
    for epoch in (1, 7, 16):  # across questions each epoch also spreads the gold letter
        per_epoch = Counter(shuffle_metadata(q.record_id, epoch)["gold_letter"] for q in questions)
        assert set(per_epoch) == set(LETTERS) and min(per_epoch.values()) >= 25, per_epoch


def test_same_seed_same_order_other_seed_other_order(questions: list) -> None:
    ids = [q.record_id for q in questions]
    first = [option_order(i, e, DEFAULT_SEED) for i in ids for e in range(1, EPOCHS + 1)]
    again = [option_order(i, e, DEFAULT_SEED) for i in ids for e in range(1, EPOCHS + 1)]
    other = [option_order(i, e, 7) for i in ids for e in range(1, EPOCHS + 1)]
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 0.6 * len(first)
    # distractor order changes between epochs too, not only the gold position
    assert len({tuple(option_order(ids[0], e)) for e in range(1, EPOCHS + 1)}) > 8
    with pytest.raises(ValueError):
        option_order(ids[0], 0)


def test_samples_carry_no_question_text(questions: list) -> None:
    task = gpqa_diamond(epochs=EPOCHS)
    assert task.version == task_spec("gpqa_diamond").version and task.epochs == EPOCHS and task.metadata["shuffle_seed"] == DEFAULT_SEED
    needles = _needles(questions)
    for sample in task.dataset:
        leaked = needles.search(json.dumps(sample.metadata)) is not None
        assert not leaked, sample.id
        assert sample.metadata[CHOICE_SHUFFLE_KEY] == shuffle_metadata(sample.id, 1)
        assert sample.target == sample.metadata[CHOICE_SHUFFLE_KEY]["gold_letter"]


def test_setup_solver_rewrites_prompt_for_each_epoch(questions: list) -> None:
    from inspect_ai.model import ModelName
    from inspect_ai.solver import TaskState

    by_id = {q.record_id: q for q in questions}
    solver = shuffle_options(by_id, DEFAULT_SEED)
    sample = next(iter(gpqa_diamond(epochs=1).dataset))
    seen = set()
    for epoch in range(1, 5):
        state = TaskState(ModelName("k2bench/none"), sample.id, epoch, sample.input, list(sample.input),
                          metadata=dict(sample.metadata))
        state = asyncio.run(solver(state, None))
        meta = state.metadata[CHOICE_SHUFFLE_KEY]
        assert meta == shuffle_metadata(sample.id, epoch) and meta["epoch"] == epoch
        rewritten = state.user_prompt.text == user_prompt(by_id[sample.id], meta["order"])
        assert rewritten, (sample.id, epoch)
        seen.add(meta["gold_letter"])
    assert seen == set(LETTERS)  # epochs 1-4 form one block: every letter once


def _needles(questions: list) -> re.Pattern:
    """40-character runs of plain prose from each question: untouched by JSON, LaTeX or HTML escaping."""
    runs = []
    for q in questions:
        prose = re.findall(r"[A-Za-z][A-Za-z ,]{39,}", q.question)
        if prose:
            runs.append(max(prose, key=len)[:40])
    assert len(runs) >= 150, "too few searchable questions for a meaningful leak check"
    return re.compile("|".join(re.escape(r) for r in runs))


def _texts(path: Path):
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":  # inspect .eval logs and other zips: look inside
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    try:
                        yield f"{path}:{name}", archive.read(name).decode("utf-8", "ignore")
                    except RuntimeError:  # an encrypted member (the GPQA zip itself is never tracked)
                        continue
        except zipfile.BadZipFile:
            pass
    yield str(path), data.decode("utf-8", "ignore")


def test_no_plaintext_question_in_repository_or_results(questions: list, repo_root: Path) -> None:
    needles = _needles(questions)
    # the check can fail: the needles do find the questions in what the model is shown
    found = sum(needles.search(user_prompt(q, option_order(q.record_id, 1))) is not None for q in questions)
    assert found >= 150, found
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo_root, capture_output=True, check=True).stdout
    paths = {repo_root / p for p in tracked.decode().split("\0") if p}
    results = repo_root / "results"
    if results.is_dir():
        for path in results.rglob("*"):
            # a run's own inspect log holds the prompts it sent (allowed); everything else must not
            if path.is_file() and not (path.suffix in {".eval", ".json"} and "logs" in path.parts and path not in paths):
                paths.add(path)
    leaks = [where for path in sorted(paths) if path.is_file() for where, text in _texts(path) if needles.search(text)]
    assert not leaks, f"plaintext GPQA question text found in: {leaks}"
