"""The paper's tables with ours beside them: Table 1 (main results), Table 2 (test-time ablation) with paired
deltas, the response-length table, speed, per-run statistics and every reported cell. Markdown, CSV, LaTeX.

Our cells read "mean [95% CI] (problems×epochs)" in percent; a ✓ marks a cell whose row is the paper's own
(model, system) and whose interval contains the paper's value, ✗ one whose interval does not. "not run" is a
cell the paper reports and we have no log for; "NR" a cell the paper has but k2think-facts.md could not recover.

    python -m analysis                      # writes results/tables/*.{md,csv,tex}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.catalogue import (
    ABLATION_SYSTEMS,
    BASELINE_SYSTEM,
    BENCHMARK_LABELS,
    MICRO_AVG,
    PAPER_MODEL,
    PIPELINE_CHECK_NOTE,
    SYSTEM_LABELS,
    TABLE1_BENCHMARKS,
    TABLE2_BENCHMARKS,
    label,
    row_label,
)
from analysis.health import RunHealth, combine, ratio_text
from analysis.load import ReportedCell, Run
from analysis.render import Table, fmt_num, fmt_pct
from analysis.summary import RunStats, Summary, run_stats
from suites.stats import Estimate, Reproduction, paired_comparison, reproduction_test

__all__ = ["BENCHMARK_LABELS", "TABLE1_BENCHMARKS", "TABLE2_BENCHMARKS", "label", "row_label"]
NOT_RUN = "not run"
NOT_RECOVERED = "NR"
DIFFERENT_SET_MARK = "†"  # the problems are not the paper's: no verdict, not in a paper-comparable average
DEGENERATE_MARK = "⚠"  # the system's planner / judge failed on > 10% of calls: not a measurement of the system
VERDICT_MARKS = {"reproduced": "✓", "below": "↓", "above": "↑", "inconclusive": "?"}
PAPER_EPOCHS = 16  # used when results/reported.yaml's protocol.epochs is missing
LEGEND = (
    "Ours: avg@k in % with its 95% interval (Wilson on the design-effect-adjusted n: problem-clustered, honest at "
    "0 and 100%) and (problems×epochs; n/N when only n of the suite's N problems ran). Reproduction verdict, only "
    "where our row runs the paper's model and system on the paper's whole problem set: Δ = ours − paper ± the 95% "
    "half-width of the epochs' sampling noise on the same problems (ours and the paper's 16 epochs); ✓ reproduced: "
    "Δ's interval within the tolerance ±5 pp; ↓ below / ↑ above: the interval excludes 0; ? inconclusive: neither "
    "(analysis/README.md). † different problem set (not the paper's problems or grading; no verdict; not in a "
    "paper-comparable micro-average). ⚠ degenerate: the system's planner or judge failed on >10% of its calls; the "
    "cell does not measure the system and is left out of deltas and rankings. Paper: * secondary source, "
    "~ approximate; sources per cell in the CSV and results/reported.yaml."
)


def size_text(n: int, dataset: int | None, epochs: int | float) -> str:
    k = int(epochs) if float(epochs).is_integer() else round(float(epochs), 1)
    return f"({n}/{dataset}×{k})" if dataset and n < dataset else f"({n}×{k})"


def interval_text(est: Estimate, digits: int = 1) -> str:
    return f"[{fmt_pct(est.ci_low, digits)}, {fmt_pct(est.ci_high, digits)}]"


def estimate_text(est: Estimate, size: str, digits: int = 1) -> str:
    return f"{fmt_pct(est.mean, digits)} {interval_text(est, digits)} {size}"


def reported_text(cell: ReportedCell | None) -> str:
    if cell is None:
        return NOT_RECOVERED
    text = f"{cell.value:g}" if cell.unit != "%" else f"{cell.value:.2f}".rstrip("0").rstrip(".")
    return ("~" if cell.approx else "") + text + ("*" if cell.secondary else "")


def verdict_text(rep: Reproduction) -> str:
    half = 100 * rep.half_width
    return f"{VERDICT_MARKS[rep.verdict]} Δ{100 * rep.difference:+.1f}±{half:.1f}"


def model_row_label(summary: Summary, model: str, system: str) -> str:
    """Row label of ours; pipeline-check models say so in the row itself."""
    return row_label(model, system).replace(" (ours)", " (ours, pipeline check)" if summary.pipeline_check(model) else " (ours)")


@dataclass
class CellResult:
    """Our value for (model, system, benchmark), with everything that qualifies it."""

    estimate: Estimate
    size: str
    mismatches: list[str]
    log: str
    version: str
    outcomes: dict[str, list[float]]
    problem_set: str | None  # why the problems are not the paper's
    partial: str | None  # "10/30 problems" / "partial: weights ..."
    degenerate: list[str]  # why the planner / judge cell is degenerate


class Cells:
    """Looks up our estimate for (model, system, benchmark), the micro-average included, and its verdict."""

    def __init__(self, summary: Summary):
        self.s = summary

    def get(self, model: str, system: str, benchmark: str) -> CellResult | None:
        if benchmark == MICRO_AVG:
            micro = self.s.micro.get((model, system))
            if micro is None:
                return None
            runs = [self.s.get(model, system, b) for b in micro.counts]
            mismatches = sorted({m for r in runs for m in r.mismatches})
            epochs = micro.estimate.n_samples / micro.estimate.n_problems
            return CellResult(
                micro.estimate,
                size_text(micro.estimate.n_problems, None, epochs),
                mismatches,
                "; ".join(r.run.path for r in runs),
                "",
                micro.outcomes,
                "; ".join(f"{label(b)}: {why}" for b, why in micro.problem_sets.items()) or None,
                (f"partial: weights {micro.weights_text()}" if micro.partial else None),
                self.s.degenerate(model, system, MICRO_AVG),
            )
        st = self.s.get(model, system, benchmark)
        if st is None:
            return None
        run = st.run
        return CellResult(
            st.accuracy,
            size_text(run.n_problems, run.dataset_problems, run.epochs),
            st.mismatches,
            run.path,
            run.suite_version,
            run.outcomes(),
            st.problem_set,
            st.subset,
            [f"{benchmark}: {r}" for r in st.health.failures()],
        )

    def verdict(self, found: CellResult, reported: ReportedCell | None) -> tuple[Reproduction | None, str]:
        """(the reproduction test, why there is none): a verdict needs the paper's value, the paper's problems
        (all of them) and a working system."""
        if reported is None:
            return None, ""
        if found.problem_set:
            return None, "different problem set"
        if found.partial:
            return None, found.partial
        if found.degenerate:
            return None, "degenerate"
        epochs = int((self.s.reported.protocol.get("epochs") or {}).get("value") or PAPER_EPOCHS)
        return reproduction_test(found.outcomes, reported.value / 100.0, paper_epochs=epochs), ""

    def text(self, model: str, system: str, benchmark: str, reported: ReportedCell | None) -> str:
        found = self.get(model, system, benchmark)
        if found is None:
            return NOT_RUN
        text = estimate_text(found.estimate, found.size)
        if benchmark == MICRO_AVG and found.partial:
            text += f" partial {found.partial.removeprefix('partial: ')}"
        if found.problem_set:
            text += f" {DIFFERENT_SET_MARK}"
        if found.degenerate:
            text += f" {DEGENERATE_MARK}"
        rep, _ = self.verdict(found, reported)
        return text + (f" {verdict_text(rep)}" if rep else "")

    def record(
        self, table: str, model: str, system: str, benchmark: str, reported: ReportedCell | None
    ) -> dict[str, Any]:
        found = self.get(model, system, benchmark)
        record: dict[str, Any] = {
            "table": table,
            "row": row_label(model, system),
            "source": "ours",
            "model": model,
            "system": system,
            "benchmark": benchmark,
            "status": NOT_RUN if found is None else "run",
            "pipeline_check": self.s.pipeline_check(model),
        }
        if found is not None:
            est = found.estimate
            rep, why_not = self.verdict(found, reported)
            record.update(
                value_pct=100 * est.mean,
                ci_low_pct=100 * est.ci_low,
                ci_high_pct=100 * est.ci_high,
                ci_method=est.method,
                n_effective=est.n_effective,
                se_pct=100 * est.se,
                n_problems=est.n_problems,
                n_samples=est.n_samples,
                suite_version=found.version,
                problem_set="paper" if not found.problem_set else "different",
                problem_set_note=found.problem_set,
                partial=found.partial,
                degenerate="; ".join(found.degenerate) or None,
                reported_pct=reported.value if reported else None,
                reported_id=reported.id if reported else None,
                verdict=rep.verdict if rep else None,
                verdict_delta_pp=100 * rep.difference if rep else None,
                verdict_half_width_pp=100 * rep.half_width if rep else None,
                verdict_tolerance_pp=100 * rep.tolerance if rep else None,
                no_verdict_because=why_not or None,
                protocol_mismatch="; ".join(found.mismatches),
                log=found.log,
            )
        else:
            record.update(
                reported_pct=reported.value if reported else None, reported_id=reported.id if reported else None
            )
        return record


def paper_record(table: str, cell: ReportedCell) -> dict[str, Any]:
    return {
        "table": table,
        "row": cell.row,
        "source": "paper",
        "model": cell.model,
        "system": cell.system,
        "benchmark": cell.benchmark,
        "status": "reported",
        "value_pct": cell.value,
        "reported_id": cell.id,
        "reported_sources": list(cell.sources),
        "secondary": cell.secondary,
        "approx": cell.approx,
    }


def our_rows_models(summary: Summary) -> list[str]:
    """The paper's model first (its rows show "not run" until someone runs it), then every model we ran."""
    return [PAPER_MODEL] + [m for m in summary.models() if m != PAPER_MODEL]


