"""Table logic on hand-built runs whose answers are known: the reproduction verdict, the different-problem-set
marker, "not run" cells, protocol flags, protocol-aware run selection, the per-problem micro-average and its
partial label, paired deltas, degenerate system cells and the leaderboard's layout of them. The Run objects are data, built the way
analysis.load builds them from a log; no model or eval is involved (those are in test_reproduce.py).

    pytest tests/analysis/test_tables.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import catalogue, leaderboard, runs, speculative, tables
from analysis.health import SampleHealth
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
    dataset_problems=None,
    health=None,
    test_source=None,
    window=None,
):
    samples = []
    for pid, per_epoch in sorted(correct_by_problem.items()):
        for epoch in range(1, epochs + 1):
            ok = per_epoch[epoch - 1] if isinstance(per_epoch, list) else per_epoch
            call = Call("solver", model, tokens, tokens + 50, 2.0, temperature, 0.95, max_tokens, effective)
            samples.append(
                SampleResult(
                    pid,
                    epoch,
                    float(ok),
                    "correct" if ok else "incorrect",
                    tokens,
                    tokens,
                    3.0,
                    "stop",
                    (call,),
                    health=health or SampleHealth(),
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
        dataset_problems=dataset_problems or len(correct_by_problem),
        samples=samples,
        test_source=test_source,
        window=window,
    )


def summary_of(runs) -> Summary:
    return summarize_runs(REPO / "results", load_reported(REPO / "results" / "reported.yaml"), list(runs))


def problems(n, n_correct, prefix="p"):
    return {f"{prefix}{i:03d}": i < n_correct for i in range(n)}


def epochs_of(successes, epochs=16, prefix="p"):
    """{problem: [epoch outcomes]} with the given successes per problem, for make_run."""
    return {f"{prefix}{i:03d}": [True] * s + [False] * (epochs - s) for i, s in enumerate(successes)}


# 30 problems x 16 epochs at the paper's AIME 2024 level (90.83%): 436/480 = 90.83%
AIME24_LIKE = [16] * 22 + [15, 15, 14, 14, 13, 8, 3, 2]


def test_reproduction_verdicts_on_the_same_problems():
    assert sum(AIME24_LIKE) == 436
    good = make_run("k2-think", "k2_full", "aime2024", epochs_of(AIME24_LIKE), epochs=16)
    # AIME 2025 at 76.2%, five points under the paper's 81.24
    low = [16] * 17 + [15, 14, 13, 12, 11, 10, 8, 6, 3, 2, 0, 0, 0]
    bad = make_run("k2-think", "k2_full", "aime2025", epochs_of(low), epochs=16)
    t1 = tables.table1(summary_of([good, bad]))
    row = next(r for r in t1.rows if r[0] == "k2-think · k2_full (ours)")
    assert row[1].startswith("90.8 [") and "(30×16) ✓ Δ+0.0±" in row[1]
    assert "↓ Δ-5.0±" in row[2]
    assert row[3] == catalogue.NOT_RUN  # HMMT not run
    rec = next(r for r in t1.records if r["source"] == "ours" and r["benchmark"] == "aime2024")
    assert rec["verdict"] == "reproduced" and rec["reported_pct"] == 90.83 and rec["n_problems"] == 30
    assert rec["verdict_tolerance_pp"] == pytest.approx(5.0) and 0 < rec["verdict_half_width_pp"] < 5
    rec = next(r for r in t1.records if r["source"] == "ours" and r["benchmark"] == "aime2025")
    assert rec["verdict"] == "below" and rec["verdict_delta_pp"] == pytest.approx(100 * sum(low) / 480 - 81.24)


def test_no_verdict_on_a_subset_or_a_different_problem_set():
    subset = make_run("k2-think", "k2_full", "aime2024", epochs_of(AIME24_LIKE[:10]), epochs=16, dataset_problems=30)
    omni = make_run("k2-think", "k2_full", "omni_math_hard", epochs_of([10] * 173), epochs=16)
    t1 = tables.table1(summary_of([subset, omni]))
    recs = {r["benchmark"]: r for r in t1.records if r["source"] == "ours" and r["status"] == "run"}
    assert recs["aime2024"]["verdict"] is None and recs["aime2024"]["no_verdict_because"] == "10/30 problems"
    assert recs["omni_math_hard"]["verdict"] is None and recs["omni_math_hard"]["problem_set"] == "different"
    row = next(r for r in t1.rows if r[0] == "k2-think · k2_full (ours)")
    assert row[4].endswith("(173×16) †")
    assert not any(m in row[1] + row[4] for m in ("✓", "↓", "↑", "?"))


def test_different_problem_set_marker_in_table1_table2_and_leaderboard():
    runs = [
        make_run("m", "plain", "hle", problems(20, 2)),
        make_run("m", "plain", "omni_math_hard", problems(173, 20, "o")),
        make_run("m", "plain", "livecodebench_v5", problems(10, 1, "l"), test_source="statement_samples"),
        make_run("m", "plain", "gpqa_diamond", problems(198, 100, "g")),
    ]
    summary = summary_of(runs)
    t1 = tables.table1(summary)
    row = next(r for r in t1.rows if r[0].startswith("m · plain"))
    by_col = dict(zip(t1.headers, row, strict=True))
    for name in ("HLE", "Omni-MATH-HARD", "LiveCodeBench v5"):
        assert by_col[name].endswith(catalogue.DIFFERENT_SET_MARK), name
    assert catalogue.DIFFERENT_SET_MARK not in by_col["GPQA-Diamond"]
    assert any(n.startswith("† HLE:") for n in t1.notes) and any(n.startswith("† LiveCodeBench") for n in t1.notes)
    t2 = tables.table2(summary)
    row2 = next(r for r in t2.rows if r[0].startswith("m plain"))
    assert row2[t2.headers.index("Omni-MATH-HARD")].endswith(catalogue.DIFFERENT_SET_MARK)
    page = leaderboard.to_html(summary)
    assert page.count(f" {catalogue.DIFFERENT_SET_MARK}<small>") == 3 and "text-only subset and judge" in page
    md_rows = [line for line in leaderboard.to_markdown(summary).splitlines() if line.startswith("| m |")]
    assert sum(line.count(f" {catalogue.DIFFERENT_SET_MARK} ") for line in md_rows) == 3
    # LiveCodeBench on the hub's full tests in the paper's window (July 2024 on) is the paper's problem set
    full = make_run("m", "plain", "livecodebench_v5", problems(10, 1, "l"), test_source="full",
                    window=("2024-07-01", "2025-02-01"))  # fmt: skip
    assert summary_of([full]).get("m", "plain", "livecodebench_v5").problem_set is None
    other_window = make_run("m", "plain", "livecodebench_v5", problems(10, 1, "l"), test_source="full",
                            window=("2024-08-01", "2025-02-01"))  # fmt: skip
    assert "July 2024" in summary_of([other_window]).get("m", "plain", "livecodebench_v5").problem_set


def test_other_models_get_no_verdict():
    run = make_run("smollm2-135m-instruct", "k2_full", "aime2024", epochs_of(AIME24_LIKE), epochs=16)
    t1 = tables.table1(summary_of([run]))
    row = next(r for r in t1.rows if r[0].startswith("smollm2"))
    assert not any(m in row[1] for m in ("✓", "↓", "↑", "?"))
    assert "pipeline check" in row[0]
    # the paper's model row stays, with every cell "not run"
    paper_row = next(r for r in t1.rows if r[0] == "k2-think · k2_full (ours)")
    assert set(paper_row[1:-1]) == {catalogue.NOT_RUN}


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
    small = make_run("m", "plain", "aime2024", problems(5, 1), created="2026-01-03", dataset_problems=30)
    full = make_run("m", "plain", "aime2024", problems(30, 1), created="2026-01-01")
    failed = make_run("m", "plain", "aime2024", problems(30, 30), status="error", created="2026-01-09")
    newer = make_run("m", "plain", "aime2025", problems(30, 2), created="2026-01-02")
    older = make_run("m", "plain", "aime2025", problems(30, 9), created="2026-01-01")
    selected, used = select_runs([small, full, failed, newer, older])
    assert selected[("m", "plain", "aime2024")] is full
    assert selected[("m", "plain", "aime2025")] is newer
    assert used == {full.path, newer.path}


def test_select_runs_paper_protocol_wins_over_more_samples():
    paper = make_run("m", "plain", "aime2024", problems(30, 20), epochs=16, created="2026-01-01")
    capped = make_run("m", "plain", "aime2024", problems(30, 25), epochs=32, effective=256, created="2026-01-05")
    assert len(capped.samples) > len(paper.samples) and capped.protocol_mismatches()
    selected, used = select_runs([capped, paper])
    assert selected[("m", "plain", "aime2024")] is paper
    # the other run stays visible in the runs table, marked unused
    summary = summary_of([capped, paper])
    table = runs.runs_table(summary)
    assert [(r["log"], r["used"]) for r in table.records] == [(paper.path, True), (capped.path, False)]


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
    assert not micro.partial
    assert micro.estimate.mean == pytest.approx(203 / 263)
    assert micro.estimate.n_problems == 263
    # full weights, but Omni-MATH-HARD is k2bench's proxy: labelled, and never a paper-comparable average
    assert micro.label() == "different problem set: Omni-MATH-HARD"
    # missing one benchmark: no micro-average
    assert summary_of(runs[:3]).micro == {}


def test_micro_average_weighs_problems_not_samples_and_labels_partial():
    runs = [
        make_run("m", "plain", "aime2024", {f"a{i}": [True, True, True, True] for i in range(10)}, epochs=4,
                 dataset_problems=30),
        make_run("m", "plain", "aime2025", problems(10, 0, "b"), dataset_problems=30),
        make_run("m", "plain", "hmmt_feb2025", problems(10, 0, "c"), dataset_problems=30),
        make_run("m", "plain", "omni_math_hard", problems(10, 0, "d"), dataset_problems=173),
    ]  # fmt: skip
    summary = summary_of(runs)
    micro = summary.micro[("m", "plain")]
    # per problem: 10 solved of 40 problems = 25%, not 40 of 70 samples (57%)
    assert micro.estimate.mean == pytest.approx(0.25)
    assert micro.partial and micro.weights_text() == "10/10/10/10"
    assert micro.label().startswith("partial: weights 10/10/10/10 problems (paper 30/30/30/173)")
    t1 = tables.table1(summary)
    row = next(r for r in t1.rows if r[0].startswith("m · plain"))
    assert "partial weights 10/10/10/10" in row[t1.headers.index("Math micro-avg")]
    rec = next(r for r in t1.records if r["benchmark"] == "math_micro_avg" and r["model"] == "m")
    assert rec["partial"] == "partial: weights 10/10/10/10" and rec["verdict"] is None


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
    assert rec["problem_set"] == "paper"


DEGENERATE = SampleHealth(triage_calls=1, triage_parsed=0, plan_branches=1, plans_inserted=0, source="derived")
HEALTHY = SampleHealth(triage_calls=1, triage_parsed=1, plan_branches=1, plans_inserted=1, source="metadata")


def test_degenerate_cells_are_marked_and_left_out_of_deltas_and_rankings():
    base = make_run("m", "plain", "aime2024", problems(30, 3))
    broken = make_run("m", "plan", "aime2024", problems(30, 8), health=DEGENERATE)
    working = make_run("m", "best_of_n", "aime2024", problems(30, 8),
                       health=SampleHealth(judge_calls=2, judge_parsed=2, judge_decisive=1, winner=1, n=3))  # fmt: skip
    summary = summary_of([base, broken, working])
    assert summary.get("m", "plan", "aime2024").degenerate
    assert not summary.get("m", "best_of_n", "aime2024").degenerate
    assert summary.delta("m", "plan", "aime2024") is None and summary.delta("m", "best_of_n", "aime2024")
    deltas = tables.table2_deltas(summary)
    rec = next(r for r in deltas.records if r["model"] == "m" and r["system"] == "plan" and r["benchmark"] == "aime2024")
    assert rec["status"] == "degenerate" and "planner failed 30/30 calls" in rec["excluded_because"]
    t2 = tables.table2(summary)
    plan_row = next(r for r in t2.rows if r[0].startswith("m + plan"))
    assert plan_row[0].endswith("⚠ degenerate") and plan_row[1].endswith(catalogue.DEGENERATE_MARK)
    assert plan_row[t2.headers.index("Triage parsed")] == "0/30 (0%)"
    assert plan_row[t2.headers.index("Plans inserted")] == "0/30"
    bo3_row = next(r for r in t2.rows if r[0].startswith("m + best-of-3"))
    assert bo3_row[t2.headers.index("Judge parsed")] == "60/60 (100%)"
    assert bo3_row[t2.headers.index("Decisive judgements")] == "30/60"
    assert bo3_row[t2.headers.index("Winner position")] == "#1:100%"
    # leaderboard: the degenerate row sits apart, in a second tbody, and is never ranked
    page = leaderboard.to_html(summary)
    ranked, apart = page.split('<tbody class="apart">')
    ours_ranked = [r for r in ranked.split("<tr ")[1:] if r.startswith('class="ours')]
    assert [r.split('data-sort="')[2].split('"')[0] for r in ours_ranked] == ["plain", "best_of_n"]
    assert 'class="ours degenerate"' in apart and 'data-sort="plan">plan</td>' in apart
    # one bad call in ten is tolerated (10%), two are not
    assert not _health_run(9, 10).degenerate and _health_run(8, 10).degenerate


def _health_run(parsed, calls):
    from analysis.health import run_health

    samples = [SampleHealth(judge_calls=1, judge_parsed=int(i < parsed), source="derived") for i in range(calls)]
    return run_health(samples)


def test_health_from_metadata_contract_and_from_old_logs():
    from analysis.health import sample_health

    recorded = {"k2bench_health": {"triage_calls": 3, "triage_parsed": 3, "plan_branches": 3, "plans_inserted": 2,
                                   "judge_calls": 2, "judge_parsed": 1, "judge_decisive": 1, "winner": 2, "n": 3}}  # fmt: skip
    h = sample_health(recorded, {})
    assert (h.triage_parsed, h.plans_inserted, h.judge_parsed, h.winner, h.source) == (3, 2, 1, 2, "metadata")
    store = {
        "Accounting:calls": [
            {"purpose": "triage", "status": "triage_json_extracted"},
            {"purpose": "triage", "status": "triage_error"},
            {"purpose": "triage", "status": "ok", "parsed": False},  # the new field wins over the status
            {"purpose": "candidate", "status": "ok"},
            {"purpose": "judge", "status": "judge_json_extracted"},
            {"purpose": "judge", "status": "judge_error"},
        ],
        "Plans:records": [{"ideas_inserted": True}, {"ideas_inserted": False}, {"ideas_inserted": False}],
        "BestOfN:candidates": [{"branch": 0, "judged_text": "a"}, {"branch": 1, "judged_text": "a"},
                               {"branch": 2, "judged_text": "b"}],
        "BestOfN:comparisons": [{"best_so_far": 0, "challenger": 1, "status": "judge_json_extracted"},
                                {"best_so_far": 0, "challenger": 2, "status": "judge_error"}],
    }  # fmt: skip
    h = sample_health({"k2bench_best_of_n": {"n": 3, "winner": 0}}, store)
    assert (h.triage_calls, h.triage_parsed, h.plan_branches, h.plans_inserted) == (3, 1, 3, 1)
    assert (h.judge_calls, h.judge_parsed, h.judge_decisive, h.winner, h.n) == (2, 1, 0, 0, 3)
    assert sample_health({}, {"Accounting:calls": [{"purpose": "generate", "status": "ok"}]}).source == "none"


def test_pipeline_check_banner():
    run = make_run("smollm2-135m-instruct", "plain", "aime2024", problems(30, 0))
    summary = summary_of([run])
    page = leaderboard.to_html(summary)
    assert 'id="pipeline-banner"' in page and "not a model result" in page
    assert '<tr class="ours pipeline">' in page
    assert "> **Pipeline check, not a model result" in leaderboard.to_markdown(summary)
    assert 'id="pipeline-banner"' not in leaderboard.to_html(summary_of([make_run("m", "plain", "aime2024", problems(3, 1))]))


def test_renderers_mark_generated_and_escape():
    run = make_run("m_x", "plain", "aime2024", problems(30, 3))
    summary = summary_of([run])
    for table in tables.all_tables(summary):
        md, csv_text, tex = to_markdown(table), to_csv(table), to_latex(table)
        assert md.startswith(f"<!-- {GENERATED} -->")
        assert csv_text.startswith(f"# {GENERATED}\n")
        assert tex.startswith(f"% {GENERATED}\n")
        assert "m\\_x" in tex or "m_x" not in md  # underscores escaped in LaTeX
        assert "≠" not in tex and "✓" not in tex and "⚠" not in tex and "†" not in tex
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
    t = speculative.speculative(summary_of([base, over, plan_only]))
    assert [r[0] for r in t.rows] == [catalogue.row_label("m", "speculative")]
    total = next(r for r in t.records if r["scope"] == "all")
    assert total["paired_samples"] == 6 and total["identical_responses"] == 4
    assert total["accuracy_delta"] == pytest.approx(-1 / 6)
    assert total["acceptance_rate"] == 0.25
    assert total["server_generation_tokens_per_s_plain"] == 100.0
    assert total["server_generation_tokens_per_s_overlay"] == 150.0
    assert total["temperatures"] == [0.0]
    assert "4/6" in t.rows[0] and "25.0%" in t.rows[0]


def test_speculative_table_says_when_nothing_ran():
    t = speculative.speculative(summary_of([make_run("m", "plain", "aime2024", problems(3, 1))]))
    assert t.rows == [] and "No run with a speculative overlay" in t.notes[0]


def test_calls_come_from_the_records_when_they_carry_their_config():
    """New logs: CallRecords with their decoding config are read as they are (no matching against events);
    old logs (records without config) fall back to the model events (tests/analysis/test_trace.py reads them)."""
    from types import SimpleNamespace

    from analysis.load import _calls_of

    records = [
        {"index": 1, "role": "judge", "purpose": "judge", "model": "k2bench/m", "output_tokens": 40,
         "total_tokens": 400, "provider_time_s": 2.0, "generate": {"temperature": 0.0, "top_p": 1.0, "max_tokens": 512}},
        {"index": 0, "role": "solver", "purpose": "generate", "model": "k2bench/m", "output_tokens": 100,
         "total_tokens": 150, "provider_time_s": 4.0, "generate": {"temperature": 1.0, "top_p": 0.95, "max_tokens": 256,
                                                                   "max_tokens_effective": 256}},
    ]  # fmt: skip
    sample = SimpleNamespace(store={"Accounting:calls": records}, events=[])  # no events: records must suffice
    solver, judge = _calls_of(sample)
    assert (solver.role, solver.temperature, solver.max_tokens_effective, solver.tokens_per_second) == ("solver", 1.0, 256, 25.0)
    assert (judge.role, judge.temperature, judge.top_p, judge.max_tokens) == ("judge", 0.0, 1.0, 512)
    old = SimpleNamespace(store={"Accounting:calls": [{k: v for k, v in records[0].items() if k != "generate"}]}, events=[])
    assert _calls_of(old) == ()  # old records: the events are the source (none here), roles matched onto them


def test_rows_are_rendered_from_the_records():
    """Tables are built once from records: each of our Table 1 cells is the text of its CSV record."""
    from analysis.cells import cell_text

    runs_ = [make_run("m", "plain", "aime2024", epochs_of(AIME24_LIKE), epochs=16),
             make_run("m", "plain", "omni_math_hard", problems(173, 20, "o"))]  # fmt: skip
    t1 = tables.table1(summary_of(runs_))
    row = next(r for r in t1.rows if r[0].startswith("m · plain"))
    mine = [r for r in t1.records if r["model"] == "m"]
    assert row[1 : 1 + len(mine)] == [cell_text(r) for r in mine]
    assert all(not k.startswith("_") for k in to_csv(t1).splitlines()[1].split(","))


def test_analysis_rooms_import_without_circles():
    """analysis/ in rooms of one job: no import circle among its modules; the leaderboard and the plots take
    labels from the catalogue and cells, never from tables.py; no module of systems/ or training/ imports
    analysis (DESIGN.md: nothing imports analysis)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "analysis").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analysis"):
                imported |= {node.module} if node.module != "analysis" else {f"analysis.{a.name}" for a in node.names}
        graph[f"analysis.{path.stem}"] = imported - {f"analysis.{path.stem}"}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph.get(start, ()))

    circles = [m for m in graph if reaches(m, m)]
    assert not circles, f"import circle through {circles}"
    assert "analysis.tables" not in graph["analysis.leaderboard"] | graph["analysis.plots"]
    # one named exception: systems/report.py, the glue that prints analysis' own comparison table at the end of
    # `python -m systems.run` (issue 16: "the same code analysis uses"); it imports analysis lazily, after the run
    glue = {REPO / "systems" / "report.py"}
    for folder in ("systems", "training", "suites", "models"):
        for path in (REPO / folder).rglob("*.py"):
            if path not in glue:
                assert "from analysis" not in path.read_text(encoding="utf-8"), path
    runner = (REPO / "systems" / "run.py").read_text(encoding="utf-8")
    assert "import analysis" not in runner and "from analysis" not in runner
