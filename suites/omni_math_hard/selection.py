"""Omni-MATH-HARD as k2bench defines it: the selection rule, the committed id list, and gold clean-up.

K2-Think reports Omni-MATH-HARD with 173 problems (from its micro-average; k2think-facts.md §1) but does
not say how they were chosen. Our rule (README.md explains why):

  pool   = Omni-MATH problems in the authors' rule-gradable release (Omni-MATH-Rule, 2,821 problems),
           minus EXCLUDED (problems with no final answer to check, listed with reasons below);
  order  = difficulty descending, ties broken by the sha256 of the problem text (content, not file order);
  select = the first 173.

The resulting ids are committed in `hard_ids.jsonl` (id, difficulty, problem_sha256, rank) so every run
uses the same problems; `python -m suites.omni_math_hard.selection` re-derives them from the mirror and
checks the file, and `--hub` also loads the full Omni-MATH set (4,428) from the hub at its pinned commit and
reports how our list relates to the same ordering over the full set.

Golds are cleaned for grading (`clean_gold`: outer `$`, `\\[ \\]`, `\\( \\)` and a lone `\\boxed{}` removed,
line breaks joined); six malformed source golds are repaired (GOLD_FIXES: four lack a closing brace, two lost
the `\\f` of `\\frac` to a form feed). The original string stays in `answer_original`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from suites._data import DataError, load_records

HARD_COUNT = 173  # K2-Think's Omni-MATH-HARD size, back-computed from its micro-average (67.99)
IDS_FILE = Path(__file__).with_name("hard_ids.jsonl")
SOURCE_BENCHMARK = "omni_math_rule"

# Problems of the rule subset that cannot be graded against an answer (reviewed by hand among the
# difficulty >= 7 problems, the only region the rule reaches); excluded from the pool before selection.
EXCLUDED: dict[str, str] = {
    "omni-math-rule-90": "proof only ('Prove: ... there exist integers x, y, z'); the gold '0' is not an answer",
    "omni-math-rule-1075": "proof only ('Proof that <inequality>'); the gold is the inequality itself",
    "omni-math-rule-2611": "proof only ('Show that ... at most |V|^2016 cycles'); the gold restates the bound",
    "omni-math-rule-918": "answer is a description ('all polynomials of odd degree'), not a value a rule can check",
    "omni-math-rule-1007": "asks for the point P; the gold is the maximal area S/4, not the point asked for",
}

# Golds whose LaTeX is malformed in the source (a closing brace is missing): a model that writes the
# well-formed answer could never match them. Value: (repaired gold, why).
GOLD_FIXES: dict[str, tuple[str, str]] = {
    "omni-math-rule-183": ("\\frac{5055}{2^{15}}", "source gold '\\frac{5055}{2^{15}' lacks a closing brace"),
    "omni-math-rule-682": ("\\frac{81^{10}}{82^{10}}", "source gold '\\frac{81^{10}}{82^{10}' lacks a closing brace"),
    "omni-math-rule-710": (
        "\\frac{2 k n}{n+k-1}-2 \\frac{k!n!}{(k+n-1)!}",
        "source gold ends '\\frac{k!n!}{(k+n-1)!' without its closing brace",
    ),
    "omni-math-rule-1469": ("\\frac{11}{2^{20}}", "source gold '\\frac{11}{2^{20}' lacks a closing brace"),
    # "\\frac" once decoded as a form feed + "rac" (a JSON escape slip upstream); the gold reads "<FF>rac{...}"
    "omni-math-rule-862": ("a^{2}<a<\\frac{1}{a}", "source gold has a form feed for the '\\f' of '\\frac'"),
    "omni-math-rule-916": ("\\frac{7}{12}", "source gold has a form feed for the '\\f' of '\\frac'"),
}

_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)"))


def problem_sha256(problem: str) -> str:
    return hashlib.sha256(problem.encode("utf-8")).hexdigest()


def clean_gold(answer: str) -> str:
    """Remove math delimiters and a lone \\boxed{} around a gold answer; join its lines."""
    text = answer.strip()
    for _ in range(3):  # wrappers nest: "\\[ \\boxed{2018} \\]"
        before = text
        for left, right in _DELIMITERS:
            if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
                text = text[len(left) : -len(right)].strip()
        match = re.fullmatch(r"\\boxed\s*\{(.*)\}", text, flags=re.DOTALL)
        if match and _balanced(match.group(1)):
            text = match.group(1).strip()
        if text == before:
            break
    return " ".join(text.split())


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def graded_record(record: dict[str, Any]) -> dict[str, Any]:
    """A rule-subset record with the gold used for grading in `answer` and the source's in `answer_original`."""
    original = record["answer"]
    fixed, why = GOLD_FIXES.get(record["id"], (original, None))
    out = {
        **record,
        "answer": clean_gold(fixed),
        "answer_original": original,
        "problem_sha256": problem_sha256(record["problem"]),
    }
    if why is not None:
        out["gold_fix"] = why
    return out


