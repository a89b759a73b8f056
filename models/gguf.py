"""A GGUF file -> a plain Hugging Face folder (dequantized weights, tokenizer, generation config).

Kept free of inspect_ai so that machines without it (the GPU device, training/gpu/device_grpo.py) can use it;
models/embedded.prepare_smollm2 wraps it with caching, a lock and an atomic rename.
"""

from __future__ import annotations

from pathlib import Path


def dequantize_gguf(gguf: Path, target: Path) -> Path:
    """Load `gguf` with transformers (dequantizing on load) and save it as an HF folder at `target`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers refuses to save a model loaded from GGUF; the weights are plain dequantized tensors
    # by now, so dropping the quantizer record is safe (env.md §2: greedy outputs identical after reload)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    align_special_tokens(tokenizer, model.config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    model.generation_config.save_pretrained(target)
    return target


SPECIAL_TOKENS = ("bos", "eos", "pad")


def align_special_tokens(tokenizer, config) -> dict[str, tuple[str | None, str]]:
    """Make the tokenizer's bos/eos/pad the tokens the GGUF's metadata names (carried into `config`'s *_token_id).

    transformers 5.17 (the H200 image's) reads SmolLM2's GGUF tokenizer with eos = bos = `<|im_start|>` (id 1)
    although the GGUF says eos 2 (`<|im_end|>`); 5.24 reads it right. vLLM gives xgrammar the tokenizer's eos as
    the only stop token to hold back until the JSON is complete, while it stops on the generation config's eos
    (2) too: so token 2 escaped the grammar and cut 78 of 180 judge replies inside their JSON on the H200
    (vLLM issue 42403; fixed upstream after 0.26 by PR 49227). Returns what was changed: name -> (old, new).
    """
    changed = {}
    for name in SPECIAL_TOKENS:
        token_id = getattr(config, f"{name}_token_id", None)
        if isinstance(token_id, list):
            token_id = token_id[0] if token_id else None
        if token_id is None or getattr(tokenizer, f"{name}_token_id", None) == token_id:
            continue
        token = tokenizer.convert_ids_to_tokens(int(token_id))
        changed[name] = (getattr(tokenizer, f"{name}_token", None), token)
        setattr(tokenizer, f"{name}_token", token)
    return changed
