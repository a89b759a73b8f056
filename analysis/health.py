"""Health of a system's auxiliary calls (planner, judge): did they work, per sample and per run.

A system run only measures planning or judging when its planner and judge replies parsed (issue 13; DESIGN.md
"A system"). Per sample: triage calls and how many parsed, plan branches and how many inserted a plan, judge
calls, how many parsed and how many were decisive, the best-of-N winner's position. Per run: the sums, the
parsed rates, the winner-position distribution, and the degenerate flag: planner or judge failed on more than
DEGENERATE_FAILURE_RATE of its calls. A degenerate cell is shown, marked, and left out of deltas and rankings.

Where the numbers come from, newest contract first:
1. `sample.metadata["k2bench_health"]` = {triage_calls, triage_parsed, plan_branches, plans_inserted,
   judge_calls, judge_parsed, judge_decisive, winner, n} (systems/ writes it in new logs);
2. else derived from the sample's records: the per-call `CallRecord`s in `store["Accounting:calls"]` (purpose
   triage / judge; `parsed` when recorded, else the parse status: PARSED_TRIAGE / PARSED_JUDGE), the planner's
   `k2bench_plan` metadata or `Plans:records` store (ideas_inserted), the best-of-N `k2bench_best_of_n.winner`
   and `BestOfN:comparisons` / `BestOfN:candidates` (decisive = a parsed judgement between two candidates whose
   judged texts differ, so that the verdict could change the pick).

    python -c "from analysis.summary import summarize; s = summarize('results'); print(s.stats)"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HEALTH_KEY = "k2bench_health"
ACCOUNTING_STORE_KEY = "Accounting:calls"
PLAN_METADATA_KEY = "k2bench_plan"
PLAN_STORE_KEY = "Plans:records"
BEST_OF_N_METADATA_KEY = "k2bench_best_of_n"
COMPARISONS_STORE_KEY = "BestOfN:comparisons"
CANDIDATES_STORE_KEY = "BestOfN:candidates"
# parse statuses systems/plan.py and systems/best_of_n.py set on a call whose reply was usable
PARSED_TRIAGE = frozenset({"ok", "triage_json_extracted", "topics_truncated", "not_hard"})
PARSED_JUDGE = frozenset({"ok", "judge_json_extracted"})
DEGENERATE_FAILURE_RATE = 0.10  # issue 13: planner or judge failing on more than 10% of calls


@dataclass(frozen=True)
class SampleHealth:
    triage_calls: int = 0
    triage_parsed: int = 0
    plan_branches: int = 0
    plans_inserted: int = 0
    judge_calls: int = 0
    judge_parsed: int = 0
    judge_decisive: int = 0
    winner: int | None = None
    n: int | None = None  # candidates of best-of-N
    source: str = "none"  # "metadata" (k2bench_health) | "derived" (old logs) | "none" (no auxiliary calls)


def _parsed(record: Mapping[str, Any], parsed_statuses: frozenset[str]) -> bool:
    value = record.get("parsed")
    if isinstance(value, bool):
        return value
    return record.get("status", "ok") in parsed_statuses


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def sample_health(metadata: Mapping[str, Any] | None, store: Mapping[str, Any] | None) -> SampleHealth:
    """One sample's health from its metadata and store (see the module docstring for the order)."""
    metadata, store = metadata or {}, store or {}
    recorded = metadata.get(HEALTH_KEY)
    if isinstance(recorded, Mapping):
        winner = recorded.get("winner")
        n = recorded.get("n")
        return SampleHealth(
            triage_calls=_int(recorded.get("triage_calls")),
            triage_parsed=_int(recorded.get("triage_parsed")),
            plan_branches=_int(recorded.get("plan_branches")),
            plans_inserted=_int(recorded.get("plans_inserted")),
            judge_calls=_int(recorded.get("judge_calls")),
            judge_parsed=_int(recorded.get("judge_parsed")),
            judge_decisive=_int(recorded.get("judge_decisive")),
            winner=winner if isinstance(winner, int) else None,
            n=n if isinstance(n, int) else None,
            source="metadata",
        )
    calls = [c for c in store.get(ACCOUNTING_STORE_KEY) or [] if isinstance(c, Mapping)]
    triage = [c for c in calls if c.get("purpose") == "triage"]
    judge = [c for c in calls if c.get("purpose") == "judge"]
    plans = metadata.get(PLAN_METADATA_KEY)
    if not isinstance(plans, list):
        plans = store.get(PLAN_STORE_KEY) or []
    plans = [p for p in plans if isinstance(p, Mapping)]
    best_of_n = metadata.get(BEST_OF_N_METADATA_KEY)
    best_of_n = best_of_n if isinstance(best_of_n, Mapping) else {}
    comparisons = [c for c in store.get(COMPARISONS_STORE_KEY) or [] if isinstance(c, Mapping)]
    candidates = {c.get("branch"): c.get("judged_text") for c in store.get(CANDIDATES_STORE_KEY) or []
                  if isinstance(c, Mapping)}  # fmt: skip
    decisive = sum(
        1
        for c in comparisons
        if c.get("status") in PARSED_JUDGE and candidates.get(c.get("best_so_far")) != candidates.get(c.get("challenger"))
    )
    if not (triage or judge or plans or best_of_n):
        return SampleHealth()
    winner, n = best_of_n.get("winner"), best_of_n.get("n")
    return SampleHealth(
        triage_calls=len(triage),
        triage_parsed=sum(_parsed(c, PARSED_TRIAGE) for c in triage),
        plan_branches=len(plans),
        plans_inserted=sum(bool(p.get("ideas_inserted")) for p in plans),
        judge_calls=len(judge),
        judge_parsed=sum(_parsed(c, PARSED_JUDGE) for c in judge),
        judge_decisive=decisive,
        winner=winner if isinstance(winner, int) else None,
        n=n if isinstance(n, int) else None,
        source="derived",
    )


