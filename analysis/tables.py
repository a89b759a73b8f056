"""The paper's tables with ours beside them: Table 1 (main results), Table 2 (test-time ablation) with its health
columns, Table 2's paired deltas, the response-length table, speed and every reported cell; `all_tables` adds
the speculative table (analysis/speculative.py), the positive control (analysis/positive_control.py) and the
runs table (analysis/runs.py). Markdown, CSV, LaTeX.

Each table builds its records once (a cell's record: analysis/cells.py) and renders each row from its
record(s). Our cells read "mean [95% CI] (problems×epochs)" in percent with the marks of the legend below;
"not run" is a cell the paper reports and we have no log for; "NR" a cell the paper has but k2think-facts.md
could not recover.

    python -m analysis                      # writes results/tables/*.{md,csv,tex}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.catalogue import (
    ABLATION_SYSTEMS,
    BASELINE_SYSTEM,
    BENCHMARK_LABELS,
    DEGENERATE_MARK,
    DIFFERENT_SET_MARK,
    MICRO_AVG,
    NOT_RUN,
    PAPER_MODEL,
    PIPELINE_CHECK_NOTE,
    SYSTEM_LABELS,
    TABLE1_BENCHMARKS,
    TABLE2_BENCHMARKS,
    label,
    row_label,
)
from analysis.cells import (
    Cells,
    cell_text,
    model_row_label,
    paper_delta,
    paper_record,
    protocol_text,
    reported_text,
    size_text,
)
from analysis.health import HEALTH_HEADERS, combine, health_cells, health_record, roles_text
from analysis.load import ReportedCell
from analysis.positive_control import positive_control
from analysis.render import Table, fmt_num, fmt_pct
from analysis.runs import runs_table
from analysis.speculative import speculative
from analysis.summary import RunStats, Summary

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



def our_rows_models(summary: Summary) -> list[str]:
    """The paper's model first (its rows show "not run" until someone runs it), then every model we ran."""
    return [PAPER_MODEL] + [m for m in summary.models() if m != PAPER_MODEL]


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


def paper_row(row: str, records: list[dict[str, Any]], benchmarks: tuple[str, ...], blank: int = 0) -> list[str]:
    """A paper row from its records (one per benchmark the paper reports; the others read NR)."""
    found = {r["benchmark"]: r["_cell"] for r in records}
    return [f"{row} (paper)"] + [reported_text(found.get(b)) for b in benchmarks] + [""] * blank + [""]


# --------------------------------------------------------------------------------------------------------------


def table1(summary: Summary) -> Table:
    cells = Cells(summary)
    rep = summary.reported
    headers = ["Row"] + [label(b) for b in TABLE1_BENCHMARKS] + ["Protocol"]
    rows, records = [], []
    for name in dict.fromkeys(c.row for c in rep.find("table1")):
        found = {c.benchmark: c for c in rep.find("table1", row=name)}
        row_records = [paper_record("table1", found[b]) for b in TABLE1_BENCHMARKS if b in found]
        rows.append(paper_row(name, row_records, TABLE1_BENCHMARKS))
        records += row_records
    ours: list[tuple[str, str]] = []
    for cell in rep.find("table1"):  # rows of ours that run the paper's model and system (not-run until logged)
        if cell.model and cell.system and (cell.model, cell.system) not in ours:
            ours.append((cell.model, cell.system))
    for model in summary.models():
        for system in summary.systems_of(model):
            if (model, system) not in ours:
                ours.append((model, system))
    for model, system in ours:
        row_records = [
            cells.record("table1", model, system, b, rep.one("table1", model=model, system=system, benchmark=b))
            for b in TABLE1_BENCHMARKS
        ]
        rows.append(
            [model_row_label(summary, model, system)]
            + [cell_text(r) for r in row_records]
            + [protocol_text(row_records)]
        )
        records += row_records
    notes = [
        LEGEND,
        "K2-Think's paper row is the full system (SFT+RL model + plan + best-of-3); comparison models are best-of-1 "
        "[SRI]. Math micro-avg: the mean over AIME24/AIME25/HMMT25/Omni-MATH-HARD problems (each problem weighs "
        "the same, whatever its epochs; paper weights 30/30/30/173); on fewer problems it says 'partial' with ours.",
        *different_set_notes(summary, TABLE1_BENCHMARKS),
        *pipeline_note(summary),
    ]
    return Table("table1_main", "Table 1: main results (accuracy %, paper vs ours)", headers, rows, records, notes)


