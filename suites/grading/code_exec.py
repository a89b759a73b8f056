"""Grading code answers: pull the program out of a completion, run it in the sandbox, map the result to a Verdict.

Used by the code suites (suites/livecodebench_v5, suites/scicode) through suites/grading/scorers.py and by the
TRL code reward; pure Python (the sandbox is the suites/grading/sandbox package), no inspect_ai, no trl.

Extraction (shared/DESIGN.md, "A grader"; LiveCodeBench's `extract_code` in lcb_runner/utils/extraction_utils.py
takes the text between the last two fence lines):
  1. drop the reasoning: the text after the last `</think>`; a `<think>` that never closes means the model
     never reached its answer, so nothing is extracted (extract.answer_region);
  2. (`<answer>` tags are put on lines of their own, so a fence written next to them still counts)
     the last complete fenced block (```` ```python ... ``` ````) whose language tag is Python or empty;
     blocks tagged with another language (```` ```text ````, ```` ```bash ````) are skipped, an unclosed
     fence does not count;
  3. else nothing: `no_answer`, never `incorrect`.

Verdict mapping (the sandbox's RunVerdict -> status): pass -> correct; fail | timeout | memory | runtime_error ->
incorrect, with the sandbox's cause in the reason; sandbox_error -> error (an infrastructure failure is not
the model's fault); no code -> no_answer; a generation cut at max_tokens -> truncated (not executed).

    from suites.grading.code_exec import CodeTests, grade_code
    grade = grade_code(completion, CodeTests.stdin([("1 2\\n", "3\\n")]))
    grade.verdict.status   # "correct" | "incorrect" | "no_answer" | "truncated" | "error"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from suites.grading.extract import ANSWER_CLOSE, ANSWER_OPEN, answer_region
from suites.grading.sandbox import DEFAULT_LIMITS, ExecResult, Limits, TestCase, run_tests
from suites.grading.verdict import Verdict, correct, incorrect

# an opening fence may carry a language tag and be indented (inside a list item); the body loses that indent
FENCE_OPEN = re.compile(r"^([ \t]*)```[ \t]*([A-Za-z0-9_+#.\-]*)[^`]*$")
FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*$")
PYTHON_TAGS = ("", "python", "py", "python3", "py3", "python2")
REASON_CHARS = 600  # how much of the sandbox's cause a verdict's reason quotes


@dataclass(frozen=True)
class CodeExtraction:
    """The program found in a completion (None if none) and why."""

    code: str | None
    language: str | None
    reason: str
    n_blocks: int = 0


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Complete fenced blocks of `text` as (language tag lowercased, body), in order."""
    blocks, lang, indent, body = [], None, "", []
    for line in text.split("\n"):
        if lang is None:
            m = FENCE_OPEN.match(line)
            if m:
                indent, lang, body = m.group(1), m.group(2).lower(), []
        elif FENCE_CLOSE.match(line):
            blocks.append((lang, "\n".join(body)))
            lang = None
        else:
            body.append(line[len(indent) :] if indent and line.startswith(indent) else line)
    return blocks


def extract_code(completion: str) -> CodeExtraction:
    """The last Python (or untagged) fenced code block after the reasoning (module docstring)."""
    region, where = answer_region(completion)
    if region is None:
        return CodeExtraction(None, None, where)
    # K2-Think wraps its answer in <answer>...</answer>, often on the fence lines themselves
    region = region.replace(ANSWER_OPEN, ANSWER_OPEN + "\n").replace(ANSWER_CLOSE, "\n" + ANSWER_CLOSE)
    blocks = fenced_blocks(region)
    python = [(lang, body) for lang, body in blocks if lang in PYTHON_TAGS]
    if not python:
        if blocks:
            tags = sorted({lang for lang, _ in blocks})
            return CodeExtraction(None, None, f"{where}: only non-Python code blocks ({', '.join(tags)})", len(blocks))
        opened = any(FENCE_OPEN.match(line) for line in region.split("\n"))
        why = "a code block was opened but never closed" if opened else "no fenced code block"
        return CodeExtraction(None, None, f"{where}: {why}")
    lang, body = python[-1]
    if not body.strip():
        return CodeExtraction(None, lang, f"{where}: the last code block is empty", len(blocks))
    which = f"the last of {len(python)} Python code blocks" if len(python) > 1 else "the only Python code block"
    return CodeExtraction(body, lang, f"{which} ({where})", len(blocks))