def protocol_text(cells: Cells, model: str, system: str, benchmarks: tuple[str, ...]) -> str:
    found = [cells.get(model, system, b) for b in benchmarks]
    mismatches = sorted({m for f in found if f is not None for m in f.mismatches})
    if not any(found):
        return ""
    return "; ".join(mismatches) if mismatches else "paper protocol"


def different_set_notes(summary: Summary, benchmarks: tuple[str, ...]) -> list[str]:
    """One note per benchmark that carries the † marker in these tables, with the reason."""
    reasons: dict[str, set[str]] = {}
    for (_, _, suite), st in summary.stats.items():
        if suite in benchmarks and st.problem_set:
            reasons.setdefault(suite, set()).add(st.problem_set)
    return [f"† {label(b)}: {'; '.join(sorted(r))}." for b, r in sorted(reasons.items())]


def pipeline_note(summary: Summary) -> list[str]:
    models = [m for m in summary.models() if summary.pipeline_check(m)]
    return [f"Rows marked 'pipeline check' ({', '.join(models)}): {PIPELINE_CHECK_NOTE}."] if models else []


# --------------------------------------------------------------------------------------------------------------


def table1(summary: Summary) -> Table:
    cells = Cells(summary)
    rep = summary.reported
    paper_rows = list(dict.fromkeys(c.row for c in rep.find("table1")))
    headers = ["Row"] + [label(b) for b in TABLE1_BENCHMARKS] + ["Protocol"]
    rows, records = [], []
    for paper_row in paper_rows:
        found = {c.benchmark: c for c in rep.find("table1", row=paper_row)}
        rows.append([f"{paper_row} (paper)"] + [reported_text(found.get(b)) for b in TABLE1_BENCHMARKS] + [""])
        records += [paper_record("table1", found[b]) for b in TABLE1_BENCHMARKS if b in found]
    ours: list[tuple[str, str]] = []
    for cell in rep.find("table1"):  # rows of ours that run the paper's model and system (not-run until logged)
        if cell.model and cell.system and (cell.model, cell.system) not in ours:
            ours.append((cell.model, cell.system))
    for model in summary.models():
        for system in summary.systems_of(model):
            if (model, system) not in ours:
                ours.append((model, system))
    for model, system in ours:
        reported = {b: rep.one("table1", model=model, system=system, benchmark=b) for b in TABLE1_BENCHMARKS}
        rows.append(
            [model_row_label(summary, model, system)]
            + [cells.text(model, system, b, reported[b]) for b in TABLE1_BENCHMARKS]
            + [protocol_text(cells, model, system, TABLE1_BENCHMARKS)]
        )
        records += [cells.record("table1", model, system, b, reported[b]) for b in TABLE1_BENCHMARKS]
    notes = [
        LEGEND,
        "K2-Think's paper row is the full system (SFT+RL model + plan + best-of-3); comparison models are best-of-1 "
        "[SRI]. Math micro-avg: the mean over AIME24/AIME25/HMMT25/Omni-MATH-HARD problems (each problem weighs "
        "the same, whatever its epochs; paper weights 30/30/30/173); on fewer problems it says 'partial' with ours.",
        *different_set_notes(summary, TABLE1_BENCHMARKS),
        *pipeline_note(summary),
    ]
    return Table("table1_main", "Table 1: main results (accuracy %, paper vs ours)", headers, rows, records, notes)


