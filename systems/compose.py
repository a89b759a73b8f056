"""Systems as data: load systems/*.yaml, compose them, and apply one to any suite's Task.

A system yaml (validated by pydantic, `SystemFile` below: unknown keys are refused, wrong types give one line
naming the file and field) has an `id`, a `description`, optional `source` / `base`, and any of:
  plan:       {triage_generate, plan_generate, plan_extra_body, use_response_schema}  -> systems/plan.py
  best_of_n:  {n, judge_generate, use_response_schema}                                -> systems/best_of_n.py
  roles:      {planner: {generate: {...}}, judge: {generate: {...}}}  planner/judge decoding (systems/roles.py)
  serving:    {speculative_config, args, refuse_sampling_on, note}  a serving overlay: it changes how the
              server decodes, never the prompts; `base:` names the system whose solver it keeps (default plain)
`*_generate` blocks are GenerateConfig fields (checked at load). With both plan and best_of_n every candidate
plans for itself (the authors' k2_full). `base:` starts from another system; systems compose with '+':
`plan+best_of_n+speculative` merges the components left to right, key by key within a component.

`apply_system(task, system)` replaces the suite's solver (the suite's [system, user] messages stay in
Sample.input), keeps the suite's scorers, adds the accounting scorer (and, for best_of_n, the equal-budget
scorer with the grader the suite declares by name), names the task `<suite task>--<system id>`, and writes
the identity into the task metadata.

    from systems.compose import load_system, apply_system
    task = apply_system(aime2025(epochs=1), load_system("k2_full"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from inspect_ai import Task, task_with
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import StoreModel, store_as
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from systems.accounting import accounted_generate, accounting_scorer, finalize
from systems.metrics import counter_delta, root_url_of
from systems.metrics import serving_counters as scrape_serving_counters

SYSTEMS_DIR = Path(__file__).resolve().parent
TASK_NAME_SEPARATOR = "--"


class SystemConfigError(ValueError):
    """A system yaml is missing or malformed, or the system cannot run as configured."""


class KnownBrokenError(SystemConfigError):
    """The system would run in a configuration known to give wrong results (e.g. sampled spec decoding on CPU)."""


# --- the system yaml schema (pydantic: unknown keys refused, types checked, one line per error) --------------


def _generate_fields(value: dict[str, Any]) -> dict[str, Any]:
    from inspect_ai.model import GenerateConfig

    GenerateConfig(**value)  # unknown or mistyped GenerateConfig fields fail here, not mid-run
    return value


GenerateFields = Annotated[dict[str, Any], AfterValidator(_generate_fields)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PlanPart(_Strict):
    """`plan:` -> systems/plan.py"""

    triage_generate: GenerateFields = Field(default_factory=dict)
    plan_generate: GenerateFields = Field(default_factory=dict)
    plan_extra_body: dict[str, Any] | None = None  # None: the authors' enable_thinking=False; {}: none
    use_response_schema: bool = True


class BestOfNPart(_Strict):
    """`best_of_n:` -> systems/best_of_n.py"""

    n: PositiveInt = 3
    judge_generate: GenerateFields = Field(default_factory=dict)
    use_response_schema: bool = True


class ServingPart(_Strict):
    """`serving:` a serving overlay (systems/serve.py starts the server, systems/metrics.py reads its counters)"""

    speculative_config: dict[str, Any] | None = None
    args: dict[str, Any] | None = None
    refuse_sampling_on: list[str] = Field(default_factory=lambda: ["cpu"])
    note: str | None = None


class RolePart(_Strict):
    generate: GenerateFields = Field(default_factory=dict)


class RolesPart(_Strict):
    """`roles:` decoding defaults of the planner / judge (systems/roles.py); the judge starts from the planner's."""

    planner: RolePart | None = None
    judge: RolePart | None = None


class SystemFile(_Strict):
    """One systems/*.yaml as written (before `base:` is resolved)."""

    id: str
    description: str = ""
    source: str | None = None
    base: str | None = None
    plan: PlanPart | None = None
    best_of_n: BestOfNPart | None = None
    serving: ServingPart | None = None
    roles: RolesPart | None = None


KNOWN_FIELDS = set(SystemFile.model_fields)


def _one_line(path: Path, err: ValidationError) -> str:
    problems = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = f" (got {e['input']!r})" if e["type"] != "missing" and not isinstance(e["input"], dict) else ""
        problems.append(f"{where}: {e['msg']}{got}")
    return f"{path}: " + "; ".join(problems)


