"""The sandbox's values: what goes in (TestCase, Limits) and what comes out (ExecResult, RunVerdict).

RunVerdict is the sandbox's own outcome of a run ("pass", "timeout", ...); suites/grading/verdict.py's
Verdict is a grader's judgement of an answer, and suites/grading/code_exec.py maps the one to the other.
Stdlib only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from suites.grading.sandbox.settings import STARTUP_SLACK_S

RunVerdict = Literal["pass", "fail", "timeout", "memory", "runtime_error", "sandbox_error"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "timeout", "memory", "runtime_error", "sandbox_error")
MODES: tuple[str, ...] = ("stdin", "functional")


class SandboxUnavailableError(RuntimeError):
    """Raised instead of running untrusted code without isolation (see the package docstring)."""


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

    verdict: RunVerdict
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
    isolation: str = ""  # "ns-uid" or "bwrap-uid" (full), or the degraded mode the caller opted into
    reran_timeout: bool = False  # the verdict comes from the re-run of a timeout
    cached: bool = False
    # seconds from the supervisor's start of the sandbox: spawn (sandbox process exists), first_event
    # (runner ready), eof (sandbox gone), torn_down (cgroups swept and removed); for debugging slow sandboxes
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
    """What this machine offers. mode: "ns-uid" (full isolation, sandboxes forked by the warm zygote),
    "bwrap-uid" (full isolation, a bwrap exec per program), "bwrap-same-uid" (namespaces but no uid switch
    or cgroups: not root), "none"."""

    mode: str
    isolated: bool
    reason: str
    bwrap: str | None
