"""Training data: the paper's SFT and RL sets at pinned revisions, plus small synthetic sets for CPU runs.

Sources (../shared/reference/k2think-facts.md §3a-b):
- `am-thinking`: a-m-team/AM-Thinking-v1-Distilled @3697c18 (the K2-Think SFT data). K2-Think-SFT's
  `get_am_dataset.py` streams the train split and keeps only `conversations` (`from`/`value` turns), so the
  row-level `system` field is dropped and the template's default system prompt applies; we do the same.
- `guru`: LLM360/guru-RL-92k @2e2790a (the RL data): verl rows `data_source`, `prompt` (chat turns),
  `ability`, `reward_model.ground_truth`, `extra_info`, one parquet file per source under `train/`.
  Each row is routed to a reward domain the way Reasoning360's `_default_compute_score` routes it.
- `arith-sft`, `arith-grpo`: SYNTHETIC arithmetic written by `python -m training.data` into training/data/,
  deterministic (fixed seed), in the AM-Thinking and Guru row schemas so the CPU recipes exercise the same
  converters as the paper's. They are not the paper's data and say nothing about K2-Think; they exist so a
  135M model on 2 CPU cores has a verifiable task it can improve on. `arith-heldout` (same generator as
  `arith-grpo`, disjoint problems) is the held-out suite of training/heldout_task.py.

Offline rule (same as suites/_data.py): with K2BENCH_DATA_DIR set, hub sets are read from the mirror at
`<dir>/training/<repo name>/<revision>/` (neither is in the shared mirror today, so this fails with a
DataError that names the missing folder); without it, from the hub at the pinned revision. The synthetic
files are committed and checked against their sha256.

    python -m training.data            # regenerate training/data/*.jsonl (must reproduce the pinned sha256)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suites._data import DataError, data_dir
from suites._protocol import MATH_USER_TEMPLATE
from training.chat_template import format_response, system_prompt

DATA_DIR = Path(__file__).parent / "data"
REVISION_PATTERN = re.compile(r"^[0-9a-f]{40}$")
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
# Guru data_source -> k2bench reward domain (Reasoning360 verl/utils/reward_score/__init__.py routing).
# table__*: Reasoning360 grades it with math_verify ("tmp placeholder"), so our math grader is the match.
GURU_PREFIX_DOMAINS = {"math": "math", "codegen": "code", "table": "math", "simulation": "simulation",
                       "logic": "logic", "stem": "stem"}
GURU_NAMED_DOMAINS = {"zebra_puzzle_dataset": "logic", "ordering_puzzle_dataset": "logic",
                      "graph_logical_dataset": "logic", "stem_web": "stem"}


@dataclass(frozen=True)
class Source:
    name: str
    schema: str  # "am-thinking" (conversations) | "guru" (verl rows)
    repo: str | None = None  # hub dataset id
    revision: str | None = None  # a commit sha, never a branch
    files: tuple[str, ...] = ()  # hub/mirror files to read (empty: the whole train split)
    local: str | None = None  # committed file under training/data/
    sha256: str | None = None  # of the committed file
    synthetic: bool = False

    def pinned(self) -> bool:
        if self.local is not None:
            return self.sha256 is not None and len(self.sha256) == 64
        return self.revision is not None and REVISION_PATTERN.match(self.revision) is not None


# Guru files of the 92k release (file names carry their row counts; k2think-facts.md §3b)
GURU_FILES = tuple(
    f"train/{name}.parquet"
    for name in [
        "math__combined_54.4k", "codegen__leetcode2k_1.3k", "codegen__livecodebench_440",
        "codegen__primeintellect_7.5k", "codegen__taco_8.8k", "logic__arcagi1_111", "logic__arcagi2_190",
        "logic__barc_1.6k", "logic__graph_logical_1.2k", "logic__ordering_puzzle_1.9k", "logic__zebra_puzzle_1.3k",
        "simulation__codeio_3.7k", "table__hitab_4.3k", "table__multihier_1.5k", "stem__web_3.6k",
    ]
)
SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("am-thinking", "am-thinking", "a-m-team/AM-Thinking-v1-Distilled", "3697c1829816a2b8d4d25995ed6d5d27ffb49b30"),
        Source("guru", "guru", "LLM360/guru-RL-92k", "2e2790a962a3c099bfb5ea61389cbf98a5ea439b", GURU_FILES),
        Source("arith-sft", "am-thinking", local="arith_sft.jsonl", synthetic=True,
               sha256="d4dbcb6f200a473312b18c4315fde978580c5c9b2349c388f88cd507ce067ba0"),
        Source("arith-grpo", "guru", local="arith_grpo.jsonl", synthetic=True,
               sha256="f1278992639a51a338638d534353d062ea24ba922198c98b12875263d782faa1"),
    ]
}
HELDOUT_FILE = "arith_heldout.jsonl"
HELDOUT_SHA256 = "af594a501cbedd4891a757f7903e85f3a790fa63c2ba7b0e31efba07b9f1cf32"


def source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(f"unknown training set {name!r}; declared: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


# --- raw rows ----------------------------------------------------------------------------------------


def _read_jsonl(path: Path, expect_sha256: str | None) -> list[dict[str, Any]]:
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if expect_sha256 is not None and found != expect_sha256:
        raise DataError(f"{path}: sha256 {found}, expected {expect_sha256} (regenerate with python -m training.data)")
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _read_mirror(src: Source, root: Path, revision: str, files: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    folder = root / "training" / src.repo.split("/")[-1] / revision
    if not folder.is_dir():
        raise DataError(
            f"{src.name}: {src.repo}@{revision} is not in the offline mirror (expected folder {folder}); "
            f"unset K2BENCH_DATA_DIR to load it from the hub"
        )
    paths = [folder / f for f in files] if files else sorted(p for p in folder.rglob("*") if p.suffix in (".jsonl", ".parquet"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{src.name}: mirror file(s) missing: {missing}")
    for path in paths:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
                yield from batch.to_pylist()
        else:
            with path.open(encoding="utf-8") as f:
                yield from (json.loads(line) for line in f if line.strip())


def _read_hub(src: Source, revision: str, files: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    import datasets  # heavy; only when the hub is used

    where = f"{src.repo}@{revision}"
    hint = f"Offline? Set K2BENCH_DATA_DIR to a mirror holding training/{src.repo.split('/')[-1]}/{revision}/"
    try:
        # streaming, as K2-Think-SFT's get_am_dataset.py does: AM-Thinking's subsets have differing schemas
        stream = iter(datasets.load_dataset(src.repo, split="train", revision=revision, streaming=True,
                                            data_files=list(files) or None))
        first = next(stream)
    except Exception as err:  # network/auth: say what was tried and how to go offline
        raise DataError(f"{src.name}: could not load hub dataset {where}: {err}. {hint}") from err
    yield dict(first)
    yield from (dict(r) for r in stream)


def iter_rows(name: str, *, files: list[str] | None = None, limit: int | None = None,
              revision: str | None = None) -> Iterator[dict[str, Any]]:
    """A training set's rows in their source schema, streamed (synthetic file, offline mirror or pinned hub revision).

    Checks (source, revision, files, mirror folder) happen on the first `next()`.
    """
    src = source(name)
    if src.local is not None:
        rows: Iterable[dict[str, Any]] = _read_jsonl(DATA_DIR / src.local, src.sha256)
    else:
        revision = revision or src.revision
        if revision is None or not REVISION_PATTERN.match(revision):
            raise DataError(f"{name}: revision {revision!r} is not a commit sha; a branch would make runs incomparable")
        chosen = tuple(files) if files else src.files
        unknown = sorted(set(chosen) - set(src.files)) if src.files else []
        if unknown:
            raise DataError(f"{name}: unknown files {unknown}; declared: {list(src.files)}")
        root = data_dir()
        rows = _read_mirror(src, root, revision, chosen) if root is not None else _read_hub(src, revision, chosen)
    yield from itertools.islice(rows, limit)


def load_rows(name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """`iter_rows` as a list (small sets and tests)."""
    return list(iter_rows(name, **kwargs))


# --- converters into the trainers' formats --------------------------------------------------------------


def _system(prompt_name: str) -> list[dict[str, str]]:
    text = system_prompt(prompt_name)
    return [] if text is None else [{"role": "system", "content": text}]


def am_to_messages(row: dict[str, Any], prompt_name: str) -> dict[str, Any]:
    """AM-Thinking `conversations` (from/value) -> TRL conversational SFT row `{"messages": [...]}`."""
    messages = _system(prompt_name)
    for turn in row["conversations"]:
        role = ROLES.get(turn["from"])
        if role is None:
            raise DataError(f"AM-Thinking turn with unknown role {turn['from']!r}")
        if role == "system":  # a conversation's own system turn replaces the default one
            messages = [m for m in messages if m["role"] != "system"]
            messages.insert(0, {"role": "system", "content": turn["value"]})
            continue
        messages.append({"role": role, "content": turn["value"]})
    if not messages or messages[-1]["role"] != "assistant":
        raise DataError("AM-Thinking conversation does not end with an assistant turn")
    return {"messages": messages}


def guru_domain(data_source: str) -> str:
    if data_source in GURU_NAMED_DOMAINS:
        return GURU_NAMED_DOMAINS[data_source]
    prefix = data_source.split("__", 1)[0]
    if prefix not in GURU_PREFIX_DOMAINS:
        raise DataError(f"Guru data_source {data_source!r} has no reward routing (known prefixes: {sorted(GURU_PREFIX_DOMAINS)})")
    return GURU_PREFIX_DOMAINS[prefix]


def guru_to_prompt(row: dict[str, Any], prompt_name: str) -> dict[str, Any]:
    """Guru verl row -> TRL conversational GRPO row: prompt, answer (ground truth), domain, data_source."""
    turns = [{"role": t["role"], "content": t["content"]} for t in row["prompt"]]
    if turns and turns[0]["role"] == "system":
        prompt = turns  # the row brings its own system prompt
    else:
        prompt = _system(prompt_name) + turns
    truth = row["reward_model"]["ground_truth"]
    return {
        "prompt": prompt,
        "answer": truth if isinstance(truth, str) else json.dumps(truth),
        "domain": guru_domain(row["data_source"]),
        "data_source": row["data_source"],
    }


def _converted(name: str, convert: str, prompt_name: str, files: list[str] | None, limit: int | None,
               revision: str | None, content_key: str) -> Iterator[dict[str, Any]]:
    """Generator behind Dataset.from_generator; `content_key` (pinned revision or sha256) keys its disk cache."""
    fn = am_to_messages if convert == "sft" else guru_to_prompt
    for row in iter_rows(name, files=files, limit=limit, revision=revision):
        yield fn(row, prompt_name)


def _dataset(name: str, stage: str, schema: str, prompt_name: str, files: list[str] | None, limit: int | None,
             revision: str | None):
    import datasets

    src = source(name)
    if src.schema != schema:
        raise DataError(f"{name} has the {src.schema} schema; {stage} needs {schema} rows")
    # fail fast (missing mirror folder, unpinned revision) before datasets starts its generator machinery
    next(iter_rows(name, files=files, limit=1, revision=revision))
    kwargs = {"name": name, "convert": stage, "prompt_name": prompt_name, "files": files, "limit": limit,
              "revision": revision, "content_key": src.sha256 or revision or src.revision}
    # written to an Arrow cache file row by row: AM-Thinking's ~1.9M conversations never sit in a Python list
    return datasets.Dataset.from_generator(_converted, gen_kwargs=kwargs)


def sft_dataset(name: str, *, system_prompt_name: str = "am-thinking", limit: int | None = None,
                revision: str | None = None, files: list[str] | None = None):
    """A datasets.Dataset of `messages` for SFTTrainer."""
    return _dataset(name, "sft", "am-thinking", system_prompt_name, files, limit, revision)


def rl_dataset(name: str, *, system_prompt_name: str = "k2think", files: list[str] | None = None,
               limit: int | None = None, revision: str | None = None):
    """A datasets.Dataset of `prompt`, `answer`, `domain`, `data_source` for GRPOTrainer."""
    return _dataset(name, "grpo", "guru", system_prompt_name, files, limit, revision)


def problem_texts(name: str, rows: Iterable[dict[str, Any]] | None = None) -> Iterator[tuple[str, str]]:
    """(row id, text) pairs for decontamination, streamed: the user turns of every row (prompts, not responses)."""
    src = source(name)
    for i, row in enumerate(iter_rows(name) if rows is None else rows):
        if src.schema == "am-thinking":
            text = "\n".join(t["value"] for t in row["conversations"] if ROLES.get(t["from"]) == "user")
        else:
            text = "\n".join(t["content"] for t in row["prompt"] if t["role"] == "user")
        yield f"{name}-{i}", text


def heldout_records() -> list[dict[str, Any]]:
    """Suite-shaped records (id, problem, answer) of the synthetic held-out set."""
    return _read_jsonl(DATA_DIR / HELDOUT_FILE, HELDOUT_SHA256)


# --- synthetic arithmetic (deterministic) ----------------------------------------------------------------

ARITH_SEED = 2509_07604
# SFT teaches the output format on easy sums; RL and the held-out set are two-digit sums and differences
SFT_SPEC = {"count": 512, "low": 0, "high": 20, "ops": ("+", "-")}
RL_SPEC = {"count": 2000, "low": 10, "high": 99, "ops": ("+", "-")}
HELDOUT_COUNT = 200
SYNTHETIC_SOURCE = "k2bench-synthetic-arith"
ARITH_QUESTION = "What is {expr}?"


def _arith(rng: random.Random, low: int, high: int, ops: tuple[str, ...]) -> tuple[str, int]:
    a, b, op = rng.randint(low, high), rng.randint(low, high), rng.choice(ops)
    if op == "-" and b > a:
        a, b = b, a  # keep differences non-negative
    return f"{a} {op} {b}", (a + b if op == "+" else a - b)


def _unique(rng: random.Random, count: int, spec: dict[str, Any], seen: set[str]) -> list[tuple[str, int]]:
    """`count` new (expression, value) pairs; `seen` keeps the three sets disjoint."""
    out = []
    while len(out) < count:
        expr, value = _arith(rng, spec["low"], spec["high"], spec["ops"])
        if expr not in seen:
            seen.add(expr)
            out.append((expr, value))
    return out


def synthetic_files() -> dict[str, str]:
    """File name -> JSONL text of the three synthetic sets (same bytes on every run)."""
    rng, seen = random.Random(ARITH_SEED), set()
    heldout = _unique(rng, HELDOUT_COUNT, RL_SPEC, seen)  # drawn first so RL never sees these problems
    rl = _unique(rng, RL_SPEC["count"], RL_SPEC, seen)
    sft = _unique(rng, SFT_SPEC["count"], SFT_SPEC, seen)
    sft_rows = [
        {"conversations": [
            {"from": "human", "value": MATH_USER_TEMPLATE.format(problem=ARITH_QUESTION.format(expr=e)),
             "info": {"source": SYNTHETIC_SOURCE, "reference_answer": str(v)}},
            {"from": "assistant", "value": format_response(f"{e} = {v}", f"\\boxed{{{v}}}"),
             "info": {"source": SYNTHETIC_SOURCE, "reference_answer": str(v)}},
        ]}
        for e, v in sft
    ]
    rl_rows = [
        {"data_source": "math__k2bench_synthetic_arith",
         "prompt": [{"role": "user", "content": MATH_USER_TEMPLATE.format(problem=ARITH_QUESTION.format(expr=e))}],
         "ability": "math", "reward_model": {"style": "rule", "ground_truth": str(v)},
         "extra_info": {"index": i, "problem": ARITH_QUESTION.format(expr=e)}}
        for i, (e, v) in enumerate(rl)
    ]
    heldout_rows = [
        {"id": f"arith-heldout-{i:03d}", "problem": ARITH_QUESTION.format(expr=e), "answer": str(v)}
        for i, (e, v) in enumerate(heldout)
    ]

    def dump(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)

    return {"arith_sft.jsonl": dump(sft_rows), "arith_grpo.jsonl": dump(rl_rows), HELDOUT_FILE: dump(heldout_rows)}


if __name__ == "__main__":
    DATA_DIR.mkdir(exist_ok=True)
    for file_name, text in synthetic_files().items():
        (DATA_DIR / file_name).write_text(text, encoding="utf-8")
        print(file_name, hashlib.sha256(text.encode("utf-8")).hexdigest())
