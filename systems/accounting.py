"""Per-call accounting: every model call a system makes lands in the sample's record.

Each call (planner triage, plan, each candidate, judge) goes through `accounted_generate`, which times it and
appends a `CallRecord` to the sample's store (`Accounting`, a StoreModel, saved in every log sample under
`store["Accounting:calls"]`). At the end of a sample `finalize()` writes the sample totals and per-role totals
into `state.metadata["k2bench_accounting"]`; `accounting_scorer()` exposes the totals as score values, so
`inspect_ai.analysis.samples_df` has them as columns and every log has their means as metrics.

Fields per call: role (solver | planner | judge), purpose (generate | triage | plan | candidate | judge),
branch (best-of-N index or None), model, input/output/reasoning/total tokens (the provider's usage; reasoning
tokens only where the API reports them separately), latency_s (wall time around the call, retries and
connection waits included), provider_time_s (the provider's own timing, ModelOutput.time), time_to_first_token_s
(only where the provider reports it: none of inspect's non-streaming providers do, so it is usually null),
output_tokens_per_s (the engine's decode rate where it reports one, else output tokens / provider time, else
/ latency), stop_reason, status (ok | a parse status set by the caller, e.g. judge_error), parsed (True / False
by systems/health.py's classification of that status; None for calls with nothing to parse: solver calls),
generate (the call's effective decoding config, as inspect resolved it for the request: temperature, top_p,
max_tokens, stop_seqs, response_schema's name, ...).

`finalize()` also writes the sample's auxiliary-call health (systems/health.py, `k2bench_health`: triage /
judge calls and how many parsed, plans inserted, decisive judgements, winner) and the accounting scorer
exposes those counts as values too, so every log has their means as metrics.

Source: DESIGN.md "A system"; issue 5 "Accounting"; issue 13 (health).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer
from inspect_ai.solver import TaskState
from inspect_ai.util import StoreModel, store_as
from pydantic import BaseModel, Field

from systems.health import HEALTH_COUNT_KEYS, HEALTH_KEY, is_parsed, sample_health

ROLES = ("solver", "planner", "judge")
METADATA_KEY = "k2bench_accounting"
# numeric totals that become score values (and, through mean(), eval-level metrics)
TOTAL_KEYS = ("calls", "input_tokens", "output_tokens", "reasoning_tokens", "total_tokens", "latency_s")


class CallRecord(BaseModel):
    index: int
    role: str
    purpose: str
    branch: int | None = None
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    latency_s: float
    provider_time_s: float | None = None
    time_to_first_token_s: float | None = None
    output_tokens_per_s: float | None = None
    stop_reason: str | None = None
    status: str = "ok"
    detail: str | None = None
    parsed: bool | None = None  # systems/health.py: None for calls that have nothing to parse
    generate: dict[str, Any] | None = None  # the effective decoding config of the request


class Accounting(StoreModel):
    calls: list[CallRecord] = Field(default_factory=list)

    def set_status(self, index: int, status: str, detail: str | None = None) -> None:
        """Record how a call's reply parsed: its status (`ok` stays `ok` on the record, e.g. for a `not_hard`
        triage verdict) and `parsed` by the health classification; the list is re-assigned so the store sees it."""
        calls = list(self.calls)
        record = calls[index]
        update: dict[str, Any] = {"parsed": is_parsed(record.purpose, status)}
        if status not in ("ok", "not_hard"):
            update.update(status=status, detail=detail)
        calls[index] = record.model_copy(update=update)
        self.calls = calls


def model_name(model: Model) -> str:
    return str(model)


async def accounted_generate(
    model: Model,
    input: str | Sequence[ChatMessage],
    *,
    role: str,
    purpose: str,
    branch: int | None = None,
    config: GenerateConfig | None = None,
) -> tuple[ModelOutput, int]:
    """model.generate plus a CallRecord in the sample's store; returns the output and the record's index."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    started = time.monotonic()
    output = await model.generate(
        list(input) if not isinstance(input, str) else input, config=config or GenerateConfig()
    )
    latency = time.monotonic() - started
    usage = output.usage
    metadata = output.metadata or {}
    out_tokens = usage.output_tokens if usage else None
    provider_time = output.time
    rate_base = provider_time if provider_time else latency
    accounting = store_as(Accounting)
    record = CallRecord(
        index=len(accounting.calls),
        role=role,
        purpose=purpose,
        branch=branch,
        model=model_name(model),
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=out_tokens,
        reasoning_tokens=usage.reasoning_tokens if usage else None,
        total_tokens=usage.total_tokens if usage else None,
        latency_s=round(latency, 4),
        provider_time_s=round(provider_time, 4) if provider_time is not None else None,
        time_to_first_token_s=_ttft(metadata),
        output_tokens_per_s=_tokens_per_s(metadata, out_tokens, rate_base),
        stop_reason=output.stop_reason,
        generate=_effective_config(output),
    )
    accounting.calls = [*accounting.calls, record]
    return output, record.index


