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
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    model.generation_config.save_pretrained(target)
    return target
