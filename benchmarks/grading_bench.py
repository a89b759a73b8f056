"""Grading throughput: k2bench's math grader against raw math-verify, verdicts/s over 263 x 16 outputs on 2 cores.

The paper's math set is AIME 2024 (30) + AIME 2025 (30) + HMMT Feb 2025 (30) + Omni-MATH-HARD (173) = 263
problems, 16 samples each (k2think-facts.md). The model outputs here are synthetic but built around the real
gold answers of those 263 problems, with K2-Think's output shape (`<think> ... </think>` then the answer),
reasoning of realistic and varied length, and a fixed mix per problem of 16:
  5 correct, boxed gold                   3 correct, another rendering of the gold ("symbolic": sympy re-renders
  5 incorrect (perturbed gold)              LaTeX golds, thousands separators / "x = " / decimals for integers)
  2 no answer (reasoning, no final answer)  1 correct inside <answer> without a box
Seeded, so every run grades the same 4,208 outputs.

Compared, both using the machine's 2 cores:
  k2bench      suites.grading.math_answer.grade_math (K2 extraction, normalisation, exact fast paths, math-verify
               in its persistent worker processes), called from 2 threads;
  math-verify  raw `verify(parse(f"${gold}$"), parse(completion))` per output (what open-r1-style reward code
               does), in a pool of 2 processes.
Each is warmed up first (worker start-up and sympy import stay out of the timing) and repeated; the table gives
median/min/max verdicts/s and the ratio k2bench / math-verify. Score agreement between the two is reported too
(they differ by design on boxes inside <think> and on completions with no final answer).
Code executions/s come from benchmarks/sandbox_bench.py's results/perf/sandbox_bench.json, if present.

    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.grading_bench            # ~3-6 min on 2 busy cores
    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.grading_bench --quick    # 20 problems, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.grading_bench ...")

from benchmarks._perf import OUT_DIR, Timer, fmt_stat, machine_info, machine_line, md_table, summarize  # noqa: E402

SAMPLES_PER_PROBLEM = 16
MIX = (("correct_boxed", 5), ("correct_variant", 3), ("incorrect", 5), ("no_answer", 2), ("answer_tag", 1))
SUITES = (("aime2024", 30), ("aime2025", 30), ("hmmt_feb2025", 30), ("omni_math_hard", 173))
PARALLELISM = 2
SEED = 20250907

FILLER = (
    "Let me set up the problem carefully. We denote the unknown quantity by $x$ and rewrite the condition as "
    "an equation. Checking small cases: for $n = 1$ we get $2$, for $n = 2$ we get $6$, and for $n = 3$ the "
    "value is $12$, which suggests $n(n+1)$. Wait, that does not use the second constraint; let me reconsider. "
    "Substituting $y = x + 1$ gives $y^2 - 3y + 2 = 0$, so $y \\in \\{1, 2\\}$. Hmm, but the problem asks for "
    "the number of configurations, so we need to count more carefully using inclusion-exclusion: "
    "$|A \\cup B| = |A| + |B| - |A \\cap B|$. "
)


@dataclass
class Output:
    problem: str
    suite: str
    gold: str
    kind: str
    completion: str
    expect_correct: bool


def load_golds() -> list[tuple[str, str, str, str]]:
    """(suite, id, problem, gold) for the 263 problems of the paper's math set, from the mirror."""
    from suites._data import load_records
    from suites.omni_math_hard.selection import hard_records

    rows = []
    for suite, count in SUITES:
        records = hard_records() if suite == "omni_math_hard" else load_records(suite)
        if len(records) != count:
            raise RuntimeError(f"{suite}: expected {count} problems, got {len(records)}")
        rows += [(suite, str(r["id"]), r["problem"], str(r["answer"])) for r in records]
    return rows


def _sympy_of(gold: str):
    """The gold as a sympy expression through math-verify's own LaTeX parser, or None."""
    from math_verify import parse

    try:
        parsed = parse(f"${gold}$", parsing_timeout=None)
    except Exception:
        return None
    return parsed[0] if parsed and hasattr(parsed[0], "free_symbols") else None


def variant_of(gold: str, rng: random.Random) -> str:
    """Another rendering of the same answer."""
    g = gold.strip()
    if g.lstrip("-").isdigit():
        n = int(g)
        choices = [f"{n}.0", f"x = {n}", f"\\text{{{n}}}", f"{n}."]
        if abs(n) >= 1000:
            choices.append(f"{n:,}")
        return rng.choice(choices)
    expr = _sympy_of(g) if len(g) <= 60 else None
    if expr is not None:
        import sympy

        for rewrite in (sympy.expand, sympy.factor, lambda e: e):
            try:
                candidate = sympy.latex(rewrite(expr))
            except Exception:  # sets, relations, intervals: not every rewrite applies
                continue
            if candidate.replace(" ", "") != g.replace(" ", ""):
                return candidate
    return g.replace("\\frac", "\\dfrac") if "\\frac" in g else f"{{{g}}}"


