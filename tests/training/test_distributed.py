"""The multi-GPU scale-out path (issue 20), shown on this CPU machine so that it is ready before a multi-GPU lease.

- Every launch config in training/accelerate/ passes accelerate's own checks (training/gpu/scaleout.py
  check_config: the loader `accelerate launch` uses, its merge of config and command line, the FSDP2 /
  DeepSpeed plugin built from the environment the launcher hands over) and `accelerate env` reads it; a
  misspelt key or an FSDP1-only value is refused.
- The launch path, as training/README.md writes it: `accelerate launch --config_file
  training/accelerate/cpu_gloo.yaml --num_processes 1|2 training/sft.py` on the embedded SmolLM2 and the CPU
  recipe's data, global batch 8 both times: both ranks train, the loss falls, and the two-process loss and
  gradient-norm curves equal the one-process ones (tolerance 1e-5 relative; measured identical to the last bit,
  because each rank and the single process run one OMP thread: with 2 threads in the single process the curve
  moves by ~1% at step 3 through Adam's sign-like first steps).
- The device recipe training/gpu/scaleout.py end to end on CPU (tiny Qwen2-shaped model, gloo): throughput at 1 and
  2 processes, its loss check (2 processes vs 1 vs the same maths reordered) and a 2-process GRPO launch.
- The eval scale-out: models/k2_think.yaml's parallel options become `vllm serve` flags as inspect's vllm provider
  builds them, and vLLM's own serve parser and engine config (its CPU build) accept them: TP 1 x DP 1 on the
  embedded model, TP 4 on the K2-Think (Qwen2.5-32B) architecture; a TP size the heads do not divide is refused.

Slow tests take ~1.5 + 2 + 0.5 min on 2 idle cores; run them under the shared CPU lock here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from training.gpu.scaleout import BACKENDS, CONFIG_DIR, ConfigError, check_config, main, shapes, table

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "training/README.md"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
REL_TOL = 1e-5


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    env.pop("OMP_NUM_THREADS", None)  # accelerate launch sets one thread per CPU process itself
    return env


# ------------------------------------------------------------------------------------------------ configs


def test_every_backend_has_its_config():
    assert {p.name for p in CONFIGS} == set(BACKENDS.values())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_launch_config_passes_accelerates_checks(config):
    summary = check_config(config)
    if config.name == "fsdp2.yaml":
        assert summary["distributed_type"] == "FSDP" and summary["fsdp_version"] == 2
        assert summary["reshard_after_forward"] is True and summary["auto_wrap"] == "transformer_auto_wrap_policy"
        assert summary["state_dict_type"] == "FULL_STATE_DICT" and summary["mixed_precision"] == "bf16"
    elif config.name == "zero3.yaml":
        assert summary["distributed_type"] == "DEEPSPEED" and summary["zero_stage"] == 3
        assert summary["zero3_init"] is True and summary["save_16bit_model"] is True
        assert (summary["offload_optimizer"], summary["offload_param"]) == ("none", "none")
    else:  # torchrun must start the processes; inside, the recipe's use_cpu makes accelerate pick gloo
        assert summary["launcher"] == "multi_gpu_launcher (torchrun)" and summary["use_cpu"] is True
        assert summary["mixed_precision"] == "no"
    assert check_config(config, num_processes=4)["num_processes"] == 4  # the command line wins, as in launch


def test_bad_configs_are_refused(tmp_path):
    fsdp2 = (CONFIG_DIR / "fsdp2.yaml").read_text()
    cases = {
        "misspelt.yaml": (fsdp2.replace("fsdp_reshard_after_forward", "fsdp_reshard_after_foward"), "not options"),
        "fsdp1_value.yaml": (fsdp2.replace("fsdp_reshard_after_forward: true", "fsdp_reshard_after_forward: FULL_SHARD"),
                             "invalid truth value"),  # FSDP2 wants a bool
        "unknown_top.yaml": (fsdp2 + "num_gpus: 8\n", "unknown keys"),
        "bad_type.yaml": (fsdp2.replace("distributed_type: FSDP", "distributed_type: FSPD"), "FSPD"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            check_config(path)
    assert main(["check", str(tmp_path / "misspelt.yaml")]) == 2  # the CLI: one line, no traceback


def test_readme_check_command():
    (argv,) = readme_commands("python training/gpu/scaleout.py check")
    assert argv[3:] == ["training/accelerate/*.yaml"]
    assert main(["check", *map(str, CONFIGS)]) == 0  # the glob, expanded as the shell does


def test_accelerate_env_reads_each_config(capsys):
    from accelerate.commands.env import env_command, env_command_parser

    for config in CONFIGS:  # `accelerate env --config_file CONFIG`, in process
        env_command(env_command_parser().parse_args(["--config_file", str(config)]))
        out = capsys.readouterr().out
        assert "`Accelerate` config passed:" in out
        assert f"distributed_type: {check_config(config)['distributed_type']}" in out


# ------------------------------------------------------------------------------------------------ gloo launch


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's shell commands that start with `prefix` (continuation lines joined), as argv lists."""
    text = README.read_text().replace("\\\n", " ")
    return [shlex.split(line.strip()) for line in text.splitlines() if line.strip().startswith(prefix)]


