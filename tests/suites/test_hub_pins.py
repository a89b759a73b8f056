"""Every hub source is pinned to a commit, and the hub loader refuses anything else before touching the network."""

from __future__ import annotations

import dataclasses

import pytest

from suites import _data
from suites.hle.records import HLE_REVISION


def test_every_declared_hub_revision_is_a_commit_sha() -> None:
    for spec in _data.BENCHMARKS.values():
        if spec.hub is not None:
            assert _data.HUB_REVISION.match(spec.hub.revision), (spec.name, spec.hub.revision)
    assert _data.HUB_REVISION.match(HLE_REVISION)


@pytest.mark.parametrize("revision", ["main", "refs/pr/2", "caf7304"])
def test_unpinned_revision_is_refused(revision: str) -> None:
    spec = _data.BENCHMARKS["hmmt_feb2025"]
    unpinned = dataclasses.replace(spec, hub=dataclasses.replace(spec.hub, revision=revision))
    with pytest.raises(_data.DataError, match="not a pinned commit sha"):
        _data._load_from_hub(unpinned)


def test_archive_mirror_is_not_read_as_jsonl(data_dir) -> None:
    with pytest.raises(_data.DataError, match="archive"):
        _data.load_records("gpqa_diamond")
