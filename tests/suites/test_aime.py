"""AIME suites: data layer checks, gold self-check in three renderings, and the task's shape."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from suites import _data
from suites._data import DataError, load_records
from suites.grading.math_answer import grade_math

YEARS = ("aime2024", "aime2025")
RENDERINGS = {
    "boxed": "<think>work</think> The final answer is $\\boxed{{{gold}}}$.",
    "answer_tag": "<think>work</think> <answer>{gold}</answer>",
    "answer_line": "Some reasoning.\nAnswer: {gold}",
}


@pytest.mark.parametrize("year", YEARS)
def test_mirror_loads_with_counts_and_ids(year: str, data_dir: Path) -> None:
    records = load_records(year)
    assert len(records) == 30
    assert len({r["id"] for r in records}) == 30
    assert all(r["answer"].isdigit() and not r["answer"].startswith("0") or r["answer"] == "0" for r in records)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_gold_self_check(year: str, rendering: str, data_dir: Path) -> None:
    for record in load_records(year):
        completion = RENDERINGS[rendering].format(gold=record["answer"])
        verdict = grade_math(completion, record["answer"])
        assert verdict.status == "correct", (record["id"], verdict)
        # AIME golds are also stored zero-padded elsewhere (HuggingFaceH4/aime_2024): both must agree
        padded = record["answer"].zfill(3)
        assert grade_math(RENDERINGS[rendering].format(gold=padded), record["answer"]).status == "correct"


@pytest.mark.parametrize("year", YEARS)
def test_wrong_missing_and_truncated_answers(year: str, data_dir: Path) -> None:
    for record in load_records(year):
        wrong = str((int(record["answer"]) + 1) % 1000)
        assert grade_math(f"\\boxed{{{wrong}}}", record["answer"]).status == "incorrect"
        assert grade_math("I could not finish the computation.", record["answer"]).status == "no_answer"
        cut = f"<think>Let me compute {record['answer']} carefully and"
        assert grade_math(cut, record["answer"], truncated=True).status == "truncated"


def _mirror_copy(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "mirror"
    shutil.copytree(data_dir / "aime2024", copy / "aime2024")
    monkeypatch.setenv(_data.DATA_DIR_ENV, str(copy))
    return copy / "aime2024" / "aime2024.jsonl"


def test_corrupted_mirror_file_stops_with_names(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mirror_copy(data_dir, tmp_path, monkeypatch)
    data = bytearray(path.read_bytes())
    data[100] = ord("X") if data[100] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        load_records("aime2024")
    message = str(err.value)
    assert str(path) in message
    assert _data.BENCHMARKS["aime2024"].mirror_sha256 in message
    assert _data.sha256_bytes(bytes(data)) in message


def test_truncated_mirror_file_stops(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mirror_copy(data_dir, tmp_path, monkeypatch)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-3]), encoding="utf-8")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_records("aime2024")


def test_missing_mirror_file_stops(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _mirror_copy(data_dir, tmp_path, monkeypatch)
    path.unlink()
    with pytest.raises(DataError, match="missing"):
        load_records("aime2024")


def test_wrong_count_is_named(data_dir: Path) -> None:
    spec = _data.BENCHMARKS["aime2024"]
    records = load_records("aime2024")
    with pytest.raises(DataError, match="has 29 records, expected 30"):
        _data._check_count("aime2024", "somewhere", spec, records[:29])


def test_task_shape(data_dir: Path) -> None:
    from suites._catalogue import task_spec
    from suites.aime.aime2024 import aime2024

    task = aime2024(epochs=3)
    samples = list(task.dataset)
    assert len(samples) == 30 and task.version == task_spec("aime2024").version == "1-A"
    assert task.epochs == 3
    first = samples[0]
    assert first.id == "aime2024-I-1" and first.target == "204"
    assert [m.role for m in first.input] == ["system", "user"]
    assert "K2-Think" in first.input[0].text and first.metadata["problem_idx"] == 1
    assert set(first.metadata) >= {"id", "problem", "answer", "competition", "source_path"}
    assert task.config.temperature == 1.0 and task.config.top_p == 0.95
    assert task.config.max_tokens == 65536 and task.config.stop_seqs == ["</answer>"]
    with pytest.raises(ValueError):
        aime2024(epochs=0)
