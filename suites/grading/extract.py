"""Answer extraction from a model completion, in K2-Think's documented order.

Order (k2think-facts.md §2 "Answer extraction", the authors' RL reward code in LLM360/Reasoning360
`naive_dapo.py`, and open question 5):
  1. drop the reasoning: keep the text after the last `</think>`; a `<think>` that never closes means the
     model never reached its answer, so nothing is extracted;
  2. the last `\\boxed{...}` (or `\\fbox{...}`) in what is left;
  3. else the content of the last `<answer>...</answer>`; the closing tag may be missing because the
     K2-Think protocol stops generation at `</answer>` and servers strip the stop string;
  4. else the last `Answer:` line (also `Final answer:`, `**Answer:**`, `ANSWER:`);
  5. else nothing: the grader reports `no_answer`, never `incorrect` (a bare number in prose is not an answer;
     Math-Verify would take the last number or math span there, k2bench deliberately does not).
What is found may be a sentence ("The smallest value is 12."): math_answer.stated_value reads its value.
Pure Python, no framework imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
BOXED_COMMANDS = ("\\boxed", "\\fbox")
# an "Answer:" line, possibly bold or prefixed with "Final"; the answer is the rest of that line
ANSWER_LINE = re.compile(
    r"^[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[*_]*\s*[:：][ \t]*[*_]*[ \t]*(?P<ans>.*?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# display math that opens on the Answer: line (or on the line after it) and closes further down
DISPLAY_OPEN_CLOSE = {"\\[": "\\]", "$$": "$$"}


@dataclass(frozen=True)
class Extraction:
    """What was found in a completion and where it came from."""

    answer: str | None
    method: str  # "boxed" | "answer_tag" | "answer_line" | "none"
    region: str  # the text that was searched (after </think>)
    reason: str


def answer_region(completion: str) -> tuple[str | None, str]:
    """The text after the reasoning, or None when a `<think>` block never closed."""
    close = completion.rfind(THINK_CLOSE)
    if close >= 0:
        return completion[close + len(THINK_CLOSE) :], "text after the last </think>"
    if THINK_OPEN in completion:
        return None, "<think> was opened and never closed: the model did not reach an answer"
    return completion, "no <think> block: the whole completion is the answer region"


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}`/`\\fbox{...}`, with nested braces; `\\boxed 5` also counts."""
    best_pos, best = -1, None
    for command in BOXED_COMMANDS:
        pos = text.rfind(command)
        while pos >= 0:
            content = _boxed_content(text, pos + len(command))
            if content is not None:
                if pos > best_pos:
                    best_pos, best = pos, content
                break
            pos = text.rfind(command, 0, pos)
    return best


def _boxed_content(text: str, start: int) -> str | None:
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        # `\boxed 5`: the argument is the next token
        if i == start:  # `\boxedX` is another command name, not a boxed answer
            return None
        match = re.match(r"[^\s$]+", text[i:])
        return match.group(0) if match else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced: the box was cut off


def answer_tag(text: str) -> str | None:
    """Content of the last `<answer>`; runs to the end of the text when the closing tag was stripped."""
    start = text.rfind(ANSWER_OPEN)
    if start < 0:
        return None
    content = text[start + len(ANSWER_OPEN) :]
    end = content.find(ANSWER_CLOSE)
    if end >= 0:
        content = content[:end]
    content = content.strip()
    return content or None


def answer_line(text: str) -> str | None:
    """The answer on the last `Answer:` line; an empty line takes the next non-empty one, and display math
    opened there (`\\[ … \\]`, `$$ … $$`) is read up to its closing delimiter, across lines."""
    matches = list(ANSWER_LINE.finditer(text))
    if not matches:
        return None
    match = matches[-1]
    answer, rest = match.group("ans").strip(), text[match.end() :]
    if not answer:
        following = rest.lstrip()
        answer = following.split("\n", 1)[0].strip()
        rest = following[len(answer) :] if following.startswith(answer) else rest
    for opener, closer in DISPLAY_OPEN_CLOSE.items():
        if answer.startswith(opener):
            body = answer[len(opener) :] + rest
            end = body.find(closer)
            answer = body[:end] if end >= 0 else ""
            break
    answer = answer.strip().rstrip("*_").strip()
    return answer or None


def extract_answer(completion: str) -> Extraction:
    """Apply the documented extraction order to one completion."""
    region, where = answer_region(completion)
    if region is None:
        return Extraction(None, "none", "", where)
    boxed = last_boxed(region)
    if boxed is not None and boxed.strip():
        return Extraction(boxed.strip(), "boxed", region, f"last \\boxed{{}} in the {where}")
    tagged = answer_tag(region)
    if tagged is not None:
        return Extraction(tagged, "answer_tag", region, f"<answer> content in the {where}")
    line = answer_line(region)
    if line is not None:
        return Extraction(line, "answer_line", region, f"last 'Answer:' line in the {where}")
    return Extraction(None, "none", region, f"no \\boxed{{}}, <answer> or 'Answer:' line in the {where}")
