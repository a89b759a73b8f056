"""Multiple-choice grading (GPQA-Diamond): extract the chosen letter, compare it with the gold letter.

Extraction follows the same documented order as math (suites/grading/extract.py), then reads a letter
out of what was found:
  1. drop the reasoning: only the text after the last `</think>` counts; an unclosed `<think>` means
     no answer;
  2. the last `\\boxed{...}`; else the last `<answer>` (closing tag optional); else the last `Answer:`
     line (the simple-evals/K2 strict format, `Answer: X`);
  3. else the last parenthesised letter `(X)` in the answer region (the authors' "flexible" GPQA rule,
     LLM360/Reasoning360 `gpqa.py`);
  4. what was found must name exactly one option letter: `C`, `(C)`, `C)`, `C.`, `\\text{C}`,
     `Option C`, `C) <option text>`. Several different letters ("A or C") or a letter outside the
     options is `no_answer` with the reason, never `incorrect`: the grader could not tell what was chosen.
Pure Python, no framework imports.
"""

from __future__ import annotations

import re

from suites.grading.extract import answer_line, answer_region, answer_tag, last_boxed
from suites.grading.verdict import Verdict, correct, incorrect

LETTERS = "ABCDEFGHIJ"
# wrappers a model puts around a letter: \text{C}, \textbf{C}, \mathrm{C}, **C**, $C$
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
# the whole candidate is one letter, possibly decorated: "C", "(C)", "C)", "C.", "[C]", "Option C", "choice (C)"
_BARE = re.compile(r"^(?:(?:the\s+)?(?:option|choice|answer)\s*(?:is\s*)?:?\s*)?[(\[]?([A-Z])[)\].:]?$", re.IGNORECASE)
# a letter followed by the option's text: "C) 4.2 eV", "(C) 4.2 eV", "C. 4.2 eV", "C: 4.2 eV"
_LEADING = re.compile(r"^(?:(?:option|choice)\s*)?[(\[]?([A-Z])(?:[)\]]|[.:]\s|\)\s)")
_PAREN = re.compile(r"\(([A-Z])\)")


def letter_of(candidate: str, n_choices: int) -> tuple[str | None, str]:
    """The single option letter a candidate names, or None with the reason."""
    text = _WRAPPER.sub(r"\1", candidate)
    text = text.replace("**", "").replace("$", "").strip().rstrip(".").strip()
    valid = LETTERS[:n_choices]
    if len(text) == 1 and text.upper() in LETTERS:
        letter = text.upper()  # a lone lower-case letter is still unambiguous
    else:
        match = _BARE.match(text) or _LEADING.match(text)
        if match is None or not match.group(1).isupper():
            named = sorted(set(re.findall(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])", text)) & set(valid))
            if len(named) > 1:
                return None, f"{candidate!r} names several options ({', '.join(named)})"
            return None, f"{candidate!r} does not name an option letter"
        letter = match.group(1)
        # "C) 4.2 eV or D) 5.1 eV": a second labelled option after the first makes the choice ambiguous
        others = set(re.findall(r"[(\[]?([A-Z])[)\]]", text[match.end() :])) & set(valid) - {letter}
        if others:
            return None, f"{candidate!r} names several options ({', '.join(sorted({letter, *others}))})"
    if letter not in valid:
        return None, f"{letter!r} is not one of the options {', '.join(valid)}"
    return letter, f"option letter {letter}"


def extract_choice(completion: str, n_choices: int = 4) -> tuple[str | None, str]:
    """Apply the documented order; returns (letter, reason)."""
    region, where = answer_region(completion)
    if region is None:
        return None, where
    for method, found in (
        ("last \\boxed{}", last_boxed(region)),
        ("<answer> content", answer_tag(region)),
        ("last 'Answer:' line", answer_line(region)),
    ):
        if found is not None and found.strip():
            letter, why = letter_of(found.strip(), n_choices)
            return letter, f"{method} in the {where}: {why}"
    parens = [m.group(1) for m in _PAREN.finditer(region) if m.group(1) in LETTERS[:n_choices]]
    if parens:
        return parens[-1], f"last '(X)' in the {where}: option letter {parens[-1]}"
    return None, f"no \\boxed{{}}, <answer>, 'Answer:' line or '(X)' in the {where}"


def grade_choice(completion: str, gold: str, *, n_choices: int = 4, truncated: bool = False) -> Verdict:
    """Grade one completion against the gold option letter (after the per-epoch shuffle)."""
    gold = gold.strip().upper()
    if gold not in LETTERS[:n_choices]:
        raise ValueError(f"gold letter {gold!r} is not one of {LETTERS[:n_choices]}")
    letter, why = extract_choice(completion, n_choices)
    if truncated:
        note = f"; it had extracted {letter!r}" if letter is not None else ""
        return Verdict(0.0, "truncated", letter, f"generation stopped at max_tokens{note}")
    if letter is None:
        return Verdict(0.0, "no_answer", None, why)
    if letter == gold:
        return correct(letter, f"{why}; matches the gold letter {gold}")
    return incorrect(letter, f"{why}; the gold letter is {gold}")
