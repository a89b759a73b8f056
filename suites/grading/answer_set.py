"""Grading answers that are an unordered set of values (HMMT Feb 2025 problem 10: "list the two values").

A suite declares which problems ask for a set (suites/hmmt_feb2025/hmmt_feb2025.py); only those are graded here,
every other problem goes through `grade_math`. The answer is found with the usual extraction order
(suites/grading/extract.py) and then split into values:
  - top-level separators: `,` `;` `\\text{ and }` ` and ` ` or ` (never inside braces, brackets or parentheses);
  - an outer `\\{...\\}`, `[...]` or `(...)` around the whole list is dropped (order does not matter here);
  - a leading `x =` on a value is dropped;
  - `a \\pm b` (one `\\pm` or `\\mp`) stands for the two values `a + b` and `a - b`;
  - `\\boxed{u}, \\boxed{v}` at the end of the answer (boxes separated only by commas / "and") is one list:
    a model that boxes each value separately answered the list, not only its last value.
The values must match the gold values one to one (a multiset match through `equivalent`), in any order:
a missing, extra or repeated value is `incorrect`. Pure Python, no framework imports.
"""

from __future__ import annotations

import re

from suites.grading.extract import answer_region, extract_answer
from suites.grading.math_answer import GraderError, equivalent, normalize_answer
from suites.grading.verdict import Verdict, correct, incorrect

_OPEN, _CLOSE = "{[(", "}])"
_WORD_SEPARATOR = re.compile(r"\\text\{\s*(?:and|or)\s*\}|\s+(?:and|or)\s+")
# what may stand between two boxed values of one list, and after the last one
_BOX_GAP = re.compile(r"^[\s,;$]*(?:and|\\text\{\s*and\s*\}|\\quad|\\qquad)?[\s,;$]*$")
_BOX_TAIL = re.compile(r"^[\s$.]*(?:\\\])?[\s$.]*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?(?:\s*[+-]\s*[A-Za-z](?:_\{?\w+\}?)?)*\s*=\s*(?=[^=])")


def split_values(answer: str) -> list[str]:
    """Split a list answer into its values (see the module docstring for the rules)."""
    text = normalize_answer(answer)
    text = _strip_outer(text)
    text = _WORD_SEPARATOR.sub(",", text)
    values, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch in ",;" and depth == 0:
            values.append(text[start:i])
            start = i + 1
    values.append(text[start:])
    out: list[str] = []
    for value in (v.strip() for v in values):
        if not value:
            continue
        value = _ASSIGNMENT.sub("", value, count=1).strip()
        out.extend(_expand_pm(value))
    return out


def _strip_outer(text: str) -> str:
    text = text.strip()
    for opener, closer in (("\\{", "\\}"), ("{", "}"), ("[", "]"), ("(", ")")):
        if text.startswith(opener) and text.endswith(closer) and _balanced(text[len(opener) : -len(closer)]):
            return text[len(opener) : -len(closer)].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch in _OPEN
        depth -= ch in _CLOSE
        if depth < 0:
            return False
    return depth == 0


def _expand_pm(value: str) -> list[str]:
    signs = re.findall(r"\\(?:pm|mp)", value)
    if len(signs) != 1:
        return [value]
    first, second = ("+", "-") if signs[0] == "\\pm" else ("-", "+")
    return [value.replace(signs[0], first), value.replace(signs[0], second)]


def trailing_boxes(region: str) -> list[str]:
    """Contents of the run of `\\boxed{}` that ends the text, when only list separators stand between them."""
    boxes: list[tuple[int, int, str]] = []  # (start, end, content)
    for match in re.finditer(r"\\boxed\s*\{", region):
        depth = 0
        for j in range(match.end() - 1, len(region)):
            depth += (region[j] == "{") - (region[j] == "}")
            if depth == 0:
                boxes.append((match.start(), j + 1, region[match.end() : j]))
                break
    if not boxes or not _BOX_TAIL.match(region[boxes[-1][1] :]):
        return []
    run = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if box[1] > run[0][0] or not _BOX_GAP.match(region[box[1] : run[0][0]]):
            break
        run.insert(0, box)
    return [content for _, _, content in run] if len(run) > 1 else []


def extract_answer_list(completion: str) -> tuple[str | None, str]:
    """The answer text as for math, except that trailing separate boxes form one list."""
    region, _ = answer_region(completion)
    if region is not None:
        boxes = trailing_boxes(region)
        if boxes:
            return ", ".join(boxes), f"{len(boxes)} consecutive \\boxed{{}} at the end of the answer, read as one list"
    ex = extract_answer(completion)
    return ex.answer, ex.reason


def grade_answer_set(completion: str, gold: str, *, truncated: bool = False, timeout: float | None = None) -> Verdict:
    """Grade a completion whose answer is an unordered set of values against a comma-separated gold list."""
    answer, where = extract_answer_list(completion)
    if truncated:
        note = f"; it had extracted {answer!r}" if answer is not None else ""
        return Verdict(0.0, "truncated", answer, f"generation stopped at max_tokens{note}")
    if answer is None:
        return Verdict(0.0, "no_answer", None, where)
    predicted, expected = split_values(answer), split_values(gold)
    if len(predicted) != len(expected):
        return incorrect(answer, f"{where}; {len(predicted)} value(s) {predicted} given, {len(expected)} expected")
    unmatched = list(range(len(predicted)))
    try:
        for g in expected:
            hit = next((i for i in unmatched if _same(predicted[i], g, timeout)), None)
            if hit is None:
                return incorrect(answer, f"{where}; no given value equals {g!r} (values {predicted})")
            unmatched.remove(hit)
    except GraderError as err:
        return Verdict(0.0, "error", answer, f"{where}; grader error: {err}")
    return correct(answer, f"{where}; the {len(expected)} values match the gold set in some order")


def _same(pred: str, gold: str, timeout: float | None) -> bool:
    ok, _ = equivalent(pred, gold) if timeout is None else equivalent(pred, gold, timeout=timeout)
    return ok