HEALTH_HEADERS = ["Triage parsed", "Plans inserted", "Judge parsed", "Decisive judgements", "Winner position", "Planner / judge"]


def roles_text(runs: list[Run]) -> str:
    """Who planned and judged, with what decoding settings (log metadata `system_roles`, else the calls)."""
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


def health_cells(health: RunHealth) -> list[str]:
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
    }


def table2(summary: Summary) -> Table:
    cells = Cells(summary)
    rep = summary.reported
    headers = ["Row"] + [label(b) for b in TABLE2_BENCHMARKS] + HEALTH_HEADERS + ["Protocol"]
    blank = [""] * len(HEALTH_HEADERS)
    rows, records = [], []
    for system in ABLATION_SYSTEMS:
        found = {c.benchmark: c for c in rep.find("table2", system=system)}
        paper_row = next(iter(found.values())).row
        rows.append([f"{paper_row} (paper)"] + [reported_text(found.get(b)) for b in TABLE2_BENCHMARKS] + blank + [""])
        records += [paper_record("table2", found[b]) for b in TABLE2_BENCHMARKS if b in found]
    for model in our_rows_models(summary):
        systems = list(ABLATION_SYSTEMS) + [s for s in summary.systems_of(model) if s not in ABLATION_SYSTEMS]
        for system in systems:
            reported = {b: rep.one("table2", model=model, system=system, benchmark=b) for b in TABLE2_BENCHMARKS}
            stats = [summary.get(model, system, b) for b in TABLE2_BENCHMARKS if b != MICRO_AVG]
            stats = [st for st in stats if st is not None]
            health = combine(st.health for st in stats)
            row_health = health_cells(health)
            if health.applies:
                row_health.append(roles_text([st.run for st in stats]))
            else:
                row_health.append("")
            name = f"{model} {SYSTEM_LABELS.get(system, system)} (ours{', pipeline check' if summary.pipeline_check(model) else ''})"
            if health.degenerate:
                name += f" {DEGENERATE_MARK} degenerate"
            rows.append(
                [name]
                + [cells.text(model, system, b, reported[b]) for b in TABLE2_BENCHMARKS]
                + row_health
                + [protocol_text(cells, model, system, TABLE2_BENCHMARKS)]
            )
            for b in TABLE2_BENCHMARKS:
                record = cells.record("table2", model, system, b, reported[b])
                st = summary.get(model, system, b)
                if st is not None:
                    record.update(health_record(st.health))
                    record["system_roles"] = roles_text([st.run]) or None
                records.append(record)
    notes = [
        LEGEND,
        "Paper rows are K2-Think's SFT+RL checkpoint with each test-time component [T2-IMG]; paper micro-averages "
        "are derived (weights 30/30/30/173). Deltas with paired intervals: table2_deltas.",
        "Health, summed over the row's runs (per run: the CSV and tables/runs): triage calls whose JSON parsed; "
        "branches that got a plan inserted; judge calls that parsed; decisive = parsed judgements between two "
        "different candidate texts; winner position = the best-of-N pick's index (0 = the first sample); "
        "planner / judge = the model and decoding settings of those calls (unset = the provider's default).",
        *different_set_notes(summary, TABLE2_BENCHMARKS),
        *pipeline_note(summary),
    ]
    return Table(
        "table2_ablation", "Table 2: test-time ablation (accuracy %, paper vs ours)", headers, rows, records, notes
    )