def table2_row(summary: Summary, model: str, system: str, records: list[dict[str, Any]]) -> list[str]:
    """One row of ours in Table 2 from its cell records: the cells, the health summed over the row's runs (the
    micro-average is not a run of its own), who planned / judged, the protocol."""
    runs = [r for r in records if r["status"] == "run" and r["benchmark"] != MICRO_AVG]
    health = combine(r["_health"] for r in runs)
    name = f"{model} {SYSTEM_LABELS.get(system, system)} (ours{', pipeline check' if summary.pipeline_check(model) else ''})"
    if health.degenerate:
        name += f" {DEGENERATE_MARK} degenerate"
    roles = roles_text(r["_run"] for r in runs) if health.applies else ""
    return [name] + [cell_text(r) for r in records] + health_cells(health) + [roles, protocol_text(records)]


def table2(summary: Summary) -> Table:
    cells = Cells(summary)
    rep = summary.reported
    headers = ["Row"] + [label(b) for b in TABLE2_BENCHMARKS] + HEALTH_HEADERS + ["Protocol"]
    rows, records = [], []
    for system in ABLATION_SYSTEMS:
        found = {c.benchmark: c for c in rep.find("table2", system=system)}
        row_records = [paper_record("table2", found[b]) for b in TABLE2_BENCHMARKS if b in found]
        rows.append(paper_row(next(iter(found.values())).row, row_records, TABLE2_BENCHMARKS, len(HEALTH_HEADERS)))
        records += row_records
    for model in our_rows_models(summary):
        systems = list(ABLATION_SYSTEMS) + [s for s in summary.systems_of(model) if s not in ABLATION_SYSTEMS]
        for system in systems:
            row_records = []
            for b in TABLE2_BENCHMARKS:
                record = cells.record("table2", model, system, b, rep.one("table2", model=model, system=system, benchmark=b))
                st = summary.get(model, system, b)
                if st is not None:
                    record.update(health_record(st.health))
                    record["system_roles"] = roles_text([st.run]) or None
                    record["_run"] = st.run
                row_records.append(record)
            rows.append(table2_row(summary, model, system, row_records))
            records += row_records
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


def delta_record(summary: Summary, cells: Cells, model: str, system: str, bench: str) -> dict[str, Any] | None:
    """Ours minus plain on one benchmark, beside the paper's delta; None when neither exists."""
    pd = paper_delta(summary, system, bench)
    d = summary.delta(model, system, bench)
    excluded = summary.excluded.get((model, system, bench))
    if d is None and pd is None and excluded is None:
        return None  # neither the paper nor we have this comparison
    record: dict[str, Any] = {"model": model, "system": system, "baseline": BASELINE_SYSTEM, "benchmark": bench}
    record["paper_delta_pp"] = pd
    if d is None and excluded is not None:
        record.update(status="degenerate", excluded_because=excluded)
    elif d is None:
        record["status"] = NOT_RUN
    else:
        c = d.comparison
        found = cells.get(model, system, bench)
        other_set = found is not None and bool(found.problem_set)
        comparable = found is not None and not other_set and not found.partial
        inside = None if pd is None or model != PAPER_MODEL or not comparable else (c.ci_low <= pd / 100 <= c.ci_high)
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
    return record


