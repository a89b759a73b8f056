"""The embedded engine's decode loop: continuous (iteration-level) batching of a Llama-family model on CPU.

Used by models/embedded.py (the inspect provider `k2bench/...`); issue 17 ("a faster embedded engine"). A worker
process owns the model. Every step is one forward over the running batch: one token for each decoding request plus
a chunk of the prompts of requests that have just joined (chunked prefill, as vLLM schedules it), so a prompt is
prefilled in large matrix products beside the decode rows instead of alone while they wait. A request leaves the
batch the step it ends, so each answer returns as soon as it is done instead of when the slowest of a static batch is.

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
at positions 0..len-1 (no padding inside a row). A step writes each new key at its row's position; decode rows
attend over positions <= their own (grouped calls, see _attention_groups), a prompt chunk attends causally over its
row. A finished row is replaced by the last row (one row copied), so the rows in use are always 0..n-1. Rows and
capacity grow by doubling (a burst of joining requests costs one reallocation, not one per request).

Prefix cache (vLLM's automatic prefix caching, on a fixed pool): the keys/values of every prompt's full blocks of
PREFIX_BLOCK tokens are kept, keyed by the block's tokens and everything before it, least recently used evicted
first. A request whose prompt starts with cached blocks copies them into its row and prefills only the rest (the
shared system prompt; every epoch or best-of-N sample of one question after the first).

Decoding semantics per request: temperature (0 = greedy), top-k then top-p (transformers' warper order and
rules), its own torch.Generator (seeded from the request's seed, else random; one draw per generated token), stop
strings (generation ends when one appears; the text is cut before it, as servers do), end-of-turn tokens, an
optional JSON grammar (models/grammar.py), and a token budget (the provider's effective cap, bounded by the context
window).
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
# cost of one more decode attention call, in key positions read (see _attention_groups; measured in
# benchmarks/engine_bench.py's profile notes)
ATTENTION_CALL_COST = 150
# prompt tokens prefilled per step beside the decode rows: large enough for efficient matrix products, small enough
# that the running requests wait at most ~1 s for a burst of joining prompts
PREFILL_CHUNK = 2048
PREFIX_BLOCK = 16  # tokens per prefix-cache block (vLLM's default block size)
PREFIX_CACHE_MB = 256  # prefix-cache pool (bf16 SmolLM2: ~23 KB per token, ~11k tokens); 0 turns it off


PROFILE_PATH = os.environ.get("K2BENCH_ENGINE_PROFILE")  # benchmarks: where a decode-step profile goes
PROFILE_AFTER_STEPS = int(os.environ.get("K2BENCH_ENGINE_PROFILE_AFTER", "40"))  # decode steps before profiling
PROFILE_STEPS = 20
IDLE_RELEASE_S = 10  # the worker frees its KV cache after this long without work (the prefix pool stays)
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
    cached_tokens: int = 0  # prompt tokens taken from the prefix cache instead of computed

    @property
    def tokens_per_second(self) -> float | None:
        """This request's own rate: its tokens over its prefill + decode time (not the batch's rate)."""
        busy = self.prefill_seconds + self.decode_seconds
        return self.output_tokens / busy if busy > 0 else None


@dataclass
class _Row:
    request: Request
    generator: Any
    order: int  # admission order: prompts are prefilled first come, first served
    slot: int = 0  # its row in the KV cache
    filled: int = 0  # prompt tokens in the cache so far (prefilling while < len(prompt))
    length: int = 0  # decoding: tokens in the cache + the one to feed next (prompt + generated)
    tokens: list[int] = field(default_factory=list)  # generated
    cached: int = 0  # prompt tokens copied from the prefix cache
    started: float = 0.0
    first_token: float = 0.0
    batch_sum: int = 0
    steps: int = 0

    @property
    def prefilling(self) -> bool:
        return self.filled < len(self.request.prompt_ids)

    @property
    def in_cache(self) -> int:
        """Positions of this row's cache that hold keys (what moving the row must copy)."""
        return self.filled if self.prefilling else self.length


