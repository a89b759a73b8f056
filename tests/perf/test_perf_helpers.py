"""Light correctness tests of the benchmark helpers (no timings): statistics and tables, the synthetic grading
workload, prompt identity of the lm-eval tasks, ratio/comparison arithmetic, FLOP counting, speculative-decoding
counters and the GPU report's bandwidth bound.

    pytest tests/perf -q
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_data_dir() -> str:
    data = os.environ.get("K2BENCH_DATA_DIR")
    if not data:
        pytest.fail("K2BENCH_DATA_DIR is not set: point it at the benchmark mirror (e.g. ../shared/data)")
    return data


def test_summarize_and_format():
    from benchmarks._perf import fmt_stat, summarize

    s = summarize([3.0, 1.0, 2.0, 10.0])
    assert s == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    assert fmt_stat(s, 1) == "2.5 (1.0-10.0)"
    with pytest.raises(ValueError):
        summarize([])


def test_md_table_checks_width_and_escapes_pipes():
    from benchmarks._perf import md_table

    table = md_table(["a", "b"], [[1, "x|y"]])
    assert table.splitlines()[2] == "| 1 | x\\|y |"
    with pytest.raises(ValueError):
        md_table(["a", "b"], [[1]])


def test_machine_info_names_versions():
    from benchmarks._perf import machine_info, machine_line

    info = machine_info()
    assert info["cores"] and "inspect-ai" in info["versions"]
    assert "inspect-ai" in machine_line(info)


def test_grading_workload_is_263_problems_mixed_and_deterministic():
    require_data_dir()
    from benchmarks.grading_bench import MIX, SAMPLES_PER_PROBLEM, build_outputs, load_golds

    golds = load_golds()
    assert len(golds) == 263
    assert sum(c for _, c in MIX) == SAMPLES_PER_PROBLEM
    few = golds[:3] + golds[-2:]  # AIME integers and Omni-MATH LaTeX golds
    a, b = build_outputs(few), build_outputs(few)
    assert len(a) == len(few) * SAMPLES_PER_PROBLEM
    assert [o.completion for o in a] == [o.completion for o in b]
    assert all(o.completion.startswith("<think>") for o in a)


def test_grading_workload_labels_hold_for_integer_golds():
    """k2bench's grader must score the synthetic AIME outputs as labelled (integers: fast paths, no workers)."""
    require_data_dir()
    from benchmarks.grading_bench import build_outputs, load_golds
    from suites.grading.math_answer import grade_math

    aime = [g for g in load_golds() if g[0] == "aime2024"][:4]
    for o in build_outputs(aime):
        if o.kind == "correct_variant":
            continue  # renderings may need math-verify workers; covered by the benchmark's own label column
        verdict = grade_math(o.completion, o.gold)
        assert (verdict.score == 1.0) == o.expect_correct, (o.kind, o.gold, verdict)


def test_lm_eval_docs_are_the_suite_prompts():
    require_data_dir()
    from benchmarks.lm_eval_tasks.utils import load_aime2025
    from suites.aime.aime2025 import aime2025

    docs = load_aime2025()["test"]
    samples = list(aime2025(epochs=1).dataset)
    assert len(docs) == len(samples) == 30
    for doc, sample in zip(docs, samples, strict=True):
        assert doc["id"] == str(sample.id)
        assert doc["system"] == sample.input[0].text and doc["user"] == sample.input[1].text
        assert doc["answer"] == sample.target


def test_ratio_per_repeat_pairs_runs_of_the_same_repeat():
    from benchmarks.harness_bench import by_harness, ratio_per_repeat

    rows = [{"harness": "raw", "repeat": 0, "eval_s": 10.0}, {"harness": "k2bench", "repeat": 0, "eval_s": 12.0},
            {"harness": "raw", "repeat": 1, "eval_s": 20.0}, {"harness": "k2bench", "repeat": 1, "eval_s": 21.0}]
    assert ratio_per_repeat(rows, "eval_s", "k2bench") == [1.2, 1.05]
    assert by_harness(rows, "eval_s", "raw") == [10.0, 20.0]


def test_crosscheck_compare_classifies_disagreements():
    from benchmarks.lm_eval_crosscheck import compare

    k2 = [{"task": "aime2025", "id": "1", "score": 0.0, "status": "truncated", "extracted": "5", "tail": "...",
           "completion_sha256": "h1"},
          {"task": "aime2025", "id": "2", "score": 1.0, "status": "correct", "extracted": "7", "tail": "...",
           "completion_sha256": "h2"},
          {"task": "gpqa_diamond", "id": "g", "score": 0.0, "status": "incorrect", "extracted": "B", "tail": None,
           "completion_sha256": "h3"}]
    lm = [{"task": "aime2025", "id": "1", "exact_match": 1, "extracted": "5", "completion_sha256": "h1"},
          {"task": "aime2025", "id": "2", "exact_match": 1, "extracted": "7", "completion_sha256": "h2"},
          {"task": "gpqa_diamond", "id": "g", "exact_match": 1, "extracted": "A", "completion_sha256": "other"}]
    out = compare(k2, lm)
    assert out["per_task"]["aime2025"]["agree"] == 1 and out["per_task"]["aime2025"]["same_completion"] == 2
    whys = {d["id"]: d["why"] for d in out["disagreements"]}
    assert whys["1"].startswith("truncated") and whys["g"] == "different generation"
    assert "tail" not in next(d for d in out["disagreements"] if d["task"] == "gpqa_diamond")


