"""Every recipe parses through TRL's parser and validates: dataset revisions pinned, reward names resolve,
CLI overrides win, the global batch is kept by deriving gradient accumulation."""

from pathlib import Path

import pytest

from training.configs import parse, resolve_model_path, validate_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "training" / "recipes").glob("*/*/config_*.yaml"))
PAPER_SFT = next(p for p in RECIPES if "Qwen2.5-32B" in str(p) and p.parent.name == "sft")
PAPER_GRPO = next(p for p in RECIPES if "Qwen2.5-32B" in str(p) and p.parent.name == "grpo")


def test_the_four_recipes_exist():
    assert {(p.parent.parent.name, p.parent.name) for p in RECIPES} >= {
        ("Qwen2.5-32B", "sft"), ("Qwen2.5-32B", "grpo"), ("SmolLM2-135M-Instruct", "sft"), ("SmolLM2-135M-Instruct", "grpo")}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_recipe_validates(recipe):
    summary = validate_recipe(recipe)
    assert summary["stage"] in ("sft", "grpo")
    if summary["stage"] == "grpo":
        assert summary["rewards"], "a GRPO recipe needs rewards"


def test_paper_recipes_carry_the_recovered_facts():
    sft = validate_recipe(PAPER_SFT)
    assert sft["model"] == "Qwen/Qwen2.5-32B" and sft["dataset"] == "am-thinking"
    assert sft["revision"] == "3697c1829816a2b8d4d25995ed6d5d27ffb49b30" and sft["global_batch_size"] == 512
    _, train, _ = parse("sft", ["--config", str(PAPER_SFT), "--use_cpu", "true", "--bf16", "false"])
    assert (train.learning_rate, train.lr_scheduler_type.value, train.warmup_steps, train.num_train_epochs) == (
        1e-4, "cosine", 0.05, 2)
    assert (train.max_length, train.packing, train.assistant_only_loss) == (32768, True, True)
    grpo = validate_recipe(PAPER_GRPO)
    assert grpo["dataset"] == "guru" and grpo["revision"] == "2e2790a962a3c099bfb5ea61389cbf98a5ea439b"
    # math and code have graders; the three Guru domains without one are named, resolvable and marked unavailable
    assert grpo["rewards"] == {"math_reward": True, "code_reward": True, "logic_reward": False,
                               "simulation_reward": False, "stem_reward": False}


def test_global_batch_sets_gradient_accumulation_and_cli_overrides_win(monkeypatch):
    args = ["--config", str(PAPER_SFT), "--use_cpu", "true", "--bf16", "false"]
    _, train, _ = parse("sft", args)
    assert train.gradient_accumulation_steps == 512 // (2 * train.world_size)
    _, train, _ = parse("sft", [*args, "--per_device_train_batch_size", "4", "--learning_rate", "3e-5"])
    assert train.gradient_accumulation_steps == 512 // (4 * train.world_size) and train.learning_rate == 3e-5
    with pytest.raises(ValueError, match="not a multiple"):
        parse("sft", [*args, "--per_device_train_batch_size", "3"])


def test_unpinned_dataset_revision_fails_validation(tmp_path):
    bad = tmp_path / "grpo" / "config_bad.yaml"
    bad.parent.mkdir()
    bad.write_text(PAPER_GRPO.read_text().replace("2e2790a962a3c099bfb5ea61389cbf98a5ea439b", "main"))
    with pytest.raises(ValueError, match="not a pinned commit"):
        validate_recipe(bad)
    bad.write_text(PAPER_GRPO.read_text().replace("reward_funcs: [math,", "reward_funcs: [accuracy_reward,"))
    with pytest.raises(ValueError, match="unknown reward"):
        validate_recipe(bad)


def test_symbolic_embedded_model_path():
    assert Path(resolve_model_path("embedded:smollm2-135m-instruct"), "model.safetensors").is_file()
    assert resolve_model_path("Qwen/Qwen2.5-32B") == "Qwen/Qwen2.5-32B"
    with pytest.raises(ValueError, match="unknown embedded model"):
        resolve_model_path("embedded:gpt-5")
