"""The embedded engine's decode loop: continuous (iteration-level) batching of a Llama-family model on CPU.

Used by models/embedded.py (the inspect provider `k2bench/...`); issue 17 ("a faster embedded engine"). One
background thread owns the model. Requests join the running batch at every decode step (their prompt is prefilled,
their KV rows written into the shared cache) and leave it the step they end, so each answer returns as soon as it is
done instead of when the slowest of a static batch of 16 is.

Why a hand-written forward instead of `model.generate()` or transformers' own continuous batching
(benchmarks/engine_bench.py measures the result against vLLM's CPU server; results/perf/engine_bench.md):
  * `generate()` on a static batch waits for its slowest row, pads every row to the longest prompt and pays
    transformers' per-step Python overhead (mask building, cache classes): 17 tok/s single stream.
  * transformers 5.24's `generate_batch` / `init_continuous_batching` (generation/continuous_batching/) samples
    every request from one global RNG (no per-request seed), has no per-request stop strings and no per-request
    logits processors (so no per-request grammar), and its paged attention is written for CUDA.
  * Here the weights of the loaded HF model are used directly (q/k/v and gate/up fused into one matrix each) with
    the same operations in the same dtype as transformers' Llama (RMSNorm in fp32, RoPE tables from the model's own
    inv_freq, SDPA attention, bf16 logits cast to fp32), so greedy outputs match `generate()` up to bf16 near-ties.

The KV cache is one tensor per K and V, [layers, rows, kv_heads, capacity, head_dim]: row i holds request i's keys
at positions 0..len-1 (no padding inside a row); a decode step writes each row's new key at its own position and
attends over positions <= its own (boolean mask), so rows of different lengths share one batched step. A finished
row is replaced by the last row (one row copied), so the active rows are always 0..n-1. Capacity grows by doubling.

Decoding semantics per request: temperature (0 = greedy), top-k then top-p (transformers' warper order and
rules), its own torch.Generator (seeded from the request's seed, else random), stop strings (generation ends when
one appears; the text is cut before it, as servers do), end-of-turn tokens, an optional JSON grammar
(models/grammar.py), and a token budget (the provider's effective cap, bounded by the context window).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import concurrent.futures
import itertools
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)
SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "mistral")
# top-p candidates: the nucleus is searched among the top CANDIDATES tokens; a row whose top CANDIDATES hold less
# than top_p of the mass falls back to a full sort, so the result is exact either way
TOP_P_CANDIDATES = 512
CACHE_GROWTH = 256  # cache capacity grows in multiples of this many positions
# cost of one more attention call, in key positions read: ~10 us of dispatch against ~70 ns per row-position
ATTENTION_CALL_COST = 150


PROFILE_PATH = os.environ.get("K2BENCH_ENGINE_PROFILE")  # benchmarks: where a decode-step profile goes
PROFILE_AFTER_STEPS = int(os.environ.get("K2BENCH_ENGINE_PROFILE_AFTER", "40"))  # decode steps before profiling
PROFILE_STEPS = 20
IDLE_RELEASE_S = 10  # the worker frees its KV cache after this long without work
READY_TIMEOUT_S = 300  # loading a model in a fresh worker: seconds (a busy 2-core machine stretches it)


def end_token_ids(tokenizer: Any, generation_config: Any) -> set[int]:
    """Tokens that end a turn: the tokenizer's eos/pad and the generation config's eos (as generate() stops)."""
    ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    eos = getattr(generation_config, "eos_token_id", None)
    ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return ids


class UnsupportedModel(ValueError):
    """The hand-written forward covers Llama-family decoders only."""


@dataclass
class Request:
    prompt_ids: list[int]
    max_new_tokens: int  # > 0; the provider has applied its cap and the context window
    cap_reason: str  # stop reason when max_new_tokens is reached: "max_tokens" | "model_length"
    temperature: float = 1.0  # 0 -> greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 -> off
    seed: int | None = None
    stop_seqs: tuple[str, ...] = ()
    schema: str | None = None  # JSON schema text (response_schema): decoding is constrained to it
    strict: bool | None = None  # response_schema.strict (models/grammar.py)
    id: int = 0
    submitted: float = field(default_factory=time.monotonic)  # the worker's clock
    matcher: Any = None  # the worker's grammar matcher for `schema`


@dataclass
class Result:
    text: str
    stop_reason: str  # "stop" | "max_tokens" | "model_length"
    input_tokens: int
    output_tokens: int
    queue_seconds: float  # submitted -> prefill started
    prefill_seconds: float
    decode_seconds: float  # first token -> last token
    latency_seconds: float  # submitted -> done
    mean_batch: float  # mean number of rows in the decode steps this request took part in
    grammar: bool = False

    @property
    def tokens_per_second(self) -> float | None:
        """This request's own rate: its tokens over its prefill + decode time (not the batch's rate)."""
        busy = self.prefill_seconds + self.decode_seconds
        return self.output_tokens / busy if busy > 0 else None


@dataclass
class _Row:
    request: Request
    generator: Any
    length: int  # tokens in this row's cache (prompt + generated tokens already fed)
    tokens: list[int] = field(default_factory=list)  # generated
    started: float = 0.0
    first_token: float = 0.0
    batch_sum: int = 0
    steps: int = 0


class LlamaRunner:
    """Forward passes over a loaded HF Llama-family model's weights, with a KV cache of per-request rows."""

    def __init__(self, model: Any, torch: Any) -> None:
        cfg = model.config
        if getattr(cfg, "model_type", None) not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedModel(
                f"the embedded engine runs {', '.join(SUPPORTED_MODEL_TYPES)} models, not {cfg.model_type!r}; "
                "serve it with vLLM (models/vllm_cpu_smollm2.yaml shows how)"
            )
        rope = getattr(cfg, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default" or getattr(cfg, "sliding_window", None):
            raise UnsupportedModel(f"the embedded engine supports default RoPE without sliding window, got {rope}")
        self.torch = torch
        self.F = torch.nn.functional
        inner = model.model
        self.dtype = inner.embed_tokens.weight.dtype
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.embed = inner.embed_tokens.weight.detach()
        self.layers = []
        for layer in inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            wqkv = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).detach().contiguous()
            bias = None
            if att.q_proj.bias is not None:
                bias = torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]).detach().contiguous()
            wgu = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach().contiguous()
            self.layers.append((
                layer.input_layernorm.weight.detach(), wqkv, bias, att.o_proj.weight.detach(),
                layer.post_attention_layernorm.weight.detach(), wgu, mlp.down_proj.weight.detach(),
            ))  # fmt: skip
        self.intermediate = self.layers[0][5].shape[0] // 2
        self.norm = inner.norm.weight.detach()
        self.lm_head = model.lm_head.weight.detach()
        self.vocab_size = self.lm_head.shape[0]
        self.context_window = int(getattr(cfg, "max_position_embeddings", 8192))
        rot = inner.rotary_emb  # transformers' own inv_freq and scaling: the same tables generate() uses
        positions = torch.arange(self.context_window, dtype=torch.float32)
        freqs = torch.outer(positions, rot.inv_freq.float())
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos = (emb.cos() * rot.attention_scaling).to(self.dtype)
        self.sin = (emb.sin() * rot.attention_scaling).to(self.dtype)
        self.k_cache = self.v_cache = None
        self.rows_cap = self.len_cap = 0

    # --- cache -------------------------------------------------------------------------------------------
    def ensure_cache(self, rows: int, length: int) -> None:
        """Room for `rows` rows of `length` positions (grows by doubling; new space is zeroed: masked keys must
        not hold NaN garbage, 0 * NaN would leak through the softmax)."""
        torch = self.torch
        if self.k_cache is not None and rows <= self.rows_cap and length <= self.len_cap:
            return
        new_rows = max(rows, self.rows_cap, 1)
        new_len = max(length, self.len_cap)
        if self.k_cache is not None and length > self.len_cap:
            new_len = max(new_len, 2 * self.len_cap)
        new_len = min(self.context_window, CACHE_GROWTH * math.ceil(new_len / CACHE_GROWTH))
        shape = (len(self.layers), new_rows, self.kv_heads, new_len, self.head_dim)
        k, v = torch.zeros(shape, dtype=self.dtype), torch.zeros(shape, dtype=self.dtype)
        if self.k_cache is not None:
            k[:, : self.rows_cap, :, : self.len_cap] = self.k_cache
            v[:, : self.rows_cap, :, : self.len_cap] = self.v_cache
        self.k_cache, self.v_cache, self.rows_cap, self.len_cap = k, v, new_rows, new_len

    def release_cache(self) -> None:
        self.k_cache = self.v_cache = None
        self.rows_cap = self.len_cap = 0

    def move_row(self, src: int, dst: int, length: int) -> None:
        self.k_cache[:, dst, :, :length] = self.k_cache[:, src, :, :length]
        self.v_cache[:, dst, :, :length] = self.v_cache[:, src, :, :length]

    # --- forward -----------------------------------------------------------------------------------------
    def _rms(self, x: Any, weight: Any) -> Any:
        h = x.float()  # transformers' LlamaRMSNorm: fp32 statistics, cast back before the weight
        h = h * self.torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * h.to(x.dtype)

    @staticmethod
    def _rope(x: Any, cos: Any, sin: Any) -> Any:
        half = x.shape[-1] // 2
        rotated = x.new_empty(x.shape)
        rotated[..., :half] = -x[..., half:]
        rotated[..., half:] = x[..., :half]
        return x * cos + rotated * sin

    def prefill(self, ids: list[int], row: int) -> Any:
        """Run one prompt, write its keys/values into cache row `row` at 0..len-1; fp32 logits of its last token."""
        torch, F = self.torch, self.F
        s, hd, nh, nkv = len(ids), self.head_dim, self.heads, self.kv_heads
        x = self.embed[torch.tensor(ids)].unsqueeze(0)  # [1, s, H]
        cos, sin = self.cos[:s][None, None], self.sin[:s][None, None]
        for li, (ln1, wqkv, bqkv, wo, ln2, wgu, wd) in enumerate(self.layers):
            qkv = F.linear(self._rms(x, ln1), wqkv, bqkv)
            q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            q = self._rope(q.view(1, s, nh, hd).transpose(1, 2), cos, sin)
            k = self._rope(k.view(1, s, nkv, hd).transpose(1, 2), cos, sin)
            v = v.view(1, s, nkv, hd).transpose(1, 2)
            self.k_cache[li, row, :, :s] = k[0]
            self.v_cache[li, row, :, :s] = v[0]
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + F.linear(att.transpose(1, 2).reshape(1, s, nh * hd), wo)
            gu = F.linear(self._rms(x, ln2), wgu)
            x = x + F.linear(F.silu(gu[..., : self.intermediate]) * gu[..., self.intermediate :], wd)
        return F.linear(self._rms(x[:, -1], self.norm), self.lm_head)[0].float()

    def decode(self, tokens: list[int], lengths: list[int]) -> Any:
        """One step for rows 0..n-1: row i feeds tokens[i] at position lengths[i]; fp32 logits [n, vocab]."""
        torch, F = self.torch, self.F
        n, hd, nh, nkv = len(tokens), self.head_dim, self.heads, self.kv_heads
        pos = torch.tensor(lengths)
        # flat index of (row i, kv head h, position pos[i]) in a layer's [rows_cap * kv_heads * len_cap, hd] view
        slots = ((torch.arange(n)[:, None] * nkv + torch.arange(nkv)[None, :]) * self.len_cap + pos[:, None]).reshape(-1)
        groups = self._attention_groups(lengths)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # [n, 1, hd]
        x = self.embed[torch.tensor(tokens)]  # [n, H]
        for li, (ln1, wqkv, bqkv, wo, ln2, wgu, wd) in enumerate(self.layers):
            qkv = F.linear(self._rms(x, ln1), wqkv, bqkv)
            q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            q = self._rope(q.view(n, nh, hd), cos, sin)
            k = self._rope(k.view(n, nkv, hd), cos, sin)
            kc, vc = self.k_cache[li], self.v_cache[li]
            # each row's new key/value at its own position: one index_copy_ into the flattened layer cache
            kc.view(-1, hd).index_copy_(0, slots, k.reshape(n * nkv, hd))
            vc.view(-1, hd).index_copy_(0, slots, v.reshape(n * nkv, hd))
            # grouped-query attention without repeating K/V: a kv head's query heads become its "query positions"
            q = q.view(n, nkv, nh // nkv, hd)
            att = torch.cat([F.scaled_dot_product_attention(q[a:b], kc[a:b, :, :width], vc[a:b, :, :width],
                                                            attn_mask=mask) for a, b, width, mask in groups])
            x = x + F.linear(att.reshape(n, nh * hd), wo)
            gate, up = F.linear(self._rms(x, ln2), wgu).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate.contiguous()).mul_(up), wd)
        return F.linear(self._rms(x, self.norm), self.lm_head).float()


    def _attention_groups(self, lengths: list[int]) -> list[tuple[int, int, int, Any]]:
        """Split rows 0..n-1 into runs of neighbouring slots, each attended in one call over its own longest span.

        One padded call for all rows reads every row's keys up to the longest row's position (prompts of 150-800
        tokens side by side: 2-3x the keys that matter); one call per row pays a call's overhead per row and layer.
        A dynamic programme picks the runs that minimise (calls x ATTENTION_CALL_COST + padded positions); a run
        whose rows all have the same length needs no mask. Returns (first row, end row, span, mask or None)."""
        torch = self.torch
        spans = [p + 1 for p in lengths]
        n = len(spans)
        best, cut = [0.0] + [math.inf] * n, [0] * (n + 1)
        for b in range(1, n + 1):
            widest = 0
            for a in range(b - 1, -1, -1):
                widest = max(widest, spans[a])
                cost = best[a] + ATTENTION_CALL_COST + (b - a) * widest
                if cost < best[b]:
                    best[b], cut[b] = cost, a
        groups, b = [], n
        while b > 0:
            a = cut[b]
            width = max(spans[a:b])
            mask = None
            if min(spans[a:b]) != width:
                mask = (torch.arange(width)[None, :] < torch.tensor(spans[a:b])[:, None])[:, None, None, :]
            groups.append((a, b, width, mask))
            b = a
        return groups[::-1]


