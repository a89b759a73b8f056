"""One cell of ours for (model, system, benchmark): the lookup, its reproduction verdict, its record, and the
text a table or the leaderboard shows for it, rendered from that record. Also the paper's cells (reported
values, Table 2's deltas) as the tables compare with them.

A cell record is built once (`Cells.record`); Table 1, Table 2 and the leaderboard render their text from it
(`cell_text`, `leaderboard_parts`), so a number and its marks cannot disagree between them.

    python -m analysis        # tables.py and leaderboard.py use this module
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.catalogue import (
    BASELINE_SYSTEM,
    DEGENERATE_MARK,
    DIFFERENT_SET_MARK,
    MICRO_AVG,
    NOT_RECOVERED,
    NOT_RUN,
    VERDICT_MARKS,
    label,
    row_label,
)
from analysis.load import ReportedCell
from analysis.render import fmt_pct
from analysis.summary import Summary
from suites.stats import Estimate, Reproduction, reproduction_test

PAPER_EPOCHS = 16  # used when results/reported.yaml's protocol.epochs is missing


def size_text(n: int, dataset: int | None, epochs: int | float) -> str:
    k = int(epochs) if float(epochs).is_integer() else round(float(epochs), 1)
    return f"({n}/{dataset}×{k})" if dataset and n < dataset else f"({n}×{k})"


def interval_text(est: Estimate, digits: int = 1) -> str:
    return f"[{fmt_pct(est.ci_low, digits)}, {fmt_pct(est.ci_high, digits)}]"


def pct_interval_text(low_pct: float, high_pct: float) -> str:
    return f"[{low_pct:.1f}, {high_pct:.1f}]"


def reported_text(cell: ReportedCell | None) -> str:
    if cell is None:
        return NOT_RECOVERED
    text = f"{cell.value:g}" if cell.unit != "%" else f"{cell.value:.2f}".rstrip("0").rstrip(".")
    return ("~" if cell.approx else "") + text + ("*" if cell.secondary else "")


def verdict_text(rep: Reproduction) -> str:
    return _verdict_text(rep.verdict, 100 * rep.difference, 100 * rep.half_width)


def _verdict_text(verdict: str, delta_pp: float, half_pp: float) -> str:
    return f"{VERDICT_MARKS[verdict]} Δ{delta_pp:+.1f}±{half_pp:.1f}"


def model_row_label(summary: Summary, model: str, system: str) -> str:
    """Row label of ours; pipeline-check models say so in the row itself."""
    return row_label(model, system).replace(" (ours)", " (ours, pipeline check)" if summary.pipeline_check(model) else " (ours)")


def paper_delta(summary: Summary, system: str, benchmark: str) -> float | None:
    """The paper's Table 2 delta of a system against the SFT+RL checkpoint (plain), in points."""
    rep = summary.reported
    base = rep.one("table2", system=BASELINE_SYSTEM, benchmark=benchmark)
    other = rep.one("table2", system=system, benchmark=benchmark)
    return None if base is None or other is None else round(other.value - base.value, 2)


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
        "_cell": cell,
    }


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

    def record(
        self, table: str, model: str, system: str, benchmark: str, reported: ReportedCell | None
    ) -> dict[str, Any]:
        """The cell's record: the CSV columns, plus (underscored, not in the CSV) what its text needs."""
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
        if found is None:
            record.update(
                reported_pct=reported.value if reported else None, reported_id=reported.id if reported else None
            )
            return record
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
            _mean=est.mean,
            _size=found.size,
            _mismatches=found.mismatches,
        )
        return record


def _verdict_of(record: dict[str, Any]) -> str | None:
    if not record.get("verdict"):
        return None
    return _verdict_text(record["verdict"], record["verdict_delta_pp"], record["verdict_half_width_pp"])


def cell_text(record: dict[str, Any]) -> str:
    """A table cell from its record: "mean [interval] (n×k)", partial weights, †, ⚠, the verdict."""
    if record["status"] != "run":
        return NOT_RUN
    text = f"{record['value_pct']:.1f} {pct_interval_text(record['ci_low_pct'], record['ci_high_pct'])} {record['_size']}"
    if record["benchmark"] == MICRO_AVG and record["partial"]:
        text += f" partial {record['partial'].removeprefix('partial: ')}"
    if record["problem_set"] == "different":
        text += f" {DIFFERENT_SET_MARK}"
    if record["degenerate"]:
        text += f" {DEGENERATE_MARK}"
    verdict = _verdict_of(record)
    return text + (f" {verdict}" if verdict else "")


def leaderboard_parts(record: dict[str, Any]) -> tuple[str, list[str], str, str]:
    """(text, detail lines, sort value, hover title) of a leaderboard cell, from the same record."""
    text, titles = f"{record['value_pct']:.1f}", []
    if record["problem_set"] == "different":
        text += f" {DIFFERENT_SET_MARK}"
        titles.append(f"different problem set: {record['problem_set_note']}")
    if record["degenerate"]:
        text += f" {DEGENERATE_MARK}"
        titles.append(f"degenerate: {record['degenerate']}")
    detail = [pct_interval_text(record["ci_low_pct"], record["ci_high_pct"]), record["_size"].strip("()")]
    if record["benchmark"] == MICRO_AVG and record["partial"]:
        detail.append(record["partial"].replace("partial: weights", "partial"))
    verdict = _verdict_of(record)
    if verdict:
        detail.append(verdict)
    return text, detail, f"{record['_mean']:.6f}", "; ".join(titles)


def protocol_text(records: list[dict[str, Any]]) -> str:
    """The protocol column of a row: every mismatch of its run cells, or "paper protocol"; empty if none ran."""
    ran = [r for r in records if r["status"] == "run"]
    if not ran:
        return ""
    mismatches = sorted({m for r in ran for m in r["_mismatches"]})
    return "; ".join(mismatches) if mismatches else "paper protocol"