def rank_key(record: dict[str, Any]) -> tuple[float, str]:
    return (-float(record["difficulty"]), problem_sha256(record["problem"]))


def select_hard(records: list[dict[str, Any]], count: int = HARD_COUNT) -> list[dict[str, Any]]:
    """Apply the rule: drop EXCLUDED, order by difficulty (desc) then problem sha256, keep the first `count`."""
    pool = [r for r in records if r["id"] not in EXCLUDED]
    return sorted(pool, key=rank_key)[:count]


def read_ids_file(path: Path = IDS_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def id_rows(selected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"rank": i + 1, "id": r["id"], "difficulty": r["difficulty"], "problem_sha256": problem_sha256(r["problem"])}
        for i, r in enumerate(selected)
    ]


def hard_records() -> list[dict[str, Any]]:
    """The committed 173 problems, each checked against the ids file's problem hash, golds cleaned."""
    by_id = {r["id"]: r for r in load_records(SOURCE_BENCHMARK)}
    rows = read_ids_file()
    if len(rows) != HARD_COUNT:
        raise DataError(f"{IDS_FILE} lists {len(rows)} problems, expected {HARD_COUNT}")
    records = []
    for row in rows:
        record = by_id.get(row["id"])
        if record is None:
            raise DataError(f"omni_math_hard: {row['id']} from {IDS_FILE.name} is not in {SOURCE_BENCHMARK}")
        if problem_sha256(record["problem"]) != row["problem_sha256"]:
            raise DataError(f"omni_math_hard: the problem text of {row['id']} differs from the one selected")
        records.append({**graded_record(record), "hard_rank": row["rank"]})
    return records


def _hub_report(mirror_records: list[dict[str, Any]], selected: list[dict[str, Any]]) -> None:
    """Relate our list to the full Omni-MATH set from the hub (needs network access to the hub)."""
    from suites._data import _load_from_hub, benchmark

    full = _load_from_hub(benchmark("omni_math_full"))
    by_sha = {r["problem_sha256"]: r for r in full}
    found = [r for r in selected if problem_sha256(r["problem"]) in by_sha]
    same = [r for r in found if float(by_sha[problem_sha256(r["problem"])]["difficulty"]) == float(r["difficulty"])]
    print(
        f"full set: {len(full)} problems; of our {len(selected)}: {len(found)} found by problem text, "
        f"{len(same)} with the same difficulty"
    )
    rule_shas = {problem_sha256(r["problem"]) for r in mirror_records}
    full_top = sorted(full, key=rank_key)[:HARD_COUNT]
    in_rule = sum(problem_sha256(r["problem"]) in rule_shas for r in full_top)
    overlap = len({problem_sha256(r["problem"]) for r in full_top} & {problem_sha256(r["problem"]) for r in selected})
    print(
        f"the same ordering over the full set: its top {HARD_COUNT} has {in_rule} rule-gradable problems "
        f"and shares {overlap} with ours; lowest difficulty {full_top[-1]['difficulty']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {IDS_FILE.name} from the mirror")
    parser.add_argument("--hub", action="store_true", help="also report against the full set on the hub")
    args = parser.parse_args(argv)
    records = load_records(SOURCE_BENCHMARK)
    rows = id_rows(select_hard(records))
    if args.write:
        IDS_FILE.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} ids to {IDS_FILE}")
    committed = read_ids_file()
    if committed != rows:
        print(f"MISMATCH: the rule gives a different list than {IDS_FILE}", file=sys.stderr)
        return 1
    difficulties = sorted({r["difficulty"] for r in rows}, reverse=True)
    counts = {d: sum(r["difficulty"] == d for r in rows) for d in difficulties}
    print(f"{IDS_FILE.name} re-derived from the mirror: {len(rows)} problems, difficulty counts {counts}")
    if args.hub:
        _hub_report(records, select_hard(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
