"""Scale-out of the training recipes over several GPUs with accelerate (FSDP2, DeepSpeed ZeRO-3): config checks,
the device recipe (tokens/s, MFU and peak memory per GPU at N processes; identical-seed loss curves at N
processes against one; a GRPO launch) and its results/perf table. Issue 20.

Nothing here shards, schedules or reduces: `accelerate launch` starts the processes (torchrun), accelerate
wraps the model as training/accelerate/<backend>.yaml says (FSDP2 `fully_shard`, DeepSpeed ZeRO-3, or gloo
data parallel on CPU), TRL's SFTTrainer/GRPOTrainer train. This file checks configs with accelerate's own
loaders, builds the launch commands, times optimizer steps with a transformers TrainerCallback and tabulates.

Throughput runs the paper's SFT recipe (training/recipes/Qwen2.5-32B/sft/config_k2think.yaml: optimiser, bf16,
gradient checkpointing) on a randomly initialised Qwen2.5-shaped model (shapes from benchmarks/gpu/
sft_throughput.py, the public config.json values) and random token rows of a fixed length (throughput does not
depend on the values; AM-Thinking is not in the offline mirror). The per-GPU micro-batch is fixed, so the global
batch grows with N (weak scaling); MFU uses the FLOP count of sft_throughput.py against a measured bf16 matmul
rate. The loss check runs training/sft.py itself, as users do, on the CPU SFT recipe's real (synthetic) data
path with the global batch fixed: N processes against one, and one process with another micro-batch split
(the same sums in another order) as the noise floor.

    python training/gpu/scaleout.py check training/accelerate/*.yaml        # accelerate's checks, no launch
    python training/gpu/scaleout.py prepare                                 # HERE: .device/scaleout/ payload
    python3 training/gpu/scaleout.py run --work /root/k2 --out $OUT --nprocs 1 2 4 8 \\
        --backends fsdp2 zero3 --loss-check --grpo-check                     # the device (training/README.md)
    python training/gpu/scaleout.py table call*/scaleout.json results/perf/gpu_scaleout.md   # HERE
The same `run` works on a CPU machine (`--cpu --backends cpu_gloo --shape tiny`): tests/training/
test_distributed.py runs it so that the device recipe has run end to end before a multi-GPU lease.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `python training/gpu/scaleout.py` and `accelerate launch training/gpu/scaleout.py`
    sys.path.insert(0, str(REPO))

CONFIG_DIR = REPO / "training/accelerate"
BACKENDS = {"fsdp2": "fsdp2.yaml", "zero3": "zero3.yaml", "cpu_gloo": "cpu_gloo.yaml"}
PAPER_SFT = "training/recipes/Qwen2.5-32B/sft/config_k2think.yaml"
CPU_SFT = "training/recipes/SmolLM2-135M-Instruct/sft/config_cpu.yaml"
CPU_GRPO = "training/recipes/SmolLM2-135M-Instruct/grpo/config_cpu.yaml"
PAYLOAD = REPO / ".device/scaleout"
COMMITTED_CEILINGS = REPO / "results/perf/gpu_ceilings.json"  # one H200, benchmarks/gpu/ceilings.py
# Multi-GPU kinds of the device tool: NVLink multicast must stay off (it can take a shared host's GPUs down)
NCCL_SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# Qwen2.5-7B's public config.json (sharding matters: its fp32 master weights and Adam states exceed one H200);
# `tiny` is a Qwen2-architecture model for the CPU dry run only.
EXTRA_SHAPES = {
    "qwen2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, tie_word_embeddings=True),
}
# wheels the device image lacks for TRL + DeepSpeed (python 3.12); TRL's come from training/gpu/prepare.py.
# deepspeed publishes only an sdist: `prepare` builds it here into a pure-Python wheel (no ops pre-built;
# ZeRO-3 without offload needs none, the others compile at first use with the image's nvcc + ninja).
DEEPSPEED = "deepspeed==0.19.8"  # as pyproject's `distributed` extra
DEEPSPEED_DEPS = ["hjson==3.1.0", "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0",
                  "typing-inspection==0.4.5"]
CARRY_LIMIT = 54 * 2**20  # 64 MiB per call minus the ~10 MB working tree that travels with it


class ConfigError(ValueError):
    """A launch config that accelerate would refuse, or would read differently from what it says."""


# ---------------------------------------------------------------------------------------------- config check


def _accelerate_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(("ACCELERATE_", "FSDP_"))}


def check_config(path: str | Path, num_processes: int | None = None) -> dict:
    """accelerate's own checks of a launch config, without launching anything.

    1. `load_config_from_file` (what `accelerate launch` and `accelerate env` call): unknown top-level keys,
       enum values (distributed_type, mixed_precision...).
    2. every key of fsdp_config / deepspeed_config must be an option of accelerate's launch parser: launch copies
       these keys onto its arguments without looking, so a misspelt one would be ignored silently.
    3. `_validate_launch_command` on `accelerate launch --config_file PATH [--num_processes N] script`: the
       merge of config and command line that launch itself does, and its sanity checks.
    4. the environment the launcher would hand to the processes (`prepare_multi_gpu_env` /
       `prepare_deepspeed_cmd_env`), read back by the plugin the training process builds from it
       (`FullyShardedDataParallelPlugin()` / `DeepSpeedPlugin()`): FSDP2 option rules, the ZeRO config.
    """
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin, patch_environment
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    path = str(path)
    try:
        config = load_config_from_file(path)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise ConfigError(f"{path}: accelerate cannot load it: {exc}") from None
    parser = launch_command_parser()
    known = {action.dest for action in parser._actions}
    unknown = [f"{section}.{key}" for section in ("fsdp_config", "deepspeed_config")
               for key in getattr(config, section) or {}
               if (key if section != "fsdp_config" or key.startswith("fsdp_") else f"fsdp_{key}") not in known]
    if unknown:
        raise ConfigError(f"{path}: {unknown} are not options of `accelerate launch` (misspelt?); it would ignore them")
    argv = ["--config_file", path, *(["--num_processes", str(num_processes)] if num_processes else []), "train.py"]
    try:
        args, defaults, _ = _validate_launch_command(parser.parse_args(argv))
        summary = {"config": path, "distributed_type": str(config.distributed_type.value),
                   "num_processes": args.num_processes, "mixed_precision": args.mixed_precision,
                   "use_cpu": bool(getattr(args, "use_cpu", False))}
        if args.use_deepspeed:
            # as launch_command does before deepspeed_launcher
            args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
            _, env = prepare_deepspeed_cmd_env(args)
            with patch_environment(**_accelerate_env(env)):
                plugin = DeepSpeedPlugin()
            zero = plugin.deepspeed_config["zero_optimization"]
            summary.update(launcher="deepspeed_launcher (torchrun on one machine)", zero_stage=zero["stage"],
                           offload_optimizer=zero["offload_optimizer"]["device"],
                           offload_param=zero["offload_param"]["device"], zero3_init=plugin.zero3_init_flag,
                           save_16bit_model=zero["stage3_gather_16bit_weights_on_model_save"])
        elif args.use_fsdp or args.multi_gpu:
            env = prepare_multi_gpu_env(args)
            summary["launcher"] = "multi_gpu_launcher (torchrun)"
            if args.use_fsdp:
                with patch_environment(**_accelerate_env(env)):
                    plugin = FullyShardedDataParallelPlugin()
                summary.update(fsdp_version=plugin.fsdp_version, reshard_after_forward=plugin.reshard_after_forward,
                               auto_wrap=getattr(plugin.auto_wrap_policy, "__name__", None),
                               state_dict_type=str(plugin.state_dict_type.name),
                               cpu_ram_efficient_loading=plugin.cpu_ram_efficient_loading,
                               offload_params=bool(getattr(plugin.cpu_offload, "offload_params", False)))
        else:
            summary["launcher"] = "simple_launcher (one process unless mpirun)"
    except (ValueError, KeyError, ImportError) as exc:
        raise ConfigError(f"{path}: refused by accelerate: {exc}") from None
    return summary


# ---------------------------------------------------------------------------------------------- models, FLOPs


def shapes() -> dict[str, dict]:
    sys.path.insert(0, str(REPO / "benchmarks/gpu"))
    from sft_throughput import QWEN25_SHAPES

    return {**QWEN25_SHAPES, **EXTRA_SHAPES}


def flops_per_token(shape: dict, seq: int) -> float:
    """sft_throughput.py's count: 6 x matmul weights (+ LM head at its VOCAB) + causal attention."""
    sys.path.insert(0, str(REPO / "benchmarks/gpu"))
    from sft_throughput import flops_per_token as fpt

    return fpt(shape, seq)


