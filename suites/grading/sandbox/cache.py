"""The on-disk verdict cache: one JSON file per sha256(code, tests, mode, limits, runner, isolation).

Retries and resumed runs never execute finished work twice (shared/reference/sandbox.md, part 3: inspect
re-executes the samples in flight at a crash). Lives under K2BENCH_CACHE_DIR or ~/.cache/k2bench/exec; the
caller decides what is cached (never a sandbox_error). Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from suites.grading.sandbox.datatypes import ExecResult, Limits, TestCase
from suites.grading.sandbox.settings import (
    CACHE_DIR_ENV,
    CACHE_VERSION,
    DEFAULT_CACHE_DIR,
    RUNNER_PATH,
    SANDBOX_PYTHON,
    SITE_PACKAGES_DIR,
    ZYGOTE_PATH,
)

# a change to the runner (comparison rules, limits handling) or to how the zygote builds a sandbox
# invalidates every cached verdict
RUNNER_DIGEST = hashlib.sha256(RUNNER_PATH.read_bytes() + ZYGOTE_PATH.read_bytes()).hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def cache_key(
    code: str,
    tests: Sequence[TestCase],
    mode: str,
    fn_name: str | None,
    limits: Limits,
    float_tol: float | None,
    isolation: str,
    site_packages: bool = False,
    prelude: bool = True,
) -> str:
    payload = {
        "v": CACHE_VERSION,
        "runner": RUNNER_DIGEST,
        "python": SANDBOX_PYTHON,
        "isolation": isolation,
        "code": code,
        "tests": [[t.input, t.output] for t in tests],
        "mode": mode,
        "fn_name": fn_name,
        "limits": asdict(limits),
        "float_tol": float_tol,
        "site_packages": SITE_PACKAGES_DIR if site_packages else None,
        "prelude": prelude,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.json"


def get(key: str) -> ExecResult | None:
    try:
        data = json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return None
    result = ExecResult.from_dict(data)
    result.cached = True
    return result


def put(key: str, result: ExecResult) -> None:
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result.to_dict(), f)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
