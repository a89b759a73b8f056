"""Expected errors are one line with the fix, never a traceback (issue 16): model configs validated by pydantic
(unknown keys refused, types checked), YAML syntax errors, missing or corrupt data, unreachable endpoints,
each through `python -m systems.run` as a user meets them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.config import ModelConfigError, load_model_config

ROOT = Path(__file__).resolve().parents[2]


def _runner(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "systems.run", *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
        timeout=300,
    )


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("systems.run:")]
    return line


BAD_CONFIGS = {
    "yaml": ("id: x\nmodel: [k2bench/a\n", "not valid YAML at line 3"),
    "unknown": ("id: x\nmodel: k2bench/a\nmodle_args: {}\n", "unknown fields ['modle_args']"),
    "type": ("id: x\nmodel: k2bench/a\nepochs: sixteen\n", "epochs: Input should be a valid integer"),
    "generate": ("id: x\nmodel: k2bench/a\ngenerate: {temprature: 0.6}\n", "Unknown GenerateConfig field(s): temprature"),
    "mapping": ("id: x\nmodel: k2bench/a\nmodel_args: [1, 2]\n", "model_args: Input should be a valid dictionary"),
    "missing": ("model: k2bench/a\n", "missing ['id']"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_bad_model_config_is_one_line(kind: str, tmp_path: Path) -> None:
    text, expected = BAD_CONFIGS[kind]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModelConfigError) as err:
        load_model_config(path)
    assert expected in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    line = _one_line(_runner(["--suites", "aime2025", "--systems", "plain", "--model", str(path)]))
    assert line.startswith("systems.run: ModelConfigError: ") and expected in line


def test_a_base_file_with_an_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("id: b\nmodel: k2bench/a\nbogus: 1\n")
    (tmp_path / "variant.yaml").write_text("base: base.yaml\nid: v\n")
    with pytest.raises(ModelConfigError, match=r"base.yaml: unknown fields \['bogus'\]"):
        load_model_config(tmp_path / "variant.yaml")


def test_missing_api_key_and_unknown_system_are_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CEREBRAS_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "systems.run", "--suites", "aime2025", "--systems", "plain", "--model",
         "models/cerebras.yaml", "--limit", "1"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300,
    )
    assert "set the API key in the environment variable CEREBRAS_API_KEY" in _one_line(proc)
    line = _one_line(_runner(["--suites", "aime2025", "--systems", "plian", "--model", "models/smollm2.yaml"]))
    assert "plian" in line
    line = _one_line(_runner(["--suites", "aime2026", "--systems", "plain", "--model", "models/smollm2.yaml"]))
    assert "no suite 'aime2026'" in line


def test_corrupt_data_through_the_runner_is_one_line(tmp_path: Path, data_dir: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(data_dir / "aime2025", mirror / "aime2025")
    path = mirror / "aime2025" / "aime2025.jsonl"
    path.write_bytes(path.read_bytes()[:-200])
    line = _one_line(
        _runner(["--suites", "aime2025", "--systems", "plain", "--model", "models/smollm2.yaml", "--limit", "1",
                 "--log-dir", str(tmp_path / "logs")], K2BENCH_DATA_DIR=str(mirror))
    )
    assert line.startswith("systems.run: DataError: aime2025: checksum mismatch") and "restore it" in line


def test_unreachable_endpoint_server_start_is_one_line(tmp_path: Path) -> None:
    """--serve with a model config whose serve: block names an engine that is not installed here."""
    config = tmp_path / "srv.yaml"
    config.write_text("id: s\nmodel: vllm/x\nbase_url: http://127.0.0.1:9/v1\nserve: {engine: nope}\n")
    proc = _runner(["--serve", "--suites", "aime2025", "--systems", "plain", "--model", str(config), "--limit", "1",
                    "--log-dir", str(tmp_path / "logs")])
    assert _one_line(proc).startswith("systems.run: ")
