"""Benchmark of the code sandbox against LiveCodeBench's unisolated execution pattern.

    python -m benchmarks.sandbox_bench            # ~3-5 min on 2 busy cores; --quick for a smoke run
    python -m benchmarks.sandbox_bench --check-n 1000 --repeats 5

Measures, on a fixed set of solutions (stdin and functional; correct, wrong, crashing, compute-bound):
- executions/s of suites/grading/sandbox/ with its default engine, the warm zygote (fresh namespaces, tmpfs,
  cgroups, dedicated uid and seccomp per program, forked from a process that has the prelude loaded), one
  sandbox per core;
- the same with the cold engine (K2BENCH_SANDBOX_ENGINE=bwrap: a bwrap exec and a new interpreter per
  program, what the sandbox did before the zygote), in a child process;
- the same programs run the way LiveCodeBench's official runner does (LiveCodeBench/LiveCodeBench
  lcb_runner/evaluation/compute_code_generation_metrics.py and testing_util.py @15808c7): a
  ProcessPoolExecutor (16 workers by default there), and per program a multiprocessing.Manager plus a
  forked multiprocessing.Process that applies a reliability_guard-like blocklist, execs the program with
  stdin patched through unittest.mock and stdout captured in a StringIO, per-test signal.alarm. This is a
  re-implementation of that pattern for timing, with the same per-test work; it isolates nothing;
- compared at equal parallelism (one per core) within each repeat (the ratio is taken per repeat) and at LCB's
  default parallelism (16), plus single-stream latency and CPU of a trivial program (parallelism 1);
- a back-to-back check: N sandboxed executions of a correct program must all pass (0 spurious failures).
Writes results/perf/sandbox_bench.md and results/perf/sandbox_bench.json next to printing the table; exits 1
if any execution got an unexpected verdict or the back-to-back check had a failure.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from unittest.mock import mock_open, patch

if not __package__:  # run by path: benchmarks/ is a package whose modules import each other by name
    sys.exit("run it as a module from the repository root: python -m benchmarks.sandbox_bench ...")

from benchmarks._perf import OUT_DIR, REPO  # noqa: E402
from suites.grading.sandbox import Limits, TestCase, check_isolation, pool, run_tests, settings  # noqa: E402
from suites.grading.sandbox.runner import PRELUDE, compare_stdout  # noqa: E402

LCB_TIMEOUT_S = 6  # LCB's default per-test timeout
LIMITS = Limits(time_s=6.0)
TRIVIAL = ("print(int(input()) + 1)", [TestCase("1", "2")], "stdin", None)

# sys.stdin.read(), not open(0): under LCB's runner `open` in the program's namespace is the real builtin
# bound by its `from builtins import *` prelude before the mock is applied, so open(0) reads the worker's
# /dev/null and a correct program fails there (it passes in the sandbox, which gives it a real stdin).
_SUM = "import sys\nprint(sum(map(int, sys.stdin.read().split())))"
_SIEVE = """
n = int(input())
sieve = bytearray([1]) * (n + 1)
sieve[0:2] = b"\\x00\\x00"
for i in range(2, int(n ** 0.5) + 1):
    if sieve[i]:
        sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
print(sum(sieve))
"""
_TWO_SUM = """
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                return [seen[target - x], i]
            seen[x] = i
"""
_LIS = """
class Solution:
    def lengthOfLIS(self, nums: List[int]) -> int:
        tails = []
        for x in nums:
            i = bisect_left(tails, x)
            if i == len(tails):
                tails.append(x)
            else:
                tails[i] = x
        return len(tails)
