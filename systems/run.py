"""Run suites x systems x one model config into results/logs, resumably (inspect's eval_set).

    python -m systems.run --suites aime --systems plain,plan,best_of_n --model models/smollm2.yaml \\
        --limit 2 --epochs 1 -M max_tokens_cap=64 --log-dir results/logs/smoke

Each (suite task, system) pair is one inspect task named `<suite task>--<system id>` whose eval metadata
carries the identity: suite and suite version, protocol, system id and config, model config id/spec/args,
role bindings (see systems/compose.py, models/config.py). Re-running the same command continues: eval_set
skips finished tasks, recovers a killed run's log (its completed samples are kept) and runs only what is
missing, so every sample appears exactly once. One runner per log dir at a time (a lock file enforces it).

Serving overlays (systems/speculative.yaml) run as their own group: with `--serve` the model config's
serve: block starts a vLLM server with the overlay, runs the group, and stops it (one server at a time); a
`vllm/` model without a base_url gets the overlay as inspect model args (inspect starts the server). The
server's /metrics counters around the group (acceptance rate, generated tokens, tok/s) are added to each
log's metadata as `serving_metrics` (an inspect log edit: read `log.metadata`).

Roles: `--model-role planner=models/vllm_cpu_smollm2.yaml` (a model config) or `planner=openai/gpt-4o` (an
inspect spec); `judge` defaults to the planner, the planner to the model under test. Before any sample, a
system whose planner/judge replies are schema-constrained checks that the role's model honours
`response_schema` (systems/roles.py: provider allow-list + one probe request) and refuses to run otherwise;
each log's eval metadata records `system_roles` (who planned and judged, with what decoding config). After
the run, a log whose planner or judge parsed fewer than 90% of its calls is named in a DEGENERATE warning.

The run ends with the comparison table of what the log dir holds (systems/report.py: analysis' own
per-run and paired-delta tables). `--commit NAME` also copies the finished logs to
results/logs/committed/<model id>/NAME/ (GPQA logs redacted), where `tox -e reproduce-tables` reads them.
A suite whose data is not on this machine is skipped with one line (suites/_unavailable.py); expected
errors (bad config, missing data, unreachable endpoint) are one line, no traceback; a task that failed is
named with its error, and the exit status is 1 when anything was skipped or failed. Like `inspect eval`,
INSPECT_EVAL_LIMIT / INSPECT_EVAL_EPOCHS / INSPECT_EVAL_MAX_TOKENS give defaults for --limit / --epochs /
--max-tokens (flags win): the README test runs every documented command small this way.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import inspect as pyinspect
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from models.config import ModelConfig, is_model_config_spec, load_model_config
from systems.compose import SystemConfig, apply_system, check_serving, load_system
from systems.health import degenerate_reasons, log_health, samples_without_records
from systems.roles import check_schema_support, describe_roles, role_models

logger = logging.getLogger("k2bench.run")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOG_ROOT = REPO_ROOT / "results" / "logs"
COMMITTED_LOG_ROOT = DEFAULT_LOG_ROOT / "committed"  # what `tox -e reproduce-tables` reads
# inspect eval's own environment variables for these flags; systems.run takes them as defaults too
ENV_DEFAULTS = {"limit": "INSPECT_EVAL_LIMIT", "epochs": "INSPECT_EVAL_EPOCHS", "max_tokens": "INSPECT_EVAL_MAX_TOKENS"}
LOCK_NAME = ".k2bench-run.lock"
RUNNER_ID = "k2bench.systems.run/1"


class RunnerError(RuntimeError):
    pass


def env_default(flag: str) -> int | None:
    name = ENV_DEFAULTS[flag]
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RunnerError(f"{name}={value!r} is not an integer") from None


# --- suites -----------------------------------------------------------------------------------------------


def file_tasks(path: Path) -> list[Callable[..., Any]]:
    """The @task functions defined in a task file of this repo, e.g. training/heldout_task.py (as `inspect eval`
    takes a file): imported as its module (`training.heldout_task`), so its own absolute imports work."""
    from inspect_ai._util.registry import is_registry_object

    resolved = path.resolve()
    if not resolved.is_file():
        raise RunnerError(f"no task file {path}")
    try:
        module_name = ".".join(resolved.relative_to(REPO_ROOT).with_suffix("").parts)
    except ValueError:
        raise RunnerError(f"task file {path} is outside the repository {REPO_ROOT}") from None
    module = importlib.import_module(module_name)
    tasks = [
        obj
        for obj in vars(module).values()
        if callable(obj) and getattr(obj, "__module__", None) == module_name and is_registry_object(obj, type="task")
    ]
    if not tasks:
        raise RunnerError(f"task file {path} defines no @task")
    return sorted(tasks, key=lambda f: f.__name__)


def suite_tasks(name: str) -> list[Callable[..., Any]]:
    """Task factories for a suite name: a registered task's name, a suites/<name>/ package (all its tasks), or a
    suite's former name, or a task file of this repo (`training/heldout_task.py`: its @task functions)."""
    if name.endswith(".py"):
        return file_tasks(Path(name))
    registry = importlib.import_module("suites._registry")
    factories = [
        obj for obj in vars(registry).values() if callable(obj) and getattr(obj, "__module__", "").startswith("suites.")
    ]
    exact = [f for f in factories if f.__name__ == name]
    if exact:
        return exact
    in_package = [
        f for f in factories if f.__module__.startswith(f"suites.{name}.") or f.__module__ == f"suites.{name}"
    ]
    if in_package:
        return sorted(in_package, key=lambda f: f.__name__)
    from suites._catalogue import renamed

    if (new := renamed(name)) is not None:  # a former name (suites/*/eval.yaml `formerly`): one deprecation line
        return suite_tasks(new)
    known = sorted({f.__module__.split(".")[1] for f in factories} | {f.__name__ for f in factories})
    raise RunnerError(f"no suite {name!r} in suites/_registry.py; known: {known}")


