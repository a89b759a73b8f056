"""The answer-graded math suites (AIME, HMMT, Omni-MATH-HARD, MATH-500): their samples, and their task.

One sample per problem: the full prompt (K2-Think system prompt + the problem under the math user prompt) in
`Sample.input`, the gold answer as target, every dataset field in `Sample.metadata`. `math_task` is
suites/_suite.py's `suite_task` over those samples, graded by `math` unless the suite names another grader
(HMMT: `math_set`).

    from suites._math_suite import math_task
    task = math_task("aime2025", epochs=4)
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser

from suites._data import load_records
from suites._protocol import K2THINK_SYSTEM_PROMPT, MATH_USER_TEMPLATE, PAPER_EPOCHS
from suites._suite import suite_task


def math_sample(record: dict[str, Any], user_template: str = MATH_USER_TEMPLATE) -> Sample:
    return Sample(
        id=record["id"],
        input=[
            ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT),
            ChatMessageUser(content=user_template.format(problem=record["problem"])),
        ],
        target=str(record["answer"]),
        metadata=dict(record),
    )


def math_task(
    benchmark: str,
    *,
    epochs: int = PAPER_EPOCHS,
    records: list[dict[str, Any]] | None = None,
    user_template: str = MATH_USER_TEMPLATE,
    grader: str = "math",
    version: str | None = None,
) -> Task:
    """A math benchmark's Task: its records (default: suites/_data.py's of the same name) as math samples.

    `version` only for a task outside suites/ (training's held-out set); a suite's is in its eval.yaml."""
    records = load_records(benchmark) if records is None else records
    samples = [math_sample(r, user_template) for r in records]
    return suite_task(benchmark, samples, grader=grader, epochs=epochs, version=version)