def init_model(shape_name: str, work: Path, tokenizer_dir: Path) -> Path:
    """A random-init Qwen2.5-shaped model folder (bf16 safetensors) with the given tokenizer; kept if present."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(REPO / "benchmarks/gpu"))
    from sft_throughput import VOCAB

    out = work / f"{shape_name}-random"
    card = out / "k2bench_scaleout.json"
    if card.is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen2Config(vocab_size=VOCAB, max_position_embeddings=32768, rms_norm_eps=1e-6, use_cache=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **shapes()[shape_name])
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen2ForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    model.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    card.write_text(json.dumps({"shape": shape_name, "params": params, "vocab": VOCAB, "init": "random, seed 0",
                                "tokenizer": str(tokenizer_dir)}) + "\n")
    del model
    return out


# ---------------------------------------------------------------------------------------------- worker


def worker(argv: list[str]) -> int:
    """Under `accelerate launch`: the SFT recipe's trainer on random token rows, each optimizer step timed."""
    ap = argparse.ArgumentParser(prog="scaleout.py worker")
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("recipe", nargs=argparse.REMAINDER, help="-- then recipe arguments for training.configs.parse")
    args = ap.parse_args(argv)
    recipe = args.recipe[1:] if args.recipe[:1] == ["--"] else args.recipe
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import resource

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTTrainer

    from training import configs
    from training.sft import load_model_and_tokenizer

    cuda = torch.cuda.is_available()

    class StepTimer(TrainerCallback):
        """Wall time at the end of each optimizer step, after the device has finished it."""

        def __init__(self) -> None:
            self.t0, self.ends = 0.0, []

        def on_train_begin(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            self.ends.append(time.perf_counter() - self.t0)

    script_args, training_args, model_args = configs.parse("sft", recipe)
    model_path, tokenizer = load_model_and_tokenizer(model_args, training_args, script_args.chat_template)
    world, rank = training_args.world_size, training_args.process_index
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    rows = training_args.max_steps * per_step * world
    gen = torch.Generator().manual_seed(training_args.seed)  # the same rows on every rank; the sampler splits them
    ids = torch.randint(0, len(tokenizer), (rows, args.seq), generator=gen)
    dataset = Dataset.from_dict({"input_ids": ids.tolist()})
    timer = StepTimer()
    trainer = SFTTrainer(model=model_path, args=training_args, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[timer])
    trainer.train()
    state = trainer.accelerator.state
    record = {
        "rank": rank, "world": world, "device": str(training_args.device),
        "distributed_type": str(state.distributed_type.value),
        "fsdp_version": getattr(getattr(state, "fsdp_plugin", None), "fsdp_version", None),
        "zero_stage": (state.deepspeed_plugin.zero_stage if getattr(state, "deepspeed_plugin", None) else None),
        "step_end_s": timer.ends, "tokens_per_step_per_rank": per_step * args.seq,
        "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"rank{rank}.json").write_text(json.dumps(record) + "\n")
    trainer.accelerator.wait_for_everyone()  # teardown together, as training/sft.py does
    if hasattr(trainer, "end"):
        trainer.end()
    return 0


# ---------------------------------------------------------------------------------------------- orchestration


def launch_command(backend: str, nprocs: int, script: list[str]) -> list[str]:
    """`accelerate launch --config_file training/accelerate/<backend>.yaml --num_processes N script...`."""
    # on CPU, one OMP thread per process whatever N (accelerate would give a lone process every core), so that
    # N processes and one compute the same sums
    threads = ["--num_cpu_threads_per_process", "1"] if backend == "cpu_gloo" else []
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / BACKENDS[backend]),
            "--num_processes", str(nprocs), *threads, "--main_process_port", "0", *script]


