"""The positive control's table re-derived from its committed logs, independently of analysis.load.

The logs (results/logs/committed/<model>/positive_control/) are read with inspect's own reader; per problem the
plain accuracy (mean over its epochs), the judge's pick and the equal-budget values of the same three candidates
are taken straight from the scores; each committed cell of results/tables/positive_control.csv must equal the
mean difference of those values, with the interval and p of suites/stats.py on them. Also: the run measures
what it says (T > 0, three differing candidates, the judge parsed >= 90% of its calls, >= 200 problems, no
errored sample), and the room says when nothing ran.

    pytest tests/analysis/test_positive_control.py
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest

from analysis import positive_control
from suites.stats import paired_comparison

REPO = Path(__file__).resolve().parents[2]
LOG_DIRS = sorted((REPO / "results" / "logs" / "committed").glob("*/positive_control"))
TABLE_CSV = REPO / "results" / "tables" / "positive_control.csv"
PARSED_JUDGE = {"ok", "judge_json_extracted"}
GRADING = "math_scorer"  # the held-out task's scorer (suites/_math_suite.py)


def read_logs() -> dict[tuple[str, str], object]:
    from inspect_ai.log import read_eval_log

    logs = {}
    for folder in LOG_DIRS:
        for path in sorted(folder.glob("*.eval")):
            log = read_eval_log(str(path))
            meta = log.eval.metadata or {}
            logs[(meta["model_id"], meta.get("system_id") or "plain")] = log
    return logs


def per_problem(log, key: str | None) -> dict[str, list[float]]:
    """{problem: [epoch values]}: the grading accuracy (key None) or an equal_budget_scorer value."""
    out: dict[str, list[float]] = defaultdict(list)
    for s in sorted(log.samples, key=lambda s: (str(s.id), s.epoch)):
        if key is None:
            value = s.scores[GRADING].value
            out[str(s.id)].append(float(value["accuracy"] if isinstance(value, dict) else value == "C"))
        else:
            out[str(s.id)].append(float(s.scores["equal_budget_scorer"].value[key]))
    return dict(out)


def table_rows() -> list[dict[str, str]]:
    lines = TABLE_CSV.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# generated")
    return list(csv.DictReader(lines[1:]))


def test_positive_control_logs_are_committed_and_measure_what_they_say():
    logs = read_logs()
    assert logs, "no positive-control logs under results/logs/committed/*/positive_control"
    models = {model for model, _ in logs}
    for model in models:
        plain, best = logs[(model, "plain")], logs[(model, "best_of_n")]
        for log in (plain, best):
            assert log.status == "success"
            assert not [s for s in log.samples if s.error is not None]
            assert (log.eval.metadata or {}).get("suite") in positive_control.POSITIVE_CONTROL_SUITES
        assert len({str(s.id) for s in best.samples}) >= 200
        assert {str(s.id) for s in best.samples} == {str(s.id) for s in plain.samples}
        judge_calls = judge_parsed = differing = 0
        lost = sorted(str(s.id) for s in best.samples if "Accounting:calls" not in s.store)
        assert not lost, f"{len(lost)} best-of-N samples lost their call records (store), e.g. {lost[:3]}"
        for s in best.samples:
            calls = s.store["Accounting:calls"]
            candidates = [c for c in calls if c["purpose"] == "candidate"]
            assert len(candidates) == 3 and all(c["generate"]["temperature"] > 0 for c in candidates)
            judged = [c for c in calls if c["purpose"] == "judge"]
            judge_calls += len(judged)
            judge_parsed += sum(c["status"] in PARSED_JUDGE for c in judged)
            texts = {c["judged_text"] for c in s.store["BestOfN:candidates"]}
            differing += len(texts) > 1
        assert judge_calls == 2 * len(best.samples) and judge_parsed >= 0.9 * judge_calls
        assert differing >= 0.5 * len(best.samples), "sampling at T > 0 must give differing candidates"


def test_positive_control_cells_rederived_from_the_logs():
    logs = read_logs()
    rows = table_rows()
    assert rows, "results/tables/positive_control.csv has no cell: regenerate with `python -m analysis`"
    seen = set()
    for row in rows:
        plain, best = logs[(row["model"], "plain")], logs[(row["model"], row["system"])]
        measures = {}
        for side in ("a", "b"):
            key = row[side]
            if key == positive_control.PLAIN:
                measures[side] = per_problem(plain, None)
            elif key == positive_control.PICK:
                measures[side] = per_problem(best, None)
            else:
                measures[side] = per_problem(best, key)
        shared = sorted(set(measures["a"]) & set(measures["b"]))
        mean_a = sum(sum(measures["a"][p]) / len(measures["a"][p]) for p in shared) / len(shared)
        mean_b = sum(sum(measures["b"][p]) / len(measures["b"][p]) for p in shared) / len(shared)
        assert int(row["n_problems"]) == len(shared) >= 200
        assert float(row["accuracy_a"]) == pytest.approx(mean_a, abs=1e-6)
        assert float(row["accuracy_b"]) == pytest.approx(mean_b, abs=1e-6)
        assert float(row["delta"]) == pytest.approx(mean_b - mean_a, abs=1e-6)
        expected = paired_comparison(measures["a"], measures["b"])
        assert float(row["ci_low"]) == pytest.approx(expected.ci_low, abs=1e-6)
        assert float(row["ci_high"]) == pytest.approx(expected.ci_high, abs=1e-6)
        assert float(row["p_value"]) == pytest.approx(expected.p_value, abs=1e-6)
        assert float(row["ci_low"]) <= float(row["delta"]) <= float(row["ci_high"])
        seen.add((row["b"], row["a"]))
    # every comparison the issue asks for is there, maj@3 vs plain with a real interval
    assert set(positive_control.COMPARISONS) <= seen
    maj = next(r for r in rows if (r["b"], r["a"]) == ("maj_at_n", "plain"))
    assert math.isfinite(float(maj["ci_low"])) and float(maj["ci_low"]) < float(maj["ci_high"])


def test_positive_control_plain_accuracy_in_the_informative_range():
    """The control is informative where the model is right 20-60% of the time (issue 13); a run outside that range
    must say so in the table's notes, and it may never sit at the floor or the ceiling (nothing to improve or
    nothing to lose: no comparison could show an effect)."""
    low, high = positive_control.INFORMATIVE_RANGE
    md = TABLE_CSV.with_suffix(".md").read_text(encoding="utf-8")
    for row in table_rows():
        if row["a"] == positive_control.PLAIN:
            accuracy = float(row["accuracy_a"])
            assert 0.05 <= accuracy <= 0.95, row
            if not low <= accuracy <= high:
                assert f"plain accuracy {100 * accuracy:.1f}% is outside" in md, row


def test_positive_control_says_when_nothing_ran():
    from analysis.load import load_reported
    from analysis.summary import summarize_runs

    summary = summarize_runs(REPO / "results", load_reported(REPO / "results" / "reported.yaml"), [])
    table = positive_control.positive_control(summary)
    assert not table.rows and "No positive-control run" in table.notes[0]
