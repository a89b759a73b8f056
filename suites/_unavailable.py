"""Skipping a suite whose data is not on this machine, so one missing data set never takes the others down.

inspect builds every task of `inspect eval suites` before running any, and one exception while building ends
the whole run (inspect_ai._eval.loader.create_tasks has no per-task error handling). So a suite factory does
not raise when its data is merely absent (`suites._data.DataUnavailable`: no mirror file, hub unreachable,
HLE not provided, SciCode's test_data.h5 not given): it prints one line saying why and how to provide the
data, and returns a task with no samples (an empty inspect `SampleSource`, the one dataset inspect accepts
empty). That task runs nothing; its log says `k2bench_skipped: <reason>` in the eval metadata and its display
name in the log ends in "(skipped: data unavailable)". Corrupt or mismatched data still raises `DataError`, which inspect
prints as one line (no traceback) and which stops the run: such data must be fixed, not skipped.

    @task
    @skip_when_unavailable
    def hle(...) -> Task: ...

systems.run recognises a skipped task (`skipped_reason`) and does not run it at all.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from inspect_ai import SampleSource, Task

from suites._catalogue import find_task
from suites._data import DataUnavailable

SKIPPED_KEY = "k2bench_skipped"


def unavailable_task(name: str, version: str | None, reason: str) -> Task:
    """A task that runs no sample and records why (see the module docstring)."""
    return Task(
        dataset=SampleSource(),  # no initial samples, next_samples() -> None: the task ends at once
        name=name,
        display_name=f"{name} (skipped: data unavailable)",
        version=version or 0,
        metadata={"suite": name, "suite_version": version, SKIPPED_KEY: reason},
    )


def skipped_reason(task: Task) -> str | None:
    """Why a task was skipped, or None for a real task."""
    return (task.metadata or {}).get(SKIPPED_KEY)


def skip_when_unavailable(factory: Callable[..., Task]) -> Callable[..., Task]:
    """Wrap a suite's task factory: DataUnavailable -> one line on stderr and a skipped task."""

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Task:
        try:
            return factory(*args, **kwargs)
        except DataUnavailable as err:
            print(f"k2bench: suite skipped, data unavailable: {err}", file=sys.stderr, flush=True)
            spec = find_task(factory.__name__)  # the version in its eval.yaml (suites/_catalogue.py)
            return unavailable_task(factory.__name__, None if spec is None else spec.version, str(err))

    return wrapper
