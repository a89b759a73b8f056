"""Math answer grading: normalisation, exact fast paths, then math-verify equivalence off the main thread.

`grade_math(completion, gold)` is the one function that decides whether a math completion is correct; the
inspect scorer (suites/grading/scorers.py) and the TRL reward (training/rewards.py) both call it.

Equivalence goes through HuggingFace Math-Verify (`parse` + `verify`, gold first: open-r1 once reversed the
arguments, peers.md §2). Math-Verify's own timeouts use `signal.alarm`, which only works on a process's main
thread; inspect scores on worker threads. So symbolic checks run in a small process pool whose workers call
Math-Verify on *their* main thread with its timeouts on, and the pool itself has a hard deadline: a worker
that exceeds it is killed and the verdict is `error` with the reason, never `incorrect`.
Cheap cases (equal normalised strings, two integers) never reach the pool, so AIME grading is instant.

Normalisation (`normalize_answer`, applied to the answer and the gold alike) follows Math-Verify's
latex2sympy2_extended normalisation where the peers agree, each rule with its case rows in cases/math.jsonl:
a sentence is read for the value it states, a trailing text unit is dropped with its superscript, percent words
are `%`, `,\\!` / `{,}` / a space / `\\ ` separate thousands, a matrix row separator `\\\\` is never taken for a
control space. Where k2bench deliberately differs from the peers (the last box only, a box before an Answer:
line, no answer without a marker, a decimal comma never) the case table says so ("peer case" rows).
Cost bound (MAX_NUMBER_DIGITS, MAX_VALUE_DIGITS): a number too long to convert, or a power/factorial too large to
evaluate, is decided by size or reported as `error` before sympy sees it. A grader error is never an exception
for the caller: `equivalent` raises only GraderError and `grade_math` returns a Verdict for any completion.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import select
import subprocess
import sys
import threading
import time
from fractions import Fraction

from suites.grading.extract import extract_answer
from suites.grading.verdict import Verdict, correct, incorrect

# hard deadline around one worker call (two parses + one verify, each with its own limit in _verify_worker.py)
HARD_TIMEOUT_S = 60
POOL_WORKERS = int(os.environ.get("K2BENCH_GRADER_WORKERS", "0")) or max(1, min(4, os.cpu_count() or 1))

# ---- normalisation ---------------------------------------------------------------------------------------
# Units a model may write after a number, bare or inside \text{}/\mbox{}/\mathrm{} (with ^2 or ^3 after them).
_UNITS = (
    r"(?:units?|cm|mm|km|m|meters?|metres?|inches|inch|feet|foot|ft|yards?|yd|miles?|mph|kmh|degrees?|deg"
    r"|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?|dollars?|cents?|square|sq"
    r"|cubic|cu|kg|g|grams?|mg|pounds?|lbs?|oz|ounces?|liters?|litres?|ml|gallons?|acres?|hectares?|MB|GB|KB)"
)
# a unit written as text after the value: `\text{ cm}^2`, `\mbox{ inches}^2`, `\mathrm{~km} / \mathrm{h}`; the
# superscript belongs to the unit (issue 15: `15\mbox{ cm}^2` lost the unit but kept `^2`, so it read 15^2)
_UNIT_POWER = r"(?:\s*\^\s*(?:\{\s*-?\d\s*\}|-?\d)|\{\^\d\})?"
_TEXT_ATOM = r"\\(?:text|mbox|textnormal|textrm|textit|mathrm)\s*\{\s*~?\s*(?P<word>[A-Za-z][A-Za-z .~-]*?)\s*\}"
_TEXT_ANNOTATION = re.compile(
    r"(?P<atoms>(?:\s*(?:/|\\cdot|\\,|\\;)?\s*" + _TEXT_ATOM.replace("?P<word>", "?:") + _UNIT_POWER + r")+)\s*$"
)
_ATOM_WORD = re.compile(_TEXT_ATOM)
_TEXT_UNIT = re.compile(r"\\(?:text|mbox|mathrm)\{\s*~?\s*" + _UNITS + r"\s*\}" + _UNIT_POWER)
# words that change the value they follow: never dropped as a unit ("5 thousand" is not 5)
_MEANINGFUL_WORDS = frozenset(
    "thousand thousands million millions billion billions trillion trillions hundred hundreds dozen dozens half "
    "squared cubed or and not less more least most only if times".split()
)
_FUNCTION_NAMES = frozenset("sin cos tan cot sec csc log ln exp arcsin arccos arctan sinh cosh tanh mod lcm gcd".split())
_BARE_UNIT = re.compile(r"(?<=\d)\s+" + _UNITS + r"(?:\^?\{?\d\}?)?\s*$", re.IGNORECASE)
# plain words after a number that are not on the unit list: "7 apples", "12 red marbles", "3 ways"
_BARE_WORDS = re.compile(r"(?<=[\d}])\s+(?P<words>[A-Za-z]{3,}(?:\s+[A-Za-z]{2,}){0,2})\s*$")
_PERCENT_WORD = re.compile(
    r"\s*(?:\\(?:text|mbox|mathrm)\s*\{\s*(?:percent(?:age)?|per\s?cent|pct)\s*\}|\b(?:percent(?:age)?|per\s?cent|pct)\b)"
    r"\s*$",
    re.IGNORECASE,
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?(?:\s*(?:\\mathrm\{\s*[CF]\s*\}|[CF](?![A-Za-z])))?")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textnormal|textrm|mathrm|mbox|mathbf)\{([^{}]*)\}")
# one thousands separator, used consistently: `,` `{,}` `\,` `\ ` `~` or a plain space (issue 15: `1 000`)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?P<sep>,|\{,\}|\\,|\\ |~| )\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?$")
# control symbols that are spacing only; `\\` (a matrix row separator) is matched first so it is kept whole
_SPACING = re.compile(r"(\\\\)|\\[,;: ]")
_NEGATIVE_SPACE = re.compile(r"(\\\\)|\\!\s*")
_MARKED_THOUSANDS = re.compile(r"(?<=\d)(?:,\\!\s*|\{,\})(?=\d{3}(?!\d))")
_DOUBLED_COMMAND = re.compile(r"\\\\(?=[a-zA-Z])")
_MATRIX_BRACKETS = (
    (re.compile(r"\\left\s*\[\s*\\begin\{matrix\}"), r"\\begin{bmatrix}"),
    (re.compile(r"\\end\{matrix\}\s*\\right\s*\]"), r"\\end{bmatrix}"),
    (re.compile(r"\\left\s*\(\s*\\begin\{matrix\}"), r"\\begin{pmatrix}"),
    (re.compile(r"\\end\{matrix\}\s*\\right\s*\)"), r"\\end{pmatrix}"),
)
_SIZING = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![a-zA-Z])")
# `\frac` whose arguments are single tokens (a digit, a letter, a command) rather than groups: `\frac2\pi`, `\frac12`
_FRAC_ARG = r"(\{[^{}]*\}|\\[a-zA-Z]+|[0-9A-Za-z])"
_BARE_FRAC = re.compile(r"\\frac\s*" + _FRAC_ARG + r"\s*" + _FRAC_ARG)
# a remark in parentheses after the value: `\frac{737}{39}\;\text{(about }18.9\text{ cards)}` (MathArena's
# parse_manual maps such answers to the value; it drops all \text)
_TRAILING_REMARK = re.compile(r"\s*(?:\\q?quad|\\[,;:]|~)*\s*\\text\{\s*\(.*$", re.DOTALL)
_INTEGER = re.compile(r"^[+-]?\d+$")
_SIMPLE_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_VARIABLE_PREFIX = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?=[^=])")


class GraderError(RuntimeError):
    """Raised when equivalence could not be decided (timeout, crash): the verdict becomes `error`."""


# An answer written as a sentence ("The smallest value is 12.", Minerva's "The final answer is $28\\%$. I hope it
# is correct."): it starts with two words, and states its value after a copula or in inline math.
_PROSE_START = re.compile(r"^[A-Za-z]{2,}\s+[A-Za-z]{2,}\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_COPULA = re.compile(r"\s(?:is|are|equals|was|were)\s+", re.IGNORECASE)
_CONTROL_SPACE = re.compile(r"(?<!\\)\\ ")
_INLINE_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)", re.DOTALL)


def stated_value(text: str) -> str:
    """The value a one-sentence answer states, or the text unchanged when it is not a sentence.

    Only the first sentence counts (a Minerva-style "I hope it is correct." is dropped); the value is what follows
    its last copula (is/are/equals/was/were), else its last inline math span. A sentence with neither (e.g.
    "Devon and Evelyn") is left as it is. Applied to the gold as well, so a gold written as a sentence (4 in
    Omni-MATH's rule subset) compares by its value too.
    """
    s = _CONTROL_SPACE.sub(" ", text.strip())  # `The\\ area\\ of\\ ...`: words spaced with `\\ `
    if not _PROSE_START.match(s):
        return text
    sentence = _SENTENCE_END.split(s, maxsplit=1)[0].strip()
    copulas = list(_COPULA.finditer(sentence))
    if copulas:
        value = sentence[copulas[-1].end() :]
    else:
        spans = list(_INLINE_MATH.finditer(sentence))
        if not spans:
            return text
        value = next(g for g in spans[-1].groups() if g is not None)
    value = _INLINE_MATH.sub(lambda m: next(g for g in m.groups() if g is not None), value)
    value = value.strip().rstrip(".").strip()
    return value or text


def _brace_frac(match: re.Match) -> str:
    numerator, denominator = (a if a.startswith("{") else "{" + a + "}" for a in match.groups())
    return f"\\frac{numerator}{denominator}"


def _strip_unit_annotation(s: str) -> str:
    """Drop a unit written as text after the value (`7\\text{ apples}`, `864 \\mbox{ inches}^2`).

    As Math-Verify's unit rule (latex2sympy2_extended `unit_superscript_regex`), any trailing `\\text{...}` counts,
    not only the words on the unit list, with its superscript; but a word that changes the value ("thousand",
    "squared", "or more") is kept, and a single-letter `\\mathrm{e}` / `\\text{i}` is math, not a unit.
    """
    match = _TEXT_ANNOTATION.search(s)
    if match is None:
        return s
    head = s[: match.start()].rstrip()
    words = [m.group("word").replace("~", " ").strip() for m in _ATOM_WORD.finditer(match.group("atoms"))]
    for word in words:
        tokens = word.lower().split()
        if not tokens or any(t in _MEANINGFUL_WORDS for t in tokens):
            return s
        if len(word) == 1 and len(words) == 1 and not re.fullmatch(_UNITS, word):
            return s  # a lone `\\mathrm{e}`; in `\\mathrm{ft} / \\mathrm{s}` the letter is part of a unit
    if not head or not re.search(r"[\w})\]!%.]$", head):
        return s  # nothing before it, or an operator: the text is the answer itself
    return head


def _strip_bare_words(s: str) -> str:
    """`7 apples` -> `7`: plain words after a number (not function names, not words that change the value)."""
    match = _BARE_WORDS.search(s)
    if match is None:
        return s
    tokens = match.group("words").lower().split()
    if any(t in _MEANINGFUL_WORDS or t in _FUNCTION_NAMES for t in tokens):
        return s
    return s[: match.start()].rstrip()


def _drop_leading_zeros(s: str) -> str:
    """`033` -> `33`, `+5` -> `5`, `-0` -> `0`, on the string (int() refuses more than 4,300 digits)."""
    sign, digits = ("-", s[1:]) if s[0] in "+-" else ("", s)
    if s[0] == "+":
        sign = ""
    digits = digits.lstrip("0") or "0"
    return digits if digits == "0" else sign + digits


def normalize_answer(text: str) -> str:
    """Undo surface differences that are not mathematical (documented one by one in cases/math.jsonl)."""
    s = text.strip()
    if _INTEGER.match(s):  # most answers and AIME golds: none of the rules below applies
        return _drop_leading_zeros(s)
    s = s.replace("\u2212", "-").replace("\u2013", "-").replace("\u00a0", " ")  # unicode minus, nbsp
    s = re.sub(r"^\*\*(.*)\*\*$", r"\1", s)  # markdown bold around the whole answer
    s = stated_value(s)
    s = s.strip().strip("$").strip()
    s = re.sub(r"^\\\(|\\\)$", "", s).strip()
    s = re.sub(r"^\\\[|\\\]$", "", s).strip()
    s = s.rstrip(".").strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    if "\\begin{" in s:
        for pattern, replacement in _MATRIX_BRACKETS:  # before \left/\right go: [\begin{matrix}] is a bmatrix
            s = pattern.sub(replacement, s)
    else:  # `\\frac` written with a doubled backslash (Omni-MATH golds; Math-Verify's command_slash_fix)
        s = _DOUBLED_COMMAND.sub(r"\\", s)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = _SIZING.sub("", s)  # \bigl( \Bigr] ... size a delimiter, as \left/\right do (MathArena drops them too)
    s = _BARE_FRAC.sub(_brace_frac, s)  # `\frac2\pi` is \frac{2}{\pi}: TeX takes one token per argument
    remark = _TRAILING_REMARK.search(s)
    if remark and remark.start() > 0:  # a remark after a value; a whole answer `\text{(C)}` is kept
        s = s[: remark.start()]
    # `\!` is a negative thin space; `12,\! 345` is 12345 (TeX ignores the space in math mode; Math-Verify drops
    # `\!\s*` too). The row separator `\\` is kept whole (issue 15: `\\ 3` used to become `\3`).
    # `,\!` and `{,}` between digit groups are TeX's thousands separators wherever they stand, also inside a sum
    # (`12,\!000,\!003 + 20`); a bare `,` there may separate values, so it is only read so for a whole number
    s = _MARKED_THOUSANDS.sub("", s)
    s = _NEGATIVE_SPACE.sub(lambda m: m.group(1) or "", s)
    s = s.replace("\\$", "")  # an escaped dollar is a currency sign (`\$18.90`), as Math-Verify drops it
    s = _PERCENT_WORD.sub("%", s)  # `28 percent`, `28 pct` -> `28%` (Math-Verify's percent synonyms)
    s = _DEGREES.sub("", s)
    s = s.replace("°", "")
    s = re.sub(r"\s*\\?%$", "", s)
    s = _strip_unit_annotation(s).strip()
    s = _TEXT_UNIT.sub("", s)  # a listed unit anywhere: `5 \text{ cm} \times 3 \text{ cm}`
    s = _TEXT_WRAPPER.sub(r"\1", s).strip()
    s = _BARE_UNIT.sub("", s).strip()
    s = _strip_bare_words(s)
    if _THOUSANDS.match(s):
        s = re.sub(r"\{,\}|\\,|\\ |[,~ ]", "", s)
    s = _SPACING.sub(lambda m: m.group(1) or "", s).strip()
    if _INTEGER.match(s):
        s = _drop_leading_zeros(s)  # AIME's "033" is 33
    return s


# ---- cost bound ----------------------------------------------------------------------------------------------
# Two limits keep one answer from holding a grader for minutes (issue 15):
#  - a literal number longer than MAX_NUMBER_DIGITS is not compared: Python refuses int() of more than 4,300
#    digits by default (its guard against quadratic-time conversion, CVE-2020-10735), no gold in the mirror comes
#    near it, and such digit runs are a degenerate generation (a known failure of long reasoning). Status `error`.
#  - a computed number (power, factorial) that would have more than MAX_VALUE_DIGITS digits is never handed to
#    sympy, which evaluates integer powers eagerly (`9^{9^{9^9}}` took 21 s; `10^{10^{10}}` would need 10 GB).
#    Where size alone decides (a tower of integers >= 2 against a plain-number gold) the verdict is `incorrect`,
#    otherwise `error`. 100,000 digits keeps 2006! (5,700 digits, a trap row of the case table) exact.
MAX_NUMBER_DIGITS = 4300
MAX_VALUE_DIGITS = 100_000
_DIGIT_RUN = re.compile(r"\d{" + str(MAX_NUMBER_DIGITS + 1) + ",}")
_SIZE_TOKEN = re.compile(r"\\[a-zA-Z]+|\\\\|\d+(?:\.\d*)?|\.\d+|\S")
_TERM_END = frozenset(("+", "-", ")", "}", "]", ",", ";", "=", "&", "\\\\", "<", ">"))
_LOG10_E = math.log10(math.e)


class _TooLarge(Exception):
    def __init__(self, expr: str, digits: float):
        super().__init__(expr)
        self.expr, self.digits = expr, digits


class _SizeParser:
    """log10 |value| of a numeric LaTeX expression, estimated without evaluating it.

    A small precedence parser over + - * / ^ ! \\frac \\cdot \\times and groups. A symbol or a function makes its
    node symbolic (None); that is enough, since only numeric powers and factorials blow up. Raises _TooLarge at
    the first power or factorial whose value would have more than MAX_VALUE_DIGITS digits.
    """

    def __init__(self, text: str):
        self.text = text
        self.tokens = [(m.group(0), m.start()) for m in _SIZE_TOKEN.finditer(text)]
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self) -> str:
        self.i += 1
        return self.tokens[self.i - 1][0]

    def span(self, start: int) -> str:
        first, last = self.tokens[start], self.tokens[self.i - 1]
        return self.text[first[1] : last[1] + len(last[0])]

    def parts(self) -> None:
        """Every part of the answer (lists, equations, intervals are split at their separators)."""
        while self.peek() is not None:
            self.expr()
            if self.peek() is not None:
                self.take()

    def expr(self) -> float | None:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            other = self.term()
            value = None if value is None or other is None else max(value, other) + (math.log10(2) if op == "+" else 0)
        return value

    def term(self) -> float | None:
        value = self.unary()
        while self.peek() is not None and self.peek() not in _TERM_END:
            op = self.peek()
            if op in ("*", "/", "\\cdot", "\\times", "\\div"):
                self.take()
            other = self.unary()
            if value is not None and other is not None:
                value = value - other if op in ("/", "\\div") else value + other
            else:
                value = None
        return value

    def unary(self) -> float | None:
        while self.peek() in ("-", "+"):
            self.take()
        return self.power()

    def power(self) -> float | None:
        start = self.i
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take()
        exponent = self.unary()  # right-associative: 9^9^9 is 9^(9^9)
        if base is None or exponent is None:
            return None
        if base == -math.inf:  # 0^n
            return base
        digits = abs(base) * (10.0**exponent if exponent < 300 else math.inf) if base else 0.0
        if digits > MAX_VALUE_DIGITS:
            raise _TooLarge(self.span(start), digits)
        return math.copysign(digits, base) if base else 0.0

    def postfix(self) -> float | None:
        start = self.i
        value = self.atom()
        while self.peek() == "!":
            self.take()
            if value is None:
                continue
            n = 10.0**value if value < 300 else math.inf
            digits = n * (value - _LOG10_E) if n > 2 else 0.0  # Stirling: log10 n! ~ n log10(n/e)
            if digits > MAX_VALUE_DIGITS:
                raise _TooLarge(self.span(start), digits)
            value = max(digits, 0.0)
        return value

    def atom(self) -> float | None:
        token = self.peek()
        if token is None:
            return None
        self.take()
        if token in ("(", "{", "["):
            value = self.expr()
            while self.peek() is not None and self.peek() not in (")", "}", "]"):
                self.take()  # the rest of a tuple or list inside the group
                self.expr()
                value = None
            if self.peek() is not None:
                self.take()
            return value
        if token == "\\frac":
            numerator, denominator = self.atom(), self.atom()
            return None if numerator is None or denominator is None else numerator - denominator
        if token[0].isdigit() or token[0] == ".":
            return _log10_literal(token)
        return None  # a symbol, a command or a stray bracket: not a number


def _log10_literal(token: str) -> float:
    whole = token.split(".")[0].lstrip("0")
    if whole:
        return len(whole) - 1 + math.log10(float(whole[:15]) / 10 ** (min(len(whole), 15) - 1))
    value = float(token)
    return math.log10(value) if value > 0 else -math.inf


def _too_large(text: str) -> _TooLarge | None:
    """The first power or factorial of the answer that is too large to evaluate, or None."""
    if "^" not in text and "!" not in text:  # only powers and factorials blow up: most answers skip the parse
        return None
    try:
        _SizeParser(text).parts()
    except _TooLarge as big:
        return big
    except RecursionError:  # absurdly deep nesting: leave it to math-verify and its limits
        return None
    return None


_HUGE_POSITIVE = re.compile(r"(?:\\cdot|\\times|[2-9]|[1-9]\d+|[\s+*^!(){}])+")


def _show(text: str, limit: int = 120) -> str:
    """An answer for a reason string, shortened (a 5,000-digit answer is not repeated in full)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit // 2] + " ... " + text[-limit // 4 :]) + f" ({len(text)} chars)"


def _cost_bound(p: str, g: str) -> tuple[bool, str] | None:
    """A verdict when an answer is too large to compare, None when the comparison may go ahead.

    Raises GraderError when it cannot be decided within the bound (see MAX_NUMBER_DIGITS, MAX_VALUE_DIGITS).
    """
    for side, text in (("answer", p), ("gold", g)):
        run = _DIGIT_RUN.search(text) if len(text) > MAX_NUMBER_DIGITS else None
        if run:
            raise GraderError(
                f"the {side} contains a {len(run.group(0))}-digit number; numbers longer than {MAX_NUMBER_DIGITS} "
                "digits are not compared (Python's int-string limit; a digit run that long is a degenerate output)"
            )
    for side, text, other in (("answer", p, g), ("gold", g, p)):
        big = _too_large(text)
        if big is None:
            continue
        digits = "more than 10^300" if math.isinf(big.digits) else f"about {big.digits:.3g}"
        what = f"{_show(big.expr)} in the {side} would have {digits} digits (limit {MAX_VALUE_DIGITS:,})"
        # integers >= 2 joined by + * ^ ! are at least as large as any part: a plain-number other side differs
        if _HUGE_POSITIVE.fullmatch(text) and _as_number(_strip_variable(other)) is not None:
            return False, f"decided without evaluating: {what}, the other side is the number {_show(other)}"
        raise GraderError(f"not evaluated: {what}")
    return None


def _as_number(s: str) -> Fraction | None:
    if _SIMPLE_NUMBER.match(s):
        return Fraction(s)
    return None


def _strip_variable(s: str) -> str:
    """`x = 5` -> `5` (a single variable assigned a value), unless the right side is another equation."""
    return _VARIABLE_PREFIX.sub("", s, count=1)


def equivalent(pred: str, gold: str, timeout: float = HARD_TIMEOUT_S) -> tuple[bool, str]:
    """Decide mathematical equivalence of an extracted answer and a gold answer; returns (equal, reason).

    Raises GraderError, and only GraderError, when it cannot decide: callers that compare answers (maj@n in
    systems/best_of_n.py, answer sets) catch that one exception.
    """
    try:
        return _equivalent(pred, gold, timeout)
    except GraderError:
        raise
    except Exception as err:  # a bug met by one input: undecided with the cause, never a crash of the caller
        raise GraderError(f"grader crashed: {type(err).__name__}: {str(err)[:300]}") from err


def _equivalent(pred: str, gold: str, timeout: float) -> tuple[bool, str]:
    p, g = normalize_answer(pred), normalize_answer(gold)
    if p == g:
        return True, f"normalised strings equal ({_show(p)})"
    decided = _cost_bound(p, g)
    if decided is not None:
        return decided
    p_val, g_val = _strip_variable(p), _strip_variable(g)
    pn, gn = _as_number(p_val), _as_number(g_val)
    if pn is not None and gn is not None:
        return pn == gn, f"numbers compared exactly: {p_val} {'==' if pn == gn else '!='} {g_val}"
    if gn is not None and _INTEGER.match(g) and re.fullmatch(r"[+-]?[\d.,\s]+", p_val):
        # a malformed number (e.g. "1,00") against an integer gold: not equal, no need for sympy
        return False, f"{p_val!r} is not the integer {g}"
    ok = _verify_in_pool(g, p, timeout)
    return ok, f"math-verify: {_show(p)} {'≡' if ok else '≢'} {_show(g)}"


def grade_math(completion: str, gold: str, *, truncated: bool = False, timeout: float = HARD_TIMEOUT_S) -> Verdict:
    """Grade one completion against one gold answer (K2-Think extraction order, see extract.py).

    `truncated` says the generation stopped at max_tokens: it is reported as `truncated` (score 0) whatever
    was extracted, with the would-be answer kept in `extracted` so analysis can still inspect it.
    """
    ex = extract_answer(completion)
    if truncated:
        note = f"; it had extracted {_show(ex.answer)} via {ex.method}" if ex.answer is not None else ""
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
        started = time.monotonic()
        self.proc.stdin.write(json.dumps({"gold": gold, "pred": pred}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        # the deadline counts from the request: a reply that was already waiting when this thread got the CPU
        # back (a loaded machine) but came after the deadline is still too late
        if not ready or time.monotonic() - started > timeout:
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
