"""LiveCodeBench v5 code generation (K2-Think Table 1: 63.97 pass@1 for the full system), graded in the sandbox.

One sample per problem (stdin programs from AtCoder, LeetCode `class Solution` methods); the last Python
code block after `</think>` runs on the problem's tests in suites/grading/sandbox/ (LiveCodeBench's
comparison, 6 s CPU per test); pass@1 = the mean over epochs of "all tests passed". Where the hub's test
files are not available, tests are the statements' sample cases, marked `tests: statement_samples` in the
task and sample metadata and in every score (README, "Deviations").

    inspect eval suites/livecodebench_v5                                  # release_v5, 2024-08-01 .. 2025-02-01
    inspect eval suites/livecodebench_v5 -T start_date=2024-07-01         # July onwards (needs the hub's files)
    K2BENCH_LCB_DIR=/data/code_generation_lite inspect eval suites/livecodebench_v5 -T tests=full
"""

from __future__ import annotations

import logging

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import TaskState

from suites._protocol import K2THINK_SYSTEM_PROMPT, PAPER_EPOCHS
from suites._suite import suite_task
from suites._unavailable import skip_when_unavailable
from suites.grading.code_exec import CodeTests
from suites.livecodebench_v5.problems import (
    STATEMENT_SAMPLES,
    ProblemTests,
    check_window,
    code_tests,
    load_problems,
)

logger = logging.getLogger(__name__)

DEFAULT_START, DEFAULT_END = "2024-08-01", "2025-02-01"  # release_v5's window as QwQ and Guru use it
TIME_LIMIT_S = 6.0  # LiveCodeBench's default per-test timeout


def lcb_sample(tests: ProblemTests) -> Sample:
    p = tests.problem
    return Sample(
        id=p.question_id,
        input=[ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT), ChatMessageUser(content=p.prompt())],
        metadata={
            "question_id": p.question_id,
            "platform": p.platform,
            "contest_id": p.contest_id,
            "contest_date": p.contest_date,
            "difficulty": p.difficulty,
            "fn_name": p.fn_name,
            "mode": p.mode,
            "starter_code": p.starter_code,
            "tests": tests.source,
            "tests_md5": p.tests_md5,
        },
    )


@task
@skip_when_unavailable
def livecodebench_v5(
    epochs: int = PAPER_EPOCHS,
    start_date: str = DEFAULT_START,
    end_date: str = DEFAULT_END,
    release: str = "release_v5",
    tests: str = "auto",
    hub_dir: str | None = None,
    time_s: float = TIME_LIMIT_S,
    memory_mb: int = 1024,
    float_tol: float | None = None,
) -> Task:
    """LiveCodeBench problems with start_date <= contest date < end_date.

    tests: "auto" (hub files if available, else statement samples), "full" (hub files or fail),
    "statement_samples". hub_dir / K2BENCH_LCB_DIR: a directory with the hub's test*.jsonl files.
    float_tol: opt-in relative/absolute tolerance for numeric output tokens (the official runner has none).
    """
    start, end = check_window(start_date, end_date)
    problems, source = load_problems(start, end, release=release, tests=tests, hub_dir=hub_dir)
    if not problems:
        raise ValueError(f"no LiveCodeBench problems in {start} .. {end} ({release})")
    if source == STATEMENT_SAMPLES:
        logger.warning(
            "LiveCodeBench: grading on the %s parsed from the statements, NOT the official test suites; "
            "scores are not comparable to reported pass@1 (set K2BENCH_LCB_DIR to the hub's files)",
            STATEMENT_SAMPLES,
        )
    by_id = {p.problem.question_id: p for p in problems}

    def tests_for(state: TaskState) -> CodeTests:
        return code_tests(by_id[str(state.sample_id)])

    return suite_task(
        "livecodebench_v5",
        [lcb_sample(p) for p in problems],
        grader="code",
        scorer_args={"tests_for": tests_for, "time_s": time_s, "memory_mb": memory_mb, "float_tol": float_tol},
        epochs=epochs,
        metadata={
            "release": release,
            "window": [start.isoformat(), end.isoformat()],
            "tests": source,
            "limits": {"time_s": time_s, "memory_mb": memory_mb, "float_tol": float_tol},
        },
    )
