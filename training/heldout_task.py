"""Held-out suite for the CPU training runs: 200 SYNTHETIC two-digit sums/differences, graded like AIME.

The problems come from the generator of the GRPO training set (training/data.py), drawn before it and
disjoint from it (and from the SFT set); the decontamination report checks that. The task is built by the
suites' own `math_task` (K2-Think system prompt, the suites' math user prompt, `math_scorer` over
`grade_math`), so "accuracy" here means what it means for AIME — only the problems are ours. It measures
the small recipes before and after training; it says nothing about K2-Think.

    inspect eval training/heldout_task.py --model k2bench/local -M model_path=training/out/smollm2-grpo \\
        --temperature 0 -M max_tokens_cap=48 -T epochs=1
"""

from inspect_ai import Task, task

from suites._math_suite import math_task
from training.data import heldout_records

VERSION = "1-A"


@task
def arith_heldout(epochs: int = 1) -> Task:
    return math_task("arith-heldout", version=VERSION, epochs=epochs, records=heldout_records())
