"""End to end, offline: `inspect eval` of every issue-3 suite with mirror data (HMMT, MATH-500, Omni-MATH-HARD,
GPQA-Diamond) with `--limit 2 -T epochs=1 -M max_tokens_cap=64` on the embedded default model, in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

pytestmark = pytest.mark.slow

SUITES = {  # path -> (task name, scorer name)
    "suites/hmmt_feb2025": ("hmmt_feb2025", "math_set_scorer"),
    "suites/math500": ("math500", "math_scorer"),
    "suites/omni_math_hard": ("omni_math_hard", "math_scorer"),
    "suites/gpqa_diamond": ("gpqa_diamond", "choice_scorer"),
}


def test_inspect_eval_every_mirror_suite_offline(data_dir: Path, repo_root: Path, tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", K2BENCH_DATA_DIR=str(data_dir))
    env.pop("INSPECT_EVAL_MODEL", None)  # the embedded default comes from the repo's .env
    inspect = Path(sys.executable).with_name("inspect")
    cmd = [str(inspect), "eval", *SUITES, "--limit", "2", "-T", "epochs=1", "-M", "max_tokens_cap=64",
           "--log-dir", str(tmp_path), "--display", "none"]
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = {read_eval_log(str(p)).eval.task: read_eval_log(str(p)) for p in tmp_path.glob("*.eval")}
    assert set(logs) == {task for task, _ in SUITES.values()}, sorted(logs)
    for task, scorer in SUITES.values():
        log = logs[task]
        assert log.status == "success", (task, log.error)
        assert log.eval.model == "k2bench/smollm2-135m-instruct" and log.eval.task_version == "1-A"
        assert log.eval.metadata["protocol"] == "k2think-2509.07604"
        assert len(log.samples) == 2
        for sample in log.samples:
            assert sample.output.completion.strip()
            assert 0 < sample.output.usage.output_tokens <= 64
            score = sample.scores[scorer]
            assert score.metadata["status"] in {"correct", "incorrect", "no_answer", "truncated", "error"}
            if sample.output.stop_reason == "max_tokens":
                assert score.metadata["status"] == "truncated"
        assert {"accuracy", "stderr"} <= set(log.results.scores[0].metrics)
    gpqa = logs["gpqa_diamond"]
    assert gpqa.eval.metadata["shuffle_seed"] == 20250909
    for sample in gpqa.samples:
        shuffle = sample.metadata["choice_shuffle"]
        assert shuffle["epoch"] == sample.epoch == 1
        assert sample.scores["choice_scorer"].metadata["gold_letter"] == shuffle["gold_letter"]
    _check_redacted_copy(next(tmp_path.glob("*gpqa*.eval")), tmp_path / "redacted")


def _zip_text(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return "\n".join(archive.read(name).decode("utf-8", "ignore") for name in archive.namelist())


def _check_redacted_copy(source: Path, out_dir: Path) -> None:
    """suites/gpqa_diamond/redact.py: the questions this run sent are in its log, not in the redacted copy,
    and analysis/ reads the copy with the same scores and tokens (it is what results/ may commit)."""
    import json

    from analysis.load import read_run
    from suites.gpqa_diamond.questions import load_questions
    from suites.gpqa_diamond.redact import redact_log

    by_id = {q.record_id: q for q in load_questions()}
    asked = [by_id[str(s.id)] for s in read_eval_log(str(source)).samples]
    # the question as the log stores it (JSON-escaped): a 40-character slice from its middle
    probes = [json.dumps(q.question, ensure_ascii=False)[1:-1] for q in asked]
    probes = [p[len(p) // 2 - 20 : len(p) // 2 + 20] for p in probes]
    original = _zip_text(source)
    assert all(p in original for p in probes), "the probe does not find the questions in the original log"
    target, n = redact_log(source, out_dir)
    assert n > 0
    redacted = _zip_text(target)
    assert not any(p in redacted for p in probes), "GPQA question text survived in the redacted log"
    before, after = read_run(source, source.parent), read_run(target, target.parent)
    assert [(s.problem_id, s.accuracy, s.status, s.output_tokens) for s in before.samples] == [
        (s.problem_id, s.accuracy, s.status, s.output_tokens) for s in after.samples]
    assert len(after.samples[0].calls) == len(before.samples[0].calls) >= 1
    assert read_eval_log(str(target)).eval.metadata["redacted"]["strings"] == n
