"""The positive control (results/tables/positive_control.*): does the ablation machinery measure a real effect?

Issue 13: on a task where a local model is right 20-60% of the time (the GRPO-trained SmolLM2 on the synthetic
held-out arithmetic of training/heldout_task.py, suite `arith-heldout`), plain decoding against best-of-3 with
the pairwise judge, and the equal-budget baselines of the same three candidates (systems/best_of_n.py
`equal_budget_scorer`): avg@3 (mean over candidates), maj@3 (majority vote), pass@3 (oracle), first@1 (candidate
0 alone). Every comparison is paired by problem (per-problem means; suites/stats.py `paired_comparison`: 95%
percentile bootstrap interval, two-sided sign-flip permutation p). Against plain: the pick, maj@3, pass@3, avg@3
and first@1 (a sanity row: one sample from the same distribution as plain, expected ≈ 0). On the same candidates:
the pick against avg@3 (what the judge adds over taking a candidate at random) and against maj@3 (over voting).
The judge's effect is reported whatever its sign. A degenerate judge (> 10% of its calls unparsed) is marked.

    python -m analysis        # writes results/tables/positive_control.{md,csv,tex}
"""

from __future__ import annotations

from typing import Any

from analysis.catalogue import BASELINE_SYSTEM, DEGENERATE_MARK, label, row_label
from analysis.health import ratio_text, roles_text
from analysis.render import Table, fmt_pct
from analysis.summary import RunStats, Summary
from suites.stats import paired_comparison

POSITIVE_CONTROL_SUITES = ("arith-heldout",)  # training/heldout_task.py
# where plain decoding is informative (issue 13): a run outside is tabulated with a note saying so, never hidden
INFORMATIVE_RANGE = (0.20, 0.60)
PLAIN = "plain"
PICK = "pick"  # the system's own score: the judge's pick
# (key of a measure, its label); keys are equal_budget_scorer's values, PICK and PLAIN are the runs' own scores
MEASURES = {
    PLAIN: "plain",
    PICK: "best-of-3 (judge's pick)",
    "maj_at_n": "maj@3",
    "pass_at_n": "pass@3",
    "avg_at_n": "avg@3",
    "first_at_1": "first@1 (candidate 0)",
}
# (b, a): the table's rows, b - a paired by problem
COMPARISONS = (
    (PICK, PLAIN),
    ("maj_at_n", PLAIN),
    ("pass_at_n", PLAIN),
    ("avg_at_n", PLAIN),
    ("first_at_1", PLAIN),
    (PICK, "avg_at_n"),
    (PICK, "maj_at_n"),
)


def control_pairs(summary: Summary) -> list[tuple[str, str, str, RunStats, RunStats]]:
    """(suite, model, system, plain stats, best-of-N stats) for every best-of-N run of a positive-control suite
    whose model also has a plain run of it."""
    found = []
    for (model, system, suite), st in sorted(summary.stats.items()):
        if suite not in POSITIVE_CONTROL_SUITES or system == BASELINE_SYSTEM:
            continue
        if not any(s.equal_budget for s in st.run.samples):
            continue
        plain = summary.get(model, BASELINE_SYSTEM, suite)
        if plain is not None:
            found.append((suite, model, system, plain, st))
    return found


def measure_outcomes(plain: RunStats, best: RunStats, key: str) -> dict[str, list[float]]:
    """{problem id: [epoch outcomes]} of one measure: plain's or the pick's accuracy, or an equal-budget value."""
    if key == PLAIN:
        return plain.run.outcomes()
    if key == PICK:
        return best.run.outcomes()
    out: dict[str, list[float]] = {}
    for s in sorted(best.run.samples, key=lambda s: (s.problem_id, s.epoch)):
        value = (s.equal_budget or {}).get(key)
        if value is not None:
            out.setdefault(s.problem_id, []).append(float(value))
    return out


def _mean_of_means(outcomes: dict[str, list[float]], problems: set[str]) -> float:
    values = [sum(v) / len(v) for p, v in outcomes.items() if p in problems and v]
    return sum(values) / len(values) if values else float("nan")


def _temperatures(st: RunStats) -> list[float]:
    return sorted({c.temperature for c in st.run.solver_calls() if c.temperature is not None})


