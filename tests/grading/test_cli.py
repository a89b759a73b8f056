"""The one-completion grading command prints the verdict as JSON."""

from __future__ import annotations

import json
import subprocess
import sys


def run_cli(*args: str, stdin: str | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "suites.grading.cli", *args], input=stdin, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def test_cli_correct() -> None:
    out = run_cli("--gold", "204", "--completion", "<think>s = 2.5</think> so \\boxed{204}")
    assert out["status"] == "correct" and out["score"] == 1.0
    assert out["extracted"] == "204" and out["extraction_method"] == "boxed"


def test_cli_stdin_and_truncated() -> None:
    out = run_cli("--gold", "033", "--truncated", stdin="Answer: 33")
    assert out["status"] == "truncated" and out["extracted"] == "33"
    assert out["normalized_gold"] == "33"


def test_cli_no_answer() -> None:
    out = run_cli("--gold", "7", "--completion", "I do not know.")
    assert out["status"] == "no_answer" and out["extracted"] is None