def _run(cmd: list[str], log: Path, timeout: float) -> tuple[int, float]:
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log.open("w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        # this script sets every run's step count itself (warm-up + timed, loss steps); the step cap the README
        # tests set (configs.MAX_STEPS_ENV) would cut a run short of the steps it times
        from training.configs import MAX_STEPS_ENV

        env = {k: v for k, v in os.environ.items() if k != MAX_STEPS_ENV}
        try:
            proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, env=env)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.monotonic() - t0


def _failure(log: Path, rc: int) -> str:
    text = log.read_text(errors="replace")
    if "OutOfMemoryError" in text or "CUDA out of memory" in text:
        return f"OOM (rc {rc})"
    lines = [ln for ln in text.splitlines() if "Error" in ln or "error:" in ln]
    return f"rc {rc}: {(lines[-1] if lines else text.splitlines()[-1] if text else '')[:300]}"


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def throughput_row(backend: str, nprocs: int, model_dir: Path, shape: dict, args, rate: float | None) -> dict:
    run_dir = args.work / f"tp-{backend}-{nprocs}"
    shutil.rmtree(run_dir, ignore_errors=True)
    steps = args.warmup + args.timed
    device = ["--use_cpu", "true", "--bf16", "false"] if args.cpu else ["--use_cpu", "false"]
    recipe = ["--config", PAPER_SFT, "--dtype", args.dtype, "--model_name_or_path", str(model_dir), "--attn_implementation", "sdpa",
              "--use_liger_kernel", "false", "--packing", "false", "--assistant_only_loss", "false",
              "--max_length", str(args.seq), "--per_device_train_batch_size", str(args.micro_batch),
              "--gradient_accumulation_steps", "1", "--max_steps", str(steps), "--logging_steps", "1",
              "--save_strategy", "no", "--report_to", "none", "--dataset_num_proc", "1",
              "--output_dir", str(run_dir / "trainer"), *device]
    script = ["training/gpu/scaleout.py", "worker", "--out-dir", str(run_dir), "--seq", str(args.seq), "--", *recipe]
    cmd = launch_command(backend, nprocs, script)
    log = args.work / "logs" / f"tp-{backend}-{nprocs}.log"
    rc, wall = _run(cmd, log, args.launch_timeout)
    row = {"backend": backend, "nprocs": nprocs, "command": " ".join(cmd[1:]), "wall_s": round(wall, 1), "rc": rc}
    ranks = [json.loads(p.read_text()) for p in sorted(run_dir.glob("rank*.json"))]
    if rc or len(ranks) != nprocs:
        row["error"] = _failure(log, rc) if rc else f"{len(ranks)} of {nprocs} ranks reported"
        row["log_tail"] = log.read_text(errors="replace")[-3000:]
        return row
    # a step ends when the slowest rank ends it (they synchronise every step); time it on that rank
    ends = [max(r["step_end_s"][i] for r in ranks) for i in range(steps)]
    durations = [b - a for a, b in zip(ends, ends[1:], strict=False)][-args.timed:]
    tokens = sum(r["tokens_per_step_per_rank"] for r in ranks)
    tok_s = [tokens / d for d in durations]
    fpt = flops_per_token(shape, args.seq)
    row.update({
        "distributed_type": ranks[0]["distributed_type"], "fsdp_version": ranks[0]["fsdp_version"],
        "zero_stage": ranks[0]["zero_stage"], "device": ranks[0]["device"],
        "tokens_per_step": tokens, "step_s": _stats(durations), "tokens_per_s": _stats(tok_s),
        "tokens_per_s_per_gpu": statistics.median(tok_s) / nprocs,
        "mfu": _stats([t * fpt / (nprocs * rate) for t in tok_s]) if rate else None,
        "peak_allocated_gib_max": max((r["peak_allocated_gib"] or 0) for r in ranks) or None,
        "peak_reserved_gib_max": max((r["peak_reserved_gib"] or 0) for r in ranks) or None,
        "peak_rss_gib_max": max(r["peak_rss_gib"] for r in ranks),
        "losses": ranks[0]["losses"],
    })
    return row