"""
_LIS_N = 20000
_LIS_NUMS = [(i * 7919) % 10007 for i in range(_LIS_N)]


def _lis(nums: list[int]) -> int:
    import bisect

    tails: list[int] = []
    for x in nums:
        i = bisect.bisect_left(tails, x)
        tails[i : i + 1] = [x]
    return len(tails)


# (name, code, tests, mode, fn_name): a fixed mix of what a code benchmark executes.
SOLUTIONS = [
    (
        "sum-correct",
        _SUM,
        [TestCase(" ".join(map(str, range(k))), str(sum(range(k)))) for k in (1, 10, 100, 1000, 5)],
        "stdin",
        None,
    ),
    (
        "sum-wrong",
        "print(sum(map(int, open(0).read().split())) + 1)",
        [TestCase("1 2", "3")] * 3,
        "stdin",
        None,
    ),
    ("sum-crash", "print(1 // 0)", [TestCase("1 2", "3")], "stdin", None),
    (
        "sieve-compute",
        _SIEVE,
        [TestCase(str(n), str(c)) for n, c in ((10**5, 9592), (3 * 10**5, 25997))],
        "stdin",
        None,
    ),
    (
        "many-small-tests",
        "a, b = map(int, input().split())\nprint(a * b)",
        [TestCase(f"{i} {i + 1}", str(i * (i + 1))) for i in range(20)],
        "stdin",
        None,
    ),
    (
        "twosum-correct",
        _TWO_SUM,
        [
            TestCase("[2,7,11,15]\n9", "[0, 1]"),
            TestCase("[3,2,4]\n6", "[1, 2]"),
            TestCase("[3,3]\n6", "[0, 1]"),
        ],
        "functional",
        "twoSum",
    ),
    (
        "twosum-wrong",
        _TWO_SUM.replace("[seen[target - x], i]", "[i, seen[target - x]]"),
        [TestCase("[2,7,11,15]\n9", "[0, 1]")],
        "functional",
        "twoSum",
    ),
    (
        "lis-compute",
        _LIS,
        [TestCase(json.dumps(_LIS_NUMS), str(_lis(_LIS_NUMS)))],
        "functional",
        "lengthOfLIS",
    ),
]
EXPECTED = {
    "sum-correct": "pass",
    "sum-wrong": "fail",
    "sum-crash": "runtime_error",
    "sieve-compute": "pass",
    "many-small-tests": "pass",
    "twosum-correct": "pass",
    "twosum-wrong": "fail",
    "lis-compute": "pass",
}


# ------------------------------------------------------------------------------------------------------
# The unisolated LiveCodeBench pattern (re-implemented for timing; see the module docstring).
# ------------------------------------------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _guard() -> None:
    """reliability_guard-like: null the destructive os/shutil/subprocess functions (no memory limit)."""
    import builtins
    import shutil

    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in (
        "kill",
        "system",
        "putenv",
        "remove",
        "removedirs",
        "rmdir",
        "fchdir",
        "setuid",
        "fork",
        "forkpty",
        "killpg",
        "rename",
        "renames",
        "truncate",
        "replace",
        "unlink",
        "fchmod",
        "fchown",
        "chmod",
        "chown",
        "chroot",
        "lchown",
        "getcwd",
        "chdir",
    ):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None


def _lcb_run(code: str, tests: list[tuple[str, str]], mode: str, fn_name: str | None, out) -> None:
    signal.signal(signal.SIGALRM, _alarm)
    _guard()
    results = []
    module: dict = {"__name__": "tmp_sol"}
    try:
        signal.alarm(LCB_TIMEOUT_S)
        exec(PRELUDE + "\n" + code if mode == "functional" else PRELUDE, module)
        signal.alarm(0)
    except BaseException:
        out.append([-4])
        return
    for inp, expected in tests:
        signal.alarm(LCB_TIMEOUT_S)
        try:
            if mode == "functional":
                args = [json.loads(line) for line in inp.split("\n")]
                got = getattr(module["Solution"](), fn_name)(*args)
                got = list(got) if isinstance(got, tuple) else got
                ok = got == json.loads(expected)
            else:
                lines = iter(inp.split("\n"))
                captured = io.StringIO()
                with (
                    patch("builtins.open", mock_open(read_data=inp)),
                    patch("sys.stdin", io.StringIO(inp)),
                    patch("sys.stdin.readline", lambda *a, it=lines: next(it)),
                    patch("sys.stdin.read", lambda *a, data=inp: data),
                    patch("sys.stdout", captured),
                ):
                    try:
                        exec(code, dict(module))
                    except SystemExit:
                        pass
                ok = compare_stdout(captured.getvalue(), expected)[0]
            signal.alarm(0)
        except _Timeout:
            results.append(-3)
            break
        except BaseException:
            signal.alarm(0)
            results.append(-4)
            break
        results.append(bool(ok))
        if not ok:
            break
    out.append(results)


def _lcb_check(job: tuple[str, list[tuple[str, str]], str, str | None]) -> list:
    """LCB's check_correctness: a Manager list and a forked Process per program, global join timeout."""
    code, tests, mode, fn_name = job
    ctx = multiprocessing.get_context("fork")
    manager = ctx.Manager()
    try:
        out = manager.list()
        p = ctx.Process(target=_lcb_run, args=(code, tests, mode, fn_name, out))
        p.start()
        p.join(timeout=(LCB_TIMEOUT_S + 1) * len(tests) + 5)
        if p.is_alive():
            p.kill()
        return list(out[0]) if out else [-1] * len(tests)
    finally:
        manager.shutdown()