class Engine:
    """One loaded model and its continuous batch, driven by the worker process's main thread (`serve`)."""

    def __init__(self, model_path: str, dtype: str = "bfloat16", max_batch: int = 32, threads: int | None = None,
                 on_done: Any = None) -> None:  # fmt: skip
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        if threads is not None:
            torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        model.eval()
        self.runner = LlamaRunner(model, torch)
        self.dtype = dtype
        self.context_window = self.runner.context_window
        self.end_ids = end_token_ids(self.tokenizer, model.generation_config)
        self.max_batch = max_batch
        self.on_done = on_done or (lambda request, result, error: None)
        self._grammars = None
        self.pending: collections.deque[Request] = collections.deque()
        self.rows: list[_Row] = []
        # where the engine's time goes (benchmarks/engine_bench.py reports it): seconds per phase, counts
        self.stats = dict.fromkeys(("prefill_s", "forward_s", "select_s", "accept_s"), 0.0)
        self.stats.update(steps=0, row_steps=0, prefills=0, prefill_tokens=0, masked_rows=0)

    @property
    def grammars(self) -> Any:
        """models.grammar.JsonGrammars for this tokenizer, built on first use (imports xgrammar)."""
        if self._grammars is None:
            from models.grammar import JsonGrammars

            self._grammars = JsonGrammars(self.tokenizer, self.runner.vocab_size)
        return self._grammars

    def iterate(self) -> None:
        """Admit what fits, then one decode step; on failure the requests in flight get the error."""
        torch = self.torch
        with torch.inference_mode():
            try:
                self._admit()
                if self.rows:
                    self._step()
            except Exception as err:  # fail the requests in flight, keep serving the next ones
                LOGGER.exception("embedded engine step failed")
                for row in self.rows:
                    self.on_done(row.request, None, err)
                self.rows = []
                self.runner.release_cache()

    def _admit(self) -> None:
        while self.pending and len(self.rows) < self.max_batch:
            request = self.pending.popleft()
            try:
                self._prefill(request)
            except Exception as err:
                self.on_done(request, None, err)

    def _prefill(self, request: Request) -> None:
        torch = self.torch
        started = time.monotonic()
        generator = torch.Generator()
        if request.seed is not None:
            generator.manual_seed(int(request.seed))
        else:
            generator.seed()
        if request.schema is not None and request.matcher is None:
            request.matcher = self.grammars.matcher(request.schema, request.strict)
        row = _Row(request, generator, len(request.prompt_ids), started=started)
        slot = len(self.rows)
        self.runner.ensure_cache(slot + 1, row.length + request.max_new_tokens)
        logits = self.runner.prefill(request.prompt_ids, slot)
        self.rows.append(row)
        row.first_token = time.monotonic()
        self.stats["prefill_s"] += row.first_token - started
        self.stats["prefills"] += 1
        self.stats["prefill_tokens"] += len(request.prompt_ids)
        token = self._select(logits[None], [row])[0]
        self._accept([(row, token)])

    def _step(self) -> None:
        if PROFILE_PATH and self.stats["steps"] == PROFILE_AFTER_STEPS:
            self._profiled_steps()
            if not self.rows:
                return
        rows, stats = self.rows, self.stats
        n = len(rows)
        t0 = time.perf_counter()
        self.runner.ensure_cache(n, max(r.length for r in rows))
        logits = self.runner.decode([r.tokens[-1] for r in rows], [r.length - 1 for r in rows])
        t1 = time.perf_counter()
        for r in rows:
            r.batch_sum += n
            r.steps += 1
        tokens = self._select(logits, rows)
        t2 = time.perf_counter()
        self._accept(list(zip(rows, tokens, strict=True)))
        stats["forward_s"] += t1 - t0
        stats["select_s"] += t2 - t1
        stats["accept_s"] += time.perf_counter() - t2
        stats["steps"] += 1
        stats["row_steps"] += n

    def _profiled_steps(self) -> None:
        """K2BENCH_ENGINE_PROFILE=<file>: torch.profiler over PROFILE_STEPS decode steps, table written to <file>."""
        from torch.profiler import ProfilerActivity, profile

        self.stats["steps"] += 1  # not again
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(PROFILE_STEPS):
                if not self.rows:
                    break
                self._step()
        table = prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25)
        Path(PROFILE_PATH).write_text(f"rows {len(self.rows)}\n{table}\n")

    # --- sampling ----------------------------------------------------------------------------------------
    def _select(self, logits: Any, rows: list[_Row]) -> list[int]:
        """Next token per row: grammar mask, then greedy or temperature -> top-k -> top-p -> the row's generator."""
        torch = self.torch
        constrained = [i for i, r in enumerate(rows) if r.request.matcher is not None]
        if constrained:
            grammars = self.grammars
            bitmask = grammars.allocate_bitmask(len(rows))
            for i in constrained:
                rows[i].request.matcher.fill_next_token_bitmask(bitmask, i)
            grammars.apply(logits, bitmask, constrained)
            self.stats["masked_rows"] += len(constrained)
        out = logits.argmax(dim=-1).tolist()  # greedy rows keep this (first maximum, as generate() does)
        sampled = [i for i, r in enumerate(rows) if r.request.temperature > 0]
        if not sampled:
            return out
        reqs = [rows[i].request for i in sampled]
        temps = torch.tensor([q.temperature for q in reqs], dtype=torch.float32)
        # in place when every row samples (the greedy choices above are already taken): no [rows, vocab] copies
        scaled = (logits if len(sampled) == len(rows) else logits[sampled]).div_(temps[:, None])
        lse = torch.logsumexp(scaled, dim=-1, keepdim=True)  # the softmax's normaliser, without writing it out
        k0 = min(TOP_P_CANDIDATES, scaled.shape[-1])
        cand_l, cand_i = scaled.topk(k0, dim=-1)  # sorted, descending
        cand_p = (cand_l - lse).exp()
        top_k = torch.tensor([q.top_k if 0 < q.top_k <= k0 else k0 for q in reqs])
        p = cand_p * (torch.arange(k0)[None, :] < top_k[:, None])
        has_k = torch.tensor([0 < q.top_k <= k0 for q in reqs])
        p = torch.where(has_k[:, None], p / p.sum(-1, keepdim=True), p)  # top-p sees the renormalised top-k
        top_p = torch.tensor([q.top_p for q in reqs], dtype=torch.float32)
        # transformers' TopPLogitsWarper: drop tokens whose mass above them already reaches top_p (keep the first)
        keep = (torch.cumsum(p, -1) - p) < top_p[:, None]
        keep[:, 0] = True
        cdf = torch.cumsum(p * keep, -1)
        # the candidates hold the whole nucleus unless: top-k wider than them, or less than top_p mass in them, or
        # plain temperature sampling (top_p 1, no top-k): those rows sample from the full sorted distribution
        wide_k = torch.tensor([q.top_k > k0 for q in reqs])
        exact = (has_k | (cand_p.sum(-1) >= top_p)) & ~((top_p >= 1.0) & ~has_k) & ~wide_k
        u = torch.cat([torch.rand(1, generator=rows[i].generator) for i in sampled])  # one draw per request
        choice = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=k0 - 1)[:, 0]
        picked = cand_i.gather(1, choice[:, None])[:, 0].tolist()
        for j, i in enumerate(sampled):
            if bool(exact[j]):
                out[i] = picked[j]
                continue
            q = reqs[j]
            if q.top_k == 0 and q.top_p >= 1.0:  # plain temperature sampling: the whole vocabulary, unsorted
                fcdf = torch.cumsum((scaled[j] - lse[j]).exp(), 0)
                at = torch.searchsorted(fcdf, u[j : j + 1] * fcdf[-1], right=True).clamp_(max=len(fcdf) - 1)
                out[i] = int(at)
                continue
            fp, fi = (scaled[j] - lse[j]).exp().sort(descending=True)
            if q.top_k > 0:
                fp = fp[: q.top_k] / fp[: q.top_k].sum()
            if q.top_p < 1.0:
                fp = fp * ((torch.cumsum(fp, 0) - fp) < q.top_p).index_fill_(0, torch.tensor([0]), True)
            fcdf = torch.cumsum(fp, 0)
            at = int(torch.searchsorted(fcdf, u[j : j + 1] * fcdf[-1], right=True).clamp_(max=len(fcdf) - 1))
            out[i] = int(fi[at])
        return out

    # --- bookkeeping -------------------------------------------------------------------------------------
    def _accept(self, picks: list[tuple[_Row, int]]) -> None:
        finished = []
        for row, token in picks:
            req = row.request
            row.tokens.append(token)
            row.length += 1
            reason = None
            if req.matcher is not None:
                if not req.matcher.accept_token(token):
                    raise RuntimeError(f"grammar rejected token {token} that its own mask allowed")
                if req.matcher.is_terminated():
                    reason = "stop"
            if reason is None and token in self.end_ids:
                reason = "stop"
            if reason is None and req.stop_seqs and self._hit_stop(row):
                reason = "stop"
            if reason is None and len(row.tokens) >= req.max_new_tokens:
                reason = req.cap_reason
            if reason is None and row.length >= self.context_window:
                reason = "model_length"
            if reason is not None:
                finished.append((row, reason))
        for row, reason in finished:
            self._finish(row, reason)

    def _hit_stop(self, row: _Row) -> bool:
        # a stop string of b bytes ends within the last b tokens (each non-special token is >= 1 byte)
        window = max(len(s.encode()) for s in row.request.stop_seqs) + 1
        tail = self.tokenizer.decode(row.tokens[-window:], skip_special_tokens=True)
        return any(s in tail for s in row.request.stop_seqs)

    def _finish(self, row: _Row, reason: str) -> None:
        req = row.request
        tokens = row.tokens
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((p for p in (text.find(s) for s in req.stop_seqs) if p >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]  # servers strip the stop string; so do we
        done = time.monotonic()
        result = Result(
            text=text, stop_reason=reason, input_tokens=len(req.prompt_ids), output_tokens=len(tokens),
            queue_seconds=row.started - req.submitted, prefill_seconds=row.first_token - row.started,
            decode_seconds=done - row.first_token, latency_seconds=done - req.submitted,
            mean_batch=row.batch_sum / row.steps if row.steps else 1.0, grammar=req.matcher is not None,
        )  # fmt: skip
        slot = self.rows.index(row)
        last = len(self.rows) - 1
        if slot != last:  # keep rows 0..n-1 dense: the last row moves into the freed slot
            moved = self.rows[last]
            self.runner.move_row(last, slot, moved.length)
            self.rows[slot] = moved
        self.rows.pop()
        self.on_done(req, result, None)


# --- the worker process and its client ----------------------------------------------------------------------
# Why a process: torch's OpenMP kernels run ~40% slower when launched from a second Python thread than from a
# process's main thread on this machine (measured: 28 vs 40 ms per single-row step, 36 vs 51 ms at 8 rows), and an
# engine thread shares the GIL with inspect's event loop, scoring and logging. The worker's main thread owns the
# model; the parent only tokenizes and exchanges small pickled messages over a socket pair.


def serve(fd: int, model_path: str, dtype: str, max_batch: int, threads: int | None) -> int:
    """Worker main loop: requests in, results out over the connection on `fd`; exits when the parent goes away."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)

    def done(request: Request, result: Result | None, error: BaseException | None) -> None:
        if error is not None:
            conn.send(("err", request.id, f"{type(error).__name__}: {error}", dict(engine.stats)))
        else:
            conn.send(("ok", request.id, result, dict(engine.stats)))

    try:
        engine = Engine(model_path, dtype=dtype, max_batch=max_batch, threads=threads, on_done=done)
    except Exception as err:
        conn.send(("fatal", 0, f"{type(err).__name__}: {err}", {}))
        return 1
    conn.send(("ready", 0, {"context_window": engine.context_window, "vocab_size": engine.runner.vocab_size,
                            "threads": engine.torch.get_num_threads()}, dict(engine.stats)))  # fmt: skip
    while True:
        idle = not engine.rows and not engine.pending
        try:
            if idle and not conn.poll(IDLE_RELEASE_S):
                engine.runner.release_cache()  # idle for a while: give the KV cache's memory back
            while conn.poll(None if idle else 0):
                kind, payload = conn.recv()
                if kind == "request":
                    engine.pending.append(payload)
                elif kind == "threads":
                    engine.torch.set_num_threads(int(payload))
                idle = False
        except (EOFError, OSError):
            return 0  # the parent closed its end or died
        engine.iterate()


class EngineProcess:
    """Parent side: starts the worker (`python -m models.engine`), tokenizes, and resolves one future per request."""

    def __init__(self, model_path: str, dtype: str = "bfloat16", max_batch: int = 32, threads: int | None = None) -> None:
        from multiprocessing.connection import Connection

        from transformers import AutoTokenizer

        self.model_path, self.dtype, self.max_batch, self.threads = str(model_path), dtype, max_batch, threads
        parent_sock, child_sock = socket.socketpair()
        cmd = [sys.executable, "-m", "models.engine", "--fd", str(child_sock.fileno()), "--model-path",
               self.model_path, "--dtype", dtype, "--max-batch", str(max_batch)]  # fmt: skip
        if threads is not None:
            cmd += ["--threads", str(threads)]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])  # the `models` package this process imported
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_VERBOSITY", "error")
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.process = subprocess.Popen(cmd, pass_fds=[child_sock.fileno()], env=env, stdout=subprocess.DEVNULL)
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)  # while the worker loads the model
        self._send_lock = threading.Lock()
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._ids = itertools.count(1)
        self.stats: dict[str, float] = {}
        if not self.conn.poll(READY_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"the embedded engine did not load {model_path} within {READY_TIMEOUT_S} s")
        try:
            kind, _, info, _ = self.conn.recv()
        except EOFError:
            kind, info = "fatal", f"the worker exited with code {self.process.wait()} (its stderr says why)"
        if kind != "ready":
            self.close()
            raise RuntimeError(f"the embedded engine could not load {model_path}: {info}")
        self.context_window = int(info["context_window"])
        self.vocab_size = int(info["vocab_size"])
        self.worker_threads = int(info["threads"])
        self._closed = False
        threading.Thread(target=self._read, name="k2bench-engine-reader", daemon=True).start()
        atexit.register(self.close)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return self.tokenizer(self.chat_prompt(messages), add_special_tokens=False)["input_ids"]

    def submit(self, request: Request) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        request.id = next(self._ids)
        self._futures[request.id] = future
        with self._send_lock:
            try:
                self.conn.send(("request", request))
            except OSError as err:
                self._futures.pop(request.id, None)
                future.set_exception(RuntimeError(f"the embedded engine process is gone ({err})"))
        return future

    def set_threads(self, threads: int) -> None:
        """Change the worker's torch threads (benchmarks/engine_bench.py's thread study)."""
        with self._send_lock:
            self.conn.send(("threads", threads))

    def _read(self) -> None:
        while True:
            try:
                kind, rid, payload, stats = self.conn.recv()
            except (EOFError, OSError):
                break
            self.stats = stats
            future = self._futures.pop(rid, None)
            if future is None or future.done():
                continue
            if kind == "ok":
                future.set_result(payload)
            else:
                future.set_exception(RuntimeError(f"embedded engine: {payload}"))
        code = self.process.poll()
        for future in list(self._futures.values()):  # the worker died: nobody waits forever
            if not future.done():
                future.set_exception(RuntimeError(f"the embedded engine process exited (code {code})"))
        self._futures.clear()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)  # it exits on EOF
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="k2bench embedded engine worker (started by EngineProcess)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    return serve(args.fd, args.model_path, args.dtype, args.max_batch, args.threads)


if __name__ == "__main__":
    # run the imported module's main, not this __main__ copy: results must pickle as models.engine.Result
    from models.engine import main as _main

    sys.exit(_main())