def delta_row(r: dict[str, Any]) -> list[str]:
    head = [r["model"], SYSTEM_LABELS.get(r["system"], r["system"]), label(r["benchmark"])]
    paper = fmt_num(r["paper_delta_pp"], 2)
    if r["status"] == "degenerate":
        return head + [f"{DEGENERATE_MARK} not compared", "", "", paper, ""]
    if r["status"] == NOT_RUN:
        return head + [NOT_RUN, "", "", paper, ""]
    inside = r["paper_delta_in_ci"]
    return head + [
        f"{r['delta_pp']:+.1f} [{r['ci_low_pp']:+.1f}, {r['ci_high_pp']:+.1f}]"
        + (f" {DIFFERENT_SET_MARK}" if r["problem_set"] == "different" else ""),
        f"{r['p_value']:.3g}",
        str(r["n_paired"]),
        paper,
        "" if inside is None else ("✓" if inside else "✗"),
    ]


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
    records = []
    for model in our_rows_models(summary):
        systems = [s for s in ABLATION_SYSTEMS if s != BASELINE_SYSTEM]
        systems += [s for s in summary.systems_of(model) if s not in ABLATION_SYSTEMS]
        benchmarks = list(TABLE2_BENCHMARKS) + [s for s in summary.suites() if s not in TABLE2_BENCHMARKS]
        for system in systems:
            for bench in benchmarks:
                record = delta_record(summary, cells, model, system, bench)
                if record is not None:
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
        [delta_row(r) for r in records],
        records,
        notes,
    )


def planning_cell(summary: Summary, benchmark: str) -> ReportedCell | None:
    """The paper's planning length reduction for a benchmark (the 1-decimal [MTP] cell, not [ANA]'s duplicate)."""
    return next((c for c in summary.reported.cells if c.id == f"planning_length.{benchmark}"), None)


def length_row(r: dict[str, Any]) -> list[str]:
    if r["status"] == NOT_RUN:
        return [r["model"], SYSTEM_LABELS["k2_full"], label(r["benchmark"]), NOT_RUN, "", "", NOT_RUN,
                reported_text(r["_paper"])]  # fmt: skip
    tokens = (
        ""
        if r["mean_response_tokens"] is None
        else f"{fmt_num(r['mean_response_tokens'])} [{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}] {r['_size']}"
    )
    if r["rel_change_vs_plain"] is None:
        change = f"{DEGENERATE_MARK} not compared" if r["_excluded"] else ""
    else:
        change = (
            f"{100 * r['rel_change_vs_plain']:+.1f} [{100 * r['rel_change_ci_low']:+.1f}, "
            f"{100 * r['rel_change_ci_high']:+.1f}]"
        )
    return [
        r["model"],
        SYSTEM_LABELS.get(r["system"], r["system"]) + (f" {DEGENERATE_MARK}" if r["degenerate"] else ""),
        label(r["benchmark"]),
        tokens,
        fmt_pct(r["truncated_rate"]),
        fmt_num(r["mean_tokens_all_calls"]),
        change,
        "" if r["_paper"] is None else reported_text(r["_paper"]),
    ]


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
    records = []
    covered = set()
    for (model, system, suite), st in summary.stats.items():
        run = st.run
        paper = planning_cell(summary, suite) if system == "k2_full" else None
        covered.add((model, system, suite))
        change = summary.length_change(model, system, suite)
        tokens = st.response_tokens
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
                "_size": size_text(run.n_problems, run.dataset_problems, run.epochs),
                "_excluded": (model, system, suite) in summary.excluded,
                "_paper": paper,
            }
        )
    for cell in rep.find("planning_length"):
        if cell is not planning_cell(summary, cell.benchmark) or (PAPER_MODEL, "k2_full", cell.benchmark) in covered:
            continue  # a run covers it, or it is a duplicate / not per benchmark
        records.append(
            {
                "model": PAPER_MODEL,
                "system": "k2_full",
                "benchmark": cell.benchmark,
                "status": NOT_RUN,
                "paper_rel_change_pct": cell.value,
                "_paper": cell,
            }
        )
    notes = [
        "Response tokens = output tokens of the graded (final) response; all calls adds planner, every best-of-N "
        "sample and the judge. Interval clustered by problem. Δ% = relative change of the mean against plain on the "
        "same problems, paired bootstrap. Runs capped below 64k tokens are truncated often, which bounds their length: "
        "see max_tokens_effective in the CSV. Paper: planning's reduction [MTP], secondary. ⚠ degenerate system cell "
        "(planner or judge failed on >10% of calls): its lengths are shown but not compared with plain.",
    ]
    return Table(
        "response_length",
        "Response length (output tokens per response)",
        headers,
        [length_row(r) for r in records],
        records,
        notes,
    )


