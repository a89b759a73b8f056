"""The embedded engine (models/engine.py, models/embedded.py) on the real SmolLM2-135M: decoding semantics.

    K2BENCH_DATA_DIR=../shared/data pytest tests/models/test_engine.py

No mocks: every test runs the dequantized SmolLM2 in the engine's worker process, with a few tokens per request so
a 2-core machine copes. Exactness against transformers is checked in fp32 (bf16 sums in a different order flip
near-ties; benchmarks/engine_bench.py measures how often, results/perf/engine_bench.md).
"""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.slow

PROMPTS = [
    "What is 12 + 7? Answer with a number.",
    "Name three prime numbers.",
    "Write one sentence about the moon.",
]


@pytest.fixture(scope="module")
def model_path():
    from models.embedded import prepare_smollm2

    return prepare_smollm2()


@pytest.fixture(scope="module")
def fp32(model_path):
    from models.embedded import get_engine

    return get_engine(model_path, "float32", 32, 2)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def run(engine, requests):
    return [f.result(timeout=300) for f in [engine.submit(r) for r in requests]]


def test_greedy_matches_transformers_generate_fp32(fp32, model_path):
    import torch
    from transformers import AutoModelForCausalLM

    from models.engine import Request

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    ids = [fp32.chat_ids(chat(p)) for p in PROMPTS]
    # all three at once: they share decode steps (rows of different lengths in one batch)
    results = run(fp32, [Request(i, 24, "max_tokens", temperature=0.0) for i in ids])
    for prompt_ids, result in zip(ids, results, strict=True):
        with torch.inference_mode():
            out = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                                 max_new_tokens=24, do_sample=False, pad_token_id=fp32.tokenizer.pad_token_id)  # fmt: skip
        expected = fp32.tokenizer.decode(out[0, len(prompt_ids) :], skip_special_tokens=True)
        assert result.text == expected
        assert result.output_tokens == out.shape[1] - len(prompt_ids)
        assert result.stop_reason == ("stop" if out[0, -1].item() in (2,) else "max_tokens")


def test_requests_leave_the_batch_when_they_end(fp32):
    from models.engine import Request

    long_ids = fp32.chat_ids(chat("Write a long story about a trip to the moon, at least 300 words."))
    long = Request(long_ids, 80, "max_tokens", temperature=1.0, seed=5)
    short = Request(fp32.chat_ids(chat(PROMPTS[0])), 2, "max_tokens", temperature=0.0)
    f_long = fp32.submit(long)
    time.sleep(0.5)  # the long one is decoding when the short one joins
    r_short = fp32.submit(short).result(timeout=300)
    assert not f_long.done(), "the short request waited for the long one (static batching)"
    r_long = f_long.result(timeout=300)
    assert r_short.output_tokens == 2 and r_short.stop_reason == "max_tokens"
    assert r_short.mean_batch > 1  # it ran beside the long one
    assert r_long.output_tokens > 2 and r_long.latency_seconds > r_short.latency_seconds


def test_seeded_sampling_does_not_depend_on_the_batch(fp32):
    from models.engine import Request

    ids = [fp32.chat_ids(chat(p)) for p in PROMPTS]

    def sampled(prompt_ids, seed):
        return Request(prompt_ids, 16, "max_tokens", temperature=1.0, top_p=0.95, seed=seed)

    alone = run(fp32, [sampled(ids[0], 7)])[0]
    crowd = run(fp32, [sampled(ids[1], 1), sampled(ids[0], 7), sampled(ids[2], 2), sampled(ids[0], 8)])
    assert crowd[1].text == alone.text  # same seed, same prompt, other company: same tokens
    again = run(fp32, [sampled(ids[0], s) for s in (11, 12, 13)])
    assert len({r.text for r in again}) > 1, "different seeds gave identical samples"


def test_top_k_one_is_greedy(fp32):
    from models.engine import Request

    ids = fp32.chat_ids(chat(PROMPTS[1]))
    greedy, topk1 = run(fp32, [Request(ids, 12, "max_tokens", temperature=0.0),
                               Request(ids, 12, "max_tokens", temperature=0.7, top_k=1, seed=3)])  # fmt: skip
    assert greedy.text == topk1.text


def test_stop_sequence_cuts_like_a_server(fp32):
    from models.engine import Request

    ids = fp32.chat_ids(chat(PROMPTS[2]))
    full = run(fp32, [Request(ids, 30, "max_tokens", temperature=0.0)])[0]
    words = full.text.split()
    assert len(words) > 4, full.text
    stop = words[3]
    cut = run(fp32, [Request(ids, 30, "max_tokens", temperature=0.0, stop_seqs=(stop,))])[0]
    assert cut.stop_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]  # stripped, as servers do
    assert cut.output_tokens < full.output_tokens


