"""LiveCodeBench problems and their tests, from the hub's files or from the offline mirror's statements.

Sources, in the order `tests="auto"` tries them (README "Data"):
1. a directory holding the hub's own files (`test.jsonl` ... `test5.jsonl` for release_v5), given as the task
   argument `hub_dir` or `K2BENCH_LCB_DIR`: statements + public + private tests, any date window;
2. the hub, `livecodebench/code_generation_lite` at the revision pinned in suites/_data.py (huggingface_hub
   cache; nothing is fetched when HF_HUB_OFFLINE=1);
3. the offline mirror (`K2BENCH_DATA_DIR`/livecodebench_v5/problems.jsonl, 279 statements, 2024-08-01 ..
   2025-02-01, no tests): tests are the sample cases parsed from each statement, and everything is marked
   `tests: statement_samples` (a deviation: samples are a few easy cases, not the official test suite).

The prompt is QwQ's LiveCodeBench template, the one the mirror stores (its bytes are reproduced exactly from
the parsed statement + starter code, which a test checks for all 279 problems).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from suites._data import BENCHMARKS, DataError, data_dir, load_records
from suites.grading.code_exec import CodeTests
from suites.grading.sandbox import TestCase
from suites.livecodebench_v5 import testcases

logger = logging.getLogger(__name__)

BENCHMARK = "livecodebench_v5"
HUB_DIR_ENV = "K2BENCH_LCB_DIR"
STATEMENT_SAMPLES = "statement_samples"
MIRROR_WINDOW = (date(2024, 8, 1), date(2025, 2, 1))  # what the mirror holds (PROVENANCE.md)
# LiveCodeBench's release_vN = the union of the hub files test.jsonl, test2.jsonl ... testN.jsonl
RELEASES = {f"release_v{n}": ["test.jsonl"] + [f"test{k}.jsonl" for k in range(2, n + 1)] for n in range(1, 7)}

PROMPT_HEAD = (
    "You will be given a question (problem specification) and will generate a correct Python program that "
    "matches the specification and passes all tests.\n\nQuestion: "
)
PROMPT_STDIN = (
    "\n\nRead the inputs from stdin solve the problem and write the answer to stdout (do not directly test on "
    "the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program "
    "runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n"
)
PROMPT_STARTER = (
    "\n\nYou will use the following starter code to write the solution to the problem and enclose your code "
    "within delimiters.\n```python\n"
)
PROMPT_STARTER_END = "\n```\n\n"


@dataclass(frozen=True)
class Problem:
    question_id: str
    platform: str
    contest_id: str
    contest_date: str  # ISO, as the hub writes it
    question_content: str
    starter_code: str
    fn_name: str | None  # LeetCode method; None for stdin problems
    difficulty: str | None = None
    tests_md5: str | None = None  # the mirror's fingerprint of the official tests

    @property
    def mode(self) -> str:
        return "functional" if self.fn_name else "stdin"

    @property
    def day(self) -> date:
        return date.fromisoformat(self.contest_date[:10])

    def prompt(self) -> str:
        if self.starter_code:
            return PROMPT_HEAD + self.question_content + PROMPT_STARTER + self.starter_code + PROMPT_STARTER_END
        return PROMPT_HEAD + self.question_content + PROMPT_STDIN


@dataclass(frozen=True)
class ProblemTests:
    """One problem's tests, decoded only when graded (private tests are large and compressed)."""

    problem: Problem
    source: str
    public_raw: str | None = None  # hub JSON
    private_raw: str | None = None  # hub JSON or base64(zlib(pickle(JSON)))

    def cases(self) -> list[dict[str, Any]]:
        if self.source == STATEMENT_SAMPLES:
            return statement_samples(self.problem)
        public = testcases.decode_public_tests(self.public_raw or "[]")
        return public + (testcases.decode_private_tests(self.private_raw) if self.private_raw else [])

    def code_tests(self) -> CodeTests:
        cases = self.cases()
        if self.problem.tests_md5 and self.source != STATEMENT_SAMPLES:
            found = testcases.tests_fingerprint(cases, self.problem.fn_name)
            if found != self.problem.tests_md5:
                logger.warning("%s: tests md5 %s != mirror's %s", self.problem.question_id, found, self.problem.tests_md5)
        pairs = tuple(TestCase(t["input"], t["output"]) for t in cases)
        return CodeTests(pairs, self.problem.mode, self.problem.fn_name, self.source)


def statement_samples(problem: Problem) -> list[dict[str, Any]]:
    if problem.fn_name:
        return testcases.leetcode_samples(problem.question_content, problem.starter_code)[0]
    return testcases.atcoder_samples(problem.question_content)


def problem_from_mirror(record: dict[str, Any]) -> Problem:
    """Split the mirror's QwQ prompt back into statement and starter code."""
    prompt, qid = record["prompt"], record["question_id"]
    if not prompt.startswith(PROMPT_HEAD):
        raise DataError(f"{BENCHMARK} {qid}: prompt does not start with QwQ's template")
    body = prompt[len(PROMPT_HEAD) :]
    if body.endswith(PROMPT_STDIN):
        content, starter, fn_name = body[: -len(PROMPT_STDIN)], "", None
    else:
        cut = body.rfind(PROMPT_STARTER)
        if cut < 0 or not body.endswith(PROMPT_STARTER_END):
            raise DataError(f"{BENCHMARK} {qid}: prompt has neither the stdin nor the starter-code ending")
        content, starter = body[:cut], body[cut + len(PROMPT_STARTER) : -len(PROMPT_STARTER_END)]
        signature = testcases.starter_signature(starter)
        if signature is None:
            raise DataError(f"{BENCHMARK} {qid}: no method found in the starter code")
        fn_name = signature[0]
    return Problem(
        question_id=qid,
        platform=record["platform"],
        contest_id=record["contest_id"],
        contest_date=record["contest_date"],
        question_content=content,
        starter_code=starter,
        fn_name=fn_name,
        tests_md5=record.get("tests", {}).get("md5"),
    )