def paper_delta(summary: Summary, system: str, benchmark: str) -> float | None:
    rep = summary.reported
    base = rep.one("table2", system=BASELINE_SYSTEM, benchmark=benchmark)
    other = rep.one("table2", system=system, benchmark=benchmark)
    return None if base is None or other is None else round(other.value - base.value, 2)


def table2_deltas(summary: Summary) -> Table:
    headers = [
        "Model",
        "System vs plain",
        "Benchmark",
        "Δ ours (pp) [95% CI]",
        "p (paired)",
        "n paired",
        "Δ paper (pp)",
        "paper Δ in CI",
    ]
    cells = Cells(summary)
    rows, records = [], []
    for model in our_rows_models(summary):
        systems = [s for s in ABLATION_SYSTEMS if s != BASELINE_SYSTEM]
        systems += [s for s in summary.systems_of(model) if s not in ABLATION_SYSTEMS]
        benchmarks = list(TABLE2_BENCHMARKS) + [s for s in summary.suites() if s not in TABLE2_BENCHMARKS]
        for system in systems:
            for bench in benchmarks:
                pd = paper_delta(summary, system, bench)
                d = summary.delta(model, system, bench)
                excluded = summary.excluded.get((model, system, bench))
                if d is None and pd is None and excluded is None:
                    continue  # neither the paper nor we have this comparison
                record: dict[str, Any] = {
                    "model": model,
                    "system": system,
                    "baseline": BASELINE_SYSTEM,
                    "benchmark": bench,
                }
                record["paper_delta_pp"] = pd
                if d is None and excluded is not None:
                    rows.append(
                        [model, SYSTEM_LABELS.get(system, system), label(bench), f"{DEGENERATE_MARK} not compared",
                         "", "", fmt_num(pd, 2), ""]
                    )  # fmt: skip
                    record.update(status="degenerate", excluded_because=excluded)
                elif d is None:
                    rows.append(
                        [model, SYSTEM_LABELS.get(system, system), label(bench), NOT_RUN, "", "", fmt_num(pd, 2), ""]
                    )
                    record["status"] = NOT_RUN
                else:
                    c = d.comparison
                    found = cells.get(model, system, bench)
                    other_set = found is not None and bool(found.problem_set)
                    comparable = found is not None and not other_set and not found.partial
                    inside = (
                        None if pd is None or model != PAPER_MODEL or not comparable else (c.ci_low <= pd / 100 <= c.ci_high)
                    )
                    rows.append(
                        [
                            model,
                            SYSTEM_LABELS.get(system, system),
                            label(bench),
                            f"{100 * c.delta:+.1f} [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]"
                            + (f" {DIFFERENT_SET_MARK}" if other_set else ""),
                            f"{c.p_value:.3g}",
                            str(c.n_problems),
                            fmt_num(pd, 2),
                            "" if inside is None else ("✓" if inside else "✗"),
                        ]
                    )
                    record.update(
                        status="run",
                        delta_pp=100 * c.delta,
                        ci_low_pp=100 * c.ci_low,
                        ci_high_pp=100 * c.ci_high,
                        p_value=c.p_value,
                        p_method=c.method,
                        n_paired=c.n_problems,
                        paper_delta_in_ci=inside,
                        problem_set="different" if other_set else "paper",
                    )
                records.append(record)
    notes = [
        "Δ = system minus plain on the same model and problems, percentage points; interval: paired bootstrap over "
        "problems (10,000 resamples, fixed seed); p: two-sided sign-flip permutation test (exact up to 16 "
        "differing problems). Paper Δ from Table 2 [T2-IMG].",
        "⚠ not compared: the system cell is degenerate (its planner or judge failed on more than 10% of calls, "
        "Table 2's health columns), so a delta would measure something else than the component; left out by default. "
        "† the cell's problems are not the paper's (Table 1 notes): its Δ is not compared with the paper's.",
    ]
    return Table(
        "table2_deltas",
        "Table 2 deltas: each test-time component against plain (paired)",
        headers,
        rows,
        records,
        notes,
    )


