"""Math answer grading: normalisation, exact fast paths, then math-verify equivalence off the main thread.

`grade_math(completion, gold)` is the one function that decides whether a math completion is correct; the
inspect scorer (suites/grading/scorers.py) and the TRL reward (training/rewards.py) both call it.

Equivalence goes through HuggingFace Math-Verify (`parse` + `verify`, gold first: open-r1 once reversed the
arguments, peers.md §2). Math-Verify's own timeouts use `signal.alarm`, which only works on a process's main
thread; inspect scores on worker threads. So symbolic checks run in a small process pool whose workers call
Math-Verify on *their* main thread with its timeouts on, and the pool itself has a hard deadline: a worker
that exceeds it is killed and the verdict is `error` with the reason, never `incorrect`.
Cheap cases (equal normalised strings, two integers) never reach the pool, so AIME grading is instant.
"""

from __future__ import annotations

import json
import os
import queue
import re
import select
import subprocess
import sys
import threading
from fractions import Fraction

from suites.grading.extract import extract_answer
from suites.grading.verdict import Verdict, correct, incorrect

# hard deadline around one worker call (two parses + one verify, each with its own limit in _verify_worker.py)
HARD_TIMEOUT_S = 60
POOL_WORKERS = int(os.environ.get("K2BENCH_GRADER_WORKERS", "0")) or max(1, min(4, os.cpu_count() or 1))

_UNITS = (
    r"(?:units?|cm|mm|km|m|meters?|inches|inch|feet|foot|ft|miles?|degrees?|deg|seconds?|minutes?|hours?"
    r"|days?|years?|dollars?|cents?|square|sq|cubic|kg|g|grams?|pounds?|lbs?)"
)
_TEXT_UNIT = re.compile(r"\\(?:text|mbox|mathrm)\{\s*" + _UNITS + r"(?:\^?\{?\d\}?)?\s*\}")
_BARE_UNIT = re.compile(r"(?<=\d)\s+" + _UNITS + r"(?:\^?\{?\d\}?)?\s*$", re.IGNORECASE)
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox|mathbf)\{([^{}]*)\}")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?:\.\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_SIMPLE_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_VARIABLE_PREFIX = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?=[^=])")


class GraderError(RuntimeError):
    """Raised when equivalence could not be decided (timeout, crash): the verdict becomes `error`."""


def normalize_answer(text: str) -> str:
    """Undo surface differences that are not mathematical (documented one by one in cases/math.jsonl)."""
    s = text.strip()
    s = s.replace("\u2212", "-").replace("\u2013", "-").replace("\u00a0", " ")  # unicode minus, nbsp
    s = re.sub(r"^\*\*(.*)\*\*$", r"\1", s)  # markdown bold around the whole answer
    s = s.strip().strip("$").strip()
    s = re.sub(r"^\\\(|\\\)$", "", s).strip()
    s = re.sub(r"^\\\[|\\\]$", "", s).strip()
    s = s.rstrip(".").strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\!", "").replace("\\displaystyle", "")
    s = _TEXT_UNIT.sub("", s)
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s)  # degrees
    s = s.replace("°", "")
    s = re.sub(r"\\?%$", "", s)
    s = _TEXT_WRAPPER.sub(r"\1", s).strip()
    s = _BARE_UNIT.sub("", s).strip()
    if _THOUSANDS.match(s):
        s = s.replace("{,}", "").replace("\\,", "").replace(",", "")
    s = s.replace("\\,", "").replace("\\ ", "").strip()
    if _INTEGER.match(s):
        s = str(int(s))  # leading zeros: AIME's "033" is 33
    return s


def _as_number(s: str) -> Fraction | None:
    if _SIMPLE_NUMBER.match(s):
        return Fraction(s)
    return None


def _strip_variable(s: str) -> str:
    """`x = 5` -> `5` (a single variable assigned a value), unless the right side is another equation."""
    return _VARIABLE_PREFIX.sub("", s, count=1)


def equivalent(pred: str, gold: str, timeout: float = HARD_TIMEOUT_S) -> tuple[bool, str]:
    """Decide mathematical equivalence of an extracted answer and a gold answer; returns (equal, reason)."""
    p, g = normalize_answer(pred), normalize_answer(gold)
    if p == g:
        return True, f"normalised strings equal ({p!r})"
    p_val, g_val = _strip_variable(p), _strip_variable(g)
    pn, gn = _as_number(p_val), _as_number(g_val)
    if pn is not None and gn is not None:
        return pn == gn, f"numbers compared exactly: {p_val} {'==' if pn == gn else '!='} {g_val}"
    if gn is not None and _INTEGER.match(g) and re.fullmatch(r"[+-]?[\d.,\s]+", p_val):
        # a malformed number (e.g. "1,00") against an integer gold: not equal, no need for sympy
        return False, f"{p_val!r} is not the integer {g}"
    ok = _verify_in_pool(g, p, timeout)
    return ok, f"math-verify: {p!r} {'≡' if ok else '≢'} {g!r}"


def grade_math(completion: str, gold: str, *, truncated: bool = False, timeout: float = HARD_TIMEOUT_S) -> Verdict:
    """Grade one completion against one gold answer (K2-Think extraction order, see extract.py).

    `truncated` says the generation stopped at max_tokens: it is reported as `truncated` (score 0) whatever
    was extracted, with the would-be answer kept in `extracted` so analysis can still inspect it.
    """
    ex = extract_answer(completion)
    if truncated:
        note = f"; it had extracted {ex.answer!r} via {ex.method}" if ex.answer is not None else ""
        return Verdict(0.0, "truncated", ex.answer, f"generation stopped at max_tokens{note}")
    if ex.answer is None:
        return Verdict(0.0, "no_answer", None, ex.reason)
    try:
        ok, why = equivalent(ex.answer, gold, timeout=timeout)
    except GraderError as err:
        return Verdict(0.0, "error", ex.answer, f"{ex.reason}; grader error: {err}")
    return (correct if ok else incorrect)(ex.answer, f"{ex.reason}; {why}")


# --- math-verify in worker processes -----------------------------------------------------------------
# Workers are plain subprocesses (`python -m suites.grading._verify_worker`) speaking JSON lines, not a
# multiprocessing pool: spawn-based pools re-import the caller's __main__, which breaks under scripts
# without a main guard, and fork-based pools copy inspect's threads and event loop.


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_REPO_ROOT, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "suites.grading._verify_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def ask(self, gold: str, pred: str, timeout: float) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"gold": gold, "pred": pred}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise BrokenPipeError("worker exited")
        return json.loads(line)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
_slots = threading.BoundedSemaphore(POOL_WORKERS)


def _verify_in_pool(gold: str, pred: str, timeout: float) -> bool:
    with _slots:
        try:
            worker = _idle.get_nowait()
        except queue.Empty:
            worker = _Worker()
        try:
            reply = worker.ask(gold, pred, timeout)
        except TimeoutError as err:
            worker.kill()
            raise GraderError(f"math-verify exceeded {timeout:.0f} s comparing {pred!r} with {gold!r}") from err
        except (BrokenPipeError, OSError, ValueError) as err:
            worker.kill()
            raise GraderError(f"math-verify worker died comparing {pred!r} with {gold!r}: {err}") from err
        _idle.put(worker)
    if "error" in reply:
        raise GraderError(reply["error"])
    return bool(reply["ok"])
