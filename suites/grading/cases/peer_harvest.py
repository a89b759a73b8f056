"""How the `peer case:` rows of math.jsonl were found: peers' answer-equivalence tests run through grade_math.

Reads the parametrised (gold, pred, expected) cases of Math-Verify's tests (huggingface/Math-Verify@5d148cf
tests/test_*.py) and NeMo-Skills' tests/test_math_equal.py (NVIDIA/NeMo-Skills@0b012df, both argument orders),
renders each as a K2 completion and prints where k2bench's verdict differs from the peer's expectation:
  bare   a bare predicted answer is boxed;      boxed  a completion with a \\boxed{} is graded as it is;
  prose  a completion without a box: K2's extraction order (extract.py) gives no_answer by design, so its last
         math span is also graded boxed, to test the answer's equivalence apart from where K2 looks for it.
The rows were then added by hand with k2bench's verdict and the reason where it deliberately differs.

    python suites/grading/cases/peer_harvest.py MATH_VERIFY_TESTS_DIR NEMO_SKILLS/tests/test_math_equal.py
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

from suites.grading.extract import last_boxed
from suites.grading.math_answer import grade_math

# test functions whose expectations depend on non-default Math-Verify settings (precision, set relations)
SKIP_FUNCTIONS = {"test_complex_math_expressions", "test_set_rel_assymetry", "test_float_precision",
                  "test_sqrt_precision", "test_symbols", "test_precision"}  # fmt: skip
PROSE = re.compile(r"\b(the|is|are|answer|so|which|therefore|thus|we|then|hence|since|final|not)\b", re.IGNORECASE)
SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)


def parametrized(path: Path):
    """(function name, case tuple) for every literal case of every @pytest.mark.parametrize in a file."""
    for fn in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            if len(dec.args) < 2 or not isinstance(dec.args[1], ast.List):
                continue
            for elt in dec.args[1].elts:
                try:
                    yield fn.name, ast.literal_eval(elt)
                except ValueError:  # (5 / 2, "\\frac{5}{2}"): arithmetic of constants
                    try:
                        yield fn.name, eval(compile(ast.Expression(elt), "case", "eval"), {"__builtins__": {}})
                    except Exception:
                        continue


def unwrap(s: str) -> str:
    s = s.strip()
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        inner = s[len(opener) : -len(closer)]
        if s.startswith(opener) and s.endswith(closer) and inner and opener not in inner:
            return inner.strip()
    return s


def render(gold: str, pred: str) -> tuple[str | None, str, str]:
    if "\\boxed" in gold:
        parts, rest = [], gold
        while "\\boxed" in rest:
            parts.insert(0, last_boxed(rest) or "")
            rest = rest[: rest.rfind("\\boxed")]
        gold = ", ".join(parts)
    else:
        gold = unwrap(gold)
    if len(gold) > 200:
        return None, pred, "gold is a whole solution"
    if "\\boxed" in pred:
        return gold, pred, "boxed"
    p = unwrap(pred)
    if any(d in p for d in ("$", "\\[", "\\(")) or len(p) > 150 or PROSE.search(re.sub(r"\\[a-zA-Z]+", "", p)):
        return gold, pred, "prose"
    return gold, f"\\boxed{{{p}}}", "bare"


def main(argv: list[str]) -> int:
    math_verify_tests, nemo_test = Path(argv[0]), Path(argv[1])
    cases = []
    for path in sorted(math_verify_tests.glob("test_*.py")):
        for name, case in parametrized(path):
            if name not in SKIP_FUNCTIONS and len(case) == 3 and all(isinstance(x, str) for x in case[:2]):
                cases.append((f"Math-Verify {path.name}::{name}", case[0], case[1], int(case[2])))
    for name, pair in parametrized(nemo_test):
        if None not in pair:
            for gold, pred in ((pair[0], pair[1]), (pair[1], pair[0])):
                cases.append((f"NeMo-Skills {nemo_test.name}::{name}", str(gold), str(pred), int(name == "test_correct_examples")))
    tally = Counter()
    for source, gold, pred, expected in cases:
        gold, completion, how = render(gold, pred)
        if gold is None:
            tally[(how, None)] += 1
            continue
        want = "correct" if expected else "incorrect"
        got = grade_math(completion, gold).status
        if how == "prose" and SPAN.search(pred):
            span = next(g for g in list(SPAN.finditer(pred))[-1].groups() if g is not None).strip()
            got = grade_math(f"\\boxed{{{span}}}", gold).status
            how = "prose, last math span"
        tally[(how, got == want)] += 1
        if got != want:
            print(f"{source}: gold {gold!r}, {how} {completion[-80:]!r}: peer expects {want}, k2bench {got}")
    print(dict(tally))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