def planning_cell(summary: Summary, benchmark: str) -> ReportedCell | None:
    """The paper's planning length reduction for a benchmark (the 1-decimal [MTP] cell, not [ANA]'s duplicate)."""
    return next((c for c in summary.reported.cells if c.id == f"planning_length.{benchmark}"), None)


def response_length(summary: Summary) -> Table:
    rep = summary.reported
    headers = [
        "Model",
        "System",
        "Benchmark",
        "Mean response tokens [95% CI]",
        "Truncated %",
        "Mean tokens, all calls",
        "Δ% vs plain [95% CI]",
        "Paper Δ% (Plan+Bo3 vs checkpoint)",
    ]
    rows, records = [], []
    covered = set()
    for (model, system, suite), st in summary.stats.items():
        run = st.run
        paper = planning_cell(summary, suite) if system == "k2_full" else None
        covered.add((model, system, suite))
        change = summary.length_change(model, system, suite)
        excluded = summary.excluded.get((model, system, suite))
        tokens = st.response_tokens
        size = size_text(run.n_problems, run.dataset_problems, run.epochs)
        rows.append(
            [
                model,
                SYSTEM_LABELS.get(system, system) + (f" {DEGENERATE_MARK}" if st.degenerate else ""),
                label(suite),
                ""
                if tokens is None
                else f"{fmt_num(tokens.mean)} [{fmt_num(tokens.ci_low)}, {fmt_num(tokens.ci_high)}] {size}",
                fmt_pct(st.rates["truncated"]),
                "" if st.all_tokens is None else fmt_num(st.all_tokens.mean),
                (f"{DEGENERATE_MARK} not compared" if excluded else "")
                if change is None
                else f"{100 * change.comparison.delta:+.1f} [{100 * change.comparison.ci_low:+.1f}, {100 * change.comparison.ci_high:+.1f}]",
                "" if paper is None else reported_text(paper),
            ]
        )
        records.append(
            {
                "model": model,
                "system": system,
                "benchmark": suite,
                "status": "run",
                "mean_response_tokens": None if tokens is None else tokens.mean,
                "ci_low": None if tokens is None else tokens.ci_low,
                "ci_high": None if tokens is None else tokens.ci_high,
                "n_problems": run.n_problems,
                "epochs": run.epochs,
                "truncated_rate": st.rates["truncated"],
                "mean_tokens_all_calls": None if st.all_tokens is None else st.all_tokens.mean,
                "rel_change_vs_plain": None if change is None else change.comparison.delta,
                "rel_change_ci_low": None if change is None else change.comparison.ci_low,
                "rel_change_ci_high": None if change is None else change.comparison.ci_high,
                "paper_rel_change_pct": None if paper is None else paper.value,
                "degenerate": "; ".join(st.health.failures()) or None,
                "max_tokens_effective": run.generation_settings()["max_tokens_effective"],
                "log": run.path,
            }
        )
    for cell in rep.find("planning_length"):
        if cell is not planning_cell(summary, cell.benchmark) or (PAPER_MODEL, "k2_full", cell.benchmark) in covered:
            continue  # a run covers it, or it is a duplicate / not per benchmark
        rows.append(
            [
                PAPER_MODEL,
                SYSTEM_LABELS["k2_full"],
                label(cell.benchmark),
                NOT_RUN,
                "",
                "",
                NOT_RUN,
                reported_text(cell),
            ]
        )
        records.append(
            {
                "model": PAPER_MODEL,
                "system": "k2_full",
                "benchmark": cell.benchmark,
                "status": NOT_RUN,
                "paper_rel_change_pct": cell.value,
            }
        )
    notes = [
        "Response tokens = output tokens of the graded (final) response; all calls adds planner, every best-of-N "
        "sample and the judge. Interval clustered by problem. Δ% = relative change of the mean against plain on the "
        "same problems, paired bootstrap. Runs capped below 64k tokens are truncated often, which bounds their length: "
        "see max_tokens_effective in the CSV. Paper: planning's reduction [MTP], secondary. ⚠ degenerate system cell "
        "(planner or judge failed on >10% of calls): its lengths are shown but not compared with plain.",
    ]
    return Table("response_length", "Response length (output tokens per response)", headers, rows, records, notes)