def make_task(factory: Callable[..., Any], epochs: int | None) -> tuple[Any, bool]:
    """Call a suite's @task; returns (task, epochs_applied) — epochs go to the task when it takes them."""
    if epochs is not None and "epochs" in pyinspect.signature(factory).parameters:
        return factory(epochs=epochs), True
    return factory(), False


# --- arguments --------------------------------------------------------------------------------------------


def parse_kv(items: list[str] | None) -> dict[str, Any]:
    """key=value pairs with YAML-typed values (64 -> int, true -> bool, {a: 1} -> dict)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RunnerError(f"expected key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_role(spec: str) -> tuple[Any, dict[str, Any]]:
    """A role binding: a model config (path or id) -> its Model; anything else is an inspect model spec."""
    if is_model_config_spec(spec):
        config = load_model_config(spec)
        return config.get_model(), {"model_config": config.id, "model_spec": config.model}
    from inspect_ai.model import get_model

    return get_model(spec), {"model_spec": spec}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m systems.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suites", required=True, help="comma-separated suite or task names (e.g. aime,aime2025) or task files (training/heldout_task.py)")
    parser.add_argument("--systems", required=True, help="comma-separated system ids / yaml paths; '+' composes")
    parser.add_argument("--model", required=True, help="model config: models/*.yaml path or its id")
    parser.add_argument("--log-dir", help="default results/logs/<model id> (scratch: not read by the tables)")
    parser.add_argument(
        "--commit",
        metavar="NAME",
        help="also copy the finished logs to results/logs/committed/<model id>/NAME (GPQA redacted), "
        "where `tox -e reproduce-tables` reads them",
    )
    parser.add_argument("--limit", type=int, default=env_default("limit"), help="default $INSPECT_EVAL_LIMIT")
    parser.add_argument(
        "--epochs",
        type=int,
        default=env_default("epochs"),
        help="default $INSPECT_EVAL_EPOCHS, else the model config's epochs, else the suite's",
    )
    parser.add_argument("-M", "--model-arg", action="append", metavar="KEY=VALUE", help="override model_args")
    parser.add_argument(
        "-G", "--generate", action="append", metavar="KEY=VALUE", help="override a GenerateConfig field"
    )
    parser.add_argument("--max-tokens", type=int, default=env_default("max_tokens"), help="default $INSPECT_EVAL_MAX_TOKENS")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--model-role", action="append", metavar="ROLE=SPEC", help="bind planner / judge")
    parser.add_argument("--serve", action="store_true", help="start the model config's vLLM server (serve: block)")
    parser.add_argument("--allow-known-broken", action="store_true", help="run an overlay where it is known broken")
    parser.add_argument("--max-connections", type=int)
    parser.add_argument("--max-samples", type=int)
    # 0: a failed task is not re-run in the same invocation (model calls already retry, bounded by the model
    # config); re-running the command resumes it, keeping its completed samples
    parser.add_argument("--retry-attempts", type=int, default=0)
    parser.add_argument("--log-buffer", type=int, help="samples per log flush (inspect default 10)")
    parser.add_argument("--display", default=None, help="inspect display: full, rich, plain, log, none")
    return parser


# --- serving groups ---------------------------------------------------------------------------------------


def serving_groups(systems: list[SystemConfig]) -> list[tuple[dict[str, Any] | None, list[SystemConfig]]]:
    groups: dict[str, tuple[dict[str, Any] | None, list[SystemConfig]]] = {}
    for system in systems:
        key = json.dumps(system.serving or {}, sort_keys=True)
        groups.setdefault(key, (system.serving, []))[1].append(system)
    return list(groups.values())


@contextlib.contextmanager
def serving(
    model_config: ModelConfig, overlay: dict[str, Any] | None, serve: bool
) -> Iterator[tuple[ModelConfig, str | None, dict[str, Any]]]:
    """Yield (model config to use, root URL whose /metrics to read or None, facts about the serving)."""
    from systems.metrics import root_url_of
    from systems.serve import server_for

    facts: dict[str, Any] = {"overlay": overlay}
    if serve:
        server = server_for(model_config, overlay)
        with server:
            facts.update(started_by="systems.serve", start_s=server.started_s, command=server.command()[1:])
            logger.warning("vLLM server ready in %s s at %s", server.started_s, server.base_url)
            yield model_config, server.root_url, facts
        return
    base_url = model_config.resolved_base_url()
    if overlay and overlay.get("speculative_config") and model_config.model.startswith("vllm/") and not base_url:
        # inspect's vllm provider starts `vllm serve` with each model arg as a flag: the overlay rides along
        cfg = model_config.with_overrides(model_args={"speculative_config": json.dumps(overlay["speculative_config"])})
        facts.update(started_by="inspect vllm provider")
        yield cfg, None, facts
        return
    if overlay and overlay.get("speculative_config"):
        facts.update(
            started_by="external",
            warning="external endpoint: the overlay is assumed to be configured there; counters tell",
        )
    # a vLLM server's /metrics is read when it is ours to read: a local endpoint, or one the overlay targets
    readable = base_url and base_url.startswith("http") and (overlay or is_local(base_url))
    yield model_config, (root_url_of(base_url) if readable else None), facts


def is_local(url: str) -> bool:
    from urllib.parse import urlparse

    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def read_counters(root_url: str | None) -> dict[str, float] | None:
    if root_url is None:
        return None
    from systems.metrics import serving_counters

    try:
        return serving_counters(root_url)
    except OSError as err:  # not a vLLM server (no /metrics): nothing to record, say so once
        logger.warning("no serving counters from %s: %s", root_url, err)
        return None


def serving_metrics(
    before: dict[str, float] | None, after: dict[str, float] | None, wall_s: float, facts: dict[str, Any]
) -> dict[str, Any]:
    from systems.metrics import counter_delta

    out: dict[str, Any] = {k: v for k, v in facts.items() if k != "command"} | {"wall_s": round(wall_s, 2)}
    if before is None or after is None:
        return out | {"counters": None}
    delta = counter_delta(before, after)
    gen = delta.get("generation_tokens") or 0.0
    out.update(
        counters=delta,
        acceptance_rate=delta.get("acceptance_rate"),
        generation_tokens_per_s=round(gen / wall_s, 2) if wall_s else None,
        scope="all tasks of this runner's serving group, over the invocation that finished these logs",
    )
    if (
        facts.get("overlay", {})
        and (facts["overlay"] or {}).get("speculative_config")
        and not delta.get("draft_tokens")
    ):
        out["speculative_active"] = False
        logger.warning("the overlay asked for speculative decoding but the server proposed no draft tokens")
    elif delta.get("draft_tokens"):
        out["speculative_active"] = True
    return out


def annotate_logs(logs: list[Any], metrics: dict[str, Any], skip_locations: set[str]) -> None:
    """Add serving metrics to the eval metadata of logs this invocation finished (inspect's log edits)."""
    from inspect_ai.log import MetadataEdit, ProvenanceData, edit_eval_log, read_eval_log, write_eval_log

    for log in logs:
        if log.status != "success" or not log.location or log.location in skip_locations:
            continue
        full = read_eval_log(log.location)
        if (full.metadata or {}).get("serving_metrics") is not None:
            continue
        edited = edit_eval_log(
            full,
            [MetadataEdit(metadata_set={"serving_metrics": metrics})],
            ProvenanceData(author=RUNNER_ID, reason="serving counters read around the eval"),
        )
        write_eval_log(edited, log.location)


def finished_logs(log_dir: Path) -> set[str]:
    from inspect_ai.log import list_eval_logs, read_eval_log

    done = set()
    for info in list_eval_logs(str(log_dir)):
        if read_eval_log(info.name, header_only=True).status == "success":
            done.add(info.name)
    return done


def remove_superseded(log_dir: Path) -> list[str]:
    """Delete `started` logs left by a killed runner once their task has a finished log.

    eval_set resumes a killed run into a new log (completed samples copied over) but leaves the crashed log
    in place, because it cannot know whether another process still writes it. We can: this runner holds the
    log dir's lock, so every `started` log here is dead. Without this, the dir would hold some samples twice.
    """
    from inspect_ai.log import list_eval_logs, read_eval_log

    headers = [(info.name, read_eval_log(info.name, header_only=True)) for info in list_eval_logs(str(log_dir))]
    finished = {h.eval.task_id for _, h in headers if h.status == "success"}
    removed = []
    for name, header in headers:
        if header.status == "started" and header.eval.task_id in finished:
            path = Path(name.removeprefix("file://"))
            path.unlink()
            removed.append(path.name)
    return removed


# --- run --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def log_dir_lock(log_dir: Path) -> Iterator[None]:
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise RunnerError(f"another runner is writing {log_dir}") from err
        yield


def effective_temperature(generate: dict[str, Any], tasks: list[Any]) -> float | None:
    if "temperature" in generate:
        return generate["temperature"]
    temps = {getattr(t.config, "temperature", None) for t in tasks}
    return max((t for t in temps if t is not None), default=None)


def skip_unavailable(built: list[tuple[Any, SystemConfig]]) -> tuple[list[tuple[Any, SystemConfig]], dict[str, str]]:
    """Drop tasks whose suite data is not here (the factory already printed why); {suite: reason}."""
    from suites._unavailable import skipped_reason

    kept, skipped = [], {}
    for task, system in built:
        reason = skipped_reason(task)
        if reason is None:
            kept.append((task, system))
        else:
            skipped[task.name] = reason
    return kept, skipped


EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Timeout)\b[^:]*: .+")


