"""Plots of the performance results: reads results/perf/*.json, writes results/perf/*.png (matplotlib, Agg).

Each plot is made only when its JSON exists, so this runs after any subset of the benchmarks:
  gpu_decode.png          decode tokens/s per request by variant (bf16, fp32) against the bandwidth ceiling
  gpu_sft.png             SFT tokens/s and MFU by Qwen2.5 shape
  grading_throughput.png  verdicts/s, k2bench vs raw math-verify; code executions/s (sandbox_bench.json)
  harness_overhead.png    wall time per harness split into start-up / eval phase / shutdown
  concurrency_scaling.png samples/s against concurrent connections, raw vs k2bench

    python -m benchmarks.plots
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.plots ...")

from benchmarks._perf import OUT_DIR, REPO  # noqa: E402

CAPTION = "k2bench benchmarks/plots.py"


def _load(name: str, out_dir: Path) -> dict | None:
    path = out_dir / name
    return json.loads(path.read_text()) if path.is_file() else None


def _errs(stats: list[dict], scale: float = 1.0) -> list[list[float]]:
    """matplotlib yerr from median/min/max dicts."""
    return [[(s["median"] - s["min"]) * scale for s in stats], [(s["max"] - s["median"]) * scale for s in stats]]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": CAPTION})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_gpu_decode(out_dir: Path) -> Path | None:
    from benchmarks.gpu.report import VARIANT_ORDER, decode_table

    bf16, fp32 = _load("gpu_decode_bf16_r3.json", out_dir), _load("gpu_decode_fp32.json", out_dir)
    if not bf16:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    series = [("bf16, 3 repeats", bf16), ("fp32, 6 prompts", fp32)]
    width = 0.38
    labels = [v for v in VARIANT_ORDER if v != "plain_static_compiled"]
    for i, (name, report) in enumerate(s for s in series if s[1]):
        _, summary = decode_table(report)
        stats = [summary[v]["tokens_per_s"] for v in labels if v in summary]
        xs = [j + (i - 0.5) * width for j, v in enumerate(labels) if v in summary]
        ax.bar(xs, [s["median"] for s in stats], width, yerr=_errs(stats), capsize=3, label=name)
    bound = bf16["ceiling"]["tokens_per_s_bound"]["bfloat16"]
    ax.axhline(bound, color="red", linestyle="--", label=f"HBM bandwidth bound, bf16 ({bound:,.0f} tok/s)")
    compiled = _load("gpu_decode_bf16_r1_compiled.json", out_dir)
    if compiled:
        rows = [r for r in compiled["rows"] if r["variant"] == "plain_static_compiled"]
        if rows:
            ax.axhline(rows[0]["tokens_per_s"]["median"], color="gray", linestyle=":",
                       label=f"plain, static cache + torch.compile, 1 prompt ({rows[0]['tokens_per_s']['median']:.0f})")
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)), [v.replace("_", "\n") for v in labels])
    ax.set_ylabel("decode tokens/s per request (log)")
    ax.set_title("SmolLM2-135M on one H200, batch 1, greedy (median, min-max)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, out_dir / "gpu_decode.png")


def plot_gpu_sft(out_dir: Path) -> Path | None:
    sft = _load("gpu_sft.json", out_dir)
    if not sft:
        return None
    import matplotlib.pyplot as plt

    runs = [r for r in sft["runs"] if "error" not in r]
    names = [f"{r['model'].replace('qwen2.5-', '')}\nS={r['seq_len']}" for r in runs]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    a1.bar(names, [r["tokens_per_s"]["median"] for r in runs], yerr=_errs([r["tokens_per_s"] for r in runs]),
           capsize=3)
    a1.set_ylabel("training tokens/s")
    a2.bar(names, [r["mfu"]["median"] for r in runs], yerr=_errs([r["mfu"] for r in runs]), capsize=3,
           color="tab:orange")
    a2.set_ylabel("MFU vs measured bf16 matmul rate")
    a2.set_ylim(0, 1)
    fig.suptitle("SFT step throughput, Qwen2.5 shapes, one H200 (fp32 master + bf16 autocast, AdamW)")
    return _save(fig, out_dir / "gpu_sft.png")


def plot_grading(out_dir: Path) -> Path | None:
    grading = _load("grading_bench.json", out_dir)
    if not grading:
        return None
    import matplotlib.pyplot as plt

    sandbox = _load("sandbox_bench.json", out_dir)
    fig, axes = plt.subplots(1, 2 if sandbox else 1, figsize=(9 if sandbox else 5, 3.8), squeeze=False)
    ax = axes[0][0]
    stats = [grading["k2bench_verdicts_per_s"], grading["math_verify_verdicts_per_s"]]
    ax.bar(["k2bench\ngrade_math", "raw math-verify\nparse+verify"], [s["median"] for s in stats],
           yerr=_errs(stats), capsize=4, color=["tab:blue", "tab:gray"])
    ax.set_ylabel("math verdicts/s (2 cores)")
    ax.set_title(f"{grading['problems']} x 16 outputs, ratio {grading['ratio']['median']:.2f}x")
    if sandbox:
        ax2 = axes[0][1]
        rows = [r for r in sandbox.get("rows", []) if isinstance(r.get("exec_per_s"), dict)]
        ax2.bar([f"{r['config'].split(' (')[0].split(',')[0]}\npar. {r['parallelism']}" for r in rows],
                [r["exec_per_s"]["median"] for r in rows], yerr=_errs([r["exec_per_s"] for r in rows]), capsize=4,
                color="tab:green")
        ax2.set_ylabel("code executions/s")
        ax2.set_title("sandbox_bench.json")
    return _save(fig, out_dir / "grading_throughput.png")


def plot_overhead(out_dir: Path) -> Path | None:
    data = _load("harness_overhead.json", out_dir)
    if not data:
        return None
    import statistics

    import matplotlib.pyplot as plt

    harnesses = list(dict.fromkeys(r["harness"] for r in data["rows"]))
    med = {}
    for h in harnesses:
        rows = [r for r in data["rows"] if r["harness"] == h]
        wall = statistics.median(r["wall_s"] for r in rows)
        ev = statistics.median(r["eval_s"] for r in rows if r.get("eval_s") is not None)
        start = statistics.median(r["startup_s"] for r in rows) if "startup_s" in rows[0] else None
        if start is None:  # no timestamps: everything outside the eval phase counts as start-up + shutdown
            start = wall - ev
        med[h] = (start, ev, max(wall - start - ev, 0.0))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottoms = [0.0] * len(harnesses)
    for i, (label, color) in enumerate([("start-up", "tab:gray"), ("eval phase", "tab:blue"),
                                        ("shutdown / other", "tab:olive")]):
        vals = [med[h][i] for h in harnesses]
        ax.bar(harnesses, vals, bottom=bottoms, label=label, color=color)
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    ax.set_ylabel("seconds (median of repeats)")
    setup = data["setup"]
    ax.set_title(f"AIME 2025, {setup['limit']} problems, max_tokens {setup['max_tokens']}, "
                 f"{setup['concurrency']} connections, one vLLM CPU server")
    ax.legend(fontsize=8)
    return _save(fig, out_dir / "harness_overhead.png")


def plot_scaling(out_dir: Path) -> Path | None:
    data = _load("concurrency_scaling.json", out_dir)
    if not data:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for h, points in data["series"].items():
        xs = [p["concurrency"] for p in points]
        stats = [p["samples_per_s"] for p in points]
        ax.errorbar(xs, [s["median"] for s in stats], yerr=_errs(stats), marker="o", capsize=3, label=h)
    ax.set_xscale("log", base=2)
    conc = data["setup"]["scaling"]
    ax.set_xticks(conc, [str(c) for c in conc])
    ax.set_xlabel("concurrent connections")
    ax.set_ylabel("samples/s (eval phase)")
    setup = data["setup"]
    ax.set_title(f"{setup['samples']} AIME samples, max_tokens {setup['scaling_max_tokens']}, one vLLM CPU server")
    ax.legend()
    return _save(fig, out_dir / "concurrency_scaling.png")


PLOTS = (plot_gpu_decode, plot_gpu_sft, plot_grading, plot_overhead, plot_scaling)


def make_all(out_dir: Path = OUT_DIR) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    made = []
    for plot in PLOTS:
        path = plot(out_dir)
        if path is not None:
            made.append(path)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="reads *.json and writes *.png here")
    args = parser.parse_args(argv)
    for path in make_all(args.out_dir):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
