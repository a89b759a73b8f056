"""AIME 2024 (I + II, 30 problems), graded by suites.grading (K2-Think Table 1/2: 90.83 system, 86.26 model).

    inspect eval suites/aime/aime2024.py              # this year only
    inspect eval suites/aime -T epochs=16            # both years
"""

from inspect_ai import Task, task

from suites._math_suite import math_task
from suites._protocol import PAPER_EPOCHS
from suites._unavailable import skip_when_unavailable


@task
@skip_when_unavailable
def aime2024(epochs: int = PAPER_EPOCHS) -> Task:
    return math_task("aime2024", grader="math", epochs=epochs)
