"""Systems as data: load systems/*.yaml, compose them, and apply one to any suite's Task.

A system yaml has an `id`, a `description` and any of three components:
  plan:       {triage_generate, plan_generate, plan_extra_body, use_response_schema}  -> systems/plan.py
  best_of_n:  {n, judge_generate, use_response_schema}                                -> systems/best_of_n.py
  serving:    {speculative_config, args}  a serving overlay: it changes how the server decodes, never the
              prompts; `base:` names the system whose solver it keeps (default plain)
With both plan and best_of_n every candidate plans for itself (the authors' k2_full). Systems compose with
'+': `plan+best_of_n+speculative` merges the components left to right.

`apply_system(task, system)` replaces the suite's solver (the suite's [system, user] messages stay in
Sample.input), keeps the suite's scorers, adds the accounting scorer (and the equal-budget scorer for
best_of_n), names the task `<suite task>--<system id>`, and writes the identity into the task metadata.

    from systems.compose import load_system, apply_system
    task = apply_system(aime2025(epochs=1), load_system("k2_full"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from inspect_ai import Task, task_with
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import StoreModel, store_as

from systems.accounting import accounted_generate, accounting_scorer, finalize

SYSTEMS_DIR = Path(__file__).resolve().parent
KNOWN_FIELDS = {"id", "description", "plan", "best_of_n", "serving", "base", "source"}
SERVING_FIELDS = {"speculative_config", "args", "refuse_sampling_on", "note"}
TASK_NAME_SEPARATOR = "--"


class SystemConfigError(ValueError):
    """A system yaml is missing or malformed, or the system cannot run as configured."""


class KnownBrokenError(SystemConfigError):
    """The system would run in a configuration known to give wrong results (e.g. sampled spec decoding on CPU)."""


@dataclass(frozen=True)
class SystemConfig:
    id: str
    description: str = ""
    plan: dict[str, Any] | None = None
    best_of_n: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None
    paths: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        return {
            "system_id": self.id,
            "system": {"plan": self.plan, "best_of_n": self.best_of_n, "serving": self.serving},
            "system_paths": list(self.paths),
        }


def _system_path(spec: str) -> Path:
    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SystemConfigError(f"system config {path} does not exist")
        return path
    candidate = SYSTEMS_DIR / f"{spec}.yaml"
    if not candidate.is_file():
        known = sorted(p.stem for p in SYSTEMS_DIR.glob("*.yaml"))
        raise SystemConfigError(f"no system {spec!r}; known: {known}")
    return candidate


def _load_one(spec: str, seen: tuple[str, ...] = ()) -> SystemConfig:
    path = _system_path(spec)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not data.get("id"):
        raise SystemConfigError(f"{path}: expected a mapping with an id")
    unknown = set(data) - KNOWN_FIELDS
    if unknown:
        raise SystemConfigError(f"{path}: unknown fields {sorted(unknown)} (known: {sorted(KNOWN_FIELDS)})")
    serving = data.get("serving")
    if serving is not None:
        if not isinstance(serving, dict) or set(serving) - SERVING_FIELDS:
            raise SystemConfigError(f"{path}: serving must be a mapping with keys from {sorted(SERVING_FIELDS)}")
    for key in ("plan", "best_of_n"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise SystemConfigError(f"{path}: {key} must be a mapping ({{}} for the defaults)")
    own = SystemConfig(
        id=str(data["id"]),
        description=str(data.get("description", "")).strip(),
        plan=data.get("plan"),
        best_of_n=data.get("best_of_n"),
        serving=serving,
        paths=(str(path),),
        raw=data,
    )
    base = data.get("base")
    if base:
        if base in seen:
            raise SystemConfigError(f"{path}: base cycle {seen + (base,)}")
        return _merge(_load_one(base, seen + (own.id,)), own, own.id)
    return own


def _merge(left: SystemConfig, right: SystemConfig, new_id: str) -> SystemConfig:
    def pick(a: dict | None, b: dict | None) -> dict | None:
        if a is None:
            return b
        if b is None:
            return a
        return {**a, **b}

    return SystemConfig(
        id=new_id,
        description="; ".join(d for d in (left.description, right.description) if d),
        plan=pick(left.plan, right.plan),
        best_of_n=pick(left.best_of_n, right.best_of_n),
        serving=pick(left.serving, right.serving),
        paths=left.paths + right.paths,
        raw={"left": left.raw, "right": right.raw},
    )


def load_system(spec: str) -> SystemConfig:
    """A system by id (systems/<id>.yaml), by path, or composed with '+' (e.g. `k2_full+speculative`)."""
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts:
        raise SystemConfigError("empty system spec")
    system = _load_one(parts[0])
    for part in parts[1:]:
        system = _merge(system, _load_one(part), f"{system.id}+{_load_one(part).id}")
    return system


# --- solvers that are not plan / best_of_n -------------------------------------------------------------


@solver
def single_generate() -> Solver:
    """One generation by the model under test, recorded in the sample's accounting (the `plain` system)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        output, _ = await accounted_generate(get_model(), state.messages, role="solver", purpose="generate")
        state.output = output
        state.messages = [*state.messages, output.message]
        finalize(state)
        return state

    return solve


