"""Decontamination report: which benchmark problems appear in a training set (13-gram overlap, full match).

Why: K2-Think's critics found at least 87 of the 173 Omni-MATH-HARD problems in its SFT/RL data (through
DeepScaleR) and ~22% of its LiveCodeBench problems in the SFT data (k2think-facts.md §2, [SRI]). So every
training set is checked against every benchmark declared in suites._data.BENCHMARKS at run time (plus the
synthetic held-out set of training/heldout_task.py), and the counts are a table under results/training/.

Method (the usual LM decontamination, GPT-3 / open-instruct style): text is lower-cased and reduced to
alphanumeric tokens and arithmetic operators; a benchmark problem is *hit* by a training set when they share
one 13-token n-gram (a problem shorter than 13 tokens counts as one n-gram of its own length), and is a *full*
match when its whole token sequence occurs inside one training prompt. An n-gram found in two or more
problems of one benchmark is boilerplate ("... relatively prime positive integers. Find m+n.") and is not
used. The benchmark side is indexed and the training side streamed, so a 1.9M-row set costs one pass. Only
user turns of training rows are searched (the problems a model is trained on), not the responses. Sets that
cannot be loaded (not in the offline mirror) are listed as NOT CHECKED with the reason: a missing check is
visible, never a silent zero.

    python -m training.decontam                      # writes results/training/decontamination.{md,csv}
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

NGRAM = 13
TOKEN = re.compile(r"[a-z0-9]+|[-+*/=^<>]")
TEXT_FIELDS = ("problem", "question", "Question", "question_content", "prompt", "input")
OUT_DIR = Path(__file__).resolve().parent.parent / "results" / "training"
SHOW_IDS = 8  # hit ids listed per table row


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric runs plus arithmetic operators ("81 + 45" and "81 - 45" are different problems)."""
    return TOKEN.findall(text.lower().replace("\u2212", "-"))


