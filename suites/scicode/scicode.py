"""SciCode (K2-Think: 39.2 sub-problem / 12.0 main-problem accuracy), every step's code run in the sandbox.

One sample per main problem. The solver asks for the steps in order, each prompt showing the code the model
wrote for the previous steps (upstream's protocol, suites/scicode/steps.py); the scorer runs each scored
step's test cases against the reference values in test_data.h5. Metrics: `accuracy` = main-problem
accuracy (all scored steps correct), `sub_problem_accuracy` = correct steps / scored steps (288 in the test
split), and the share of steps per failure status.

    K2BENCH_SCICODE_H5=/data/test_data.h5 inspect eval suites/scicode                  # without background
    inspect eval suites/scicode -T h5_path=/data/test_data.h5 -T with_background=true
Without test_data.h5 the task stops before any generation with an error that says where to get it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from suites._data import DataError, DataUnavailable
from suites._protocol import K2THINK_SYSTEM_PROMPT, PAPER_EPOCHS
from suites._suite import suite_task
from suites._unavailable import skip_when_unavailable
from suites.grading.sandbox import Limits
from suites.grading.scorers import is_truncated
from suites.scicode import steps
from suites.scicode.targets import missing_steps

TIME_LIMIT_S = 120.0  # CPU seconds for all test cases of one step (upstream: 1800 s wall per step script)
MEMORY_MB = 2048
STEPS_KEY = "scicode_steps"  # sample metadata: the solver's step records, read by the scorer


@solver
def scicode_steps(with_background: bool = False) -> Solver:
    """Generate every step in order; each prompt carries the code kept for the previous steps."""
    template = steps.prompt_template(with_background)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        problem, records = state.metadata, []
        for idx, step in enumerate(problem["sub_steps"]):
            if step["step_number"] in steps.GIVEN_STEPS:
                records.append(steps.step_record(step, None, None, False))
                continue
            codes = [r["code"] or "" for r in records]
            prompt = steps.step_prompt(problem, idx, codes, template, with_background)
            state.messages = [ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT), ChatMessageUser(content=prompt)]
            state = await generate(state)
            records.append(steps.step_record(step, state.output.completion, state.output.stop_reason, is_truncated(state)))
        state.metadata[STEPS_KEY] = records
        return state

    return solve


def scorer_args(h5_path: str, time_s: float = TIME_LIMIT_S, memory_mb: int = MEMORY_MB) -> dict[str, Any]:
    """The options of the `scicode_steps` grader's scorer (suites/grading/scorers.py steps_scorer): every scored
    step of a problem run on its test cases against test_data.h5 (steps.grade_problem)."""
    limits = Limits(time_s=time_s, memory_mb=memory_mb)
    grade = functools.partial(steps.grade_problem, h5_path=h5_path, limits=limits, cmp=steps.cmp_source())
    return {"grade_steps": grade, "count_steps": n_scored_steps, "steps_key": STEPS_KEY}


def n_scored_steps(problem: dict[str, Any]) -> int:
    return len(steps.scored_steps(problem))


def first_prompt(problem: dict, template: str, with_background: bool) -> str:
    idx = steps.scored_steps(problem)[0]
    given = [steps.given_code(s["step_number"]) for s in problem["sub_steps"][:idx]]
    return steps.step_prompt(problem, idx, given, template, with_background)


@task
@skip_when_unavailable
def scicode(
    epochs: int = PAPER_EPOCHS,
    with_background: bool = False,
    split: str = "test",
    problems_path: str | None = None,
    h5_path: str | None = None,
    time_s: float = TIME_LIMIT_S,
    memory_mb: int = MEMORY_MB,
) -> Task:
    """split: "test" (65 problems) or "validation" (15); problems_path / K2BENCH_SCICODE_PROBLEMS: another file
    in SciCode's format; h5_path / K2BENCH_SCICODE_H5: the numeric reference data (required)."""
    h5 = h5_path or os.environ.get(steps.H5_ENV) or ""
    if not h5:  # not provided at all: skippable when many suites run (suites/_unavailable.py)
        raise DataUnavailable("SciCode: no test_data.h5 given. " + steps.H5_HINT)
    if not Path(h5).expanduser().is_file():  # provided but wrong: an error
        raise DataError(f"SciCode: {h5} does not exist. " + steps.H5_HINT)
    h5 = str(Path(h5).expanduser())
    records, source = steps.load_problems(split, problems_path)
    wanted = [(s["step_number"], len(s["test_cases"])) for r in records for i in steps.scored_steps(r)
              for s in [r["sub_steps"][i]]]  # fmt: skip
    missing = missing_steps(h5, wanted)
    if missing:
        raise DataError(f"SciCode: {h5} lacks the test groups of {len(missing)} steps, e.g. {missing[:5]}")
    steps.check_runtime(Limits(time_s=30, memory_mb=memory_mb))
    template = steps.prompt_template(with_background)
    samples = [
        Sample(
            id=r["problem_id"],
            input=[ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT),
                   ChatMessageUser(content=first_prompt(r, template, with_background))],  # fmt: skip
            metadata=dict(r),
        )
        for r in records
    ]
    return suite_task(
        "scicode",
        samples,
        grader="scicode_steps",
        scorer_args=scorer_args(h5, time_s, memory_mb),
        epochs=epochs,
        solver=scicode_steps(with_background),
        metadata={
            "n_scored_steps": len(wanted),
            "with_background": with_background,
            "problems": source,
            "h5_path": h5,
            "h5_bytes": Path(h5).stat().st_size,
            "limits": {"time_s": time_s, "memory_mb": memory_mb},
        },
    )