def speed(summary: Summary) -> Table:
    rep = summary.reported
    headers = [
        "Row",
        "Requests",
        "Median tok/s per request [IQR]",
        "Median latency s (sample)",
        "Mean latency s",
        "Engine",
    ]
    rows, records = [], []
    for cell in rep.find("speed", benchmark="tokens_per_second"):
        latency = rep.one("speed", row=cell.row, benchmark="latency_32k_tokens")
        rows.append(
            [
                f"{cell.row} (paper)",
                "",
                reported_text(cell),
                f"{reported_text(latency)} for 32k tokens" if latency else "",
                "",
                "",
            ]
        )
        records.append(
            {
                "row": cell.row,
                "source": "paper",
                "tokens_per_second": cell.value,
                "latency_32k_s": latency.value if latency else None,
                "reported_id": cell.id,
            }
        )
    by_system: dict[tuple[str, str], list[RunStats]] = {}
    for (model, system, _), st in summary.stats.items():
        by_system.setdefault((model, system), []).append(st)
    for (model, system), stats in sorted(by_system.items()):
        tps = [c.tokens_per_second for st in stats for c in st.run.solver_calls() if c.tokens_per_second is not None]
        latencies = [s.latency_s for st in stats for s in st.run.samples if s.latency_s is not None]
        engines = sorted({st.run.model_spec.split("/")[0] for st in stats})
        q25, q50, q75 = (float(x) for x in np.quantile(tps, [0.25, 0.5, 0.75])) if tps else (None, None, None)
        degenerate = summary.degenerate(model, system)
        rows.append(
            [
                model_row_label(summary, model, system) + (f" {DEGENERATE_MARK} degenerate" if degenerate else ""),
                str(len(tps)),
                f"{fmt_num(q50)} [{fmt_num(q25)}, {fmt_num(q75)}]" if tps else "",
                fmt_num(float(np.median(latencies))) if latencies else "",
                fmt_num(float(np.mean(latencies))) if latencies else "",
                ", ".join(engines),
            ]
        )
        records.append(
            {
                "row": row_label(model, system),
                "source": "ours",
                "model": model,
                "system": system,
                "requests": len(tps),
                "tokens_per_second_median": q50,
                "tokens_per_second_q25": q25,
                "tokens_per_second_q75": q75,
                "latency_median_s": float(np.median(latencies)) if latencies else None,
                "latency_mean_s": float(np.mean(latencies)) if latencies else None,
                "suites": [st.run.suite for st in stats],
                "degenerate": "; ".join(degenerate) or None,
            }
        )
    notes = [
        "Ours: per solver request, output tokens / generation time the provider reported (a batched server reports "
        "the batch's time, so this is per-request speed under that batch); latency = a sample's end-to-end wall "
        "clock including queueing. Paper: Cerebras WSE vs a typical GPU setup [HF-CARD], approximate. ⚠ degenerate: "
        "the system's planner or judge failed on >10% of calls, so its speed is not that of the working system.",
    ]
    return Table("speed", "Inference speed per request", headers, rows, records, notes)


def speculative_overlays(summary: Summary) -> list[tuple[str, str]]:
    """(model, system) pairs whose runs were served with a speculative overlay (systems.run's serving metrics)."""
    found = set()
    for (model, system, _), st in summary.stats.items():
        overlay = (st.run.serving_metrics or {}).get("overlay") or {}
        if system != BASELINE_SYSTEM and overlay.get("speculative_config"):
            found.add((model, system))
    return sorted(found)


def _serving_groups(stats: list[RunStats]) -> list[dict[str, Any]]:
    """The distinct serving-metric records of some runs (one per systems.run serving group, shared by its logs)."""
    groups: dict[str, dict[str, Any]] = {}
    for st in stats:
        metrics = st.run.serving_metrics
        if metrics:
            groups.setdefault(json.dumps(metrics, sort_keys=True, default=str), metrics)
    return list(groups.values())


def _group_value(groups: list[dict[str, Any]], key: str) -> float | None:
    values = [float(g[key]) for g in groups if g.get(key) is not None]
    return float(np.mean(values)) if values else None