@dataclass(frozen=True)
class SystemConfig:
    id: str
    description: str = ""
    plan: dict[str, Any] | None = None
    best_of_n: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None
    roles: dict[str, Any] | None = None
    paths: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        return {
            "system_id": self.id,
            "system": {"plan": self.plan, "best_of_n": self.best_of_n, "serving": self.serving, "roles": self.roles},
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


def _part(value: BaseModel | None) -> dict[str, Any] | None:
    # only the keys the file sets, so that `base:` and `+` composition keep the other file's values
    return None if value is None else value.model_dump(exclude_unset=True)


def _load_one(spec: str, seen: tuple[str, ...] = ()) -> SystemConfig:
    path = _system_path(spec)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SystemConfigError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(data, dict):
        raise SystemConfigError(f"{path}: expected a mapping with an id, got {type(data).__name__}")
    try:
        parsed = SystemFile.model_validate(data)
    except ValidationError as err:
        raise SystemConfigError(_one_line(path, err)) from None
    roles = None
    if parsed.roles is not None:
        roles = {k: v for k, v in parsed.roles.model_dump(exclude_unset=True).items() if v is not None}
    own = SystemConfig(
        id=parsed.id,
        description=parsed.description.strip(),
        plan=_part(parsed.plan),
        best_of_n=_part(parsed.best_of_n),
        serving=_part(parsed.serving),
        roles=roles,
        paths=(str(path),),
        raw=data,
    )
    if parsed.base:
        if parsed.base in seen:
            raise SystemConfigError(f"{path}: base cycle {seen + (parsed.base,)}")
        return _merge(_load_one(parsed.base, seen + (own.id,)), own, own.id)
    return own


def _merge(left: SystemConfig, right: SystemConfig, new_id: str) -> SystemConfig:
    def pick(a: dict | None, b: dict | None) -> dict | None:
        if a is None:
            return b
        if b is None:
            return a
        return {**a, **b}

    roles = pick(left.roles, right.roles)
    if left.roles and right.roles:  # role blocks merge per role, generate key by key
        roles = {
            role: {"generate": {**(left.roles.get(role) or {}).get("generate", {}),
                                **(right.roles.get(role) or {}).get("generate", {})}}
            for role in {*left.roles, *right.roles}
        }  # fmt: skip
    return SystemConfig(
        id=new_id,
        description="; ".join(d for d in (left.description, right.description) if d),
        plan=pick(left.plan, right.plan),
        best_of_n=pick(left.best_of_n, right.best_of_n),
        serving=pick(left.serving, right.serving),
        roles=roles,
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

        record = store_as(ServingCounters)
        # the runner passes the server's URL: a provider may only learn its base_url at the first request
        root = root_url or record.root_url or _model_root_url()
        if root is None:
            record.note = "the model has no base URL (not an HTTP server): no serving counters"
            return state
        record.root_url = root
        counters = await anyio.to_thread.run_sync(scrape_serving_counters, root)
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
        steps.append(best_of_n(**system.best_of_n, plan=system.plan, roles=system.roles))
    elif system.plan is not None:
        steps += [plan(**system.plan, roles=system.roles), single_generate()]
    else:
        steps.append(single_generate())
    if system.serving:
        steps.append(serving_counters("after", serving_root_url))
    return steps


def apply_system(
    task: Task, system: SystemConfig, metadata: dict[str, Any] | None = None, serving_root_url: str | None = None
) -> Task:
    """Replace the suite's solver with the system's; keep its scorers, add accounting (+ equal-budget).

    Equal-budget baselines (avg/maj/pass@n) are added for best-of-N when the suite declares an answer-graded
    grader by name in its Task metadata (suites/grading/registry.py); the log says why when they are not.
    """
    from suites.grading.registry import GRADER_KEY, declared_grader
    from systems.best_of_n import equal_budget_scorer

    suite_scorers = list(task.scorer or [])
    extra = [accounting_scorer()]
    notes: dict[str, Any] = {}
    if system.best_of_n is not None:
        grader = declared_grader(task.metadata)
        if grader is not None and grader.answer_graded:
            extra.append(equal_budget_scorer(grader.name))
            notes["equal_budget"] = f"computed with the suite's grader {grader.name!r}"
        elif grader is None:
            notes["equal_budget"] = f"not computed: the suite declares no `{GRADER_KEY}` in its Task metadata"
        else:
            notes["equal_budget"] = f"not computed: the suite's grader {grader.name!r} is not answer-graded"
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