def wrong_of(gold: str, rng: random.Random) -> str:
    g = gold.strip()
    if g.lstrip("-").isdigit():
        return str(int(g) + rng.choice([-1, 1]) * rng.randint(1, 60))
    expr = _sympy_of(g) if len(g) <= 60 else None
    if expr is not None and getattr(expr, "is_number", False):
        import sympy

        try:
            return sympy.latex(expr + rng.randint(1, 9))
        except Exception:
            pass
    return f"{g} + 1"


def reasoning(problem: str, rng: random.Random) -> str:
    """Reasoning text of 1k-20k characters (log-uniform), quoting the problem like models do."""
    target = int(10 ** rng.uniform(3, 4.3))
    parts = [f"The problem says: {problem[:400]}\n"]
    while sum(map(len, parts)) < target:
        parts.append(FILLER)
    return "".join(parts)[:target]


def build_outputs(golds: list[tuple[str, str, str, str]], seed: int = SEED) -> list[Output]:
    outputs = []
    for suite, pid, problem, gold in golds:
        rng = random.Random(f"{seed}/{suite}/{pid}")
        for kind, count in MIX:
            for _ in range(count):
                think = f"<think>\n{reasoning(problem, rng)}\n</think>\n\n"
                if kind == "correct_boxed":
                    text, ok = f"{think}The final answer is $\\boxed{{{gold}}}$.", True
                elif kind == "correct_variant":
                    text, ok = f"{think}Therefore the answer is \\boxed{{{variant_of(gold, rng)}}}.", True
                elif kind == "incorrect":
                    text, ok = f"{think}So the answer is $\\boxed{{{wrong_of(gold, rng)}}}$.", False
                elif kind == "no_answer":
                    text, ok = think.rsplit("</think>", 1)[0] + "so far we have $y = 2$, and", False
                else:
                    text, ok = f"{think}<answer>{gold}</answer>", True
                outputs.append(Output(f"{suite}/{pid}", suite, gold, kind, text, ok))
    return outputs


# ---- the two graders ---------------------------------------------------------------------------------


def k2bench_grade(item: tuple[str, str]) -> tuple[float, bool, str]:
    """(score, whether math-verify decided it, status) -- the rest are decided by extraction and exact fast paths."""
    from suites.grading.math_answer import grade_math

    completion, gold = item
    verdict = grade_math(completion, gold)
    return verdict.score, "math-verify:" in verdict.reason, verdict.status


def raw_math_verify(item: tuple[str, str]) -> float:
    from math_verify import parse, verify

    completion, gold = item
    try:
        return float(bool(verify(parse(f"${gold}$"), parse(completion))))
    except Exception:  # raw usage: a crash counts as wrong, as in typical reward code
        return 0.0


def _mv_warm(_: int) -> bool:
    import math_verify  # noqa: F401

    return True


def run_k2bench(items: list[tuple[str, str]]) -> tuple[float, list[tuple[float, bool, str]]]:
    with ThreadPoolExecutor(PARALLELISM) as pool, Timer() as t:
        results = list(pool.map(k2bench_grade, items))
    return t.seconds, results