def _lcb_verdict(res: list) -> str:
    if res and all(r is True for r in res):
        return "pass"
    return {-2: "fail", -3: "timeout", -4: "runtime_error", -1: "timeout", False: "fail"}.get(res[-1], "fail")


# ------------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------------
def _jobs(copies: int) -> list[tuple[str, str, list[TestCase], str, str | None]]:
    return [s for _ in range(copies) for s in SOLUTIONS]


def bench_sandbox(copies: int, parallelism: int) -> tuple[float, dict[str, str], list[float]]:
    jobs = _jobs(copies)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallelism) as ex:
        results = list(
            ex.map(
                lambda j: run_tests(
                    j[1], j[2], mode=j[3], fn_name=j[4], limits=LIMITS, use_cache=False, rerun_timeout=False
                ),
                jobs,
            )
        )
    elapsed = time.perf_counter() - t0
    verdicts = {j[0]: r.verdict for j, r in zip(jobs, results, strict=True)}
    return len(jobs) / elapsed, verdicts, [r.wall_s for r in results]


def bench_lcb(copies: int, parallelism: int) -> tuple[float, dict[str, str]]:
    jobs = _jobs(copies)
    payload = [(j[1], [(t.input, t.output) for t in j[2]], j[3], j[4]) for j in jobs]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=parallelism, mp_context=multiprocessing.get_context("fork")) as ex:
        results = list(ex.map(_lcb_check, payload))
    elapsed = time.perf_counter() - t0
    return len(jobs) / elapsed, {j[0]: _lcb_verdict(r) for j, r in zip(jobs, results, strict=True)}


def _tree_cpu_s(pid: int) -> float:
    """CPU of a process plus all its reaped descendants (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def latency_sandbox(n: int) -> tuple[list[float], float]:
    """Sequential trivial runs: wall per run, and CPU per run of every process involved: the supervisors
    (which reap the sandbox's PID 1: bwrap, or the zygote's sandbox, which reaps the runner and the test
    processes) and the zygotes (which reap each sandbox's set-up process), plus this process."""
    code, tests, mode, fn = TRIVIAL
    procs = {p for sup, zyg in pool.supervisor_pids().items() for p in (sup, zyg) if p is not None}
    cpu0 = sum(_tree_cpu_s(p) for p in procs) + sum(os.times()[:2])
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        r = run_tests(
            code, [TestCase(str(i), str(i + 1))], mode=mode, fn_name=fn, limits=LIMITS, use_cache=False
        )
        out.append(time.perf_counter() - t0)
        assert r.verdict == "pass", r
    after = {p for sup, zyg in pool.supervisor_pids().items() for p in (sup, zyg) if p is not None}
    assert after == procs, "a supervisor or zygote was replaced during the latency runs: CPU not comparable"
    cpu1 = sum(_tree_cpu_s(p) for p in procs) + sum(os.times()[:2])
    return out, (cpu1 - cpu0) / n


def latency_lcb(n: int) -> tuple[list[float], float]:
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = []
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as ex:
        ex.submit(int).result()  # start the worker outside the timing
        for i in range(n):
            t0 = time.perf_counter()
            ex.submit(_lcb_check, (TRIVIAL[0], [(str(i), str(i + 1))], "stdin", None)).result()
            out.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool worker is reaped at shutdown: all counted
    return out, (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n


def back_to_back(n: int) -> dict:
    code = _SUM
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=settings.SLOTS) as ex:
        results = list(
            ex.map(
                lambda i: run_tests(
                    code,
                    [TestCase(f"{i} 1", str(i + 1))],
                    limits=LIMITS,
                    use_cache=False,
                    rerun_timeout=False,
                ),
                range(n),
            )
        )
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if r.verdict != "pass"]
    return {
        "n": n,
        "spurious_failures": len(bad),
        "seconds": round(elapsed, 1),
        "per_s": round(n / elapsed, 1),
        "first_failure": bad[0].to_dict() if bad else None,
    }


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def machine() -> dict[str, str]:
    def first(cmd: list[str]) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().split("\n")[0]
            )
        except OSError:
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "memory_gib": f"{mem_kb / 2**20:.1f}",
        "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "host_python": platform.python_version(),
        "sandbox_python": first([settings.SANDBOX_PYTHON, "--version"]),
        "bwrap": first(["bwrap", "--version"]),
        "isolation": check_isolation().mode,
        "slots": str(settings.SLOTS),
    }


