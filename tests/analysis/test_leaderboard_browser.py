"""Open the committed results/leaderboard.html in headless Chromium, click headers, check the rows and the sort,
that degenerate system rows stay apart and unranked, that the pipeline-check banner shows, that the page fits
1,366 and 1,900 px wide windows without horizontal scrolling, and take a screenshot of the sorted page.

Chromium is Debian's `chromium` (scripts/install_chromium.sh installs it; this test runs that script when the
binary is missing, and fails if it cannot). A small script appended to a copy of the page clicks real headers
(the page's own click handlers sort) and writes what it saw into the DOM, which `--dump-dom` returns.
The screenshot lands in $K2BENCH_ARTIFACTS_DIR when set, else in pytest's tmp dir (the path is printed).

    pytest tests/analysis/test_leaderboard_browser.py -s
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "results" / "leaderboard.html"
RUNS_CSV = REPO / "results" / "tables" / "runs.csv"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
]
PAPER_ROWS = 4  # K2-Think as reported: plain, plan, best_of_n, k2_full
RESULT_ID = "k2bench-test-result"

PROBE = """
<script>
(function () {
  var table = document.getElementById("leaderboard");
  var heads = table.tHead.rows[0].cells;
  function column(i) { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[i].getAttribute("data-sort"); }); }
  function keys() { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[0].textContent + "|" + r.cells[1].textContent + "|" + r.cells[2].textContent; }); }
  var apart = table.tBodies.length > 1 ? table.tBodies[1].querySelectorAll("tr.degenerate").length : 0;
  var banner = document.getElementById("pipeline-banner");
  var out = {rows: table.tBodies[0].rows.length, apart: apart, initial: keys(),
             banner: banner ? banner.getBoundingClientRect().height > 0 && banner.textContent : "",
             headers: Array.prototype.map.call(heads, function (h) { return h.dataset.key; })};
  var n = NUMERIC_INDEX, t = TEXT_INDEX;
  heads[n].click(); out.first = column(n); out.first_dir = heads[n].getAttribute("aria-sort"); out.first_keys = keys();
  heads[n].click(); out.second = column(n); out.second_dir = heads[n].getAttribute("aria-sort");
  heads[t].click(); out.text = column(t); out.text_dir = heads[t].getAttribute("aria-sort");
  out.numeric_dir_after_text = heads[n].getAttribute("aria-sort");
  out.apart_after_sort = table.tBodies.length > 1 ? table.tBodies[1].querySelectorAll("tr.degenerate").length : 0;
  heads[n].click();  /* leave the page sorted by the numeric column for the screenshot */
  out.page_width = document.documentElement.scrollWidth; out.view_width = document.documentElement.clientWidth;
  out.table_right = table.getBoundingClientRect().right;
  var pre = document.createElement("pre"); pre.id = "RESULT_ID"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


class _Table(HTMLParser):
    """Header keys and per-row data-sort values of the static page (ranked rows, and the degenerate rows listed
    apart in a second tbody), for comparison with the browser."""

    def __init__(self):
        super().__init__()
        self.keys, self.rows, self.apart, self._body, self._target = [], [], [], 0, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "th" and self._body == 0:
            self.keys.append(a.get("data-key"))
        elif tag == "tbody":
            self._body += 1
        elif tag == "tr" and self._body:
            self._target = self.rows if self._body == 1 else self.apart
            if self._body > 1 and "degenerate" not in (a.get("class") or ""):
                self._target = None  # the section's heading row
            if self._target is not None:
                self._target.append([])
        elif tag == "td" and self._body and self._target is not None:
            self._target[-1].append(a.get("data-sort", ""))


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        subprocess.run([str(REPO / "scripts" / "install_chromium.sh")], check=True, timeout=900)
        path = shutil.which("chromium")
    assert path, "chromium not found after scripts/install_chromium.sh"
    return path


def _run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # a fresh --user-data-dir per launch
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def _numbers(values: list[str]) -> list[float]:
    return [float(v) for v in values if v != ""]


def _empties_last(values: list[str]) -> bool:
    seen_empty = False
    for v in values:
        if v == "":
            seen_empty = True
        elif seen_empty:
            return False
    return True


def test_leaderboard_sorts_in_chromium(chromium, tmp_path):
    static = _Table()
    static.feed(PAGE.read_text(encoding="utf-8"))
    with RUNS_CSV.open(encoding="utf-8") as f:
        runs = list(csv.DictReader(line for line in f if not line.startswith("#")))
    degenerate = {(r["model"], r["system"]) for r in runs if r["used"] == "yes" and r["degenerate"]}
    expected_rows = PAPER_ROWS + len({(r["model"], r["system"]) for r in runs}) - len(degenerate)
    assert len(static.rows) == expected_rows
    assert len(static.apart) == len(degenerate)

    # the numeric column with the most distinct values (ties make a weak test), and the Model column
    numeric = [i for i, k in enumerate(static.keys) if k not in ("model", "system", "source", "protocol")]
    numeric_index = max(numeric, key=lambda i: (len({r[i] for r in static.rows if r[i]}), -i))
    text_index = static.keys.index("model")
    assert len({r[numeric_index] for r in static.rows if r[numeric_index]}) >= 3

    probe = PROBE.replace("NUMERIC_INDEX", str(numeric_index)).replace("TEXT_INDEX", str(text_index))
    probe = probe.replace("RESULT_ID", RESULT_ID)
    page = tmp_path / "leaderboard_probe.html"
    page.write_text(PAGE.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")

    dom = _run(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout
    match = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', dom, flags=re.S)
    assert match, f"the probe wrote nothing; chromium printed: {dom[:500]}"
    seen = json.loads(html.unescape(match.group(1)))

    assert seen["rows"] == expected_rows
    assert seen["apart"] == seen["apart_after_sort"] == len(degenerate)  # sorting never pulls them in
    assert seen["headers"] == static.keys
    pipeline = any(r["pipeline_check"] == "yes" for r in runs)
    assert bool(seen["banner"]) == pipeline and (not pipeline or "not a model result" in seen["banner"])
    column = [r[numeric_index] for r in static.rows]
    assert seen["first_dir"] == "descending"
    assert _numbers(seen["first"]) == sorted(_numbers(column), reverse=True)
    assert _empties_last(seen["first"])
    assert sorted(seen["first_keys"]) == sorted(seen["initial"])  # same rows, reordered
    assert seen["second_dir"] == "ascending"
    assert _numbers(seen["second"]) == sorted(_numbers(column))
    assert _empties_last(seen["second"])
    assert seen["text_dir"] == "ascending"
    assert seen["text"] == sorted(seen["text"])
    assert seen["numeric_dir_after_text"] is None  # only the active header carries aria-sort

    for width in (1366, 1900):  # a laptop screen: no horizontal scrolling of the page
        dom = _run(chromium, tmp_path, f"--window-size={width},900", "--dump-dom", page.as_uri()).stdout
        fit = json.loads(html.unescape(re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', dom, flags=re.S).group(1)))
        assert fit["view_width"] >= width - 20, fit  # the window size took effect
        assert fit["page_width"] <= fit["view_width"], f"{width} px: page is {fit['page_width']} px wide"
        assert fit["table_right"] <= fit["view_width"], f"{width} px: table ends at {fit['table_right']} px"

    artifacts = Path(os.environ.get("K2BENCH_ARTIFACTS_DIR", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "leaderboard_sorted.png"
    _run(chromium, tmp_path, "--window-size=1366,900", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, "screenshot missing or blank"
    print(f"leaderboard screenshot: {shot}")