def run_math_verify(items: list[tuple[str, str]], pool) -> tuple[float, list[float]]:
    with Timer() as t:
        scores = pool.map(raw_math_verify, items, chunksize=16)
    return t.seconds, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 problems, 1 repeat (smoke run; not written)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    import multiprocessing

    golds = load_golds()
    if args.quick:
        golds, args.repeats = golds[::13][:20], 1
    t0 = time.time()
    outputs = build_outputs(golds)
    build_s = time.time() - t0
    items = [(o.completion, o.gold) for o in outputs]
    info = machine_info()

    # warm-up: k2bench's math-verify workers and raw math-verify's pool import sympy once
    # (symbolic pairs, so that both of k2bench's worker processes are started before the clock runs)
    warm = [i for i, o in enumerate(outputs) if o.kind == "correct_variant" and not o.gold.isdigit()][:16]
    _, warmed = run_k2bench([items[i] for i in warm])
    if not any(pooled for _, pooled, _ in warmed):
        raise RuntimeError("warm-up reached no math-verify worker: the workload has no symbolic answers")
    ctx = multiprocessing.get_context("spawn")  # no fork: this process has threads (k2bench's pool)
    with ctx.Pool(PARALLELISM) as mv_pool:
        mv_pool.map(_mv_warm, range(PARALLELISM))
        k2_times, mv_times, k2_scores, mv_scores = [], [], None, None
        for _ in range(args.repeats):  # interleaved, so a burst of load on the shared machine hits both
            seconds, k2_scores = run_k2bench(items)
            k2_times.append(seconds)
            seconds, mv_scores = run_math_verify(items, mv_pool)
            mv_times.append(seconds)
    n = len(items)
    k2_rate, mv_rate = summarize(n / t for t in k2_times), summarize(n / t for t in mv_times)
    ratio = summarize(m / k for k, m in zip(k2_times, mv_times, strict=True))

    by_kind: dict[str, dict[str, int]] = {}
    via_mv = sum(int(pooled) for _, pooled, _ in k2_scores)
    statuses = Counter(status for _, _, status in k2_scores)
    for o, (k2, _, _), mv in zip(outputs, k2_scores, mv_scores, strict=True):
        row = by_kind.setdefault(o.kind, {"n": 0, "k2_as_expected": 0, "mv_as_expected": 0, "agree": 0})
        row["n"] += 1
        row["k2_as_expected"] += int((k2 == 1.0) == o.expect_correct)
        row["mv_as_expected"] += int((mv == 1.0) == o.expect_correct)
        row["agree"] += int(k2 == mv)
    agree = sum(r["agree"] for r in by_kind.values())

    code = None
    sandbox_json = args.out_dir / "sandbox_bench.json"
    if sandbox_json.is_file():
        code = json.loads(sandbox_json.read_text())

    lines = [
        "# Grading throughput (generated by benchmarks/grading_bench.py; do not edit)",
        "",
        machine_line(info),
        "",
        f"Workload: {len(golds)} problems (AIME 2024, AIME 2025, HMMT Feb 2025, Omni-MATH-HARD real golds) x "
        f"{SAMPLES_PER_PROBLEM} synthetic K2-format outputs = {n} verdicts per repeat; mix per problem "
        + ", ".join(f"{c} {k}" for k, c in MIX)
        + f"; reasoning 1k-20k chars. {args.repeats} repeats, interleaved; median (min-max). "
        f"Parallelism {PARALLELISM} for both (threads over k2bench's {PARALLELISM} math-verify workers; "
        f"a {PARALLELISM}-process pool for raw math-verify).",
        "",
        md_table(
            ["grader", "verdicts/s", "seconds per repeat", "outputs graded as their label says"],
            [
                ["k2bench grade_math", fmt_stat(k2_rate), fmt_stat(summarize(k2_times), 2),
                 f"{sum(r['k2_as_expected'] for r in by_kind.values())}/{n}"],
                ["raw math-verify parse+verify", fmt_stat(mv_rate), fmt_stat(summarize(mv_times), 2),
                 f"{sum(r['mv_as_expected'] for r in by_kind.values())}/{n}"],
            ],
        ),
        "",
        f"**Ratio k2bench / math-verify throughput: {fmt_stat(ratio, 2)}** (per repeat: raw time / k2bench time).",
        "",
        "Per output kind (how many each grader scored as the label says; agreement of the two scores):",
        "",
        md_table(["kind", "n", "k2bench as labelled", "math-verify as labelled", "scores agree"],
                 [[k, r["n"], r["k2_as_expected"], r["mv_as_expected"], r["agree"]] for k, r in by_kind.items()]),
        "",
        "k2bench verdict statuses: " + ", ".join(f"{s} {c}" for s, c in sorted(statuses.items()))
        + " (an `error` would be an undecided comparison: timeout, cost bound, crash).",
        "",
        f"Scores agree on {agree}/{n} outputs. Where they differ: raw math-verify parses the whole completion, "
        "so on a completion with no final answer it grades whatever LaTeX it last finds in the reasoning, and it "
        "has no `<answer>` rule; k2bench extracts only after `</think>` in K2's order (extract.py).",
        "",
        f"Where the time goes: k2bench extracts the answer region first (microseconds) and decides "
        f"{n - via_mv}/{n} outputs by normalised-string or exact-number fast paths; {via_mv} "
        "(symbolic or non-integer answers) go to math-verify in a worker process (a JSON round trip plus "
        "math-verify on the short answer strings). Raw math-verify runs its LaTeX extraction over the whole "
        "completion for every output, so its cost grows with reasoning length.",
    ]
    if code:
        lines += ["", "Code executions/s (from results/perf/sandbox_bench.md, benchmarks/sandbox_bench.py):", ""]
        rows = [[r["config"], r["parallelism"], fmt_stat(r["exec_per_s"])]
                for r in code.get("rows", []) if isinstance(r, dict) and isinstance(r.get("exec_per_s"), dict)]
        if rows:
            lines.append(md_table(["configuration", "parallelism", "executions/s"], rows))
        else:
            lines.append("see results/perf/sandbox_bench.md")
    data = {
        "machine": info, "problems": len(golds), "outputs": n, "mix": dict(MIX), "repeats": args.repeats,
        "parallelism": PARALLELISM, "build_outputs_s": build_s,
        "k2bench_seconds": k2_times, "math_verify_seconds": mv_times,
        "k2bench_verdicts_per_s": k2_rate, "math_verify_verdicts_per_s": mv_rate, "ratio": ratio,
        "by_kind": by_kind, "k2bench_statuses": dict(statuses), "scores_agree": agree, "k2bench_decided_by_math_verify": via_mv,
        "examples": [asdict(o) | {"completion": o.completion[-300:]} for o in outputs[:: max(1, n // 12)]],
    }
    if args.quick:
        print("\n".join(lines))
        return 0
    from benchmarks._perf import write_result

    write_result("grading_bench", "\n".join(lines), data, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
