"""lm-eval task helpers: k2bench's own samples (same prompts, same golds) as lm-eval documents, built in memory.

Each `load_*` is an lm-eval `custom_dataset`: it builds the k2bench suite's inspect Task (epochs=1) and turns its
samples into documents {id, system, user, answer, ...}, so lm-eval sends exactly the user message k2bench sends;
the system message is the same K2-Think prompt, passed with lm-eval's `--system_instruction`
(benchmarks/harness_bench.py does). Nothing is written to disk: GPQA is decrypted in memory by
suites/gpqa_diamond/questions.py and must be run with log_samples off (benchmarks/lm_eval_crosscheck.py does).

Scoring is lm-eval's own code, not k2bench's: AIME and MATH-500 use lm-eval's shipped `aime` process_results
(last \\boxed{} or $...$, Hendrycks string normalisation) and MATH-500 adds the `minerva_math` Math-Verify
metric; GPQA uses lm-eval's RegexFilter on the prompt's "Answer: $LETTER" line plus exact_match.

    PYTHONPATH=. lm_eval --model local-chat-completions --include_path benchmarks/lm_eval_tasks --tasks k2bench_aime2025 ...

Every scored document appends (task, doc id, extracted answer, scores, completion sha256) to
benchmarks.lm_eval_tasks.RECORDS, so an in-process caller can compare per sample without lm-eval writing samples
to disk.
"""

from __future__ import annotations

import hashlib
import os

try:  # one list however lm-eval imports this file (it loads it by path, as a module of its own)
    from benchmarks.lm_eval_tasks import RECORDS
except ModuleNotFoundError as err:  # lm-eval started elsewhere: the suites and this package are not importable
    raise ImportError("benchmarks/lm_eval_tasks needs the k2bench checkout importable: run lm_eval from the "
                      "repository root with PYTHONPATH=. (benchmarks.harness_bench does)") from err


def _require_data_dir() -> None:
    if not os.environ.get("K2BENCH_DATA_DIR"):
        raise RuntimeError("K2BENCH_DATA_DIR must point at the benchmark mirror (e.g. /work/shared/data)")


def _docs_from_task(task, extra=None) -> list[dict]:
    docs = []
    for sample in task.dataset:
        system, user = sample.input[0].text, sample.input[1].text
        doc = {"id": str(sample.id), "system": system, "user": user, "answer": str(sample.target)}
        if extra:
            doc.update(extra(sample))
        docs.append(doc)
    return docs


def _as_dataset(docs: list[dict]):
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def load_aime2025(**kwargs):
    _require_data_dir()
    from suites.aime.aime2025 import aime2025

    return _as_dataset(_docs_from_task(aime2025(epochs=1)))


def load_math500(**kwargs):
    _require_data_dir()
    from suites.math500.math500 import math500

    return _as_dataset(_docs_from_task(math500(epochs=1), lambda s: {"solution": s.metadata.get("solution", "")}))


def load_gpqa_diamond(**kwargs):
    _require_data_dir()
    from suites.gpqa_diamond.gpqa_diamond import gpqa_diamond

    return _as_dataset(_docs_from_task(gpqa_diamond(epochs=1)))


def _record(task: str, doc: dict, response: str, answer, scores: dict) -> None:
    RECORDS.append({"task": task, "id": doc["id"], "extracted": answer, **scores,
                    "completion_sha256": hashlib.sha256(response.encode()).hexdigest(), "completion_chars": len(response)})


def _boxed_or_dollar(response: str) -> str:
    """lm-eval's aime extraction (lm_eval/tasks/aime/utils.py process_results), reproduced to record it."""
    from lm_eval.tasks.aime.utils import last_boxed_only_string, remove_boxed

    indices = [pos for pos, char in enumerate(response) if char == "$"]
    answer = response if len(indices) <= 1 else response[indices[0] + 1 : indices[-1]]
    boxed = last_boxed_only_string(response)
    if boxed is not None:
        try:
            inner = remove_boxed(boxed)
            if inner is not None:
                answer = inner
        except (AssertionError, IndexError):
            pass
    return answer


def process_aime(doc: dict, results: list[str]) -> dict:
    from lm_eval.tasks.aime.utils import process_results

    scores = process_results(doc, results)
    _record("aime2025", doc, results[0], _boxed_or_dollar(results[0])[-80:], scores)
    return scores


def process_math500(doc: dict, results: list[str]) -> dict:
    from lm_eval.tasks.aime.utils import process_results
    from math_verify import parse, verify

    scores = dict(process_results(doc, results))
    # minerva_math's math_verify metric (lm_eval/tasks/minerva_math/utils.py): gold parsed from the solution
    scores["math_verify"] = 1 if verify(gold=parse(doc["solution"]), target=parse(results[0])) else 0
    _record("math500", doc, results[0], _boxed_or_dollar(results[0])[-80:], scores)
    return scores


def process_gpqa(doc: dict, results: list[str]) -> dict:
    from lm_eval.filters.extraction import RegexFilter

    # lm-eval's regex filter, configured for the prompt's "Answer: $LETTER" line; last match wins
    flt = RegexFilter(regex_pattern=r"Answer:\s*\**\s*\(?([ABCD])\b", group_select=-1, fallback="[invalid]")
    letter = list(flt.apply([[results[0]]], [doc]))[0][0]
    scores = {"exact_match": int(letter == doc["answer"])}
    _record("gpqa_diamond", doc, results[0], letter, scores)
    return scores
