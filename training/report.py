"""Artefacts of a CPU training run, derived afterwards from what the run wrote (nothing is threaded through it).

- `curve`: a GRPO run's `trainer_state.json` -> per-step CSV log and a reward-curve PNG, plus a test of "did
  the reward rise": mean reward of the first vs the last K steps, with a step-level bootstrap 95% interval
  and a one-sided permutation p-value (steps are the unit: a step's completions share a few prompts).
- `heldout`: inspect logs of training/heldout_task.py -> a markdown table of held-out accuracy per model with
  n and a 95% Wilson interval, and the rate of each failure status.

    python -m training.report curve training/out/smollm2-grpo/trainer_state.json --out results/training
    python -m training.report heldout logs/heldout/*.eval --out results/training
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path
from typing import Any

Z95 = 1.959964
NUMERAL = re.compile(r"^[+-]?\d+$")
CURVE_KEYS = ("reward", "reward_std", "rewards/math_reward/mean", "rewards/format_reward/mean", "math/correct",
              "math/incorrect", "math/no_answer", "math/truncated", "math/error", "completions/mean_length",
              "completions/clipped_ratio", "learning_rate", "step_time", "loss")


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson interval of k/n (suites/stats.py; z kept for callers, only 95% is used)."""
    from suites.stats import wilson_interval

    if n == 0:
        return (math.nan, math.nan)
    return wilson_interval(k / n, n)


def rise(values: list[float], window: int, reps: int = 10_000, seed: int = 0) -> dict[str, float]:
    """First vs last `window` steps of a per-step mean reward: difference, bootstrap 95% CI, permutation p-value.

    The unit is the step, not the completion: a step's completions share a few prompts and are not independent.
    The p-value is one-sided (H1: the last window is higher), from `reps` random relabellings of the steps;
    both from suites/stats.py (scipy.stats.bootstrap, percentile; scipy.stats.permutation_test).
    """
    from suites.stats import two_sample_comparison

    first, last = values[:window], values[-window:]
    result = two_sample_comparison(first, last, seed=seed, resamples=reps, permutations=reps)
    return {"window_steps": window, "first_mean": sum(first) / len(first), "last_mean": sum(last) / len(last),
            "difference": result.difference, "ci95_low": result.ci_low, "ci95_high": result.ci_high,
            "p_one_sided": result.p_greater, "method": "step-level bootstrap CI, permutation p-value (scipy.stats)"}


MATH_KEYS = ("rewards/math_reward/mean", "rewards/math_literal_reward/mean")  # whichever math reward the run used