def error_line(error: Any) -> str:
    """The error's cause in one line: inspect wraps a model call that failed all its retries in tenacity's
    RetryError, whose message names only the exception type; the chained cause in the traceback says more."""
    if error is None:
        return "no error recorded"
    causes = [line for line in (error.traceback or "").splitlines() if EXCEPTION_LINE.match(line)]
    real = [line for line in causes if "RetryError" not in line]
    if real:
        return ("after retries: " if len(real) < len(causes) else "") + real[-1].strip()[:400]
    return (error.message or "").strip().splitlines()[0][:400] if error.message else "no error recorded"


def task_failures(logs: list[Any]) -> list[str]:
    """One line per task that did not finish: its name, status and the cause of its error."""
    return [
        f"{log.eval.task}: {log.status}: {error_line(log.error)} (log: {log.location})"
        for log in logs
        if log.status != "success"
    ]


def record_protocol_check(logs: list[Any], skip_locations: set[str]) -> list[str]:
    """Settings a provider dropped from its requests (models/endpoint_watch.py), per finished log: recorded in
    the log's metadata as `protocol_check` (an inspect log edit) and returned as warning lines."""
    from inspect_ai.log import MetadataEdit, ProvenanceData, edit_eval_log, read_eval_log, write_eval_log

    from models.endpoint_watch import dropped_settings

    warnings = []
    for log in logs:
        if log.status != "success" or not log.location or log.location in skip_locations:
            continue
        full = read_eval_log(log.location)
        checked, dropped = 0, {}
        for sample in full.samples or []:
            for event in sample.events:
                if getattr(event, "event", None) != "model" or getattr(getattr(event, "call", None), "request", None) is None:
                    continue
                checked += 1
                for field, asked in dropped_settings(event).items():
                    entry = dropped.setdefault(f"{event.model}:{field}", {"asked": asked, "calls": 0})
                    entry["calls"] += 1
        if not checked:
            continue  # the provider records no request (the in-process embedded model): nothing to compare
        check = {"checked_calls": checked, "dropped": dropped}
        edited = edit_eval_log(
            full,
            [MetadataEdit(metadata_set={"protocol_check": check})],
            ProvenanceData(author=RUNNER_ID, reason="generate settings compared with the requests the provider sent"),
        )
        write_eval_log(edited, log.location)
        for key, entry in dropped.items():
            warnings.append(
                f"{full.eval.task}: {key.rsplit(':', 1)[0]} never received {key.rsplit(':', 1)[1]}="
                f"{entry['asked']!r} ({entry['calls']} of {checked} requests lack it)"
            )
    return warnings


