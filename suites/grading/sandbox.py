"""Run untrusted, model-written Python programs against test cases, isolated; the one entry point for it.

    from suites.grading.sandbox import Limits, TestCase, run_tests, run_program
    res = run_tests(code, [TestCase("1 2\\n", "3\\n")], mode="stdin", limits=Limits(time_s=2))
    res.verdict  # "pass" | "fail" | "timeout" | "memory" | "runtime_error" | "sandbox_error"

Debug one program from a shell: `python -m suites.grading.sandbox_cli --code f.py --stdin in.txt`.

Design (measured in shared/reference/sandbox.md, part 4; summarised in shared/DESIGN.md): each execution
is a bubblewrap sandbox (`--unshare-all --die-with-parent --new-session --clearenv`, read-only /usr, a
size-capped tmpfs /tmp, nothing else of the host visible, no network) started as an unprivileged uid
(one per slot) inside per-run cgroup v1 groups (memory, pids), by a supervisor process that is a
child subreaper (suites/grading/sandbox_supervisor.py). Inside, the trusted runner
(suites/grading/sandbox_runner_child.py) runs ALL tests of one (problem, sample) pair, one forked process
per test with its own CPU/wall limit, and stops at the first failure. Output comparison is LiveCodeBench's
(see that file for what is reproduced and what deliberately differs).

Policy:
- at most one sandbox per core (K2BENCH_SANDBOX_SLOTS, default os.cpu_count()); machine-wide, through
  slot lock files, so two eval processes on one machine do not oversubscribe it either;
- a timeout is re-run once, alone (no other sandbox of this process running), before it is accepted:
  oversubscription is the documented source of spurious timeouts (EvalPlus#5, opencompass PR #2203);
- verdicts are cached on disk by sha256(code, tests, mode, limits, runner) under K2BENCH_CACHE_DIR or
  ~/.cache/k2bench/exec, so retries and resumed runs never execute finished work twice; sandbox_error
  (an infrastructure failure, not a property of the program) is never cached;
- programs see the standard library only, unless the caller opts in with site_packages=True: then Debian's
  /usr/lib/python3/dist-packages (numpy, scipy, sympy from apt; scripts/install_system_deps.sh) is put on
  sys.path after the standard library. It is already inside the read-only /usr, so nothing more of the host
  becomes visible; SciCode needs it. prelude=False runs the program without LiveCodeBench's import prelude
  (`from math import *` ...), so a program that forgot an import fails as it would under its own benchmark;
- where isolation is unavailable (no bwrap, no user namespaces, not root so no uid switch), untrusted code
  is REFUSED (SandboxUnavailableError) unless the caller opts in with allow_unsandboxed=True or
  K2BENCH_ALLOW_UNSANDBOXED=1; then every run logs a warning and the result says isolation="...".

Pure Python, stdlib only; imports neither inspect_ai nor trl.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

LOG = logging.getLogger(__name__)

Verdict = Literal["pass", "fail", "timeout", "memory", "runtime_error", "sandbox_error"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "timeout", "memory", "runtime_error", "sandbox_error")
MODES: tuple[str, ...] = ("stdin", "functional")

HERE = Path(__file__).resolve().parent
RUNNER_PATH = HERE / "sandbox_runner_child.py"
SUPERVISOR_PATH = HERE / "sandbox_supervisor.py"

# Debian's interpreter: the venv/pyenv python lives under /root, which the sandbox uid cannot read.
SANDBOX_PYTHON = os.environ.get("K2BENCH_SANDBOX_PYTHON", "/usr/bin/python3")
# -I: ignore PYTHON* variables and the user site; -S: no site-packages (stdlib programs; ~3 ms faster).
SANDBOX_PYTHON_FLAGS = ("-I", "-S")
BWRAP = os.environ.get("K2BENCH_BWRAP", "bwrap")
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

INFRA_PIDS = 8  # bwrap's own processes and the runner, on top of the program's process budget
STDERR_TAIL_CHARS = 2000
PROGRAM_STDOUT_CHARS = 1 << 20  # what run_program hands back of the program's stdout
STARTUP_SLACK_S = 10.0  # interpreter start + test transfer, on top of the per-test wall limits
SUPERVISOR_GRACE_S = 60.0  # past the sandbox's own deadline: teardown, slot waits, a loaded machine
MB = 1 << 20


class SandboxUnavailableError(RuntimeError):
    """Raised instead of running untrusted code without isolation (see the module docstring)."""


@dataclass(frozen=True)
class TestCase:
    """One test: stdin text and expected stdout (stdin mode), or JSON argument lines and the JSON result
    (functional mode), as in LiveCodeBench's `input_output` field."""

    __test__ = False  # not a pytest test class

    input: str
    output: str


