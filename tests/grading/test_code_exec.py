"""Code grading (suites/grading/code_exec.py): the case table suites/grading/cases/code.jsonl run for real in the
sandbox (known-correct, wrong, slow, crashing and memory-hungry programs), extraction rules, the verdict
mapping, and the sandbox options the code suites add (site_packages for SciCode, prelude=False).

Run: python -m pytest tests/grading/test_code_exec.py -q     (~30 s; needs scripts/install_system_deps.sh)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suites.grading import sandbox as sb
from suites.grading.code_exec import CodeTests, extract_code, fenced_blocks, grade_code, verdict_from_result
from suites.grading.sandbox import ExecResult, Limits, TestCase, run_program, run_tests
from suites.grading.verdict import STATUSES

CASES_FILE = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases" / "code.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
# short limits keep the table fast; the slow and memory-hungry rows hit them within seconds
LIMITS = Limits(time_s=1.0, memory_mb=256)


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(sb.CACHE_DIR_ENV, str(tmp_path / "exec-cache"))


def test_sandbox_is_available() -> None:
    report = sb.check_isolation()
    assert report.isolated, f"no isolation here ({report.reason}): run scripts/install_system_deps.sh"


def test_case_table_is_documented() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) and len(CASES) >= 25
    for case in CASES:
        assert case["status"] in STATUSES and case["source"].strip()
    assert {c["status"] for c in CASES} == set(STATUSES)
    # the synthetic programs cover every sandbox verdict
    assert {c["exec"] for c in CASES if c["exec"]} == set(sb.VERDICTS)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    tests = CodeTests.from_dict({**case["tests"], "source": "case-table"})
    grade = grade_code(case["completion"], tests, truncated=case["truncated"], limits=LIMITS)
    verdict = grade.verdict
    assert verdict.status == case["status"], f"{case['source']}: {verdict}"
    assert verdict.score == (1.0 if case["status"] == "correct" else 0.0)
    assert verdict.reason
    if case["exec"]:
        assert grade.result is not None and grade.result.verdict == case["exec"], grade.result
        meta = grade.metadata()
        assert meta["exec"]["verdict"] == case["exec"] and meta["tests_source"] == "case-table"
        if case["exec"] != "pass":
            assert case["exec"] in verdict.reason  # the cause is named, not folded into "wrong"
    if case["status"] in ("no_answer", "truncated"):
        assert grade.result is None  # nothing was executed


def test_extraction_details() -> None:
    assert fenced_blocks("a\n```py\nx = 1\n```\nb\n```\ny\n```") == [("py", "x = 1"), ("", "y")]
    got = extract_code("<think>```python\nbad\n```</think>\n```python\ngood()\n```")
    assert got.code == "good()" and "after the last </think>" in got.reason
    assert extract_code("no code").code is None
    assert "never closed" in extract_code("```python\nx = 1").reason
    assert extract_code('```python\nprint("```")\n```').code == 'print("```")'


def test_verdict_mapping_for_every_sandbox_verdict() -> None:
    expected = {"pass": "correct", "fail": "incorrect", "timeout": "incorrect", "memory": "incorrect",
                "runtime_error": "incorrect", "sandbox_error": "error"}  # fmt: skip
    assert set(expected) == set(sb.VERDICTS)
    for verdict, status in expected.items():
        failed = None if verdict == "pass" else 1
        result = ExecResult(verdict, 1, 3, failed, f"cause of {verdict}", 0.1, 0.2)
        got = verdict_from_result(result, "print(1)")
        assert got.status == status and got.extracted == "print(1)"
        if verdict != "pass":
            assert f"cause of {verdict}" in got.reason
            if verdict != "sandbox_error":
                assert "test 2/3" in got.reason


def test_code_tests_round_trip() -> None:
    tests = CodeTests((TestCase("[1]", "1"),), "functional", "f", "src")
    assert CodeTests.from_dict(json.loads(json.dumps(tests.to_dict()))) == tests


def test_site_packages_gives_numpy_scipy_sympy_only_when_asked() -> None:
    code = "import numpy as np, scipy.linalg, sympy\nprint(np.linalg.det(scipy.linalg.expm(np.zeros((2, 2)))))"
    without = run_program(code, "", Limits(time_s=10))
    assert without.verdict == "runtime_error" and "numpy" in without.cause
    with_site = run_program(code, "", Limits(time_s=10), site_packages=True)
    assert with_site.verdict == "pass", with_site
    assert with_site.stdout.strip() == "1.0"


def test_prelude_can_be_left_out() -> None:
    case = [TestCase("", "2.0\n")]
    assert run_tests("print(sqrt(4))", case, limits=LIMITS).verdict == "pass"
    bare = run_tests("print(sqrt(4))", case, limits=LIMITS, prelude=False)
    assert bare.verdict == "runtime_error" and "sqrt" in bare.cause
    assert run_tests("from math import sqrt\nprint(sqrt(4))", case, limits=LIMITS, prelude=False).ok
