"""Auxiliary-call health: did the planner and the judge do their jobs? One record per sample, in every log.

A system that plans or judges is only what it says it is when its auxiliary calls work: a triage reply that
never parses inserts no plan ("+ plan" is then plain decoding plus a wasted call), a judge that never parses
leaves candidate 0 as the winner ("+ best-of-3" is then the first sample). This module turns the sample's
stores (systems/accounting.py `Accounting:calls`, systems/plan.py `Plans:records`, systems/best_of_n.py
`BestOfN:*`) into `state.metadata["k2bench_health"]`, and systems/accounting.py's scorer exposes the numbers
as score values, so every log carries their means as metrics.

THE CONTRACT with analysis/ (do not rename; analysis copies PARSED_STATUSES and reads HEALTH_KEY when present,
else re-derives the numbers from the CallRecord statuses in the sample store `Accounting:calls`):

    k2bench_health = {
        "triage_calls":   int,  # triage calls made (role planner, purpose triage)
        "triage_parsed":  int,  # ... whose status is in PARSED_STATUSES["triage"]
        "plan_branches":  int,  # branches whose triage asked for a plan (a plan call was made)
        "plans_inserted": int,  # branches whose solver prompt carries the plan as <ideas>
        "judge_calls":    int,  # pairwise judge calls made
        "judge_parsed":   int,  # ... whose status is in PARSED_STATUSES["judge"]
        "judge_decisive": int,  # parsed verdicts between two candidates whose judged texts differ (below)
        "winner":  int | None,  # the best-of-N pick (None without best-of-N)
        "n":       int | None,  # the number of candidates (None without best-of-N)
    }

Zero / None where the system has no such part (plain: all zero, winner and n None).

Classification (one place; analysis copies it):
  * triage parsed  = status in {ok, triage_json_extracted, topics_truncated, not_hard}: the reply was a usable
    triage verdict (a "not hard" verdict is a parsed answer, recorded on the call as `ok`); `triage_error` is
    not parsed.
  * plan parsed    = status `ok` (the reply had <plan></plan>); `no_plan_tags` (whole reply used, the authors'
    behaviour) and `empty_plan` are not. Plan parse is on each CallRecord, not in the health counts:
    `plans_inserted` is what matters downstream.
  * judge parsed   = status in {ok, judge_json_extracted}: a better_index of 0 or 1 was read; `judge_error` is
    not parsed.
  * judge decisive = a parsed verdict in a comparison whose two judged texts (what the judge was shown of each
    candidate, systems/best_of_n.judged_text) differ. Between identical texts any verdict carries no
    information, and an unparsed reply falls back to best-so-far: neither is a judgement.
  * solver calls (generate, candidate) have nothing to parse: CallRecord.parsed is None.

A cell is degenerate when fewer than PARSED_RATE_BOUND of its triage or judge calls parsed (issue 13: marked,
left out of deltas and rankings by analysis); systems.run warns about such logs at the end of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HEALTH_KEY = "k2bench_health"
# purpose -> statuses that count as parsed; purposes absent here have nothing to parse (parsed = None)
PARSED_STATUSES: dict[str, frozenset[str]] = {
    "triage": frozenset({"ok", "triage_json_extracted", "topics_truncated", "not_hard"}),
    "plan": frozenset({"ok"}),
    "judge": frozenset({"ok", "judge_json_extracted"}),
}
HEALTH_COUNT_KEYS = (
    "triage_calls",
    "triage_parsed",
    "plan_branches",
    "plans_inserted",
    "judge_calls",
    "judge_parsed",
    "judge_decisive",
)
HEALTH_KEYS = (*HEALTH_COUNT_KEYS, "winner", "n")
PARSED_RATE_BOUND = 0.9  # below this share of parsed triage or judge calls a cell is degenerate
# the sample-store keys of systems/accounting.py `Accounting`, systems/plan.py `Plans`, systems/best_of_n.py `BestOfN`
STORE_KEYS = {
    "calls": "Accounting:calls",
    "plans": "Plans:records",
    "candidates": "BestOfN:candidates",
    "comparisons": "BestOfN:comparisons",
    "winner": "BestOfN:winner",
}


def is_parsed(purpose: str, status: str) -> bool | None:
    """The parse classification of one call: True / False, or None for calls with nothing to parse."""
    statuses = PARSED_STATUSES.get(purpose)
    return None if statuses is None else status in statuses


def health(
    calls: Sequence[Any],
    plan_records: Sequence[Any] = (),
    candidates: Sequence[Any] = (),
    comparisons: Sequence[Any] = (),
    winner: int | None = None,
) -> dict[str, Any]:
    """The contract record from a sample's call records, plan records and best-of-N store (models or dicts)."""

    def get(obj: Any, key: str) -> Any:  # a log's store drops None fields: absent means None
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key)

    triage = [c for c in calls if get(c, "purpose") == "triage"]
    judge = [c for c in calls if get(c, "purpose") == "judge"]
    texts = [get(c, "judged_text") for c in candidates]
    decisive = sum(
        is_parsed("judge", get(c, "status")) is True and texts[get(c, "best_so_far")] != texts[get(c, "challenger")]
        for c in comparisons
    )
    return {
        "triage_calls": len(triage),
        "triage_parsed": sum(is_parsed("triage", get(c, "status")) is True for c in triage),
        "plan_branches": sum(get(r, "search_list") is not None for r in plan_records),
        "plans_inserted": sum(bool(get(r, "ideas_inserted")) for r in plan_records),
        "judge_calls": len(judge),
        "judge_parsed": sum(is_parsed("judge", get(c, "status")) is True for c in judge),
        "judge_decisive": int(decisive),
        "winner": winner if candidates else None,
        "n": len(candidates) if candidates else None,
    }


