"""What isolation this machine offers, the policy when it offers less, and the bwrap command line.

`bwrap_argv` builds the one bubblewrap command line: the supervisor execs it for every program, and
`check_isolation` probes the machine with it (only the command inside differs: `python -c pass` instead of
the runner), so the probe can never pass on a sandbox that the real runs could not create.
Measurements behind the flags: shared/reference/sandbox.md, parts 2 and 4. Stdlib only.
"""

from __future__ import annotations

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
    RUNNER_IN_SANDBOX,
    SANDBOX_ENV,
    SANDBOX_PYTHON,
    SANDBOX_PYTHON_FLAGS,
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


def check_isolation(refresh: bool = False) -> IsolationReport:
    """Probe (once per process) whether untrusted code can be isolated here, and how."""
    global _PROBE
    with _PROBE_LOCK:
        if _PROBE is not None and not refresh:
            return _PROBE
        bwrap = shutil.which(BWRAP)
        root = os.geteuid() == 0
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
                _PROBE = IsolationReport("bwrap-uid", True, "bwrap + dedicated uid + cgroups", bwrap)
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