def _grams(toks: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


@dataclass
class Overlap:
    training_set: str
    benchmark: str
    n_train: int
    n_benchmark: int
    ngram_hits: int = 0  # benchmark problems sharing >= one n-gram with the training set
    full_hits: int = 0  # benchmark problems contained whole in one training prompt
    hit_ids: list[str] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (benchmark id, training row id), first few
    status: str = "checked"


class BenchmarkIndex:
    """n-grams of one benchmark's problems -> problem ids (each problem at min(n, its length) tokens)."""

    def __init__(self, name: str, problems: list[tuple[str, str]], n: int = NGRAM):
        self.name, self.n, self.problems = name, n, problems
        self.joined = {pid: " " + " ".join(tokens(text)) + " " for pid, text in problems}
        self.index: dict[int, dict[tuple[str, ...], set[str]]] = defaultdict(lambda: defaultdict(set))
        for pid, text in problems:
            toks = tokens(text)
            if not toks:
                continue
            size = min(n, len(toks))
            for gram in _grams(toks, size):
                self.index[size][gram].add(pid)
        # boilerplate shared by several problems of one benchmark ("... where m and n are relatively prime
        # positive integers. Find m+n.") would flag all of them for any math text: such n-grams are dropped
        grams = self.index.get(n, {})
        self.boilerplate = [g for g, ids in grams.items() if len(ids) > 1]
        for gram in self.boilerplate:
            del grams[gram]

    def start(self, training_set: str) -> Overlap:
        return Overlap(training_set, self.name, 0, len(self.problems))

    def check(self, row_id: str, toks: list[str], joined: str, first: dict[str, str], full: set[str]) -> None:
        """Record the problems one training row hits: `first` problem id -> first row, `full` whole-problem ids."""
        candidates: set[str] = set()
        for size, grams in self.index.items():
            for gram in _grams(toks, size):
                candidates |= grams.get(gram, set())
        for pid in candidates:
            first.setdefault(pid, row_id)
            if self.joined[pid] in joined:
                full.add(pid)

    def scan(self, training_set: str, rows: Iterable[tuple[str, str]]) -> Overlap:
        (overlap,) = scan_all([self], training_set, rows)
        return overlap


def scan_all(indexes: list[BenchmarkIndex], training_set: str, rows: Iterable[tuple[str, str]]) -> list[Overlap]:
    """One pass over a training set (it may be a 1.9M-row stream) against every benchmark index."""
    overlaps = [ix.start(training_set) for ix in indexes]
    firsts: list[dict[str, str]] = [{} for _ in indexes]
    fulls: list[set[str]] = [set() for _ in indexes]
    n_train = 0
    for row_id, text in rows:
        n_train += 1
        toks = tokens(text)
        joined = " " + " ".join(toks) + " "
        for ix, first, full in zip(indexes, firsts, fulls, strict=True):
            ix.check(row_id, toks, joined, first, full)
    for overlap, first, full in zip(overlaps, firsts, fulls, strict=True):
        ids = sorted(first)
        overlap.n_train, overlap.ngram_hits, overlap.full_hits = n_train, len(ids), len(full)
        overlap.hit_ids, overlap.examples = ids, [(pid, first[pid]) for pid in ids[:SHOW_IDS]]
    return overlaps


def _gpqa_questions() -> list[tuple[str, str]]:
    from suites.gpqa_diamond.questions import load_questions

    return [(q.record_id, q.question) for q in load_questions()]


# benchmarks whose mirror is not JSON lines are read through their suite's own loader
SUITE_LOADERS = {"gpqa_diamond": _gpqa_questions}


def benchmark_problems() -> dict[str, list[tuple[str, str]] | str]:
    """Every declared benchmark's (id, problem text), or the reason it could not be read."""
    from suites._data import BENCHMARKS, DataError, load_records
    from training.data import heldout_records

    out: dict[str, list[tuple[str, str]] | str] = {}
    for name in BENCHMARKS:
        try:
            if name in SUITE_LOADERS:
                out[name] = SUITE_LOADERS[name]()
                continue
            records = load_records(name)
        except DataError as err:
            out[name] = f"NOT CHECKED: {err}"
            continue
        key = next((k for k in TEXT_FIELDS if records and isinstance(records[0].get(k), str)), None)
        if key is None:
            out[name] = f"NOT CHECKED: no text field among {TEXT_FIELDS}"
            continue
        out[name] = [(str(r.get("id", i)), r[key]) for i, r in enumerate(records)]
    out["arith-heldout"] = [(r["id"], r["problem"]) for r in heldout_records()]
    return out


def training_sets() -> dict[str, Iterable[tuple[str, str]]]:
    from training.data import SOURCES, problem_texts

    return {name: problem_texts(name) for name in SOURCES}  # streams; a set that cannot load fails when read


def report(training: dict[str, Iterable[tuple[str, str]] | str], benchmarks: dict[str, list[tuple[str, str]] | str],
           n: int = NGRAM) -> list[Overlap]:
    from suites._data import DataError

    indexes = [BenchmarkIndex(b, p, n) for b, p in benchmarks.items() if not isinstance(p, str)]
    rows = []
    for t_name, t_rows in training.items():
        why = t_rows if isinstance(t_rows, str) else None
        found: dict[str, Overlap] = {}
        if why is None:
            try:
                found = {o.benchmark: o for o in scan_all(indexes, t_name, t_rows)}
            except DataError as err:
                why = f"NOT CHECKED: {err}"
        for b_name, problems in benchmarks.items():
            if b_name in found:
                rows.append(found[b_name])
            else:
                n_b = 0 if isinstance(problems, str) else len(problems)
                rows.append(Overlap(t_name, b_name, 0, n_b, status=why or problems))
    return rows


def write(rows: list[Overlap], out_dir: Path, n: int = NGRAM) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "decontamination.csv", out_dir / "decontamination.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in asdict(rows[0]) if k != "examples"])
        writer.writeheader()
        for r in rows:
            d = asdict(r)
            d.pop("examples")
            d["hit_ids"] = " ".join(d["hit_ids"])
            writer.writerow(d)
    lines = [
        "<!-- generated by `python -m training.decontam`; do not edit -->",
        f"# Decontamination: training sets vs benchmark problems ({n}-gram overlap, full-problem match)",
        "",
        f"A benchmark problem is counted once per training set. `{n}-gram`: shares at least one "
        f"{n}-token n-gram (lower-cased alphanumeric tokens and + - * / = ^ < >) with a training prompt; "
        "`full`: the whole problem occurs inside one training prompt. Synthetic sets are marked (syn).",
        "",
        "| training set | benchmark | train rows | problems | n-gram hits | full hits | hit ids (first) | status |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    from training.data import SOURCES

    reasons: dict[str, int] = {}
    for r in rows:
        mark = " (syn)" if r.training_set in SOURCES and SOURCES[r.training_set].synthetic else ""
        shown = ", ".join(r.hit_ids[:SHOW_IDS]) + (" …" if len(r.hit_ids) > SHOW_IDS else "")
        status = r.status
        if status != "checked":  # long reasons go below the table, once each
            status = f"NOT CHECKED [{reasons.setdefault(r.status, len(reasons) + 1)}]"
        lines.append(f"| {r.training_set}{mark} | {r.benchmark} | {r.n_train} | {r.n_benchmark} | {r.ngram_hits} | "
                     f"{r.full_hits} | {shown} | {status} |")
    lines += ["", *(f"[{i}] {why.removeprefix('NOT CHECKED: ')}" for why, i in reasons.items())]
    md_path.write_text("\n".join(lines) + "\n")
    return md_path, csv_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--ngram", type=int, default=NGRAM)
    args = parser.parse_args(argv)
    rows = report(training_sets(), benchmark_problems(), args.ngram)
    for path in write(rows, args.out, args.ngram):
        print(path)
    for r in rows:
        print(f"{r.training_set:>12} vs {r.benchmark:<16} hits {r.ngram_hits:>4} full {r.full_hits:>4}  {r.status[:100]}")


if __name__ == "__main__":
    main()
