"""Recipe arguments and parsing: a recipe is a YAML file read by TRL's TrlParser, any key overridable on the CLI.

A recipe (`training/recipes/<BaseModel>/<sft|grpo>/config_<tag>.yaml`, open-r1 layout) sets fields of three
dataclasses: k2bench's `SFTScriptArguments`/`GRPOScriptArguments` (which data, which system prompt, which
rewards, the global batch), TRL's `SFTConfig`/`GRPOConfig` (optimiser, schedule, lengths, generation) and
TRL's `ModelConfig` (model path, dtype, attention). `model_name_or_path: embedded:smollm2-135m-instruct`
resolves to the dequantized SmolLM2 folder of models/embedded.py, so the CPU recipes need no download.

`global_batch_size` keeps a recipe's batch fixed across cluster sizes: gradient accumulation is derived as
global / (per-device batch x processes), e.g. the paper's SFT batch of 512 = 2 x 256 GPUs, or 2 x 8 GPUs x 32.

    python -m training.configs training/recipes/Qwen2.5-32B/sft/config_k2think.yaml   # parse and validate

Recipes chain: a `model_name_or_path` that is a local folder another recipe writes (its `output_dir`) and
does not exist yet stops with one line naming the command that makes it. `K2BENCH_TRAIN_MAX_STEPS=N` caps any
recipe at N optimiser steps (a smoke run of the documented commands; tests/test_readme_commands.py uses it).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDED_PREFIX = "embedded:"
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_STEPS_ENV = "K2BENCH_TRAIN_MAX_STEPS"

logger = logging.getLogger(__name__)


class RecipeError(ValueError):
    """A recipe or its inputs are wrong or missing (one line with the fix; sft.py/grpo.py print it, no traceback)."""


@dataclass
class SFTScriptArguments:
    dataset: str = field(metadata={"help": "training set name in training.data.SOURCES"})
    dataset_revision: str | None = field(default=None, metadata={"help": "override the pinned hub commit"})
    dataset_files: list[str] | None = field(default=None, metadata={"help": "subset of the source's files"})
    dataset_limit: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    system_prompt: str = field(default="am-thinking", metadata={"help": "k2think | am-thinking | none"})
    chat_template: str | None = field(
        default="am-thinking", metadata={"help": "default system prompt of the chat template saved with the model"}
    )
    global_batch_size: int | None = field(default=None, metadata={"help": "derive gradient accumulation from it"})


@dataclass
class GRPOScriptArguments(SFTScriptArguments):
    system_prompt: str = field(default="k2think", metadata={"help": "k2think | am-thinking | none"})
    chat_template: str | None = field(default="k2think", metadata={"help": "chat template default system prompt"})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["math", "format"], metadata={"help": "names in training.rewards.REWARDS"}
    )


def producing_recipe(path: str) -> Path | None:
    """The recipe whose output_dir is `path` (the command that makes a checkpoint another recipe loads)."""
    import yaml

    wanted = os.path.normpath(path)
    for recipe in sorted(RECIPES_DIR.glob("*/*/config_*.yaml")):
        output_dir = (yaml.safe_load(recipe.read_text()) or {}).get("output_dir")
        if output_dir and os.path.normpath(str(output_dir)) == wanted:
            return recipe
    return None


def check_local_model(value: str) -> None:
    """Stop, naming the command that makes it, when `value` is a local checkpoint folder that does not exist.

    A hub id (`Qwen/Qwen2.5-32B`) passes; a path (`training/out/x`, `./x`, `/x`, or any recipe's output_dir)
    must exist."""
    if value.startswith(EMBEDDED_PREFIX) or Path(value).expanduser().exists():
        return
    recipe = producing_recipe(value)
    looks_local = value.startswith((".", "/", "~")) or Path(value.split("/")[0]).is_dir() or value.count("/") > 1
    if recipe is None and not looks_local:
        return  # a hub model id
    if recipe is not None:
        command = f"python training/{recipe.parent.name}.py --config {recipe.relative_to(REPO_ROOT)}"
        raise RecipeError(f"checkpoint {value} does not exist: make it first with `{command}`")
    raise RecipeError(f"checkpoint {value} does not exist (no recipe writes it): pass --model_name_or_path <dir>")


def resolve_model_path(value: str) -> str:
    """`embedded:smollm2-135m-instruct` -> the prepared local folder; a missing local checkpoint -> RecipeError
    naming the command that makes it; anything else (a hub id, an existing folder) unchanged."""
    if not value.startswith(EMBEDDED_PREFIX):
        check_local_model(value)
        return value
    from models.embedded import SMOLLM2_NAME, prepare_smollm2

    name = value[len(EMBEDDED_PREFIX) :]
    if name != SMOLLM2_NAME:
        raise ValueError(f"unknown embedded model {name!r}; available: {SMOLLM2_NAME}")
    return str(prepare_smollm2())


def expected_errors() -> tuple[type[BaseException], ...]:
    from suites._data import DataError
    from training.rewards import GraderUnavailable

    return (RecipeError, DataError, GraderUnavailable)


def _dataclass_types(stage: str) -> tuple[type, ...]:
    from trl import GRPOConfig, ModelConfig, SFTConfig

    if stage == "sft":
        return (SFTScriptArguments, SFTConfig, ModelConfig)
    if stage == "grpo":
        return (GRPOScriptArguments, GRPOConfig, ModelConfig)
    raise ValueError(f"unknown stage {stage!r}; expected sft or grpo")


def parse(stage: str, argv: list[str] | None = None) -> tuple[Any, Any, Any]:
    """(script args, TRL training config, ModelConfig) from `--config recipe.yaml` plus CLI overrides."""
    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrlParser(_dataclass_types(stage))
    try:
        script, train, model = parser.parse_args_and_config(argv)
    except (ValueError, OSError) as err:  # unknown recipe keys, a missing --config file
        raise RecipeError(f"{shlex.join(argv)}: {err}") from None
    cap = os.environ.get(MAX_STEPS_ENV)
    if cap and (train.max_steps <= 0 or train.max_steps > int(cap)):
        logger.warning("%s=%s caps max_steps (the recipe asks %s)", MAX_STEPS_ENV, cap, train.max_steps)
        argv = [*argv, "--max_steps", cap]
        script, train, model = parser.parse_args_and_config(argv)
    if script.global_batch_size is not None and "--gradient_accumulation_steps" not in argv:
        per_step = train.per_device_train_batch_size * train.world_size
        steps, rest = divmod(script.global_batch_size, per_step)
        if rest or steps < 1:
            raise RecipeError(
                f"global_batch_size {script.global_batch_size} is not a multiple of per-device batch "
                f"{train.per_device_train_batch_size} x {train.world_size} processes"
            )
        if steps != train.gradient_accumulation_steps:  # re-parse so the config's derived fields follow
            script, train, model = parser.parse_args_and_config([*argv, "--gradient_accumulation_steps", str(steps)])
    return script, train, model


def validate_recipe(path: str | Path) -> dict[str, Any]:
    """Parse a recipe and check what can be checked without training: pinned data, resolvable rewards.

    Returns a summary; raises ValueError on an unpinned dataset revision or an unknown reward name.
    """
    import torch

    from training import data, rewards

    path = Path(path)
    stage = path.parent.name
    # transformers refuses bf16 without an accelerator; on a CPU-only machine only that check is relaxed
    device_overrides = [] if torch.cuda.is_available() else ["--use_cpu", "true", "--bf16", "false"]
    script, train, model = parse(stage, ["--config", str(path), *device_overrides])
    src = data.source(script.dataset)
    revision = script.dataset_revision or src.revision
    if src.local is None and (revision is None or not data.REVISION_PATTERN.match(revision)):
        raise ValueError(f"{path}: dataset {src.name} revision {revision!r} is not a pinned commit sha")
    if src.local is not None and not src.pinned():
        raise ValueError(f"{path}: synthetic dataset {src.name} has no pinned sha256")
    summary: dict[str, Any] = {
        "recipe": str(path), "stage": stage, "model": model.model_name_or_path, "dataset": src.name,
        "revision": revision if src.local is None else f"sha256:{src.sha256}", "synthetic": src.synthetic,
        "system_prompt": script.system_prompt, "global_batch_size": script.global_batch_size,
        "gradient_accumulation_steps": train.gradient_accumulation_steps, "device_overrides": device_overrides,
    }
    if stage == "grpo":
        resolved = rewards.resolve_rewards(script.reward_funcs)
        summary["rewards"] = {r.__name__: r.available for r in resolved}
    return summary


if __name__ == "__main__":
    import json

    for recipe in sys.argv[1:]:
        print(json.dumps(validate_recipe(recipe), indent=2))