def run_readme_command(argv: list[str], output_dir: Path) -> subprocess.CompletedProcess:
    assert argv[:2] == ["accelerate", "launch"]
    argv = [sys.executable, "-m", "accelerate.commands.launch", *argv[2:]]
    argv[argv.index("--output_dir") + 1] = str(output_dir)  # the only change to the README's command
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600)


def curve(output_dir: Path) -> list[dict]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [h for h in history if "loss" in h]


@pytest.mark.slow
def test_sft_on_two_gloo_processes_matches_one(tmp_path):
    commands = readme_commands("accelerate launch --config_file training/accelerate/cpu_gloo.yaml")
    sft = {int(c[c.index("--num_processes") + 1]): c for c in commands if "training/sft.py" in c}
    assert set(sft) == {1, 2}, "training/README.md shows the SFT launch on 1 and on 2 processes"
    assert all("--global_batch_size" in c for c in sft.values()), "equal global batch is the point"
    runs = {}
    for n, argv in sft.items():
        proc = run_readme_command(argv, tmp_path / f"n{n}")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        logs = proc.stdout + proc.stderr
        for rank in range(n):  # every rank started training.sft (one log line each)
            assert re.search(rf"SFT on arith-sft \(\d+ rows\).*process {rank}/{n}\b", logs), f"rank {rank} of {n}"
        assert f"process {n}/{n}" not in logs
        runs[n] = curve(tmp_path / f"n{n}")
        card = json.loads((tmp_path / f"n{n}" / "k2bench_run.json").read_text())
        assert card["dataset"] == "arith-sft" and card["synthetic_data"] is True
    one, two = runs[1], runs[2]
    print(json.dumps({n: [(h["loss"], h["grad_norm"]) for h in c] for n, c in runs.items()}))  # pytest -rP shows it
    assert len(one) == len(two) == 4
    losses = [h["loss"] for h in two]
    assert all(0 < x < 20 for x in losses) and losses[-1] < 0.5 * losses[0], losses  # finite, falling
    assert [h["num_tokens"] for h in one] == [h["num_tokens"] for h in two]  # the same rows in each step
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=REL_TOL), (one, two)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=REL_TOL), (one, two)


# ------------------------------------------------------------------------------------------------ device recipe


