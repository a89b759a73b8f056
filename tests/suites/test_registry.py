"""Suites as a registry: the k2bench/ namespace, and many suites at once with some data missing (issue 16).

`inspect eval suites --limit 1` without HLE and SciCode data runs the seven suites that have data and says in
one line each why the two were skipped; corrupt data stops with one line, not a traceback.
"""

from __future__ import annotations

import inspect as pyinspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSPECT = str(Path(sys.executable).with_name("inspect"))
WITH_DATA = {"aime2024", "aime2025", "gpqa_diamond", "hmmt_feb2025", "livecodebench_v5", "math500", "omni_math_hard"}
WITHOUT_DATA = {"hle", "scicode"}  # HLE is not in the mirror; SciCode's test_data.h5 is not bundled


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSPECT_EVAL_") and k != "K2BENCH_HLE_PATH"}
    env.pop("K2BENCH_SCICODE_H5", None)
    return {**env, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COLUMNS": "400", **extra}


def test_every_suite_is_registered_under_k2bench() -> None:
    from inspect_ai._util.registry import registry_info

    import k2bench._registry as namespaced
    import suites._registry as suite_registry

    factories = {n: f for n, f in vars(suite_registry).items() if callable(f) and f.__module__.startswith("suites.")}
    assert set(namespaced.SUITE_TASKS) == set(factories) == WITH_DATA | WITHOUT_DATA
    for name, task_fn in namespaced.SUITE_TASKS.items():
        assert registry_info(task_fn).name == f"k2bench/{name}"
        assert pyinspect.signature(task_fn) == pyinspect.signature(factories[name])  # -T args unchanged


@pytest.mark.slow
def test_all_suites_run_and_the_two_without_data_are_skipped(tmp_path: Path, data_dir: Path) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    # the command as documented; one epoch and 8 tokens through inspect's own variables (README "Small runs")
    proc = subprocess.run(
        [INSPECT, "eval", "suites", "--limit", "1", "--log-dir", str(tmp_path), "--display", "plain"],
        cwd=ROOT, env=_env(K2BENCH_DATA_DIR=str(data_dir), INSPECT_EVAL_EPOCHS="1", INSPECT_EVAL_MAX_TOKENS="8"),
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    skipped_lines = [line for line in proc.stderr.splitlines() if line.startswith("k2bench: suite skipped")]
    assert len(skipped_lines) == 2
    assert "hle: no HLE file under K2BENCH_DATA_DIR" in skipped_lines[0] and "-T data_path=" in skipped_lines[0]
    assert "SciCode: no test_data.h5 given" in skipped_lines[1] and "K2BENCH_SCICODE_H5" in skipped_lines[1]
    assert "Traceback" not in proc.stdout + proc.stderr
    logs = {log.eval.task: log for log in (read_eval_log(i.name) for i in list_eval_logs(str(tmp_path)))}
    assert set(logs) == WITH_DATA | WITHOUT_DATA
    for name in WITH_DATA:  # each ran its one sample to a score
        assert logs[name].status == "success" and len(logs[name].samples) == 1, name
        assert logs[name].samples[0].scores, name
    for name in WITHOUT_DATA:  # ran nothing, and the log says why
        assert not logs[name].samples and "k2bench_skipped" in logs[name].eval.metadata, name


def test_corrupt_data_is_one_line_not_a_traceback(tmp_path: Path, data_dir: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(data_dir / "aime2025", mirror / "aime2025")
    path = mirror / "aime2025" / "aime2025.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"answer": "', b'"answer": "1', 1))
    proc = subprocess.run(
        [INSPECT, "eval", "suites/aime/aime2025.py", "--limit", "1"],
        cwd=ROOT, env=_env(K2BENCH_DATA_DIR=str(mirror)), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    # stdout: inspect's banner (version, hooks), then the one message; stderr: only the model's loading bar
    # (rich wraps the message at the console width)
    text = " ".join(line.strip() for line in proc.stdout.splitlines() if line.strip())
    message = text[text.index("aime2025: checksum mismatch for") :]
    assert "expected sha256 431ee78e" in message and message.endswith("to load aime2025 from the hub.")
    assert len(proc.stdout.splitlines()) <= 15, proc.stdout


@pytest.mark.slow
def test_a_former_name_runs_todays_suite_with_a_deprecation_line(tmp_path: Path, data_dir: Path) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    proc = subprocess.run(
        [INSPECT, "eval", "k2bench/livecodebench", "--limit", "1", "-T", "epochs=1", "--max-tokens", "8",
         "--log-dir", str(tmp_path), "--display", "plain"],
        cwd=ROOT, env=_env(K2BENCH_DATA_DIR=str(data_dir)), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "k2bench: suite 'livecodebench' is now named 'livecodebench_v5'; the old name will be removed" in proc.stderr
    (log,) = [read_eval_log(i.name) for i in list_eval_logs(str(tmp_path))]
    assert log.eval.task == log.eval.metadata["suite"] == "livecodebench_v5"  # the log carries today's name
    assert log.status == "success" and len(log.samples) == 1


@pytest.mark.slow
def test_a_former_folder_path_stops_in_one_line(tmp_path: Path) -> None:
    """`inspect eval suites/hmmt` (the folder before the rename) stops with inspect's one line, no traceback; the
    new folder names are in suites/README.md ("One name per benchmark")."""
    proc = subprocess.run(
        [INSPECT, "eval", "suites/hmmt", "suites/livecodebench", "--limit", "1", "--log-dir", str(tmp_path),
         "--display", "plain"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert "No inspect tasks were found at the specified paths." in out
    assert not list(tmp_path.glob("*.eval"))
    readme = (ROOT / "suites" / "README.md").read_text()
    assert "`inspect eval suites/hmmt`" in readme and "`suites/hmmt_feb2025`" in readme
