"""RL with verifiable rewards (GRPO) on TRL's GRPOTrainer, rewarded by the suites' own graders (pillar 2, §3b).

K2-Think ran GRPO-style RL with verl from the SFT checkpoint on the Guru mixture (six domains); the run's
hyper-parameters were not published, so the 32B recipe uses Reasoning360's public 32B example as labelled
defaults. Rewards come from training/rewards.py (the grader functions the inspect scorers call), picked by
name in the recipe's `reward_funcs`; each domain's reward returns None for rows of other domains. A recipe
whose data needs a grader suites/grading does not have stops here, before any model is loaded.

    python training/grpo.py --config training/recipes/SmolLM2-135M-Instruct/grpo/config_cpu.yaml   # CPU
    accelerate launch --config_file training/accelerate/zero3.yaml training/grpo.py \\
        --config training/recipes/Qwen2.5-32B/grpo/config_k2think.yaml                             # the paper's
Any recipe key can be overridden on the command line, e.g. `--max_steps 3 --model_name_or_path <sft dir>`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python training/grpo.py` and `accelerate launch training/grpo.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import configs, data, rewards
from training.sft import load_model_and_tokenizer, train_and_save

logger = logging.getLogger(__name__)


def check_rewards(reward_funcs: list, domains: set[str]) -> None:
    """Fail before training when a row's domain has no available reward, or a reward grades nothing."""
    available = {r.domain for r in reward_funcs if getattr(r, "available", False) and hasattr(r, "domain")}
    unavailable = {r.domain: r.why for r in reward_funcs if not getattr(r, "available", True)}
    needed = sorted(d for d in domains if d in unavailable)
    if needed:
        raise rewards.GraderUnavailable("; ".join(f"{d}: {unavailable[d]}" for d in needed))
    ungraded = sorted(domains - available)
    if ungraded:
        raise ValueError(f"rows of domain(s) {ungraded} have no reward among {[r.__name__ for r in reward_funcs]}")


def main(argv: list[str] | None = None) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from trl import GRPOTrainer

    script_args, training_args, model_args = configs.parse("grpo", argv)
    configs.check_local_model(model_args.model_name_or_path)  # before any data or weights load
    train_dataset = data.rl_dataset(script_args.dataset, system_prompt_name=script_args.system_prompt,
                                    files=script_args.dataset_files, limit=script_args.dataset_limit,
                                    revision=script_args.dataset_revision)
    reward_funcs = rewards.resolve_rewards(script_args.reward_funcs)
    check_rewards(reward_funcs, set(train_dataset["domain"]))
    model_path, tokenizer = load_model_and_tokenizer(model_args, training_args, script_args.chat_template)
    logger.info("GRPO on %s (%d prompts), model %s, rewards %s, process %d/%d", script_args.dataset,
                len(train_dataset), model_path, script_args.reward_funcs, training_args.process_index,
                training_args.world_size)  # one line per rank under accelerate launch
    trainer = GRPOTrainer(model=model_path, reward_funcs=reward_funcs, args=training_args,
                          train_dataset=train_dataset, processing_class=tokenizer)
    # a completion that ends without one of these ids was cut at max_completion_length -> verdict `truncated`
    stop_ids = tuple({*trainer.eos_token_ids, tokenizer.pad_token_id})
    for reward in reward_funcs:
        reward.eos_token_ids = stop_ids
    return train_and_save(trainer, tokenizer, "grpo", script_args, training_args, model_args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main()
    except configs.expected_errors() as err:  # a wrong recipe, missing data or checkpoint: one line, the fix
        sys.exit(f"training/grpo.py: {type(err).__name__}: {getattr(err, 'message', None) or err}")
