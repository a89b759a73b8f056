"""LiveCodeBench suite (suites/livecodebench_v5): the mirror's 279 statements and their parsed sample cases, real
solutions graded on them in the sandbox, the hub's test encoding decoded without running pickled code, the
hub-file path (full tests, any date window), and the task's options. The offline `inspect eval` of this
suite runs in tests/suites/test_scicode.py (one model load for both code suites).

Run: python -m pytest tests/suites/test_livecodebench_v5.py -q     (~40 s)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import zlib
from datetime import date
from pathlib import Path

import pytest

from suites._data import DataError, load_records
from suites.grading import sandbox as sb
from suites.grading.code_exec import grade_code
from suites.grading.sandbox import Limits
from suites.livecodebench_v5 import testcases
from suites.livecodebench_v5.livecodebench_v5 import livecodebench_v5
from suites.livecodebench_v5.problems import STATEMENT_SAMPLES, code_tests, load_problems

V5 = (date(2024, 8, 1), date(2025, 2, 1))
LIMITS = Limits(time_s=2.0, memory_mb=256)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is unreachable here: fail fast instead of retrying
    monkeypatch.setenv(sb.CACHE_DIR_ENV, str(tmp_path / "exec-cache"))
    monkeypatch.delenv("K2BENCH_LCB_DIR", raising=False)


@pytest.fixture(scope="module")
def mirror_problems():
    if not os.environ.get("K2BENCH_DATA_DIR"):
        pytest.fail("K2BENCH_DATA_DIR is not set: point it at the benchmark mirror (CI uses ../shared/data)")
    problems, source = load_problems(*V5, tests=STATEMENT_SAMPLES)
    assert source == STATEMENT_SAMPLES
    return {p.problem.question_id: p for p in problems}


def fence(code: str) -> str:
    return f"<think>the plan</think>\n```python\n{code}\n```"


def test_mirror_statements_reproduce_prompts_and_give_sample_tests(data_dir, mirror_problems) -> None:
    records = {r["question_id"]: r for r in load_records("livecodebench_v5")}
    assert set(mirror_problems) == set(records) and len(records) == 279
    for qid, tests in mirror_problems.items():
        p = tests.problem
        assert p.prompt() == records[qid]["prompt"], qid  # statement and starter code split back exactly
        assert (p.fn_name is not None) == (records[qid]["platform"] == "leetcode"), qid
        cases = code_tests(tests)
        assert cases.cases and cases.source == STATEMENT_SAMPLES and cases.mode == p.mode, qid
        if p.fn_name:  # functional inputs: one JSON value per starter-code parameter
            n_params = len(testcases.starter_signature(p.starter_code)[1])
            assert all(len(c.input.split("\n")) == n_params for c in cases.cases), qid


SOLUTIONS = {
    "abc365_a": (
        "y = int(input())\nprint(366 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 365)",
        "y = int(input())\nprint(366 if y % 4 == 0 else 365)",  # misses the century rule
    ),
    "abc365_b": (
        "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]) + 1)",
        "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]))",  # 0-based
    ),
    "3517": (
        "from collections import deque\nclass Solution:\n"
        "    def shortestDistanceAfterQueries(self, n, queries):\n"
        "        adj = [[i + 1] for i in range(n - 1)] + [[]]\n        out = []\n"
        "        for u, v in queries:\n            adj[u].append(v)\n            dist = [-1] * n\n"
        "            dist[0] = 0\n            q = deque([0])\n            while q:\n                x = q.popleft()\n"
        "                for y in adj[x]:\n                    if dist[y] < 0:\n"
        "                        dist[y] = dist[x] + 1\n                        q.append(y)\n"
        "            out.append(dist[n - 1])\n        return out",
        "class Solution:\n    def shortestDistanceAfterQueries(self, n, queries):\n        return [n - 1] * len(queries)",
    ),
}


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_real_solutions_on_statement_samples(mirror_problems, qid) -> None:
    right, wrong = SOLUTIONS[qid]
    tests = code_tests(mirror_problems[qid])
    good = grade_code(fence(right), tests, limits=LIMITS)
    assert good.verdict.status == "correct", good.verdict
    assert good.result.passed == len(tests.cases) >= 2
    bad = grade_code(fence(wrong), tests, limits=LIMITS)
    assert bad.verdict.status == "incorrect" and bad.result.verdict == "fail", bad.verdict


def encode_private(tests: list[dict]) -> str:
    """The hub's encoding of private tests: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


class Evil:
    def __init__(self, canary: Path):
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


def test_private_tests_decode_without_executing_pickled_code(tmp_path) -> None:
    tests = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    assert testcases.decode_private_tests(encode_private(tests)) == tests
    assert testcases.decode_private_tests(json.dumps(tests)) == tests  # older rows: plain JSON
    canary = tmp_path / "pwned"
    hostile = base64.b64encode(zlib.compress(pickle.dumps(Evil(canary)))).decode()
    with pytest.raises(DataError, match="refusing to load global"):
        testcases.decode_private_tests(hostile)
    assert not canary.exists()
    with pytest.raises(DataError, match="holds int"):
        testcases.decode_private_tests(base64.b64encode(zlib.compress(pickle.dumps(7))).decode())
    with pytest.raises(DataError, match="neither JSON nor base64"):
        testcases.decode_private_tests("not base64 at all!")