def curve(state_path: Path, out_dir: Path, name: str, window: int, key: str = "reward",
          machine: str = "2 CPU cores") -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [h for h in json.loads(state_path.read_text())["log_history"] if "reward" in h]
    if not history:
        raise ValueError(f"{state_path}: no GRPO steps in log_history")
    math_key = next((k for k in MATH_KEYS if k in history[0]), None)
    if math_key is None:
        raise ValueError(f"{state_path}: none of {MATH_KEYS} in log_history")
    keys = tuple(math_key if k == MATH_KEYS[0] else k for k in CURVE_KEYS)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / f"{name}_log.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *keys])
        for h in history:
            writer.writerow([h["step"], *(h.get(k, "") for k in keys)])
    steps = [h["step"] for h in history]
    math_reward = [h[math_key] for h in history]
    window = min(window, len(history) // 2)
    summary = {k: rise([h[k] for h in history], window) for k in ("reward", math_key, "rewards/format_reward/mean")}
    head = summary[key]

    def smooth(xs: list[float], k: int = 10) -> list[float]:
        return [sum(xs[max(0, i - k + 1) : i + 1]) / len(xs[max(0, i - k + 1) : i + 1]) for i in range(len(xs))]

    fig, ax = plt.subplots(figsize=(8, 4.5))
    total = [h["reward"] for h in history]
    ax.plot(steps, total, color="tab:green", alpha=0.25, lw=1, label="reward = math + 0.2 format, per step")
    ax.plot(steps, smooth(total), color="tab:green", lw=2, label="reward, 10-step mean")
    ax.plot(steps, smooth(math_reward), color="tab:blue", lw=2, label=f"{math_key.split('/')[1]} (grade_math), 10-step mean")
    ax.plot(steps, smooth([h["rewards/format_reward/mean"] for h in history]), color="tab:orange", lw=2,
            label="format reward, 10-step mean")
    ax.plot(steps, smooth([h["math/truncated"] for h in history]), color="tab:gray", lw=1, ls="--",
            label="truncated rate, 10-step mean")
    ax.set(xlabel="GRPO step", ylabel="mean over the step's completions", ylim=(-0.02, 1.22),
           title=f"{name}: GRPO on SYNTHETIC arithmetic, SmolLM2-135M, {machine}\n"
                 f"{key} first {window} steps {head['first_mean']:.3f} -> last {head['last_mean']:.3f}, "
                 f"diff {head['difference']:+.3f} (95% CI {head['ci95_low']:+.3f}..{head['ci95_high']:+.3f}, "
                 f"p={head['p_one_sided']:.4f})")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_dir / f"{name}_reward.png", dpi=120)
    (out_dir / f"{name}_rise.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def heldout(log_paths: list[Path], out_dir: Path, labels: list[str] | None) -> Path:
    from inspect_ai.log import read_eval_log

    from suites.grading.math_answer import normalize_answer

    lines = [
        "<!-- generated by `python -m training.report heldout`; do not edit -->",
        "# Held-out accuracy of the CPU training runs (training/heldout_task.py, 200 SYNTHETIC problems)",
        "",
        "Greedy decoding, one sample per problem, graded by suites/grading (`math_scorer`). 95% Wilson interval.",
        "`as numeral`: correct AND the extracted answer is a plain integer (a diagnostic, not the grader: "
        "grade_math also credits an unevaluated expression such as `\\boxed{33 + 87}` for 120).",
        "",
        "| model | n | correct | accuracy | 95% CI | as numeral | no_answer | truncated | incorrect | log |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for i, path in enumerate(log_paths):
        log = read_eval_log(str(path))
        if log.status != "success" or log.samples is None:
            raise ValueError(f"{path}: eval status {log.status}")
        scores = [s.scores["math_scorer"] for s in log.samples]
        statuses = [sc.metadata["status"] for sc in scores]
        n, k = len(statuses), statuses.count("correct")
        numeral = sum(st == "correct" and bool(NUMERAL.match(normalize_answer(sc.answer or "")))
                      for st, sc in zip(statuses, scores, strict=True))
        lo, hi = wilson(k, n)
        label = labels[i] if labels else log.eval.model_args.get("model_path", log.eval.model)

        def rate(status: str, statuses: list[str] = statuses, n: int = n) -> str:
            return f"{statuses.count(status) / n:.3f}"

        lines.append(f"| {label} | {n} | {k} | {k / n:.3f} | {lo:.3f}–{hi:.3f} | {numeral} | {rate('no_answer')} | "
                     f"{rate('truncated')} | {rate('incorrect')} | {path.name} |")
    out = out_dir / "heldout_accuracy.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("curve")
    c.add_argument("state", type=Path)
    c.add_argument("--out", type=Path, default=Path("results/training"))
    c.add_argument("--name", default="grpo_cpu")
    c.add_argument("--window", type=int, default=15, help="steps compared at the start and the end")
    c.add_argument("--machine", default="2 CPU cores", help="where it ran, for the plot title")
    h = sub.add_parser("heldout")
    h.add_argument("logs", type=Path, nargs="+")
    h.add_argument("--out", type=Path, default=Path("results/training"))
    h.add_argument("--labels", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "curve":
        print(json.dumps(curve(args.state, args.out, args.name, args.window, machine=args.machine), indent=2))
    else:
        print(heldout(args.logs, args.out, args.labels))


if __name__ == "__main__":
    main()