def test_provider_reports_cap_rate_and_stop_reasons(model_path, caplog):
    from inspect_ai.model import ChatMessageUser, GenerateConfig

    from models.embedded import EmbeddedModelAPI

    api = EmbeddedModelAPI("smollm2-135m-instruct", max_tokens_cap=6, dtype="float32", threads=2)
    with caplog.at_level("WARNING"):
        out = asyncio.run(api.generate([ChatMessageUser(content=PROMPTS[2])], [], "none",
                                       GenerateConfig(max_tokens=65536, temperature=0)))  # fmt: skip
    assert out.stop_reason == "max_tokens" and out.usage.output_tokens == 6
    meta = out.metadata
    assert (meta["max_tokens_requested"], meta["max_tokens_effective"]) == (65536, 6)
    assert meta["output_tokens_per_second"] > 0 and meta["threads"] == 2
    assert any("max_tokens 65536 requested, generating at most 6" in r.getMessage() for r in caplog.records)
    assert api.max_tokens() == 6
    # a prompt that fills the context window: nothing generated, said so
    api.engine.context_window, saved = 10, api.engine.context_window
    try:
        out = asyncio.run(api.generate([ChatMessageUser(content=PROMPTS[0])], [], "none", GenerateConfig()))
    finally:
        api.engine.context_window = saved
    assert out.stop_reason == "model_length" and out.usage.output_tokens == 0


def test_threads_follow_omp_num_threads(monkeypatch):
    import os

    from models.embedded import default_threads

    default_threads.cache_clear()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert default_threads() == 1
        default_threads.cache_clear()
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 0.0, 0.0))  # one core busy elsewhere
        assert default_threads() == max(1, len(os.sched_getaffinity(0)) - 1)
        default_threads.cache_clear()
        monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
        assert default_threads() == len(os.sched_getaffinity(0))
    finally:
        default_threads.cache_clear()


def test_bad_model_args_are_one_line_errors():
    from models.embedded import EmbeddedModelAPI

    with pytest.raises(ValueError, match="integers"):
        EmbeddedModelAPI("smollm2-135m-instruct", threads="two")
    with pytest.raises(ValueError, match="unknown model args"):
        EmbeddedModelAPI("smollm2-135m-instruct", thread=2)


# --- constrained decoding (issue 13) ------------------------------------------------------------------------------


def _valid(text: str, schema: dict) -> bool:
    import json

    import jsonschema

    try:
        jsonschema.validate(json.loads(text), schema)
        return True
    except (ValueError, jsonschema.ValidationError):
        return False