@pytest.mark.slow
def test_scaleout_recipe_runs_end_to_end_on_cpu(tmp_path):
    (argv,) = readme_commands("python training/gpu/scaleout.py run --cpu")
    out, work = tmp_path / "out", tmp_path / "work"
    argv[argv.index("--work") + 1], argv[argv.index("--out") + 1] = str(work), str(out)  # README's, in tmp_path
    assert main(argv[2:]) == 0
    report = json.loads((out / "scaleout.json").read_text())
    rows = {r["nprocs"]: r for r in report["throughput"]}
    assert set(rows) == {1, 2} and not any(r.get("error") for r in rows.values()), rows
    for n, row in rows.items():
        assert row["distributed_type"] == "MULTI_CPU"  # torchrun started it: gloo even for one process
        assert row["tokens_per_step"] == n * 2 * 64 and row["tokens_per_s"]["median"] > 0
        assert len(row["losses"]) == 3 and all(0 < x < 20 for x in row["losses"])
    assert rows[1]["scaling_efficiency"] == 1.0 and rows[2]["scaling_efficiency"] > 0
    loss = report["loss_check"]
    by_tag = {r["tag"]: r for r in loss["runs"]}
    assert set(by_tag) == {"n1", "n1-split", "n2"} and by_tag["n2"]["ranks_logged"] == 2
    assert by_tag["n2"]["within_noise"] is True and by_tag["n2"]["max_abs_diff_vs_n1"] <= 1e-5
    grpo = report["grpo_check"]
    assert not grpo.get("error") and grpo["ranks_logged"] == 2 and len(grpo["steps"]) == 1, grpo
    step = grpo["steps"][0]
    assert 0.0 <= step["reward"] <= 1.2 and step["loss"] == step["loss"]  # weighted rewards; loss not NaN
    md = table(report)
    assert "| cpu_gloo | 2 | MULTI_CPU |" in md and "within noise" in md and "GRPO launch" in md


