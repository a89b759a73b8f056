"""SciCode suite (suites/scicode): the package's problems and prompts, numeric targets from a tiny real
test_data.h5 (every value kind upstream stores) decoded inside the sandbox, synthetic sub-problems graded with
known-correct, wrong, slow, crashing and early-exiting solutions, the clear stop without test_data.h5, and the
offline `inspect eval` of both code suites (LiveCodeBench on the mirror, SciCode on the synthetic data) on
the embedded model.

Run: python -m pytest tests/suites/test_scicode.py -q     (~1 min + the eval; needs nvidia-scicode, h5py)
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from suites._data import DataError
from suites._unavailable import skipped_reason
from suites.grading import sandbox as sb
from suites.grading.sandbox import Limits
from suites.scicode import steps
from suites.scicode.scicode import scicode
from suites.scicode.targets import read_targets

LIMITS = Limits(time_s=20.0, memory_mb=1024)

# Synthetic problems in SciCode's format. Step S1.3's tests cover every value kind test_data.h5 holds.
PROBLEMS = [
    {
        "problem_name": "synthetic_arith", "problem_id": "S1", "problem_description_main": "Arithmetic.",
        "problem_io": "", "required_dependencies": "import numpy as np\nfrom mpl_toolkits.mplot3d import Axes3D",
        "general_tests": [], "problem_background_main": "",
        "sub_steps": [
            {"step_number": "S1.1", "step_description_prompt": "Add two numbers.", "step_background": "Addition.",
             "function_header": "def add(a, b):\n    '''Return a + b.'''", "return_line": "    return c",
             "test_cases": ["assert np.allclose(add(1.5, 2.0), target)",
                            "assert np.allclose(add(np.arange(3), 1), target)"]},
            {"step_number": "S1.2", "step_description_prompt": "Mean and spread.", "step_background": "Stats.",
             "function_header": "def stats(x):\n    '''Return (mean, max - min).'''", "return_line": "    return m, r",
             "test_cases": ["from scicode.compare.cmp import cmp_tuple_or_list\n"
                            "assert cmp_tuple_or_list(stats(np.array([1.0, 2.0, 6.0])), target)",
                            "assert np.allclose(add(*stats(np.array([2.0, 4.0]))), target)"]},
            {"step_number": "S1.3", "step_description_prompt": "Targets of every kind.", "step_background": "",
             "function_header": "def square(x):\n    '''Return x * x.'''", "return_line": "    return y",
             "test_cases": [
                 "from scicode.compare.cmp import are_dicts_close\n"
                 "assert are_dicts_close({x: square(x) for x in (0.5, 2.0)}, target)",
                 "assert target == 'done' and isinstance(target, str)",
                 "assert target.dtype == np.complex64 and np.allclose(target, [1j, square(1j)])",
                 "assert isinstance(target, list) and target[0] == b'raw' and np.allclose(target[1], [1, 2])",
                 "assert np.allclose(target.toarray(), np.diag([square(2.0), 1.0]))",
                 "assert target[0] == 'lbl' and target[1].dtype == np.int32 and np.isnan(target[2])",
             ]},
        ],
    },
    {
        "problem_name": "synthetic_fib", "problem_id": "S2", "problem_description_main": "Fibonacci.",
        "problem_io": "", "required_dependencies": "import numpy as np", "general_tests": [],
        "problem_background_main": "",
        "sub_steps": [
            {"step_number": "S2.1", "step_description_prompt": "Fibonacci number.", "step_background": "F(0)=0.",
             "function_header": "def fib(n):\n    '''n-th Fibonacci number.'''", "return_line": "    return f",
             "test_cases": ["assert fib(10) == target", "assert fib(1) == target"]},
            {"step_number": "S2.2", "step_description_prompt": "Ratio of consecutive numbers.",
             "step_background": "Golden ratio.", "function_header": "def ratio(n):\n    '''fib(n+1)/fib(n)'''",
             "return_line": "    return r", "test_cases": ["assert np.isclose(ratio(20), target)"]},
        ],
    },
]  # fmt: skip

RIGHT = {
    "S1.1": "def add(a, b):\n    return a + b",
    "S1.2": "import numpy as np\ndef stats(x):\n    return float(np.mean(x)), float(np.max(x) - np.min(x))",
    "S1.3": "def square(x):\n    return x * x",
    "S2.1": "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    "S2.2": "def ratio(n):\n    return fib(n + 1) / fib(n)",
}


def write_h5(path: Path) -> Path:
    """A tiny test_data.h5 in upstream's layout: <step>/test<i>/var<j>, dict/list/sparse groups."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f["S1.1/test1/var1"] = np.float64(3.5)
        f["S1.1/test2/var1"] = np.array([1, 2, 3])
        f["S1.2/test1/var1"], f["S1.2/test1/var2"] = np.float64(3.0), np.float64(5.0)
        f["S1.2/test2/var1"] = np.float64(5.0)
        f["S1.3/test1/var1/0.5"], f["S1.3/test1/var1/2.0"] = np.float64(0.25), np.float64(4.0)
        f["S1.3/test2/var1"] = np.bytes_(b"done")
        f["S1.3/test3/var1"] = np.array([1j, -1], dtype=np.complex64)
        f["S1.3/test4/var1/list/var1"], f["S1.3/test4/var1/list/var2"] = np.bytes_(b"raw"), np.array([1, 2])
        sparse = "S1.3/test5/var1/sparse_matrix"
        f[f"{sparse}/data"], f[f"{sparse}/indices"] = np.array([4.0, 1.0]), np.array([0, 1])
        f[f"{sparse}/indptr"], f[f"{sparse}/shape"] = np.array([0, 1, 2]), np.array([2, 2])
        f["S1.3/test6/var1"], f["S1.3/test6/var2"] = np.bytes_(b"lbl"), np.array([7], dtype=np.int32)
        f["S1.3/test6/var3"] = np.float64("nan")
        f["S2.1/test1/var1"], f["S2.1/test2/var1"] = np.int64(55), np.int64(1)
        f["S2.2/test1/var1"] = np.float64(10946 / 6765)
    return path


