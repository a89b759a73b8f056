"""The suite unit (issue 18): eval.yaml is the one home of versions and data pins, every suite is built by
`suite_task` with the scorer of the grader it names, one name per benchmark, and every grading scorer lives in
suites/grading/scorers.py.

    python -m pytest tests/suites/test_catalogue.py -q        (~20 s: builds every suite with mirror data)
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suites import _catalogue, _data
from suites._catalogue import CatalogueError, former_names, load_catalogue, task_spec

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "suites"
SUITE_FOLDERS = sorted(p.parent for p in SUITES.glob("*/eval.yaml"))
# code outside suites/grading/scorers.py that may define an inspect scorer, and why it grades nothing
NON_GRADING_SCORERS = {
    "systems/accounting.py": {"accounting_scorer"},  # records each model call's tokens and role
    "benchmarks/lm_eval_crosscheck.py": {"captured_scorer"},  # wraps a suite's scorer to keep its verdicts
}


def _factories() -> dict[str, object]:
    import suites._registry as registry

    return {n: f for n, f in vars(registry).items() if callable(f) and f.__module__.startswith("suites.")}


def _suite_modules() -> list[Path]:
    return sorted(p for folder in SUITE_FOLDERS for p in folder.glob("*.py"))


@pytest.fixture()
def fresh_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """A copy of every eval.yaml, read in place of the real ones; returns a function to edit one."""
    for folder in SUITE_FOLDERS:
        (tmp_path / folder.name).mkdir()
        shutil.copy(folder / "eval.yaml", tmp_path / folder.name / "eval.yaml")
    monkeypatch.setattr(_catalogue, "SUITES_DIR", tmp_path)
    _catalogue.catalogue.cache_clear()

    def edit(folder: str, change) -> None:  # noqa: ANN001
        path = tmp_path / folder / "eval.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data))
        _catalogue.catalogue.cache_clear()

    yield edit
    _catalogue.catalogue.cache_clear()


# --- one home for versions and data pins --------------------------------------------------------------------


def test_every_registered_suite_has_one_eval_yaml_entry_in_its_own_folder() -> None:
    factories = _factories()
    catalogue = _catalogue.catalogue()
    assert set(factories) == set(catalogue.tasks)
    for name, factory in factories.items():
        folder, spec = catalogue.tasks[name]
        assert factory.__module__ == f"suites.{folder}.{name}", name  # suites/<folder>/<name>.py
        assert spec.version == task_spec(name).version
    # one task per folder is named after its folder; aime holds the two years
    assert {folder for folder, _ in catalogue.tasks.values()} == {p.name for p in SUITE_FOLDERS}
    assert all(name.startswith(folder) for name, (folder, _) in catalogue.tasks.items())


def test_the_version_is_read_from_eval_yaml(fresh_catalogue, data_dir: Path) -> None:
    from suites.aime.aime2025 import aime2025
    from suites.hle.hle import hle

    def bump(data: dict) -> None:
        next(t for t in data["tasks"] if t["name"] == "aime2025")["version"] = "7-Z"

    fresh_catalogue("aime", bump)
    task = aime2025(epochs=1)
    assert task.version == task.metadata["suite_version"] == "7-Z"
    fresh_catalogue("hle", lambda data: data["tasks"][0].update(version="3-C"))
    skipped = hle(epochs=1)  # no HLE data here: the skipped task carries the version too
    assert skipped.version == skipped.metadata["suite_version"] == "3-C"


def test_no_suite_module_holds_a_version_or_builds_its_own_task() -> None:
    for path in _suite_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assert not any(isinstance(t, ast.Name) and t.id == "VERSION" for t in targets), path
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                assert name != "Task", f"{path}: builds a Task itself; use suites._suite.suite_task"
                assert not name.endswith("_scorer"), f"{path}: builds scorer {name}; name the grader instead"
                assert "version" not in {k.arg for k in node.keywords}, f"{path}: passes version="


def test_each_suite_names_its_grader_once_and_gets_that_graders_scorer(data_dir: Path) -> None:
    from suites.grading.registry import GRADER_KEY
    from suites.grading.scorers import SCORERS

    for path in _suite_modules():
        tree = ast.parse(path.read_text())
        tasks = [f for f in tree.body if isinstance(f, ast.FunctionDef) and any(
            getattr(d, "id", None) == "task" for d in f.decorator_list)]  # fmt: skip
        for fn in tasks:
            graders = [k.value.value for node in ast.walk(fn) if isinstance(node, ast.Call) for k in node.keywords
                       if k.arg == "grader" and isinstance(k.value, ast.Constant)]  # fmt: skip
            assert len(graders) == 1, f"{path}:{fn.name} names {len(graders)} graders"
            factory = _factories()[fn.name]
            task = factory(epochs=1)
            if task.metadata.get("k2bench_skipped"):
                continue  # HLE, SciCode: no data here (their scorers are checked in test_hle.py / test_scicode.py)
            assert task.metadata[GRADER_KEY] == graders[0], fn.name
            (scorer,) = task.scorer
            assert scorer.__qualname__.split(".")[0] == SCORERS[graders[0]].__name__, fn.name


def test_dataset_pins_come_from_eval_yaml() -> None:
    declared = {d.name: d for d in _catalogue.catalogue().datasets.values() if d.mirror is not None}
    assert set(_data.BENCHMARKS) == set(declared)
    for name, spec in _data.BENCHMARKS.items():
        d = declared[name]
        assert (spec.count, spec.mirror_path, spec.mirror_sha256, spec.content_sha256) == (
            d.count, d.mirror.path, d.mirror.sha256, d.mirror.content_sha256)  # fmt: skip
        assert (spec.hub is None) == (d.hub is None) and (spec.hub is None or spec.hub.revision == d.hub.revision)
    assert set(_data.FROM_HUB) <= set(declared)
    from suites.hle.records import HLE_REVISION

    assert HLE_REVISION == _catalogue.dataset_spec("hle").hub.revision
    # the pins live nowhere else in code
    for path in [*SUITES.glob("*.py"), *_suite_modules()]:
        for spec in declared.values():
            assert spec.mirror.sha256 not in path.read_text(), (path, spec.name)


def test_a_bad_eval_yaml_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "eval.yaml").write_text("title: X\ntasks:\n  - name: x\n    version: 1.0\n")
    with pytest.raises(CatalogueError, match=r"x/eval.yaml: tasks.0.version: Input should be a valid string"):
        load_catalogue(tmp_path)
    (tmp_path / "x" / "eval.yaml").write_text("title: X\ntasks:\n  - {name: x, version: 1-A}\ndatasets:\n"
                                              "  - {name: x, hub: {repo: a/b, revision: main, split: test}}\n")
    with pytest.raises(CatalogueError, match="datasets.0.hub.revision: String should match pattern"):
        load_catalogue(tmp_path)


# --- one name per benchmark ---------------------------------------------------------------------------------


def test_former_names_are_accepted_with_one_deprecation_line(capsys: pytest.CaptureFixture[str]) -> None:
    from inspect_ai._util.registry import registry_info

    import k2bench._registry as namespaced
    from systems.run import suite_tasks

    assert former_names() == {"hmmt": "hmmt_feb2025", "livecodebench": "livecodebench_v5"}
    for old, new in former_names().items():
        assert [f.__name__ for f in suite_tasks(old)] == [new]
        assert capsys.readouterr().err == f"k2bench: suite {old!r} is now named {new!r}; the old name will be removed\n"
        assert registry_info(namespaced.DEPRECATED_TASKS[old]).name == f"k2bench/{old}"
    assert not (SUITES / "hmmt").exists() and not (SUITES / "livecodebench").exists()


def test_committed_logs_keep_their_suite_names(repo_root: Path) -> None:
    """Names recorded in results/logs/committed are today's names or former names analysis maps to them (or the
    positive control's task file, training/heldout_task.py, which is no catalogue suite)."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    from analysis.load import SUITE_ALIASES, canonical_suite
    from analysis.positive_control import POSITIVE_CONTROL_SUITES

    assert all(former_names()[old] == new for old, new in SUITE_ALIASES.items())
    names = {read_eval_log(info.name, header_only=True).eval.metadata["suite"]
             for info in list_eval_logs(str(repo_root / "results" / "logs" / "committed"))}  # fmt: skip
    assert "livecodebench" in names  # logged before the rename
    assert set(POSITIVE_CONTROL_SUITES) <= names
    assert {canonical_suite(n) for n in names} - set(POSITIVE_CONTROL_SUITES) <= set(_catalogue.catalogue().tasks)


