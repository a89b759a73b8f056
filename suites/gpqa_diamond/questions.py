"""GPQA-Diamond questions, read in memory from the official encrypted zip, and their per-epoch option order.

The authors ask that GPQA questions never appear in plain text online, so the mirror keeps their
password-protected `dataset.zip` (../shared/data/gpqa_diamond/PROVENANCE.md) and this module decrypts the
diamond CSV into memory only: nothing is written to disk, and `GPQAQuestion`'s repr hides the text so a
failing assert or a log line cannot leak it. The only place the text goes is the prompt sent to the model
(and so the inspect log of that run).

Option order: the CSV lists the correct answer first, so options must be shuffled. The order depends only
on (seed, record id, epoch) through sha256, so it is the same on every machine and Python version. Epochs
come in blocks of 4 in which the correct option takes each letter A-D exactly once (in a seeded order), so
avg@16 sees the gold letter 4 times at every position for every question, and a model's letter bias
cannot move the score.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field

from suites._data import DataError, benchmark, data_dir, read_mirror_bytes, sha256_bytes

BENCHMARK = "gpqa_diamond"
# published in the official repository's README (idavidrein/gpqa); it keeps the text away from crawlers
ZIP_PASSWORD = b"deserted-untie-orchid"
DIAMOND_MEMBER = "dataset/gpqa_diamond.csv"
DIAMOND_MEMBER_SHA256 = "41d1213cd7a4998605a26c2798500652572007161b3a92817ba46b35befcd305"
LETTERS = "ABCD"
DEFAULT_SEED = 20250909  # recorded in every run's metadata; change it to draw other orders
USER_TEMPLATE = (
    "Answer the following multiple choice question. The last line of your response should be of the "
    "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step "
    "before answering.\n\n{question}\n\n{options}"
)


@dataclass(frozen=True)
class GPQAQuestion:
    """One question; `options[0]` is the correct answer (the CSV's order). Text fields stay out of repr."""

    record_id: str
    domain: str
    subdomain: str
    question: str = field(repr=False)
    options: tuple[str, str, str, str] = field(repr=False)


def load_questions() -> list[GPQAQuestion]:
    """The 198 diamond questions from the mirror zip (K2BENCH_DATA_DIR) or, without a mirror, the gated hub."""
    rows = _rows_from_mirror() if data_dir() is not None else _rows_from_hub()
    questions = [
        GPQAQuestion(
            record_id=row["Record ID"].strip(),
            domain=row["High-level domain"].strip(),
            subdomain=row["Subdomain"].strip(),
            question=row["Question"].strip(),
            options=tuple(row[k].strip() for k in ("Correct Answer", *(f"Incorrect Answer {i}" for i in (1, 2, 3)))),
        )
        for row in rows
    ]
    expected = benchmark(BENCHMARK).count
    ids = {q.record_id for q in questions}
    if len(questions) != expected or len(ids) != expected:
        raise DataError(f"{BENCHMARK}: {len(questions)} rows with {len(ids)} distinct Record IDs, expected {expected}")
    return questions


def _rows_from_mirror() -> list[dict[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(read_mirror_bytes(BENCHMARK)))
    data = archive.read(DIAMOND_MEMBER, pwd=ZIP_PASSWORD)
    found = sha256_bytes(data)
    if found != DIAMOND_MEMBER_SHA256:
        raise DataError(f"{BENCHMARK}: {DIAMOND_MEMBER} has sha256 {found}, expected {DIAMOND_MEMBER_SHA256}")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _rows_from_hub() -> list[dict[str, str]]:
    import datasets  # heavy, and only for users with access to the gated dataset

    hub = benchmark(BENCHMARK).hub
    assert hub is not None
    try:
        rows = datasets.load_dataset(hub.repo, hub.config, split=hub.split, revision=hub.revision)
    except Exception as err:
        raise DataError(
            f"{BENCHMARK}: could not load {hub.repo}@{hub.revision} ({hub.config}/{hub.split}): {err}. The hub copy "
            f"is gated (accept its terms, set HF_TOKEN) or set K2BENCH_DATA_DIR to the offline mirror."
        ) from err
    return [dict(row) for row in rows]


def _permutation(items: list[int], key: str) -> list[int]:
    return sorted(items, key=lambda i: hashlib.sha256(f"{key}|{i}".encode()).hexdigest())


def option_order(record_id: str, epoch: int, seed: int = DEFAULT_SEED) -> list[int]:
    """Which option (0 = correct, 1-3 = the CSV's incorrect answers) is shown at letters A, B, C, D."""
    if epoch < 1:
        raise ValueError(f"epochs count from 1, got {epoch}")
    block, slot = divmod(epoch - 1, len(LETTERS))
    gold_position = _permutation(list(range(len(LETTERS))), f"{seed}|{record_id}|block|{block}")[slot]
    distractors = _permutation([1, 2, 3], f"{seed}|{record_id}|epoch|{epoch}")
    return distractors[:gold_position] + [0] + distractors[gold_position:]


def shuffle_metadata(record_id: str, epoch: int, seed: int = DEFAULT_SEED) -> dict[str, object]:
    """What the scorer needs (suites.grading.scorers.CHOICE_SHUFFLE_KEY): no question or option text."""
    order = option_order(record_id, epoch, seed)
    return {"seed": seed, "epoch": epoch, "order": order, "gold_letter": LETTERS[order.index(0)]}


def user_prompt(question: GPQAQuestion, order: list[int]) -> str:
    options = "\n".join(f"{LETTERS[k]}) {question.options[i]}" for k, i in enumerate(order))
    return USER_TEMPLATE.format(question=question.question, options=options)
