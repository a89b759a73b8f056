"""results/leaderboard.md and a static, sortable results/leaderboard.html (inline CSS and JS, no external assets).

One row per (model, system) we ran, plus the paper's reported K2-Think rows for reference; one column per
benchmark (avg@k %, its 95% interval and problems×epochs), the math micro-average, mean response tokens,
median per-request tokens/s, the planner / judge health and the protocol flag. Marks as in the tables:
† different problem set, ⚠ degenerate, the reproduction verdict. Pipeline-check rows (the embedded SmolLM2) are
labelled in the row and explained in a banner. Degenerate system rows are listed apart, below the ranked rows,
and never sorted into them. Clicking a header sorts the ranked rows by it (numbers: highest first on the first
click; empty cells always last); each sortable cell carries its raw value in `data-sort`. The page fits a
1,366-1,900 px wide screen without horizontal scrolling (tests/analysis/test_leaderboard_browser.py).

    python -m analysis        # writes both files; open results/leaderboard.html in any browser
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.catalogue import (
    ABLATION_SYSTEMS,
    DEGENERATE_MARK,
    MICRO_AVG,
    NOT_RUN,
    PAPER_MODEL,
    PIPELINE_CHECK_NOTE,
    TABLE1_BENCHMARKS,
    label,
)
from analysis.cells import Cells, leaderboard_parts, reported_text
from analysis.health import combine, ratio_text
from analysis.render import GENERATED, fmt_num, write_text
from analysis.summary import Summary

SHORT_LABELS = {
    "aime2024": "AIME 24",
    "aime2025": "AIME 25",
    "hmmt_feb2025": "HMMT 25",
    "omni_math_hard": "Omni-HARD",
    MICRO_AVG: "Math micro",
    "livecodebench_v5": "LCB v5",
    "scicode_subproblem": "SciCode sub",
    "scicode_main": "SciCode main",
    "gpqa_diamond": "GPQA-D",
    "hle": "HLE",
    "math500": "MATH-500",
}


@dataclass
class Cell:
    text: str  # what is shown
    detail: list[str] = field(default_factory=list)  # smaller lines under it (interval, n, notes)
    sort: str = ""  # raw value for sorting ("" = empty, sorts last)
    title: str = ""  # hover text (why a mark is there)


@dataclass
class Column:
    key: str
    title: str
    numeric: bool
    full: str = ""  # the full name, as a tooltip


@dataclass
class Row:
    cells: dict[str, Cell]
    css: str  # paper | ours | ours pipeline | ours degenerate
    degenerate: bool = False


def columns(summary: Summary) -> list[Column]:
    benchmarks = [
        b
        for b in TABLE1_BENCHMARKS
        if b != MICRO_AVG and (b in summary.suites() or summary.reported.find("table1", benchmark=b))
    ]
    benchmarks += [s for s in summary.suites() if s not in benchmarks]
    cols = [Column("model", "Model", False), Column("system", "System", False), Column("source", "Source", False)]
    cols += [Column(b, SHORT_LABELS.get(b, label(b)), True, label(b)) for b in benchmarks]
    cols += [
        Column(MICRO_AVG, SHORT_LABELS[MICRO_AVG], True, label(MICRO_AVG)),
        Column("tokens", "Resp. tokens", True, "Mean response tokens over the row's suites"),
        Column("tps", "tok/s", True, "Median output tokens/s per solver request"),
        Column("health", "Planner / judge", False, "Parsed planner (triage) and judge calls, plans inserted"),
        Column("protocol", "Protocol", False, "Where the runs depart from the paper's protocol"),
    ]
    return cols


def _paper_rows(summary: Summary, cols: list[Column]) -> list[Row]:
    rep = summary.reported
    out = []
    for system in ABLATION_SYSTEMS:  # the paper's K2-Think rows (Table 2 + Table 1's other benchmarks)
        cells = {
            "model": Cell(PAPER_MODEL, sort=PAPER_MODEL),
            "system": Cell(system, sort=system),
            "source": Cell("paper", sort="paper"),
        }
        for col in cols[3:]:
            group = "table1" if system == "k2_full" else "table2"
            found = rep.one(group, model=PAPER_MODEL, system=system, benchmark=col.key) if col.numeric else None
            cells[col.key] = Cell(reported_text(found), sort=f"{found.value / 100:.6f}") if found else Cell("—")
        cells["health"] = Cell("")
        cells["protocol"] = Cell("paper protocol", sort="paper protocol")
        out.append(Row(cells, "paper"))
    return out


def _our_row(summary: Summary, cols: list[Column], model: str, system: str) -> Row:
    lookup = Cells(summary)
    pipeline = summary.pipeline_check(model)
    cells = {
        "model": Cell(model, ["pipeline check"] if pipeline else [], model, PIPELINE_CHECK_NOTE if pipeline else ""),
        "system": Cell(system, sort=system),
        "source": Cell("ours", sort="ours"),
    }
    mismatches: set[str] = set()
    group = "table1" if system == "k2_full" else "table2"
    for col in cols[3:-4]:
        reported = summary.reported.one(group, model=model, system=system, benchmark=col.key)
        record = lookup.record(group, model, system, col.key, reported)
        if record["status"] != "run":
            cells[col.key] = Cell(NOT_RUN)
            continue
        mismatches.update(record["_mismatches"])
        text, detail, sort, title = leaderboard_parts(record)
        cells[col.key] = Cell(text, detail, sort, title)
    stats = summary.of(model, system)
    tokens = [st.response_tokens.mean for st in stats if st.response_tokens is not None]
    tps = [c.tokens_per_second for st in stats for c in st.run.solver_calls() if c.tokens_per_second]
    mean_tokens = float(np.mean(tokens)) if tokens else None
    median_tps = float(np.median(tps)) if tps else None
    cells["tokens"] = Cell(
        fmt_num(mean_tokens), [f"{len(tokens)} suites"], "" if mean_tokens is None else f"{mean_tokens:.6f}"
    )
    cells["tps"] = Cell(fmt_num(median_tps, 2), [f"n={len(tps)}"], "" if median_tps is None else f"{median_tps:.6f}")
    health = combine(st.health for st in stats)
    if health.applies:
        lines = []
        if health.has_planner:
            lines.append(f"triage {ratio_text(health.triage_parsed, health.triage_calls)}")
            lines.append(f"plans {health.plans_inserted}/{health.plan_branches}")
        if health.judge_calls:
            lines.append(f"judge {ratio_text(health.judge_parsed, health.judge_calls)}")
            lines.append(f"winner {health.winner_text()}")
        head = f"{DEGENERATE_MARK} degenerate" if health.degenerate else "ok"
        cells["health"] = Cell(head, lines, head, "; ".join(health.failures()))
    else:
        cells["health"] = Cell("")
    text = "; ".join(sorted(mismatches)) or "paper protocol"
    cells["protocol"] = Cell(text, sort=text)
    css = "ours" + (" pipeline" if pipeline else "") + (" degenerate" if health.degenerate else "")
    return Row(cells, css, health.degenerate)


def rows(summary: Summary) -> list[Row]:
    """The paper's rows, then ours; degenerate system rows last (the page lists them apart)."""
    cols = columns(summary)
    ours = [_our_row(summary, cols, m, s) for m in summary.models() for s in summary.systems_of(m)]
    return _paper_rows(summary, cols) + [r for r in ours if not r.degenerate] + [r for r in ours if r.degenerate]


