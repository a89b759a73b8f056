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


NOT_UTF8 = b"<think>r\xe9sum\xe9 \xff\xfe</think> caf\xe9: \\boxed{204}"  # Latin-1 bytes and a stray BOM


def run_cli_bytes(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suites.grading.cli", *args], input=stdin, capture_output=True)


def test_cli_reads_non_utf8_file_and_stdin_alike(tmp_path) -> None:
    # issue 15: --completion-file crashed on bytes that stdin graded; both are read as UTF-8 with replacement now
    path = tmp_path / "completion.txt"
    path.write_bytes(NOT_UTF8)
    from_file = run_cli_bytes("--gold", "204", "--completion-file", str(path))
    from_stdin = run_cli_bytes("--gold", "204", stdin=NOT_UTF8)
    assert from_file.returncode == 0 and from_stdin.returncode == 0, from_file.stderr
    file_out, stdin_out = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
    assert file_out == stdin_out and file_out["status"] == "correct"


def test_cli_missing_file_is_one_line() -> None:
    proc = run_cli_bytes("--gold", "204", "--completion-file", "/nonexistent/completion.txt")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert b"cannot read --completion-file /nonexistent/completion.txt" in proc.stderr