WARM = "zygote (warm sandbox: namespaces+uid+cgroups+seccomp)"
COLD = "bwrap (cold sandbox: a new interpreter per program, before)"
LCB = "LCB pattern, unisolated"


def _child(args: argparse.Namespace) -> int:
    """Run in a child with the environment fixed at import (engine, slots): rates, then latency, as JSON."""
    run_tests(*TRIVIAL[:2], limits=LIMITS, use_cache=False)  # start the supervisors outside the timing
    out = [bench_sandbox(args.copies, args.child) for _ in range(args.repeats)]
    lat, cpu = latency_sandbox(args.latency_n)
    print(json.dumps({"rates": [o[0] for o in out], "verdicts": out[-1][1], "walls": [w for o in out for w in o[2]],
                      "isolation": check_isolation().mode, "latency_ms": [x * 1000 for x in lat], "cpu_ms": cpu * 1000}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=10, help="copies of the solution set per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency-n", type=int, default=30, help="sequential runs of a trivial program")
    ap.add_argument("--check-n", type=int, default=1000, help="back-to-back sandboxed runs (0 = skip)")
    ap.add_argument("--quick", action="store_true", help="copies=2, repeats=2, latency-n=10, check-n=100")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write results/perf/")
    ap.add_argument("--child", type=int, default=0, metavar="P",
                    help="internal: the sandbox's executions/s at parallelism P and its latency, as JSON")
    ap.add_argument("--render-only", action="store_true", help="re-render sandbox_bench.md from its JSON")
    args = ap.parse_args()
    if args.render_only:
        (OUT_DIR / "sandbox_bench.md").write_text(render(json.loads((OUT_DIR / "sandbox_bench.json").read_text())))
        return 0
    if args.quick:
        args.copies, args.repeats, args.latency_n, args.check_n = 2, 2, 10, 100
    if args.child:
        return _child(args)

    info = machine()
    info["loadavg_start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    run_tests(*TRIVIAL[:2], limits=LIMITS, use_cache=False)  # start the supervisors outside the timing
    slots = settings.SLOTS
    # The comparison the issue asks for, side by side: per repeat the sandbox then the unisolated pattern, both
    # at `slots` parallelism, so the two see the same machine load; the ratio is taken per repeat.
    sb_rates, lcb_rates, ratios, walls, verdict_check = [], [], [], [], {}
    for _ in range(args.repeats):
        rate, verdicts, w = bench_sandbox(args.copies, slots)
        sb_rates.append(rate)
        walls += w
        verdict_check[f"sandbox-{slots}"] = verdicts
        rate_lcb, verdicts = bench_lcb(args.copies, slots)
        lcb_rates.append(rate_lcb)
        verdict_check[f"lcb-{slots}"] = verdicts
        ratios.append(rate / rate_lcb)
        print(f"repeat: sandbox {rate:.1f}/s, LCB pattern {rate_lcb:.1f}/s, ratio {ratios[-1]:.2f}", flush=True)
    lcb16 = []
    for _ in range(args.repeats):
        rate, verdicts = bench_lcb(args.copies, 16)
        lcb16.append(rate)
        verdict_check["lcb-16"] = verdicts
    n_exec = len(SOLUTIONS) * args.copies
    # the cold engine (what ran before the zygote), in a child: the engine is fixed at import
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.sandbox_bench", "--child", str(slots), "--copies", str(args.copies), "--repeats",
         str(args.repeats), "--latency-n", str(args.latency_n)],
        env={**os.environ, settings.ENGINE_ENV: "bwrap"}, cwd=REPO, capture_output=True, text=True, check=True,
    )
    cold = json.loads(child.stdout.strip().splitlines()[-1])
    verdict_check[f"cold-sandbox-{slots}"] = cold["verdicts"]
    rows = [
        {"config": WARM, "parallelism": slots, "executions": n_exec, "exec_per_s": _stats(sb_rates),
         "sandbox_wall_s": _stats(walls)},
        {"config": COLD, "parallelism": slots, "executions": n_exec, "exec_per_s": _stats(cold["rates"]),
         "sandbox_wall_s": _stats(cold["walls"]), "isolation": cold["isolation"]},
        {"config": LCB, "parallelism": 16, "executions": n_exec, "exec_per_s": _stats(lcb16)},
        {"config": LCB, "parallelism": slots, "executions": n_exec, "exec_per_s": _stats(lcb_rates)},
    ]
    lat_sb, cpu_sb = latency_sandbox(args.latency_n)
    lat_lcb, cpu_lcb = latency_lcb(args.latency_n)
    latency = {
        "sandbox_ms": _stats([x * 1000 for x in lat_sb]),
        "cold_ms": _stats(cold["latency_ms"]),
        "lcb_ms": _stats([x * 1000 for x in lat_lcb]),
        "sandbox_cpu_ms": cpu_sb * 1000,
        "cold_cpu_ms": cold["cpu_ms"],
        "lcb_cpu_ms": cpu_lcb * 1000,
    }
    latency["overhead_ms"] = latency["sandbox_ms"]["median"] - latency["lcb_ms"]["median"]
    check = back_to_back(args.check_n) if args.check_n else None
    info["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    mismatches = {k: {n: v for n, v in d.items() if v != EXPECTED[n]} for k, d in verdict_check.items()}
    report = {
        "machine": info,
        "rows": rows,
        "ratio": _stats(ratios),
        "ratio_per_repeat": [round(x, 4) for x in ratios],
        "latency": latency,
        "back_to_back": check,
        "verdict_mismatches": {k: v for k, v in mismatches.items() if v},
        "solutions": [s[0] for s in SOLUTIONS],
        "copies": args.copies,
        "repeats": args.repeats,
    }
    md = render(report)
    print("\n" + md)
    if not args.no_write:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "sandbox_bench.json").write_text(json.dumps(report, indent=2) + "\n")
        (OUT_DIR / "sandbox_bench.md").write_text(md)
        print(f"wrote {OUT_DIR / 'sandbox_bench.md'} and .json")
    failed = (check and check["spurious_failures"]) or report["verdict_mismatches"]
    return 1 if failed else 0