def test_matmul_parameter_count_matches_the_model():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from benchmarks.gpu.sft_throughput import QWEN25_SHAPES, VOCAB, count_matmul_params

    shape = QWEN25_SHAPES["qwen2.5-0.5b"]
    with torch.device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(vocab_size=VOCAB, **shape))
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert count_matmul_params(shape) == linear
    assert 490e6 < sum(p.numel() for p in model.parameters()) < 500e6  # Qwen2.5-0.5B: 494M


def test_truncated_draft_and_speculative_counters():
    """A tiny random Llama: the draft keeps k layers, and prompt lookup's counters add up."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from benchmarks.gpu.decode_bench import COUNTS, install_counters, truncated_draft

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    draft = truncated_draft(model, 2)
    assert len(draft.model.layers) == 2 and draft.config.num_hidden_layers == 2 and len(model.model.layers) == 4
    install_counters()
    ids = torch.tensor([[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3]])
    for key in COUNTS:
        COUNTS[key] = 0
    plain = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)
    spec = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0, prompt_lookup_num_tokens=4)
    assert torch.equal(plain, spec)  # fp32 greedy speculative decoding returns plain greedy's tokens
    assert COUNTS["steps"] >= 1 and 0 <= COUNTS["accepted"] <= COUNTS["proposed"]


def test_gpu_report_bound_is_bandwidth_over_bytes():
    from benchmarks.gpu.report import render

    decode = json.loads((REPO / "results" / "perf" / "gpu_decode_bf16_r3.json").read_text())
    c = decode["ceiling"]
    expected = c["bandwidth_bytes_per_s"] / (c["weights_bytes"]["bfloat16"]
                                             + c["kv_bytes_per_context_token"]["bfloat16"] * c["mean_context_tokens"])
    assert abs(expected - c["tokens_per_s_bound"]["bfloat16"]) < 1e-6 * expected
    assert f"{expected:,.0f} tokens/s" in render()


def test_engine_bench_renders_its_stored_run_identically(tmp_path):
    """results/perf/engine_bench.md is what benchmarks/engine_bench.py renders from its JSON (no hand edits)."""
    import shutil

    from benchmarks import engine_bench

    stored = Path(__file__).resolve().parents[2] / "results" / "perf"
    shutil.copy(stored / "engine_bench.json", tmp_path / "engine_bench.json")
    assert engine_bench.main(["--render-only", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "engine_bench.md").read_text() == (stored / "engine_bench.md").read_text()
    data = json.loads((tmp_path / "engine_bench.json").read_text())
    levels = {r["concurrency"] for r in data["throughput"]}
    assert levels == {1, 8, 16, 32} and {r["engine"] for r in data["throughput"]} == {"embedded", "vllm"}
    assert min(sum(r["concurrency"] == c and r["engine"] == "vllm" for r in data["throughput"]) for c in levels) >= 3


def test_gpu_vllm_renders_its_stored_lease_identically(tmp_path):
    """results/perf/gpu_vllm.md is what benchmarks/gpu/vllm_report.py renders from the H200 lease's JSON (no hand
    edits), and the stored lease holds what issue 19's speculative must-show names."""
    import shutil

    from benchmarks.gpu import vllm_report

    stored = REPO / "results" / "perf"
    names = sorted(stored.glob("gpu_vllm_*.json"))
    assert {p.stem for p in names} >= {f"gpu_vllm_{n}" for n in ("spec", "harness", "grid", "runs", "profile")}
    for path in names:
        shutil.copy(path, tmp_path / path.name)
    assert vllm_report.main(["--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "gpu_vllm.md").read_text() == (stored / "gpu_vllm.md").read_text()
    spec = {v["variant"]: v for v in json.loads((stored / "gpu_vllm_spec.json").read_text())["variants"]}
    assert [c["concurrency"] for c in spec["plain"]["concurrency"]] == [1, 8, 64]
    assert [c["concurrency"] for c in spec["ngram"]["concurrency"]] == [1, 8, 64]
    for name in ("ngram", "ngram_fp32"):
        assert spec[name]["greedy_identical"]["identical"] == spec[name]["greedy_identical"]["of"] > 0
        assert all(0 < c["acceptance_rate"] <= 1 for c in spec[name]["concurrency"])
    # the degenerate plan / best-of-N / k2_full jobs are shown as such, never as a plain "rc 0"
    grid_rows = [line for line in (stored / "gpu_vllm.md").read_text().splitlines()
                 if line.startswith(("| plan1", "| bon1", "| k2full1"))]
    assert len(grid_rows) == 9 and all("degenerate" in line for line in grid_rows)