@dataclass(frozen=True)
class RunHealth:
    """Sums over a run's samples (or over several runs: `combine`)."""

    triage_calls: int = 0
    triage_parsed: int = 0
    plan_branches: int = 0
    plans_inserted: int = 0
    judge_calls: int = 0
    judge_parsed: int = 0
    judge_decisive: int = 0
    winners: dict[int, int] = field(default_factory=dict)  # winner position -> samples
    sources: tuple[str, ...] = ()

    @property
    def has_planner(self) -> bool:
        return self.triage_calls > 0 or self.plan_branches > 0

    @property
    def has_judge(self) -> bool:
        return self.judge_calls > 0 or bool(self.winners)

    @property
    def applies(self) -> bool:
        return self.has_planner or self.has_judge

    @property
    def triage_parsed_rate(self) -> float | None:
        return self.triage_parsed / self.triage_calls if self.triage_calls else None

    @property
    def judge_parsed_rate(self) -> float | None:
        return self.judge_parsed / self.judge_calls if self.judge_calls else None

    def failures(self) -> list[str]:
        """Why this is degenerate (empty when it is not): planner or judge failed on > 10% of its calls."""
        reasons = []
        for who, calls, parsed in (
            ("planner", self.triage_calls, self.triage_parsed),
            ("judge", self.judge_calls, self.judge_parsed),
        ):
            if calls and (calls - parsed) / calls > DEGENERATE_FAILURE_RATE:
                reasons.append(f"{who} failed {calls - parsed}/{calls} calls")
        if self.plan_branches and not self.triage_calls and not self.plans_inserted:
            reasons.append(f"no plan inserted in {self.plan_branches} branches")
        return reasons

    @property
    def degenerate(self) -> bool:
        return bool(self.failures())

    def winner_text(self) -> str:
        total = sum(self.winners.values())
        if not total:
            return ""
        return " ".join(f"#{pos}:{100 * count / total:.0f}%" for pos, count in sorted(self.winners.items()))