def test_device_commands_are_valid_launches():
    """The launches the device recipe makes parse and pass accelerate's checks at every N it will use."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    from training.gpu.scaleout import launch_command

    for backend in ("fsdp2", "zero3"):
        for n in (1, 2, 4, 8):
            cmd = launch_command(backend, n, ["training/gpu/scaleout.py", "worker", "--out-dir", "x", "--seq", "8"])
            args, _, _ = _validate_launch_command(launch_command_parser().parse_args(cmd[3:]))
            assert args.num_processes == n and (args.use_fsdp if backend == "fsdp2" else args.use_deepspeed)
    assert {"qwen2.5-0.5b", "qwen2.5-3b", "qwen2.5-7b"} <= set(shapes())


# ------------------------------------------------------------------------------------------------ eval scale-out


def serve_argv(model_config) -> list[str]:
    """The `vllm serve` command inspect's vllm provider (inspect_ai 0.3.285, VLLMAPI._start_server and
    start_local_server) starts for a model config, from inspect's own objects and helpers; only the spawn is
    left out (inspect needs vLLM in its own venv to start a server, and the port is chosen at spawn)."""
    from inspect_ai._util.local_server import _server_arg_to_cli_key, configure_devices

    api = model_config.get_model(memoize=False).api  # the real VLLMAPI, lazy: no server yet
    server_args = dict(api.server_args)
    server_args.pop("configure_logging", None)
    server_args, _ = configure_devices(server_args, parallel_size_param="tensor_parallel_size")
    server_args.pop("timeout", None)
    host = server_args.pop("host", "0.0.0.0")
    cmd = ["vllm", "serve", api.base_model, "--host", host, "--api-key", api.api_key]
    for key, value in server_args.items():  # start_local_server's rule for each server arg
        flag = f"--{_server_arg_to_cli_key(key)}"
        if isinstance(value, bool):
            cmd += [flag] if value else []
        else:
            cmd += [flag] if value is None else [flag, str(value)]
    return cmd


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_k2_think_config_becomes_parallel_vllm_flags():
    from models.config import load_model_config

    config = load_model_config("models/k2_think.yaml")
    argv = serve_argv(config)
    assert argv[:3] == ["vllm", "serve", "LLM360/K2-Think"] and flag(argv, "--host") == "127.0.0.1"
    assert flag(argv, "--tensor-parallel-size") == "4" and flag(argv, "--data-parallel-size") == "1"
    assert flag(argv, "--max-model-len") == "70000"
    # what a user edits (or passes as -M) is what vLLM gets: 2 replicas of TP 4 on 8 GPUs
    wider = serve_argv(config.with_overrides(model_args={"data_parallel_size": 2}))
    assert flag(wider, "--data-parallel-size") == "2" and flag(wider, "--tensor-parallel-size") == "4"


def local_server_argv() -> list[str]:
    """systems/serve.py's command for the vLLM-CPU config with parallel sizes added as serve args (the `serve:`
    block path: `python -m systems.serve` / `systems.run --serve`)."""
    from models.config import load_model_config
    from systems.serve import server_for

    server = server_for(load_model_config("models/vllm_cpu_smollm2.yaml"),
                        args={"tensor-parallel-size": 1, "data-parallel-size": 1})
    server.python = "python"  # the interpreter is not what is checked; the vLLM venv runs the check below
    return server.command()


def test_local_server_command_carries_parallel_flags():
    argv = local_server_argv()
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"] and flag(argv, "--host") == "127.0.0.1"
    assert flag(argv, "--tensor-parallel-size") == "1" and flag(argv, "--data-parallel-size") == "1"


VLLM_CHECK = r'''
import json, sys
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.cli import serve
from vllm.utils.argparse_utils import FlexibleArgumentParser

results = []
for argv in json.loads(sys.argv[1]):
    try:
        if argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]:  # systems/serve.py's form, as that module
            from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args

            args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv[3:])
            validate_parsed_serve_args(args)
        else:  # `vllm serve MODEL --flags` (inspect's vllm provider), as the vllm CLI parses it
            parser = FlexibleArgumentParser()
            (cmd,) = serve.cmd_init()
            cmd.subparser_init(parser.add_subparsers(dest="subparser"))
            args = parser.parse_args(argv[1:])
            cmd.validate(args)
            args.model = args.model_tag
        config = AsyncEngineArgs.from_cli_args(args).create_engine_config()
        p = config.parallel_config
        results.append({"tp": p.tensor_parallel_size, "dp": p.data_parallel_size, "world": p.world_size,
                        "max_model_len": config.model_config.max_model_len})
    except Exception as exc:
        results.append({"error": f"{type(exc).__name__}: {exc}"[:500]})
print("RESULTS " + json.dumps(results))
'''
# K2-Think is Qwen2.5-32B: the architecture fields vLLM's parallel checks read (heads, KV heads, layers, context),
# from the public config.json as in benchmarks/gpu/sft_throughput.py; no weights are involved
QWEN25_32B_CONFIG = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120,
                     "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 40,
                     "num_key_value_heads": 8, "vocab_size": 152064, "max_position_embeddings": 131072,
                     "rope_theta": 1000000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": False,
                     "torch_dtype": "bfloat16", "hidden_act": "silu", "use_sliding_window": False}


@pytest.mark.slow
def test_vllm_accepts_the_parallel_flags(tmp_path):
    from models.config import load_model_config
    from models.embedded import prepare_smollm2
    from systems.serve import vllm_python

    config = load_model_config("models/k2_think.yaml")
    k2 = serve_argv(config) + ["--port", "30000"]
    arch = tmp_path / "qwen2.5-32b-architecture"
    arch.mkdir()
    (arch / "config.json").write_text(json.dumps(QWEN25_32B_CONFIG))
    smol = str(prepare_smollm2())
    # on this CPU: the embedded model (9 heads) with the parallel sizes set to what it can take
    cpu = serve_argv(config.with_overrides(model_args={"tensor_parallel_size": 1, "max_model_len": 2048}))
    cpu[2] = smol
    tp2 = [*cpu[:cpu.index("--tensor-parallel-size") + 1], "2", *cpu[cpu.index("--tensor-parallel-size") + 2:]]
    cases = [k2[:2] + [str(arch)] + k2[3:], cpu, tp2, local_server_argv()]
    proc = subprocess.run([vllm_python(), "-c", VLLM_CHECK, json.dumps(cases)], capture_output=True, text=True,
                          env=dict(_env(), VLLM_CPU_KVCACHE_SPACE="1"), timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    paper, embedded, bad, local = json.loads(line[len("RESULTS "):])
    assert paper == {"tp": 4, "dp": 1, "world": 4, "max_model_len": 70000}, paper
    assert embedded == {"tp": 1, "dp": 1, "world": 1, "max_model_len": 2048}, embedded
    assert "error" in bad and "divisible" in bad["error"], bad  # vLLM checks TP against the model's 9 heads
    assert local == {"tp": 1, "dp": 1, "world": 1, "max_model_len": 2048}, local
