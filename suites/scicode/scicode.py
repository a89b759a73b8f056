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

import anyio
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, accuracy, metric, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from suites._data import DataError, DataUnavailable
from suites._protocol import K2THINK_SYSTEM_PROMPT, PAPER_EPOCHS, paper_generate_config, protocol_metadata
from suites._unavailable import skip_when_unavailable
from suites.grading.sandbox import Limits
from suites.grading.scorers import STATUS_KEYS, is_truncated
from suites.grading.verdict import error_from
from suites.scicode import steps
from suites.scicode.targets import missing_steps

# N-X: N bumps when results stop being comparable (data, prompt, grader), X for compatible changes
VERSION = "1-A"
TIME_LIMIT_S = 120.0  # CPU seconds for all test cases of one step (upstream: 1800 s wall per step script)
MEMORY_MB = 2048
STEPS_KEY = "scicode_steps"  # sample metadata: the solver's step records, read by the scorer


def _ratio(key: str) -> Metric:
    def compute(scores: list[SampleScore]) -> float:
        total = sum(float(s.score.value["sub_total"]) for s in scores)  # type: ignore[index]
        return sum(float(s.score.value[key]) for s in scores) / total if total else 0.0  # type: ignore[index]

    return compute


@metric
def sub_problem_accuracy() -> Metric:
    return _ratio("sub_correct")


@metric
def steps_incorrect() -> Metric:
    return _ratio("steps_incorrect")


@metric
def steps_no_answer() -> Metric:
    return _ratio("steps_no_answer")


@metric
def steps_truncated() -> Metric:
    return _ratio("steps_truncated")


@metric
def steps_error() -> Metric:
    return _ratio("steps_error")


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


@scorer(metrics=[{"accuracy": [accuracy(), stderr()]}, sub_problem_accuracy(), steps_incorrect(),
                 steps_no_answer(), steps_truncated(), steps_error()])  # fmt: skip
def scicode_scorer(h5_path: str, time_s: float = TIME_LIMIT_S, memory_mb: int = MEMORY_MB) -> Scorer:
    limits = Limits(time_s=time_s, memory_mb=memory_mb)
    cmp = steps.cmp_source()

    async def score(state: TaskState, target: Target) -> Score:
        if STEPS_KEY not in state.metadata:
            raise ValueError(f"sample {state.sample_id} has no {STEPS_KEY}: SciCode needs its own step solver")
        grade = functools.partial(
            steps.grade_problem, state.metadata, state.metadata[STEPS_KEY], h5_path, limits=limits, cmp=cmp
        )
        try:
            grades = await anyio.to_thread.run_sync(grade)
        except Exception as err:  # grading this problem broke: its scored steps are `error`, the run goes on
            n = len(steps.scored_steps(state.metadata))
            value = {"accuracy": 0.0, "sub_correct": 0, "sub_total": n, **{f"steps_{k}": 0 for k in STATUS_KEYS}}
            value["steps_error"] = n
            reason = error_from(err, "grade_problem").reason
            return Score(value=value, answer=f"0/{n} steps correct", explanation=reason,
                         metadata={"status": "error", "steps": []})  # fmt: skip
        statuses = [g.verdict.status for g in grades]
        solved = all(s == "correct" for s in statuses)
        worst = next((s for s in ("error", "incorrect", "truncated", "no_answer") if s in statuses), "correct")
        value = {"accuracy": float(solved), "sub_correct": statuses.count("correct"), "sub_total": len(grades)}
        value.update({f"steps_{k}": statuses.count(k) for k in STATUS_KEYS})
        lines = [f"{g.step_number}: {g.verdict.status}: {g.verdict.reason}" for g in grades]
        return Score(
            value=value,
            answer=f"{statuses.count('correct')}/{len(grades)} steps correct",
            explanation="\n".join(lines),
            metadata={"status": "correct" if solved else worst, "steps": [g.summary() for g in grades]},
        )

    return score


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
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
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
    return Task(
        dataset=MemoryDataset(samples, name="scicode"),
        solver=scicode_steps(with_background),
        scorer=scicode_scorer(h5, time_s, memory_mb),
        epochs=epochs,
        config=paper_generate_config(),
        name="scicode",
        version=VERSION,
        metadata={
            "suite": "scicode",
            "suite_version": VERSION,
            "n_problems": len(samples),
            "n_scored_steps": len(wanted),
            "with_background": with_background,
            "grader": "scicode_steps",  # suites/grading/registry.py
            "problems": source,
            "h5_path": h5,
            "h5_bytes": Path(h5).stat().st_size,
            "limits": {"time_s": time_s, "memory_mb": memory_mb},
            **protocol_metadata(),
        },
    )
