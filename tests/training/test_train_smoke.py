"""The CPU recipe pair runs end to end on the embedded model: SFT a few steps, GRPO a few steps from that
checkpoint (rewards from suites/grading), then the checkpoint loads and answers through the embedded engine
and through `inspect eval` on a suite. Real model, real trainers, tiny step counts (~1.5 min on 2 idle cores)."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SFT_RECIPE = ROOT / "training/recipes/SmolLM2-135M-Instruct/sft/config_cpu.yaml"
GRPO_RECIPE = ROOT / "training/recipes/SmolLM2-135M-Instruct/grpo/config_cpu.yaml"


@pytest.fixture(scope="module")
def data_dir():
    value = os.environ.get("K2BENCH_DATA_DIR")
    if not value:
        pytest.fail("K2BENCH_DATA_DIR is not set: point it at the offline benchmark mirror (../shared/data)")
    return value


@pytest.mark.slow
def test_sft_then_grpo_then_answer(tmp_path, data_dir):
    from inspect_ai import eval as inspect_eval

    from models.embedded import get_engine
    from models.engine import Request
    from suites.aime.aime2024 import aime2024
    from suites.grading.math_answer import grade_math
    from training import grpo, sft
    from training.data import heldout_records

    sft_dir = sft.main(["--config", str(SFT_RECIPE), "--max_steps", "2", "--per_device_train_batch_size", "4",
                        "--dataset_limit", "16", "--logging_steps", "1", "--output_dir", str(tmp_path / "sft")])
    card = json.loads(Path(sft_dir, "k2bench_run.json").read_text())
    assert card["dataset"] == "arith-sft" and card["synthetic_data"] is True and card["train_metrics"]["train_loss"] > 0
    grpo_dir = grpo.main(["--config", str(GRPO_RECIPE), "--model_name_or_path", sft_dir, "--max_steps", "2",
                          "--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length",
                          "24", "--dataset_limit", "8", "--output_dir", str(tmp_path / "grpo")])
    steps = [h for h in json.loads(Path(grpo_dir, "trainer_state.json").read_text())["log_history"] if "reward" in h]
    assert len(steps) == 2
    for h in steps:  # the graders' rewards and verdict-status rates were logged at every step
        assert 0.0 <= h["rewards/math_reward/mean"] <= 1.0 and 0.0 <= h["rewards/format_reward/mean"] <= 1.0
        assert sum(h[f"math/{s}"] for s in ("correct", "incorrect", "no_answer", "truncated", "error")) == pytest.approx(1)

    # the checkpoint answers through the embedded engine (same chat template as training)...
    engine = get_engine(Path(grpo_dir), "float32", 2)
    problem = heldout_records()[0]
    prompt = engine.chat_prompt([{"role": "user", "content": problem["problem"]}])
    assert prompt.startswith("<|im_start|>system\nYou are K2-Think")  # the template's default system prompt
    request = Request(engine.chat_ids([{"role": "user", "content": problem["problem"]}]), 24, "max_tokens", 0.0)
    result = engine.submit(request).result(timeout=600)
    assert result.output_tokens > 0 and result.text.strip()
    assert grade_math(result.text, problem["answer"], truncated=result.stop_reason != "stop").status
    # ...and through inspect on a suite
    (log,) = inspect_eval(aime2024(epochs=1), model="k2bench/local", limit=1, log_dir=str(tmp_path / "logs"),
                          model_args={"model_path": grpo_dir, "max_tokens_cap": 32}, display="none")
    assert log.status == "success" and log.results.scores[0].metrics["accuracy"].value in (0.0, 1.0)