def test_schemas_constrain_greedy_and_sampled_in_one_mixed_batch(model_path):
    """The planner's and judge's schemas (as systems/ sends them), greedy and sampled, beside plain requests."""
    import json

    from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, ResponseSchema

    from models.embedded import EmbeddedModelAPI
    from systems.best_of_n import JUDGE_SCHEMA, JUDGE_SYSTEM_PROMPT, JUDGE_USER_TEMPLATE
    from systems.plan import TRIAGE_PROMPT, TRIAGE_SCHEMA

    api = EmbeddedModelAPI("smollm2-135m-instruct", max_tokens_cap=96)
    triage = [ChatMessageUser(content=TRIAGE_PROMPT.format(question="Find the sum of all integer bases b > 9 "
                                                                      "for which 17_b divides 97_b."))]  # fmt: skip
    judge = [ChatMessageSystem(content=JUDGE_SYSTEM_PROMPT),
             ChatMessageUser(content=JUDGE_USER_TEMPLATE.format(question="What is 2 + 2?", best="It is 5.",
                                                                challenger="2 + 2 = 4, so the answer is 4."))]
    plain = [ChatMessageUser(content=PROMPTS[2])]

    def config(name, schema, temperature, seed):
        # 256 > the provider's cap of 96: constrained requests get room for their JSON (schema_max_tokens)
        return GenerateConfig(temperature=temperature, top_p=0.95, seed=seed, max_tokens=256,
                              response_schema=ResponseSchema(name=name, json_schema=schema))  # fmt: skip

    # the authors' prompt asks for "less than five things": with that bound (maxItems 4) a reply always closes; the
    # schema as systems/plan.py sends it (no bound) lets greedy SmolLM2 repeat one topic until the budget ends
    # (and strings bounded too: greedy decoding can also loop inside a string)
    text = {"type": "string", "maxLength": 200}
    bounded_triage = {**TRIAGE_SCHEMA, "properties": {
        "is_hard_problem": {"type": "boolean"}, "plan": text,
        "search_list": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 4}}}  # fmt: skip
    bounded_judge = {**JUDGE_SCHEMA, "properties": {**JUDGE_SCHEMA["properties"], "explanation": text}}
    jobs = []
    for temperature, seeds in ((0.0, (None,)), (1.0, (1, 2, 3))):
        for seed in seeds:
            jobs.append(("triage_unbounded", triage, config("search_list", TRIAGE_SCHEMA, temperature, seed)))
            jobs.append(("judge", judge, config("better_response", bounded_judge, temperature, seed)))
            jobs.append(("judge_unbounded", judge, config("better_response", JUDGE_SCHEMA, temperature, seed)))
            jobs.append(("plain", plain, GenerateConfig(temperature=temperature, seed=seed, max_tokens=24)))

    # inspect's ResponseSchema drops maxItems (its JSONSchema model has no such field), so the bounded triage
    # schema goes to the same engine, in the same batch, as the provider would send it (schema text, strict unset)
    from models.engine import Request

    triage_ids = api.engine.chat_ids([{"role": "user", "content": triage[0].text}])
    before = dict(api.engine.stats)
    direct = [api.engine.submit(Request(triage_ids, 256, "max_tokens", temperature=t, top_p=0.95, seed=seed,
                                        schema=json.dumps(bounded_triage)))
              for t, seed in ((0.0, None), (1.0, 1), (1.0, 2), (1.0, 3))]  # fmt: skip

    async def go():
        return await asyncio.gather(*(api.generate(msgs, [], "none", cfg) for _, msgs, cfg in jobs))

    outs = asyncio.run(go())
    for future in direct:
        result = future.result(timeout=300)
        assert result.stop_reason == "stop" and result.grammar, result.text
        assert _valid(result.text, bounded_triage) and _valid(result.text, TRIAGE_SCHEMA), result.text
    schemas = {"triage": TRIAGE_SCHEMA, "judge": JUDGE_SCHEMA}
    for (kind, _, cfg), out in zip(jobs, outs, strict=True):
        if kind == "plain":
            assert out.metadata["response_schema"] is None
            continue
        assert out.metadata["response_schema"] == cfg.response_schema.name
        assert out.metadata["max_tokens_effective"] == 256
        if kind.endswith("_unbounded"):  # closed and valid, or visibly cut by the budget: never "stop" and invalid
            assert (out.stop_reason == "stop") == _valid(out.completion, schemas[kind[: -len("_unbounded")]])
            continue
        # the JSON closed within the budget: the grammar ended the request at its last brace
        assert out.stop_reason == "stop", f"{kind} T={cfg.temperature}: ran out of tokens: {out.completion!r}"
        assert _valid(out.completion, cfg.response_schema.json_schema.model_dump(exclude_none=True))
        assert _valid(out.completion, schemas[kind]), f"{kind} T={cfg.temperature}: {out.completion!r}"
        json.loads(out.completion)
    assert max(o.metadata["mean_batch_size"] for o in outs) > 1  # they really shared decode steps
    # the fast path: only constrained rows were masked (one row per constrained token), never the plain ones
    constrained_tokens = sum(o.usage.output_tokens for (kind, _, _), o in zip(jobs, outs, strict=True)
                             if kind != "plain") + sum(f.result().output_tokens for f in direct)  # fmt: skip
    assert api.engine.stats["masked_rows"] - before.get("masked_rows", 0) == constrained_tokens


def test_plain_batches_never_touch_the_grammar(fp32):
    from models.engine import Request

    before = fp32.submit(Request(fp32.chat_ids(chat(PROMPTS[0])), 2, "max_tokens", temperature=0.0))
    before.result(timeout=300)
    masked = fp32.stats["masked_rows"]
    run(fp32, [Request(fp32.chat_ids(chat(p)), 6, "max_tokens", temperature=1.0, seed=1) for p in PROMPTS])
    assert fp32.stats["masked_rows"] == masked


def test_strict_schema_forbids_extra_properties(fp32):
    import json

    from models.engine import Request

    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    ids = fp32.chat_ids(chat("Reply in JSON with the answer and a comment: what is 3 + 4?"))
    strict = run(fp32, [Request(ids, 40, "max_tokens", temperature=1.0, seed=s, schema=json.dumps(schema))
                        for s in range(4)])  # fmt: skip
    for r in strict:
        assert r.stop_reason == "stop" and set(json.loads(r.text)) == {"answer"}, r.text


