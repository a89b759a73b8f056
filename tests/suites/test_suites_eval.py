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
    "suites/hmmt": ("hmmt_feb2025", "math_set_scorer"),
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
