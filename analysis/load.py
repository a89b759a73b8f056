"""Read k2bench results: inspect eval logs under results/logs/ and the hand-kept results/reported.yaml.

Identity (model id, system id, suite, suite version, protocol) comes from each log's eval metadata and eval
spec, never from its file name (DESIGN.md "Results and analysis"). A log without a `system` entry was run
as a plain `inspect eval` and is the `plain` system. Everything else is measured from the samples: outcome
and grading status per (problem, epoch), the final response's output tokens, all tokens of every model call
(planner, N samples, judge), end-to-end latency, and per-request throughput of each model call.

    python -c "from analysis.load import load_runs; print(load_runs('results/logs/committed'))"
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from analysis.health import RunHealth, SampleHealth, run_health, sample_health

DEFAULT_SYSTEM = "plain"
# roles of helper calls inside a system (inspect model roles); a call with no role is the solver model itself
HELPER_ROLES = ("planner", "judge", "grader", "critic", "verifier")
STATUS_KEYS = ("correct", "incorrect", "no_answer", "truncated", "error")
PAPER_MODEL_ALIASES = {"llm360/k2-think": "k2-think"}
# a suite's former name, as older logs record it -> its name today, which results/reported.yaml also uses
# (the `formerly` entries of suites/*/eval.yaml; tests/suites/test_catalogue.py checks they agree)
SUITE_ALIASES = {"livecodebench": "livecodebench_v5"}


@dataclass(frozen=True)
class Call:
    """One model call made while solving a sample."""

    role: str  # "solver" or the inspect model role (planner, judge, ...)
    model: str
    output_tokens: int
    total_tokens: int
    seconds: float | None  # generation time the provider reported (the whole batch for a batched server)
    temperature: float | None
    top_p: float | None
    max_tokens: int | None  # what the call asked for
    max_tokens_effective: int | None  # what the server allowed (embedded model caps it; metadata)

    @property
    def tokens_per_second(self) -> float | None:
        if not self.seconds or self.seconds <= 0 or self.output_tokens <= 0:
            return None
        return self.output_tokens / self.seconds


@dataclass(frozen=True)
class SampleResult:
    problem_id: str
    epoch: int
    accuracy: float
    status: str  # correct | incorrect | no_answer | truncated | error
    output_tokens: int | None  # the final response (what is graded)
    all_output_tokens: int  # every call of the system for this sample
    latency_s: float | None  # end-to-end wall clock of the sample
    stop_reason: str | None
    calls: tuple[Call, ...]
    response_sha: str | None = None  # sha256 of the graded response text: compares outputs without storing them
    health: SampleHealth = SampleHealth()  # planner / judge calls of a system (analysis/health.py)
    # best-of-N's equal-budget baselines on the same n candidates (systems/best_of_n.py equal_budget_scorer):
    # judge_at_n, avg_at_n, maj_at_n, pass_at_n, first_at_1; None without best-of-N or an answer grader
    equal_budget: dict[str, float] | None = None


@dataclass
class Run:
    """One eval log = one (model, system, suite) run."""

    path: str  # relative to the results dir, posix
    eval_id: str
    created: str
    status: str
    task: str
    suite: str
    suite_version: str
    model: str  # canonical model id (models/*.yaml id when known)
    model_spec: str  # inspect model string
    system: str
    protocol: str | None
    protocol_generate: dict[str, Any]
    protocol_epochs: int | None
    epochs: int
    limit: int | None
    dataset_problems: int | None  # problems in the suite (metadata n_problems), whatever --limit took
    test_source: str | None = None  # code suites: "full" or a fallback such as "statement_samples"
    samples: list[SampleResult] = field(default_factory=list)
    # vLLM /metrics deltas systems.run recorded around the serving group (log.metadata, a log edit): acceptance
    # rate and server-side generation tok/s of a speculative overlay; None for in-process or external models
    serving_metrics: dict[str, Any] | None = None
    model_meta: dict[str, Any] = field(default_factory=dict)  # models/*.yaml meta block (family, params, engine)
    window: tuple[str, str] | None = None  # LiveCodeBench's contest-date window [start, end)
    system_roles: dict[str, Any] | None = None  # eval metadata: who planned / judged, with what generate config

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.system, self.suite)

    @property
    def n_problems(self) -> int:
        return len({s.problem_id for s in self.samples})

    def outcomes(self) -> dict[str, list[float]]:
        by_problem: dict[str, list[float]] = {}
        for s in sorted(self.samples, key=lambda s: (s.problem_id, s.epoch)):
            by_problem.setdefault(s.problem_id, []).append(s.accuracy)
        return by_problem

    def values(self, attribute: str) -> dict[str, list[float]]:
        """{problem: [per-epoch value]} of a numeric sample attribute, skipping missing values."""
        by_problem: dict[str, list[float]] = {}
        for s in sorted(self.samples, key=lambda s: (s.problem_id, s.epoch)):
            value = getattr(s, attribute)
            if value is not None:
                by_problem.setdefault(s.problem_id, []).append(float(value))
        return by_problem

    def health(self) -> RunHealth:
        return run_health(s.health for s in self.samples)

    def roles(self) -> dict[str, dict[str, Any]]:
        """{"planner"|"judge": {"model": ..., "generate": {...}}}: the log's `system_roles` when recorded, else
        what the calls of that role show (model, and the decoding settings each call's event carried)."""
        if self.system_roles:
            return {r: dict(v) for r, v in sorted(self.system_roles.items()) if isinstance(v, dict)}
        found: dict[str, dict[str, Any]] = {}
        for role in ("planner", "judge"):
            calls = [c for s in self.samples for c in s.calls if c.role == role]
            if not calls:
                continue
            generate: dict[str, Any] = {}
            for name in ("temperature", "top_p", "max_tokens"):
                seen = sorted({getattr(c, name) for c in calls if getattr(c, name) is not None})
                generate[name] = None if not seen else seen[0] if len(seen) == 1 else seen
            found[role] = {"model": "/".join(sorted({c.model for c in calls})), "generate": generate}
        return found

    def solver_calls(self) -> list[Call]:
        return [c for s in self.samples for c in s.calls if c.role == "solver"]

    def generation_settings(self) -> dict[str, Any]:
        """The decoding settings the solver calls actually used; a key maps to a sorted list when they varied."""
        calls = self.solver_calls()
        settings: dict[str, Any] = {}
        for name in ("temperature", "top_p", "max_tokens", "max_tokens_effective"):
            seen = sorted({getattr(c, name) for c in calls if getattr(c, name) is not None})
            settings[name] = None if not seen else seen[0] if len(seen) == 1 else seen
        return settings

    def protocol_mismatches(self) -> list[str]:
        """Where this run departs from the paper's protocol recorded in the log (suites/_protocol.py)."""
        if not self.protocol_generate:
            return ["no protocol recorded in the log"]
        used = self.generation_settings()
        effective_max = used["max_tokens_effective"] or used["max_tokens"]
        mismatches = []
        for name, value in (
            ("temperature", used["temperature"]),
            ("top_p", used["top_p"]),
            ("max_tokens", effective_max),
        ):
            expected = self.protocol_generate.get(name)
            if expected is not None and value is not None and value != expected:
                mismatches.append(f"{name} {_fmt_setting(value)}≠{_fmt_setting(expected)}")
        if self.protocol_epochs is not None and self.epochs != self.protocol_epochs:
            mismatches.append(f"epochs {self.epochs}≠{self.protocol_epochs}")
        if self.test_source not in (None, "full"):  # e.g. LiveCodeBench without the hub's test files
            mismatches.append(f"tests: {self.test_source}")
        return mismatches


def _fmt_setting(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(_fmt_setting(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def canonical_model_id(model_spec: str, model_args: dict[str, Any], metadata: dict[str, Any]) -> str:
    """models/*.yaml id when the run recorded one, else the last part of the inspect model string."""
    for key in ("model_id", "model"):
        value = metadata.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    lowered = model_spec.lower()
    for alias, model_id in PAPER_MODEL_ALIASES.items():
        if lowered.endswith(alias):
            return model_id
    name = model_spec.split("/")[-1]
    if model_args.get("model_path"):  # k2bench/local -M model_path=training/out/sft: name it by its folder
        name = f"{name}:{PurePosixPath(str(model_args['model_path'])).name}"
    return name


def canonical_suite(name: str) -> str:
    return SUITE_ALIASES.get(name, name)


def system_id(metadata: dict[str, Any]) -> str:
    """systems/run.py writes `system_id` (and the system's config under `system`); a plain eval has neither."""
    value = metadata.get("system_id")
    if not value:
        value = metadata.get("system")
        if isinstance(value, dict):
            value = value.get("id") or value.get("name")
    return str(value) if value else DEFAULT_SYSTEM


# scorers systems/ add beside a suite's own (per-call accounting, equal-budget baselines): never the accuracy
AUXILIARY_SCORERS = ("accounting_scorer", "equal_budget_scorer")
ACCOUNTING_STORE_KEY = "Accounting:calls"  # systems/accounting.py: one record per call, with its role


def _grading_score(sample: Any) -> Any:
    """The suite's scorer: the first one (the task's order) that is not an auxiliary scorer of a system."""
    names = [n for n in sample.scores if n not in AUXILIARY_SCORERS]
    if not names:
        raise ValueError(f"sample {sample.id} epoch {sample.epoch}: no grading score among {list(sample.scores)}")
    return sample.scores[names[0]]


def _score_of(sample: Any) -> tuple[float, str]:
    """(accuracy, status) of one sample from its score (the grading verdict in suites/grading/scorers.py)."""
    from inspect_ai.scorer import value_to_float

    if sample.error is not None or not sample.scores:
        return 0.0, "error"
    score = _grading_score(sample)
    value = score.value
    status = (score.metadata or {}).get("status")
    if isinstance(value, dict):
        accuracy = float(value["accuracy"])
        if status is None:
            status = next((k for k in STATUS_KEYS[1:] if value.get(k)), "correct" if accuracy >= 1 else "incorrect")
    else:
        accuracy = float(value_to_float()(value))
        status = status or ("correct" if accuracy >= 1 else "incorrect")
    if status not in STATUS_KEYS:
        raise ValueError(f"sample {sample.id} epoch {sample.epoch}: unknown grading status {status!r}")
    return accuracy, status


def _equal_budget(sample: Any) -> dict[str, float] | None:
    score = (sample.scores or {}).get("equal_budget_scorer")
    if score is None or not isinstance(score.value, dict):
        return None
    return {k: float(v) for k, v in score.value.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _role_from_accounting(records: list[dict[str, Any]], used: set[int], event: Any) -> str | None:
    """The role systems/accounting.py recorded for this call (a planner bound to the model under test has no
    inspect role on its event). Matched on model, output tokens and the provider's time (rounded to 1e-4 s)."""
    usage = event.output.usage
    for i, record in enumerate(records):
        if i in used or record.get("model") != str(event.model):
            continue
        if usage is not None and record.get("output_tokens") != usage.output_tokens:
            continue
        if event.output.time is not None and abs(float(record.get("provider_time_s") or 0) - event.output.time) > 1e-3:
            continue
        used.add(i)
        return record.get("role")
    return None


GENERATE_FIELDS = ("temperature", "top_p", "max_tokens")


def _recorded_generate(record: dict[str, Any]) -> dict[str, Any] | None:
    """The decoding config a CallRecord carries (`generate` = the GenerateConfig fields the call used), or None
    for records written before systems/ recorded it (old logs)."""
    generate = record.get("generate")
    if isinstance(generate, dict):
        return generate
    if any(k in record for k in GENERATE_FIELDS):
        return {k: record.get(k) for k in GENERATE_FIELDS}
    return None


def _calls_from_records(records: list[dict[str, Any]]) -> tuple[Call, ...]:
    """Calls straight from the records systems/accounting.py wrote, in call order: role, model, tokens, the
    provider's time and the decoding config as recorded (no matching against the model events)."""
    calls = []
    for record in sorted(records, key=lambda r: int(r.get("index") or 0)):
        generate = _recorded_generate(record) or {}
        seconds = record.get("provider_time_s")
        calls.append(
            Call(
                role=str(record.get("role") or "solver"),
                model=str(record.get("model")),
                output_tokens=int(record.get("output_tokens") or 0),
                total_tokens=int(record.get("total_tokens") or 0),
                seconds=float(seconds) if seconds is not None else None,
                temperature=generate.get("temperature"),
                top_p=generate.get("top_p"),
                max_tokens=generate.get("max_tokens"),
                max_tokens_effective=generate.get("max_tokens_effective", record.get("max_tokens_effective")),
            )
        )
    return tuple(calls)


def _calls_of(sample: Any) -> tuple[Call, ...]:
    """The sample's model calls: from its CallRecords when every record carries its decoding config (new logs);
    else (plain evals, old system logs) rebuilt from the model events, roles matched to the records."""
    records = [r for r in (sample.store or {}).get(ACCOUNTING_STORE_KEY) or [] if isinstance(r, dict)]
    if records and all(_recorded_generate(r) is not None for r in records):
        return _calls_from_records(records)
    used: set[int] = set()
    calls = []
    for event in sample.events:
        if getattr(event, "event", None) != "model" or event.output is None:
            continue
        role = _role_from_accounting(records, used, event) if records else None
        role = role or (event.role if event.role in HELPER_ROLES else "solver")
        usage = event.output.usage
        meta = event.output.metadata or {}
        calls.append(
            Call(
                role=role,
                model=str(event.model),
                output_tokens=int(usage.output_tokens) if usage else 0,
                total_tokens=int(usage.total_tokens) if usage else 0,
                seconds=float(event.output.time) if event.output.time is not None else None,
                temperature=event.config.temperature,
                top_p=event.config.top_p,
                max_tokens=event.config.max_tokens,
                max_tokens_effective=meta.get("max_tokens_effective"),
            )
        )
    return tuple(calls)


def _sample_result(sample: Any) -> SampleResult:
    accuracy, status = _score_of(sample)
    usage = sample.output.usage if sample.output is not None else None
    all_tokens = sum(u.output_tokens for u in (sample.model_usage or {}).values())
    return SampleResult(
        problem_id=str(sample.id),
        epoch=int(sample.epoch),
        accuracy=accuracy,
        status=status,
        output_tokens=int(usage.output_tokens) if usage else None,
        all_output_tokens=int(all_tokens),
        latency_s=float(sample.total_time) if sample.total_time is not None else None,
        stop_reason=sample.output.stop_reason if sample.output is not None else None,
        calls=_calls_of(sample),
        response_sha=_response_sha(sample),
        health=sample_health(sample.metadata, sample.store),
        equal_budget=_equal_budget(sample),
    )


def _response_sha(sample: Any) -> str | None:
    if sample.output is None or not sample.output.choices:
        return None
    return hashlib.sha256(sample.output.completion.encode("utf-8")).hexdigest()


def _display_path(path: Path, root: Path) -> str:
    """The log's path relative to root (results/ for committed logs); absolute for logs elsewhere (--logs /tmp/x)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def read_run(path: Path, root: Path) -> Run:
    """Parse one .eval/.json log into a Run."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    spec = log.eval
    meta = dict(spec.metadata or {})
    samples = [_sample_result(s) for s in (log.samples or [])]
    return Run(
        path=_display_path(path, root),
        eval_id=spec.eval_id,
        created=str(spec.created),
        status=str(log.status),
        task=spec.task.split("/")[-1],
        suite=canonical_suite(str(meta.get("suite") or spec.task.split("/")[-1])),
        suite_version=str(meta.get("suite_version") or spec.task_version),
        model=canonical_model_id(spec.model, dict(spec.model_args or {}), meta),
        model_spec=spec.model,
        system=system_id(meta),
        protocol=meta.get("protocol"),
        protocol_generate=dict(meta.get("protocol_generate") or {}),
        protocol_epochs=meta.get("protocol_epochs"),
        epochs=int(spec.config.epochs or 1),
        limit=spec.config.limit if isinstance(spec.config.limit, int) else None,
        dataset_problems=meta.get("n_problems"),
        test_source=meta.get("tests") if isinstance(meta.get("tests"), str) else None,
        samples=samples,
        serving_metrics=_serving_metrics(log),
        model_meta=dict(meta.get("model_meta") or {}) if isinstance(meta.get("model_meta"), dict) else {},
        window=tuple(str(x) for x in meta["window"]) if isinstance(meta.get("window"), list) else None,
        system_roles=dict(meta["system_roles"]) if isinstance(meta.get("system_roles"), dict) else None,
    )


def _serving_metrics(log: Any) -> dict[str, Any] | None:
    metrics = (getattr(log, "metadata", None) or {}).get("serving_metrics")
    return dict(metrics) if isinstance(metrics, dict) else None


def find_logs(logs_dir: Path) -> list[Path]:
    """inspect's .eval logs (eval_set also writes logs.json / eval-set.json manifests there: not logs)."""
    return sorted(p for p in logs_dir.rglob("*.eval") if p.is_file())


def load_runs(logs_dir: Path | str, root: Path | str | None = None) -> list[Run]:
    """Every log under logs_dir, sorted by path (paths relative to root, default logs_dir's parent's parent)."""
    logs_dir = Path(logs_dir)
    if not logs_dir.is_dir():
        raise FileNotFoundError(f"no logs directory {logs_dir}")
    root = Path(root) if root is not None else logs_dir.parent.parent
    return [read_run(p, root) for p in find_logs(logs_dir)]


def select_runs(runs: Iterable[Run]) -> tuple[dict[tuple[str, str, str], Run], set[str]]:
    """One run per (model, system, suite), protocol first: successful logs only; a run at the paper's protocol
    (no mismatch) wins, then one over the whole suite, then the highest suite major version, the most samples,
    the latest. A capped or partial run never displaces a paper-protocol one; the others stay in the runs
    table and index.csv. Returns ({key: run}, paths of the runs used)."""
    best: dict[tuple[str, str, str], Run] = {}

    def rank(run: Run) -> tuple:
        major = run.suite_version.split("-")[0]
        whole = run.dataset_problems is None or run.n_problems >= run.dataset_problems
        return (
            not run.protocol_mismatches(),
            whole,
            int(major) if major.isdigit() else -1,
            len(run.samples),
            run.created,
            run.path,
        )

    for run in runs:
        if run.status != "success" or not run.samples:
            continue
        if run.key not in best or rank(run) > rank(best[run.key]):
            best[run.key] = run
    return dict(sorted(best.items())), {r.path for r in best.values()}


def status_rates(run: Run) -> dict[str, float]:
    counts = Counter(s.status for s in run.samples)
    total = max(len(run.samples), 1)
    return {k: counts.get(k, 0) / total for k in STATUS_KEYS}


# --------------------------------------------------------------------------------------------------------------
# results/reported.yaml


@dataclass(frozen=True)
class ReportedCell:
    id: str
    group: str
    row: str
    model: str | None
    system: str | None
    benchmark: str
    metric: str
    value: float
    unit: str
    sources: tuple[str, ...]
    secondary: bool = False
    approx: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Reported:
    cells: tuple[ReportedCell, ...]
    sources: dict[str, dict[str, Any]]
    micro_average: dict[str, int]
    protocol: dict[str, Any]

    def find(self, group: str, **match: Any) -> list[ReportedCell]:
        return [c for c in self.cells if c.group == group and all(getattr(c, k) == v for k, v in match.items())]

    def one(self, group: str, **match: Any) -> ReportedCell | None:
        found = self.find(group, **match)
        if len(found) > 1:
            raise ValueError(f"more than one reported cell for {group} {match}: {[c.id for c in found]}")
        return found[0] if found else None


REQUIRED_CELL_FIELDS = ("id", "group", "row", "model", "system", "benchmark", "metric", "value", "unit", "sources")


def load_reported(path: Path | str) -> Reported:
    """Parse and check results/reported.yaml (schema errors raise, naming the cell)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    sources = data["sources"]
    cells = []
    seen: set[str] = set()
    for raw in data["cells"]:
        missing = [f for f in REQUIRED_CELL_FIELDS if f not in raw]
        if missing:
            raise ValueError(f"reported cell {raw.get('id')!r} lacks {missing}")
        unknown = set(raw) - set(REQUIRED_CELL_FIELDS) - {"secondary", "approx", "note"}
        if unknown:
            raise ValueError(f"reported cell {raw['id']!r} has unknown fields {sorted(unknown)}")
        if raw["id"] in seen:
            raise ValueError(f"duplicate reported cell id {raw['id']!r}")
        seen.add(raw["id"])
        if not raw["sources"] or any(s not in sources for s in raw["sources"]):
            raise ValueError(f"reported cell {raw['id']!r} cites unknown sources {raw['sources']}")
        if not isinstance(raw["value"], int | float) or isinstance(raw["value"], bool):
            raise ValueError(f"reported cell {raw['id']!r} value is not a number: {raw['value']!r}")
        cells.append(
            ReportedCell(
                id=raw["id"],
                group=raw["group"],
                row=raw["row"],
                model=raw["model"],
                system=raw["system"],
                benchmark=raw["benchmark"],
                metric=raw["metric"],
                value=float(raw["value"]),
                unit=raw["unit"],
                sources=tuple(raw["sources"]),
                secondary=bool(raw.get("secondary", False)),
                approx=bool(raw.get("approx", False)),
                note=raw.get("note"),
            )
        )
    return Reported(
        cells=tuple(cells),
        sources=sources,
        micro_average=dict(data["micro_average"]["benchmarks"]),
        protocol=data["protocol"],
    )
