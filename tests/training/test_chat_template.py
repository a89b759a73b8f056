"""The K2-Think chat template: committed files match the generator, ChatML turns with the chosen default
system prompt, assistant-only loss covers the answer and the end-of-turn token."""

import pytest

from suites._protocol import K2THINK_SYSTEM_PROMPT
from training.chat_template import AM_THINKING_SYSTEM_PROMPT, TEMPLATE_DIR, chat_template, format_response

CONVERSATION = [{"role": "user", "content": "What is 2 + 3?"},
                {"role": "assistant", "content": format_response("2 + 3 = 5", "\\boxed{5}")}]


def test_committed_templates_match_the_generator():
    for name in ("k2think", "am-thinking"):
        assert (TEMPLATE_DIR / f"{name}.jinja").read_text() == chat_template(name), "run python -m training.chat_template"
    with pytest.raises(ValueError):
        chat_template("none")


@pytest.mark.slow
def test_template_renders_chatml_with_k2_format_and_masks_the_answer():
    from transformers import AutoTokenizer

    from models.embedded import prepare_smollm2

    tok = AutoTokenizer.from_pretrained(prepare_smollm2())
    tok.chat_template = chat_template("k2think")
    text = tok.apply_chat_template(CONVERSATION, tokenize=False)
    assert text == (f"<|im_start|>system\n{K2THINK_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
                    "<|im_start|>assistant\n<think>\n2 + 3 = 5\n</think>\n<answer>\n\\boxed{5}\n</answer><|im_end|>\n")
    own = [{"role": "system", "content": AM_THINKING_SYSTEM_PROMPT}, *CONVERSATION]
    assert tok.apply_chat_template(own[:2], tokenize=False, add_generation_prompt=True).endswith(
        "What is 2 + 3?<|im_end|>\n<|im_start|>assistant\n")
    assert K2THINK_SYSTEM_PROMPT not in tok.apply_chat_template(own, tokenize=False)
    enc = tok.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m])
    assert trained == CONVERSATION[1]["content"] + "<|im_end|>"
