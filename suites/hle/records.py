"""Humanity's Last Exam records: where they come from, which are text-only, and how each one is graded.

HLE is not in the offline mirror (gated on the hub: `cais/hle`, accept its terms first). Sources, in order:
  1. the task argument `data_path`, or the environment variable K2BENCH_HLE_PATH: a .jsonl or .parquet
     file in HLE's own schema (fields id, question, image, answer, answer_type, ...; the hub's
     `data/test-00000-of-00001.parquet` as downloaded);
  2. with K2BENCH_DATA_DIR set: `hle/test-00000-of-00001.parquet` (or `hle/hle.jsonl`) under it;
  3. without K2BENCH_DATA_DIR: the hub at the commit pinned in eval.yaml (needs HF access to the gated set).
Anything else stops with a DataError that says all of this (DataUnavailable when no source is
there at all: `inspect eval suites` then skips HLE with that line and runs the other suites). The file's sha256 goes into the run's metadata.

Grading (suites.grading.scorers.rule_or_judge_scorer): multiple-choice questions by the chosen letter;
exact-match questions whose answer is a number or a formula by the math grader; every other exact-match
answer (words, names, mixed text) by the LLM judge of the inspect model role `grader`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from suites._catalogue import CatalogueError, dataset_spec
from suites._data import DATA_DIR_ENV, DataError, DataUnavailable, data_dir

_HUB = dataset_spec("hle").hub  # pinned in suites/hle/eval.yaml
if _HUB is None:
    raise CatalogueError("suites/hle/eval.yaml: dataset hle needs its hub source (repo, revision, split)")
HLE_REPO, HLE_REVISION, HLE_SPLIT = _HUB.repo, _HUB.revision, _HUB.split
HLE_PATH_ENV = "K2BENCH_HLE_PATH"
MIRROR_CANDIDATES = ("hle/test-00000-of-00001.parquet", "hle/hle.parquet", "hle/hle.jsonl")
REQUIRED_FIELDS = ("id", "question", "answer", "answer_type")
ANSWER_TYPES = ("exactMatch", "multipleChoice")
KEPT_FIELDS = ("id", "question", "answer", "answer_type", "raw_subject", "category", "author_name")
HOW_TO_PROVIDE = (
    "HLE is not in the offline mirror (the hub copy cais/hle is gated). Provide it in HLE's schema "
    "(fields id, question, image, answer, answer_type) in one of these ways: "
    f"(1) inspect eval suites/hle -T data_path=/path/to/hle.parquet (or .jsonl); "
    f"(2) export {HLE_PATH_ENV}=/path/to/hle.parquet; "
    f"(3) put the hub's data/test-00000-of-00001.parquet at $K2BENCH_DATA_DIR/{MIRROR_CANDIDATES[0]}; "
    f"(4) unset {DATA_DIR_ENV} and give this machine hub access (accept the terms of {HLE_REPO}, set HF_TOKEN) "
    f"to load {HLE_REPO}@{HLE_REVISION}."
)
_MC_OPTION = re.compile(r"^\s*([A-Z])[.)]\s", re.MULTILINE)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:\s*/\s*\d+)?$")


def load_hle(data_path: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """All HLE records (images included as the source has them) and a description of the source."""
    explicit = data_path or os.environ.get(HLE_PATH_ENV)
    if explicit:
        return _read_file(Path(explicit).expanduser())
    root = data_dir()
    if root is not None:
        for candidate in MIRROR_CANDIDATES:
            if (root / candidate).is_file():
                return _read_file(root / candidate)
        raise DataUnavailable(f"hle: no HLE file under {DATA_DIR_ENV}={root}. {HOW_TO_PROVIDE}")
    return _read_hub()


def _read_file(path: Path) -> tuple[list[dict[str, Any]], str]:
    if not path.is_file():
        raise DataError(f"hle: {path} does not exist. {HOW_TO_PROVIDE}")
    data = path.read_bytes()
    if path.suffix == ".parquet":
        import io

        import pandas as pd

        records = pd.read_parquet(io.BytesIO(data)).to_dict(orient="records")
    elif path.suffix in (".jsonl", ".json"):
        records = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    else:
        raise DataError(f"hle: {path} is neither .parquet nor .jsonl. {HOW_TO_PROVIDE}")
    _check_schema(records, str(path))
    return records, f"{path} (sha256 {hashlib.sha256(data).hexdigest()}, {len(records)} records)"


def _read_hub() -> tuple[list[dict[str, Any]], str]:
    import datasets

    where = f"{HLE_REPO}@{HLE_REVISION} split {HLE_SPLIT}"
    try:
        rows = datasets.load_dataset(HLE_REPO, split=HLE_SPLIT, revision=HLE_REVISION)
    except Exception as err:
        raise DataUnavailable(f"hle: could not load {where}: {type(err).__name__}: {err}. {HOW_TO_PROVIDE}") from err
    records = [dict(row) for row in rows]
    _check_schema(records, where)
    return records, f"{where} ({len(records)} records)"


def _check_schema(records: list[dict[str, Any]], where: str) -> None:
    if not records:
        raise DataError(f"hle: {where} holds no records. {HOW_TO_PROVIDE}")
    for i, record in enumerate(records):
        missing = [f for f in REQUIRED_FIELDS if f not in record]
        if missing:
            raise DataError(f"hle: record {i} of {where} lacks {missing}; HLE's schema has {list(REQUIRED_FIELDS)}")
        if record["answer_type"] not in ANSWER_TYPES:
            raise DataError(f"hle: record {record['id']} of {where} has answer_type {record['answer_type']!r}")


def is_text_only(record: dict[str, Any]) -> bool:
    image = record.get("image")
    return image is None or (isinstance(image, str) and not image.strip())


def mc_letters(question: str) -> str:
    """The option letters listed in a multiple-choice question ("A. ...", "B) ..." lines)."""
    letters = sorted(set(_MC_OPTION.findall(question)))
    return "".join(letters)


def is_math_answer(answer: str) -> bool:
    """A number or a formula (graded by rule); words, names or units mean free text (graded by the judge)."""
    text = answer.strip().strip("$").strip()
    if _NUMBER.match(text):
        return True
    without_commands = re.sub(r"\\[A-Za-z]+", " ", text)
    if re.search(r"[A-Za-z]{2,}", without_commands):
        return False
    return bool(re.search(r"[\d\\]", text))


def grading_of(record: dict[str, Any]) -> str:
    """ "choice", "math" or "judge" for one record (see the module docstring)."""
    answer = str(record["answer"]).strip()
    if record["answer_type"] == "multipleChoice":
        letters = mc_letters(record["question"])
        return "choice" if len(answer) == 1 and answer in letters else "judge"
    return "math" if is_math_answer(answer) else "judge"


def hle_records(data_path: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Text-only records with the fields the suite keeps plus `grading` / `n_choices`, and source facts."""
    records, source = load_hle(data_path)
    text = [r for r in records if is_text_only(r)]
    out = []
    for record in text:
        kept = {k: (str(record[k]) if record.get(k) is not None else None) for k in KEPT_FIELDS if k in record}
        kept["grading"] = grading_of(record)
        if kept["grading"] == "choice":
            kept["n_choices"] = len(mc_letters(record["question"]))
        out.append(kept)
    counts = {g: sum(r["grading"] == g for r in out) for g in ("choice", "math", "judge")}
    facts = {"hle_source": source, "hle_records": len(records), "hle_text_only": len(out), "hle_grading": counts}
    return out, facts
