"""The suites' facts in one place: every `suites/<folder>/eval.yaml`, read and checked (pydantic).

A suite folder's eval.yaml is the one home of
  * each task's name (the benchmark's one name: task, log, data, results/reported.yaml, `--suites`), its `N-X`
    version (N bumps when results stop being comparable: data, prompt, grader; X for compatible changes;
    inspect writes it into every log as `task_version`) and the names it had before (`formerly`, accepted by
    `python -m systems.run --suites` and `inspect eval k2bench/<old>` with a deprecation line);
  * the pins of each dataset it reads: record count, offline-mirror file (path under K2BENCH_DATA_DIR, sha256 of
    its bytes and of its canonical records) and hub source (repo, 40-hex commit, split, config).
The suite builder (suites/_suite.py `suite_task`) takes the version from here and suites/_data.py the dataset
pins; no Python file under suites/ holds either (tests/suites/test_catalogue.py checks, and that a changed
eval.yaml changes the built task). Checks a loader makes of its own file format (GPQA's zip member, SciCode's
package files) stay with that loader. Paper numbers live in results/reported.yaml.

The mirror's directory names are external (the shared mirror's layout: `hmmt_feb_2025/`, `omni_math/`): a
dataset's `mirror.path` maps its name to them.

    python -c "from suites._catalogue import task_spec; print(task_spec('aime2025').version)"
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from inspect_ai._util.error import PrerequisiteError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SUITES_DIR = Path(__file__).resolve().parent
EVAL_FILE = "eval.yaml"
NAME = r"^[a-z][a-z0-9_]*$"
SHA256 = r"^[0-9a-f]{64}$"
COMMIT = r"^[0-9a-f]{40}$"  # a hub revision must be a commit: a branch would make runs incomparable
VERSION = r"^[0-9]+-[A-Z]$"


class CatalogueError(PrerequisiteError, ValueError):
    """An eval.yaml is missing, malformed or inconsistent (printed by inspect as one line, no traceback)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = message


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MirrorSpec(_Spec):
    path: str  # relative to K2BENCH_DATA_DIR
    sha256: str = Field(pattern=SHA256)
    content_sha256: str | None = Field(default=None, pattern=SHA256)  # None for binary sources (GPQA's zip)


class HubSpec(_Spec):
    repo: str
    revision: str = Field(pattern=COMMIT)
    split: str
    config: str | None = None
    content_sha256: str | None = Field(default=None, pattern=SHA256)  # of the converted rows, when measured


class DatasetSpec(_Spec):
    name: str = Field(pattern=NAME)
    count: int | None = Field(default=None, gt=0)  # None: counted per run (HLE's text-only subset)
    mirror: MirrorSpec | None = None
    hub: HubSpec | None = None


class TaskSpec(_Spec):
    name: str = Field(pattern=NAME)
    version: str = Field(pattern=VERSION)
    formerly: tuple[str, ...] = ()


class EvalFile(_Spec):
    title: str
    tasks: tuple[TaskSpec, ...] = Field(min_length=1)
    datasets: tuple[DatasetSpec, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: dict[str, EvalFile]  # folder name -> its eval.yaml
    tasks: dict[str, tuple[str, TaskSpec]]  # task name -> (folder, spec)
    datasets: dict[str, DatasetSpec]
    former: dict[str, str]  # old name -> today's task name


def read_eval_file(path: Path) -> EvalFile:
    try:
        return EvalFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as err:
        raise CatalogueError(f"{path}: cannot read: {err}") from err
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogueError(f"{path}: {where}: {first['msg']} (fix the file; format: suites/_catalogue.py)") from err


def load_catalogue(root: Path) -> Catalogue:
    """Every <root>/*/eval.yaml; names must be unique across files."""
    files = {p.parent.name: read_eval_file(p) for p in sorted(root.glob(f"*/{EVAL_FILE}"))}
    tasks: dict[str, tuple[str, TaskSpec]] = {}
    datasets: dict[str, DatasetSpec] = {}
    former: dict[str, str] = {}
    for folder, spec in files.items():
        for t in spec.tasks:
            if t.name in tasks:
                raise CatalogueError(f"task {t.name!r} is declared in {tasks[t.name][0]}/{EVAL_FILE} and {folder}/{EVAL_FILE}")
            tasks[t.name] = (folder, t)
            former.update({old: t.name for old in t.formerly})
        for d in spec.datasets:
            if d.name in datasets:
                raise CatalogueError(f"dataset {d.name!r} is declared twice ({folder}/{EVAL_FILE})")
            datasets[d.name] = d
    if clash := set(former) & set(tasks):
        raise CatalogueError(f"{sorted(clash)}: a former name is also a task's name today")
    return Catalogue(files=files, tasks=tasks, datasets=datasets, former=former)


@functools.cache
def catalogue() -> Catalogue:
    return load_catalogue(SUITES_DIR)


def find_task(name: str) -> TaskSpec | None:
    entry = catalogue().tasks.get(name)
    return None if entry is None else entry[1]


def task_spec(name: str) -> TaskSpec:
    spec = find_task(name)
    if spec is None:
        raise CatalogueError(f"no task {name!r} in suites/*/{EVAL_FILE}; declared: {', '.join(sorted(catalogue().tasks))}")
    return spec


def task_folder(name: str) -> str:
    task_spec(name)
    return catalogue().tasks[name][0]


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return catalogue().datasets[name]
    except KeyError:
        raise CatalogueError(
            f"no dataset {name!r} in suites/*/{EVAL_FILE}; declared: {', '.join(sorted(catalogue().datasets))}"
        ) from None


def former_names() -> dict[str, str]:
    """Old suite names (an old task or folder name) -> today's task name."""
    return dict(catalogue().former)


def renamed(name: str) -> str | None:
    """Today's name of a suite called by an old name, else None; prints the one deprecation line."""
    import sys

    new = catalogue().former.get(name)
    if new is not None:
        print(f"k2bench: suite {name!r} is now named {new!r}; the old name will be removed", file=sys.stderr, flush=True)
    return new