def commit_logs(logs: list[Any], dest: Path) -> list[Path]:
    """Copy finished logs where the tables are built from; GPQA logs only as redacted copies (results/README)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for log in logs:
        if log.status != "success" or not log.location:
            continue
        source = Path(log.location.removeprefix("file://"))
        if (log.eval.metadata or {}).get("suite") == "gpqa_diamond" or log.eval.task.startswith("gpqa_diamond"):
            from suites.gpqa_diamond.redact import redact_log

            written.append(redact_log(source, dest)[0])
        else:
            shutil.copy2(source, dest / source.name)
            written.append(dest / source.name)
    return written


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inspect_ai import eval_set

    import models.endpoint_watch  # noqa: F401  (retry lines and the dropped-setting check during the run)
    from systems.report import comparison

    model_config = load_model_config(args.model)
    file_generate = dict(model_config.generate)  # the model's own defaults: what an unbound planner/judge starts from
    generate = {**model_config.generate, **parse_kv(args.generate)}
    for key in ("max_tokens", "temperature", "seed", "max_connections"):
        if getattr(args, key) is not None:
            generate[key] = getattr(args, key)
    model_config = model_config.with_overrides(model_args=parse_kv(args.model_arg), generate=generate)
    epochs = args.epochs if args.epochs is not None else model_config.epochs
    systems = [load_system(s) for s in args.systems.split(",") if s.strip()]
    factories = [f for name in args.suites.split(",") if name.strip() for f in suite_tasks(name.strip())]
    if args.commit and args.log_dir:
        raise RunnerError("--commit copies the run's logs from its scratch log dir; give --commit or --log-dir, not both")
    log_dir = Path(args.log_dir) if args.log_dir else DEFAULT_LOG_ROOT / model_config.id
    if args.commit:
        log_dir = log_dir / args.commit

    roles: dict[str, Any] = {}
    role_identity: dict[str, Any] = {}
    for role, spec in parse_kv(args.model_role).items():
        roles[role], role_identity[role] = resolve_role(str(spec))

    run_identity = {
        "runner": RUNNER_ID,
        "command": " ".join(["python -m systems.run", *(argv if argv is not None else sys.argv[1:])]),
        "suites": args.suites,
        "systems": [s.id for s in systems],
        "limit": args.limit,
        "epochs": epochs,
        "generate_overrides": generate,
        "model_roles": role_identity,
    }
    all_ok, probed = True, {}
    skipped: dict[str, str] = {}
    failures: list[str] = []
    protocol_warnings: list[str] = []
    all_logs: list[Any] = []
    lost_records: set[str] = set()  # locations of finished logs with samples whose call records are gone
    with log_dir_lock(log_dir):
        for overlay, group in serving_groups(systems):
            built, epochs_on_eval = [], None
            for factory in factories:
                for system in group:
                    task, applied = make_task(factory, epochs)
                    if epochs is not None and not applied:
                        epochs_on_eval = epochs
                    built.append((task, system))
            built, group_skipped = skip_unavailable(built)
            skipped.update(group_skipped)
            if not built:
                continue
            temperature = effective_temperature(generate, [task for task, _ in built])
            warnings: list[str] = []
            for system in group:  # refuses (raises) before any server starts or any request is sent
                warnings += check_serving(system, model_config, temperature, args.allow_known_broken)
            for warning in warnings:
                logger.warning("KNOWN BROKEN: %s", warning)
            with serving(model_config, overlay, args.serve) as (cfg, root_url, facts):
                if warnings:
                    facts["known_broken"] = warnings
                identity = {**model_config.identity(), "k2bench_run": run_identity}
                # the model under test carries its config file's generate; -G/--max-tokens/... go in at eval
                # level, where they reach the solver but not an unbound planner/judge (systems/roles.py)
                solver_model = cfg.model_copy(update={"generate": file_generate}).get_model()
                for system in group:  # refuses (raises) before any sample when a role cannot honour the schema
                    for note in check_schema_support(system, role_models(solver_model, roles), probed):
                        logger.warning("UNCONSTRAINED: %s", note)
                tasks = [
                    apply_system(
                        task, system, {**identity, "system_roles": describe_roles(system, solver_model, roles)},
                        serving_root_url=root_url,
                    )
                    for task, system in built
                ]  # fmt: skip
                finished_before = finished_logs(log_dir)
                before, started = read_counters(root_url), time.monotonic()
                ok, logs = eval_set(
                    tasks,
                    log_dir=str(log_dir),
                    model=solver_model,
                    model_roles=roles or None,
                    limit=args.limit,
                    epochs=epochs_on_eval,
                    max_samples=args.max_samples,
                    log_buffer=args.log_buffer,
                    retry_attempts=args.retry_attempts,
                    retry_immediate=args.retry_attempts > 0,  # inspect warns that it is moot with no retries
                    log_dir_allow_dirty=True,  # one log dir holds every serving group of the run
                    metadata={"k2bench_run": run_identity},
                    display=args.display,
                    **{k: v for k, v in generate.items()},
                )
                wall = time.monotonic() - started
                after = read_counters(root_url)
                if root_url is not None or overlay:
                    # skip logs that were already complete before this invocation (resumed runs)
                    annotate_logs(logs, serving_metrics(before, after, wall, facts), skip_locations=finished_before)
                protocol_warnings += record_protocol_check(logs, skip_locations=finished_before)
                failures += task_failures(logs)
                for log in logs:
                    lost = samples_without_records(log) if log.status == "success" else []
                    if lost:  # e.g. a resumed run: not a measurement whose health can be checked
                        lost_records.add(log.location)
                        failures.append(
                            f"{log.eval.task}: {len(lost)} finished samples have no call records ({', '.join(lost[:5])}"
                            f"{', ...' if len(lost) > 5 else ''}): not committed; re-run them in a fresh log dir "
                            f"(log: {log.location})"
                        )
                all_logs += logs
                all_ok = all_ok and ok
                for log in logs:
                    reasons = degenerate_reasons(log_health(log))
                    if reasons:
                        logger.warning("DEGENERATE: %s (%s): %s", log.eval.task, log.location, "; ".join(reasons))
        for name in remove_superseded(log_dir):
            logger.warning("removed %s: a killed run's log, superseded by its resumed, finished log", name)

    if any(log.status == "success" for log in all_logs):
        print("\n" + comparison(log_dir) + "\n")
    keep = [log for log in all_logs if log.location not in lost_records]
    committed = commit_logs(keep, COMMITTED_LOG_ROOT / model_config.id / args.commit) if args.commit else []
    if committed:
        print(f"committed {len(committed)} logs to {committed[0].parent}: regenerate the tables with `tox -e reproduce-tables`")
    for line in protocol_warnings:
        print(f"systems.run: PROTOCOL: {line}", file=sys.stderr)
    for suite, reason in skipped.items():
        print(f"systems.run: SKIPPED {suite}: {reason}", file=sys.stderr)
    for line in failures:
        print(f"systems.run: FAILED {line}", file=sys.stderr)
    print(f"systems.run: logs in {log_dir}", file=sys.stderr)
    return 0 if all_ok and not skipped and not failures else 1


def main() -> None:
    from inspect_ai._util.error import PrerequisiteError

    from systems.serve import ServerError

    try:
        sys.exit(run())
    except (RunnerError, PrerequisiteError, ServerError, ValueError, OSError, yaml.YAMLError) as err:
        # expected problems (bad flag or config, data, endpoint, YAML): one line, no traceback. ModelConfigError
        # and DataError are PrerequisiteErrors, SystemConfigError a ValueError, ServerError/OSError the endpoint
        message = getattr(err, "message", None) or str(err)
        print(f"systems.run: {type(err).__name__}: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