# operational fields of a GenerateConfig (how to reach the model, not how it decodes): not recorded per call
_OPERATIONAL = {"max_connections", "max_retries", "timeout", "attempt_timeout", "cache", "batch", "adaptive_connections"}


def decoding_config(config: GenerateConfig) -> dict[str, Any]:
    """A GenerateConfig as a small JSON-able dict: set fields only, the response schema by its name."""
    out = {k: v for k, v in config.model_dump(exclude_none=True).items() if k not in _OPERATIONAL}
    if config.response_schema is not None:
        out["response_schema"] = config.response_schema.name
    return out


def _effective_config(output: ModelOutput) -> dict[str, Any] | None:
    """The config inspect resolved for this request (model config + the task's, for the model under test + the
    call's), read from the transcript's ModelEvent that produced `output`; None where there is no such event."""
    from inspect_ai.event import ModelEvent
    from inspect_ai.log import transcript

    if not output.choices or output.message.id is None:
        return None
    message_id = output.message.id  # the event holds a snapshot of the output: match by the message's id
    for event in reversed(transcript().events):
        if isinstance(event, ModelEvent) and event.output.choices and event.output.message.id == message_id:
            return decoding_config(event.config)
    return None


def _tokens_per_s(metadata: dict[str, Any], out_tokens: int | None, seconds: float | None) -> float | None:
    # an engine's own decode rate (the embedded model reports its batch's) beats tokens / request latency,
    # which includes queueing behind other requests
    engine_rate = metadata.get("output_tokens_per_second")
    if isinstance(engine_rate, int | float) and engine_rate > 0:
        return round(float(engine_rate), 2)
    return round(out_tokens / seconds, 2) if out_tokens and seconds else None


def _ttft(metadata: dict[str, Any]) -> float | None:
    for key in ("time_to_first_token_s", "ttft_s", "time_to_first_token"):
        value = metadata.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def totals(calls: Sequence[CallRecord]) -> dict[str, float]:
    out: dict[str, float] = {key: 0.0 for key in TOTAL_KEYS}
    out["calls"] = float(len(calls))
    for call in calls:
        for key in ("input_tokens", "output_tokens", "reasoning_tokens", "total_tokens"):
            out[key] += float(getattr(call, key) or 0)
        out["latency_s"] += call.latency_s
    out["latency_s"] = round(out["latency_s"], 4)
    return out


def summary(calls: Sequence[CallRecord]) -> dict[str, Any]:
    """Sample totals, per-role totals and the count of calls whose reply was not usable (status != ok)."""
    by_role = {role: totals([c for c in calls if c.role == role]) for role in ROLES}
    return {
        "total": totals(calls),
        "by_role": by_role,
        "non_ok_calls": [
            {"index": c.index, "role": c.role, "purpose": c.purpose, "status": c.status}
            for c in calls
            if c.status != "ok"
        ],
    }


def finalize(state: TaskState) -> dict[str, Any]:
    """Write the sample's accounting summary and its auxiliary-call health into its metadata (read back by
    analysis from the log)."""
    result = summary(store_as(Accounting).calls)
    state.metadata[METADATA_KEY] = result
    state.metadata[HEALTH_KEY] = sample_health()
    return result


def _score_value(result: dict[str, Any], health: dict[str, Any]) -> dict[str, float]:
    value = {key: float(v) for key, v in result["total"].items()}
    for role, role_totals in result["by_role"].items():
        value[f"{role}_calls"] = role_totals["calls"]
        value[f"{role}_output_tokens"] = role_totals["output_tokens"]
    value["non_ok_calls"] = float(len(result["non_ok_calls"]))
    value.update({key: float(health[key]) for key in HEALTH_COUNT_KEYS})
    # the winner's position; NaN (inspect's "not scored") without best-of-N, so plain cells have no mean
    value["winner"] = float(health["winner"]) if health["winner"] is not None else float("nan")
    return value


ACCOUNTING_METRIC_KEYS = (
    *TOTAL_KEYS,
    *(f"{role}_{what}" for role in ROLES for what in ("calls", "output_tokens")),
    "non_ok_calls",
    *HEALTH_COUNT_KEYS,
    "winner",
)


@scorer(metrics={key: [mean()] for key in ACCOUNTING_METRIC_KEYS})
def accounting_scorer() -> Scorer:
    """Not a correctness score: the sample's call/token/latency totals and its planner/judge health as numbers,
    so logs carry their means."""

    async def score(state: TaskState, target: Target) -> Score:
        result = state.metadata.get(METADATA_KEY) or finalize(state)
        health = state.metadata.get(HEALTH_KEY) or sample_health()
        return Score(
            value=_score_value(result, health),
            metadata={"by_role": result["by_role"], "non_ok_calls": result["non_ok_calls"], HEALTH_KEY: health},
        )

    return score
