"""The CPU training pair (SFT cold start -> GRPO) on the project's H200, then held-out accuracy on the device.

Runs ON the device machine (torch + transformers, no network, no vLLM/TRL/inspect: TRL and its dependencies
travel as wheels, see training/gpu/prepare.py). Same code and recipes as on CPU (training/sft.py,
training/grpo.py, the SmolLM2 recipes), with `--use_cpu false` and the reward given on the command line.

Held-out accuracy: inspect is not on the device, so this script generates for the exact chat messages the
suite sent (read from the committed inspect log of training/heldout_task.py by prepare.py), bf16 and batches of
16 as the embedded engine, greedy, 48 new
tokens, stop at `</answer>` as the protocol does, and grades with the suites' own `grade_math`.
`--check-against LOG` (run here on CPU) shows that this path reproduces the suite's verdicts.

    python training/gpu/device_grpo.py --gguf /root/k2/smollm2.gguf --work /root/k2 --out $OUT \\
        --messages .device/heldout_messages.json --reward-funcs math_literal format
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SFT_RECIPE = "training/recipes/SmolLM2-135M-Instruct/sft/config_cpu.yaml"
GRPO_RECIPE = "training/recipes/SmolLM2-135M-Instruct/grpo/config_cpu.yaml"
STOP = "</answer>"


def heldout(model_dir: Path, messages: list[dict], device: str, batch_size: int = 16) -> list[dict]:
    """Greedy completions for the suite's messages, graded by grade_math (status per sample)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from suites.grading.math_answer import grade_math

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to(device).eval()  # as k2bench/local
    end_ids = {tok.eos_token_id, tok.pad_token_id}
    rows = []
    for start in range(0, len(messages), batch_size):
        chunk = messages[start : start + batch_size]
        prompts = [tok.apply_chat_template(m["messages"], add_generation_prompt=True, tokenize=False) for m in chunk]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=48, do_sample=False, pad_token_id=tok.pad_token_id,
                                 stop_strings=[STOP], tokenizer=tok)
        for m, ids in zip(chunk, out[:, enc["input_ids"].shape[1] :].tolist(), strict=True):
            end = next((j for j, t in enumerate(ids) if t in end_ids), None)
            text = tok.decode(ids if end is None else ids[: end + 1], skip_special_tokens=True)
            cut = text.find(STOP)
            truncated = cut < 0 and end is None
            text = text[:cut] if cut >= 0 else text
            verdict = grade_math(text, m["target"], truncated=truncated)
            rows.append({"id": m["id"], "completion": text, "status": verdict.status, "extracted": verdict.extracted})
    return rows


def summary(rows: list[dict]) -> dict:
    from suites.grading.math_answer import normalize_answer
    from training.report import NUMERAL, wilson

    n, k = len(rows), sum(r["status"] == "correct" for r in rows)
    numeral = sum(r["status"] == "correct" and bool(NUMERAL.match(normalize_answer(r["extracted"] or ""))) for r in rows)
    return {"n": n, "correct": k, "accuracy": k / n, "wilson95": list(wilson(k, n)), "as_numeral": numeral,
            **{s: sum(r["status"] == s for r in rows) for s in ("incorrect", "no_answer", "truncated", "error")}}


def run(cmd: list[str], log: Path) -> float:
    t0 = time.monotonic()
    with log.open("w") as f:
        proc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        print(log.read_text()[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/root/k2"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--messages", type=Path, required=True)
    ap.add_argument("--reward-funcs", nargs="+", default=["math_literal", "format"])
    ap.add_argument("--sft-steps", type=int, default=3)
    ap.add_argument("--grpo-steps", type=int, default=60)
    ap.add_argument("--check-against", type=Path, help="(CPU) compare with an inspect held-out log's verdicts")
    ap.add_argument("--model", type=Path, help="with --check-against: the model that log evaluated")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    messages = json.loads(args.messages.read_text())
    if args.check_against:
        from inspect_ai.log import read_eval_log

        rows = heldout(args.model, messages, "cpu")
        log = {str(s.id): s.scores["math_scorer"].metadata["status"] for s in read_eval_log(str(args.check_against)).samples}
        same = sum(log[r["id"]] == r["status"] for r in rows)
        report = {"model": str(args.model), "log": args.check_against.name, "same_status": same, "n": len(rows),
                  "this_path": summary(rows)}
        print(json.dumps(report, indent=1))
        (args.out / "heldout_path_check.json").write_text(json.dumps(report, indent=1) + "\n")
        return 0

    import torch
    import transformers
    import trl

    device = "cuda" if torch.cuda.is_available() else "cpu"
    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "trl": trl.__version__, "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None}
    from models.gguf import dequantize_gguf

    base = args.work / "smollm2-135m-instruct"
    if not (base / "model.safetensors").is_file():
        dequantize_gguf(args.gguf, base)
    sft_dir = args.work / "sft-coldstart"
    grpo_dir = args.work / ("grpo-" + "-".join(args.reward_funcs))
    shutil.rmtree(grpo_dir, ignore_errors=True)
    py = sys.executable
    sft_cmd = [py, "training/sft.py", "--config", SFT_RECIPE, "--model_name_or_path", str(base), "--use_cpu", "false",
               "--max_steps", str(args.sft_steps), "--output_dir", str(sft_dir)]
    grpo_cmd = [py, "training/grpo.py", "--config", GRPO_RECIPE, "--model_name_or_path", str(sft_dir),
                "--use_cpu", "false", "--max_steps", str(args.grpo_steps), "--output_dir", str(grpo_dir),
                "--save_strategy", "no", "--reward_funcs", *args.reward_funcs]
    timings = {"sft_s": run(sft_cmd, args.out / "sft.log"), "grpo_s": run(grpo_cmd, args.out / "grpo.log")}
    shutil.copy(grpo_dir / "trainer_state.json", args.out / "trainer_state.json")
    results = {}
    for name, model_dir in (("before_sft_coldstart", sft_dir), ("after_grpo", grpo_dir)):
        t0 = time.monotonic()
        rows = heldout(model_dir, messages, device)
        timings[f"heldout_{name}_s"] = time.monotonic() - t0
        results[name] = summary(rows)
        (args.out / f"heldout_{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = {"what": "CPU recipe pair on the H200: SFT cold start, GRPO, held-out before/after",
              "commands": {"sft": " ".join(sft_cmd[1:]), "grpo": " ".join(grpo_cmd[1:])},
              "environment": env, "timings_s": timings, "heldout": results,
              "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
    (args.out / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
