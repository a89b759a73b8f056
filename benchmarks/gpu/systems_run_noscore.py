"""`python -m systems.run` with scoring deferred: inspect's eval_set(score=False), every other argument as given.

For code suites on the H200 (issue 19): LiveCodeBench's grader runs programs in the bwrap sandbox
(suites/grading/sandbox.py), which the device lacks, and it refuses to run untrusted code unsandboxed. The device
generates (this runner: the same tasks, identity and serving metrics as systems.run, no scorer run), and
benchmarks/gpu/vllm_rescore.py scores the logs HERE with the suite's own scorers, in the sandbox.

Run by path from the repository root with the checkout on PYTHONPATH (benchmarks/gpu/vllm_device.py's grid sets
PYTHONPATH=<repo>:<unpacked site> for every job it starts):

    PYTHONPATH=. python benchmarks/gpu/systems_run_noscore.py --suites livecodebench_v5 --systems plain --model ... --log-dir ...
"""

from __future__ import annotations

import inspect_ai

from systems import run as systems_run

_EVAL_SET = inspect_ai.eval_set


def eval_set_unscored(*args, **kwargs):
    """systems.run imports eval_set from inspect_ai when it runs, so it gets this one."""
    return _EVAL_SET(*args, score=False, **kwargs)


if __name__ == "__main__":
    inspect_ai.eval_set = eval_set_unscored
    systems_run.main()
