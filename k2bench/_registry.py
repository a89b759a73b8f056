"""inspect entry point `k2bench` (pyproject: [project.entry-points.inspect_ai]): every suite as `k2bench/<name>`.

How inspect finds `inspect eval k2bench/aime2025` (inspect-ai 0.3.285): a task defined in an installed package
is registered as `<top-level package>/<function name>` (inspect_ai._util.registry.registry_name ->
_util.package.get_installed_package_name), and a namespaced name not yet registered makes inspect load the
`inspect_ai` entry point *named* like the namespace (_util.entrypoints.ensure_entry_points). inspect_evals
works the same way: package `inspect_evals`, entry point `inspect_evals = "inspect_evals._registry"`, tasks
`inspect_evals/<name>`. Our suites live in the top-level package `suites`, so installed they would be
`suites/aime2025`; this module, in the top-level package `k2bench`, registers a thin @task per suite factory
of suites/_registry.py: same signature and defaults (so `-T epochs=4` works), same Task, whose own name in
the log stays e.g. `aime2025` (analysis keys on it). A suite's former names (`formerly` in its eval.yaml, e.g.
`livecodebench` for livecodebench_v5) stay registered: `inspect eval k2bench/livecodebench` prints one
deprecation line and runs today's suite, whose log carries today's name.

The default model. In the checkout `.env` sets INSPECT_EVAL_MODEL; an installed package has no `.env`, and
with no --model inspect resolves its "none" model, which fails at the first generate ("No model specified").
inspect builds tasks after resolving models, with the model being evaluated active, and prefers a task's own
model (inspect_ai._eval.loader: `task.model or model`). So when the active model is "none", a `k2bench/`
task takes k2bench.DEFAULT_MODEL (the embedded SmolLM2) as its model; any --model or INSPECT_EVAL_MODEL wins.
Model args (-M) go with an explicit --model: `--model k2bench/smollm2-135m-instruct -M max_tokens_cap=64`.
"""

from __future__ import annotations

import inspect as pyinspect
from collections.abc import Callable
from typing import Any

from inspect_ai import Task, task

import models._registry  # noqa: F401  (registers the `k2bench/...` model provider with inspect)
import suites._registry as suite_registry
from k2bench import DEFAULT_MODEL
from suites._catalogue import former_names, renamed

NONE_MODEL = "none/none"  # what inspect evaluates when no model was given (inspect_ai._util.constants.MODEL_NONE)


def _no_model_given() -> bool:
    from inspect_ai.model._model import active_model

    model = active_model()
    return model is None or str(model) == NONE_MODEL


def _with_default_model(built: Task) -> Task:
    if built.model is None and _no_model_given():
        from inspect_ai.model import get_model

        built.model = get_model(DEFAULT_MODEL)
    return built


def _namespaced(factory: Callable[..., Task], name: str | None = None) -> Callable[..., Task]:
    """A @task in this module (so inspect names it k2bench/<name>) that builds the suite's own task; under a former
    `name` it says first that the suite was renamed."""

    def build(*args: Any, **kwargs: Any) -> Task:
        if name is not None:
            renamed(name)
        return _with_default_model(factory(*args, **kwargs))

    build.__name__ = build.__qualname__ = name or factory.__name__
    build.__doc__ = factory.__doc__
    build.__signature__ = pyinspect.signature(factory)  # type: ignore[attr-defined]  # -T args and their defaults
    build.__module__ = __name__  # the registry namespace comes from the defining module's package
    # inspect prefixes the package only when it sees k2bench as installed; an editable install run from the
    # checkout may not look installed (pip leaves k2bench.egg-info in the checkout, which shadows the
    # dist-info's direct_url.json), so name the task k2bench/<name> outright in that case
    from inspect_ai._util.package import get_installed_package_name

    registered = build.__name__
    if get_installed_package_name(build) != "k2bench":
        registered = f"k2bench/{registered}"
    return task(name=registered)(build)


SUITE_FACTORIES: dict[str, Callable[..., Task]] = {
    name: obj
    for name, obj in sorted(vars(suite_registry).items())
    if callable(obj) and getattr(obj, "__module__", "").startswith("suites.")
}
SUITE_TASKS: dict[str, Callable[..., Task]] = {name: _namespaced(f) for name, f in SUITE_FACTORIES.items()}
DEPRECATED_TASKS: dict[str, Callable[..., Task]] = {
    old: _namespaced(SUITE_FACTORIES[new], name=old) for old, new in sorted(former_names().items())
}
globals().update(SUITE_TASKS)
globals().update(DEPRECATED_TASKS)