class PrefixCache:
    """Keys/values of prompt blocks already computed, reusable by any later prompt that starts with the same tokens.

    A block is keyed by (its parent block's id, its PREFIX_BLOCK tokens): equal keys mean equal token prefixes, so a
    match is exact (dict equality, no hash collisions). Ids are never reused, so the children of an evicted block
    can no longer be reached and age out. Blocks live in one pool tensor per K and V, [layers, blocks, kv_heads,
    PREFIX_BLOCK, head_dim], allocated empty (memory is touched only as blocks are written); when it is full the
    least recently used block goes (a matched chain is touched leaf first, so parents outlive their children).
    """

    def __init__(self, runner: LlamaRunner, max_mb: float) -> None:
        self.runner = runner
        per_block = 2 * len(runner.layers) * runner.kv_heads * PREFIX_BLOCK * runner.head_dim * runner.embed.element_size()
        self.capacity = int(max_mb * 2**20) // per_block
        self.k = self.v = None
        self.entries: collections.OrderedDict[tuple[int, tuple[int, ...]], tuple[int, int]] = collections.OrderedDict()
        self.free = list(range(self.capacity - 1, -1, -1))
        self._ids = itertools.count(1)

    def _chain(self, ids: list[int], blocks: int) -> list[tuple[tuple[int, tuple[int, ...]], tuple[int, int] | None]]:
        """(key, entry or None) for blocks 0..blocks-1 of `ids`, up to the first block not cached."""
        out, parent = [], 0
        for j in range(blocks):
            key = (parent, tuple(ids[j * PREFIX_BLOCK : (j + 1) * PREFIX_BLOCK]))
            entry = self.entries.get(key)
            out.append((key, entry))
            if entry is None:
                break
            parent = entry[0]
        return out

    def _touch(self, keys: list[tuple[int, tuple[int, ...]]]) -> None:
        for key in reversed(keys):  # leaf first: the root ends most recent
            if key in self.entries:
                self.entries.move_to_end(key)

    def load(self, ids: list[int], slot: int) -> int:
        """Copy the longest cached prefix of `ids` (leaving >= 1 token to compute) into cache row `slot`; its length."""
        if not self.capacity or self.k is None:
            return 0
        chain = [(key, e) for key, e in self._chain(ids, (len(ids) - 1) // PREFIX_BLOCK) if e is not None]
        if not chain:
            return 0
        self._touch([key for key, _ in chain])
        torch, r = self.runner.torch, self.runner
        n = len(chain) * PREFIX_BLOCK
        index = torch.tensor([e[1] for _, e in chain])
        for pool, cache in ((self.k, r.k_cache), (self.v, r.v_cache)):
            cache[:, slot, :, :n].unflatten(2, (len(chain), PREFIX_BLOCK)).copy_(pool[:, index].transpose(1, 2))
        return n

    def store(self, ids: list[int], slot: int) -> None:
        """Keep the full blocks of prompt `ids`, whose keys/values are in cache row `slot`, that are not cached yet."""
        if not self.capacity:
            return
        torch, r = self.runner.torch, self.runner
        # at most the pool's size: a longer prompt would evict blocks written by this very call, two new blocks
        # would share one pool index and index_copy_ would keep either (a later prompt would read wrong keys)
        blocks = min(len(ids) // PREFIX_BLOCK, self.capacity)
        if self.k is None:
            shape = (len(r.layers), self.capacity, r.kv_heads, PREFIX_BLOCK, r.head_dim)
            self.k, self.v = torch.empty(shape, dtype=r.dtype), torch.empty(shape, dtype=r.dtype)
        keys, new, parent = [], [], 0
        for j in range(blocks):
            key = (parent, tuple(ids[j * PREFIX_BLOCK : (j + 1) * PREFIX_BLOCK]))
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)  # this chain's blocks are not evicted by its own new blocks
            else:
                if not self.free:
                    self.free.append(self.entries.popitem(last=False)[1][1])
                entry = (next(self._ids), self.free.pop())
                self.entries[key] = entry
                new.append((j, entry[1]))
            keys.append(key)
            parent = entry[0]
        self._touch(keys)
        if not new:
            return
        src_index = torch.tensor([j for j, _ in new])
        dst_index = torch.tensor([b for _, b in new])
        for pool, cache in ((self.k, r.k_cache), (self.v, r.v_cache)):
            rows = cache[:, slot, :, : blocks * PREFIX_BLOCK].unflatten(2, (blocks, PREFIX_BLOCK))
            pool.index_copy_(1, dst_index, rows[:, :, src_index].transpose(1, 2))

    def clear(self) -> None:
        self.entries.clear()
        self.free = list(range(self.capacity - 1, -1, -1))
        self.k = self.v = None


class LlamaRunner:
    """Forward passes over a loaded HF Llama-family model's weights, with a KV cache of per-request rows."""

    def __init__(self, model: Any, torch: Any, max_rows: int = 32) -> None:
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
        self.max_rows = max_rows
        self.k_cache = self.v_cache = None
        self.rows_cap = self.len_cap = 0

    # --- cache -------------------------------------------------------------------------------------------
    def ensure_cache(self, rows: int, length: int) -> bool:
        """Room for `rows` rows of `length` positions; True when it had to grow.

        Both dimensions grow by doubling (rows up to max_rows), so requests joining one by one cost O(log n)
        reallocations, not one copy of the whole cache each. New space is zeroed: masked keys must not hold NaN
        garbage, 0 * NaN would leak through the softmax."""
        torch = self.torch
        length = min(length, self.context_window)
        if self.k_cache is not None and rows <= self.rows_cap and length <= self.len_cap:
            return False
        new_rows = max(rows, self.rows_cap, 1)
        if self.k_cache is not None and rows > self.rows_cap:
            new_rows = max(new_rows, min(2 * self.rows_cap, max(self.max_rows, rows)))
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
        return True

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

    def forward(self, decode: list[tuple[int, int, int]], chunks: list[tuple[int, list[int], int]],
                want: list[int]) -> Any:  # fmt: skip
        """One step: fp32 logits [len(want), vocab] of the step's tokens at positions `want`.

        decode: (slot, token, position) per decoding row, in slot order; chunks: (slot, prompt tokens, position of
        the first) per prompt chunk. The step's tokens are the decode tokens, then each chunk's; every linear layer
        runs once over all of them, attention runs per decode group and per chunk."""
        torch, F = self.torch, self.F
        hd, nh, nkv = self.head_dim, self.heads, self.kv_heads
        n = len(decode)
        tokens = [t for _, t, _ in decode] + [t for _, ids, _ in chunks for t in ids]
        positions = [p for _, _, p in decode] + [p + i for _, ids, p in chunks for i in range(len(ids))]
        slots = [s for s, _, _ in decode] + [s for s, ids, _ in chunks for _ in ids]
        size = len(tokens)
        pos = torch.tensor(positions)
        # flat index of (row, kv head h, position) in a layer's [rows_cap * kv_heads * len_cap, hd] view
        where = ((torch.tensor(slots)[:, None] * nkv + torch.arange(nkv)[None, :]) * self.len_cap + pos[:, None])
        where = where.reshape(-1)
        groups = self._attention_groups([s for s, _, _ in decode], [p + 1 for _, _, p in decode])
        spans, start = [], n
        for slot, ids, first in chunks:
            mask = None  # a prompt from its start: plain causal attention over its own fresh keys
            if first:  # a later chunk (or after a cached prefix): causal over the row's cached keys too
                mask = torch.arange(first + len(ids))[None, :] <= torch.arange(first, first + len(ids))[:, None]
            spans.append((start, start + len(ids), slot, first, mask))
            start += len(ids)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # [size, 1, hd]
        x = self.embed[torch.tensor(tokens)]  # [size, H]
        for li, (ln1, wqkv, bqkv, wo, ln2, wgu, wd) in enumerate(self.layers):
            qkv = F.linear(self._rms(x, ln1), wqkv, bqkv)
            q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            q = self._rope(q.view(size, nh, hd), cos, sin)
            k = self._rope(k.view(size, nkv, hd), cos, sin)
            v = v.view(size, nkv, hd)
            kc, vc = self.k_cache[li], self.v_cache[li]
            # each token's key/value at its row and position: one index_copy_ into the flattened layer cache
            kc.view(-1, hd).index_copy_(0, where, k.reshape(size * nkv, hd))
            vc.view(-1, hd).index_copy_(0, where, v.reshape(size * nkv, hd))
            parts = []
            if n:
                # grouped-query attention without repeating K/V: a kv head's query heads become its "query positions"
                qd = q[:n].view(n, nkv, nh // nkv, hd)
                parts += [F.scaled_dot_product_attention(qd[a:b], kc[s : s + b - a, :, :width],
                                                         vc[s : s + b - a, :, :width], attn_mask=mask
                                                         ).reshape(b - a, nh * hd)
                          for a, b, s, width, mask in groups]  # fmt: skip
            for a, b, slot, first, mask in spans:
                qc = q[a:b].transpose(0, 1)[None]  # [1, nh, len, hd]
                if mask is None:
                    kk, vv = k[a:b].transpose(0, 1)[None], v[a:b].transpose(0, 1)[None]
                else:
                    kk, vv = kc[slot, :, : first + b - a][None], vc[slot, :, : first + b - a][None]
                att = F.scaled_dot_product_attention(qc, kk, vv, attn_mask=mask, is_causal=mask is None,
                                                     enable_gqa=True)  # fmt: skip
                parts.append(att[0].transpose(0, 1).reshape(b - a, nh * hd))
            x = x + F.linear(torch.cat(parts) if len(parts) > 1 else parts[0], wo)
            gate, up = F.linear(self._rms(x, ln2), wgu).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate.contiguous()).mul_(up), wd)
        if len(want) != size:  # only the tokens whose next token is sampled need the vocabulary projection
            x = x[torch.tensor(want, dtype=torch.long)]
        return F.linear(self._rms(x, self.norm), self.lm_head).float()

    def _attention_groups(self, slots: list[int], spans: list[int]) -> list[tuple[int, int, int, int, Any]]:
        """Split decode rows into runs of neighbouring cache slots, each attended in one call over its longest span.

        One padded call for all rows reads every row's keys up to the longest row's position (prompts of 150-800
        tokens side by side: 2-3x the keys that matter); one call per row pays a call's overhead per row and layer.
        A dynamic programme picks the runs that minimise (calls x ATTENTION_CALL_COST + padded positions); a run
        whose rows all have the same length needs no mask. Rows i..j can share a call only if their slots are
        consecutive (a prefilling row between them breaks the run). Returns (first row, end row, first slot, span,
        mask or None)."""
        torch = self.torch
        n = len(spans)
        best, cut = [0.0] + [math.inf] * n, [0] * (n + 1)
        for b in range(1, n + 1):
            widest = 0
            for a in range(b - 1, -1, -1):
                if slots[b - 1] - slots[a] != b - 1 - a:
                    break
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
            groups.append((a, b, slots[a], width, mask))
            b = a
        return groups[::-1]


class Engine:
    """One loaded model and its continuous batch, driven by the worker process's main thread (`serve`)."""

    def __init__(self, model_path: str, dtype: str = "bfloat16", max_batch: int = 32, threads: int | None = None,
                 on_done: Any = None, prefill_chunk: int = PREFILL_CHUNK,
                 prefix_cache_mb: float = PREFIX_CACHE_MB) -> None:  # fmt: skip
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        if threads is not None:
            torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        model.eval()
        self.runner = LlamaRunner(model, torch, max_rows=max_batch)
        self.prefix_cache = PrefixCache(self.runner, prefix_cache_mb)
        self.dtype = dtype
        self.context_window = self.runner.context_window
        self.end_ids = end_token_ids(self.tokenizer, model.generation_config)
        self.max_batch = max_batch
        self.prefill_chunk = prefill_chunk
        self.on_done = on_done or (lambda request, result, error: None)
        self._grammars = None
        self._order = itertools.count()
        self.pending: collections.deque[Request] = collections.deque()
        self.rows: list[_Row] = []
        # where the engine's time goes (benchmarks/engine_bench.py reports it): seconds per phase, counts.
        # prefill_s: forwards of steps that carry prompt chunks (the decode rows ride along); forward_s: decode-only
        # steps; cache_s: cache growth and prefix-cache copies
        self.stats = dict.fromkeys(("prefill_s", "forward_s", "select_s", "accept_s", "cache_s"), 0.0)
        self.stats.update(steps=0, row_steps=0, prefills=0, prefill_tokens=0, cached_tokens=0, masked_rows=0,
                          cache_grows=0)  # fmt: skip

    @property
    def grammars(self) -> Any:
        """models.grammar.JsonGrammars for this tokenizer, built on first use (imports xgrammar)."""
        if self._grammars is None:
            from models.grammar import JsonGrammars

            self._grammars = JsonGrammars(self.tokenizer, self.runner.vocab_size)
        return self._grammars

    def iterate(self) -> None:
        """Admit what fits, then one step; on failure the requests in flight get the error."""
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
                self.prefix_cache.clear()  # a failed store may have left entries naming unwritten blocks

    def _admit(self) -> None:
        """Give each waiting request a row (up to max_batch); its prompt is prefilled by the next steps."""
        torch = self.torch
        longest = 0
        while self.pending and len(self.rows) < self.max_batch:
            request = self.pending.popleft()
            try:
                # checked here, not in the step: a prompt the step cannot place (no token to sample after, or
                # positions past the RoPE table) would otherwise fail every request sharing that step
                if not 0 < len(request.prompt_ids) <= self.context_window or request.max_new_tokens < 1:
                    raise ValueError(f"prompt of {len(request.prompt_ids)} tokens and max_new_tokens "
                                     f"{request.max_new_tokens}: need 1..{self.context_window} and >= 1")
                if request.schema is not None and request.matcher is None:
                    request.matcher = self.grammars.matcher(request.schema, request.strict)
            except Exception as err:
                self.on_done(request, None, err)
                continue
            generator = torch.Generator()
            if request.seed is not None:
                generator.manual_seed(int(request.seed))
            else:
                generator.seed()
            self.rows.append(_Row(request, generator, next(self._order), slot=len(self.rows)))
            longest = max(longest, len(request.prompt_ids) + request.max_new_tokens)
        if longest:
            t0 = time.perf_counter()
            self.stats["cache_grows"] += self.runner.ensure_cache(len(self.rows), longest)
            self.stats["cache_s"] += time.perf_counter() - t0

    def _plan_chunks(self) -> list[tuple[_Row, int]]:
        """The prompt chunks of this step: prefilling rows first come first served, PREFILL_CHUNK tokens in all."""
        budget, chunks = self.prefill_chunk, []
        for row in sorted((r for r in self.rows if r.prefilling), key=lambda r: r.order):
            if budget <= 0:
                break
            if not row.started:  # its prefill begins: take what the prefix cache holds
                row.started = time.monotonic()
                t0 = time.perf_counter()
                row.cached = row.filled = self.prefix_cache.load(row.request.prompt_ids, row.slot)
                self.stats["cache_s"] += time.perf_counter() - t0
                self.stats["cached_tokens"] += row.cached
            take = min(len(row.request.prompt_ids) - row.filled, budget)
            chunks.append((row, take))
            budget -= take
        return chunks

    def _step(self) -> None:
        if PROFILE_PATH and self.stats["steps"] == PROFILE_AFTER_STEPS:
            self._profiled_steps()
            if not self.rows:
                return
        stats = self.stats
        chunks = self._plan_chunks()
        decoding = sorted((r for r in self.rows if not r.prefilling), key=lambda r: r.slot)
        t0 = time.perf_counter()
        need = max([r.length for r in decoding] + [r.filled + take for r, take in chunks])
        self.stats["cache_grows"] += self.runner.ensure_cache(len(self.rows), need)
        want = list(range(len(decoding)))
        done = []  # rows whose prompt this step completes: their first token is sampled now
        end = len(decoding)
        for row, take in chunks:
            end += take
            if row.filled + take == len(row.request.prompt_ids):
                want.append(end - 1)
                done.append(row)
        logits = self.runner.forward(
            [(r.slot, r.tokens[-1], r.length - 1) for r in decoding],
            [(r.slot, r.request.prompt_ids[r.filled : r.filled + take], r.filled) for r, take in chunks], want)
        t1 = time.perf_counter()
        for row, take in chunks:
            row.filled += take
            stats["prefill_tokens"] += take
        for row in done:
            row.length = len(row.request.prompt_ids)
            row.first_token = time.monotonic()
            stats["prefills"] += 1
        rows = decoding + done
        for r in decoding:
            r.batch_sum += len(rows)
            r.steps += 1
        tokens = self._select(logits, rows)
        t2 = time.perf_counter()
        for row in done:  # after sampling: the prompt's blocks are kept for later requests
            self.prefix_cache.store(row.request.prompt_ids, row.slot)
        t3 = time.perf_counter()
        self._accept(list(zip(rows, tokens, strict=True)))
        stats["prefill_s" if chunks else "forward_s"] += t1 - t0
        stats["select_s"] += t2 - t1
        stats["cache_s"] += t3 - t2
        stats["accept_s"] += time.perf_counter() - t3
        stats["steps"] += 1
        stats["row_steps"] += len(decoding)

    def _profiled_steps(self) -> None:
        """K2BENCH_ENGINE_PROFILE=<file>: torch.profiler over PROFILE_STEPS steps, tables written to <file>."""
        from torch.profiler import ProfilerActivity, profile

        self.stats["steps"] += 1  # not again
        rows = len(self.rows)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(PROFILE_STEPS):
                if not self.rows:
                    break
                self._step()
        by_op = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        by_shape = prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25)
        Path(PROFILE_PATH).write_text(f"rows {rows}\n{by_op}\n{by_shape}\n")
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
        sampled = [i for i, r in enumerate(rows) if r.request.temperature > 0]
        out = [0] * len(rows)
        if len(sampled) < len(rows):  # greedy rows: the first maximum, as generate() takes
            greedy = [i for i, r in enumerate(rows) if r.request.temperature <= 0]
            picks = (logits if not sampled else logits[greedy]).argmax(dim=-1).tolist()
            for i, token in zip(greedy, picks, strict=True):
                out[i] = token
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
        finished, failed = [], []
        for row, token in picks:
            req = row.request
            row.tokens.append(token)
            row.length += 1
            reason = None
            if req.matcher is not None:
                try:
                    if not req.matcher.accept_token(token):
                        raise RuntimeError(f"grammar rejected token {token} that its own mask allowed")
                except Exception as err:  # this request's grammar: it fails alone, the batch goes on
                    failed.append((row, err))
                    continue
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
        for row, err in failed:
            self._remove(row)
            self.on_done(row.request, None, err)

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
            cached_tokens=row.cached,
        )  # fmt: skip
        self._remove(row)
        self.on_done(req, result, None)

    def _remove(self, row: _Row) -> None:
        slot = row.slot
        last = len(self.rows) - 1
        if slot != last:  # keep rows 0..n-1 dense: the last row moves into the freed slot
            moved = self.rows[last]
            self.runner.move_row(last, slot, moved.in_cache)
            self.rows[slot] = moved
            moved.slot = slot
        self.rows.pop()


