"""Start and stop a local vLLM OpenAI-compatible server for a model config, optionally under a serving overlay.

A model config with a `serve:` block (models/vllm_cpu_smollm2.yaml) says how its endpoint is started; a
serving overlay (systems/speculative.yaml) adds vLLM arguments such as `--speculative-config` without
touching prompts. The server is vLLM's CPU build from its own venv (`scripts/setup_vllm.sh`, .venv-vllm;
../shared/reference/env.md §4) started as `python -m vllm.entrypoints.openai.api_server` (the `vllm` console
script is broken for the vllm-cpu dist) on 127.0.0.1 in its own process group, so stopping it kills the
engine workers too. Start-up takes ~1-2 min on 2 cores (torch.compile warm-up).

GPU users point the same config at their own vLLM (`serve.python` / `K2BENCH_VLLM_PYTHON`) or let inspect's
`vllm/` provider start the server (models/k2_think.yaml); see systems/README.md for replicas and parallelism.

    python -m systems.serve --model models/vllm_cpu_smollm2.yaml                      # plain, foreground
    python -m systems.serve --model models/vllm_cpu_smollm2.yaml --overlay speculative # n-gram speculation
    python -m systems.serve --metrics http://127.0.0.1:8011                           # print counters
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systems.metrics import scrape_metrics, serving_counters

REPO_ROOT = Path(__file__).resolve().parent.parent
VLLM_VENV_ENV = "K2BENCH_VLLM_VENV"
VLLM_PYTHON_ENV = "K2BENCH_VLLM_PYTHON"
DEFAULT_VENV = REPO_ROOT / ".venv-vllm"
READY_TIMEOUT_S = 600
STOP_TIMEOUT_S = 30
# a `serve.model_dir` of this value means the embedded SmolLM2, dequantized by models.embedded
EMBEDDED_SMOLLM2 = "embedded:smollm2"
# vLLM's CPU build reserves one core and binds one OMP thread unless told otherwise (env.md §4); the KV cache
# is sized in GiB. These are defaults; a model config's serve.env overrides them.
CPU_ENV_DEFAULTS = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "HF_HUB_OFFLINE": "1"}


class ServerError(RuntimeError):
    """The server did not start, died, or answered with something unusable."""


def vllm_python() -> str:
    """The interpreter that has vLLM: $K2BENCH_VLLM_PYTHON, else <$K2BENCH_VLLM_VENV or .venv-vllm>/bin/python."""
    explicit = os.environ.get(VLLM_PYTHON_ENV)
    if explicit:
        return explicit
    venv = Path(os.environ.get(VLLM_VENV_ENV, DEFAULT_VENV))
    python = venv / "bin" / "python"
    if not python.is_file():
        raise ServerError(f"no vLLM venv at {venv}: run scripts/setup_vllm.sh (or set {VLLM_PYTHON_ENV})")
    return str(python)


def resolve_model_dir(model_dir: str) -> str:
    if model_dir == EMBEDDED_SMOLLM2:
        from models.embedded import prepare_smollm2

        return str(prepare_smollm2())
    return model_dir


def _cpu_bind() -> str:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return ",".join(str(c) for c in cpus)


@dataclass
class VLLMServer:
    """One vLLM server process group on 127.0.0.1; use as a context manager or call start()/stop()."""

    model_dir: str
    port: int
    served_model_names: list[str]
    args: dict[str, Any] = field(default_factory=dict)  # extra CLI args, e.g. {"max-model-len": 2048}
    env: dict[str, str] = field(default_factory=dict)
    speculative_config: dict[str, Any] | None = None
    log_path: Path | None = None
    python: str | None = None
    process: subprocess.Popen | None = None
    started_s: float | None = None  # seconds from launch to /v1/models answering

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        cmd = [
            self.python or vllm_python(),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            resolve_model_dir(self.model_dir),
            "--served-model-name",
            *self.served_model_names,
            "--host",
            "127.0.0.1",  # never 0.0.0.0: the server has no API key
            "--port",
            str(self.port),
        ]
        for key, value in self.args.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                cmd.append(flag)
            elif value not in (False, None):
                cmd += [flag, json.dumps(value) if isinstance(value, dict | list) else str(value)]
        if self.speculative_config:
            spec = dict(self.speculative_config)
            if spec.get("model"):
                spec["model"] = resolve_model_dir(str(spec["model"]))
            cmd += ["--speculative-config", json.dumps(spec)]
        return cmd

    def start(self, timeout: float = READY_TIMEOUT_S) -> VLLMServer:
        if _answers(f"{self.root_url}/v1/models"):
            raise ServerError(f"something already answers on port {self.port}; stop it or choose another port")
        env = {**os.environ, **CPU_ENV_DEFAULTS, "VLLM_CPU_OMP_THREADS_BIND": _cpu_bind(), **self.env}
        log_path = self.log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"k2bench-vllm-{self.port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        launched = time.monotonic()
        with open(log_path, "w") as log:
            # own session = own process group: stop() kills the API server and its engine workers together
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=REPO_ROOT
            )
        deadline = launched + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(f"vLLM exited with {self.process.returncode} while starting:\n{self.log_tail()}")
                if _answers(f"{self.root_url}/v1/models"):
                    self.started_s = round(time.monotonic() - launched, 1)
                    return self
                time.sleep(2)
            raise ServerError(f"vLLM did not answer within {timeout:.0f} s:\n{self.log_tail()}")
        except BaseException:  # Ctrl-C or a failed start: never leave the engine processes behind
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait()
        # engine workers may outlive the API server by a moment; make sure the group is gone
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.root_url)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def server_for(
    model_config: Any,
    overlay: dict[str, Any] | None = None,
    port: int | None = None,
    args: dict[str, Any] | None = None,
) -> VLLMServer:
    """A VLLMServer for a model config's `serve:` block, with a serving overlay's vLLM settings merged in
    (and `args`, e.g. {"dtype": "float32"}, over both)."""
    serve = dict(model_config.serve or {})
    if not serve:
        raise ServerError(f"model config {model_config.id} has no serve: block; it names an external endpoint")
    engine = serve.get("engine", "vllm")
    if engine not in ("vllm", "vllm-cpu"):
        raise ServerError(f"serve.engine {engine!r} is not supported (vllm, vllm-cpu)")
    server_args = dict(serve.get("args", {}))
    speculative = None
    if overlay:
        server_args.update(overlay.get("args", {}))
        speculative = overlay.get("speculative_config")
    server_args.update(args or {})
    port = port or serve.get("port") or _port_of(model_config.base_url)
    return VLLMServer(
        model_dir=str(serve["model_dir"]),
        port=int(port),
        served_model_names=list(serve.get("served_model_names") or [model_config.model.split("/", 1)[1]]),
        args=server_args,
        env={k: str(v) for k, v in serve.get("env", {}).items()},
        speculative_config=speculative,
        python=serve.get("python"),
    )


def _port_of(base_url: str | None) -> int:
    from urllib.parse import urlparse

    if not base_url:
        raise ServerError("model config has neither serve.port nor base_url")
    port = urlparse(base_url).port
    if port is None:
        raise ServerError(f"base_url {base_url} has no port")
    return port


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model config (models/*.yaml) with a serve: block")
    parser.add_argument("--overlay", help="system id or yaml whose serving: block applies (e.g. speculative)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--metrics", metavar="ROOT_URL", help="print a running server's serving counters and exit")
    args = parser.parse_args(argv)
    if args.metrics:
        print(json.dumps(serving_counters(args.metrics), indent=2))
        return 0
    if not args.model:
        parser.error("--model is required")
    from models.config import load_model_config
    from systems.compose import load_system

    overlay = load_system(args.overlay).serving if args.overlay else None
    server = server_for(load_model_config(args.model), overlay, args.port)
    # stop the server on Ctrl-C and on kill (SIGTERM), also when started in the background (SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    print(" ".join(server.command()), file=sys.stderr)
    with server:
        print(
            f"ready in {server.started_s} s at {server.base_url} (log {server.log_path}); Ctrl-C stops it",
            file=sys.stderr,
        )
        try:
            while server.process and server.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
