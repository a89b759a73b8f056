"""SFT training throughput (tokens/s, model-FLOPs utilisation) for Qwen2.5-shaped models on one GPU.

K2-Think's SFT is full fine-tuning of Qwen2.5-32B (k2think-facts.md §3a: LLaMA-Factory, DeepSpeed ZeRO-3, bf16,
32k packed sequences, 256 GPUs). One H200 cannot hold a 32B model with Adam states, so this measures the same
architecture family at sizes that fit one card: Qwen2.5-0.5B/1.5B/3B shapes (hidden, layers, heads, KV heads,
vocabulary copied from their public config.json), built from a config dict with random initialisation (no
download). The loop is plain torch: fp32 master weights, bf16 autocast, SDPA attention, fused AdamW, one
optimizer step per micro-batch, random token ids as data (throughput does not depend on the values).

MFU = achieved model FLOP/s / the bf16 matmul rate measured by ceilings.py on the same card.
Model FLOPs per token = 6 * N_matmul + 6 * L * d_attn * S, where N_matmul counts every weight that takes
part in a matrix product (all linear layers plus the LM head; the embedding lookup does none) and the second
term is causal attention (QK^T and AV, forward + 2x backward, half the S x S square). This is the PaLM
formula with the attention term halved for causality; PaLM's un-halved number is also recorded.

Runs on the device machine with its own python3 (torch + transformers, no k2bench imports):

    python3 benchmarks/gpu/sft_throughput.py --ceilings $OUT/ceilings.json --out $OUT/sft.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

# Public Qwen2.5 config.json values (Qwen/Qwen2.5-{0.5B,1.5B,3B,32B}); 32B only for the FLOP count.
QWEN25_SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-3b": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                       num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-32b": dict(hidden_size=5120, intermediate_size=27648, num_hidden_layers=64, num_attention_heads=40,
                        num_key_value_heads=8, tie_word_embeddings=False),
}
VOCAB = 151936
# (shape, micro-batch sequences, sequence length). The last row is the paper's 32k cutoff length.
RUNS = (
    ("qwen2.5-0.5b", 4, 4096),
    ("qwen2.5-1.5b", 4, 4096),
    ("qwen2.5-3b", 2, 4096),
    ("qwen2.5-0.5b", 1, 32768),
)
WARMUP_STEPS = 3
TIMED_STEPS = 8


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def count_matmul_params(shape: dict) -> int:
    """Weights that take part in a matrix product per token: q,k,v,o, gate/up/down, LM head."""
    h, i, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    head_dim = h // shape["num_attention_heads"]
    kv = shape["num_key_value_heads"] * head_dim
    per_layer = h * h + 2 * h * kv + h * h + 3 * h * i
    return layers * per_layer + h * VOCAB


def flops_per_token(shape: dict, seq: int, causal: bool = True) -> float:
    n = count_matmul_params(shape)
    attn = 12 * shape["num_hidden_layers"] * shape["hidden_size"] * seq
    return 6 * n + (attn / 2 if causal else attn)


def run_one(name: str, batch: int, seq: int, matmul_rate: float) -> dict[str, object]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = QWEN25_SHAPES[name]
    config = Qwen2Config(vocab_size=VOCAB, max_position_embeddings=32768, rms_norm_eps=1e-6, use_cache=False,
                         attn_implementation="sdpa", **shape)
    torch.manual_seed(0)
    t0 = time.time()
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(config)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    build_s = time.time() - t0
    gen = torch.Generator(device="cuda").manual_seed(1)

    def step() -> float:
        ids = torch.randint(0, VOCAB, (batch, seq), device="cuda", generator=gen)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()  # .item() synchronises: the step is finished when this returns

    torch.cuda.reset_peak_memory_stats()
    losses = [step() for _ in range(WARMUP_STEPS)]
    times = []
    for _ in range(TIMED_STEPS):
        t = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t)
    tokens = batch * seq
    fpt = flops_per_token(shape, seq)
    tok_s = [tokens / t for t in times]
    result = {
        "model": name,
        "shape": shape,
        "vocab": VOCAB,
        "params": n_params,
        "matmul_params": count_matmul_params(shape),
        "micro_batch": batch,
        "seq_len": seq,
        "tokens_per_step": tokens,
        "build_s": build_s,
        "step_seconds": stats(times),
        "tokens_per_s": stats(tok_s),
        "flops_per_token_causal": fpt,
        "flops_per_token_palm": flops_per_token(shape, seq, causal=False),
        "model_flop_per_s": stats([t * fpt for t in tok_s]),
        "mfu": stats([t * fpt / matmul_rate for t in tok_s]),
        "mfu_palm": statistics.median(tok_s) * flops_per_token(shape, seq, causal=False) / matmul_rate,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "losses_first_last": [losses[0], losses[-1]],
        "precision": "fp32 master weights, bf16 autocast, fused AdamW, SDPA attention",
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ceilings", required=True, help="ceilings.json from ceilings.py (same machine)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    if __package__:  # python -m benchmarks.gpu.sft_throughput
        from benchmarks.gpu.ceilings import gpu_environment
    else:  # by path, as on the device (results/perf/gpu_speed.md): this folder is sys.path[0]
        from ceilings import gpu_environment

    with open(args.ceilings) as fh:
        matmul_rate = json.load(fh)["matmul_bf16_flop_per_s"]
    torch.backends.cuda.matmul.allow_tf32 = True
    report: dict[str, object] = {
        "what": "SFT training throughput of Qwen2.5-shaped models (random init), one GPU, plain torch loop",
        "command": " ".join(["python3", *sys.argv]),
        "environment": gpu_environment(),
        "matmul_bf16_flop_per_s": matmul_rate,
        "warmup_steps": WARMUP_STEPS,
        "timed_steps": TIMED_STEPS,
        "paper_32b_flops_per_token_32k": flops_per_token(QWEN25_SHAPES["qwen2.5-32b"], 32768),
        "runs": [],
    }
    for name, batch, seq in RUNS:
        try:
            row = run_one(name, batch, seq, matmul_rate)
            torch.cuda.empty_cache()  # the model and optimizer died with run_one
        except torch.OutOfMemoryError as exc:
            row = {"model": name, "micro_batch": batch, "seq_len": seq, "error": f"OOM: {str(exc)[:200]}"}
            torch.cuda.empty_cache()
        report["runs"].append(row)
        if "error" in row:
            print(f"{name} b={batch} s={seq}: {row['error']}", flush=True)
        else:
            print(f"{name} b={batch} s={seq}: {row['tokens_per_s']['median']:.0f} tok/s, "
                  f"MFU {row['mfu']['median']:.3f}, peak {row['peak_memory_gib']:.1f} GiB", flush=True)
        with open(args.out, "w") as fh:  # rewrite after each run: a later OOM or timeout keeps earlier rows
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