@dataclass(frozen=True)
class Limits:
    """Resource limits of one execution. Time limits are per test; memory/processes per sandbox."""

    time_s: float = 6.0  # CPU seconds per test; LiveCodeBench's default timeout is 6
    # per test; default 3 * time_s + 2: only sleeping/blocked programs reach it (CPU-bound ones get
    # SIGXCPU first), and a loaded machine must not turn a program within time_s into a timeout
    wall_time_s: float | None = None
    memory_mb: int = 1024  # cgroup memory limit of the whole sandbox (program + its tmpfs files)
    max_processes: int = 64  # pids.max for the program (fork bombs)
    file_size_mb: int = 64  # RLIMIT_FSIZE: largest file the program may write (stdout included)
    output_mb: int = 32  # stdout at or above this is "output limit exceeded" (a runtime_error)
    open_files: int = 256
    stack_mb: int = 256  # deep recursion under LCB's recursionlimit(50000) needs more than 8 MiB
    tmpfs_mb: int = 256  # size of the sandbox's /tmp (also charged to memory_mb)
    total_wall_s: float | None = None  # whole sandbox; default startup slack + per-test wall limits

    @property
    def wall_s(self) -> float:
        return self.wall_time_s if self.wall_time_s is not None else 3 * self.time_s + 2

    def total_s(self, n_tests: int) -> float:
        if self.total_wall_s is not None:
            return self.total_wall_s
        return STARTUP_SLACK_S + n_tests * (self.wall_s + 0.5)


DEFAULT_LIMITS = Limits()


@dataclass
class ExecResult:
    """The outcome of one sandboxed execution (all tests of one program, or one run_program call)."""

    verdict: Verdict
    passed: int  # tests passed (in order) before the verdict was reached
    total: int
    failed_test: int | None  # index of the test that decided a non-pass verdict
    cause: str  # why: the wrong line, the exception, the limit hit, the infrastructure error
    cpu_s: float  # CPU time of the program's processes, summed over the tests that ran
    wall_s: float  # wall time of the whole sandbox, start to teardown
    peak_memory_mb: float | None = None  # cgroup high-water mark (program + runner + tmpfs)
    stdout: str = ""  # run_program only: the program's stdout (first MiB)
    stderr: str = ""  # tail of the deciding test's stderr, or of the sandbox's own stderr
    exit_code: int | None = None  # of the deciding test process; negative = killed by that signal
    isolation: str = ""  # "bwrap-uid" (full), or the degraded mode the caller opted into
    reran_timeout: bool = False  # the verdict comes from the re-run of a timeout
    cached: bool = False
    # seconds from the supervisor's fork: exec (bwrap started), first_event (runner ready), eof (sandbox
    # gone), torn_down (cgroups swept and removed); for debugging slow or failed sandboxes
    phases: dict[str, float] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(
        default_factory=list
    )  # per test: status, cpu_s, wall_s (+input/output)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class IsolationReport:
    """What this machine offers. mode: "bwrap-uid" (full isolation), "bwrap-same-uid" (namespaces but no
    uid switch or cgroups: not root), "none"."""

    mode: str
    isolated: bool
    reason: str
    bwrap: str | None


# ------------------------------------------------------------------------------------------------------
# Isolation probe and policy
# ------------------------------------------------------------------------------------------------------
_PROBE_LOCK = threading.Lock()
_PROBE: IsolationReport | None = None


def _bwrap_probe_argv(bwrap: str) -> list[str]:
    argv = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--as-pid-1",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("bin", "lib", "lib64"):
        host = "/" + top
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    return argv + ["--proc", "/proc", "--dev", "/dev", SANDBOX_PYTHON, *SANDBOX_PYTHON_FLAGS, "-c", "pass"]


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
            try:
                proc = subprocess.run(_bwrap_probe_argv(bwrap), capture_output=True, timeout=30, **kwargs)
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


