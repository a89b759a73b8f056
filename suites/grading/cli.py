"""Grade one completion against one gold answer and print the verdict as JSON.

Users debug a surprising score with it:
    python -m suites.grading.cli --gold 204 --completion 'so the answer is \\boxed{204}'
    python -m suites.grading.cli --gold 204 --completion-file out.txt --truncated
    echo '<think>..</think><answer>204' | python -m suites.grading.cli --gold 204
"""

from __future__ import annotations

import argparse
import json
import sys

from suites.grading.extract import extract_answer
from suites.grading.math_answer import grade_math, normalize_answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", required=True, help="the gold answer (LaTeX or plain)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--completion", help="the model's completion text")
    source.add_argument("--completion-file", help="a file holding the completion (default: stdin)")
    parser.add_argument("--truncated", action="store_true", help="the generation stopped at max_tokens")
    args = parser.parse_args(argv)

    if args.completion is not None:
        completion = args.completion
    elif args.completion_file:
        with open(args.completion_file, encoding="utf-8") as f:
            completion = f.read()
    else:
        completion = sys.stdin.read()

    verdict = grade_math(completion, args.gold, truncated=args.truncated)
    extraction = extract_answer(completion)
    report = {
        **verdict.to_dict(),
        "extraction_method": extraction.method,
        "normalized_extracted": normalize_answer(verdict.extracted) if verdict.extracted else None,
        "normalized_gold": normalize_answer(args.gold),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
