"""The data layer: every benchmark declared once, loaded from an offline mirror or the Hugging Face Hub.

Each benchmark names its hub dataset id, pinned revision and split, the expected record count, and the
sha256 of its mirror file and of its canonical content. With `K2BENCH_DATA_DIR` set (layout of
`../shared/data`, see its README), records come from the mirror; otherwise from the hub at the pinned
revision. A missing file, a wrong count or a checksum mismatch stops the run with a `DataError` that names
the file and the expected and found values: a benchmark is never silently shorter or different.

Canonical content = the records as the suites consume them (`id`, `problem`, `answer`, plus the source's
own fields), serialised as sorted-key JSON lines; its sha256 is what a hub load is checked against.

    from suites._data import load_records
    records = load_records("aime2024")
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "K2BENCH_DATA_DIR"


class DataError(RuntimeError):
    """Benchmark data is missing, incomplete or not the data we pinned."""


@dataclass(frozen=True)
class HubSource:
    repo: str
    revision: str  # a commit sha: a moving branch would make runs incomparable
    split: str
    config: str | None = None
    content_sha256: str | None = None  # canonical content of the converted rows, when it was measured


@dataclass(frozen=True)
class Benchmark:
    name: str
    count: int
    mirror_path: str  # relative to K2BENCH_DATA_DIR
    mirror_sha256: str  # sha256 of the mirror file's bytes
    content_sha256: str | None  # sha256 of the mirror's canonical records (None for binary sources: GPQA's zip)
    hub: HubSource | None
    from_hub: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, compare=False)


def _aime_from_hf_h4(row: dict[str, Any]) -> dict[str, Any]:
    """HuggingFaceH4/aime_2024 row -> mirror record shape (id from the AoPS url, answer without padding)."""
    url = row["url"]  # .../2024_AIME_II_Problems/Problem_4
    contest = "II" if "_AIME_II_" in url else "I"
    idx = int(url.rsplit("_", 1)[1])
    return {
        "id": f"aime2024-{contest}-{idx}",
        "competition": f"AIME 2024 {contest}",
        "problem_idx": idx,
        "problem": row["problem"].strip(),
        "answer": str(int(row["answer"])),
        "answer_original": row["answer"],
        "source_path": url,
    }


def _matharena_from_hub(prefix: str, competition: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """MathArena/<comp> rows (problem_idx, problem, answer) -> mirror record shape."""

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        idx = int(row["problem_idx"])
        answer = str(row["answer"]).strip()
        return {
            "id": f"{prefix}-{idx}",
            "competition": competition,
            "problem_idx": idx,
            "problem": row["problem"].strip(),
            "answer": answer,
            "answer_original": str(row["answer"]),
        }

    return convert


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(
            name="aime2024",
            count=30,
            mirror_path="aime2024/aime2024.jsonl",
            mirror_sha256="5baefea1f041823b2b6643a2e8e1003477017b31f83bb3f44a58d0076f8c2625",
            content_sha256="dfb985c1df9da0016d33922f9dfd0dd8efd553fc750b17ba84076f68ecaee683",
            hub=HubSource("HuggingFaceH4/aime_2024", "2fe88a2f1091d5048c0f36abc874fb997b3dd99a", "train"),
            from_hub=_aime_from_hf_h4,
        ),
        Benchmark(
            name="aime2025",
            count=30,
            mirror_path="aime2025/aime2025.jsonl",
            mirror_sha256="431ee78e4015be73cd149b290064b8c600d06cdcd41f81c2f4a349d18a81340d",
            content_sha256="f1f7e1d326b64b94fc0d2fe831040ce67c7cb2413a756e551cc2e209a899f39a",
            hub=HubSource("MathArena/aime_2025", "main", "train"),
            from_hub=_matharena_from_hub("aime2025", "AIME 2025"),
        ),
    ]
}


def data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_sha256(records: list[dict[str, Any]]) -> str:
    """sha256 of the canonical serialisation of the records (sorted keys, one JSON object per line)."""
    lines = (json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records)
    return sha256_bytes("\n".join(lines).encode("utf-8"))


def benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise DataError(f"unknown benchmark {name!r}; declared: {', '.join(sorted(BENCHMARKS))}") from None


def mirror_file(name: str) -> Path:
    """Path of a benchmark's mirror file, checked to exist."""
    spec, root = benchmark(name), data_dir()
    if root is None:
        raise DataError(f"{DATA_DIR_ENV} is not set; cannot locate the mirror file of {name}")
    path = root / spec.mirror_path
    if not path.is_file():
        raise DataError(
            f"{name}: mirror file {path} is missing (expected {spec.mirror_path} under {DATA_DIR_ENV}={root})"
        )
    return path


def read_mirror_bytes(name: str) -> bytes:
    """The mirror file's bytes after checking its sha256 (for binary sources such as GPQA's zip)."""
    spec, path = benchmark(name), mirror_file(name)
    data = path.read_bytes()
    found = sha256_bytes(data)
    if found != spec.mirror_sha256:
        raise DataError(
            f"{name}: checksum mismatch for {path}: expected sha256 {spec.mirror_sha256}, found {found} "
            f"({len(data)} bytes). The file is corrupted, truncated or a different version."
        )
    return data


def _parse_jsonl(name: str, path: Path, data: bytes) -> list[dict[str, Any]]:
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    records = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{name}: {path} line {lineno} is not valid JSON: {err}") from err
    return records


def _check_count(name: str, where: str, spec: Benchmark, records: list[dict[str, Any]]) -> None:
    if len(records) != spec.count:
        raise DataError(f"{name}: {where} has {len(records)} records, expected {spec.count}")


def load_records(name: str) -> list[dict[str, Any]]:
    """Load a benchmark's canonical records from the mirror (if K2BENCH_DATA_DIR is set) or the hub."""
    spec = benchmark(name)
    if data_dir() is not None:
        path = mirror_file(name)
        records = _parse_jsonl(name, path, read_mirror_bytes(name))
        _check_count(name, str(path), spec, records)
        found = content_sha256(records)
        if spec.content_sha256 is not None and found != spec.content_sha256:
            raise DataError(f"{name}: content checksum of {path}: expected {spec.content_sha256}, found {found}")
        return records
    return _load_from_hub(spec)


def _load_from_hub(spec: Benchmark) -> list[dict[str, Any]]:
    if spec.hub is None or spec.from_hub is None:
        raise DataError(
            f"{spec.name}: no hub source is declared; set {DATA_DIR_ENV} to a mirror holding {spec.mirror_path}"
        )
    import datasets  # heavy: imported only when the hub is actually used

    hub = spec.hub
    where = f"hub dataset {hub.repo}@{hub.revision} split {hub.split}"
    try:
        rows = datasets.load_dataset(hub.repo, hub.config, split=hub.split, revision=hub.revision)
    except Exception as err:  # network or auth failures: say what we tried and how to go offline
        raise DataError(
            f"{spec.name}: could not load {where}: {err}. Offline? Set {DATA_DIR_ENV} to a mirror "
            f"directory holding {spec.mirror_path} (layout of shared/data)."
        ) from err
    records = sorted((spec.from_hub(dict(row)) for row in rows), key=lambda r: r["id"])
    _check_count(spec.name, where, spec, records)
    found = content_sha256(records)
    if hub.content_sha256 is not None and found != hub.content_sha256:
        raise DataError(f"{spec.name}: content checksum mismatch for {where}: expected {hub.content_sha256}, found {found}")
    if hub.content_sha256 is None:
        logger.warning("%s: %s has no pinned content checksum; found %s (pin it in suites/_data.py)", spec.name, where, found)
    return records
