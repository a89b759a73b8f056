"""HMMT February 2025 (30 problems, LaTeX answers), graded by suites.grading (K2-Think Table 1/2: 73.75 system,
66.46 SFT+RL checkpoint).

Answers are LaTeX expressions; problem 10 asks for the two values of a+b+c "in a comma-separated list", so
it is graded as an unordered set (suites/grading/answer_set.py). Which problems ask for a set is declared
here, per problem id, not guessed from the gold's commas.

    inspect eval suites/hmmt_feb2025                          # 16 epochs (avg@16), paper protocol
    inspect eval suites/hmmt_feb2025 -T epochs=4 --model vllm/LLM360/K2-Think
"""

from inspect_ai import Task, task

from suites._data import load_records
from suites._math_suite import math_task
from suites._protocol import PAPER_EPOCHS
from suites._unavailable import skip_when_unavailable
from suites.grading.registry import ANSWER_KIND_KEY

BENCHMARK = "hmmt_feb2025"
# problems whose statement asks for several values in any order (checked against the golds in the tests)
SET_ANSWER_IDS = frozenset({"hmmt_feb_2025-10"})


def hmmt_records() -> list[dict]:
    """The mirror/hub records with `answer_kind` ("set" or "expression") added for the scorer."""
    return [
        {**r, ANSWER_KIND_KEY: "set" if r["id"] in SET_ANSWER_IDS else "expression"} for r in load_records(BENCHMARK)
    ]


@task
@skip_when_unavailable
def hmmt_feb2025(epochs: int = PAPER_EPOCHS) -> Task:
    return math_task(BENCHMARK, grader="math_set", epochs=epochs, records=hmmt_records())