# --- the worker process and its client ----------------------------------------------------------------------
# Why a process: torch's OpenMP kernels run ~40% slower when launched from a second Python thread than from a
# process's main thread on this machine (measured: 28 vs 40 ms per single-row step, 36 vs 51 ms at 8 rows), and an
# engine thread shares the GIL with inspect's event loop, scoring and logging. The worker's main thread owns the
# model; the parent only tokenizes and exchanges small pickled messages over a socket pair.


def serve(fd: int, model_path: str, dtype: str, max_batch: int, threads: int | None,
          prefix_cache_mb: float = PREFIX_CACHE_MB, prefill_chunk: int = PREFILL_CHUNK) -> int:
    """Worker main loop: requests in, results out over the connection on `fd`; exits when the parent goes away."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)

    def done(request: Request, result: Result | None, error: BaseException | None) -> None:
        if error is not None:
            conn.send(("err", request.id, f"{type(error).__name__}: {error}", dict(engine.stats)))
        else:
            conn.send(("ok", request.id, result, dict(engine.stats)))

    try:
        engine = Engine(model_path, dtype=dtype, max_batch=max_batch, threads=threads, on_done=done,
                        prefill_chunk=prefill_chunk, prefix_cache_mb=prefix_cache_mb)
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

    def __init__(self, model_path: str, dtype: str = "bfloat16", max_batch: int = 32, threads: int | None = None,
                 prefix_cache_mb: float = PREFIX_CACHE_MB, prefill_chunk: int = PREFILL_CHUNK) -> None:
        from multiprocessing.connection import Connection

        from transformers import AutoTokenizer

        self.model_path, self.dtype, self.max_batch, self.threads = str(model_path), dtype, max_batch, threads
        parent_sock, child_sock = socket.socketpair()
        cmd = [sys.executable, "-m", "models.engine", "--fd", str(child_sock.fileno()), "--model-path",
               self.model_path, "--dtype", dtype, "--max-batch", str(max_batch), "--prefix-cache-mb",
               str(prefix_cache_mb), "--prefill-chunk", str(prefill_chunk)]  # fmt: skip
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
    parser.add_argument("--prefix-cache-mb", type=float, default=PREFIX_CACHE_MB)
    parser.add_argument("--prefill-chunk", type=int, default=PREFILL_CHUNK)
    args = parser.parse_args(argv)
    return serve(args.fd, args.model_path, args.dtype, args.max_batch, args.threads, args.prefix_cache_mb,
                 args.prefill_chunk)


if __name__ == "__main__":
    # run the imported module's main, not this __main__ copy: results must pickle as models.engine.Result
    from models.engine import main as _main

    sys.exit(_main())
