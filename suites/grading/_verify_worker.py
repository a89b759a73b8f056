"""A Math-Verify worker process: reads {"gold", "pred"} JSON lines on stdin, answers {"ok"} or {"error"}.

Started by suites/grading/math_answer.py. Math-Verify runs here on the process's main thread, so its own
`signal.alarm` timeouts work; the parent adds a hard deadline and kills a worker that exceeds it.
Math-Verify swallows its own timeouts (it logs a warning and returns "not parsed" / "not equal"); a timeout is
reported here as an error instead, so that a slow comparison is never silently an `incorrect`.
"""

from __future__ import annotations

import json
import logging
import resource
import sys

# Math-Verify's limits are wall-clock (signal.alarm): generous enough that a loaded 2-core machine does not turn
# a slow parse of a long gold into "could not parse" (seen at load 16 with 5 s), tight enough to stop a runaway.
PARSE_TIMEOUT_S = 20
VERIFY_TIMEOUT_S = 20
# Address-space cap: a runaway sympy evaluation fails with MemoryError (reported as an error) instead of taking
# the shared machine's memory before the parent's deadline kills it. A worker with sympy loaded maps ~0.1 GiB.
MEMORY_LIMIT_BYTES = 2 * 1024**3
# numbers up to this many digits may pass through str() inside sympy/Math-Verify (the parent lets computed values of
# up to math_answer.MAX_VALUE_DIGITS through); Python's default of 4,300 would raise on 2006!'s 5,700 digits
INT_MAX_STR_DIGITS = 200_000


class _TimeoutFlag(logging.Handler):
    """Records Math-Verify's "Timeout during parsing/comparison" warnings for the current request."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Timeout during"):
            self.messages.append(message.split(":", 1)[0])


TIMEOUTS = _TimeoutFlag()


def check(gold: str, pred: str) -> dict[str, object]:
    from math_verify import parse, verify

    TIMEOUTS.messages.clear()
    gold_parsed = parse(f"${gold}$", parsing_timeout=PARSE_TIMEOUT_S)
    if TIMEOUTS.messages:
        return {"error": f"math-verify timed out ({PARSE_TIMEOUT_S} s) parsing the gold answer {gold[:200]!r}"}
    if not gold_parsed:
        return {"error": f"math-verify could not parse the gold answer {gold[:200]!r}"}
    pred_parsed = parse(f"${pred}$", parsing_timeout=PARSE_TIMEOUT_S)
    if TIMEOUTS.messages:
        return {"error": f"math-verify timed out ({PARSE_TIMEOUT_S} s) parsing the answer {pred[:200]!r}"}
    if not pred_parsed:
        return {"ok": False}
    # gold first: Math-Verify's verify() is not symmetric (open-r1 once reversed it, peers.md §2)
    ok = bool(verify(gold_parsed, pred_parsed, timeout_seconds=VERIFY_TIMEOUT_S))
    if not ok and TIMEOUTS.messages:
        return {"error": f"math-verify timed out ({VERIFY_TIMEOUT_S} s) comparing {pred[:200]!r} with {gold[:200]!r}"}
    if ok and _distinct_rationals(gold_parsed[0], pred_parsed[0]):
        # verify() compares numbers after rounding to 6 digits, which makes 1/2004! equal 1/2006!;
        # two exact rationals are compared exactly instead
        return {"ok": False}
    return {"ok": ok}


def _distinct_rationals(a: object, b: object) -> bool:
    """True when both sides are exact numbers (no floats, no symbols) that evaluate to different rationals."""
    from sympy import Basic, Float

    if not (isinstance(a, Basic) and isinstance(b, Basic) and a.is_number and b.is_number):
        return False
    if a.has(Float) or b.has(Float):
        return False
    a, b = a.doit(), b.doit()
    return bool(a.is_Rational and b.is_Rational and a != b)


def _limit_memory() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_LIMIT_BYTES:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, hard))


def main() -> None:
    sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)
    _limit_memory()
    import math_verify  # noqa: F401  (pay sympy's import once, before the first request)

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addHandler(TIMEOUTS)
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line.decode("utf-8", errors="replace"))
            reply = check(request["gold"], request["pred"])
        except Exception as err:  # a crash on one pair must not kill the worker; the parent reports it
            reply = {"error": f"{type(err).__name__}: {str(err)[:500]}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
