"""Settings of the code sandbox: where things are, which interpreter and uids it uses, its fixed sizes.

Everything a deployment may need to change is an environment variable read once at import (K2BENCH_SANDBOX_*,
K2BENCH_CACHE_DIR, K2BENCH_ALLOW_UNSANDBOXED, K2BENCH_BWRAP); the rest are constants with the reason for
their value. Measurements behind them: shared/reference/sandbox.md. Stdlib only.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER_PATH = HERE / "runner.py"
SUPERVISOR_PATH = HERE / "supervisor.py"
ZYGOTE_PATH = HERE / "zygote.py"

# Debian's interpreter: the venv/pyenv python lives under /root, which the sandbox uid cannot read.
SANDBOX_PYTHON = os.environ.get("K2BENCH_SANDBOX_PYTHON", "/usr/bin/python3")
# -I: ignore PYTHON* variables and the user site; -S: no site-packages (stdlib programs; ~3 ms faster).
SANDBOX_PYTHON_FLAGS = ("-I", "-S")
BWRAP = os.environ.get("K2BENCH_BWRAP", "bwrap")
# How a fully isolated sandbox is made (as root): "warm" forks it from a zygote that has the interpreter and
# the prelude loaded (zygote.py, mode "ns-uid"); "bwrap" execs bubblewrap and a new interpreter per program
# (mode "bwrap-uid", the cold path; also what the warm path falls back to where it cannot work).
ENGINE_ENV = "K2BENCH_SANDBOX_ENGINE"
ENGINE = os.environ.get(ENGINE_ENV, "warm")
# Slot s runs as uid BASE_UID + s: a uid nobody else uses, so RLIMIT_NPROC and signals cannot cross slots.
BASE_UID = int(os.environ.get("K2BENCH_SANDBOX_BASE_UID", "1900000"))
SLOTS = int(os.environ.get("K2BENCH_SANDBOX_SLOTS", "0")) or (os.cpu_count() or 1)
ALLOW_UNSANDBOXED_ENV = "K2BENCH_ALLOW_UNSANDBOXED"
CACHE_DIR_ENV = "K2BENCH_CACHE_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "k2bench" / "exec"
RUNTIME_DIR = Path(os.environ.get("K2BENCH_SANDBOX_RUNTIME_DIR", f"/tmp/k2bench-sandbox-{os.geteuid()}"))
CACHE_VERSION = 1
# Debian's third-party packages (apt's python3-numpy etc.), for site_packages=True; a path inside /usr
SITE_PACKAGES_DIR = os.environ.get("K2BENCH_SANDBOX_SITE_PACKAGES", "/usr/lib/python3/dist-packages")
# numpy/scipy load BLAS/LAPACK through Debian's alternatives (/usr/lib/<triplet>/libblas.so.3 ->
# /etc/alternatives/... -> /usr/lib/<triplet>/openblas-pthread/...); /etc is not in the sandbox, so the
# shared libraries' alternatives links are recreated there as symlinks to their final targets (under /usr,
# already visible): nothing else of /etc is exposed

# What the program sees of the environment (bwrap --clearenv, then these).
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    # BLAS libraries otherwise start one thread per host core (sandbox.md, F5)
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
RUNNER_IN_SANDBOX = "/k2b/runner.py"  # where the runner is bind-mounted inside the sandbox

INFRA_PIDS = 8  # bwrap's or the zygote's set-up processes and the runner, on top of the program's budget
STDERR_TAIL_CHARS = 2000
PROGRAM_STDOUT_CHARS = 1 << 20  # what run_program hands back of the program's stdout
STARTUP_SLACK_S = 10.0  # interpreter start + test transfer, on top of the per-test wall limits
SUPERVISOR_GRACE_S = 60.0  # past the sandbox's own deadline: teardown, slot waits, a loaded machine
MB = 1 << 20
