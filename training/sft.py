"""Long-CoT SFT on TRL's SFTTrainer, configured by a recipe (K2-Think pillar 1, k2think-facts.md §3a).

The paper fine-tuned Qwen2.5-32B (base) on AM-Thinking-v1-Distilled with LLaMA-Factory; this is the same
recipe on TRL: conversations in ChatML with the SFT system prompt, loss on assistant turns only, packing to
the recipe's max_length. Multi-GPU scaling is accelerate's job (training/accelerate/zero3.yaml); this file
has no distribution code.

    python training/sft.py --config training/recipes/SmolLM2-135M-Instruct/sft/config_cpu.yaml    # CPU, minutes
    accelerate launch --config_file training/accelerate/zero3.yaml training/sft.py \\
        --config training/recipes/Qwen2.5-32B/sft/config_k2think.yaml                             # the paper's
Any recipe key can be overridden on the command line, e.g. `--max_steps 5 --output_dir /tmp/sft`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python training/sft.py` and `accelerate launch training/sft.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import configs, data
from training.chat_template import chat_template

logger = logging.getLogger(__name__)


def load_model_and_tokenizer(model_args, training_args, template_system: str | None):
    """Tokenizer (with the K2-Think chat template) and model kwargs for TRL (which loads the model itself)."""
    from transformers import AutoTokenizer

    path = configs.resolve_model_path(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path, revision=model_args.model_revision,
                                              trust_remote_code=training_args.trust_remote_code)
    if template_system is not None:
        tokenizer.chat_template = chat_template(template_system)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    init_kwargs = {"revision": model_args.model_revision, "trust_remote_code": training_args.trust_remote_code,
                   "attn_implementation": model_args.attn_implementation, "dtype": model_args.dtype}
    training_args.model_init_kwargs = {**init_kwargs, **(training_args.model_init_kwargs or {})}
    return path, tokenizer


def save_run_card(output_dir: str, stage: str, script_args, model_args, train_metrics: dict) -> None:
    """A small JSON next to the weights: what was trained on what, so a checkpoint explains itself."""
    src = data.source(script_args.dataset)
    card = {
        "stage": stage, "base_model": model_args.model_name_or_path, "dataset": src.name,
        "dataset_revision": script_args.dataset_revision or src.revision or f"sha256:{src.sha256}",
        "synthetic_data": src.synthetic, "system_prompt": script_args.system_prompt,
        "chat_template": script_args.chat_template, "train_metrics": train_metrics,
        "reward_funcs": getattr(script_args, "reward_funcs", None),
    }
    Path(output_dir, "k2bench_run.json").write_text(json.dumps(card, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models/embedded.py needs no hub; hub datasets still load
    from trl import SFTTrainer

    script_args, training_args, model_args = configs.parse("sft", argv)
    configs.check_local_model(model_args.model_name_or_path)  # before any data or weights load
    model_path, tokenizer = load_model_and_tokenizer(model_args, training_args, script_args.chat_template)
    train_dataset = data.sft_dataset(script_args.dataset, system_prompt_name=script_args.system_prompt,
                                     limit=script_args.dataset_limit, revision=script_args.dataset_revision)
    logger.info("SFT on %s (%d rows), model %s, process %d/%d", script_args.dataset, len(train_dataset), model_path,
                training_args.process_index, training_args.world_size)  # one line per rank under accelerate launch
    trainer = SFTTrainer(model=model_path, args=training_args, train_dataset=train_dataset, processing_class=tokenizer)
    return train_and_save(trainer, tokenizer, "sft", script_args, training_args, model_args)


def train_and_save(trainer, tokenizer, stage: str, script_args, training_args, model_args) -> str:
    """Train (resuming if asked), save the model, its tokenizer (the chat template travels with the weights), the
    trainer state (the loss / reward curve) and the run card, and shut the ranks down cleanly. SFT and GRPO alike."""
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(training_args.output_dir)
        trainer.state.save_to_json(str(Path(training_args.output_dir, "trainer_state.json")))
        save_run_card(training_args.output_dir, stage, script_args, model_args, result.metrics)
    # no collective may still be in flight when a rank exits: a gloo worker thread finishing one needs the GIL,
    # and the process group's destructor at exit takes the group's lock while holding the GIL -> deadlock (seen
    # with py-spy in 2 two-process CPU runs). A barrier here lets those threads finish while everyone waits.
    trainer.accelerator.wait_for_everyone()
    if hasattr(trainer, "end"):  # transformers >= 5.2x: release the accelerator state; older have no end()
        trainer.end()
    return training_args.output_dir


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main()
    except configs.expected_errors() as err:  # a wrong recipe, missing data or checkpoint: one line, the fix
        sys.exit(f"training/sft.py: {type(err).__name__}: {getattr(err, 'message', None) or err}")
