"""What isolation this machine offers, the policy when it offers less, and the bwrap command line.

Each probe goes through the code that runs programs, so it cannot pass on a sandbox the real runs could not
create: the warm engine's probe is `zygote.py --probe`, which builds one sandbox with the zygote's own
`spawn` and runs a program in it; the cold engine's is `bwrap_argv`, the one bubblewrap command line the
supervisor execs for every program (only the command inside differs: `python -c pass` instead of the runner).
Measurements behind the flags: shared/reference/sandbox.md, parts 2 and 4. Stdlib only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

from suites.grading.sandbox.datatypes import IsolationReport, SandboxUnavailableError
from suites.grading.sandbox.settings import (
    ALLOW_UNSANDBOXED_ENV,
    BASE_UID,
    BWRAP,
    ENGINE,
    ENGINE_ENV,
    RUNNER_IN_SANDBOX,
    SANDBOX_ENV,
    SANDBOX_PYTHON,
    SANDBOX_PYTHON_FLAGS,
    ZYGOTE_PATH,
)

LOG = logging.getLogger("suites.grading.sandbox")
PROBE_TMPFS_BYTES = 16 << 20


def bwrap_argv(
    bwrap: str,
    command: Sequence[str],
    *,
    tmpfs_bytes: int,
    runner: str | None = None,
    symlinks: Sequence[Sequence[str]] = (),
) -> list[str]:
    """bwrap's argv around `command`: fresh user/pid/net/mount/ipc/uts namespaces, no nested user
    namespaces, read-only /usr, a `tmpfs_bytes` /tmp, the runner (if given) read-only at RUNNER_IN_SANDBOX,
    `symlinks` ([target, link] pairs: Debian alternatives for site_packages), nothing else of the host."""
    argv = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--as-pid-1",
        "--disable-userns",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + top
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    for target, link in symlinks:
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp"]
    if runner is not None:
        argv += ["--ro-bind", runner, RUNNER_IN_SANDBOX]
    argv += ["--chdir", "/tmp"]
    for k, v in SANDBOX_ENV.items():
        argv += ["--setenv", k, v]
    return argv + list(command)


_PROBE_LOCK = threading.Lock()
_PROBE: IsolationReport | None = None


def probe_warm() -> str | None:
    """None if the zygote can build a sandbox here and run a program in it as jobs do, else why not."""
    argv = [SANDBOX_PYTHON, *SANDBOX_PYTHON_FLAGS, str(ZYGOTE_PATH), "--probe", json.dumps({"uid": BASE_UID})]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, env=dict(SANDBOX_ENV))
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        return f"zygote probe exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}"
    return None if report.get("ok") else str(report.get("error"))


def check_isolation(refresh: bool = False) -> IsolationReport:
    """Probe (once per process) whether untrusted code can be isolated here, and how."""
    global _PROBE
    with _PROBE_LOCK:
        if _PROBE is not None and not refresh:
            return _PROBE
        bwrap = shutil.which(BWRAP)
        root = os.geteuid() == 0
        warm_failure = None
        if root and ENGINE == "warm" and os.path.exists(SANDBOX_PYTHON):
            warm_failure = probe_warm()
            if warm_failure is None:
                _PROBE = IsolationReport(
                    "ns-uid",
                    True,
                    "warm zygote: fresh namespaces + tmpfs per program, dedicated uid, cgroups, seccomp",
                    bwrap,
                )
                return _PROBE
            LOG.warning("the warm sandbox does not work here (%s); trying the cold bwrap path", warm_failure)
        if not os.path.exists(SANDBOX_PYTHON):
            _PROBE = IsolationReport("none", False, f"sandbox interpreter {SANDBOX_PYTHON} not found", bwrap)
        elif bwrap is None:
            _PROBE = IsolationReport(
                "none", False, "bubblewrap (bwrap) is not installed: run scripts/install_system_deps.sh", None
            )
        else:
            kwargs: dict[str, Any] = {}
            if root:  # probe exactly as jobs run: as an unprivileged uid
                kwargs = {"user": BASE_UID, "group": BASE_UID, "extra_groups": []}
            command = [SANDBOX_PYTHON, *SANDBOX_PYTHON_FLAGS, "-c", "pass"]
            argv = bwrap_argv(bwrap, command, tmpfs_bytes=PROBE_TMPFS_BYTES)
            try:
                proc = subprocess.run(argv, capture_output=True, timeout=30, env={}, **kwargs)
                ok, err = proc.returncode == 0, proc.stderr.decode(errors="replace").strip()
            except (OSError, subprocess.SubprocessError) as exc:
                ok, err = False, str(exc)
            if not ok:
                _PROBE = IsolationReport(
                    "none",
                    False,
                    f"bwrap cannot create a sandbox here (user namespaces disabled?): {err}",
                    bwrap,
                )
            elif not root:
                _PROBE = IsolationReport(
                    "bwrap-same-uid",
                    False,
                    "not root: cannot run the sandbox as a dedicated uid or create per-run cgroups "
                    "(memory/process limits fall back to rlimits shared with your own processes)",
                    bwrap,
                )
            else:
                why = "bwrap + dedicated uid + cgroups"
                if warm_failure is not None:
                    why += f" (the warm engine failed its probe: {warm_failure})"
                elif ENGINE != "warm":
                    why += f" ({ENGINE_ENV}={ENGINE})"
                _PROBE = IsolationReport("bwrap-uid", True, why, bwrap)
        return _PROBE


def allowed_unsandboxed(explicit: bool | None) -> bool:
    if explicit is not None:
        return explicit
    return os.environ.get(ALLOW_UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes")


def isolation_mode(allow_unsandboxed: bool | None) -> str:
    """The mode to run in, or SandboxUnavailableError when isolation is missing and not waived."""
    report = check_isolation()
    if report.isolated:
        return report.mode
    if not allowed_unsandboxed(allow_unsandboxed):
        raise SandboxUnavailableError(
            f"refusing to run untrusted code: isolation is unavailable on this machine ({report.reason}). "
            f"Fix it (as root: scripts/install_system_deps.sh), or opt in to running it with reduced "
            f"isolation by passing allow_unsandboxed=True or setting {ALLOW_UNSANDBOXED_ENV}=1."
        )
    LOG.warning("RUNNING UNTRUSTED CODE WITHOUT FULL ISOLATION (mode=%s): %s", report.mode, report.reason)
    return report.mode