@dataclass(frozen=True)
class CodeTests:
    """The tests one problem is graded on: cases, how they are run, and where they come from."""

    cases: tuple[TestCase, ...]
    mode: str = "stdin"  # "stdin" | "functional" (sandbox.run_tests)
    fn_name: str | None = None
    source: str = ""  # e.g. "hub:livecodebench/code_generation_lite@<rev>", "statement_samples"

    @classmethod
    def stdin(cls, pairs: Iterable[Sequence[str]], source: str = "") -> CodeTests:
        return cls(tuple(TestCase(str(i), str(o)) for i, o in pairs), "stdin", None, source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": [[t.input, t.output] for t in self.cases],
            "mode": self.mode,
            "fn_name": self.fn_name,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeTests:
        cases = tuple(TestCase(str(i), str(o)) for i, o in data["cases"])
        return cls(cases, data.get("mode", "stdin"), data.get("fn_name"), data.get("source", ""))


def _clip(text: str, n: int = REASON_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def verdict_from_result(result: ExecResult, code: str) -> Verdict:
    """Map one sandbox result to a Verdict (module docstring); the reason names the test and the cause."""
    if result.verdict == "pass":
        return correct(code, f"passed all {result.total} tests")
    if result.verdict == "sandbox_error":
        return Verdict(0.0, "error", code, _clip(f"sandbox_error (not the program's fault): {result.cause}"))
    where = f"test {result.failed_test + 1}/{result.total}" if result.failed_test is not None else "a test"
    return incorrect(code, _clip(f"{result.verdict} on {where} ({result.passed} passed before): {result.cause}"))


@dataclass
class CodeGrade:
    """A verdict plus what produced it (for the score's metadata)."""

    verdict: Verdict
    extraction: CodeExtraction
    result: ExecResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"extraction": self.extraction.reason, **self.extra}
        r = self.result
        if r is not None:
            meta["exec"] = {
                "verdict": r.verdict,
                "passed": r.passed,
                "total": r.total,
                "failed_test": r.failed_test,
                "cause": _clip(r.cause, 1000),
                "cpu_s": r.cpu_s,
                "wall_s": r.wall_s,
                "peak_memory_mb": r.peak_memory_mb,
                "exit_code": r.exit_code,
                "cached": r.cached,
                "reran_timeout": r.reran_timeout,
                "isolation": r.isolation,
            }
        return meta


Runner = Callable[..., ExecResult]


def grade_code(
    completion: str,
    tests: CodeTests,
    *,
    truncated: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    float_tol: float | None = None,
    run: Runner = run_tests,
) -> CodeGrade:
    """Extract the program from `completion` and run it on `tests` in the sandbox."""
    extraction = extract_code(completion)
    extra = {"tests_source": tests.source, "n_tests": len(tests.cases), "test_mode": tests.mode}
    if truncated:
        reason = "generation stopped at max_tokens; the program was not run"
        return CodeGrade(Verdict(0.0, "truncated", extraction.code, reason), extraction, extra=extra)
    if extraction.code is None:
        return CodeGrade(Verdict(0.0, "no_answer", None, extraction.reason), extraction, extra=extra)
    if not tests.cases:
        reason = f"no test cases for this problem (source: {tests.source or 'unknown'}); nothing was run"
        return CodeGrade(Verdict(0.0, "error", extraction.code, reason), extraction, extra=extra)
    result = run(
        extraction.code,
        list(tests.cases),
        mode=tests.mode,
        fn_name=tests.fn_name,
        limits=limits,
        float_tol=float_tol,
    )
    return CodeGrade(verdict_from_result(result, extraction.code), extraction, result, extra)