def speed_row(r: dict[str, Any]) -> list[str]:
    if r["source"] == "paper":
        latency = r["_latency"]
        return [
            f"{r['row']} (paper)",
            "",
            reported_text(r["_cell"]),
            f"{reported_text(latency)} for 32k tokens" if latency else "",
            "",
            "",
        ]
    label_ = row_label(r["model"], r["system"])
    if r["_pipeline"]:
        label_ = label_.replace(" (ours)", " (ours, pipeline check)")
    q25, q50, q75 = r["tokens_per_second_q25"], r["tokens_per_second_median"], r["tokens_per_second_q75"]
    return [
        label_ + (f" {DEGENERATE_MARK} degenerate" if r["degenerate"] else ""),
        str(r["requests"]),
        f"{fmt_num(q50)} [{fmt_num(q25)}, {fmt_num(q75)}]" if r["requests"] else "",
        fmt_num(r["latency_median_s"]),
        fmt_num(r["latency_mean_s"]),
        ", ".join(r["_engines"]),
    ]


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
    records = []
    for cell in rep.find("speed", benchmark="tokens_per_second"):
        latency = rep.one("speed", row=cell.row, benchmark="latency_32k_tokens")
        records.append(
            {
                "row": cell.row,
                "source": "paper",
                "tokens_per_second": cell.value,
                "latency_32k_s": latency.value if latency else None,
                "reported_id": cell.id,
                "_cell": cell,
                "_latency": latency,
            }
        )
    by_system: dict[tuple[str, str], list[RunStats]] = {}
    for (model, system, _), st in summary.stats.items():
        by_system.setdefault((model, system), []).append(st)
    for (model, system), stats in sorted(by_system.items()):
        tps = [c.tokens_per_second for st in stats for c in st.run.solver_calls() if c.tokens_per_second is not None]
        latencies = [s.latency_s for st in stats for s in st.run.samples if s.latency_s is not None]
        q25, q50, q75 = (float(x) for x in np.quantile(tps, [0.25, 0.5, 0.75])) if tps else (None, None, None)
        degenerate = summary.degenerate(model, system)
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
                "_engines": sorted({st.run.model_spec.split("/")[0] for st in stats}),
                "_pipeline": summary.pipeline_check(model),
            }
        )
    notes = [
        "Ours: per solver request, output tokens / generation time the provider reported (a batched server reports "
        "the batch's time, so this is per-request speed under that batch); latency = a sample's end-to-end wall "
        "clock including queueing. Paper: Cerebras WSE vs a typical GPU setup [HF-CARD], approximate. ⚠ degenerate: "
        "the system's planner or judge failed on >10% of calls, so its speed is not that of the working system.",
    ]
    return Table("speed", "Inference speed per request", headers, [speed_row(r) for r in records], records, notes)


def reported_row(r: dict[str, Any]) -> list[str]:
    cell = r["_cell"]
    unit = {"%": "%", "fraction": ""}.get(cell.unit, f" {cell.unit}")
    return [cell.group, cell.row, cell.benchmark, cell.metric, reported_text(cell) + unit, ", ".join(cell.sources),
            r["our_run"]]  # fmt: skip


def reported_table(summary: Summary) -> Table:
    headers = ["Group", "Row", "Benchmark", "Metric", "Value", "Sources", "Our matching run"]
    cells = Cells(summary)
    records = []
    for cell in summary.reported.cells:
        ours = ""
        if cell.model and cell.system and cell.benchmark in BENCHMARK_LABELS and cell.group in ("table1", "table2"):
            ours = "yes" if cells.get(cell.model, cell.system, cell.benchmark) else NOT_RUN
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
                "_cell": cell,
            }
        )
    notes = [
        "Every cell of results/reported.yaml (hand-kept; source tags as in k2think-facts.md §0). * secondary, ~ approximate."
    ]
    return Table(
        "reported",
        "Every number reported for K2-Think, with sources",
        headers,
        [reported_row(r) for r in records],
        records,
        notes,
    )


def all_tables(summary: Summary) -> list[Table]:
    return [
        table1(summary),
        table2(summary),
        table2_deltas(summary),
        response_length(summary),
        speed(summary),
        speculative(summary),
        positive_control(summary),
        runs_table(summary),
        reported_table(summary),
    ]