def test_decompression_is_capped(monkeypatch) -> None:
    monkeypatch.setattr(testcases, "MAX_DECOMPRESSED_BYTES", 1 << 16)
    bomb = base64.b64encode(zlib.compress(pickle.dumps("x" * (1 << 20)))).decode()
    with pytest.raises(DataError, match="more than"):
        testcases.decode_private_tests(bomb)


def test_tests_fingerprint_is_qwq_serialisation() -> None:
    tests = [{"input": "1\n", "output": "2\n"}]
    payload = json.dumps({"input_output": json.dumps({"inputs": ["1\n"], "outputs": ["2\n"], "fn_name": None})})
    assert testcases.tests_fingerprint(tests, None) == hashlib.md5(payload.encode()).hexdigest()
    assert testcases.tests_fingerprint(tests, "f") != testcases.tests_fingerprint(tests, None)


def hub_row(qid: str, day: str, content: str, public: list, private: list, fn_name: str | None = None) -> dict:
    return {
        "question_title": qid, "question_content": content, "platform": "leetcode" if fn_name else "atcoder",
        "question_id": qid, "contest_id": qid.split("_")[0], "contest_date": f"{day}T00:00:00",
        "starter_code": f"class Solution:\n    def {fn_name}(self, nums: List[int]) -> int:\n        " if fn_name else "",
        "difficulty": "easy", "public_test_cases": json.dumps(public), "private_test_cases": encode_private(private),
        "metadata": json.dumps({"func_name": fn_name} if fn_name else {}),
    }  # fmt: skip


def test_hub_files_give_full_tests_in_any_window(tmp_path) -> None:
    stdin = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    rows = {
        "test.jsonl": [hub_row("abc900_a", "2024-07-20", "Add A and B.", stdin,
                               [{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}])],
        "test3.jsonl": [hub_row("9001", "2024-09-02", "Sum nums.", [{"input": "[1, 2]", "output": "3",
                                "testtype": "functional"}], [{"input": "[]", "output": "0", "testtype": "functional"}],
                                fn_name="total")],
        "test5.jsonl": [hub_row("abc999_a", "2025-03-01", "Out of the window.", stdin, stdin)],
    }  # fmt: skip
    for name in ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows.get(name, [])))
    problems, source = load_problems(date(2024, 7, 1), V5[1], tests="full", hub_dir=str(tmp_path))
    assert source == f"file:{tmp_path}" and [p.problem.question_id for p in problems] == ["abc900_a", "9001"]
    july, leet = (code_tests(p) for p in problems)
    assert len(july.cases) == 2 and july.mode == "stdin" and july.source == source  # public + private
    assert leet.mode == "functional" and leet.fn_name == "total" and len(leet.cases) == 2
    assert grade_code(fence("a, b = map(int, input().split())\nprint(a + b)"), july, limits=LIMITS).verdict.status == (
        "correct"
    )
    only_public = grade_code(fence("input()\nprint(3)"), july, limits=LIMITS)  # right on the public case only
    assert only_public.verdict.status == "incorrect" and only_public.result.failed_test == 1
    functional = "class Solution:\n    def total(self, nums):\n        return sum(nums)"
    assert grade_code(fence(functional), leet, limits=LIMITS).verdict.status == "correct"
    with pytest.raises(DataError, match="missing"):
        load_problems(*V5, tests="full", hub_dir=str(tmp_path / "nowhere"))


def test_window_and_source_options(mirror_problems) -> None:
    with pytest.raises(DataError, match="K2BENCH_LCB_DIR"):  # July is not in the mirror: never silently dropped
        load_problems(date(2024, 7, 1), V5[1], tests=STATEMENT_SAMPLES)
    with pytest.raises(DataError, match="could not read"):  # full tests demanded, hub offline
        load_problems(*V5, tests="full")
    problems, source = load_problems(date(2024, 10, 1), V5[1])  # auto with the mirror set: statement samples
    assert source == STATEMENT_SAMPLES and problems
    assert all(p.problem.day >= date(2024, 10, 1) for p in problems) and len(problems) < len(mirror_problems)


def test_auto_with_a_mirror_never_waits_on_the_hub(mirror_problems, monkeypatch) -> None:
    import suites.livecodebench_v5.problems as lcb_problems

    def no_hub(*args, **kwargs):
        raise AssertionError("auto tried the hub although K2BENCH_DATA_DIR is set")

    monkeypatch.setattr(lcb_problems, "_hub_files", no_hub)
    problems, source = load_problems(*V5)
    assert source == STATEMENT_SAMPLES and len(problems) == len(mirror_problems)
    with pytest.raises(AssertionError, match="tried the hub"):  # "full" still asks the hub
        load_problems(*V5, tests="full")


def test_task_marks_statement_samples(mirror_problems) -> None:
    task = livecodebench_v5(epochs=3, tests=STATEMENT_SAMPLES, start_date="2024-12-01")
    assert task.metadata["tests"] == STATEMENT_SAMPLES and task.metadata["window"] == ["2024-12-01", "2025-02-01"]
    assert task.epochs == 3 and task.version == "1-A"
    samples = list(task.dataset)
    assert len(samples) == task.metadata["n_problems"] == sum(
        1 for p in mirror_problems.values() if p.problem.day >= date(2024, 12, 1)
    )
    for sample in samples:
        assert sample.metadata["tests"] == STATEMENT_SAMPLES
        assert sample.input[1].content == mirror_problems[sample.id].problem.prompt()
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        livecodebench_v5(start_date="July 2024")
