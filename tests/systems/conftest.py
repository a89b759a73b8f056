"""Fixtures for tests/systems: a runner helper and ONE vLLM CPU server at a time per session.

(data_dir comes from tests/conftest.py.)

The vLLM server (scripts/setup_vllm.sh builds .venv-vllm) is the embedded SmolLM2 behind vLLM's
OpenAI-compatible API (models/vllm_cpu_smollm2.yaml): it stands in for Cerebras and for the planner/judge.
`vllm` hands out a server by kind ("plain" or the "speculative" overlay); asking for the other kind stops the
running one first, so a session starts at most one plain and one n-gram server (~1.5 min each on 2 cores).
Tests in test_vllm_server.py are ordered so the plain server is used first. Both run in float32, the dtype
of systems/speculative.py's equivalence check (bf16 rounding flips greedy near-ties between the two).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_CONFIG = REPO_ROOT / "models" / "vllm_cpu_smollm2.yaml"
# a port of its own, so a developer's server on the config's default port does not collide with the tests
TEST_PORT = int(os.environ.get("K2BENCH_TEST_VLLM_PORT", "8031"))


@pytest.fixture(scope="session", autouse=True)
def _repo_cwd() -> Iterator[None]:
    # system and model configs are addressed relative to the repository root, as on the command line
    previous = os.getcwd()
    os.chdir(REPO_ROOT)
    yield
    os.chdir(previous)


class ServerPool:
    """At most one running vLLM server; `get(kind)` switches kinds by stopping the running one."""

    def __init__(self) -> None:
        from models.config import load_model_config

        self.config = load_model_config(VLLM_CONFIG)
        self.kind: str | None = None
        self.server = None
        self.starts: dict[str, float] = {}

    def get(self, kind: str):  # noqa: ANN201 (systems.serve.VLLMServer)
        from systems.compose import load_system
        from systems.serve import ServerError, server_for, vllm_python
        from systems.speculative import CHECK_DTYPE

        if self.kind == kind and self.server is not None:
            return self.server
        self.stop()
        try:
            vllm_python()
        except ServerError as err:
            pytest.fail(f"{err} (CI: scripts/setup_vllm.sh before the tests)")
        overlay = load_system(kind).serving if kind != "plain" else None
        server = server_for(self.config, overlay, port=TEST_PORT, args={"dtype": CHECK_DTYPE})
        server.start()
        self.server, self.kind = server, kind
        self.starts[kind] = server.started_s or 0.0
        return server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self.kind = None, None


@pytest.fixture(scope="session")
def vllm() -> Iterator[ServerPool]:
    pool = ServerPool()
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def runner():  # noqa: ANN201
    """systems.run in-process (the embedded model stays loaded between calls), display off."""
    from systems.run import run

    def invoke(args: list[str]) -> int:
        return run([*args, "--display", "none"])

    return invoke
