"""The code sandbox: run untrusted, model-written Python programs against test cases, isolated.

    from suites.grading.sandbox import Limits, TestCase, run_tests, run_program
    res = run_tests(code, [TestCase("1 2\\n", "3\\n")], mode="stdin", limits=Limits(time_s=2))
    res.verdict  # a RunVerdict: "pass" | "fail" | "timeout" | "memory" | "runtime_error" | "sandbox_error"

Public face (everything else is internal to the package and may change):
- `run_tests(code, tests, mode=, fn_name=, limits=, float_tol=, ...)` -> ExecResult: all tests of one
  program in one sandbox, stopping at the first failure; `run_program(code, stdin, limits)` -> ExecResult
  with the program's stdout;
- `TestCase`, `Limits`, `DEFAULT_LIMITS`: inputs; `ExecResult`, `RunVerdict`, `VERDICTS`: outputs;
- `check_isolation()` -> IsolationReport: what this machine offers; `SandboxUnavailableError`: raised
  instead of running untrusted code without isolation; `shutdown()`: stop the supervisors (also at exit);
- `CACHE_DIR_ENV`: the variable naming the verdict cache's directory.
Debug one program from a shell: `python -m suites.grading.sandbox.cli --code f.py --stdin in.txt`.

Design (measured in shared/reference/sandbox.md, part 4; summarised in shared/DESIGN.md): each execution
gets a sandbox of its own: fresh pid/mount/net/ipc/uts/cgroup namespaces, a fresh root of read-only /usr and
a size-capped tmpfs /tmp, nothing else of the host visible, no network, an unprivileged uid (one per slot),
per-run cgroup v1 groups (memory, pids), no_new_privs (and, on the warm engine, a seccomp filter). A supervisor process per slot
(supervisor.py, a child subreaper) runs it. By default the sandbox is forked by the slot's warm zygote
(zygote.py), a process that started the interpreter and imported LiveCodeBench's prelude once, and never
holds a program or its data; K2BENCH_SANDBOX_ENGINE=bwrap (and every non-root or degraded mode) execs
bubblewrap and a new interpreter per program instead, as before. Inside, the trusted runner (runner.py)
runs ALL tests of one (problem, sample) pair, one forked process per test with its own CPU/wall limit, and
stops at the first failure. Output comparison is LiveCodeBench's (see runner.py for what is reproduced and
what deliberately differs). The guarantees and the tests that show them: README.md.

Modules, along the way an execution goes: settings (paths, uids, sizes; environment variables),
datatypes (TestCase, Limits, ExecResult), isolation (the probe, the policy, the bwrap command line),
cache (verdicts on disk), execute (run_tests/run_program, the request, classify), pool (slots and
supervisor processes), supervisor (script: slot lock, cgroups, uid, deadline, reaping), zygote (script: the
warm process that forks each sandbox and builds its isolation), runner (script, inside the sandbox: the
tests and LiveCodeBench's comparison), cli.

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
- where isolation is unavailable (not root so no uid switch or cgroups; neither the zygote nor bwrap can
  create namespaces), untrusted code
  is REFUSED (SandboxUnavailableError) unless the caller opts in with allow_unsandboxed=True or
  K2BENCH_ALLOW_UNSANDBOXED=1; then every run logs a warning and the result says isolation="...".

Pure Python, stdlib only; imports neither inspect_ai nor trl.
"""

from suites.grading.sandbox.datatypes import (
    DEFAULT_LIMITS,
    VERDICTS,
    ExecResult,
    Limits,
    RunVerdict,
    SandboxUnavailableError,
    TestCase,
)
from suites.grading.sandbox.execute import run_program, run_tests
from suites.grading.sandbox.isolation import check_isolation
from suites.grading.sandbox.pool import shutdown
from suites.grading.sandbox.settings import CACHE_DIR_ENV

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_LIMITS",
    "VERDICTS",
    "ExecResult",
    "Limits",
    "RunVerdict",
    "SandboxUnavailableError",
    "TestCase",
    "check_isolation",
    "run_program",
    "run_tests",
    "shutdown",
]
