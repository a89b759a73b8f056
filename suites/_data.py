"""The data layer: every benchmark declared once, loaded from an offline mirror or the Hugging Face Hub.

Each benchmark names its hub dataset id, pinned revision and split, the expected record count, and the
sha256 of its mirror file and of its canonical content. With `K2BENCH_DATA_DIR` set (layout of
`../shared/data`, see its README), records come from the mirror; otherwise from the hub at the pinned
revision. A missing file, a wrong count or a checksum mismatch stops the run with a `DataError` that names
the file and the expected and found values: a benchmark is never silently shorter or different.

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
# name such as "main" is refused by the hub loader below.
HUB_REVISION = re.compile(r"^[0-9a-f]{40}$")

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
            # pinned in two independent public copies (a dataset manifest and a parquet checksum table)
            hub=HubSource("MathArena/aime_2025", "c94da77eb22bbd6439e62a323bec18493a421302", "train"),
            from_hub=_matharena_from_hub("aime2025", "AIME 2025"),
        ),
        Benchmark(
            name="hmmt_feb2025",
            count=30,
            mirror_path="hmmt_feb_2025/hmmt_feb_2025.jsonl",
            mirror_sha256="24820fe6f8fcd7dca32b93107cd171d7bec4c4e652c007663ad2eb060121879f",
            content_sha256="1e06ee7c3cbceb5e06c184ce73ea91b9d31fd793d034eed88dc15891140d6da5",
            # the revision opencompass, NeMo-Skills ports and sieval pin
            hub=HubSource("MathArena/hmmt_feb_2025", "6fdc4277120810ff75aa22d2d5489b91f7a262a1", "train"),
            from_hub=_matharena_from_hub("hmmt_feb_2025", "HMMT February 2025"),
        ),
        Benchmark(
            name="math500",
            count=500,
            mirror_path="math500/math500.jsonl",
            mirror_sha256="93d093692b4ba42918def62690927f56db1bb9a46937ecf3596f9cedbdda755c",
            content_sha256="03d5c520d69e9a5cb43cd537a054477f462b761ead48560b034efa4e538b5efe",
            # the hub's test.jsonl at this revision is recorded with the prm800k sha256 35dc4108..., the same
            # bytes as the mirror, so the converted rows must give the mirror's content checksum
            hub=HubSource(
                "HuggingFaceH4/MATH-500",
                "6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be",
                "test",
                content_sha256="03d5c520d69e9a5cb43cd537a054477f462b761ead48560b034efa4e538b5efe",
            ),
            from_hub=_math500_from_hub,
        ),
        Benchmark(
            # the authors' rule-gradable subset (GitHub KbsdJames/omni-math-rule@4793415); on the hub it exists
            # only as an unmerged pull request (refs/pr/2 of KbsdJames/Omni-MATH), which is not a pinnable commit
            name="omni_math_rule",
            count=2821,
            mirror_path="omni_math/omni_math_rule.jsonl.gz",
            mirror_sha256="f34d99b364daa0d0036864621802fdd5e933f9b7fc85e9de8138ab6efd886637",
            content_sha256="43baf4c812b356ecd051f1ebdc6c272e6a514cf00e3039be4a1f80f73be3e160",
            hub=None,
        ),
        Benchmark(
            # the full Omni-MATH set: not in the mirror (too large to obtain offline); hub only
            name="omni_math_full",
            count=4428,
            mirror_path="omni_math/Omni-Math.jsonl",
            mirror_sha256="7c87be8ee41ac7c7a597ef5a5500e84bd2b639a85a06db3da7f69bf9a32ef168",  # third-party record
            content_sha256=None,
            hub=HubSource("KbsdJames/Omni-MATH", "0000b6bc8be4aa61655413073c3645ae4b3b30e8", "test"),
            from_hub=_omni_math_from_hub,
        ),
        Benchmark(
            # the official password-protected zip; read only through suites/gpqa_diamond (in memory)
            name="gpqa_diamond",
            count=198,
            mirror_path="gpqa_diamond/dataset.zip",
            mirror_sha256="461ae7329f15a3e35f8184d2dac24b990f34fdf12f366ca4062d8e6638cd08dc",
            content_sha256=None,
            hub=HubSource("Idavidrein/gpqa", "633f5ee89ab8ad4522a9f850766b73f62147ffdd", "train", config="gpqa_diamond"),
        ),
        Benchmark(
            # statements only (QwQ's eval/data/livecodebench_v5.jsonl @620a5ea: release_v5, 2024-08-01..2025-02-01),
            # no tests. The hub's files (statements + tests) are read by suites/livecodebench/problems.py at this
            # revision, pinned in two public copies that load test.jsonl..test6.jsonl through resolve/<sha>/ URLs
            name="livecodebench_v5",
            count=279,
            mirror_path="livecodebench_v5/problems.jsonl",
            mirror_sha256="1892b2c3497cdd4ceeb7f2ecda934353af5cc56cebce06b1be8de73224c06bff",
            content_sha256="2d6471f2e0babd9e3da44745effb9f02243ddb5b86d7cdaba4d65093e268fb16",
            hub=HubSource("livecodebench/code_generation_lite", "0fe84c3912ea0c4d4a78037083943e8f0c4dd505", "test"),
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
