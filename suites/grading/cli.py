"""Grade one completion against one gold answer and print the verdict as JSON.

Users debug a surprising score with it:
    python -m suites.grading.cli --gold 204 --completion 'so the answer is \\boxed{204}'
    python -m suites.grading.cli --gold 204 --completion-file out.txt --truncated
    echo '<think>..</think><answer>204' | python -m suites.grading.cli --gold 204
Input is read as UTF-8 whatever its source (file, stdin, arguments); bytes that are not UTF-8 become U+FFFD,
as they would in a model's decoded output, instead of stopping the command.
"""

from __future__ import annotations

import argparse
import json
import sys

from suites.grading.extract import extract_answer
from suites.grading.math_answer import grade_math, normalize_answer


def as_text(data: bytes | str) -> str:
    """UTF-8 text with replacement: file and stdin bytes, or an argument decoded with surrogateescape by Python."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogateescape")
    return data.decode("utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", required=True, help="the gold answer (LaTeX or plain)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--completion", help="the model's completion text")
    source.add_argument("--completion-file", help="a file holding the completion (default: stdin)")
    parser.add_argument("--truncated", action="store_true", help="the generation stopped at max_tokens")
    args = parser.parse_args(argv)

    if args.completion is not None:
        completion = as_text(args.completion)
    elif args.completion_file:
        try:
            with open(args.completion_file, "rb") as f:
                completion = as_text(f.read())
        except OSError as err:
            parser.error(f"cannot read --completion-file {args.completion_file}: {err.strerror}")
    else:
        completion = as_text(sys.stdin.buffer.read())
    gold = as_text(args.gold)

    verdict = grade_math(completion, gold, truncated=args.truncated)
    extraction = extract_answer(completion)
    report = {
        **verdict.to_dict(),
        "extraction_method": extraction.method,
        "normalized_extracted": normalize_answer(verdict.extracted) if verdict.extracted else None,
        "normalized_gold": normalize_answer(gold),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
