"""The decontamination report finds a planted overlap (a whole AIME problem, and a 13-word slice of one) and
reports clean sets as clean; benchmarks come from the offline mirror (K2BENCH_DATA_DIR must be set)."""

import os

import pytest

from suites._data import load_records
from training import decontam
from training.data import problem_texts


@pytest.fixture(scope="module")
def aime():
    if not os.environ.get("K2BENCH_DATA_DIR"):
        pytest.fail("K2BENCH_DATA_DIR is not set: point it at the offline benchmark mirror (../shared/data)")
    return [(r["id"], r["problem"]) for r in load_records("aime2024")]


def test_planted_overlap_is_found(aime):
    (pid_a, text_a), (pid_b, text_b) = aime[3], aime[17]
    slice_b = " ".join(text_b.split()[5:18])  # 13 words from the middle of another problem
    training = list(problem_texts("arith-grpo"))[:300] + [
        ("planted-full", "Solve this, then explain.\n" + text_a.upper() + "\nPlease reason step by step."),
        ("planted-slice", "Unrelated preamble. " + slice_b + " unrelated ending."),
    ]
    (row,) = decontam.report({"mixed": training}, {"aime2024": aime})
    assert row.ngram_hits == 2 and set(row.hit_ids) == {pid_a, pid_b}
    assert row.full_hits == 1  # only the whole problem counts as a full match
    assert dict(row.examples)[pid_a] == "planted-full"


def test_clean_sets_are_clean_and_missing_sets_are_reported(aime, tmp_path):
    training = {"arith-grpo": problem_texts("arith-grpo"), "guru": "NOT CHECKED: not in the offline mirror",
                "am-thinking": problem_texts("am-thinking")}  # a stream that fails when read: not in the mirror
    benchmarks = {"aime2024": aime, "broken": "NOT CHECKED: no text field"}
    rows = decontam.report(training, benchmarks)
    clean = next(r for r in rows if r.training_set == "arith-grpo" and r.benchmark == "aime2024")
    assert (clean.n_train, clean.n_benchmark, clean.ngram_hits, clean.full_hits) == (2000, 30, 0, 0)
    assert sum(r.status.startswith("NOT CHECKED") for r in rows) == 5
    assert all("is not in the offline mirror" in r.status for r in rows if r.training_set == "am-thinking")
    md, csv = decontam.write(rows, tmp_path)
    assert "| arith-grpo (syn) | aime2024 | 2000 | 30 | 0 | 0 |  | checked |" in md.read_text()
    assert "] not in the offline mirror" in md.read_text()
    assert csv.read_text().count("\n") == len(rows) + 1


def test_short_problems_match_whole_not_inside_longer_numbers():
    bench = {"tiny": [("t1", "What is 33 + 87?")]}
    train = {"a": [("r1", "what is 133 + 87")], "b": [("r2", "Q: What is 33 + 87? go")], "c": [("r3", "What is 33 - 87?")]}
    rows = decontam.report(train, bench)
    assert [r.ngram_hits for r in rows] == [0, 1, 0] and rows[1].full_hits == 1  # operators are tokens