def _allowed_unsandboxed(explicit: bool | None) -> bool:
    if explicit is not None:
        return explicit
    return os.environ.get(ALLOW_UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes")


def _isolation_mode(allow_unsandboxed: bool | None) -> str:
    report = check_isolation()
    if report.isolated:
        return report.mode
    if not _allowed_unsandboxed(allow_unsandboxed):
        raise SandboxUnavailableError(
            f"refusing to run untrusted code: isolation is unavailable on this machine ({report.reason}). "
            f"Fix it (as root: scripts/install_system_deps.sh), or opt in to running it with reduced "
            f"isolation by passing allow_unsandboxed=True or setting {ALLOW_UNSANDBOXED_ENV}=1."
        )
    LOG.warning("RUNNING UNTRUSTED CODE WITHOUT FULL ISOLATION (mode=%s): %s", report.mode, report.reason)
    return report.mode


# ------------------------------------------------------------------------------------------------------
# Supervisors and the slot pool
# ------------------------------------------------------------------------------------------------------
_FRAME = struct.Struct(">Q")


class _SupervisorDied(RuntimeError):
    pass


def _runtime_dir() -> Path:
    """A directory we own: the runner copy the sandbox uid reads, and the slot lock files."""
    RUNTIME_DIR.mkdir(mode=0o755, exist_ok=True)
    st = RUNTIME_DIR.lstat()
    if RUNTIME_DIR.is_symlink() or st.st_uid != os.geteuid():
        raise SandboxUnavailableError(f"{RUNTIME_DIR} is not a directory owned by us; refusing to use it")
    RUNTIME_DIR.chmod(0o755)
    return RUNTIME_DIR


def _install_runner() -> str:
    """Copy the runner where the sandbox uid can read it (the repo may live under /root)."""
    source = RUNNER_PATH.read_bytes()
    target = _runtime_dir() / f"runner-{hashlib.sha256(source).hexdigest()[:16]}.py"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(source)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return str(target)


class _Supervisor:
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

    def _read(self, timeout: float | None = None) -> dict[str, Any]:
        assert self.proc.stdout is not None
        # The supervisor enforces the sandbox's deadline itself; this only guards against a wedged supervisor.
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            raise _SupervisorDied(f"sandbox supervisor did not answer within {timeout:.0f}s; killed it")
        head = self.proc.stdout.read(_FRAME.size)
        if len(head) < _FRAME.size:
            raise _SupervisorDied(f"sandbox supervisor exited (status {self.proc.poll()})")
        (n,) = _FRAME.unpack(head)
        body = self.proc.stdout.read(n)
        if len(body) < n:
            raise _SupervisorDied("sandbox supervisor exited mid-reply")
        return json.loads(body)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        data = json.dumps(request).encode()
        try:
            self.proc.stdin.write(_FRAME.pack(len(data)) + data)
            self.proc.stdin.flush()
        except OSError as exc:
            raise _SupervisorDied(f"sandbox supervisor is gone: {exc}") from exc
        # {"started": slot} first: waiting for a free machine-wide slot may legitimately take long
        first = self._read()
        return self._read(timeout) if "started" in first else first

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class _Pool:
    """At most `size` concurrent sandboxes in this process; `exclusive` runs alone (timeout re-runs)."""

    def __init__(self, size: int, mode: str):
        self.size = size
        self.mode = mode
        self._cond = threading.Condition()
        self._idle: list[_Supervisor] = []
        self._busy = 0
        self._started = 0
        self._exclusive_waiting = False
        self._exclusive_active = False
        runtime = _runtime_dir()
        self._cfg = {
            "mode": mode,
            "bwrap": shutil.which(BWRAP) or BWRAP,
            "python": SANDBOX_PYTHON,
            "python_flags": list(SANDBOX_PYTHON_FLAGS),
            "runner": _install_runner(),
            "base_uid": BASE_UID,
            "slots": SLOTS,
            "lock_dir": str(runtime / "locks"),
            "cgroups": os.geteuid() == 0,
        }
        # Start one supervisor now: its greeting says which cgroup controllers work here, which decides
        # the fallback limits (_request) before the first job is sent.
        first = self._start()
        self._idle.append(first)
        self.cgroups: list[str] = first.cgroups
        missing = {"memory", "pids"} - set(self.cgroups)
        if mode == "bwrap-uid" and missing:
            LOG.warning(
                "cgroup v1 controllers %s are not writable here: memory is limited by RLIMIT_AS and "
                "processes by RLIMIT_NPROC of the slot uid instead (see shared/reference/sandbox.md F5)",
                sorted(missing),
            )

    def run(self, request: dict[str, Any], exclusive: bool = False) -> dict[str, Any]:
        sup = self._checkout(exclusive)
        broken = False
        try:
            if sup is None:
                sup = self._start()
            return sup.call(request, timeout=request["total_wall_s"] + SUPERVISOR_GRACE_S)
        except _SupervisorDied as exc:
            broken = True
            return {"events": [], "error": str(exc)}
        finally:
            self._checkin(sup, exclusive, broken)

    def _start(self) -> _Supervisor:
        with self._cond:
            home = self._started % self.size
            self._started += 1
        return _Supervisor(dict(self._cfg, home_slot=home))

    def _checkout(self, exclusive: bool) -> _Supervisor | None:
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
            return self._idle.pop() if self._idle else None

    def _checkin(self, sup: _Supervisor | None, exclusive: bool, broken: bool) -> None:
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


_POOLS: dict[str, _Pool] = {}
_POOLS_LOCK = threading.Lock()
_POOLS_PID = os.getpid()


def _pool(mode: str) -> _Pool:
    global _POOLS_PID
    with _POOLS_LOCK:
        if _POOLS_PID != os.getpid():
            # a forked child must not talk to its parent's supervisors (their pipes are shared)
            _POOLS.clear()
            _POOLS_PID = os.getpid()
        if mode not in _POOLS:
            _POOLS[mode] = _Pool(SLOTS, mode)
        return _POOLS[mode]


def shutdown() -> None:
    """Stop the supervisor processes (also done at interpreter exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values()) if _POOLS_PID == os.getpid() else []
        _POOLS.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown)


# ------------------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


_RUNNER_DIGEST = hashlib.sha256(RUNNER_PATH.read_bytes()).hexdigest()


def cache_key(
    code: str,
    tests: Sequence[TestCase],
    mode: str,
    fn_name: str | None,
    limits: Limits,
    float_tol: float | None,
    isolation: str,
    site_packages: bool = False,
    prelude: bool = True,
) -> str:
    payload = {
        "v": CACHE_VERSION,
        "runner": _RUNNER_DIGEST,
        "python": SANDBOX_PYTHON,
        "isolation": isolation,
        "code": code,
        "tests": [[t.input, t.output] for t in tests],
        "mode": mode,
        "fn_name": fn_name,
        "limits": asdict(limits),
        "float_tol": float_tol,
        "site_packages": SITE_PACKAGES_DIR if site_packages else None,
        "prelude": prelude,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()


def _cache_path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.json"


def _cache_get(key: str) -> ExecResult | None:
    try:
        data = json.loads(_cache_path(key).read_text())
    except (OSError, ValueError):
        return None
    result = ExecResult.from_dict(data)
    result.cached = True
    return result


def _cache_put(key: str, result: ExecResult) -> None:
    path = _cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result.to_dict(), f)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one


# ------------------------------------------------------------------------------------------------------
# Requests and verdicts
# ------------------------------------------------------------------------------------------------------
def _request(
    code: str,
    tests: list[list[str]],
    mode: str,
    fn_name: str | None,
    limits: Limits,
    float_tol: float | None,
    pool: _Pool,
    site_packages: bool = False,
    prelude: bool = True,
) -> dict[str, Any]:
    has_memcg, has_pidscg = "memory" in pool.cgroups, "pids" in pool.cgroups
    header = {
        "mode": mode,
        "fn_name": fn_name,
        "n_tests": len(tests),
        "cpu_s": limits.time_s,
        "wall_s": limits.wall_s,
        "file_bytes": limits.file_size_mb * MB,
        "output_bytes": limits.output_mb * MB,
        "nofile": limits.open_files,
        "float_tol": float_tol,
        "stderr_tail": STDERR_TAIL_CHARS,
        "stdout_return": PROGRAM_STDOUT_CHARS,
        # without a memory cgroup the only memory limit left is the address-space rlimit (sandbox.md F5)
        "as_bytes": 0 if has_memcg else limits.memory_mb * MB,
        "site_packages": SITE_PACKAGES_DIR if site_packages else None,
        "prelude": prelude,
    }
    return {
        "symlinks": _alternatives_symlinks() if site_packages else [],
        "header": header,
        "code": code,
        "tests": tests,
        "memory_bytes": limits.memory_mb * MB,
        "pids_max": limits.max_processes + INFRA_PIDS,
        "tmpfs_bytes": limits.tmpfs_mb * MB,
        "total_wall_s": limits.total_s(len(tests)),
        "rlimits": {
            "fsize": limits.file_size_mb * MB,
            "stack": limits.stack_mb * MB,
            # the pids cgroup is the real process cap; RLIMIT_NPROC is only a backstop without it
            "nproc": max(256, 4 * limits.max_processes) if has_pidscg else limits.max_processes + INFRA_PIDS,
        },
    }


_STATUS_TO_VERDICT = {
    "pass": "pass",
    "fail": "fail",
    "timeout": "timeout",
    "memory": "memory",
    "runtime_error": "runtime_error",
    "output_limit": "runtime_error",
    "bad_test": "sandbox_error",
}


def classify(raw: dict[str, Any], n_tests: int, isolation: str) -> ExecResult:
    """Turn the supervisor's raw report into an ExecResult (pure; unit-tested on synthetic reports)."""
    events = raw.get("events", [])
    tests = [e for e in events if e.get("ev") == "test"]
    started = [e["i"] for e in events if e.get("ev") == "start"]
    done = any(e.get("ev") == "done" for e in events)
    oom = raw.get("oom_kills", 0) or 0
    peak = raw.get("peak_memory_bytes")
    base = {
        "total": n_tests,
        "cpu_s": round(sum(t.get("cpu_s", 0.0) for t in tests), 4),
        "wall_s": raw.get("wall_s", 0.0),
        "peak_memory_mb": round(peak / MB, 1) if peak else None,
        "isolation": isolation,
        "phases": raw.get("phases", {}),
        # per test; the failing one also quotes its input and output (truncated, as LCB's metadata does)
        "tests": [
            {k: t[k] for k in ("i", "status", "cpu_s", "wall_s", "input", "output") if k in t} for t in tests
        ],
    }
    passed = sum(1 for t in tests if t.get("status") == "pass")
    if raw.get("error"):
        return ExecResult(
            "sandbox_error",
            passed,
            failed_test=None,
            cause=raw["error"],
            stderr=raw.get("stderr", ""),
            **base,
        )
    last = tests[-1] if tests else None
    if last is not None and last.get("status") != "pass":
        status = last.get("status")
        cause = last.get("detail", "")
        if status == "killed":
            verdict = "memory" if oom else "runtime_error"
            cause = f"killed by the memory cgroup's OOM killer ({oom} kill(s))" if oom else cause
        else:
            verdict = _STATUS_TO_VERDICT.get(status, "sandbox_error")
        if status == "output_limit":
            cause = f"output limit exceeded: {cause}"
        return ExecResult(
            verdict,
            passed,
            failed_test=last["i"],
            cause=cause,
            stderr=last.get("stderr", ""),
            exit_code=last.get("exit"),
            stdout=last.get("stdout", ""),
            **base,
        )
    if done and len(tests) == n_tests:
        return ExecResult(
            "pass",
            passed,
            failed_test=None,
            cause="",
            stdout=last.get("stdout", "") if last else "",
            stderr=last.get("stderr", "") if last else "",
            exit_code=last.get("exit") if last else None,
            **base,
        )
    # The runner did not finish: it was killed from outside the sandbox, or the sandbox failed.
    idx = started[-1] if started else None
    stderr = raw.get("stderr", "")
    if raw.get("deadline_hit"):
        return ExecResult(
            "timeout",
            passed,
            failed_test=idx,
            stderr=stderr,
            cause=f"overall deadline of the sandbox exceeded ({raw.get('wall_s', 0):.1f}s)",
            **base,
        )
    if oom:
        return ExecResult(
            "memory",
            passed,
            failed_test=idx,
            stderr=stderr,
            cause=f"the sandbox was killed by the memory cgroup's OOM killer ({oom} kill(s))",
            **base,
        )
    cause = f"sandbox ended without a verdict (exit status {raw.get('exit_status')})"
    if raw.get("stdout_overflow"):
        cause = "the sandbox runner produced too much output"
    return ExecResult("sandbox_error", passed, failed_test=idx, cause=cause, stderr=stderr, **base)


_SYMLINKS: list[list[str]] | None = None


def _alternatives_symlinks() -> list[list[str]]:
    """[[target, link]] for the /etc/alternatives links that shared libraries under /usr/lib/<triplet> use."""
    global _SYMLINKS
    if _SYMLINKS is None:
        found = []
        for lib_dir in sorted(Path("/usr/lib").glob("*-linux-gnu")):
            for path in sorted(lib_dir.glob("*.so*")):
                if not path.is_symlink():
                    continue
                link = os.readlink(path)
                target = os.path.realpath(path)
                if link.startswith("/etc/alternatives/") and target.startswith("/usr/") and os.path.isfile(target):
                    found.append([target, link])
        _SYMLINKS = found
    return _SYMLINKS


def _check_site_packages(site_packages: bool) -> None:
    # inside the sandbox only /usr is visible: a directory elsewhere would silently not exist there
    if site_packages and not (SITE_PACKAGES_DIR.startswith("/usr/") and os.path.isdir(SITE_PACKAGES_DIR)):
        raise SandboxUnavailableError(
            f"site_packages=True needs {SITE_PACKAGES_DIR}, a directory under /usr (run scripts/install_system_deps.sh)"
        )


def _as_test(t: TestCase | Sequence[str] | dict[str, str]) -> TestCase:
    if isinstance(t, TestCase):
        return t
    if isinstance(t, dict):
        return TestCase(str(t["input"]), str(t["output"]))
    inp, out = t
    return TestCase(str(inp), str(out))


def _execute(
    code: str,
    tests: list[list[str]],
    mode: str,
    fn_name: str | None,
    limits: Limits,
    float_tol: float | None,
    isolation: str,
    exclusive: bool = False,
    site_packages: bool = False,
    prelude: bool = True,
) -> ExecResult:
    pool = _pool(isolation)
    request = _request(code, tests, mode, fn_name, limits, float_tol, pool, site_packages, prelude)
    raw = pool.run(request, exclusive=exclusive)
    return classify(raw, len(tests), isolation)


def run_tests(
    code: str,
    tests: Iterable[TestCase | Sequence[str] | dict[str, str]],
    *,
    mode: str = "stdin",
    fn_name: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    float_tol: float | None = None,
    use_cache: bool = True,
    rerun_timeout: bool = True,
    allow_unsandboxed: bool | None = None,
    site_packages: bool = False,
    prelude: bool = True,
) -> ExecResult:
    """Run `code` on every test in one sandbox, in order, stopping at the first failure.

    mode "stdin": the program reads the test input on stdin; its stdout is compared with LiveCodeBench's
    rule (line-wise, tokens as Decimals; float_tol adds a relative/absolute tolerance). mode
    "functional": `Solution().<fn_name>(*args)` (or a top-level `fn_name`), args = JSON lines of the
    input, compared with `==` to the JSON expected output. Thread-safe; blocks while all slots are busy.
    site_packages=True lets the program import Debian's python3-* packages (numpy, scipy, sympy);
    prelude=False leaves out LiveCodeBench's import prelude.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "functional" and not fn_name:
        raise ValueError("functional mode needs fn_name")
    cases = [_as_test(t) for t in tests]
    if not cases:
        raise ValueError("run_tests needs at least one test case")
    if float_tol is not None and not (math.isfinite(float_tol) and float_tol >= 0):
        raise ValueError(f"float_tol must be a finite non-negative number, got {float_tol}")
    _check_site_packages(site_packages)
    isolation = _isolation_mode(allow_unsandboxed)
    key = cache_key(code, cases, mode, fn_name, limits, float_tol, isolation, site_packages, prelude)
    if use_cache and (hit := _cache_get(key)) is not None:
        return hit
    payload = [[t.input, t.output] for t in cases]
    options = {"site_packages": site_packages, "prelude": prelude}
    result = _execute(code, payload, mode, fn_name, limits, float_tol, isolation, **options)
    if result.verdict == "timeout" and rerun_timeout:
        first = result
        result = _execute(code, payload, mode, fn_name, limits, float_tol, isolation, exclusive=True, **options)
        result.reran_timeout = True
        if result.verdict != "timeout":
            LOG.info(
                "timeout on test %s did not reproduce when re-run alone (%s)",
                first.failed_test,
                result.verdict,
            )
    if use_cache and result.verdict != "sandbox_error":
        _cache_put(key, result)
    return result


def run_program(
    code: str,
    stdin: str = "",
    limits: Limits = DEFAULT_LIMITS,
    *,
    use_cache: bool = False,
    allow_unsandboxed: bool | None = None,
    site_packages: bool = False,
) -> ExecResult:
    """Run `code` once on `stdin` in the sandbox; the result carries its stdout (first MiB) and stderr tail.

    verdict "pass" means it exited normally within the limits (there is no expected output to compare).
    """
    _check_site_packages(site_packages)
    isolation = _isolation_mode(allow_unsandboxed)
    case = [TestCase(stdin, "")]
    key = cache_key(code, case, "program", None, limits, None, isolation, site_packages)
    if use_cache and (hit := _cache_get(key)) is not None:
        return hit
    result = _execute(code, [[stdin]], "program", None, limits, None, isolation, site_packages=site_packages)
    if use_cache and result.verdict != "sandbox_error":
        _cache_put(key, result)
    return result