def sft_losses(backend: str, nprocs: int, micro: int, model_dir: Path, args, tag: str) -> dict:
    """training/sft.py on the CPU recipe's data, global batch fixed: the loss curve of one launch."""
    out_dir = args.work / f"loss-{tag}"
    shutil.rmtree(out_dir, ignore_errors=True)
    device = ["--use_cpu", "true", "--bf16", "false"] if args.cpu else ["--use_cpu", "false", "--bf16", "true"]
    script = ["training/sft.py", "--config", CPU_SFT, "--model_name_or_path", str(model_dir),
              "--per_device_train_batch_size", str(micro), "--global_batch_size", str(args.global_batch),
              "--dataset_limit", str(args.global_batch * args.loss_steps), "--max_steps", str(args.loss_steps),
              "--logging_steps", "1", "--save_strategy", "no", "--output_dir", str(out_dir), *device]
    cmd = launch_command(backend, nprocs, script)
    log = args.work / "logs" / f"loss-{tag}.log"
    rc, wall = _run(cmd, log, args.launch_timeout)
    run = {"tag": tag, "nprocs": nprocs, "micro_batch": micro, "command": " ".join(cmd[1:]), "wall_s": round(wall, 1)}
    state = out_dir / "trainer_state.json"
    if rc or not state.is_file():
        run.update(error=_failure(log, rc), log_tail=log.read_text(errors="replace")[-3000:])
        return run
    history = json.loads(state.read_text())["log_history"]
    run["loss"] = [h["loss"] for h in history if "loss" in h]
    run["grad_norm"] = [h["grad_norm"] for h in history if "grad_norm" in h]
    run["ranks_logged"] = sum(f"process {r}/{nprocs}" in log.read_text(errors="replace") for r in range(nprocs))
    if tag != "n1":  # keep the curves; the N=1 weights are the GRPO check's start
        for weights in out_dir.glob("model*.safetensors"):
            weights.unlink()
    return run


