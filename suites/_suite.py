"""The one suite builder: every suite's @task returns `suite_task(name, samples, grader=...)`.

A suite builds its samples (the full prompt in `Sample.input`, the dataset's fields in its metadata under the
dataset's own id, so systems/ can swap the solver chain without touching the suite) and says how they are
graded; suite_task supplies everything suites share:
  * the version, from the suite folder's eval.yaml (suites/_catalogue.py): never a constant in code;
  * the scorer of the grader it names (suites/grading/scorers.py `scorer_for`, with `scorer_args`), and that
    name in the Task metadata (GRADER_KEY), where systems/ (equal-budget baselines) and training/ look it up;
  * the paper's protocol (suites/_protocol.py): generate config, 16 epochs (avg@k = `Epochs(k, "mean")`);
  * the metadata every log carries: suite, suite_version, n_problems, grader, the suite's own facts, protocol.

    @task
    @skip_when_unavailable                       # suites/_unavailable.py: no data here -> one line, task skipped
    def aime2025(epochs: int = PAPER_EPOCHS) -> Task:
        return suite_task("aime2025", [math_sample(r) for r in load_records("aime2025")], grader="math", epochs=epochs)

Options: `solver` (default: one generate; SciCode's step solver), `setup` (a solver inspect runs even when a
system replaces the chain: GPQA's per-epoch shuffle, HLE's judge check), `metadata` (the suite's facts for the
log). A task outside suites/ (training's held-out set) has no eval.yaml and passes `version=` itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import Solver, generate

from suites._catalogue import EVAL_FILE, find_task, task_folder
from suites._protocol import PAPER_EPOCHS, paper_generate_config, protocol_metadata
from suites.grading.registry import GRADER_KEY
from suites.grading.scorers import scorer_for


def suite_version(name: str, version: str | None = None) -> str:
    """A suite's version from its eval.yaml; `version` only for a task that has none (outside suites/)."""
    spec = find_task(name)
    if spec is None:
        if version is None:
            raise ValueError(f"task {name!r} is in no suites/*/{EVAL_FILE}: declare it there (or, outside suites/, pass version=)")
        return version
    if version is not None:
        raise ValueError(f"{name}: its version lives in suites/{task_folder(name)}/{EVAL_FILE}; do not pass version=")
    return spec.version


def suite_task(
    name: str,
    samples: Sequence[Sample],
    *,
    grader: str,
    epochs: int = PAPER_EPOCHS,
    scorer_args: Mapping[str, Any] | None = None,
    solver: Solver | list[Solver] | None = None,
    setup: Solver | None = None,
    metadata: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> Task:
    """The Task of suite `name` under the paper's protocol, graded by the grader named `grader`."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    version = suite_version(name, version)
    scorer = scorer_for(grader, **(scorer_args or {}))
    return Task(
        dataset=MemoryDataset(list(samples), name=name),
        setup=setup,
        solver=generate() if solver is None else solver,
        scorer=scorer,
        epochs=epochs,
        config=paper_generate_config(),
        name=name,
        version=version,
        metadata={
            "suite": name,
            "suite_version": version,
            "n_problems": len(samples),
            GRADER_KEY: grader,
            **(metadata or {}),
            **protocol_metadata(),
        },
    )
