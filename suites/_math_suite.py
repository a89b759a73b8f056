"""Shared task builder for the answer-graded math suites (AIME, HMMT, Omni-MATH-HARD, MATH-500).

One sample per problem: the full prompt (K2-Think system prompt + the problem) in `Sample.input`, every
dataset field in `Sample.metadata` under the dataset's own id, so systems/ can swap the solver chain
without touching the suite. avg@k comes from `Epochs(k, "mean")`. The suite's grader is declared by name
(`grader=`, suites/grading/registry.py) and recorded in the Task metadata, where systems/ and training/ look it up.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import Scorer
from inspect_ai.solver import generate

from suites._data import load_records
from suites._protocol import (
    K2THINK_SYSTEM_PROMPT,
    MATH_USER_TEMPLATE,
    PAPER_EPOCHS,
    paper_generate_config,
    protocol_metadata,
)
from suites.grading.registry import GRADER_KEY, get_grader
from suites.grading.scorers import math_scorer, math_set_scorer

# the inspect scorer of each grader a math suite may declare
SCORERS = {"math": math_scorer, "math_set": math_set_scorer}


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
    version: str,
    epochs: int = PAPER_EPOCHS,
    records: list[dict[str, Any]] | None = None,
    scorer: Scorer | None = None,
    user_template: str = MATH_USER_TEMPLATE,
    grader: str = "math",
) -> Task:
    """A Task for one math benchmark under the paper's protocol (see suites/_protocol.py), graded by `grader`."""
    get_grader(grader)  # an unknown name fails here
    if grader not in SCORERS and scorer is None:
        raise ValueError(f"math_task: grader {grader!r} has no scorer here ({sorted(SCORERS)}); pass scorer=")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    records = load_records(benchmark) if records is None else records
    samples = [math_sample(r, user_template) for r in records]
    return Task(
        dataset=MemoryDataset(samples, name=benchmark),
        solver=generate(),
        scorer=scorer or SCORERS[grader](),
        epochs=epochs,
        config=paper_generate_config(),
        name=benchmark,
        version=version,
        metadata={
            "suite": benchmark,
            "suite_version": version,
            "n_problems": len(samples),
            GRADER_KEY: grader,
            **protocol_metadata(),
        },
    )
