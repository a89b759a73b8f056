"""A Math-Verify worker process: reads {"gold", "pred"} JSON lines on stdin, answers {"ok"} or {"error"}.

Started by suites/grading/math_answer.py. Math-Verify runs here on the process's main thread, so its own
`signal.alarm` timeouts work; the parent adds a hard deadline and kills a worker that exceeds it.
"""

from __future__ import annotations

import json
import sys

# Math-Verify's limits are wall-clock (signal.alarm): generous enough that a loaded 2-core machine does not turn
# a slow parse of a long gold into "could not parse" (seen at load 16 with 5 s), tight enough to stop a runaway.
PARSE_TIMEOUT_S = 20
VERIFY_TIMEOUT_S = 20


def check(gold: str, pred: str) -> dict[str, object]:
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$", parsing_timeout=PARSE_TIMEOUT_S)
    if not gold_parsed:
        return {"error": f"math-verify could not parse the gold answer {gold!r}"}
    pred_parsed = parse(f"${pred}$", parsing_timeout=PARSE_TIMEOUT_S)
    if not pred_parsed:
        return {"ok": False}
    # gold first: Math-Verify's verify() is not symmetric (open-r1 once reversed it, peers.md §2)
    ok = bool(verify(gold_parsed, pred_parsed, timeout_seconds=VERIFY_TIMEOUT_S))
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


def main() -> None:
    import math_verify  # noqa: F401  (pay sympy's import once, before the first request)

    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = check(request["gold"], request["pred"])
        except Exception as err:  # a crash on one pair must not kill the worker; the parent reports it
            reply = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