def speculative(summary: Summary) -> Table:
    """Speculative decoding against plain decoding of the same model on the same problems: the overlay must
    change speed, never answers. Identical responses (greedy), paired accuracy delta, the server's draft
    acceptance rate and generation throughput, per-request tok/s."""
    headers = [
        "Row",
        "Suites",
        "Paired samples",
        "Identical responses",
        "Δ accuracy pp [95% CI]",
        "Draft acceptance",
        "Server gen tok/s plain → overlay",
        "Median tok/s per request plain → overlay",
        "Temperature",
    ]
    rows, records = [], []
    for model, system in speculative_overlays(summary):
        pairs = []
        for suite in summary.suites():
            base, over = summary.get(model, BASELINE_SYSTEM, suite), summary.get(model, system, suite)
            if base is not None and over is not None:
                pairs.append((suite, base, over))
        if not pairs:
            continue
        paired = identical = 0
        outcomes_base: dict[str, list[float]] = {}
        outcomes_over: dict[str, list[float]] = {}
        for suite, base, over in pairs:
            by_key = {(s.problem_id, s.epoch): s for s in base.run.samples}
            suite_paired = suite_identical = 0
            for s in over.run.samples:
                b = by_key.get((s.problem_id, s.epoch))
                if b is None:
                    continue
                suite_paired += 1
                suite_identical += int(b.response_sha is not None and b.response_sha == s.response_sha)
            paired, identical = paired + suite_paired, identical + suite_identical
            outcomes_base.update({f"{suite}/{p}": v for p, v in base.run.outcomes().items()})
            outcomes_over.update({f"{suite}/{p}": v for p, v in over.run.outcomes().items()})
            records.append(
                {
                    "row": row_label(model, system),
                    "scope": suite,
                    "model": model,
                    "system": system,
                    "paired_samples": suite_paired,
                    "identical_responses": suite_identical,
                    "accuracy_plain": base.accuracy.mean,
                    "accuracy_overlay": over.accuracy.mean,
                    "tokens_per_second_median_plain": base.tokens_per_second_median,
                    "tokens_per_second_median_overlay": over.tokens_per_second_median,
                    "logs": f"{base.run.path} ; {over.run.path}",
                }
            )
        comparison = paired_comparison(outcomes_base, outcomes_over)
        base_groups = _serving_groups([b for _, b, _ in pairs])
        over_groups = _serving_groups([o for _, _, o in pairs])
        acceptance = _group_value(over_groups, "acceptance_rate")
        gen_base = _group_value(base_groups, "generation_tokens_per_s")
        gen_over = _group_value(over_groups, "generation_tokens_per_s")
        tps_base = [c.tokens_per_second for _, b, _ in pairs for c in b.run.solver_calls() if c.tokens_per_second]
        tps_over = [c.tokens_per_second for _, _, o in pairs for c in o.run.solver_calls() if c.tokens_per_second]
        med_base = float(np.median(tps_base)) if tps_base else None
        med_over = float(np.median(tps_over)) if tps_over else None
        temperatures = sorted(
            {c.temperature for _, _, o in pairs for c in o.run.solver_calls() if c.temperature is not None}
        )
        rows.append(
            [
                row_label(model, system),
                ", ".join(label(suite) for suite, _, _ in pairs),
                str(paired),
                f"{identical}/{paired}",
                f"{100 * comparison.delta:+.1f} [{100 * comparison.ci_low:+.1f}, {100 * comparison.ci_high:+.1f}]",
                fmt_pct(acceptance) + "%" if acceptance is not None else "",
                f"{fmt_num(gen_base)} → {fmt_num(gen_over)}" if gen_base or gen_over else "",
                f"{fmt_num(med_base)} → {fmt_num(med_over)}" if tps_base or tps_over else "",
                ", ".join(f"{t:g}" for t in temperatures),
            ]
        )
        records.append(
            {
                "row": row_label(model, system),
                "scope": "all",
                "model": model,
                "system": system,
                "paired_samples": paired,
                "identical_responses": identical,
                "accuracy_delta": comparison.delta,
                "accuracy_delta_ci_low": comparison.ci_low,
                "accuracy_delta_ci_high": comparison.ci_high,
                "accuracy_delta_p": comparison.p_value,
                "acceptance_rate": acceptance,
                "server_generation_tokens_per_s_plain": gen_base,
                "server_generation_tokens_per_s_overlay": gen_over,
                "tokens_per_second_median_plain": med_base,
                "tokens_per_second_median_overlay": med_over,
                "temperatures": temperatures,
            }
        )
    notes = [
        "Overlay vs plain decoding of the same model on the same server settings and problems, paired by "
        "(problem, epoch). Identical responses: the graded response texts are equal (sha256); at temperature 0 "
        "speculative decoding must give identical text up to numerical near-ties (systems/speculative.py); under "
        "sampling texts differ by design and only the accuracy delta speaks. Draft acceptance and server gen tok/s: "
        "vLLM /metrics counters over each serving group (systems.run), averaged over groups. Per-request tok/s: "
        "output tokens / reported generation time. The paper gives no acceptance rate or draft model (§3e).",
    ]
    if not rows:
        notes.insert(0, "No run with a speculative overlay in results/logs/committed yet.")
    return Table("speculative", "Speculative decoding vs plain decoding", headers, rows, records, notes)


