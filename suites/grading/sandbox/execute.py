"""Running programs: run_tests / run_program, the request a supervisor gets, and its report turned into a result.

The flow of one execution: check the cache (cache.py), build the request (the runner's header, the program,
the tests, the limits as cgroup values and rlimits; on the cold path the bwrap command line from
isolation.py), hand it to a supervisor of the slot pool (pool.py), and `classify` the supervisor's raw report into an ExecResult. A
timeout is re-run once, alone, before it is accepted (oversubscription is the documented source of spurious
timeouts: EvalPlus#5, opencompass PR #2203). Stdlib only.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from suites.grading.sandbox import cache
from suites.grading.sandbox.datatypes import (
    DEFAULT_LIMITS,
    MODES,
    ExecResult,
    Limits,
    SandboxUnavailableError,
    TestCase,
)
from suites.grading.sandbox.isolation import bwrap_argv, isolation_mode
from suites.grading.sandbox.pool import Pool, get_pool
from suites.grading.sandbox.settings import (
    INFRA_PIDS,
    MB,
    PROGRAM_STDOUT_CHARS,
    RUNNER_IN_SANDBOX,
    SANDBOX_ENV,
    SANDBOX_PYTHON,
    SANDBOX_PYTHON_FLAGS,
    SITE_PACKAGES_DIR,
    STDERR_TAIL_CHARS,
)

LOG = logging.getLogger("suites.grading.sandbox")


def request(
    code: str,
    tests: list[list[str]],
    mode: str,
    fn_name: str | None,
    limits: Limits,
    float_tol: float | None,
    pool: Pool,
    site_packages: bool = False,
    prelude: bool = True,
) -> dict[str, Any]:
    """What the supervisor gets for one execution (supervisor.py's module docstring has the protocol)."""
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
    python = [SANDBOX_PYTHON, *SANDBOX_PYTHON_FLAGS]
    symlinks = alternatives_symlinks() if site_packages else []
    launch: dict[str, Any] = {"tmpfs_bytes": limits.tmpfs_mb * MB, "symlinks": symlinks}  # the warm zygote's
    if pool.mode == "none":  # no sandbox: the runner runs from its host path, in a scratch dir of its own
        launch.update(argv=[*python, pool.runner], env=dict(SANDBOX_ENV))
    elif pool.mode != "ns-uid":  # the cold path: bubblewrap and a new interpreter
        argv = bwrap_argv(
            pool.bwrap,
            [*python, RUNNER_IN_SANDBOX],
            tmpfs_bytes=limits.tmpfs_mb * MB,
            runner=pool.runner,
            symlinks=symlinks,
        )
        launch.update(argv=argv, env={})
    return {
        **launch,
        "header": header,
        "code": code,
        "tests": tests,
        "memory_bytes": limits.memory_mb * MB,
        "pids_max": limits.max_processes + INFRA_PIDS,
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


def alternatives_symlinks() -> list[list[str]]:
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


def check_site_packages(site_packages: bool) -> None:
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
    pool = get_pool(isolation)
    req = request(code, tests, mode, fn_name, limits, float_tol, pool, site_packages, prelude)
    raw = pool.run(req, exclusive=exclusive)
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
    check_site_packages(site_packages)
    isolation = isolation_mode(allow_unsandboxed)
    key = cache.cache_key(code, cases, mode, fn_name, limits, float_tol, isolation, site_packages, prelude)
    if use_cache and (hit := cache.get(key)) is not None:
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
        cache.put(key, result)
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
    check_site_packages(site_packages)
    isolation = isolation_mode(allow_unsandboxed)
    case = [TestCase(stdin, "")]
    key = cache.cache_key(code, case, "program", None, limits, None, isolation, site_packages)
    if use_cache and (hit := cache.get(key)) is not None:
        return hit
    result = _execute(code, [[stdin]], "program", None, limits, None, isolation, site_packages=site_packages)
    if use_cache and result.verdict != "sandbox_error":
        cache.put(key, result)
    return result