def run_health(samples: Iterable[SampleHealth]) -> RunHealth:
    samples = list(samples)
    winners = Counter(s.winner for s in samples if s.winner is not None)
    return RunHealth(
        triage_calls=sum(s.triage_calls for s in samples),
        triage_parsed=sum(s.triage_parsed for s in samples),
        plan_branches=sum(s.plan_branches for s in samples),
        plans_inserted=sum(s.plans_inserted for s in samples),
        judge_calls=sum(s.judge_calls for s in samples),
        judge_parsed=sum(s.judge_parsed for s in samples),
        judge_decisive=sum(s.judge_decisive for s in samples),
        winners=dict(sorted(winners.items())),
        sources=tuple(sorted({s.source for s in samples if s.source != "none"})),
    )


def combine(healths: Iterable[RunHealth]) -> RunHealth:
    healths = list(healths)
    winners: Counter[int] = Counter()
    for h in healths:
        winners.update(h.winners)
    return RunHealth(
        triage_calls=sum(h.triage_calls for h in healths),
        triage_parsed=sum(h.triage_parsed for h in healths),
        plan_branches=sum(h.plan_branches for h in healths),
        plans_inserted=sum(h.plans_inserted for h in healths),
        judge_calls=sum(h.judge_calls for h in healths),
        judge_parsed=sum(h.judge_parsed for h in healths),
        judge_decisive=sum(h.judge_decisive for h in healths),
        winners=dict(sorted(winners.items())),
        sources=tuple(sorted({s for h in healths for s in h.sources})),
    )


def ratio_text(parsed: int, calls: int) -> str:
    return f"{parsed}/{calls} ({100 * parsed / calls:.0f}%)" if calls else ""


# --------------------------------------------------------------------------------------------------------------
# how health is shown: the same columns in Table 2, the runs table and (condensed) the leaderboard

HEALTH_HEADERS = ["Triage parsed", "Plans inserted", "Judge parsed", "Decisive judgements", "Winner position", "Planner / judge"]


def health_cells(health: RunHealth) -> list[str]:
    """The five count columns of HEALTH_HEADERS (empty for a system with no planner or judge)."""
    if not health.applies:
        return ["", "", "", "", ""]
    return [
        ratio_text(health.triage_parsed, health.triage_calls) or ("—" if not health.has_planner else "0"),
        f"{health.plans_inserted}/{health.plan_branches}" if health.has_planner else "—",
        ratio_text(health.judge_parsed, health.judge_calls) or "—",
        f"{health.judge_decisive}/{health.judge_calls}" if health.judge_calls else "—",
        health.winner_text() or "—",
    ]


def health_record(health: RunHealth) -> dict[str, Any]:
    return {
        "triage_calls": health.triage_calls,
        "triage_parsed": health.triage_parsed,
        "triage_parsed_rate": health.triage_parsed_rate,
        "plan_branches": health.plan_branches,
        "plans_inserted": health.plans_inserted,
        "judge_calls": health.judge_calls,
        "judge_parsed": health.judge_parsed,
        "judge_parsed_rate": health.judge_parsed_rate,
        "judge_decisive": health.judge_decisive,
        "winner_positions": health.winner_text() or None,
        "health_source": "/".join(health.sources) or None,
        "degenerate": "; ".join(health.failures()) or None,
        "_health": health,
    }


def roles_text(runs: Iterable[Any]) -> str:
    """Who planned and judged, with what decoding settings (log metadata `system_roles`, else the calls), over
    some analysis.load.Run objects."""
    found: dict[str, set[str]] = {}
    for run in runs:
        for role, spec in run.roles().items():
            generate = spec.get("generate") or {}
            settings = ", ".join(
                f"{short}={_setting(generate.get(name))}"
                for name, short in (("temperature", "T"), ("top_p", "top-p"), ("max_tokens", "max"))
            )
            found.setdefault(role, set()).add(f"{spec.get('model', '?')} ({settings})")
    return "; ".join(f"{role}: {' | '.join(sorted(v))}" for role, v in sorted(found.items()))


def _setting(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "/".join(_setting(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