def problem_from_hub(row: dict[str, Any], md5: dict[str, str]) -> Problem:
    meta = json.loads(row.get("metadata") or "{}")
    return Problem(
        question_id=row["question_id"],
        platform=row["platform"],
        contest_id=row["contest_id"],
        contest_date=row["contest_date"],
        question_content=row["question_content"],
        starter_code=row.get("starter_code") or "",
        fn_name=meta.get("func_name"),
        difficulty=row.get("difficulty"),
        tests_md5=md5.get(row["question_id"]),
    )


def _hub_files(release: str, hub_dir: str | None) -> tuple[list[Path], str]:
    """The release's hub files, from a local directory or the pinned hub revision; raises DataError."""
    if release not in RELEASES:
        raise DataError(f"unknown LiveCodeBench release {release!r}; known: {', '.join(RELEASES)}")
    names = RELEASES[release]
    if hub_dir:
        paths = [Path(hub_dir).expanduser() / name for name in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{release} needs the hub files {names} in {hub_dir}; missing: {missing}")
        return paths, f"file:{Path(hub_dir).expanduser()}"
    hub = BENCHMARKS[BENCHMARK].hub
    assert hub is not None
    from huggingface_hub import hf_hub_download  # heavy: only when the hub is actually used

    try:
        paths = [Path(hf_hub_download(hub.repo, n, repo_type="dataset", revision=hub.revision)) for n in names]
    except Exception as err:  # offline, unreachable or gated: say what was tried
        raise DataError(f"could not read {hub.repo}@{hub.revision} {names}: {type(err).__name__}: {err}") from err
    return paths, f"hub:{hub.repo}@{hub.revision}"


def _mirror_md5() -> dict[str, str]:
    try:
        return {r["question_id"]: r["tests"]["md5"] for r in load_records(BENCHMARK)}
    except DataError:
        return {}


def load_problems(
    start: date, end: date, *, release: str = "release_v5", tests: str = "auto", hub_dir: str | None = None
) -> tuple[list[ProblemTests], str]:
    """Problems with start <= contest date < end and their tests; returns them and the tests' source."""
    if tests not in ("auto", "full", STATEMENT_SAMPLES):
        raise ValueError(f"tests must be 'auto', 'full' or '{STATEMENT_SAMPLES}', got {tests!r}")
    hub_dir = hub_dir or os.environ.get(HUB_DIR_ENV) or None
    # the data layer's rule: with a mirror (K2BENCH_DATA_DIR) "auto" reads the mirror and never waits on the hub
    # (offline, huggingface_hub retries for a minute before failing); tests="full" still tries it
    mirror_only = tests == "auto" and not hub_dir and data_dir() is not None
    if tests != STATEMENT_SAMPLES and not mirror_only:
        try:
            paths, source = _hub_files(release, hub_dir)
        except DataError as err:
            if tests == "full" or hub_dir:
                raise
            logger.warning("LiveCodeBench full tests unavailable (%s); using %s from the mirror", err, STATEMENT_SAMPLES)
        else:
            md5, found = _mirror_md5(), []
            for path in paths:
                with path.open(encoding="utf-8") as f:
                    for line in f:
                        if line.strip():
                            row = json.loads(line)
                            problem = problem_from_hub(row, md5)
                            if start <= problem.day < end:
                                found.append(ProblemTests(problem, source, row["public_test_cases"], row["private_test_cases"]))
            return sorted(found, key=lambda p: (p.problem.contest_date, p.problem.question_id)), source
    if start < MIRROR_WINDOW[0] or end > MIRROR_WINDOW[1]:
        raise DataError(
            f"the offline mirror holds {MIRROR_WINDOW[0]} .. {MIRROR_WINDOW[1]} only; the window {start} .. {end} "
            f"needs the hub's files: set {HUB_DIR_ENV} to a directory with {RELEASES[release]}"
        )
    problems = [problem_from_mirror(r) for r in load_records(BENCHMARK)]
    chosen = [ProblemTests(p, STATEMENT_SAMPLES) for p in problems if start <= p.day < end]
    return sorted(chosen, key=lambda p: (p.problem.contest_date, p.problem.question_id)), STATEMENT_SAMPLES


@lru_cache(maxsize=16)
def _decoded(tests: ProblemTests) -> CodeTests:
    return tests.code_tests()


def code_tests(tests: ProblemTests) -> CodeTests:
    """Decoded tests of one problem (cached: every epoch of a problem grades against the same tests)."""
    return _decoded(tests)


def check_window(start_date: str, end_date: str) -> tuple[date, date]:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", start_date) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", end_date):
        raise ValueError(f"dates must be YYYY-MM-DD, got {start_date!r} .. {end_date!r}")
    start, end = date.fromisoformat(start_date), date.fromisoformat(end_date)
    if start >= end:
        raise ValueError(f"empty date window {start} .. {end}")
    return start, end