@pytest.fixture
def synthetic(tmp_path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.setenv(sb.CACHE_DIR_ENV, str(tmp_path / "exec-cache"))
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return problems, write_h5(tmp_path / "test_data.h5")


def answer(code: str | None) -> str:
    return "<think>reasoning</think>\n" + (f"```python\n{code}\n```" if code is not None else "I give up.")


def records_for(problem: dict, codes: dict, truncated: tuple = ()) -> list[dict]:
    return [steps.step_record(s, answer(codes.get(s["step_number"])), "stop", s["step_number"] in truncated)
            for s in problem["sub_steps"]]  # fmt: skip


def grade(problem: dict, h5: Path, codes: dict, truncated: tuple = (), limits: Limits = LIMITS) -> dict[str, dict]:
    grades = steps.grade_problem(problem, records_for(problem, codes, truncated), h5, limits=limits,
                                 cmp=steps.cmp_source())  # fmt: skip
    return {g.step_number: g.summary() for g in grades}


def test_package_problems_prompts_and_programs() -> None:
    records, source = steps.load_problems("test")
    assert len(records) == 65 and source.startswith("nvidia-scicode==26.3")
    scored = sum(len(steps.scored_steps(r)) for r in records)
    assert scored == 288 and sum(len(r["sub_steps"]) for r in records) == 291
    for with_background in (False, True):
        template = steps.prompt_template(with_background)
        for r in records:
            codes = [steps.given_code(s["step_number"]) if s["step_number"] in steps.GIVEN_STEPS else "pass"
                     for s in r["sub_steps"]]  # fmt: skip
            for idx in steps.scored_steps(r):
                prompt = steps.step_prompt(r, idx, codes, template, with_background)
                step = r["sub_steps"][idx]
                assert step["function_header"] in prompt and ("{" + "next_step_str}") not in prompt
                assert (step["step_background"] in prompt) == with_background or not step["step_background"]
                ast.parse(steps.step_program(r, idx, codes, steps.cmp_source()))  # the test program compiles
    assert len(steps.load_problems("validation")[0]) == 15


def test_known_solutions_and_every_target_kind(synthetic) -> None:
    _, h5 = synthetic
    s1, s2 = PROBLEMS
    assert read_targets(h5, "S1.2", 2)[0]["group"][0][0] == "var1"
    good = grade(s1, h5, RIGHT) | grade(s2, h5, RIGHT)
    assert {k: v["status"] for k, v in good.items()} == dict.fromkeys(RIGHT, "correct"), good
    assert good["S1.3"]["tests_passed"] == 6  # dict, str, complex64, list, sparse, tuple targets all decoded


def test_wrong_slow_crashing_and_exiting_solutions(synthetic) -> None:
    _, h5 = synthetic
    s1, s2 = PROBLEMS
    wrong = grade(s1, h5, {**RIGHT, "S1.1": "def add(a, b):\n    return a - b"})
    assert wrong["S1.1"]["status"] == "incorrect" and "AssertionError" in wrong["S1.1"]["reason"]
    assert wrong["S1.1"]["tests_passed"] == 0 and "0/2 test cases" in wrong["S1.1"]["reason"]
    # a later step that calls the wrong function fails too; one that does not still passes
    assert wrong["S1.2"]["status"] == "incorrect" and wrong["S1.2"]["tests_passed"] == 1
    assert wrong["S1.3"]["status"] == "correct"
    slow = grade(s2, h5, {**RIGHT, "S2.2": "def ratio(n):\n    while True:\n        pass"}, limits=Limits(time_s=1.0))
    assert slow["S2.2"]["status"] == "incorrect" and slow["S2.2"]["exec"]["verdict"] == "timeout"
    crash = grade(s2, h5, {**RIGHT, "S2.1": "def fib(n):\n    raise RuntimeError('no')"})
    assert crash["S2.1"]["exec"]["verdict"] == "runtime_error" and "RuntimeError" in crash["S2.1"]["reason"]
    exits = grade(s2, h5, {**RIGHT, "S2.1": RIGHT["S2.1"] + "\nraise SystemExit(0)"})  # upstream: a pass
    assert exits["S2.1"]["status"] == "incorrect" and exits["S2.1"]["exec"]["verdict"] == "fail"
    chatty = grade(s2, h5, {**RIGHT, "S2.1": RIGHT["S2.1"] + "\nprint('example usage', fib(5))"})
    assert chatty["S2.1"]["status"] == "correct"  # the program's own output does not matter
    missing = grade(s2, h5, {"S2.2": RIGHT["S2.2"]}, truncated=("S2.2",))
    assert missing["S2.1"]["status"] == "no_answer" and missing["S2.2"]["status"] == "truncated"
    assert "exec" not in missing["S2.1"] and "exec" not in missing["S2.2"]  # nothing was run


def test_task_needs_test_data(synthetic, tmp_path, monkeypatch) -> None:
    problems, h5 = synthetic
    monkeypatch.delenv(steps.H5_ENV, raising=False)
    # not given at all: the suite is skipped with the reason (suites/_unavailable.py), not an exception
    skipped = scicode(problems_path=str(problems))
    assert len(skipped.dataset) == 0 and skipped.display_name == "scicode (skipped: data unavailable)"
    assert re.search("no test_data.h5 given.*K2BENCH_SCICODE_H5", skipped_reason(skipped))
    with pytest.raises(DataError, match="does not exist"):
        scicode(problems_path=str(problems), h5_path=str(tmp_path / "absent.h5"))
    import h5py

    with h5py.File(tmp_path / "partial.h5", "w") as f:
        f["S1.1/test1/var1"], f["S1.1/test2/var1"] = 1.0, 2.0  # S1.1 complete; S1.2 ... S2.2 absent
    with pytest.raises(DataError, match="lacks the test groups of 4 steps"):
        scicode(problems_path=str(problems), h5_path=str(tmp_path / "partial.h5"))
    task = scicode(epochs=2, problems_path=str(problems), h5_path=str(h5), with_background=True)
    samples = list(task.dataset)
    assert [s.id for s in samples] == ["S1", "S2"] and task.metadata["n_scored_steps"] == 5
    assert "Addition." in samples[0].input[1].content and task.epochs == 2


@pytest.mark.slow
def test_inspect_eval_code_suites_offline(data_dir: Path, repo_root: Path, synthetic, tmp_path: Path) -> None:
    _, h5 = synthetic
    problems = tmp_path / "one_problem.jsonl"  # S2 only: two sequential step generations keep the run short
    problems.write_text(json.dumps(PROBLEMS[1]) + "\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", K2BENCH_DATA_DIR=str(data_dir), K2BENCH_SCICODE_PROBLEMS=str(problems),
               K2BENCH_SCICODE_H5=str(h5))  # fmt: skip
    env.pop("INSPECT_EVAL_MODEL", None)  # the embedded default comes from the repo's .env
    env.pop("K2BENCH_LCB_DIR", None)
    inspect = Path(sys.executable).with_name("inspect")
    # both tasks at once: the embedded model batches their requests together
    cmd = [str(inspect), "eval", "suites/livecodebench_v5", "suites/scicode", "--limit", "2", "-T", "epochs=1",
           "-M", "max_tokens_cap=64", "--max-tasks", "2", "--log-dir", str(tmp_path / "logs"), "--display", "none"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from inspect_ai.log import read_eval_log

    logs = {log.eval.task: log for log in map(read_eval_log, map(str, (tmp_path / "logs").glob("*.eval")))}
    assert set(logs) == {"livecodebench_v5", "scicode"}
    statuses = {"correct", "incorrect", "no_answer", "truncated", "error"}
    lcb, sci = logs["livecodebench_v5"], logs["scicode"]
    assert lcb.status == sci.status == "success" and lcb.eval.model == "k2bench/smollm2-135m-instruct"
    assert lcb.eval.metadata["tests"] == "statement_samples" and len(lcb.samples) == 2
    for sample in lcb.samples:
        score = sample.scores["code_scorer"]
        assert sample.metadata["tests"] == "statement_samples" and score.metadata["status"] in statuses
        assert score.metadata["tests_source"] == "statement_samples" and score.metadata["n_tests"] >= 1
        assert sample.output.usage.output_tokens <= 64
    assert [s.id for s in sci.samples] == ["S2"]
    for sample in sci.samples:
        score = sample.scores["steps_scorer"]
        assert [st["step"] for st in score.metadata["steps"]] == [s["step_number"] for s in sample.metadata["sub_steps"]]
        assert {st["status"] for st in score.metadata["steps"]} <= statuses
        assert len(sample.metadata["scicode_steps"]) == len(sample.metadata["sub_steps"])
    metrics = {(s.name, m) for s in sci.results.scores for m in s.metrics}
    assert {("accuracy", "accuracy"), ("accuracy", "stderr"), ("steps_scorer", "sub_problem_accuracy"),
            ("steps_scorer", "steps_truncated")} <= metrics, metrics  # fmt: skip