def test_uncompilable_schema_fails_that_request_only(fp32):
    from models.engine import Request

    ids = fp32.chat_ids(chat(PROMPTS[0]))
    bad = fp32.submit(Request(ids, 8, "max_tokens", temperature=0.0, schema='{"type": "no-such-type"}'))
    good = fp32.submit(Request(ids, 8, "max_tokens", temperature=0.0))
    with pytest.raises(RuntimeError, match="response_schema cannot be compiled"):
        bad.result(timeout=300)
    assert good.result(timeout=300).output_tokens > 0


# --- batched prefill (issue 17): prompts admitted together, chunked, beside decoding rows -------------------------


SYSTEM = "You are a careful assistant. Answer briefly and exactly, in plain words, without any preamble."


@pytest.fixture(scope="module")
def inproc(model_path):
    """The engine in this process (no worker), so a test decides which requests are admitted in one step."""
    from models.engine import Engine

    done: dict[int, tuple] = {}
    # a 24-token prefill budget per step: prompts of 40-90 tokens are split over steps and share steps with rows
    # that already decode; later prompts start after earlier ones are stored (prefix-cache hits)
    engine = Engine(str(model_path), dtype="float32", max_batch=8, threads=2, prefill_chunk=24,
                    on_done=lambda req, result, err: done.__setitem__(req.id, (result, err)))  # fmt: skip
    return engine, done


def _drive(engine, done, requests):
    for i, request in enumerate(requests):
        request.id = 1000 * len(done) + i + 1
    engine.pending.extend(requests)  # all waiting before the next step: admitted together
    while engine.rows or engine.pending:
        engine.iterate()
    return [done[r.id] for r in requests]


def _prompts(engine):
    questions = ["What is 12 + 7?", "Name three prime numbers and say why each is prime.",
                 "Write one sentence about the moon.", "What is the capital of France? Then name a river there."]
    texts = [engine.tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
                                                  add_generation_prompt=True, tokenize=False) for q in questions]  # fmt: skip
    return [engine.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_batched_chunked_prefill_equals_one_at_a_time_and_generate_fp32(inproc, model_path):
    """Prompts of different lengths admitted in one step give, under greedy, the tokens each gives alone (whole
    prompt in one forward, no prefix cache) and transformers' generate() gives; a seeded sampled row too."""
    import torch
    from transformers import AutoModelForCausalLM

    from models.engine import Request

    engine, done = inproc
    ids = _prompts(engine)
    assert len({len(i) for i in ids}) == len(ids), "the prompts must differ in length"

    def requests():
        return [Request(i, 12, "max_tokens", temperature=0.0) for i in ids] + [
            Request(ids[1], 12, "max_tokens", temperature=1.0, top_p=0.9, seed=4)]

    engine.prefix_cache.clear()
    cached_before = engine.stats["cached_tokens"]
    together = _drive(engine, done, requests())
    assert all(err is None for _, err in together), together
    assert engine.stats["cached_tokens"] > cached_before, "no prompt reused the shared system prompt's blocks"
    assert max(r.mean_batch for r, _ in together) > 1
    # one at a time, each prompt in a single forward and nothing taken from the prefix cache: the serial path
    chunk, engine.prefill_chunk = engine.prefill_chunk, 10**6
    try:
        alone = []
        for request in requests():
            engine.prefix_cache.clear()
            alone += _drive(engine, done, [request])
    finally:
        engine.prefill_chunk = chunk
    for (a, _), (b, _) in zip(together, alone, strict=True):
        assert (a.text, a.output_tokens, a.stop_reason) == (b.text, b.output_tokens, b.stop_reason)
        assert a.cached_tokens >= 0 and b.cached_tokens == 0
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    for prompt_ids, (result, _) in zip(ids, together[: len(ids)], strict=True):
        with torch.inference_mode():
            out = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                                 max_new_tokens=12, do_sample=False, pad_token_id=engine.tokenizer.pad_token_id)  # fmt: skip
        assert result.text == engine.tokenizer.decode(out[0, len(prompt_ids) :], skip_special_tokens=True)


def test_a_bad_request_admitted_with_others_fails_alone(inproc):
    from models.engine import Request

    engine, done = inproc
    ids = _prompts(engine)
    out = _drive(engine, done, [Request(ids[0], 4, "max_tokens", temperature=0.0), Request([], 4, "max_tokens"),
                                Request(list(range(engine.context_window + 1)), 4, "max_tokens"),
                                Request(ids[2], 4, "max_tokens", temperature=0.0)])  # fmt: skip
    assert [err is None for _, err in out] == [True, False, False, True], out
    assert out[0][0].output_tokens == 4 and out[3][0].output_tokens == 4
    assert not engine.rows and not engine.pending
