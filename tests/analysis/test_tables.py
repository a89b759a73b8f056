"""Table logic on hand-built runs whose answers are known: the reproduced mark, "not run" cells, protocol
flags, run selection, the pooled micro-average and paired deltas. The Run objects are data, built the way
analysis.load builds them from a log; no model or eval is involved (those are in test_reproduce.py).

    pytest tests/analysis/test_tables.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import leaderboard, tables
from analysis.load import Call, Run, SampleResult, load_reported, select_runs
from analysis.render import GENERATED, to_csv, to_latex, to_markdown
from analysis.summary import Summary, summarize_runs

REPO = Path(__file__).resolve().parents[2]
PROTOCOL = {"temperature": 1.0, "top_p": 0.95, "max_tokens": 65536, "stop_seqs": ["</answer>"]}


def make_run(
    model,
    system,
    suite,
    correct_by_problem,
    *,
    epochs=1,
    max_tokens=65536,
    effective=None,
    tokens=100,
    status="success",
    version="1-A",
    created="2026-01-01",
    path=None,
    temperature=1.0,
):
    samples = []
    for pid, per_epoch in sorted(correct_by_problem.items()):
        for epoch in range(1, epochs + 1):
            ok = per_epoch[epoch - 1] if isinstance(per_epoch, list) else per_epoch
            call = Call("solver", model, tokens, tokens + 50, 2.0, temperature, 0.95, max_tokens, effective)
            samples.append(
                SampleResult(
                    pid, epoch, float(ok), "correct" if ok else "incorrect", tokens, tokens, 3.0, "stop", (call,)
                )
            )
    return Run(
        path=path or f"logs/committed/{model}/{system}/{suite}-{created}.eval",
        eval_id=f"{model}-{system}-{suite}-{created}",
        created=created,
        status=status,
        task=suite,
        suite=suite,
        suite_version=version,
        model=model,
        model_spec=f"test/{model}",
        system=system,
        protocol="k2think-2509.07604",
        protocol_generate=dict(PROTOCOL),
        protocol_epochs=16,
        epochs=epochs,
        limit=None,
        dataset_problems=len(correct_by_problem),
        samples=samples,
    )


def summary_of(runs) -> Summary:
    return summarize_runs(REPO / "results", load_reported(REPO / "results" / "reported.yaml"), list(runs))


def problems(n, n_correct, prefix="p"):
    return {f"{prefix}{i:03d}": i < n_correct for i in range(n)}


def test_reproduced_mark_when_paper_value_inside_interval():
    # 27/30 correct = 90.0%, interval roughly [79, 100]: contains the paper's 90.83 -> ✓
    good = make_run("k2-think", "k2_full", "aime2024", problems(30, 27))
    # 10/30 = 33.3%: far from 81.24 -> ✗
    bad = make_run("k2-think", "k2_full", "aime2025", problems(30, 10))
    t1 = tables.table1(summary_of([good, bad]))
    row = next(r for r in t1.rows if r[0] == "k2-think · k2_full (ours)")
    assert row[1].startswith("90.0 [") and row[1].endswith("(30×1) ✓")
    assert row[2].endswith("✗")
    assert row[3] == tables.NOT_RUN  # HMMT not run
    rec = next(r for r in t1.records if r["source"] == "ours" and r["benchmark"] == "aime2024")
    assert rec["paper_in_ci"] is True and rec["reported_pct"] == 90.83 and rec["n_problems"] == 30


def test_other_models_get_no_reproduced_mark():
    run = make_run("smollm2-135m-instruct", "k2_full", "aime2024", problems(30, 27))
    t1 = tables.table1(summary_of([run]))
    row = next(r for r in t1.rows if r[0].startswith("smollm2"))
    assert "✓" not in row[1] and "✗" not in row[1]
    # the paper's model row stays, with every cell "not run"
    paper_row = next(r for r in t1.rows if r[0] == "k2-think · k2_full (ours)")
    assert set(paper_row[1:-1]) == {tables.NOT_RUN}


def test_protocol_mismatch_flags():
    ok = make_run("m", "plain", "aime2024", problems(5, 1), epochs=16)
    assert ok.protocol_mismatches() == []
    capped = make_run("m", "plain", "aime2024", problems(5, 1), epochs=2, effective=256, temperature=0.6)
    assert capped.protocol_mismatches() == ["temperature 0.6≠1", "max_tokens 256≠65536", "epochs 2≠16"]
    capped.protocol_generate = {}
    assert capped.protocol_mismatches() == ["no protocol recorded in the log"]
    ok.test_source = "statement_samples"  # LiveCodeBench without the hub's hidden tests
    assert ok.protocol_mismatches() == ["tests: statement_samples"]


def test_select_runs_prefers_complete_then_latest_and_skips_failures():
    small = make_run("m", "plain", "aime2024", problems(5, 1), created="2026-01-03")
    full = make_run("m", "plain", "aime2024", problems(30, 1), created="2026-01-01")
    failed = make_run("m", "plain", "aime2024", problems(30, 30), status="error", created="2026-01-09")
    newer = make_run("m", "plain", "aime2025", problems(30, 2), created="2026-01-02")
    older = make_run("m", "plain", "aime2025", problems(30, 9), created="2026-01-01")
    selected, used = select_runs([small, full, failed, newer, older])
    assert selected[("m", "plain", "aime2024")] is full
    assert selected[("m", "plain", "aime2025")] is newer
    assert used == {full.path, newer.path}


def test_micro_average_pools_problems_with_paper_weights():
    runs = [
        make_run("m", "plain", "aime2024", problems(30, 30, "a")),
        make_run("m", "plain", "aime2025", problems(30, 0, "b")),
        make_run("m", "plain", "hmmt_feb2025", problems(30, 0, "c")),
        make_run("m", "plain", "omni_math_hard", problems(173, 173, "d")),
    ]
    summary = summary_of(runs)
    micro = summary.micro[("m", "plain")]
    assert micro.counts == {"aime2024": 30, "aime2025": 30, "hmmt_feb2025": 30, "omni_math_hard": 173}
    assert micro.estimate.mean == pytest.approx(203 / 263)
    assert micro.estimate.n_problems == 263
    # missing one benchmark: no micro-average
    assert summary_of(runs[:3]).micro == {}


def test_deltas_table_uses_the_paired_comparison():
    base = make_run("m", "plain", "aime2024", problems(30, 3))
    plan = make_run("m", "plan", "aime2024", problems(30, 8))  # 5 more problems solved, none lost
    summary = summary_of([base, plan])
    t = tables.table2_deltas(summary)
    rec = next(r for r in t.records if r["model"] == "m" and r["system"] == "plan" and r["benchmark"] == "aime2024")
    assert rec["delta_pp"] == pytest.approx(100 * 5 / 30)
    assert rec["p_value"] == pytest.approx(2 / 2**5)
    assert rec["n_paired"] == 30 and rec["p_method"] == "exact"
    assert rec["paper_delta_pp"] == pytest.approx(-1.05)  # paper: + Plan only on AIME 2024 (85.21 - 86.26)
    assert rec["paper_delta_in_ci"] is None  # not the paper's model: no verdict


def test_renderers_mark_generated_and_escape():
    run = make_run("m_x", "plain", "aime2024", problems(30, 3))
    summary = summary_of([run])
    for table in tables.all_tables(summary):
        md, csv_text, tex = to_markdown(table), to_csv(table), to_latex(table)
        assert md.startswith(f"<!-- {GENERATED} -->")
        assert csv_text.startswith(f"# {GENERATED}\n")
        assert tex.startswith(f"% {GENERATED}\n")
        assert "m\\_x" in tex or "m_x" not in md  # underscores escaped in LaTeX
        assert "≠" not in tex and "✓" not in tex
    page = leaderboard.to_html(summary)
    assert GENERATED.replace("`", "&#x27;") in page or "generated by" in page
    assert "<script" in page and "http://" not in page and "https://" not in page  # no external assets


def test_identity_from_metadata_not_file_names():
    from analysis.load import canonical_model_id, system_id

    # systems/run.py: system_id + the system's config under "system"; model config id under "model_id"
    assert system_id({"system_id": "k2_full", "system": {"plan": {}, "best_of_n": {"n": 3}}}) == "k2_full"
    assert system_id({"system": {"plan": None, "best_of_n": None, "serving": None}}) == "plain"
    assert system_id({"suite": "aime2024"}) == "plain"  # a plain `inspect eval`
    assert canonical_model_id("k2bench/smollm2-135m-instruct", {}, {"model_id": "smollm2"}) == "smollm2"
    assert canonical_model_id("k2bench/smollm2-135m-instruct", {}, {}) == "smollm2-135m-instruct"
    assert canonical_model_id("vllm/LLM360/K2-Think", {}, {}) == "k2-think"
    assert canonical_model_id("k2bench/local", {"model_path": "training/out/sft"}, {}) == "local:sft"


def test_speculative_table_pairs_outputs_and_reads_serving_metrics():
    from dataclasses import replace

    base = make_run("m", "plain", "aime2024", problems(6, 2), temperature=0.0)
    over = make_run("m", "speculative", "aime2024", problems(6, 1), temperature=0.0)
    # 4 of 6 graded responses identical, 2 differ (one of them loses a correct answer)
    base.samples = [replace(s, response_sha=f"h{i}") for i, s in enumerate(base.samples)]
    over.samples = [replace(s, response_sha=f"h{i}" if i < 4 else f"x{i}") for i, s in enumerate(over.samples)]
    base.serving_metrics = {"overlay": None, "generation_tokens_per_s": 100.0, "acceptance_rate": None}
    over.serving_metrics = {
        "overlay": {"speculative_config": {"method": "ngram"}},
        "generation_tokens_per_s": 150.0,
        "acceptance_rate": 0.25,
    }
    plan_only = make_run("m", "plan", "aime2024", problems(6, 2))  # no overlay: not a speculative row
    t = tables.speculative(summary_of([base, over, plan_only]))
    assert [r[0] for r in t.rows] == [tables.row_label("m", "speculative")]
    total = next(r for r in t.records if r["scope"] == "all")
    assert total["paired_samples"] == 6 and total["identical_responses"] == 4
    assert total["accuracy_delta"] == pytest.approx(-1 / 6)
    assert total["acceptance_rate"] == 0.25
    assert total["server_generation_tokens_per_s_plain"] == 100.0
    assert total["server_generation_tokens_per_s_overlay"] == 150.0
    assert total["temperatures"] == [0.0]
    assert "4/6" in t.rows[0] and "25.0%" in t.rows[0]


def test_speculative_table_says_when_nothing_ran():
    t = tables.speculative(summary_of([make_run("m", "plain", "aime2024", problems(3, 1))]))
    assert t.rows == [] and "No run with a speculative overlay" in t.notes[0]
