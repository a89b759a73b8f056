"""inspect_evals' AIME 2025 task (prompt, solver, scorer unchanged) on k2bench's offline mirror of the problems.

inspect_evals 0.26.0's `aime2025` loads `math-ai/aime25` from the Hugging Face Hub, which this machine cannot
reach; this file builds the same Task from its own `record_to_sample`, `aime_solver()` and `aime_scorer()`
over the mirror's 30 problems (same ids, problems and integer answers). Only the dataset source changes.
inspect_evals is installed in a throwaway folder, never into the project venv (benchmarks/harness_bench.py):

    pip install --no-deps --target /tmp/k2bench-peers inspect_evals==0.26.0 backoff
    PYTHONPATH=/tmp/k2bench-peers inspect eval benchmarks/peers/inspect_evals_aime2025.py --model ...
"""

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset


@task
def inspect_evals_aime2025() -> Task:
    from inspect_evals.aime2025.aime2025 import record_to_sample
    from inspect_evals.utils.aime_common import aime_scorer, aime_solver

    from suites._data import load_records

    samples = [record_to_sample(r) for r in load_records("aime2025")]
    return Task(dataset=MemoryDataset(samples, name="aime2025"), solver=aime_solver(), scorer=[aime_scorer()],
                name="inspect_evals_aime2025")