def test_the_gpu_grid_names_suites_by_todays_names() -> None:
    """benchmarks/gpu/vllm_grid*.yaml's suites go to `systems.run --suites` and decide the sandbox-less runner
    (vllm_device.CODE_SUITES): today's names, so no deprecation line and no code suite missed; every model config
    a phase binds to a role exists."""
    import yaml

    from benchmarks.gpu import vllm_device

    tasks = set(_catalogue.catalogue().tasks)
    schedules = sorted((ROOT / "benchmarks" / "gpu").glob("vllm_grid*.yaml"))
    assert len(schedules) >= 2
    for path in schedules:
        grid = yaml.safe_load(path.read_text())
        assert {suite for phase in grid["phases"] for suite in phase["suites"]} <= tasks, path
        for phase in grid["phases"]:
            for arg in phase.get("args", []):
                if arg.endswith(".yaml"):
                    assert (ROOT / arg.split("=", 1)[-1]).is_file(), (path, arg)
    assert vllm_device.CODE_SUITES <= tasks and "livecodebench_v5" in vllm_device.CODE_SUITES


def test_readme_commands_name_existing_suites() -> None:
    """Every `inspect eval suites/...` path, `k2bench/<name>` and `--suites` list in a README command names a suite
    by today's name (the suites' own READMEs are checked here; tests/test_readme_commands.py runs the others)."""
    import re

    tasks = set(_catalogue.catalogue().tasks)
    readmes = [ROOT / "README.md", ROOT / "systems" / "README.md", *SUITES.glob("**/README.md")]
    seen = 0
    for readme in readmes:
        text = "\n".join(re.findall(r"^```bash\n(.*?)^```", readme.read_text(), flags=re.MULTILINE | re.DOTALL))
        for path in re.findall(r"inspect eval ((?:suites/\S+ ?)+)", text):
            for part in path.split():
                assert (ROOT / part.split("@")[0]).exists(), f"{readme}: {part}"
                seen += 1
        for name in re.findall(r"k2bench/(\w+) ", text):
            assert name in tasks or name.startswith("smollm2"), f"{readme}: k2bench/{name}"
        for group in re.findall(r"--suites (\S+)", text):
            for name in group.split(","):
                assert name in tasks or (SUITES / name).is_dir(), f"{readme}: --suites {name}"
    assert seen > 20


