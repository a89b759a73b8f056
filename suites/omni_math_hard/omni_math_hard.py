"""Omni-MATH-HARD (173 olympiad problems), graded by suites.grading (K2-Think Table 1/2: 60.73 system, 56.74
SFT+RL checkpoint).

The paper does not publish its 173 problems; this suite uses k2bench's documented rule (selection.py,
README.md): the 173 hardest problems of the rule-gradable Omni-MATH subset, committed in hard_ids.jsonl.
Scores are therefore comparable between k2bench runs, not exactly with the paper's number.

    inspect eval suites/omni_math_hard                        # 16 epochs (avg@16), paper protocol
    python -m suites.omni_math_hard.selection [--hub]         # re-derive / check the id list
"""

from inspect_ai import Task, task

from suites._math_suite import math_task
from suites._protocol import PAPER_EPOCHS
from suites._unavailable import skip_when_unavailable
from suites.omni_math_hard.selection import hard_records


@task
@skip_when_unavailable
def omni_math_hard(epochs: int = PAPER_EPOCHS) -> Task:
    return math_task("omni_math_hard", grader="math", epochs=epochs, records=hard_records())
