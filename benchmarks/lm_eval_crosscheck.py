"""Peer check of k2bench's graders and prompts: the same AIME 2025 / GPQA-Diamond / MATH-500 samples through
lm-eval and through k2bench (inspect), against one server, identical generation settings, compared per sample.

Both harnesses send the same requests: k2bench's suite samples (K2-Think system prompt + the suite's user
prompt; GPQA with epoch 1's option order), temperature 0, top_p 0.95, stop `</answer>`, seed 1234, the same
max_tokens, the same number of connections. lm-eval reads them through benchmarks/lm_eval_tasks/ and scores them
with its own code (aime: last \\boxed{}/$...$ + Hendrycks normalisation; MATH-500: that plus minerva_math's
Math-Verify metric; GPQA: its RegexFilter on the "Answer: X" line). k2bench scores with suites/grading.

GPQA stays off disk: both harnesses run in THIS process with sample logging off (inspect `log_samples=False`,
lm-eval `log_samples=False`); per-sample results are captured in memory (a scorer wrapper on the inspect side,
benchmarks.lm_eval_tasks.RECORDS on the lm-eval side) and only ids, letters, scores and completion hashes are
written. For the public sets (AIME, MATH-500) the extracted answers of disagreeing samples are written too.

Disagreements are classified: `different generation` (completion hashes differ: the server did not return the
same text to both harnesses), `truncated` (same text, k2bench scores a max_tokens cut as wrong whatever it
contains, lm-eval grades the cut text), `no final answer` (same text, k2bench extracts nothing after K2's
rules while lm-eval falls back to the last $...$ span), `equivalence` (both extracted, they judge it
differently). Run through `python -m benchmarks.harness_bench --crosscheck` (shares its server) or standalone
(the server and settings both use come from benchmarks/vllm_cpu.py):

    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.lm_eval_crosscheck --limit 20 --max-tokens 192
    python -m benchmarks.lm_eval_crosscheck --render-only
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.lm_eval_crosscheck ...")

from benchmarks._perf import OUT_DIR, REPO, machine_info, machine_line, md_table, write_result  # noqa: E402
from benchmarks.vllm_cpu import MODEL_NAME, SEED, start_server  # noqa: E402

TASKS = {  # k2bench suite -> lm-eval task in benchmarks/lm_eval_tasks
    "aime2025": "k2bench_aime2025",
    "math500": "k2bench_math500",
    "gpqa_diamond": "k2bench_gpqa_diamond",
}
PUBLIC = {"aime2025", "math500"}  # GPQA answers/completions are never written


def k2bench_tasks(limit: int):
    """The suites' tasks (epochs=1) with their scorer wrapped to capture each sample's result in memory."""
    from inspect_ai.scorer import scorer

    from suites.aime.aime2025 import aime2025
    from suites.gpqa_diamond.gpqa_diamond import gpqa_diamond
    from suites.grading.scorers import METRICS
    from suites.math500.math500 import math500

    captured: list[dict] = []

    def wrap(inner, suite: str):
        @scorer(metrics=METRICS, name=f"{suite}_captured")
        def captured_scorer():
            async def score(state, target):
                result = await inner(state, target)
                text = state.output.completion
                captured.append({
                    "task": suite, "id": str(state.sample_id), "score": float(result.value["accuracy"]),
                    "status": (result.metadata or {}).get("status"), "extracted": result.answer,
                    "stop_reason": state.output.stop_reason,
                    "completion_sha256": hashlib.sha256(text.encode()).hexdigest(), "completion_chars": len(text),
                    "tail": text[-160:] if suite in PUBLIC else None,
                })
                return result

            return score

        return captured_scorer()

    tasks = []
    for suite, factory in (("aime2025", aime2025), ("math500", math500), ("gpqa_diamond", gpqa_diamond)):
        task = factory(epochs=1)
        task.scorer = [wrap(task.scorer[0], suite)]
        tasks.append(task)
    return tasks, captured


def run_k2bench(base_url: str, limit: int, max_tokens: int, conc: int) -> tuple[list[dict], float]:
    from inspect_ai import eval as inspect_eval

    tasks, captured = k2bench_tasks(limit)
    log_dir = tempfile.mkdtemp(prefix="k2perf-xcheck-")
    t = time.perf_counter()
    try:
        logs = inspect_eval(tasks, model=f"vllm/{MODEL_NAME}", model_base_url=base_url, limit=limit,
                            max_tokens=max_tokens, temperature=0.0, seed=SEED, max_connections=conc,
                            log_dir=log_dir, log_samples=False, display="none", max_tasks=len(tasks))
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)  # headers only, but nothing of GPQA should linger
    bad = [lg.status for lg in logs if lg.status != "success"]
    if bad:
        raise RuntimeError(f"k2bench eval did not succeed: {bad} {[lg.error for lg in logs]}")
    return captured, time.perf_counter() - t


def run_lm_eval(base_url: str, limit: int, max_tokens: int, conc: int) -> tuple[list[dict], float]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    from benchmarks.lm_eval_tasks import RECORDS
    from suites._protocol import K2THINK_SYSTEM_PROMPT

    RECORDS.clear()
    t = time.perf_counter()
    lm_eval.simple_evaluate(
        model="local-chat-completions",
        model_args=f"model={MODEL_NAME},base_url={base_url}/chat/completions,num_concurrent={conc},max_retries=3,"
                   "tokenized_requests=False",
        tasks=list(TASKS.values()),
        task_manager=TaskManager(include_path=str(REPO / "benchmarks" / "lm_eval_tasks")),
        apply_chat_template=True, system_instruction=K2THINK_SYSTEM_PROMPT,
        gen_kwargs=f"max_gen_toks={max_tokens}", limit=limit, log_samples=False,
    )
    return list(RECORDS), time.perf_counter() - t


def classify(k2: dict, lm: dict) -> str:
    if k2["completion_sha256"] != lm["completion_sha256"]:
        return "different generation"
    if k2["status"] == "truncated":
        return "truncated (k2bench scores a max_tokens cut as wrong)"
    if k2["status"] == "no_answer":
        return "no final answer under K2's extraction rules (lm-eval falls back to $...$ / raw text)"
    return "equivalence / extraction differs"


def compare(k2_rows: list[dict], lm_rows: list[dict]) -> dict[str, object]:
    lm_by = {(r["task"], r["id"]): r for r in lm_rows}
    per_task: dict[str, dict] = {}
    disagreements = []
    for k2 in k2_rows:
        lm = lm_by.get((k2["task"], k2["id"]))
        t = per_task.setdefault(k2["task"], {"n": 0, "k2bench": 0.0, "lm_eval": 0.0, "lm_eval_math_verify": 0.0,
                                             "same_completion": 0, "agree": 0, "missing_in_lm_eval": 0,
                                             "truncated": 0})
        t["n"] += 1
        t["k2bench"] += k2["score"]
        t["truncated"] += int(k2["status"] == "truncated")
        if lm is None:
            t["missing_in_lm_eval"] += 1
            continue
        lm_score = float(lm["exact_match"])
        t["lm_eval"] += lm_score
        t["lm_eval_math_verify"] += float(lm.get("math_verify", 0))
        t["same_completion"] += int(k2["completion_sha256"] == lm["completion_sha256"])
        mv = lm.get("math_verify")
        if mv is not None and float(mv) != k2["score"]:
            t["math_verify_disagree"] = t.get("math_verify_disagree", 0) + 1
            row = {"task": k2["task"], "id": k2["id"], "k2bench": k2["score"], "lm_eval_math_verify": float(mv),
                   "k2bench_status": k2["status"], "why": classify(k2, lm), "metric": "math_verify"}
            if k2["task"] in PUBLIC:
                row.update(k2bench_extracted=k2["extracted"], tail=k2["tail"])
            disagreements.append(row)
        if lm_score == k2["score"]:
            t["agree"] += 1
        else:
            row = {"task": k2["task"], "id": k2["id"], "k2bench": k2["score"], "lm_eval": lm_score,
                   "k2bench_status": k2["status"], "why": classify(k2, lm), "metric": "exact_match"}
            if k2["task"] in PUBLIC:
                row.update(k2bench_extracted=k2["extracted"], lm_eval_extracted=lm["extracted"], tail=k2["tail"])
            disagreements.append(row)
    samples = [{"k2bench": {k: v for k, v in k2.items() if k2["task"] in PUBLIC or k not in ("tail", "extracted")},
                "lm_eval": {k: v for k, v in (lm_by.get((k2["task"], k2["id"])) or {}).items()
                            if k2["task"] in PUBLIC or k != "extracted" or len(str(v)) <= 12}}
               for k2 in k2_rows]
    return {"per_task": per_task, "disagreements": disagreements, "samples": samples}


def render(info: dict, setup: dict, result: dict) -> tuple[str, dict]:
    rows = []
    for task, t in result["per_task"].items():
        n = t["n"]
        rows.append([task, n, f"{t['k2bench'] / n:.3f}", f"{t['lm_eval'] / n:.3f}",
                     f"{t['lm_eval_math_verify'] / n:.3f}" if task == "math500" else "-",
                     f"{t['same_completion']}/{n}", f"{t['agree']}/{n}",
                     f"{n - t.get('math_verify_disagree', 0)}/{n}" if task == "math500" else "-", t["truncated"]])
    reasons: dict[str, int] = {}
    for d in result["disagreements"]:
        reasons[d["why"]] = reasons.get(d["why"], 0) + 1
    lines = [
        "# lm-eval cross-check (generated by benchmarks/lm_eval_crosscheck.py; do not edit)", "",
        machine_line(info), "",
        f"Server: {setup['server']}. Same samples and requests in both harnesses: first {setup['limit']} of each "
        f"suite, epochs 1, temperature 0, top_p 0.95, stop `</answer>`, seed {SEED}, max_tokens "
        f"{setup['max_tokens']}, {setup['concurrency']} connections. k2bench scores with suites/grading; lm-eval "
        "with its own aime / minerva_math / RegexFilter code (benchmarks/lm_eval_tasks/). GPQA ran in memory "
        "only (no samples logged by either harness).", "",
        md_table(["suite", "n", "k2bench score", "lm-eval exact_match", "lm-eval math_verify",
                  "identical completions", "per-sample agreement (exact_match)", "per-sample agreement (math_verify)",
                  "k2bench truncated"], rows), "",
        "Completions differ between the harnesses although the requests are identical: the server's temperature-0 "
        "output depends on how requests are batched (harness_overhead.md measures the same for raw repeats).", "",
        f"Wall time: k2bench {setup['k2bench_s']:.0f} s, lm-eval {setup['lm_eval_s']:.0f} s (all three suites).", "",
    ]
    if reasons:
        lines += ["Disagreements by cause:", "",
                  md_table(["cause", "samples"], sorted(reasons.items(), key=lambda kv: -kv[1])), ""]
        public = [d for d in result["disagreements"] if d["task"] in PUBLIC][:12]
        if public:
            lines += ["Examples (public suites only):", "",
                      md_table(["suite", "id", "lm-eval metric", "k2bench", "lm-eval", "k2bench status",
                                "k2bench extracted", "lm-eval extracted", "cause"],
                               [[d["task"], d["id"], d.get("metric", "exact_match"), d["k2bench"],
                                 d.get("lm_eval", d.get("lm_eval_math_verify")), d.get("k2bench_status"),
                                 repr(d.get("k2bench_extracted")), repr(d.get("lm_eval_extracted", "-")), d["why"]]
                                for d in public]), ""]
        if any(d.get("metric") == "math_verify" for d in result["disagreements"]):
            lines += ["lm-eval's math_verify metric (minerva_math) parses the WHOLE completion against the gold "
                      "solution, so a correct intermediate expression in a cut-off or unfinished answer can count; "
                      "k2bench grades only the final answer after K2's extraction rules and scores a max_tokens cut "
                      "as wrong (status truncated).", ""]
    else:
        lines += ["No per-sample disagreement.", ""]
    return "\n".join(lines), {"machine": info, "setup": setup, **result}


def crosscheck(server, limit: int, max_tokens: int, conc: int, out_dir: Path = OUT_DIR, write: bool = True) -> dict:
    info = machine_info()
    k2_rows, k2_s = run_k2bench(server.base_url, limit, max_tokens, conc)
    lm_rows, lm_s = run_lm_eval(server.base_url, limit, max_tokens, conc)
    result = compare(k2_rows, lm_rows)
    setup = {"server": getattr(server, "description", "vllm-cpu 0.32.0, SmolLM2-135M-Instruct bf16"), "limit": limit,
             "max_tokens": max_tokens, "concurrency": conc, "k2bench_s": k2_s, "lm_eval_s": lm_s}
    md, data = render(info, setup, result)
    if write:
        write_result("lm_eval_crosscheck", md, data, out_dir)
    else:
        print(md)
    return data


def render_stored(out_dir: Path = OUT_DIR) -> int:
    """Rebuild lm_eval_crosscheck.md from its JSON (no server, no measurement)."""
    import json

    path = out_dir / "lm_eval_crosscheck.json"
    if not path.is_file():
        return 1
    data = json.loads(path.read_text())
    md, new = render(data["machine"], data["setup"], {k: data[k] for k in ("per_task", "disagreements", "samples")
                                                      if k in data})
    write_result("lm_eval_crosscheck", md, new, out_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=8047)
    parser.add_argument("--quick", action="store_true", help="3 samples per suite, 64 tokens, not written")
    parser.add_argument("--render-only", action="store_true", help="re-render the .md from stored JSON")
    args = parser.parse_args(argv)
    if args.render_only:
        return render_stored()
    if not os.environ.get("K2BENCH_DATA_DIR"):
        raise SystemExit("set K2BENCH_DATA_DIR to the benchmark mirror (e.g. /work/shared/data)")
    if args.quick:
        args.limit, args.max_tokens = 3, 64
    server = start_server(args.port)
    try:
        crosscheck(server, args.limit, args.max_tokens, args.concurrency, write=not args.quick)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
