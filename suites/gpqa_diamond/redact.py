"""Make a GPQA-Diamond inspect log committable: strip every string that carries question or option text.

A run's own log is the one place GPQA plaintext may go (the prompts it sent). To commit a GPQA run under
results/ (the tables are built from logs), write a redacted copy: every string anywhere in the log (sample
input, messages, model-call events, outputs, attachments, score explanations) that contains a 30-character
run of any question's or option's text is replaced by a marker with the original's sha256. Scores, statuses,
token usage, timings, the option shuffle and all metadata stay, so analysis/ reads the copy like the original.
The copy is checked again after writing; a leak that survives raises.

    python -m suites.gpqa_diamond.redact LOG.eval [LOG.eval ...] --out results/logs/committed/<model>/<system>
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from suites.gpqa_diamond.questions import GPQAQuestion, load_questions

WINDOW = 30  # characters of verbatim text that count as a leak
MARKER = "[GPQA text redacted by suites/gpqa_diamond/redact.py; sha256 {digest}]"
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class Detector:
    """Every 30-character window of the questions' and options' text (whitespace-normalised)."""

    def __init__(self, questions: Iterable[GPQAQuestion]) -> None:
        self.windows: set[str] = set()
        for q in questions:
            for text in (q.question, *q.options):
                text = _norm(text)
                self.windows.update(text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1))
        if not self.windows:
            raise ValueError("no GPQA text to detect")

    def leaks(self, text: str) -> bool:
        text = _norm(text)
        return any(text[i : i + WINDOW] in self.windows for i in range(len(text) - WINDOW + 1))


def _walk(value: Any, detector: Detector, counter: list[int]) -> Any:
    if isinstance(value, str):
        if len(value) >= WINDOW and detector.leaks(value):
            counter[0] += 1
            return MARKER.format(digest=hashlib.sha256(value.encode()).hexdigest())
        return value
    if isinstance(value, dict):
        return {k: _walk(v, detector, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, detector, counter) for v in value]
    return value


def redact_log(source: Path, out_dir: Path, detector: Detector | None = None) -> tuple[Path, int]:
    """Write the redacted copy of `source` into out_dir (same file name); returns (path, strings redacted)."""
    from inspect_ai.log import EvalLog, read_eval_log, write_eval_log

    detector = detector or Detector(load_questions())
    log = read_eval_log(str(source))
    if not str(log.eval.task).split("/")[-1].startswith("gpqa_diamond"):
        raise ValueError(f"{source}: task {log.eval.task!r} is not a GPQA-Diamond task")
    counter = [0]
    data = _walk(log.model_dump(mode="json", exclude={"location"}), detector, counter)
    redacted = EvalLog.model_validate(data)
    redacted.eval.metadata = {**(redacted.eval.metadata or {}),
                              "redacted": {"by": "suites/gpqa_diamond/redact.py", "window": WINDOW,
                                           "strings": counter[0], "source": source.name}}
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / source.name
    if target.resolve() == source.resolve():
        raise ValueError(f"{source}: refusing to overwrite the original; choose another --out")
    write_eval_log(redacted, str(target))
    survived = [0]
    _walk(read_eval_log(str(target)).model_dump(mode="json"), detector, survived)
    if survived[0]:
        target.unlink()
        raise RuntimeError(f"{source}: GPQA text survived redaction; nothing written")
    return target, counter[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suites.gpqa_diamond.redact", description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    detector = Detector(load_questions())
    for source in args.logs:
        target, n = redact_log(source, args.out, detector)
        print(f"{source} -> {target}: {n} strings redacted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
