"""LLM-judge grading for free-form answers (HLE): the judge prompt and a strict parser of its verdict.

The judge is asked for the format of HLE's official judge (centerforaisafety/hle `judge_results.py`):
an `extracted_final_answer:` line, a `reasoning:` paragraph and a `correct: yes|no` line. Its verdict is
parsed strictly (peers.md §2: inspect's model_graded_qa once counted an unparseable verdict as INCORRECT):
  - the judge's own reasoning before a final `</think>` is dropped; an unclosed `<think>` is unparseable;
  - there must be exactly one `correct:` line whose value is `yes` or `no` (case, bold and quotes aside);
    none, several, or any other value ("partially", "yes/no", "maybe") is status `error`, never `incorrect`;
  - `extracted_final_answer: None` with `correct: yes` is contradictory and also `error`.
The caller (suites/grading/scorers.py) sends the prompt to the inspect model role `grader`; this module only
builds text and reads text. Pure Python, no framework imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suites.grading.extract import THINK_CLOSE, THINK_OPEN
from suites.grading.verdict import Verdict, correct, incorrect

# Same fields and criteria as HLE's judge; worded for a judge that answers in plain text (no JSON schema).
JUDGE_TEMPLATE = """You are grading a response to an exam question against the reference answer.

[question]: {question}

[response]: {response}

[correct_answer]: {correct_answer}

Reply in exactly this format, with these three fields and nothing else:

extracted_final_answer: <the final exact answer given in [response], or None if it gives no final answer>
reasoning: <why the extracted answer does or does not match [correct_answer]; judge only whether the two \
answers are equivalent, do not solve the question yourself>
correct: <yes if the extracted answer matches [correct_answer], or is within a small margin of error for a \
numerical answer; no if there is any inconsistency, ambiguity or non-equivalence, or no answer>"""

RESPONSE_CHAR_LIMIT = 20_000  # what the judge sees of a response's answer part (a runaway answer is cut)
_CORRECT_LINE = re.compile(r"^[ \t>*_#-]*correct[*_]*\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE)
_EXTRACTED_LINE = re.compile(
    r"^[ \t>*_#-]*extracted_final_answer[*_]*\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE
)
_DECORATION = "*_`'\". "


@dataclass(frozen=True)
class JudgeReading:
    """What a judge's reply says: correct (True/False) or None when it cannot be read."""

    correct: bool | None
    extracted: str | None
    reason: str


def judge_prompt(question: str, response: str, correct_answer: str) -> str:
    """The judge prompt for one response (the caller passes the answer part of the response, see extract.py)."""
    if len(response) > RESPONSE_CHAR_LIMIT:
        response = response[:RESPONSE_CHAR_LIMIT] + "\n[... response cut for the judge ...]"
    return JUDGE_TEMPLATE.format(question=question, response=response, correct_answer=correct_answer)


def read_judge_reply(reply: str) -> JudgeReading:
    """Parse a judge reply strictly; `correct` is None whenever the verdict is not unambiguous."""
    text = reply
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        text = text[close + len(THINK_CLOSE) :]
    elif THINK_OPEN in text:
        return JudgeReading(None, None, "the judge's <think> never closed: no verdict")
    verdicts = [m.group("value").strip(_DECORATION).lower() for m in _CORRECT_LINE.finditer(text)]
    extracted_lines = [m.group("value").strip(_DECORATION) for m in _EXTRACTED_LINE.finditer(text)]
    extracted = extracted_lines[-1] if extracted_lines else None
    if not verdicts:
        return JudgeReading(None, extracted, "the judge reply has no 'correct:' line")
    if len(verdicts) > 1:
        return JudgeReading(None, extracted, f"the judge reply has {len(verdicts)} 'correct:' lines: {verdicts}")
    value = verdicts[0]
    if value not in ("yes", "no"):
        return JudgeReading(None, extracted, f"the judge's verdict {value!r} is neither 'yes' nor 'no'")
    if value == "yes" and extracted is not None and extracted.lower() == "none":
        return JudgeReading(None, extracted, "the judge says 'correct: yes' but extracted no final answer")
    return JudgeReading(value == "yes", extracted, f"judge verdict correct: {value}")


def verdict_from_judge(reply: str, *, answer: str | None = None) -> Verdict:
    """The Verdict for a judge reply: yes -> correct, no -> incorrect, anything unreadable -> error."""
    reading = read_judge_reply(reply)
    shown = reading.extracted if reading.extracted is not None else answer
    if reading.correct is None:
        return Verdict(0.0, "error", shown, f"unparseable judge verdict: {reading.reason}")
    return (correct if reading.correct else incorrect)(shown or "", reading.reason)
