"""MATH-500 (OpenAI's 500-problem test split of MATH), the fast smoke suite: not a K2-Think table benchmark.

Answers are LaTeX; graded by suites.grading like every math suite. Use it to check a model or system end
to end before paying for the paper's benchmarks.

    inspect eval suites/math500 --limit 20 -T epochs=1        # smoke
    inspect eval suites/math500 -T epochs=4                   # a measurement (avg@4)
"""

from inspect_ai import Task, task

from suites._math_suite import math_task
from suites._protocol import PAPER_EPOCHS
from suites._unavailable import skip_when_unavailable


@task
@skip_when_unavailable
def math500(epochs: int = PAPER_EPOCHS) -> Task:
    return math_task("math500", grader="math", epochs=epochs)
