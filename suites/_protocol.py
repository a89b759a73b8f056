"""The K2-Think evaluation protocol, in one place (k2think-facts.md §2 and open questions 3-5).

Every suite's default generation config is the paper's: temperature 1.0, top-p 0.95, 64k output tokens,
stop at `</answer>`, 16 independent samples per problem (avg@16), the K2-Think system prompt. A model
configuration (models/*.yaml) or the inspect command line overrides any of it, and analysis/ flags runs
whose settings differ from these values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the prompts and constants here are also used by training/, which must not need inspect_ai
    from inspect_ai.model import GenerateConfig

# default system prompt of the released chat template (HF LLM360/K2-Think chat_template.jinja)
K2THINK_SYSTEM_PROMPT = (
    "You are K2-Think, a helpful assistant trained by MBZUAI. To answer the user's question, you first think "
    "about the reasoning process and then provide the user with the answer. The reasoning process and answer "
    "are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>."
)
PAPER_EPOCHS = 16
PAPER_TEMPERATURE = 1.0
PAPER_TOP_P = 0.95
PAPER_MAX_TOKENS = 65536  # "64k" in the paper; never the HF generation_config default of 2048
PAPER_STOP = ["</answer>"]
PROTOCOL_ID = "k2think-2509.07604"

# The paper's user prompt for math is not recovered (open question); this is the common R1/Qwen suffix,
# which also makes a model box its answer for the first rule of the extraction order.
MATH_USER_TEMPLATE = "{problem}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."


def paper_generate_config() -> GenerateConfig:
    from inspect_ai.model import GenerateConfig

    return GenerateConfig(
        temperature=PAPER_TEMPERATURE,
        top_p=PAPER_TOP_P,
        max_tokens=PAPER_MAX_TOKENS,
        stop_seqs=list(PAPER_STOP),
    )


def protocol_metadata() -> dict[str, object]:
    """What a log records about the protocol the task asked for (the model may still override it)."""
    return {
        "protocol": PROTOCOL_ID,
        "protocol_generate": {
            "temperature": PAPER_TEMPERATURE,
            "top_p": PAPER_TOP_P,
            "max_tokens": PAPER_MAX_TOKENS,
            "stop_seqs": PAPER_STOP,
        },
        "protocol_epochs": PAPER_EPOCHS,
    }
