"""The data layer: every benchmark's records from an offline mirror or the Hugging Face Hub, checked against its pins.

The pins are declared once, in the suite folder's eval.yaml (suites/_catalogue.py): the hub dataset id, pinned
revision and split, the expected record count, and the sha256 of the mirror file and of its canonical content;
this module adds only how a hub row becomes a record (FROM_HUB). The mirror's directory names (`hmmt_feb_2025/`,
`omni_math/`) are the shared mirror's, external: each dataset's `mirror.path` maps its name to them. With
`K2BENCH_DATA_DIR` set (layout of `../shared/data`, see its README), records come from the mirror; otherwise from
the hub at the pinned revision. A missing file, a wrong count or a checksum mismatch stops the run with a
`DataError` that names the file and the expected and found values: a benchmark is never silently shorter or
different.

Errors are one line with the fix, no traceback: `DataError` is an inspect `PrerequisiteError`, which
`inspect eval` prints as its message alone. `DataUnavailable` (a subclass) means the data is simply not here
(no mirror file, no hub access): a suite then builds a skipped task (suites/_unavailable.py) so that
`inspect eval suites` runs every other suite and says in one line why this one was skipped; corrupt or
mismatched data is a plain `DataError` and stops the run.

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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai._util.error import PrerequisiteError

from suites._catalogue import DatasetSpec, catalogue

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "K2BENCH_DATA_DIR"


class DataError(PrerequisiteError, RuntimeError):
    """Benchmark data is missing, incomplete or not the data we pinned (printed by inspect without a traceback)."""

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)
        self.message = message  # what inspect's exception hook prints


class DataUnavailable(DataError):
    """The data is not on this machine (no mirror file, hub unreachable or gated): the suite can be skipped."""


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


def _math500_from_hub(row: dict[str, Any]) -> dict[str, Any]:
    """HuggingFaceH4/MATH-500 row -> mirror record shape (the mirror adds `id` = `unique_id`)."""
    return {"id": row["unique_id"], **row}


def _omni_math_from_hub(row: dict[str, Any]) -> dict[str, Any]:
    """KbsdJames/Omni-MATH row (full set) -> record; the id is the row's content hash, since the file has none."""
    problem_sha = hashlib.sha256(row["problem"].encode("utf-8")).hexdigest()
    return {"id": f"omni-math-{problem_sha[:16]}", "problem_sha256": problem_sha, **row}


# Hub revisions are commit shas found in public pinned copies (suites/*/README.md says where); a branch
# name such as "main" is refused by the hub loader below (and by suites/_catalogue.py when eval.yaml is read).
HUB_REVISION = re.compile(r"^[0-9a-f]{40}$")

# how a hub row becomes a mirror record, per dataset (the pins themselves are in the suites' eval.yaml)
FROM_HUB: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aime2024": _aime_from_hf_h4,
    "aime2025": _matharena_from_hub("aime2025", "AIME 2025"),
    "hmmt_feb2025": _matharena_from_hub("hmmt_feb_2025", "HMMT February 2025"),
    "math500": _math500_from_hub,
    "omni_math_full": _omni_math_from_hub,
}


def _benchmark(spec: DatasetSpec) -> Benchmark:
    hub = spec.hub
    return Benchmark(
        name=spec.name,
        count=spec.count,  # type: ignore[arg-type]  # every dataset with a mirror declares its count (checked below)
        mirror_path=spec.mirror.path,  # type: ignore[union-attr]
        mirror_sha256=spec.mirror.sha256,  # type: ignore[union-attr]
        content_sha256=spec.mirror.content_sha256,  # type: ignore[union-attr]
        hub=None if hub is None else HubSource(hub.repo, hub.revision, hub.split, hub.config, hub.content_sha256),
        from_hub=FROM_HUB.get(spec.name),
    )


def _benchmarks() -> dict[str, Benchmark]:
    """Every dataset of suites/*/eval.yaml that has an offline-mirror file (HLE has none: suites/hle/records.py)."""
    specs = [d for d in catalogue().datasets.values() if d.mirror is not None]
    if uncounted := [d.name for d in specs if d.count is None]:
        raise DataError(f"datasets {uncounted} have a mirror file but no count in their eval.yaml")
    if unknown := set(FROM_HUB) - {d.name for d in specs}:
        raise DataError(f"FROM_HUB names datasets no eval.yaml declares: {sorted(unknown)}")
    return {d.name: _benchmark(d) for d in specs}


BENCHMARKS: dict[str, Benchmark] = _benchmarks()


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
        raise DataUnavailable(f"{DATA_DIR_ENV} is not set; cannot locate the mirror file of {name}")
    path = root / spec.mirror_path
    if not path.is_file():
        raise DataUnavailable(
            f"{name}: mirror file {path} is missing (expected {spec.mirror_path} under {DATA_DIR_ENV}={root}). "
            f"Point {DATA_DIR_ENV} at the benchmark mirror (layout of shared/data), or unset it to load "
            f"{name} from the Hugging Face Hub at its pinned revision"
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
            f"({len(data)} bytes). The file is corrupted, truncated or a different version: restore it from the "
            f"mirror, or unset {DATA_DIR_ENV} to load {name} from the hub."
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
        if path.suffix == ".zip":
            raise DataError(f"{name}: {path} is an archive, not JSON lines; load it through its suite's own loader")
        records = _parse_jsonl(name, path, read_mirror_bytes(name))
        _check_count(name, str(path), spec, records)
        found = content_sha256(records)
        if spec.content_sha256 is not None and found != spec.content_sha256:
            raise DataError(f"{name}: content checksum of {path}: expected {spec.content_sha256}, found {found}")
        return records
    return _load_from_hub(spec)


def _load_from_hub(spec: Benchmark) -> list[dict[str, Any]]:
    if spec.hub is None or spec.from_hub is None:
        raise DataUnavailable(
            f"{spec.name}: no hub source is declared; set {DATA_DIR_ENV} to a mirror holding {spec.mirror_path}"
        )
    import datasets  # heavy: imported only when the hub is actually used

    hub = spec.hub
    where = f"hub dataset {hub.repo}@{hub.revision} split {hub.split}"
    if not HUB_REVISION.match(hub.revision):
        raise DataError(
            f"{spec.name}: refusing {where}: the revision is not a pinned commit sha, so the data could change "
            f"between runs. Pin a 40-hex commit in suites/_data.py or set {DATA_DIR_ENV} to the offline mirror."
        )
    try:
        rows = datasets.load_dataset(hub.repo, hub.config, split=hub.split, revision=hub.revision)
    except Exception as err:  # network or auth failures: say what we tried and how to go offline
        raise DataUnavailable(
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
