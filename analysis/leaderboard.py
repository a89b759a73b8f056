"""results/leaderboard.md and a static, sortable results/leaderboard.html (inline CSS and JS, no external assets).

One row per (model, system) we ran, plus the paper's reported K2-Think rows for reference; one column per
benchmark (avg@k %, its 95% interval and problems×epochs), the math micro-average, mean response tokens,
median per-request tokens/s and the protocol flag. Clicking a header sorts by it (numbers: highest first on
the first click; empty cells always last); each sortable cell carries its raw value in `data-sort`.

    python -m analysis        # writes both files; open results/leaderboard.html in any browser
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.render import GENERATED, fmt_num, fmt_pct, write_text
from analysis.summary import ABLATION_SYSTEMS, MICRO_AVG, Summary
from analysis.tables import NOT_RUN, PAPER_MODEL, TABLE1_BENCHMARKS, Cells, label, reported_text


@dataclass
class Cell:
    text: str  # what is shown
    detail: str  # smaller text after it (interval, n)
    sort: str  # raw value for sorting ("" = empty, sorts last)


@dataclass
class Column:
    key: str
    title: str
    numeric: bool


def columns(summary: Summary) -> list[Column]:
    benchmarks = [
        b
        for b in TABLE1_BENCHMARKS
        if b != MICRO_AVG and (b in summary.suites() or summary.reported.find("table1", benchmark=b))
    ]
    benchmarks += [s for s in summary.suites() if s not in benchmarks]
    cols = [Column("model", "Model", False), Column("system", "System", False), Column("source", "Source", False)]
    cols += [Column(b, label(b), True) for b in benchmarks]
    cols += [
        Column(MICRO_AVG, label(MICRO_AVG), True),
        Column("tokens", "Mean response tokens", True),
        Column("tps", "Median tok/s per request", True),
        Column("protocol", "Protocol", False),
    ]
    return cols


def rows(summary: Summary) -> list[dict[str, Cell]]:
    cells = Cells(summary)
    cols = columns(summary)
    out: list[dict[str, Cell]] = []
    rep = summary.reported
    for system in ABLATION_SYSTEMS:  # the paper's K2-Think rows (Table 2 + Table 1's other benchmarks)
        row: dict[str, Cell] = {
            "model": Cell(PAPER_MODEL, "", PAPER_MODEL),
            "system": Cell(system, "", system),
            "source": Cell("paper", "", "paper"),
        }
        for col in cols[3:]:
            group = "table1" if system == "k2_full" else "table2"
            cell = rep.one(group, model=PAPER_MODEL, system=system, benchmark=col.key) if col.numeric else None
            row[col.key] = Cell(reported_text(cell), "", f"{cell.value / 100:.6f}") if cell else Cell("—", "", "")
        row["protocol"] = Cell("paper protocol", "", "paper protocol")
        out.append(row)
    for model in summary.models():
        for system in summary.systems_of(model):
            row = {
                "model": Cell(model, "", model),
                "system": Cell(system, "", system),
                "source": Cell("ours", "", "ours"),
            }
            mismatches: set[str] = set()
            for col in cols[3:-3]:
                found = cells.get(model, system, col.key)
                if found is None:
                    row[col.key] = Cell(NOT_RUN, "", "")
                    continue
                est, size, mism, _, _ = found
                mismatches.update(mism)
                row[col.key] = Cell(
                    fmt_pct(est.mean), f"[{fmt_pct(est.ci_low)}, {fmt_pct(est.ci_high)}] {size}", f"{est.mean:.6f}"
                )
            stats = [st for k, st in summary.stats.items() if k[:2] == (model, system)]
            tokens = [st.response_tokens.mean for st in stats if st.response_tokens is not None]
            tps = [c.tokens_per_second for st in stats for c in st.run.solver_calls() if c.tokens_per_second]
            mean_tokens = float(np.mean(tokens)) if tokens else None
            median_tps = float(np.median(tps)) if tps else None
            row["tokens"] = Cell(
                fmt_num(mean_tokens), f"over {len(tokens)} suites", "" if mean_tokens is None else f"{mean_tokens:.6f}"
            )
            row["tps"] = Cell(
                fmt_num(median_tps, 2), f"n={len(tps)}", "" if median_tps is None else f"{median_tps:.6f}"
            )
            text = "; ".join(sorted(mismatches)) or "paper protocol"
            row["protocol"] = Cell(text, "", text)
            out.append(row)
    return out


def to_markdown(summary: Summary) -> str:
    cols = columns(summary)
    lines = [f"<!-- {GENERATED} -->", "", "# k2bench leaderboard", ""]
    lines.append(
        "Accuracy in % (avg@k) with the 95% interval (problem-clustered) and (problems×epochs). Paper rows: K2-Think "
        "as reported (Tables 1 and 2; * secondary source). A sortable version: leaderboard.html."
    )
    lines.append("")
    lines.append("| " + " | ".join(c.title for c in cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for row in rows(summary):
        texts = [
            (row[c.key].text + (f" {row[c.key].detail}" if row[c.key].detail else "")).replace("|", "\\|") for c in cols
        ]
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
td.num { text-align: right; }
td small { color: #666; display: block; }
td.empty { color: #aaa; }
tr.paper td { background: #fbf7e9; }
footer { margin-top: 1em; font-size: 12px; color: #666; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById("leaderboard");
  var body = table.tBodies[0];
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


def to_html(summary: Summary) -> str:
    cols = columns(summary)
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        f"<!-- {e(GENERATED)} -->",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="generator" content="k2bench analysis (python -m analysis)">',
        "<title>k2bench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>k2bench leaderboard</h1>",
        "<p>Accuracy in % (avg@k) with the 95% interval (problem-clustered) and (problems&times;epochs). "
        "Paper rows: K2-Think as reported (* secondary source). Click a header to sort.</p>",
        '<table id="leaderboard" class="sortable"><thead><tr>',
    ]
    out += [
        f'<th data-key="{e(c.key)}" data-type="{"number" if c.numeric else "text"}">{e(c.title)}</th>' for c in cols
    ]
    out.append("</tr></thead><tbody>")
    for row in rows(summary):
        source = row["source"].text
        out.append(f'<tr class="{e(source)}">')
        for c in cols:
            cell = row[c.key]
            detail = f"<small>{e(cell.detail)}</small>" if cell.detail else ""
            css = ' class="num"' if c.numeric else ""
            if c.numeric and not cell.sort:
                css = ' class="num empty"'
            out.append(f'<td{css} data-sort="{e(cell.sort)}">{e(cell.text)}{detail}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append(f"<footer>{e(GENERATED)}. Statistics: analysis/stats.py; per-run details: tables/runs.md.</footer>")
    out.append(f"<script>{SCRIPT}</script>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(summary: Summary, results_dir: Path) -> list[Path]:
    md, page = results_dir / "leaderboard.md", results_dir / "leaderboard.html"
    write_text(md, to_markdown(summary))
    write_text(page, to_html(summary))
    return [md, page]