def loss_check(backend: str, nprocs_list: list[int], model_dir: Path, args) -> dict:
    micro = args.global_batch // max(nprocs_list)
    runs = [sft_losses(backend, 1, micro, model_dir, args, "n1"),
            sft_losses(backend, 1, max(1, micro // 2), model_dir, args, "n1-split")]
    runs += [sft_losses(backend, n, micro, model_dir, args, f"n{n}") for n in nprocs_list if n > 1]
    ref = runs[0].get("loss")

    def max_diff(run: dict) -> float | None:
        if not ref or not run.get("loss") or len(run["loss"]) != len(ref):
            return None
        return max(abs(a - b) for a, b in zip(ref, run["loss"], strict=True))

    for run in runs[1:]:
        run["max_abs_diff_vs_n1"] = max_diff(run)
    noise = runs[1].get("max_abs_diff_vs_n1")
    for run in runs[2:]:
        diff = run.get("max_abs_diff_vs_n1")
        # "within noise": no further from N=1 than a same-maths reordering is, with a factor 2 of slack
        run["within_noise"] = None if diff is None or noise is None else diff <= 2 * noise + 1e-6
    return {"backend": backend, "global_batch": args.global_batch, "steps": args.loss_steps, "recipe": CPU_SFT,
            "noise_floor_max_abs_diff": noise, "runs": runs}


def grpo_check(backend: str, nprocs: int, model_dir: Path, args) -> dict:
    """training/grpo.py launched on N processes from the loss check's SFT model: rewards and loss per step."""
    out_dir = args.work / f"grpo-{nprocs}"
    shutil.rmtree(out_dir, ignore_errors=True)
    device = ["--use_cpu", "true", "--bf16", "false"] if args.cpu else ["--use_cpu", "false", "--bf16", "true"]
    if args.cpu:  # the dry run: 2 prompts x 4 completions of 16 tokens per step instead of the recipe's 2 x 8 x 48
        device += ["--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length", "16"]
    script = ["training/grpo.py", "--config", CPU_GRPO, "--model_name_or_path", str(model_dir), "--max_steps",
              str(args.grpo_steps), "--save_strategy", "no", "--output_dir", str(out_dir), *device]
    cmd = launch_command(backend, nprocs, script)
    log = args.work / "logs" / f"grpo-{nprocs}.log"
    rc, wall = _run(cmd, log, args.launch_timeout)
    run = {"nprocs": nprocs, "command": " ".join(cmd[1:]), "wall_s": round(wall, 1), "rc": rc}
    state = out_dir / "trainer_state.json"
    if rc or not state.is_file():
        run.update(error=_failure(log, rc), log_tail=log.read_text(errors="replace")[-3000:])
        return run
    keep = ("step", "loss", "grad_norm", "reward", "rewards/math_reward/mean", "rewards/format_reward/mean",
            "num_tokens", "step_time")
    run["steps"] = [{k: h[k] for k in keep if k in h} for h in json.loads(state.read_text())["log_history"]
                    if "reward" in h]
    run["ranks_logged"] = sum(f"process {r}/{nprocs}" in log.read_text(errors="replace") for r in range(nprocs))
    return run


def environment(cpu: bool) -> dict:
    import importlib.metadata as md

    env: dict = {"python": platform.python_version(), "machine": platform.node(), "cpu_count": os.cpu_count()}
    for name in ("torch", "transformers", "trl", "accelerate", "datasets", "deepspeed"):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if not cpu:
        import torch

        sys.path.insert(0, str(REPO / "benchmarks/gpu"))
        from ceilings import gpu_environment

        env.update(gpu_environment(), gpu_count=torch.cuda.device_count())
    return env


def run(args) -> int:
    os.environ.update(NCCL_SAFE_ENV)  # inherited by every launched process
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    rate = None
    if not args.cpu:
        ceilings = json.loads(Path(args.ceilings).read_text())
        rate = ceilings["matmul_bf16_flop_per_s"]
    for backend in args.backends:
        check_config(CONFIG_DIR / BACKENDS[backend])  # fail before any launch
    report = {"what": "accelerate scale-out of the SFT recipe: tokens/s, MFU, peak memory per GPU; loss curves",
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "environment": environment(args.cpu),
              "matmul_bf16_flop_per_s": rate, "ceilings": str(args.ceilings) if rate else None,
              "shape": args.shape, "shape_config": shapes()[args.shape], "seq_len": args.seq,
              "micro_batch_per_gpu": args.micro_batch, "dtype": args.dtype, "warmup_steps": args.warmup, "timed_steps": args.timed,
              "flops_per_token": flops_per_token(shapes()[args.shape], args.seq), "throughput": []}
    out_json = args.out / "scaleout.json"

    def save() -> None:  # after every launch: a later failure or timeout keeps what was measured
        out_json.write_text(json.dumps(report, indent=1) + "\n")

    visible = None if args.cpu else __import__("torch").cuda.device_count()
    if args.throughput:
        model_dir = init_model(args.shape, args.work, args.tokenizer)
        report["model"] = json.loads((model_dir / "k2bench_scaleout.json").read_text())
        for backend in args.backends:
            for n in args.nprocs:
                if visible is not None and n > visible:
                    report["throughput"].append({"backend": backend, "nprocs": n, "skipped": f"{visible} GPUs here"})
                elif backend == "zero3" and not report["environment"]["deepspeed"]:
                    report["throughput"].append({"backend": backend, "nprocs": n, "skipped": "deepspeed not installed"})
                else:
                    report["throughput"].append(throughput_row(backend, n, model_dir, shapes()[args.shape], args, rate))
                row = report["throughput"][-1]
                print(json.dumps({k: row.get(k) for k in ("backend", "nprocs", "tokens_per_s", "mfu",
                                                         "peak_allocated_gib_max", "error", "skipped")}), flush=True)
                save()
        base = {r["backend"]: r["tokens_per_s"]["median"] for r in report["throughput"]
                if r.get("nprocs") == 1 and r.get("tokens_per_s")}
        for r in report["throughput"]:
            if r.get("tokens_per_s") and r["backend"] in base:
                r["scaling_efficiency"] = r["tokens_per_s"]["median"] / (r["nprocs"] * base[r["backend"]])
        save()
    loss_backend = args.backends[0]
    fitting = [n for n in args.nprocs if visible is None or n <= visible]
    if args.loss_check:
        small = init_model(args.loss_shape, args.work, args.tokenizer)
        report["loss_check"] = loss_check(loss_backend, fitting, small, args)
        report["loss_check"]["model"] = json.loads((small / "k2bench_scaleout.json").read_text())
        print(json.dumps({r["tag"]: r.get("max_abs_diff_vs_n1") for r in report["loss_check"]["runs"]}), flush=True)
        save()
    if args.grpo_check:
        sft_model = args.work / "loss-n1"
        if not (sft_model / "config.json").is_file():
            report["grpo_check"] = {"error": "needs the loss check's N=1 SFT model (--loss-check)"}
        else:
            report["grpo_check"] = grpo_check(loss_backend, max(fitting), sft_model, args)
        save()
    if (args.work / "logs").is_dir():
        with tarfile.open(args.out / "logs.tgz", "w:gz") as tar:  # one file back from the device, all logs in it
            tar.add(args.work / "logs", arcname="logs")
    print(f"wrote {out_json} and {args.out / 'logs.tgz'}")
    return 0


# ---------------------------------------------------------------------------------------------- table


def _fmt(s: dict | None, scale: float = 1.0, digits: int = 0) -> str:
    if not s:
        return "-"
    return f"{s['median'] * scale:,.{digits}f} ({s['min'] * scale:,.{digits}f}-{s['max'] * scale:,.{digits}f})"


def merge(reports: list[dict]) -> dict:
    """Several device calls (e.g. one per backend, then the loss check) as one report: the first call's header."""
    merged = dict(reports[0], throughput=[row for r in reports for row in r.get("throughput", [])])
    for key in ("loss_check", "grpo_check", "model"):
        merged[key] = next((r[key] for r in reports if r.get(key)), None)
    merged["command"] = "; ".join(r["command"] for r in reports)
    return merged


def table(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# Scale-out of the SFT recipe over GPUs (generated by training/gpu/scaleout.py table; do not edit)", "",
        f"Machine: {env.get('gpu_count', '-')} x {env.get('gpu', 'CPU')}, python {env['python']}, torch "
        f"{env['torch']}, transformers {env['transformers']}, TRL {env['trl']}, accelerate {env['accelerate']}, "
        f"deepspeed {env['deepspeed'] or 'not installed'}. Command: `{report['command']}`.", "",
        f"Model: {report['shape']} shape, random init ({(report.get('model') or {}).get('params', 0):,} parameters), "
        f"sequences of {report['seq_len']} random tokens, micro-batch {report['micro_batch_per_gpu']} per GPU "
        f"(global batch grows with N), the paper SFT recipe's optimiser and gradient checkpointing, weights loaded "
        f"as {report.get('dtype')} with bf16 mixed precision; "
        f"{report['warmup_steps']} warm-up + {report['timed_steps']} timed optimizer steps, median (min-max) "
        f"over the timed steps. MFU = tokens/s x {report['flops_per_token']:.3g} FLOP/token / (N x "
        f"{(report['matmul_bf16_flop_per_s'] or 0) / 1e12:.0f} TFLOP/s measured bf16 matmul). Peak memory: "
        "torch.cuda.max_memory_allocated, the largest over the ranks.", "",
        "| backend | N | distributed | tokens/s | tokens/s per GPU | MFU | scaling efficiency | peak GiB per GPU | s/step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["throughput"]:
        if r.get("skipped") or r.get("error"):
            lines.append(f"| {r['backend']} | {r['nprocs']} | - | {r.get('skipped') or r.get('error')} | | | | | |")
            continue
        dist = r["distributed_type"] + (f" v{r['fsdp_version']}" if r.get("fsdp_version") else "") + \
            (f" stage {r['zero_stage']}" if r.get("zero_stage") else "")
        mem = r.get("peak_allocated_gib_max")
        lines.append(
            f"| {r['backend']} | {r['nprocs']} | {dist} | {_fmt(r['tokens_per_s'])} | {r['tokens_per_s_per_gpu']:,.0f} | "
            f"{_fmt(r['mfu'], 1, 3)} | {r.get('scaling_efficiency', float('nan')):.2f} | "
            f"{'-' if mem is None else f'{mem:.1f}'} | {_fmt(r['step_s'], 1, 3)} |")
    lc = report.get("loss_check")
    if lc:
        lines += ["", f"## Loss curves: training/sft.py, {lc['recipe']}, global batch {lc['global_batch']}, "
                  f"{lc['steps']} steps, backend {lc['backend']}", "",
                  f"Noise floor (one process, micro-batch halved: the same sums in another order): max |dloss| = "
                  f"{lc['noise_floor_max_abs_diff']}.", "",
                  "| run | N | micro-batch | first loss | last loss | max abs diff vs N=1 | within noise |",
                  "|---|---|---|---|---|---|---|"]
        for r in lc["runs"]:
            if r.get("error"):
                lines.append(f"| {r['tag']} | {r['nprocs']} | {r['micro_batch']} | {r['error']} | | | |")
                continue
            diff = r.get("max_abs_diff_vs_n1")
            lines.append(f"| {r['tag']} | {r['nprocs']} | {r['micro_batch']} | {r['loss'][0]:.4f} | "
                         f"{r['loss'][-1]:.4f} | {'-' if diff is None else f'{diff:.2e}'} | "
                         f"{r.get('within_noise', '-')} |")
    gc = report.get("grpo_check")
    if gc:
        lines += ["", "## GRPO launch: training/grpo.py from the N=1 SFT model", ""]
        if gc.get("error"):
            lines.append(f"Failed: {gc['error']}")
        else:
            lines.append(f"N = {gc['nprocs']}, ranks logged {gc['ranks_logged']}; per step: " + "; ".join(
                f"step {s['step']}: reward {s['reward']:.3f}, loss {s['loss']:.4f}" for s in gc["steps"]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- prepare


def prepare() -> int:
    """HERE: the payload of the device calls, in the git-ignored .device/scaleout/ (sizes printed)."""
    from transformers import AutoTokenizer

    from models.embedded import prepare_smollm2
    from training.gpu.prepare import WHEELS as TRL_WHEELS

    PAYLOAD.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(prepare_smollm2()).save_pretrained(PAYLOAD / "tokenizer")
    wheels, big = PAYLOAD / "wheels", PAYLOAD / "pyarrow"
    for folder in (wheels, big):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    platform_args = ["--only-binary=:all:", "--no-deps", "--python-version", "3.12", "--implementation", "cp",
                     "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                     "--platform", "manylinux_2_28_x86_64"]
    pip = [sys.executable, "-m", "pip"]
    small = [w for w in TRL_WHEELS if not w.startswith("pyarrow")] + DEEPSPEED_DEPS
    subprocess.run([*pip, "download", "-q", *platform_args, "-d", str(wheels), *small], check=True)
    subprocess.run([*pip, "download", "-q", *platform_args, "-d", str(big),
                    *[w for w in TRL_WHEELS if w.startswith("pyarrow")]], check=True)
    # sdist only on PyPI; built in an isolated env without torch -> pure Python, ops compiled at first use
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), DEEPSPEED], check=True)
    total = 0
    for p in sorted(PAYLOAD.rglob("*")):
        if p.is_file():
            total += p.stat().st_size if big not in p.parents else 0
            print(f"{p.stat().st_size:>12,}  {p.relative_to(REPO)}")
    print(f"{total:,} bytes without pyarrow (limit {CARRY_LIMIT:,} per call with the working tree)")
    if total > CARRY_LIMIT:
        raise SystemExit("the payload does not fit one call; split .device/scaleout/wheels")
    return 0


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="accelerate's checks of launch configs")
    c.add_argument("configs", nargs="+")
    c.add_argument("--num-processes", type=int)
    sub.add_parser("prepare", help="HERE: .device/scaleout/ (tokenizer, wheels)")
    r = sub.add_parser("run", help="launch the measurements (the device; --cpu for a dry run here)")
    r.add_argument("--work", type=Path, required=True, help="models and run folders (not returned)")
    r.add_argument("--out", type=Path, required=True, help="scaleout.json and logs/")
    r.add_argument("--nprocs", type=int, nargs="+", default=[1, 2, 4, 8])
    r.add_argument("--backends", nargs="+", default=["fsdp2", "zero3"], choices=sorted(BACKENDS))
    r.add_argument("--shape", default="qwen2.5-3b")
    r.add_argument("--seq", type=int, default=4096)
    r.add_argument("--micro-batch", type=int, default=2)
    r.add_argument("--dtype", default="float32", help="weights as loaded: fp32 master weights, bf16 compute from "
                   "the accelerate config (ZeRO-3 keeps fp32 masters either way)")
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--timed", type=int, default=8)
    r.add_argument("--no-throughput", dest="throughput", action="store_false")
    r.add_argument("--loss-check", action="store_true")
    r.add_argument("--loss-shape", default="qwen2.5-0.5b")
    r.add_argument("--global-batch", type=int, default=16)
    r.add_argument("--loss-steps", type=int, default=16)
    r.add_argument("--grpo-check", action="store_true")
    r.add_argument("--grpo-steps", type=int, default=3)
    r.add_argument("--tokenizer", default=str(PAYLOAD / "tokenizer"),
                   help="tokenizer folder (prepare writes it), or embedded:smollm2-135m-instruct here")
    r.add_argument("--ceilings", default=str(COMMITTED_CEILINGS), help="ceilings.json with matmul_bf16_flop_per_s")
    r.add_argument("--launch-timeout", type=float, default=900)
    r.add_argument("--cpu", action="store_true", help="CPU dry run: no MFU, no GPU memory")
    t = sub.add_parser("table", help="HERE: results/perf markdown from a scaleout.json")
    t.add_argument("reports", type=Path, nargs="+", help="scaleout.json of one or more device calls")
    t.add_argument("markdown", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "check":
        try:
            for path in args.configs:
                print(json.dumps(check_config(path, args.num_processes)))
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.cmd == "prepare":
        return prepare()
    if args.cmd == "table":
        args.markdown.write_text(table(merge([json.loads(r.read_text()) for r in args.reports])))
        print(f"wrote {args.markdown}")
        return 0
    if args.shape not in shapes() or args.loss_shape not in shapes():
        ap.error(f"--shape / --loss-shape must be one of {sorted(shapes())}")
    if args.tokenizer.startswith("embedded:"):
        from training.configs import resolve_model_path

        args.tokenizer = resolve_model_path(args.tokenizer)
    args.tokenizer = Path(args.tokenizer)
    if not (args.tokenizer / "tokenizer_config.json").is_file():
        ap.error(f"no tokenizer at {args.tokenizer}: run `python training/gpu/scaleout.py prepare` here first")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
