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
/ latency), stop_reason, status (ok | a parse status
set by the caller, e.g. judge_error).

Source: DESIGN.md "A system"; issue 5 "Accounting".
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


class Accounting(StoreModel):
    calls: list[CallRecord] = Field(default_factory=list)

    def set_status(self, index: int, status: str, detail: str | None = None) -> None:
        """Mark a recorded call (e.g. a judge reply that did not parse); the list is re-assigned so the store sees it."""
        calls = list(self.calls)
        calls[index] = calls[index].model_copy(update={"status": status, "detail": detail})
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
    )
    accounting.calls = [*accounting.calls, record]
    return output, record.index


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
    """Write the sample's accounting summary into its metadata (read back by analysis from the log)."""
    result = summary(store_as(Accounting).calls)
    state.metadata[METADATA_KEY] = result
    return result


def _score_value(result: dict[str, Any]) -> dict[str, float]:
    value = {key: float(v) for key, v in result["total"].items()}
    for role, role_totals in result["by_role"].items():
        value[f"{role}_calls"] = role_totals["calls"]
        value[f"{role}_output_tokens"] = role_totals["output_tokens"]
    value["non_ok_calls"] = float(len(result["non_ok_calls"]))
    return value


ACCOUNTING_METRIC_KEYS = (
    *TOTAL_KEYS,
    *(f"{role}_{what}" for role in ROLES for what in ("calls", "output_tokens")),
    "non_ok_calls",
)


@scorer(metrics={key: [mean()] for key in ACCOUNTING_METRIC_KEYS})
def accounting_scorer() -> Scorer:
    """Not a correctness score: the sample's call/token/latency totals as numbers, so logs carry their means."""

    async def score(state: TaskState, target: Target) -> Score:
        result = state.metadata.get(METADATA_KEY) or finalize(state)
        return Score(
            value=_score_value(result), metadata={"by_role": result["by_role"], "non_ok_calls": result["non_ok_calls"]}
        )

    return score
