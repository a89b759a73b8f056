"""Render what benchmarks/gpu/vllm_device.py measured on the H200 into results/perf/gpu_vllm.md and
results/perf/gpu_vllm_spec.png (run HERE; no GPU, no server: it only reads the stored JSON).

Inputs (copied from the device calls' results, see results/perf/gpu_vllm_runbook.md, "After the lease"):
  results/perf/gpu_vllm_install.json   the payload, the environment, pip check, the weights fingerprint
  results/perf/gpu_vllm_smoke.json     the first start (VLLM_ENABLE_V1_MULTIPROCESSING=0), chat + JSON schema
  results/perf/gpu_vllm_spec.json      speculative decoding: per variant greedy identity, tok/s at 1/8/64,
                                       acceptance, systems/speculative.py's equivalence verdict, bandwidth bound
  results/perf/gpu_vllm_harness.json   k2bench vs raw vs lm-eval against the same server
  results/perf/gpu_vllm_grid.json      the grid's jobs, their commands, max_tokens, throughput over time
  results/perf/gpu_vllm_runs.json      the exact device calls (commands, carry, seconds)

    python -m benchmarks.gpu.vllm_report collect CALL_DIR [CALL_DIR ...] --stage /tmp/h200   # after the lease
    python -m benchmarks.gpu.vllm_report            # writes gpu_vllm.md (+ .png when spec exists)
    python -m benchmarks.gpu.vllm_report --results /tmp/k2dry/results --out-dir /tmp/k2dry-report   # dry run

`collect` joins every call's results.tgz.NN (each file came back once; together they rebuild the device's
results/ and logs/ under --stage), copies the JSON the tables need to results/perf/gpu_vllm_*.json, and lists
every eval log with its status and what to do with it (commit, redact GPQA, score code suites here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.gpu.vllm_report ...")

from benchmarks._perf import OUT_DIR, md_table  # noqa: E402

NAMES = ("install", "smoke", "spec", "harness", "grid", "runs")
DEVICE_FILE = {"spec": "spec_report"}  # the device's results/<file>.json for each name
CODE_SUITES = ("livecodebench_v5", "scicode")
LABEL = {
    "plain": "plain (no speculation)",
    "ngram": "n-gram, systems/speculative.yaml",
    "ngram_gpu": "n-gram on the GPU (method ngram_gpu, same settings)",
    "draft_self": "draft model = SmolLM2 itself, systems/speculative_draft.yaml",
    "plain_fp32": "plain, fp32, eager",
    "ngram_fp32": "n-gram, fp32, eager",
}


def load_all(results: Path | None, out_dir: Path) -> dict[str, Any]:
    """gpu_vllm_<name>.json from out_dir, or <name>.json straight from a device results folder."""
    data = {}
    for name in NAMES:
        path = (results / f"{DEVICE_FILE.get(name, name)}.json") if results else (out_dir / f"gpu_vllm_{name}.json")
        if path.is_file():
            data[name] = json.loads(path.read_text())
    return data


def fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def spec_rows(spec: dict[str, Any]) -> list[list[object]]:
    rows = []
    for v in spec["variants"]:
        if "error" in v:
            rows.append([LABEL.get(v["variant"], v["variant"]), v["dtype"], "failed to start", "", "", "", "", "", ""])
            continue
        ident = v.get("greedy_identical")
        eq = v.get("equivalence") or {}
        for c in v["concurrency"]:
            rows.append([
                LABEL.get(v["variant"], v["variant"]), v["dtype"], c["concurrency"],
                fmt(c["aggregate_tok_s"]),
                f"{fmt(c['per_request_tok_s']['median'])} ({fmt(c['per_request_tok_s']['min'])}-"
                f"{fmt(c['per_request_tok_s']['max'])})",
                fmt(c.get("bandwidth_bound_tok_s")),
                "-" if c.get("acceptance_rate") is None else f"{c['acceptance_rate']:.3f}",
                "-" if ident is None else f"{ident['identical']}/{ident['of']}",
                eq.get("verdict", "-" if v["variant"].startswith("plain") else "not compared"),
            ])
    return rows


def render_spec(spec: dict[str, Any]) -> list[str]:
    geometry = spec["geometry"]
    return [
        "## Speculative decoding on vLLM (benchmarks/gpu/vllm_device.py `spec`)", "",
        f"One server per variant, started from models/vllm_h200_smollm2.yaml by systems/serve.py with the overlay's "
        f"`speculative_config`; {len(spec['prompts'])} prompts ({', '.join(spec['prompts'])}; AIME 2025 under the "
        f"K2 system prompt), greedy, {spec['max_tokens']} new tokens. Concurrency 1 = the "
        "prompts one at a time (also the token-for-token comparison with plain of the same dtype, token ids from "
        "`return_token_ids`); 8 and 64 = waves of requests cycling the prompts. Per request: completion tokens / "
        "latency, median (min-max). Acceptance = accepted / drafted tokens from the server's /metrics over that "
        "phase. Equivalence = systems/speculative.py's verdict (greedy identity + sampled NLL test, T=1.0, 3 seeds).",
        "",
        f"Bandwidth bound (plain decoding): each step reads the {spec['params'] / 1e6:.1f}M weights once plus every "
        f"sequence's KV cache ({2 * geometry['layers'] * geometry['kv_heads'] * geometry['head_dim']} values per "
        f"token), at the {spec['bandwidth_Bps'] / 1e12:.2f} TB/s measured on this card ({spec['bandwidth_source']});"
        " the bound is for the concurrency and mean context of that row.", "",
        md_table(["variant", "dtype", "concurrency", "aggregate tok/s", "per request tok/s", "bound tok/s",
                   "acceptance", "greedy identical", "equivalence"], spec_rows(spec)),
        "", f"Suffix decoding: {spec['suffix_decoding']}.", "",
    ]


def render_harness(h: dict[str, Any]) -> list[str]:
    table = []
    for name in h["harnesses"]:
        rows = [r for r in h["rows"] if r["harness"] == name and r["rc"] == 0]
        if not rows:
            table.append([name, "failed", "", "", "", ""])
            continue

        def med(key: str, rows: list[dict] = rows) -> str:
            vals = [r[key] for r in rows if r.get(key) is not None]
            return "-" if not vals else (f"{statistics.median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})")

        table.append([name, med("wall_s"), med("eval_s"), med("wall_over_raw"), med("eval_over_raw"),
                      med("generation_tokens")])
    split = [[r["harness"], r["repeat"], f"{r['startup_s']:.1f}", f"{r['eval_s']:.1f}", f"{r['shutdown_s']:.1f}"]
             for r in h["rows"] if "startup_s" in r]
    return [
        "## Harness overhead against the GPU server (benchmarks/gpu/vllm_device.py `harness`)", "",
        f"{h['suite']}, {h['limit']} problems x 1 epoch, temperature 0, max_tokens {h['max_tokens']}, top_p 0.95, "
        f"stop `</answer>`, seed 1234, {h['concurrency']} connections for every harness, {h['repeats']} repeats in "
        "rotating order; median (min-max). Ratios are per repeat against raw's run of the same repeat.", "",
        md_table(["harness", "process wall s", "eval phase s", "wall / raw", "eval / raw", "generated tokens"], table),
        "", "Where k2bench's wall time goes (inspect log timestamps):", "",
        md_table(["harness", "repeat", "start-up s", "eval s", "shutdown s"], split), "",
    ]


def render_grid(g: dict[str, Any]) -> list[str]:
    rows = [[j["phase"], j["suite"], j["systems"], j["epochs"], j["max_tokens"], j["longest_prompt"],
             j.get("rc", "not run" if "launched" not in j else "running"), fmt(j.get("seconds"), 0)]
            for j in g["jobs"]]
    return [
        "## The system grid's jobs (benchmarks/gpu/vllm_device.py `grid`, benchmarks/gpu/vllm_grid.yaml)", "",
        f"{fmt(g.get('generation_tokens'))} tokens generated in {fmt(g.get('wall_s'))} s: "
        f"{fmt(g.get('aggregate_tok_s'))} tok/s aggregate over the whole grid. max_tokens = 8192 - the suite's "
        "longest prompt (halved, less 128, for plan/judge systems). The logs and their tables: results/logs, "
        "results/tables (python -m analysis).", "",
        md_table(["phase", "suite", "system", "epochs", "max_tokens", "longest prompt", "rc", "seconds"], rows), "",
    ]


def plot(spec: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for v in spec["variants"]:
        if "error" in v or v["dtype"] != "bfloat16":
            continue
        xs = [c["concurrency"] for c in v["concurrency"]]
        ax.plot(xs, [c["aggregate_tok_s"] for c in v["concurrency"]], marker="o", label=LABEL.get(v["variant"]))
    plain = next((v for v in spec["variants"] if v["variant"] == "plain" and "error" not in v), None)
    if plain:
        ax.plot([c["concurrency"] for c in plain["concurrency"]],
                [c["bandwidth_bound_tok_s"] for c in plain["concurrency"]], "k--", label="bandwidth bound (plain)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("generated tokens/s (aggregate)")
    ax.set_title("SmolLM2-135M on vLLM 0.26, one H200, bf16, greedy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Comment": "generated by benchmarks/gpu/vllm_report.py; do not edit"})
    plt.close(fig)


def render(data: dict[str, Any]) -> str:
    lines = ["# vLLM on one NVIDIA H200 (generated by benchmarks/gpu/vllm_report.py from results/perf/gpu_vllm_*.json;"
             " do not edit)", ""]
    install = data.get("install", {})
    env = install.get("environment", {})
    if env:
        lines += [f"Machine: {env.get('gpu')} ({env.get('nvidia_smi')}), torch {env.get('torch')} (CUDA "
                  f"{env.get('cuda')}), transformers {env.get('transformers')}, vLLM {env.get('vllm')}, Python "
                  f"{env.get('python')}, {env.get('cpus')} CPU cores. Payload: {install.get('packages')} packages "
                  f"(benchmarks/gpu/vllm_wheels.txt) unpacked in {install.get('stream', {}).get('unpack_s', '-')} s; "
                  f"weights identical to the local dequantization: {install.get('weights_fingerprint_matches_local')}.",
                  ""]
    if "smoke" in data:
        s = data["smoke"]
        lines += [f"First start (VLLM_ENABLE_V1_MULTIPROCESSING=0): ready in {s.get('start_s')} s; "
                  f"JSON-schema reply parsed: {bool((s.get('json_schema') or {}).get('parsed'))}.", ""]
    if "spec" in data:
        lines += render_spec(data["spec"])
    if "harness" in data:
        lines += render_harness(data["harness"])
    if "grid" in data:
        lines += render_grid(data["grid"])
    if "runs" in data:
        lines += ["## Exact device calls (results/perf/gpu_vllm_runs.json)", ""]
        for run in data["runs"].get("runs", []):
            lines += [f"- call {run['call']} ({run.get('wall_s', '?')} s, carry {', '.join(run.get('carry', []))}):",
                      "", "  ```", f"  {run['command']}", "  ```", ""]
    return "\n".join(lines).rstrip() + "\n"


def collect(calls: list[Path], stage: Path, out_dir: Path) -> list[dict[str, Any]]:
    """Rebuild the device's results/ and logs/ under stage from every call's returned pieces; copy the JSON."""
    import io
    import shutil
    import tarfile

    stage.mkdir(parents=True, exist_ok=True)
    for call in calls:
        pieces = sorted(call.glob("results.tgz.*"))
        if pieces:
            with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in pieces)), mode="r:gz") as tar:
                tar.extractall(stage, filter="data")
        if (call / "status.json").is_file():
            shutil.copy2(call / "status.json", stage / f"status-{call.name}.json")
    for name in NAMES:
        src = stage / "results" / f"{DEVICE_FILE.get(name, name)}.json"
        if src.is_file():
            shutil.copy2(src, out_dir / f"gpu_vllm_{name}.json")
    from inspect_ai.log import read_eval_log

    rows = []
    for path in sorted((stage / "logs").rglob("*.eval")):
        header = read_eval_log(str(path), header_only=True)
        meta = header.eval.metadata or {}
        suite = meta.get("suite") or header.eval.task.split("/")[-1].split("--")[0]
        scored = bool(header.results and header.results.scores)
        action = ("redact: python -m suites.gpqa_diamond.redact" if "gpqa" in suite else
                  "score here: python -m benchmarks.gpu.vllm_rescore" if any(c in suite for c in CODE_SUITES)
                  and not scored else "commit")
        if header.status != "success":
            action = "do not commit (not finished)"
        rows.append({"log": str(path), "status": header.status, "suite": suite, "system": meta.get("system_id"),
                     "model": meta.get("model_id"), "epochs": header.eval.config.epochs,
                     "samples": header.results.completed_samples if header.results else None,
                     "scored": scored, "action": action})
    return rows


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "collect":
        cp = argparse.ArgumentParser(prog="vllm_report.py collect")
        cp.add_argument("calls", nargs="+", type=Path, help="each call's returned folder (the run reply's files_at)")
        cp.add_argument("--stage", type=Path, required=True)
        cp.add_argument("--out-dir", type=Path, default=OUT_DIR)
        cargs = cp.parse_args(argv[1:])
        for row in collect(cargs.calls, cargs.stage, cargs.out_dir):
            print(json.dumps(row))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a device results/ folder instead of results/perf/gpu_vllm_*")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    data = load_all(args.results, args.out_dir)
    if not data:
        print("no gpu_vllm_*.json yet: nothing to render (the device lease writes them)")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "gpu_vllm.md").write_text(render(data))
    if "spec" in data:
        plot(data["spec"], args.out_dir / "gpu_vllm_spec.png")
    print(f"wrote {args.out_dir / 'gpu_vllm.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
