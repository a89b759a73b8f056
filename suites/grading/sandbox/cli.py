"""Run one program in the sandbox and print its verdict as JSON: for debugging a surprising verdict.

    python -m suites.grading.sandbox.cli --code sol.py --stdin in.txt                  # run, show stdout
    python -m suites.grading.sandbox.cli --code sol.py --stdin in.txt --expected out.txt   # judge one test
    python -m suites.grading.sandbox.cli --code sol.py --tests tests.json [--mode functional --fn-name f]

--tests takes LiveCodeBench's `input_output` JSON ({"inputs": [...], "outputs": [...], "fn_name": ...}) or
a list of {"input": ..., "output": ...}. Limits default to the sandbox's Limits. The cache is
off unless --cache is given, so every invocation really executes. Exit status: 0 for "pass", 1 for any
other verdict, 2 for a usage error or when isolation is unavailable (see K2BENCH_ALLOW_UNSANDBOXED).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from suites.grading.sandbox import (
    DEFAULT_LIMITS,
    Limits,
    SandboxUnavailableError,
    TestCase,
    check_isolation,
    run_program,
    run_tests,
)


def _load_tests(path: Path) -> tuple[list[TestCase], str | None]:
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "input_output" in data:  # a whole LCB record
        data = json.loads(data["input_output"])
    if isinstance(data, dict):
        return [TestCase(i, o) for i, o in zip(data["inputs"], data["outputs"], strict=True)], data.get(
            "fn_name"
        )
    return [TestCase(t["input"], t["output"]) for t in data], None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--code", type=Path, help="the program (Python source file)")
    p.add_argument("--stdin", type=Path, help="file fed to the program's stdin (default: empty)")
    p.add_argument("--expected", type=Path, help="expected stdout: judge the run as one test case")
    p.add_argument(
        "--tests", type=Path, help="JSON test cases (see above); runs them all, stops at the first failure"
    )
    p.add_argument(
        "--mode",
        choices=["stdin", "functional"],
        default=None,
        help="default: stdin, or functional when the tests file names a fn_name",
    )
    p.add_argument("--fn-name", help="method of class Solution (or function) to call in functional mode")
    p.add_argument(
        "--float-tol", type=float, help="opt-in tolerance for numeric tokens (not in LCB's runner)"
    )
    p.add_argument("--time-limit", type=float, default=DEFAULT_LIMITS.time_s, help="CPU seconds per test")
    p.add_argument("--wall-time", type=float, default=None, help="wall seconds per test (default 3*cpu+2)")
    p.add_argument("--memory-mb", type=int, default=DEFAULT_LIMITS.memory_mb)
    p.add_argument("--max-processes", type=int, default=DEFAULT_LIMITS.max_processes)
    p.add_argument("--file-size-mb", type=int, default=DEFAULT_LIMITS.file_size_mb)
    p.add_argument("--output-mb", type=int, default=DEFAULT_LIMITS.output_mb)
    p.add_argument("--no-rerun", action="store_true", help="accept a timeout without the confirming re-run")
    p.add_argument("--cache", action="store_true", help="use the on-disk verdict cache (off by default here)")
    p.add_argument(
        "--site-packages", action="store_true", help="let the program import Debian's numpy/scipy/sympy (SciCode)"
    )
    p.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="run even where isolation is unavailable (DANGEROUS; prints a warning)",
    )
    p.add_argument(
        "--isolation", action="store_true", help="print what isolation this machine offers and exit"
    )
    args = p.parse_args(argv)

    if args.isolation:
        print(json.dumps(check_isolation().__dict__, indent=2))
        return 0
    if args.code is None:
        p.error("--code is required")
    limits = Limits(
        time_s=args.time_limit,
        wall_time_s=args.wall_time,
        memory_mb=args.memory_mb,
        max_processes=args.max_processes,
        file_size_mb=args.file_size_mb,
        output_mb=args.output_mb,
    )
    code = args.code.read_text()
    stdin = args.stdin.read_text() if args.stdin else ""
    allow = True if args.allow_unsandboxed else None
    try:
        if args.tests or args.expected:
            if args.tests:
                tests, fn_name = _load_tests(args.tests)
            else:
                tests, fn_name = [TestCase(stdin, args.expected.read_text())], None
            fn_name = args.fn_name or fn_name
            mode = args.mode or ("functional" if fn_name else "stdin")
            result = run_tests(
                code,
                tests,
                mode=mode,
                fn_name=fn_name,
                limits=limits,
                float_tol=args.float_tol,
                use_cache=args.cache,
                rerun_timeout=not args.no_rerun,
                allow_unsandboxed=allow,
                site_packages=args.site_packages,
            )
        else:
            result = run_program(
                code, stdin, limits, use_cache=args.cache, allow_unsandboxed=allow, site_packages=args.site_packages
            )
    except SandboxUnavailableError as exc:
        print(json.dumps({"verdict": None, "error": str(exc)}, indent=2))
        return 2
    except ValueError as exc:
        p.error(str(exc))
    print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