def render(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Sandbox benchmark (generated by benchmarks/sandbox_bench.py; do not edit)",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} vCPU, {m['memory_gib']} GiB; {m['os']}, kernel {m['kernel']}; host "
        f"Python {m['host_python']}, sandbox {m['sandbox_python']}, {m['bwrap']}; isolation `{m['isolation']}`, "
        f"{m['slots']} slots. Load average {m['loadavg_start']} at start, {m['loadavg_end']} at end "
        "(the machine is shared; numbers move with it).",
        "",
        f"Workload: {len(r['solutions'])} solutions ({', '.join(r['solutions'])}) x {r['copies']} copies per "
        f"repeat, {r['repeats']} repeats; median (min-max). The warm sandbox and the unisolated pattern at equal "
        "parallelism alternate within each repeat; the cold sandbox runs in a child process afterwards.",
        "",
        "| configuration | parallelism | executions/repeat | executions/s | sandbox wall per execution (s) |",
        "|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        e = row["exec_per_s"]
        w = row.get("sandbox_wall_s")
        wall = f"{w['median']:.3f} ({w['min']:.3f}-{w['max']:.3f})" if w else "-"
        lines.append(
            f"| {row['config']} | {row['parallelism']} | {row['executions']} | "
            f"{e['median']:.1f} ({e['min']:.1f}-{e['max']:.1f}) | {wall} |"
        )
    ratio = r.get("ratio")
    if ratio:
        lines += [
            "",
            f"**Isolated / unisolated executions/s at equal parallelism ({r['rows'][0]['parallelism']}): "
            f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})**, per repeat: "
            + ", ".join(f"{x:.2f}" for x in r["ratio_per_repeat"]) + ".",
        ]
    lat = r["latency"]
    s, c, cold = lat["sandbox_ms"], lat["lcb_ms"], lat.get("cold_ms")
    lines += [
        "",
        "Single-stream latency of a trivial program (one test), parallelism 1:",
        "",
        "| runner | median ms | min ms | max ms | CPU ms per execution, all processes |",
        "|---|---|---|---|---|",
        f"| sandbox, warm zygote | {s['median']:.1f} | {s['min']:.1f} | {s['max']:.1f} | {lat['sandbox_cpu_ms']:.1f} |",
    ]
    if cold:
        lines.append(f"| sandbox, cold (bwrap) | {cold['median']:.1f} | {cold['min']:.1f} | {cold['max']:.1f} | "
                     f"{lat['cold_cpu_ms']:.1f} |")
    lines += [
        f"| LCB pattern (Manager + forked Process) | {c['median']:.1f} | {c['min']:.1f} | {c['max']:.1f} | "
        f"{lat['lcb_cpu_ms']:.1f} |",
        "",
        f"Per-execution overhead of the sandbox over the LCB pattern: {lat['overhead_ms']:.1f} ms (median; "
        "negative: the sandbox is faster).",
    ]
    if cold:
        lines += [
            "",
            "**Where the time went, and what the warm runner changed.** The cold sandbox builds every execution "
            "from nothing: a bwrap exec, new user/pid/mount/net/ipc/uts namespaces, a new interpreter that "
            f"imports LiveCodeBench's prelude: {cold['median']:.0f} ms and {lat['cold_cpu_ms']:.0f} ms of CPU per "
            "trivial program here. The warm runner (suites/grading/sandbox/zygote.py) starts the interpreter and "
            "imports the prelude once per slot; per program it forks, joins fresh memory/pids cgroups, unshares "
            "fresh mount/pid/net/ipc/uts/cgroup namespaces, mounts a fresh tmpfs root and /tmp, drops to the "
            "slot's uid with no_new_privs and a seccomp filter, and runs the program: "
            f"{s['median']:.0f} ms and {lat['sandbox_cpu_ms']:.0f} ms of CPU. The unisolated pattern pays for a "
            "multiprocessing.Manager (a server process) and a forked Process per program, which is why it is the "
            "slower one now. What the warm runner keeps and where it differs from the cold one: "
            "suites/grading/sandbox/README.md (each guarantee with the test that shows it).",
        ]
    if r["back_to_back"]:
        b = r["back_to_back"]
        lines += [
            "",
            f"Back-to-back check: {b['n']} sandboxed executions, {b['spurious_failures']} spurious "
            f"failures, {b['seconds']} s ({b['per_s']}/s).",
        ]
    if r["verdict_mismatches"]:
        lines += ["", f"Verdicts differing from the expected ones: `{json.dumps(r['verdict_mismatches'])}`"]
    else:
        lines += ["", "Every configuration gave every solution its expected verdict."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
