"""End to end: `inspect eval suites/aime --limit 2` with no model flag uses the embedded default (.env)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

pytestmark = pytest.mark.slow


def test_inspect_eval_aime_offline_default_model(data_dir: Path, repo_root: Path, tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", K2BENCH_DATA_DIR=str(data_dir))
    env.pop("INSPECT_EVAL_MODEL", None)  # the model must come from the repo's .env
    inspect = Path(sys.executable).with_name("inspect")
    cmd = [str(inspect), "eval", "suites/aime", "--limit", "2", "-T", "epochs=2", "-M", "max_tokens_cap=48",
           "--log-dir", str(tmp_path), "--display", "none"]
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = sorted(tmp_path.glob("*.eval"))
    assert len(logs) == 2, logs
    for path in logs:
        log = read_eval_log(str(path))
        assert log.status == "success"
        assert log.eval.model == "k2bench/smollm2-135m-instruct"
        assert log.eval.metadata["protocol"] == "k2think-2509.07604"
        assert log.eval.task_version == "1-A"
        assert len(log.samples) == 4  # 2 problems x 2 epochs
        for sample in log.samples:
            assert sample.output.completion.strip(), "the model's real output is in the log"
            usage = sample.output.usage
            assert usage.input_tokens > 100 and 0 < usage.output_tokens <= 48
            score = sample.scores["math_scorer"]
            assert score.metadata["status"] in {"correct", "incorrect", "no_answer", "truncated"}
            if sample.output.stop_reason == "max_tokens":
                assert score.metadata["status"] == "truncated"
            assert sample.output.metadata["max_tokens_effective"] == 48
        metrics = log.results.scores[0].metrics
        assert {"accuracy", "stderr"} <= set(metrics)
