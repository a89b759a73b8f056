"""The run tables: results/tables/runs.* (every successful log with its statistics, health and protocol) and
results/index.csv (every log found, failed ones too, and whether the tables use it). One record per log; each
row of runs.md is rendered from its record.

    python -m analysis        # writes both
"""

from __future__ import annotations

from typing import Any

from analysis.catalogue import DEGENERATE_MARK, DIFFERENT_SET_MARK
from analysis.cells import size_text
from analysis.health import HEALTH_HEADERS, health_cells, health_record, roles_text
from analysis.render import Table, fmt_num, fmt_pct
from analysis.summary import RunStats, Summary, run_stats

HEADERS = [
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
NOTES = [
    "Every successful log (results/index.csv lists failed ones too). Used = the run Tables 1/2 and the "
    "leaderboard use for its (model, system, suite): a paper-protocol run wins, then one over the whole suite, "
    "the highest suite major version, the most samples, the newest (analysis.load.select_runs). "
    "avg@k = mean over problems of the mean over k epochs; SE clustered by problem; the interval is Wilson on "
    "the design-effect-adjusted n (ci_method, n_effective in the CSV); status rates per sample.",
    "Health columns as in Table 2; ⚠ degenerate: planner or judge failed on more than 10% of its calls.",
]


def run_record(st: RunStats, used: bool, pipeline_check: bool) -> dict[str, Any]:
    run, acc = st.run, st.accuracy
    model, system, suite = run.key
    settings = run.generation_settings()
    return {
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
        **health_record(st.health),
        "system_roles": roles_text([run]) or None,
        "subset": st.subset,
        "problem_set": "different" if st.problem_set else "paper",
        "problem_set_note": st.problem_set,
        "pipeline_check": pipeline_check,
        "protocol_mismatch": bool(st.mismatches),
        "protocol_mismatches": st.mismatches,
        "log": run.path,
        "eval_id": run.eval_id,
    }


def run_row(r: dict[str, Any]) -> list[str]:
    health = r["_health"]
    problems = (r["subset"], f"{DIFFERENT_SET_MARK} {r['problem_set_note']}" if r["problem_set_note"] else None)
    return [
        r["model"],
        r["system"] + (f" {DEGENERATE_MARK}" if r["degenerate"] else ""),
        r["suite"],
        "yes" if r["used"] else "no",
        r["suite_version"],
        f"{fmt_pct(r['accuracy'])} [{fmt_pct(r['ci_low'])}, {fmt_pct(r['ci_high'])}]",
        fmt_pct(r["se"]),
        size_text(r["n_problems"], r["dataset_problems"], r["epochs"]).strip("()"),
        fmt_pct(r["rate_no_answer"]),
        fmt_pct(r["rate_truncated"]),
        fmt_pct(r["rate_error"]),
        fmt_num(r["mean_response_tokens"]),
        fmt_num(r["latency_mean_s"]),
        *health_cells(health),
        (r["system_roles"] or "") if health.applies else "",
        "; ".join(x for x in problems if x) or "paper's",
        "; ".join(r["protocol_mismatches"]) or "paper protocol",
    ]


def runs_table(summary: Summary) -> Table:
    """Every successful log: the one each cell uses first, then the others (protocol-aware selection: a
    paper-protocol run wins its cell; capped or partial runs stay visible here)."""
    listed: list[tuple[RunStats, bool]] = [(st, True) for st in summary.stats.values()]
    others = [r for r in summary.runs if r.path not in summary.used and r.status == "success" and r.samples]
    listed += [(run_stats(r), False) for r in sorted(others, key=lambda r: (r.key, r.path))]
    records = [run_record(st, used, summary.pipeline_check(st.run.model)) for st, used in listed]
    return Table("runs", "Per-run statistics", HEADERS, [run_row(r) for r in records], records, NOTES)


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