# --- "correct" is decided in grading/ ----------------------------------------------------------------------


def test_every_grading_scorer_is_in_scorers_py() -> None:
    found: dict[str, set[str]] = {}
    for top in ("suites", "systems", "training", "models", "k2bench", "analysis", "benchmarks"):
        for path in (ROOT / top).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for fn in ast.walk(tree):
                if isinstance(fn, ast.FunctionDef) and any(
                    getattr(getattr(d, "func", d), "id", None) == "scorer" for d in fn.decorator_list
                ):
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(fn.name)
    grading = found.pop("suites/grading/scorers.py")
    assert found == NON_GRADING_SCORERS
    assert {"math_scorer", "steps_scorer", "equal_budget_scorer"} <= grading


def test_every_declared_grader_has_a_scorer_and_grading_imports_no_framework() -> None:
    from suites.grading.registry import GRADERS, GraderUnavailable
    from suites.grading.scorers import SCORERS, scorer_for

    assert set(SCORERS) == set(GRADERS) - {"math_literal"}  # math_literal: a TRL reward only
    with pytest.raises(GraderUnavailable, match="no inspect scorer"):
        scorer_for("math_literal")
    code = ("import sys; import suites.grading.registry, suites.grading.voting, suites.grading.math_answer; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('inspect_ai', 'trl', 'torch')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