class ServingCounters(StoreModel):
    root_url: str | None = None
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    delta: dict[str, float | None] | None = None
    note: str | None = None


def _model_root_url() -> str | None:
    from systems.serve import root_url_of

    base_url = getattr(get_model().api, "base_url", None)
    return root_url_of(str(base_url)) if base_url else None


@solver
def serving_counters(phase: str, root_url: str | None = None) -> Solver:
    """Snapshot the server's /metrics counters at the start ('before') and end ('after') of a sample.

    The delta (draft/accepted tokens -> acceptance rate, generated tokens) is exact when the sample had the
    server to itself; with concurrent samples the windows overlap, so per-sample deltas over-count and the
    runner's eval-level numbers (eval metadata `serving_metrics`) are the ones to report.
    """
    if phase not in ("before", "after"):
        raise ValueError(f"phase must be 'before' or 'after', got {phase!r}")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        import anyio

        from systems.serve import counter_delta
        from systems.serve import serving_counters as scrape

        record = store_as(ServingCounters)
        # the runner passes the server's URL: a provider may only learn its base_url at the first request
        root = root_url or record.root_url or _model_root_url()
        if root is None:
            record.note = "the model has no base URL (not an HTTP server): no serving counters"
            return state
        record.root_url = root
        counters = await anyio.to_thread.run_sync(scrape, root)
        if phase == "before":
            record.before = counters
        else:
            record.after = counters
            if record.before is not None:
                record.delta = counter_delta(record.before, counters)
                state.metadata["k2bench_serving"] = {"delta": record.delta, "root_url": root}
        return state

    return solve


# --- composition ------------------------------------------------------------------------------------------


def build_solver(system: SystemConfig, serving_root_url: str | None = None) -> list[Solver]:
    from systems.best_of_n import best_of_n
    from systems.plan import plan

    steps: list[Solver] = []
    if system.serving:
        steps.append(serving_counters("before", serving_root_url))
    if system.best_of_n is not None:
        steps.append(best_of_n(**system.best_of_n, plan=system.plan))
    elif system.plan is not None:
        steps += [plan(**system.plan), single_generate()]
    else:
        steps.append(single_generate())
    if system.serving:
        steps.append(serving_counters("after", serving_root_url))
    return steps


def is_answer_graded(scorer: Any) -> bool:
    """True for the suites' math answer scorer (suites.grading.scorers.math_scorer), whose grader the
    equal-budget baselines reuse; code or judge-graded suites get no maj@n from grade_math."""
    return getattr(scorer, "__qualname__", "").startswith("math_scorer.")


def apply_system(
    task: Task, system: SystemConfig, metadata: dict[str, Any] | None = None, serving_root_url: str | None = None
) -> Task:
    """Replace the suite's solver with the system's; keep its scorers, add accounting (+ equal-budget)."""
    from systems.best_of_n import equal_budget_scorer

    suite_scorers = list(task.scorer or [])
    extra = [accounting_scorer()]
    notes: dict[str, Any] = {}
    if system.best_of_n is not None:
        if any(is_answer_graded(s) for s in suite_scorers):
            extra.append(equal_budget_scorer())
        else:
            notes["equal_budget"] = "not computed: the suite is not graded by suites.grading.math_answer"
    suite_task = task.name
    return task_with(
        task,
        solver=build_solver(system, serving_root_url),
        scorer=[*suite_scorers, *extra],
        name=f"{suite_task}{TASK_NAME_SEPARATOR}{system.id}",
        metadata={**(task.metadata or {}), "suite_task": suite_task, **system.identity(), **notes, **(metadata or {})},
    )


# --- serving overlays: where they may run -----------------------------------------------------------------

CPU_SAMPLING_WARNING = (
    "speculative decoding on vLLM's CPU build corrupts *sampled* output (measured: ../shared/reference/env.md §4; "
    "greedy output is correct). Run this overlay greedy (--temperature 0) on CPU."
)


def serving_device(model_config: Any) -> str | None:
    serve = model_config.serve or {}
    if serve.get("engine") == "vllm-cpu":
        return "cpu"
    return (model_config.meta or {}).get("device")


def check_serving(
    system: SystemConfig, model_config: Any, temperature: float | None, allow_known_broken: bool
) -> list[str]:
    """Refuse (or, when allowed, warn about) an overlay in a configuration known to be broken.

    `temperature` is the effective solver temperature (None = the server default, which samples).
    Returns the warnings to record; raises KnownBrokenError when refused.
    """
    serving = system.serving or {}
    if not serving.get("speculative_config"):
        return []
    refuse_on = serving.get("refuse_sampling_on", ["cpu"])
    sampling = temperature is None or temperature > 0
    if sampling and serving_device(model_config) in refuse_on:
        message = f"{system.id} on {model_config.id} at temperature {temperature}: {CPU_SAMPLING_WARNING}"
        if not allow_known_broken:
            raise KnownBrokenError(message + " Refusing; --allow-known-broken runs it anyway and records this.")
        return [message]
    return []
