"""The slot pool: at most SLOTS sandboxes of this process at once, each run by a supervisor process.

A `Supervisor` is the host side of one suites/grading/sandbox/supervisor.py process (started on demand,
kept for the next job); `Pool` hands them out to threads, and runs a timeout's re-run alone (`exclusive`).
Supervisors end at interpreter exit (`shutdown`) or when this process dies (EOF on their stdin).
Stdlib only.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from suites.grading.sandbox.datatypes import DEFAULT_LIMITS, SandboxUnavailableError
from suites.grading.sandbox.settings import (
    BASE_UID,
    BWRAP,
    MB,
    RUNNER_PATH,
    RUNTIME_DIR,
    SANDBOX_ENV,
    SANDBOX_PYTHON,
    SANDBOX_PYTHON_FLAGS,
    SLOTS,
    SUPERVISOR_GRACE_S,
    SUPERVISOR_PATH,
    ZYGOTE_PATH,
)

LOG = logging.getLogger("suites.grading.sandbox")
FRAME = struct.Struct(">Q")


class SupervisorDied(RuntimeError):
    pass


def runtime_dir() -> Path:
    """A directory we own: the runner copy the sandbox uid reads, and the slot lock files."""
    RUNTIME_DIR.mkdir(mode=0o755, exist_ok=True)
    st = RUNTIME_DIR.lstat()
    if RUNTIME_DIR.is_symlink() or st.st_uid != os.geteuid():
        raise SandboxUnavailableError(f"{RUNTIME_DIR} is not a directory owned by us; refusing to use it")
    RUNTIME_DIR.chmod(0o755)
    return RUNTIME_DIR


def install_runner() -> str:
    """Copy the runner where the sandbox uid can read it (the repo may live under /root)."""
    source = RUNNER_PATH.read_bytes()
    target = runtime_dir() / f"runner-{hashlib.sha256(source).hexdigest()[:16]}.py"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(source)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return str(target)


class Supervisor:
    """One supervisor process and the framed-JSON conversation with it."""

    def __init__(self, cfg: dict[str, Any]):
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR_PATH), json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,  # Ctrl-C reaches the user's process; the supervisor ends on EOF
        )
        ready = self._read()
        if not ready.get("ready"):
            self.close()
            raise SandboxUnavailableError(f"sandbox supervisor failed to start: {ready.get('fatal', ready)}")
        self.cgroups: list[str] = ready.get("cgroups", [])
        self.zygote_pid: int | None = ready.get("zygote")  # the warm engine's zygote, the supervisor's child

    def _read(self, timeout: float | None = None) -> dict[str, Any]:
        assert self.proc.stdout is not None
        # The supervisor enforces the sandbox's deadline itself; this only guards against a wedged supervisor.
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            raise SupervisorDied(f"sandbox supervisor did not answer within {timeout:.0f}s; killed it")
        head = self.proc.stdout.read(FRAME.size)
        if len(head) < FRAME.size:
            raise SupervisorDied(f"sandbox supervisor exited (status {self.proc.poll()})")
        (n,) = FRAME.unpack(head)
        body = self.proc.stdout.read(n)
        if len(body) < n:
            raise SupervisorDied("sandbox supervisor exited mid-reply")
        return json.loads(body)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        data = json.dumps(request).encode()
        try:
            self.proc.stdin.write(FRAME.pack(len(data)) + data)
            self.proc.stdin.flush()
        except OSError as exc:
            raise SupervisorDied(f"sandbox supervisor is gone: {exc}") from exc
        # {"started": slot} first: waiting for a free machine-wide slot may legitimately take long
        first = self._read()
        result = self._read(timeout) if "started" in first else first
        self.zygote_pid = result.get("zygote", self.zygote_pid)
        return result

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class Pool:
    """At most `size` concurrent sandboxes in this process; `exclusive` runs alone (timeout re-runs)."""

    def __init__(self, size: int, mode: str):
        self.size = size
        self.mode = mode
        self._cond = threading.Condition()
        self._idle: list[Supervisor] = []
        self._busy = 0
        self._started = 0
        self._exclusive_waiting = False
        self._exclusive_active = False
        runtime = runtime_dir()
        self.runner = install_runner()
        self.bwrap = shutil.which(BWRAP) or BWRAP
        self._cfg = {
            "mode": mode,
            "base_uid": BASE_UID,
            "slots": SLOTS,
            "lock_dir": str(runtime / "locks"),
            "cgroups": os.geteuid() == 0,
        }
        if mode == "ns-uid":  # the warm zygote (zygote.py); root reads it from the repository
            self._cfg.update(
                zygote=str(ZYGOTE_PATH),
                python=SANDBOX_PYTHON,
                python_flags=list(SANDBOX_PYTHON_FLAGS),
                zygote_env=dict(SANDBOX_ENV),
                stack_bytes=DEFAULT_LIMITS.stack_mb * MB,
            )
        # Start one supervisor now: its greeting says which cgroup controllers work here, which decides
        # the fallback limits (execute.request) before the first job is sent.
        first = self._start()
        self._idle.append(first)
        self.cgroups: list[str] = first.cgroups
        missing = {"memory", "pids"} - set(self.cgroups)
        if mode in ("ns-uid", "bwrap-uid") and missing:
            LOG.warning(
                "cgroup v1 controllers %s are not writable here: memory is limited by RLIMIT_AS and "
                "processes by RLIMIT_NPROC of the slot uid instead (see shared/reference/sandbox.md F5)",
                sorted(missing),
            )

    def run(self, request: dict[str, Any], exclusive: bool = False) -> dict[str, Any]:
        """One job on a supervisor. A supervisor that dies or wedges (an infrastructure fault: seen once in 1,000
        back-to-back runs on a 2-core machine at load ~4, no reply within 76 s) is killed and the job is sent
        once more to a fresh one, as a timed-out program is re-run (execute.run_tests); a second fault is the
        job's `sandbox_error`. The first fault is logged, never silently dropped."""
        result = self._run_once(request, exclusive)
        if result.pop("supervisor_died", False):
            LOG.warning("sandbox supervisor fault (%s); re-running the job once on a fresh supervisor", result["error"])
            retry = self._run_once(request, exclusive)
            retry.pop("supervisor_died", None)
            retry["supervisor_fault"] = result["error"]
            return retry
        return result

    def _run_once(self, request: dict[str, Any], exclusive: bool) -> dict[str, Any]:
        sup = self._checkout(exclusive)
        broken = False
        try:
            if sup is None:
                sup = self._start()
            return sup.call(request, timeout=request["total_wall_s"] + SUPERVISOR_GRACE_S)
        except SupervisorDied as exc:
            broken = True
            return {"events": [], "error": str(exc), "supervisor_died": True}
        finally:
            self._checkin(sup, exclusive, broken)

    def supervisor_pids(self) -> dict[int, int | None]:
        """{supervisor pid: its zygote's pid or None} of the idle supervisors (tests and the benchmark
        inspect them)."""
        with self._cond:
            return {s.proc.pid: s.zygote_pid for s in self._idle}

    def _start(self) -> Supervisor:
        with self._cond:
            home = self._started % self.size
            self._started += 1
        return Supervisor(dict(self._cfg, home_slot=home))

    def _checkout(self, exclusive: bool) -> Supervisor | None:
        with self._cond:
            if exclusive:
                self._cond.wait_for(lambda: not (self._exclusive_waiting or self._exclusive_active))
                self._exclusive_waiting = True
                self._cond.wait_for(lambda: self._busy == 0)
                self._exclusive_waiting, self._exclusive_active = False, True
            else:
                self._cond.wait_for(
                    lambda: not (self._exclusive_waiting or self._exclusive_active) and self._busy < self.size
                )
            self._busy += 1
            while self._idle:  # an idle supervisor that died since its last job is dropped, not handed out
                sup = self._idle.pop()
                if sup.proc.poll() is None:
                    return sup
                sup.close()
            return None

    def _checkin(self, sup: Supervisor | None, exclusive: bool, broken: bool) -> None:
        if sup is not None and broken:
            sup.close()
        with self._cond:
            self._busy -= 1
            if exclusive:
                self._exclusive_active = False
            if sup is not None and not broken:
                self._idle.append(sup)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
        for sup in idle:
            sup.close()


_POOLS: dict[str, Pool] = {}
_POOLS_LOCK = threading.Lock()
_POOLS_PID = os.getpid()


def get_pool(mode: str) -> Pool:
    """This process's pool for an isolation mode (created on first use)."""
    global _POOLS_PID
    with _POOLS_LOCK:
        if _POOLS_PID != os.getpid():
            # a forked child must not talk to its parent's supervisors (their pipes are shared)
            _POOLS.clear()
            _POOLS_PID = os.getpid()
        if mode not in _POOLS:
            _POOLS[mode] = Pool(SLOTS, mode)
        return _POOLS[mode]


def supervisor_pids() -> dict[int, int | None]:
    """{supervisor pid: zygote pid or None} of this process's idle supervisors, over all pools."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values()) if _POOLS_PID == os.getpid() else []
    return {sup: zyg for pool in pools for sup, zyg in pool.supervisor_pids().items()}


def shutdown() -> None:
    """Stop the supervisor processes (also done at interpreter exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values()) if _POOLS_PID == os.getpid() else []
        _POOLS.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown)