def control_records(summary: Summary) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for suite, model, system, plain, best in control_pairs(summary):
        outcomes = {key: measure_outcomes(plain, best, key) for key in MEASURES}
        health = best.health
        for b, a in COMPARISONS:
            shared = set(outcomes[a]) & set(outcomes[b])
            comparison = paired_comparison(outcomes[a], outcomes[b])
            records.append(
                {
                    "row": row_label(model, system),
                    "suite": suite,
                    "model": model,
                    "system": system,
                    "comparison": f"{MEASURES[b]} vs {MEASURES[a]}",
                    "b": b,
                    "a": a,
                    "n_problems": comparison.n_problems,
                    "epochs_a": plain.run.epochs if a == PLAIN else best.run.epochs,
                    "epochs_b": best.run.epochs,
                    "accuracy_a": _mean_of_means(outcomes[a], shared),
                    "accuracy_b": _mean_of_means(outcomes[b], shared),
                    "delta": comparison.delta,
                    "ci_low": comparison.ci_low,
                    "ci_high": comparison.ci_high,
                    "p_value": comparison.p_value,
                    "p_method": comparison.method,
                    "temperatures_plain": _temperatures(plain),
                    "temperatures_candidates": _temperatures(best),
                    "judge_parsed": health.judge_parsed,
                    "judge_calls": health.judge_calls,
                    "judge_decisive": health.judge_decisive,
                    "winner_positions": health.winner_text() or None,
                    "degenerate": "; ".join(health.failures()) or None,
                    "roles": roles_text([best.run]),
                    "logs": f"{plain.run.path} ; {best.run.path}",
                }
            )
    return records


def control_row(r: dict[str, Any]) -> list[str]:
    mark = f" {DEGENERATE_MARK}" if r["degenerate"] else ""
    return [
        f"{r['row']}{mark}",
        label(r["suite"]),
        r["comparison"],
        str(r["n_problems"]),
        fmt_pct(r["accuracy_a"]),
        fmt_pct(r["accuracy_b"]),
        f"{100 * r['delta']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]",
        f"{r['p_value']:.4f}",
        ratio_text(r["judge_parsed"], r["judge_calls"]) or "—",
        f"{r['judge_decisive']}/{r['judge_calls']}" if r["judge_calls"] else "—",
        r["winner_positions"] or "—",
    ]


def positive_control(summary: Summary) -> Table:
    """Plain vs best-of-3 and its equal-budget baselines on a task the model gets right 20-60% of the time."""
    headers = [
        "Row",
        "Suite",
        "Comparison (b vs a)",
        "Problems",
        "a %",
        "b %",
        "Δ pp [95% CI]",
        "p",
        "Judge parsed",
        "Decisive judgements",
        "Winner position",
    ]
    records = control_records(summary)
    rows = [control_row(r) for r in records]
    notes = [
        "Positive control (issue 13): does the ablation machinery measure a real effect? Best-of-3 with the pairwise "
        "judge against plain decoding, and the same three candidates' equal-budget baselines (systems/best_of_n.py): "
        "maj@3 majority vote, pass@3 oracle (any candidate correct), avg@3 mean over candidates, first@1 candidate 0 "
        "alone (a sanity row: one sample of the same distribution as plain, expected ≈ 0). The last two rows compare "
        "the judge's pick with avg@3 (a random candidate) and maj@3 on the same candidates: the judge's own effect.",
        "Paired by problem: per-problem means (plain over its epochs), Δ = b − a in percentage points with a 95% "
        "paired bootstrap interval (10,000 resamples, fixed seed) and a two-sided sign-flip permutation p "
        "(suites/stats.py, scipy.stats). ⚠: the judge failed on more than 10% of its calls.",
    ]
    pairs = {(r["model"], r["system"]): r for r in records}
    low, high = INFORMATIVE_RANGE
    for (model, system), r in sorted(pairs.items()):
        plain_acc = next(x["accuracy_a"] for x in records if (x["model"], x["system"], x["a"]) == (model, system, PLAIN))
        if not low <= plain_acc <= high:
            notes.append(f"{row_label(model, system)}: plain accuracy {100 * plain_acc:.1f}% is outside the "
                         f"{100 * low:.0f}-{100 * high:.0f}% range issue 13 asks for (the closest real setting found: "
                         "see the model config's comment).")  # fmt: skip
        temps = ", ".join(f"{t:g}" for t in r["temperatures_candidates"]) or "unrecorded"
        notes.append(f"{row_label(model, system)}: sampling temperature of the candidates {temps}; {r['roles']}; "
                     f"logs {r['logs']}.")  # fmt: skip
    if not rows:
        notes.insert(0, "No positive-control run (plain and best-of-N on " + ", ".join(POSITIVE_CONTROL_SUITES)
                     + ") in results/logs/committed yet.")  # fmt: skip
    return Table("positive_control", "Positive control: best-of-3 and equal-budget baselines vs plain", headers,
                 rows, records, notes)  # fmt: skip