def sample_health() -> dict[str, Any]:
    """The running sample's health, read from its stores (call inside a solver or scorer).

    The stores are read by their keys (`<StoreModel class>:<field>`, the names analysis reads from logs), not
    through the StoreModel classes: accounting.py imports this module, and best_of_n.py / plan.py import
    accounting.py, so importing their classes here would close an import circle."""
    from inspect_ai.util import store

    current = store()
    return health(
        current.get(STORE_KEYS["calls"]) or [],
        current.get(STORE_KEYS["plans"]) or [],
        current.get(STORE_KEYS["candidates"]) or [],
        current.get(STORE_KEYS["comparisons"]) or [],
        current.get(STORE_KEYS["winner"]),
    )


def parsed_rates(totals: dict[str, float]) -> dict[str, float | None]:
    """Pooled parsed shares from summed (or mean) health counts; None where there were no such calls."""
    return {
        "triage": totals["triage_parsed"] / totals["triage_calls"] if totals.get("triage_calls") else None,
        "judge": totals["judge_parsed"] / totals["judge_calls"] if totals.get("judge_calls") else None,
    }


def degenerate_reasons(totals: dict[str, float]) -> list[str]:
    """Why a cell (summed or mean health counts) is degenerate; empty when it is healthy."""
    reasons = []
    for part, rate in parsed_rates(totals).items():
        if rate is not None and rate < PARSED_RATE_BOUND:
            reasons.append(f"{part} parsed {rate:.0%} < {PARSED_RATE_BOUND:.0%}")
    return reasons


def log_health(log: Any) -> dict[str, float]:
    """The mean health counts of an EvalLog (from the accounting scorer's metrics); {} when it has none."""
    out: dict[str, float] = {}
    for score in getattr(getattr(log, "results", None), "scores", None) or []:
        if score.scorer == "accounting_scorer" and score.name in HEALTH_COUNT_KEYS and "mean" in score.metrics:
            out[score.name] = float(score.metrics["mean"].value)
    return out


def samples_without_records(log: Any) -> list[str]:
    """`id:epoch` of each finished sample of a log whose store holds no call records.

    Every system records its model calls (Accounting:calls); a sample that finished without an error but has
    none lost them: seen when a killed run was resumed through inspect's eval_set (7 best-of-3 samples of the
    positive control came back with scores and health metrics but an empty store). Its health, tokens and
    latency can no longer be checked, so the runner names such a log and does not commit it."""
    from inspect_ai.log import read_eval_log

    if not getattr(log, "samples", None) and getattr(log, "location", None):
        log = read_eval_log(log.location)
    return [
        f"{sample.id}:{sample.epoch}"
        for sample in log.samples or []
        if sample.error is None and not (sample.store or {}).get(STORE_KEYS["calls"])
    ]
