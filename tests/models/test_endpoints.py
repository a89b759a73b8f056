"""Endpoints cannot hang or retry silently, and a dropped protocol setting is caught (issue 16).

Each test starts a real local HTTP server (tests/models/endpoint_servers.py) and runs the project's commands
against it as a user would, in a subprocess: `python -m systems.run` with the SHIPPED model config
(models/cerebras.yaml, its base URL pointed at the local server through CEREBRAS_BASE_URL, as the file's
comment documents), and `inspect eval` with an `openai/` provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from endpoint_servers import base_url, serve

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
INSPECT = str(Path(sys.executable).with_name("inspect"))


def _env(**extra: str) -> dict[str, str]:
    # COLUMNS: inspect wraps its rich console at 80 columns when not on a terminal; keep each line whole
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COLUMNS": "400", **extra}
    env.pop("INSPECT_EVAL_MODEL", None)
    return env


def _run(args: list[str], env: dict[str, str], timeout: int = 300) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def _logs(log_dir: Path) -> list:
    from inspect_ai.log import list_eval_logs, read_eval_log

    return [read_eval_log(info.name) for info in list_eval_logs(str(log_dir))]


@pytest.mark.slow
def test_http_500_ends_the_run_within_60s_with_the_shipped_config(tmp_path, data_dir) -> None:
    server, requests = serve("error500")
    try:
        env = _env(CEREBRAS_API_KEY="test-key", CEREBRAS_BASE_URL=base_url(server))
        proc, wall = _run(
            [PYTHON, "-m", "systems.run", "--suites", "aime2025", "--systems", "plain", "--model",
             "models/cerebras.yaml", "--limit", "1", "--epochs", "1", "--log-dir", str(tmp_path / "logs"),
             "--display", "plain"],
            env,
        )
    finally:
        server.shutdown()
    out = proc.stdout + proc.stderr
    assert wall < 60, f"took {wall:.0f} s"
    assert proc.returncode == 1, out[-3000:]
    # every retry said so (models/endpoint_watch.py), bounded by the shipped max_retries: 3
    for attempt in (1, 2, 3):
        assert f"attempt {attempt} failed (HTTP 500 InternalServerError)" in out
    assert "attempt 4 failed" not in out
    # the run ends naming the task and the real cause, not tenacity's RetryError
    (failed,) = [line for line in proc.stderr.splitlines() if line.startswith("systems.run: FAILED")]
    assert "aime2025--plain: error: after retries: openai.InternalServerError: Error code: 500" in failed
    assert 4 <= len([r for r in requests if r["path"].endswith("/chat/completions")]) <= 12
    (log,) = _logs(tmp_path / "logs")
    assert log.status == "error"


@pytest.mark.slow
def test_an_endpoint_that_never_answers_ends_by_attempt_timeout(tmp_path, data_dir) -> None:
    server, requests = serve("silent")
    try:
        env = _env(CEREBRAS_API_KEY="test-key", CEREBRAS_BASE_URL=base_url(server))
        # the shipped config allows a 10-minute attempt; a test waits 3 s (same mechanism, -G overrides)
        proc, wall = _run(
            [PYTHON, "-m", "systems.run", "--suites", "aime2025", "--systems", "plain", "--model",
             "models/cerebras.yaml", "--limit", "1", "--epochs", "1", "-G", "attempt_timeout=3", "-G",
             "max_retries=1", "--log-dir", str(tmp_path / "logs"), "--display", "plain"],
            env,
            timeout=240,
        )
    finally:
        server.shutdown()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and wall < 120, out[-3000:]
    assert "AttemptTimeoutError: attempt_timeout '3' exceeded" in proc.stderr
    assert "attempt 1 failed" in out and "attempt 2 failed" not in out
    assert len([r for r in requests if r["path"].endswith("/chat/completions")]) >= 2


def _protocol_config(tmp_path: Path, url: str, model: str) -> Path:
    path = tmp_path / "endpoint.yaml"
    path.write_text(
        f"id: protocol-test\nmodel: {model}\nbase_url: {url}\napi_key_env: K2BENCH_TEST_KEY\n"
        "model_args: {responses_api: false}\ngenerate: {max_retries: 0}\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, drops",
    [
        # inspect's openai provider believes an `o3-*` name always reasons and leaves temperature out
        ("openai/o3-local", True),
        # the generic OpenAI-compatible provider sends it: no warning
        ("openai-api/local/smollm2", False),
    ],
)
def test_protocol_check_reports_a_dropped_temperature(tmp_path, data_dir, model, drops) -> None:
    server, requests = serve("recording")
    try:
        config = _protocol_config(tmp_path, base_url(server), model)
        env = _env(K2BENCH_TEST_KEY="test-key", LOCAL_API_KEY="test-key")
        proc, _ = _run(
            [PYTHON, "-m", "systems.run", "--suites", "aime2025", "--systems", "plain", "--model", str(config),
             "--limit", "1", "--epochs", "1", "--log-dir", str(tmp_path / "logs"), "--display", "plain"],
            env,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    sent = [r["body"] for r in requests if r["path"].endswith("/chat/completions")]
    assert sent and all(("temperature" in body) != drops for body in sent)  # what the server really received
    (log,) = _logs(tmp_path / "logs")
    assert log.eval.config.epochs == 1 and log.plan.config.temperature == 1.0  # the log's config says 1.0...
    check = log.metadata["protocol_check"]
    assert check["checked_calls"] == len(sent)
    if drops:  # ...so the runner says the model never got it, on the console and in the log
        assert check["dropped"] == {"openai/o3-local:temperature": {"asked": 1.0, "calls": len(sent)}}
        assert "PROTOCOL: aime2025--plain: openai/o3-local never received temperature=1.0" in proc.stderr
        assert "protocol: openai/o3-local was asked temperature=1.0" in proc.stdout + proc.stderr
        logged = [e.message.message for s in log.samples for e in s.events if e.event == "logger"]
        assert any("was asked temperature=1.0" in m for m in logged)
    else:
        assert check["dropped"] == {} and "PROTOCOL" not in proc.stderr


@pytest.mark.slow
def test_inspect_eval_warns_on_a_dropped_temperature(tmp_path, data_dir) -> None:
    """The same check in a plain `inspect eval` (the hook is loaded with the k2bench entry point)."""
    server, requests = serve("recording")
    try:
        env = _env(OPENAI_API_KEY="test-key")
        proc, _ = _run(
            [INSPECT, "eval", "suites/aime/aime2025.py", "--model", "openai/o3-local", "--model-base-url",
             base_url(server), "-M", "responses_api=false", "--limit", "1", "-T", "epochs=1", "--log-dir",
             str(tmp_path / "logs"), "--display", "plain"],
            env,
        )
    finally:
        server.shutdown()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert all("temperature" not in r["body"] for r in requests if r["path"].endswith("/chat/completions"))
    assert "protocol: openai/o3-local was asked temperature=1.0" in out


def test_endpoint_configs_bound_retries_and_attempts() -> None:
    from models.config import load_model_config

    for name in ("cerebras", "k2_think", "vllm_cpu_smollm2", "vllm_cpu_smollm2_fp32"):
        generate = load_model_config(name).generate
        assert 0 < generate["max_retries"] <= 3 and generate["attempt_timeout"] > 0, name
    assert json.dumps(load_model_config("smollm2").generate) == "{}"  # in-process: no HTTP, nothing to retry
