"""models/gguf.py: the dequantized folder's tokenizer names the special tokens the GGUF's metadata names.

transformers 5.17 (the H200 image's) reads SmolLM2's GGUF tokenizer with eos = `<|im_start|>` (id 1); vLLM then
hands xgrammar the wrong stop token and the real one (2) escapes the JSON grammar (issue 19's degenerate judge).
"""

from __future__ import annotations

import json

from transformers import AutoConfig, AutoTokenizer

from models.embedded import prepare_smollm2
from models.gguf import align_special_tokens


def test_align_special_tokens_repairs_an_eos_read_wrong():
    folder = prepare_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    # what transformers 5.17 gives for this GGUF (seen: eos <|im_start|> 1, bos <|im_start|> 1, pad None)
    tokenizer.eos_token = "<|im_start|>"
    tokenizer.pad_token = None
    assert tokenizer.eos_token_id == 1

    changed = align_special_tokens(tokenizer, config)

    assert changed == {"eos": ("<|im_start|>", "<|im_end|>"), "pad": (None, "<|im_end|>")}
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id) == (2, 2, 1)
    assert align_special_tokens(tokenizer, config) == {}  # idempotent


def test_prepared_folder_agrees_with_its_generation_config():
    """What vLLM reads: the tokenizer's eos must be the generation config's (else xgrammar gates the wrong token)."""
    folder = prepare_smollm2()
    generation = json.loads((folder / "generation_config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.eos_token_id == generation["eos_token_id"] == 2
    assert tokenizer.convert_ids_to_tokens(2) == "<|im_end|>"
