"""HLE: the missing-data error, loading synthetic records in HLE's schema (jsonl and parquet), which grader each
answer gets, and (slow) real runs: the clear stop without data or without a `grader` role, and the judge path
with the embedded model as judge (its verdicts are mostly unreadable: they must be `error`, never `incorrect`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from suites._data import DataError, DataUnavailable
from suites._unavailable import skipped_reason
from suites.grading.judge import read_judge_reply
from suites.hle import records as hle_data
from suites.hle.hle import hle

SYNTHETIC = [  # HLE's schema (cais/hle test split), invented content
    {"id": "syn-mc", "question": "Which planet is the largest?\n\nAnswer Choices:\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth",
     "image": "", "answer": "B", "answer_type": "multipleChoice", "raw_subject": "Astronomy", "category": "Physics"},
    {"id": "syn-number", "question": "What is 2 + 3?", "image": "", "answer": "5", "answer_type": "exactMatch",
     "raw_subject": "Arithmetic", "category": "Math"},
    {"id": "syn-formula", "question": "Simplify x times x.", "image": "", "answer": "x^{2}",
     "answer_type": "exactMatch", "raw_subject": "Algebra", "category": "Math"},
    {"id": "syn-text", "question": "Name the capital of France.", "image": "", "answer": "Paris",
     "answer_type": "exactMatch", "raw_subject": "Geography", "category": "Humanities/Social Science"},
    {"id": "syn-image", "question": "What is shown in the picture?", "image": "data:image/png;base64,iVBORw0KGgo=",
     "answer": "A cat", "answer_type": "exactMatch", "raw_subject": "Vision", "category": "Other"},
]
for record in SYNTHETIC:
    record.update({"image_preview": None, "author_name": "k2bench-test", "rationale": "", "rationale_image": None,
                   "canary": "synthetic"})


@pytest.fixture()
def hle_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "hle.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in SYNTHETIC), encoding="utf-8")
    return path


def test_missing_data_error_says_how_to_provide_it(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv(hle_data.HLE_PATH_ENV, raising=False)
    with pytest.raises(DataUnavailable) as err:
        hle_data.load_hle()
    message = str(err.value)
    # the task itself is skipped with that reason (suites/_unavailable.py), so other suites still run
    skipped = hle()
    assert len(skipped.dataset) == 0 and skipped_reason(skipped) == message
    assert message in capsys.readouterr().err
    for hint in ("not in the offline mirror", "-T data_path=", hle_data.HLE_PATH_ENV, "hle/test-00000-of-00001.parquet",
                 "cais/hle", hle_data.HLE_REVISION, "HF_TOKEN"):
        assert hint in message, hint


def test_hub_unreachable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K2BENCH_DATA_DIR", raising=False)
    monkeypatch.delenv(hle_data.HLE_PATH_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"could not load cais/hle@5a81a4c.*-T data_path="):
        hle_data.load_hle()


def test_wrong_path_and_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        hle_data.load_hle(str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": "q", "answer": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lacks \['answer_type'\]"):
        hle_data.load_hle(str(bad))
    bad.write_text(json.dumps({**SYNTHETIC[1], "answer_type": "essay"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="answer_type 'essay'"):
        hle_data.load_hle(str(bad))


def test_jsonl_and_parquet_give_the_same_records(hle_jsonl: Path, tmp_path: Path) -> None:
    import pandas as pd

    parquet = tmp_path / "test-00000-of-00001.parquet"
    pd.DataFrame(SYNTHETIC).to_parquet(parquet)
    from_jsonl, facts = hle_data.hle_records(str(hle_jsonl))
    from_parquet, _ = hle_data.hle_records(str(parquet))
    assert from_jsonl == from_parquet
    assert [r["id"] for r in from_jsonl] == ["syn-mc", "syn-number", "syn-formula", "syn-text"]  # image dropped
    assert {r["id"]: r["grading"] for r in from_jsonl} == {
        "syn-mc": "choice", "syn-number": "math", "syn-formula": "math", "syn-text": "judge"}
    assert from_jsonl[0]["n_choices"] == 4
    assert facts["hle_records"] == 5 and facts["hle_text_only"] == 4 and "sha256" in facts["hle_source"]


def test_env_var_and_task_shape(hle_jsonl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hle_data.HLE_PATH_ENV, str(hle_jsonl))
    task = hle(epochs=2)
    samples = list(task.dataset)
    assert len(samples) == 4 and task.epochs == 2 and task.metadata["judge_role"] == "grader"
    mc = samples[0]
    assert mc.target == "B" and "letter of your chosen answer" in mc.input[1].text
    assert task.metadata["hle_grading"] == {"choice": 1, "math": 2, "judge": 1}


@pytest.mark.parametrize(("answer", "math"), [("5", True), ("-3.25", True), ("1/3", True), ("\\frac{\\pi}{2}", True),
                                             ("2^{n}-1", True), ("x^{2}", True), ("Paris", False), ("3 km", False),
                                             ("\\text{yes}", False), ("sin(x)", False), ("x", False)])
def test_math_or_free_text(answer: str, math: bool) -> None:
    assert hle_data.is_math_answer(answer) is math


def _inspect(args: list[str], repo_root: Path, tmp_path: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", K2BENCH_DATA_DIR=str(data_dir))
    env.pop("INSPECT_EVAL_MODEL", None)
    env.pop(hle_data.HLE_PATH_ENV, None)
    cmd = [str(Path(sys.executable).with_name("inspect")), "eval", "suites/hle", "--log-dir", str(tmp_path / "logs"),
           "--display", "none", *args]
    return subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_inspect_eval_without_data_is_skipped_in_one_line(repo_root: Path, tmp_path: Path, data_dir: Path) -> None:
    """No HLE data: one line says why and how to provide it; the log runs nothing and says it was skipped
    (suites/_unavailable.py: a missing data set never takes the other suites of `inspect eval suites` down)."""
    from inspect_ai.log import read_eval_log

    proc = _inspect(["--limit", "2"], repo_root, tmp_path, data_dir)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("k2bench: suite skipped")]
    assert "HLE is not in the offline mirror" in line and "-T data_path=" in line
    (log_path,) = sorted((tmp_path / "logs").glob("*.eval"))
    log = read_eval_log(str(log_path))
    assert "HLE is not in the offline mirror" in log.eval.metadata["k2bench_skipped"]
    assert not log.samples


@pytest.mark.slow
def test_inspect_eval_without_grader_role_refuses_self_judging(hle_jsonl: Path, repo_root: Path, tmp_path: Path,
                                                               data_dir: Path) -> None:
    from inspect_ai.log import read_eval_log

    proc = _inspect(["-T", f"data_path={hle_jsonl}", "-T", "epochs=1", "-M", "max_tokens_cap=16", "--sample-id",
                     "syn-text"], repo_root, tmp_path, data_dir)
    (log_path,) = sorted((tmp_path / "logs").glob("*.eval"))
    log = read_eval_log(str(log_path))
    # the run stops at the setup step, before any generation, and says which flag is missing
    assert log.status == "error", proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no model is bound to the role 'grader'" in log.error.message
    assert "--model-role grader=" in log.error.message
    assert not log.samples[0].output.completion


@pytest.mark.slow
def test_judge_path_with_embedded_judge_on_fixed_responses(tmp_path: Path) -> None:
    """The scorer's judge path end to end: fixed responses (fixtures, not a model), the real embedded model as
    the `grader` role. Its replies rarely follow the format; each must be graded exactly as the strict reader says."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig, ModelOutput, get_model
    from inspect_ai.solver import Generate, TaskState, solver

    from suites.grading.scorers import rule_or_judge_scorer

    responses = {"right": "<think>France's capital.</think> The capital is \\boxed{Paris}.",
                 "wrong": "<think>Hmm.</think> The capital is \\boxed{Lyon}.",
                 "silent": "<think>I am still thinking about"}

    @solver
    def fixed_response():
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            state.output = ModelOutput.from_content(model="fixture", content=responses[str(state.sample_id)])
            return state

        return solve

    samples = [Sample(id=k, input="Name the capital of France.", target="Paris",
                      metadata={"grading": "judge", "question": "Name the capital of France."}) for k in responses]
    judge = get_model("k2bench/smollm2-135m-instruct", config=GenerateConfig(max_tokens=48))
    task = Task(dataset=samples, solver=fixed_response(), scorer=rule_or_judge_scorer())
    (log,) = inspect_eval(task, model="k2bench/smollm2-135m-instruct", model_roles={"grader": judge},
                          log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    by_id = {s.id: s.scores["rule_or_judge_scorer"].metadata for s in log.samples}
    assert by_id["silent"]["status"] == "no_answer" and "judge_reply" not in by_id["silent"]  # never sent to the judge
    for key in ("right", "wrong"):
        reading = read_judge_reply(by_id[key]["judge_reply"])
        expected = "error" if reading.correct is None else ("correct" if reading.correct else "incorrect")
        assert by_id[key]["status"] == expected, by_id[key]