def banner(summary: Summary) -> str:
    models = [m for m in summary.models() if summary.pipeline_check(m)]
    if not models:
        return ""
    return f"Pipeline check, not a model result: the rows of {', '.join(models)} are a {PIPELINE_CHECK_NOTE.removeprefix('pipeline check: ')}."


LEGEND = (
    "Accuracy in % (avg@k) with its 95% interval (Wilson on the design-effect-adjusted n) and problems×epochs "
    "(n/N: n of the suite's N problems). † different problem set from the paper's (no verdict; hover for why). "
    "⚠ degenerate: the system's planner or judge failed on more than 10% of its calls; such rows are listed apart "
    "and not ranked. Verdict (paper's model and system, paper's problems only): ✓ reproduced / ↓ below / ↑ above / "
    "? inconclusive, Δ = ours − paper ± the 95% half-width of the same-problem sampling noise, tolerance ±5 pp. "
    "Paper rows: K2-Think as reported (Tables 1 and 2; * secondary source)."
)


def to_markdown(summary: Summary, computed: list[Row] | None = None) -> str:
    cols = columns(summary)
    lines = [f"<!-- {GENERATED} -->", "", "# k2bench leaderboard", ""]
    note = banner(summary)
    if note:
        lines += [f"> **{note}**", ""]
    lines += [LEGEND + " A sortable version: leaderboard.html.", ""]
    lines.append("| " + " | ".join(c.title for c in cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for row in computed if computed is not None else rows(summary):
        texts = []
        for c in cols:
            cell = row.cells[c.key]
            texts.append(" ".join([cell.text, *cell.detail]).strip().replace("|", "\\|"))
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 12px 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 8px; }
p.legend { font-size: 12px; color: #444; max-width: 100%; margin: 6px 0 10px; }
div.banner { background: #fff3cd; border: 1px solid #e0b84a; padding: 8px 12px; margin: 8px 0; font-size: 13px; }
table { border-collapse: collapse; font-size: 12px; width: 100%; table-layout: auto; }
th, td { border: 1px solid #ccc; padding: 3px 4px; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; font-size: 11px; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
td.num { text-align: right; white-space: nowrap; }
td small { color: #666; display: block; font-size: 10px; }
td.empty { color: #aaa; }
td.wide { font-size: 10px; min-width: 80px; overflow-wrap: anywhere; }
td.key { white-space: nowrap; }
tr.paper td { background: #fbf7e9; }
tr.pipeline td { background: repeating-linear-gradient(135deg, #fff, #fff 6px, #f5f5f5 6px, #f5f5f5 12px); }
tr.pipeline td:first-child small { color: #8a5a00; font-weight: 600; }
tr.degenerate td { color: #777; background: #f3f3f3; }
tbody.apart th { background: #fde2e2; cursor: default; text-align: left; font-size: 12px; }
footer { margin-top: 1em; font-size: 12px; color: #666; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById("leaderboard");
  var body = table.tBodies[0];  /* the ranked rows; degenerate rows sit in a second tbody and are never sorted */
  Array.prototype.forEach.call(body.rows, function (r, i) { r.dataset.order = String(i); });
  function value(row, i) { return row.cells[i].getAttribute("data-sort"); }
  function sortBy(th) {
    var i = th.cellIndex, numeric = th.dataset.type === "number";
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "descending" ? "ascending" : "descending") : (numeric ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, i), y = value(b, i);
      if (x === "" && y !== "") return 1;
      if (y === "" && x !== "") return -1;
      var c = 0;
      if (x !== "" && y !== "") {
        c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        if (dir === "descending") c = -c;
      }
      return c !== 0 ? c : parseInt(a.dataset.order, 10) - parseInt(b.dataset.order, 10);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
})();
"""

WIDE_COLUMNS = ("protocol", "health", "model")


def _row_html(row: Row, cols: list[Column]) -> list[str]:
    e = html.escape
    out = [f'<tr class="{e(row.css)}">']
    for c in cols:
        cell = row.cells[c.key]
        detail = "".join(f"<small>{e(d)}</small>" for d in cell.detail)
        classes = []
        if c.numeric:
            classes.append("num")
            if not cell.sort:
                classes.append("empty")
        if c.key in WIDE_COLUMNS:
            classes.append("wide")
        elif not c.numeric:
            classes.append("key")
        css = f' class="{" ".join(classes)}"' if classes else ""
        title = f' title="{e(cell.title)}"' if cell.title else ""
        out.append(f'<td{css}{title} data-sort="{e(cell.sort)}">{e(cell.text)}{detail}</td>')
    out.append("</tr>")
    return out


def to_html(summary: Summary, computed: list[Row] | None = None) -> str:
    cols = columns(summary)
    e = html.escape
    all_rows = computed if computed is not None else rows(summary)
    ranked = [r for r in all_rows if not r.degenerate]
    apart = [r for r in all_rows if r.degenerate]
    out = [
        "<!DOCTYPE html>",
        f"<!-- {e(GENERATED)} -->",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="k2bench analysis (python -m analysis)">',
        "<title>k2bench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>k2bench leaderboard</h1>",
    ]
    note = banner(summary)
    if note:
        out.append(f'<div class="banner" id="pipeline-banner" role="note"><strong>{e(note)}</strong></div>')
    out.append(f'<p class="legend">{e(LEGEND)} Click a header to sort the ranked rows.</p>')
    out.append('<table id="leaderboard" class="sortable"><thead><tr>')
    out += [
        f'<th data-key="{e(c.key)}" data-type="{"number" if c.numeric else "text"}" title="{e(c.full or c.title)}">'
        f"{e(c.title)}</th>"
        for c in cols
    ]
    out.append("</tr></thead><tbody>")
    for row in ranked:
        out += _row_html(row, cols)
    out.append("</tbody>")
    if apart:
        out.append('<tbody class="apart">')
        out.append(
            f'<tr class="apart-head"><th colspan="{len(cols)}">{DEGENERATE_MARK} Degenerate system runs: planner or '
            "judge failed on more than 10% of calls. Not a measurement of the system; not ranked.</th></tr>"
        )
        for row in apart:
            out += _row_html(row, cols)
        out.append("</tbody>")
    out.append("</table>")
    out.append(f"<footer>{e(GENERATED)}. Statistics: suites/stats.py (analysis/README.md); per-run details and "
               "health: tables/runs.md.</footer>")  # fmt: skip
    out.append(f"<script>{SCRIPT}</script>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(summary: Summary, results_dir: Path) -> list[Path]:
    md, page = results_dir / "leaderboard.md", results_dir / "leaderboard.html"
    computed = rows(summary)  # once, for both pages
    write_text(md, to_markdown(summary, computed))
    write_text(page, to_html(summary, computed))
    return [md, page]
