"""Shared fixtures: the benchmark mirror (required, never skipped) and the repo root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("K2BENCH_DATA_DIR")
    if not value:
        pytest.fail("K2BENCH_DATA_DIR is not set: point it at the benchmark mirror (CI uses ../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"K2BENCH_DATA_DIR={value} is not a directory")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