def runs_table(summary: Summary) -> Table:
    """Every successful log: the one each cell uses first, then the others (protocol-aware selection: a
    paper-protocol run wins its cell; capped or partial runs stay visible here)."""
    headers = [
        "Model",
        "System",
        "Suite",
        "Used",
        "Version",
        "avg@k % [95% CI]",
        "SE",
        "n×k",
        "no_answer %",
        "truncated %",
        "error %",
        "Mean tokens",
        "Latency s",
        *HEALTH_HEADERS,
        "Problems",
        "Protocol",
    ]
    listed: list[tuple[RunStats, bool]] = [(st, True) for st in summary.stats.values()]
    others = [r for r in summary.runs if r.path not in summary.used and r.status == "success" and r.samples]
    listed += [(run_stats(r), False) for r in sorted(others, key=lambda r: (r.key, r.path))]
    rows, records = [], []
    for st, used in listed:
        run, acc = st.run, st.accuracy
        model, system, suite = run.key
        size = size_text(run.n_problems, run.dataset_problems, run.epochs)
        health = st.health
        rows.append(
            [
                model,
                system + (f" {DEGENERATE_MARK}" if st.degenerate else ""),
                suite,
                "yes" if used else "no",
                run.suite_version,
                f"{fmt_pct(acc.mean)} {interval_text(acc)}",
                fmt_pct(acc.se),
                size.strip("()"),
                fmt_pct(st.rates["no_answer"]),
                fmt_pct(st.rates["truncated"]),
                fmt_pct(st.rates["error"]),
                "" if st.response_tokens is None else fmt_num(st.response_tokens.mean),
                fmt_num(st.latency_mean_s),
                *health_cells(health),
                roles_text([run]) if health.applies else "",
                "; ".join(x for x in (st.subset, f"{DIFFERENT_SET_MARK} {st.problem_set}" if st.problem_set else None) if x)
                or "paper's",
                "; ".join(st.mismatches) or "paper protocol",
            ]
        )
        settings = run.generation_settings()
        records.append(
            {
                "model": model,
                "model_spec": run.model_spec,
                "system": system,
                "suite": suite,
                "used": used,
                "suite_version": run.suite_version,
                "accuracy": acc.mean,
                "se": acc.se,
                "ci_low": acc.ci_low,
                "ci_high": acc.ci_high,
                "ci_method": acc.method,
                "n_effective": acc.n_effective,
                "n_problems": run.n_problems,
                "dataset_problems": run.dataset_problems,
                "epochs": run.epochs,
                "n_samples": acc.n_samples,
                **{f"rate_{k}": v for k, v in st.rates.items()},
                "mean_response_tokens": None if st.response_tokens is None else st.response_tokens.mean,
                "mean_tokens_all_calls": None if st.all_tokens is None else st.all_tokens.mean,
                "latency_mean_s": st.latency_mean_s,
                "latency_median_s": st.latency_median_s,
                "tokens_per_second_median": st.tokens_per_second_median,
                "temperature": settings["temperature"],
                "top_p": settings["top_p"],
                "max_tokens": settings["max_tokens"],
                "max_tokens_effective": settings["max_tokens_effective"],
                **health_record(health),
                "system_roles": roles_text([run]) or None,
                "subset": st.subset,
                "problem_set": "different" if st.problem_set else "paper",
                "problem_set_note": st.problem_set,
                "pipeline_check": summary.pipeline_check(model),
                "protocol_mismatch": bool(st.mismatches),
                "protocol_mismatches": st.mismatches,
                "log": run.path,
                "eval_id": run.eval_id,
            }
        )
    notes = [
        "Every successful log (results/index.csv lists failed ones too). Used = the run Tables 1/2 and the "
        "leaderboard use for its (model, system, suite): a paper-protocol run wins, then one over the whole suite, "
        "the highest suite major version, the most samples, the newest (analysis.load.select_runs). "
        "avg@k = mean over problems of the mean over k epochs; SE clustered by problem; the interval is Wilson on "
        "the design-effect-adjusted n (ci_method, n_effective in the CSV); status rates per sample.",
        "Health columns as in Table 2; ⚠ degenerate: planner or judge failed on more than 10% of its calls.",
    ]
    return Table("runs", "Per-run statistics", headers, rows, records, notes)


def reported_table(summary: Summary) -> Table:
    headers = ["Group", "Row", "Benchmark", "Metric", "Value", "Sources", "Our matching run"]
    rows, records = [], []
    for cell in summary.reported.cells:
        ours = ""
        if cell.model and cell.system and cell.benchmark in BENCHMARK_LABELS and cell.group in ("table1", "table2"):
            ours = "yes" if Cells(summary).get(cell.model, cell.system, cell.benchmark) else NOT_RUN
        unit = {"%": "%", "fraction": ""}.get(cell.unit, f" {cell.unit}")
        value = reported_text(cell) + unit
        rows.append([cell.group, cell.row, cell.benchmark, cell.metric, value, ", ".join(cell.sources), ours])
        records.append(
            {
                "id": cell.id,
                "group": cell.group,
                "row": cell.row,
                "model": cell.model,
                "system": cell.system,
                "benchmark": cell.benchmark,
                "metric": cell.metric,
                "value": cell.value,
                "unit": cell.unit,
                "sources": list(cell.sources),
                "secondary": cell.secondary,
                "approx": cell.approx,
                "our_run": ours,
            }
        )
    notes = [
        "Every cell of results/reported.yaml (hand-kept; source tags as in k2think-facts.md §0). * secondary, ~ approximate."
    ]
    return Table("reported", "Every number reported for K2-Think, with sources", headers, rows, records, notes)


def all_tables(summary: Summary) -> list[Table]:
    return [
        table1(summary),
        table2(summary),
        table2_deltas(summary),
        response_length(summary),
        speed(summary),
        speculative(summary),
        runs_table(summary),
        reported_table(summary),
    ]


def index_records(summary: Summary) -> list[dict[str, Any]]:
    """results/index.csv: every log found, with its identity and whether the tables use it."""
    records = []
    for run in summary.runs:
        records.append(
            {
                "log": run.path,
                "used": run.path in summary.used,
                "status": run.status,
                "model": run.model,
                "model_spec": run.model_spec,
                "system": run.system,
                "suite": run.suite,
                "suite_version": run.suite_version,
                "epochs": run.epochs,
                "limit": run.limit,
                "n_problems": run.n_problems,
                "n_samples": len(run.samples),
                "protocol": run.protocol,
                "created": run.created,
                "eval_id": run.eval_id,
            }
        )
    return records
