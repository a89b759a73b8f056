"""The project as an installed inspect package: `pip install` (non-editable) into a throwaway environment, then
`inspect eval k2bench/aime2025 --limit 1` from a directory outside the checkout, with no `.env` and no
INSPECT_EVAL_MODEL (issue 16).

The throwaway environment is a `python -m venv --without-pip` whose one `.pth` line puts the test
environment's site-packages (torch, inspect-ai, ... and pip) behind its own; a `.pth` line adds the path only,
it does not run that directory's own .pth files, so the test environment's editable install of this checkout
stays out of it. `pip install --no-deps --no-build-isolation <copy of the checkout>` then builds and installs
the wheel exactly as a user's `pip install .` does (seconds, offline). Nothing is written to the test
environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _copy_checkout(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink() and name != ".env":
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(source.read_bytes())
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway venv with k2bench installed from a copy of this checkout; returns its python."""
    root = tmp_path_factory.mktemp("install")
    src = _copy_checkout(root / "src")
    venv = root / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    # every site-packages the test environment sees (its own; a layered venv's base too), never the checkout
    deps = [p for p in sys.path if p.rstrip("/").endswith("site-packages") and Path(p).is_dir()]
    Path(site, "test-env-deps.pth").write_text("".join(f"{p}\n" for p in deps or [sysconfig.get_paths()["purelib"]]))
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(src)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return python


def test_package_installs_with_the_k2bench_entry_point(installed: Path, tmp_path: Path) -> None:
    code = (
        "import json, suites, k2bench; from importlib.metadata import entry_points, distribution;"
        "print(json.dumps({'suites': suites.__file__, 'eps': [(e.name, e.value) for e in entry_points(group='inspect_ai')],"
        "'editable': distribution('k2bench').read_text('direct_url.json')}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INSPECT_EVAL_MODEL")}
    out = subprocess.run([str(installed), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    import json

    facts = json.loads(out.stdout)
    assert "site-packages" in facts["suites"] and str(ROOT) not in facts["suites"]  # the installed copy
    assert facts["eps"] == [["k2bench", "k2bench._registry"]]
    assert facts["editable"] is None or '"editable": true' not in facts["editable"]


@pytest.mark.slow
def test_inspect_eval_k2bench_task_from_outside_the_checkout(installed: Path, tmp_path: Path, data_dir: Path) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("INSPECT_EVAL_")}
    env.update(K2BENCH_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", COLUMNS="200")
    assert not (tmp_path / ".env").exists()
    # the must-show command, with one epoch and a short generation (the task's own -T, inspect's --max-tokens)
    proc = subprocess.run(
        [str(installed), "-m", "inspect_ai", "eval", "k2bench/aime2025", "--limit", "1", "-T", "epochs=1",
         "--max-tokens", "16", "--log-dir", "logs", "--display", "plain"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (info,) = list_eval_logs(str(tmp_path / "logs"))
    log = read_eval_log(info.name)
    assert log.status == "success" and len(log.samples) == 1
    assert log.eval.task == "aime2025" and log.eval.task_registry_name == "k2bench/aime2025"
    assert log.eval.model == "k2bench/smollm2-135m-instruct"  # the embedded default, without any .env
    assert "site-packages" in (log.eval.task_file or "site-packages")  # not the checkout's suites/
    # an explicit --model still wins over the default
    proc = subprocess.run(
        [str(installed), "-m", "inspect_ai", "eval", "k2bench/aime2025", "--limit", "1", "-T", "epochs=1",
         "--model", "k2bench/smollm2-135m-instruct", "-M", "max_tokens_cap=8", "--log-dir", "logs2",
         "--display", "plain"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (info,) = list_eval_logs(str(tmp_path / "logs2"))
    assert read_eval_log(info.name).eval.model_args == {"max_tokens_cap": 8}
