"""The baseline for harness overhead: the same chat requests sent straight to an OpenAI-compatible server.

Reads a JSON list of {"id", "messages"} (benchmarks/vllm_cpu.py's write_requests builds it from the k2bench
suite's own samples), sends every request with the openai package's AsyncOpenAI (the client inspect's vllm/
provider uses too) under a semaphore of --concurrency connections, with the generation settings given, and writes
wall time, per-request latency and token usage. No grading, no logging: what is left is the engine plus one HTTP
client, the floor a harness is held to. Standard library + openai only, so it also runs by path where the
checkout is not importable (the GPU driver benchmarks/gpu/vllm_device.py runs it so).

    python -m benchmarks.raw_client --requests reqs.json --base-url http://127.0.0.1:8031/v1 \
        --model smollm2-135m-instruct --concurrency 8 --max-tokens 128 --out raw.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


async def run(args: argparse.Namespace) -> dict:
    from openai import AsyncOpenAI

    requests = json.loads(open(args.requests).read())
    client = AsyncOpenAI(base_url=args.base_url, api_key="none", max_retries=2, timeout=600)
    sem = asyncio.Semaphore(args.concurrency)
    extra: dict = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
    if args.top_p is not None:
        extra["top_p"] = args.top_p
    if args.stop:
        extra["stop"] = args.stop

    async def one(req: dict) -> dict:
        async with sem:
            t = time.perf_counter()
            resp = await client.chat.completions.create(model=args.model, messages=req["messages"], **extra)
            return {"id": req["id"], "latency_s": time.perf_counter() - t,
                    "completion_tokens": resp.usage.completion_tokens, "prompt_tokens": resp.usage.prompt_tokens,
                    "finish_reason": resp.choices[0].finish_reason, "text": resp.choices[0].message.content}

    started = time.perf_counter()
    results = await asyncio.gather(*(one(r) for r in requests))
    wall = time.perf_counter() - started
    await client.close()
    return {"wall_s": wall, "requests": len(results), "concurrency": args.concurrency,
            "completion_tokens": sum(r["completion_tokens"] for r in results), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--stop", action="append", default=[])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    with open(args.out, "w") as fh:
        json.dump(report, fh)
    print(f"{report['requests']} requests, {report['completion_tokens']} tokens in {report['wall_s']:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
