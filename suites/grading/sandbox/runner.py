"""Trusted test runner that runs INSIDE the bubblewrap sandbox (PID 1 of its pid namespace).

The warm zygote (zygote.py) imports it once, calls warm_up(), and calls main() in every sandbox it forks
(as PID 1 of fresh namespaces); on the cold path the supervisor starts it as `/usr/bin/python3 -I -S
/k2b/runner.py` inside bwrap `--as-pid-1`. suites/grading/sandbox (run_tests, run_program) is the API users
call. It runs all test cases of one (problem,
sample) pair, one forked process per test, and stops at the first failure. It is stdlib-only and must run
on Debian's python3 (3.11); the host imports `compare_stdout`/`compare_functional` from it for unit tests.

What it reproduces from LiveCodeBench's official runner (LiveCodeBench/LiveCodeBench
`lcb_runner/evaluation/testing_util.py` @15808c7):
- the `import_string` prelude (`from string import *` ... `sys.setrecursionlimit(50000)`) executed before
  the program, and `sys.set_int_max_str_digits(50000)` (compute_code_generation_metrics.py);
- stdin problems: outputs compared line by line after `strip()`, exact match or else every whitespace
  token of the line equal as `decimal.Decimal` (so "1.0" == "1", but "0.333" != "0.3333"); an opt-in
  `float_tol` adds a relative/absolute tolerance for numeric tokens, which the official runner lacks;
- functional (LeetCode) problems: `Solution().<fn_name>(*[json.loads(line) for line in input])`, a
  top-level tuple result becomes a list, then `==` against `json.loads(expected)`;
- a per-test time limit (here CPU seconds via RLIMIT_CPU plus a wall-clock cap, where LCB uses a
  wall-clock `signal.alarm`).
Deliberate differences (the program runs as a real judge runs it, not patched in-process): stdin is a real
file (so `sys.stdin.buffer`, `open(0)` and `os.read(0, n)` all work), the stdin program runs as
`__main__` instead of being wrapped in a function, and each test runs in a fresh process.

Why a fork per test: the test process never holds the expected output (it is read from the pipe only
after the test process is gone), its crash or `os._exit` cannot take the runner down, and as PID 1 the
runner cannot be signalled from inside the namespace and can `kill(-1)` every leftover between tests.

Protocol. stdin carries frames (8-byte big-endian length + payload): a JSON header, the program source,
then for each test its input and (except in "program" mode) its expected output. stdout carries one JSON
object per line: {"ev": "start", "i": i}, {"ev": "test", ...result...}, {"ev": "done"}.
"""

import builtins
import json
import math
import os
import resource
import select
import signal
import stat
import struct
import sys
import time

# LiveCodeBench's `import_string`, executed in the program's namespace before the program (see above).
PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\nfrom functools import *\n"
    "from operator import *\nfrom io import *\nfrom sys import *\nfrom json import *\n"
    "from builtins import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
    "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\n"
    "import statistics\nimport itertools\nimport functools\nimport operator\nimport io\nimport sys\n"
    "import json\nsys.setrecursionlimit(50000)\n"
)
PRELUDE_MODULES = (
    "string",
    "re",
    "datetime",
    "collections",
    "heapq",
    "bisect",
    "copy",
    "math",
    "random",
    "statistics",
    "itertools",
    "functools",
    "operator",
    "io",
    "json",
    "typing",
)
INT_MAX_STR_DIGITS = 50000

# Exit codes of the forked test process; chosen far from the codes programs commonly use.
EXIT_OK = 0
EXIT_EXCEPTION = 211
EXIT_MEMORY = 213
EXIT_SETUP = 215

FRAME_HEADER = struct.Struct(">Q")
SCRATCH_DIR = "/tmp/.k2b"  # per-test stdin/stdout/stderr/return files; tmpfs, charged to the cgroup
TRUNCATE_CHARS = 300  # LCB's truncatefn length for the inputs/outputs quoted in a failure
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SWEEP_LIMIT_S = 3.0


# ----------------------------------------------------------------------------------------------------
# Output comparison (pure functions; the host imports these for its unit tests).
# ----------------------------------------------------------------------------------------------------
def truncate(s, length=TRUNCATE_CHARS):
    """LCB's truncatefn: keep head and tail of long strings."""
    s = s if isinstance(s, str) else str(s)
    if len(s) <= length:
        return s
    return s[: length // 2] + "...(truncated) ..." + s[-length // 2 :]


def _stripped_lines(text):
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line):
    from decimal import Decimal  # imported on first use: most outputs match exactly

    try:
        return [Decimal(tok) for tok in line.split()]
    except Exception:
        return None


def _close(a, b, tol):
    from decimal import Decimal

    if not (a.is_finite() and b.is_finite()):
        return a == b
    return abs(a - b) <= Decimal(repr(tol)) * max(Decimal(1), abs(b))


def compare_stdout(actual, expected, float_tol=None):
    """LiveCodeBench's stdin comparison; returns (ok, reason). `float_tol` is an opt-in extension."""
    got, want = _stripped_lines(actual), _stripped_lines(expected)
    if len(got) != len(want):
        return False, f"Wrong answer: mismatched output length ({len(got)} lines, expected {len(want)})"
    for idx, (g, w) in enumerate(zip(got, want, strict=True)):
        if g == w:
            continue
        reason = f"Wrong answer at output_line_idx={idx}: {truncate(g)} != {truncate(w)}"
        dg, dw = _decimals(g), _decimals(w)
        if dg is None or dw is None:
            return False, reason
        try:
            if dg == dw:
                continue
            if (
                float_tol is not None
                and len(dg) == len(dw)
                and all(_close(a, b, float_tol) for a, b in zip(dg, dw, strict=True))
            ):
                continue
        except Exception:  # signalling NaN tokens raise on comparison; LCB counts them wrong too
            pass
        return False, reason
    return True, ""


def _decode_tagged(obj):
    """Inverse of _encode_tagged for the JSON the test process writes (tuples/dicts/opaque values)."""
    if isinstance(obj, dict):
        if "__t" in obj:
            return tuple(obj["__t"])
        if "__d" in obj:
            return {k: v for k, v in obj["__d"]}
        if "__r" in obj:
            return _Opaque(obj["__r"])
    return obj


class _Opaque:
    """A returned value that is not plain data (set, custom object...): equal to nothing, like in LCB."""

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return False

    __hash__ = None

    def __repr__(self):
        return self.text


def compare_functional(returned_json, expected_json):
    """LiveCodeBench's call-based comparison on the tagged JSON a test process wrote; returns (ok, reason)."""
    try:
        got = json.loads(returned_json, object_hook=_decode_tagged)
        want = json.loads(expected_json)
        if isinstance(got, tuple):  # LCB: "don't penalize model if it produces tuples instead of lists"
            got = list(got)
        ok = bool(got == want)
    except Exception as exc:  # malformed or absurdly nested return data: wrong, with the reason
        return False, f"Wrong Answer: unreadable return value ({type(exc).__name__})"
    if ok:
        return True, ""
    return False, f"Wrong Answer: output={truncate(repr(got))} expected={truncate(expected_json)}"


# ----------------------------------------------------------------------------------------------------
# The forked test process.
# ----------------------------------------------------------------------------------------------------
def _encode_tagged(x, depth=0):
    if depth > 200:
        raise ValueError("return value nested too deeply")
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    if t is list:
        return [_encode_tagged(v, depth + 1) for v in x]
    if t is tuple:
        return {"__t": [_encode_tagged(v, depth + 1) for v in x]}
    if t is dict:
        return {"__d": [[_encode_tagged(k, depth + 1), _encode_tagged(v, depth + 1)] for k, v in x.items()]}
    return {"__r": truncate(repr(x))}


def _redirect(path, fd, flags):
    new = os.open(path, flags, 0o600)
    if new != fd:
        os.dup2(new, fd)
        os.close(new)


def _child(hdr, code, args, paths):
    """Runs one test in the forked process; never returns."""
    rc = EXIT_SETUP
    try:
        if not hdr["pid1"]:
            os.setpgid(0, 0)  # unsandboxed fallback: the runner kills this group afterwards
        _redirect(paths["in"] if hdr["mode"] != "functional" else "/dev/null", 0, os.O_RDONLY)
        _redirect(paths["out"], 1, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        _redirect(paths["err"], 2, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.closerange(3, 65536)  # the runner's pipes (results, expected outputs) must not be reachable
        cpu = max(1, math.ceil(hdr["cpu_s"]))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (hdr["file_bytes"], hdr["file_bytes"]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (hdr["nofile"], hdr["nofile"]))
        if hdr.get("as_bytes"):  # fallback when no memory cgroup is available
            resource.setrlimit(resource.RLIMIT_AS, (hdr["as_bytes"], hdr["as_bytes"]))
        try:  # the memory cgroup's OOM killer should pick this process, not the runner
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the runner ignores it; programs expect it
        rc = EXIT_EXCEPTION
        namespace = {
            "__name__": "__main__" if hdr["mode"] != "functional" else "tmp_sol",
            "__builtins__": builtins,
        }
        if hdr.get("prelude", True):  # off for programs graded as their own benchmark runs them (SciCode)
            exec(PRELUDE_CODE, namespace)
        compiled = compile(code, "solution.py", "exec")
        if hdr["mode"] != "functional":
            try:
                exec(compiled, namespace)
            except SystemExit:  # LCB's call_method swallows SystemExit: exit() just ends the program
                pass
        else:
            exec(compiled, namespace)
            if "class Solution" in code:  # LCB's own heuristic for LeetCode-style solutions
                method = getattr(namespace["Solution"](), hdr["fn_name"])
            else:
                method = namespace[hdr["fn_name"]]
            result = method(*args)
            if isinstance(result, tuple):
                result = list(result)
            data = json.dumps(_encode_tagged(result))
            with open(paths["ret"], "w") as f:
                f.write(data)
        for stream in (sys.stdout, sys.__stdout__, sys.stderr, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        rc = EXIT_OK
    except MemoryError:
        rc = EXIT_MEMORY
        try:
            os.write(2, b"\nMemoryError\n")
        except OSError:
            pass
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(rc)


# ----------------------------------------------------------------------------------------------------
# The runner proper (PID 1 inside the sandbox).
# ----------------------------------------------------------------------------------------------------
def _read_exact(n):
    chunks, left = [], n
    while left:
        # os.read, never a buffered reader: read-ahead would pull the next expected output into memory
        # that the next forked test process inherits.
        chunk = os.read(0, min(left, 1 << 20))
        if not chunk:
            raise EOFError(f"input closed after {n - left} of {n} bytes")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame():
    (n,) = FRAME_HEADER.unpack(_read_exact(FRAME_HEADER.size))
    return _read_exact(n)


def emit(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def _prctl(option, arg):
    import ctypes  # only here: costs ~3 ms of startup

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, arg, 0, 0, 0)


def _wait_child(pid, wall_s):
    """Wait for pid up to wall_s seconds; returns (status, rusage, timed_out)."""
    timed_out = False
    try:
        pfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pfd = None
    if pfd is not None:
        poller = select.poll()
        poller.register(pfd, select.POLLIN)
        if not poller.poll(max(1, int(wall_s * 1000))):
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        os.close(pfd)
    else:  # no pidfd (kernel < 5.3): poll without reaping, so wait4 below still gets the status
        deadline = time.monotonic() + wall_s
        while not os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    _, status, usage = os.wait4(pid, 0)
    return status, usage, timed_out


def _children_of(ppid):
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
                kids.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def sweep(pid1, child_pid):
    """Kill and reap everything the test left behind (daemons, setsid grandchildren, fork bombs)."""
    deadline = time.monotonic() + SWEEP_LIMIT_S
    while time.monotonic() < deadline:
        if pid1:
            try:
                os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of this namespace
            except ProcessLookupError:
                pass
        else:
            try:
                os.killpg(child_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for kid in _children_of(os.getpid()):
                try:
                    os.kill(kid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        remaining = False
        while True:
            try:
                got, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if got == 0:
                remaining = True
                break
        if remaining:
            time.sleep(0.001)
    return False


def read_scratch(path, tail=None):
    """Bytes of a scratch file (all, or the last `tail`), or None. The program runs as our uid and may have
    replaced the file by a symlink or a FIFO: only regular files are read, and never with a blocking open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if tail is not None and size > tail:
            os.lseek(fd, size - tail, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_tail(path, limit):
    data = read_scratch(path, tail=limit)
    return data.decode("utf-8", "replace") if data else ""


def _file_size(path):
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _write_scratch(path, data):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def run_one(i, hdr, code, inp, paths):
    """Run test i; returns the result dict (status before output comparison: ok/timeout/...)."""
    args = None
    if hdr["mode"] == "functional":
        try:
            args = [json.loads(line) for line in inp.decode().split("\n")]
        except ValueError as exc:
            return {"status": "bad_test", "detail": f"test input is not JSON lines: {exc}"}
    else:
        _write_scratch(paths["in"], inp)
    for key in ("out", "err", "ret"):
        try:
            os.unlink(paths[key])
        except FileNotFoundError:
            pass
    t0 = time.monotonic()
    c0 = os.times()
    pid = os.fork()
    if pid == 0:
        _child(hdr, code, args, paths)
    status, usage, timed_out = _wait_child(pid, hdr["wall_s"])
    wall = time.monotonic() - t0
    swept = sweep(hdr["pid1"], pid)
    c1 = os.times()
    # rusage has microsecond resolution but covers only the test process and what it reaped itself;
    # os.times() (10 ms ticks) also covers orphans that were re-parented to us and reaped in sweep().
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    if usage is not None:
        cpu = max(cpu, usage.ru_utime + usage.ru_stime)
    res = {"cpu_s": round(cpu, 4), "wall_s": round(wall, 4)}
    if not swept:
        res["sweep_incomplete"] = True
    stderr = _read_tail(paths["err"], hdr["stderr_tail"])
    if stderr:
        res["stderr"] = stderr
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    res["exit"] = rc if sig is None else -sig
    out_size = _file_size(paths["out"])
    if timed_out:
        res.update(
            status="timeout", detail=f"Time Limit Exceeded: wall clock {wall:.2f}s > {hdr['wall_s']:.2f}s"
        )
    elif sig == signal.SIGXCPU:  # RLIMIT_CPU fired (kernel tick accounting; rusage may read a bit less)
        limit = max(1, math.ceil(hdr["cpu_s"]))
        res.update(
            status="timeout",
            detail=f"Time Limit Exceeded: cpu limit {limit}s hit (SIGXCPU) after {cpu:.2f}s cpu",
        )
    elif cpu > hdr["cpu_s"]:
        res.update(status="timeout", detail=f"Time Limit Exceeded: cpu {cpu:.2f}s > {hdr['cpu_s']:.2f}s")
    elif max(out_size, _file_size(paths["ret"])) >= hdr["output_bytes"]:
        res.update(
            status="output_limit", detail=f"Output Limit Exceeded: {out_size} bytes >= {hdr['output_bytes']}"
        )
    elif rc == EXIT_MEMORY:
        res.update(status="memory", detail="MemoryError")
    elif sig == signal.SIGKILL:
        res.update(status="killed", detail="killed by SIGKILL")
    elif sig is not None:
        res.update(status="runtime_error", detail=f"killed by {signal.Signals(sig).name}")
    elif rc == EXIT_OK:
        res["status"] = "ok"
    elif rc in (EXIT_EXCEPTION, EXIT_SETUP):
        last = [line for line in stderr.strip().split("\n") if line.strip()]
        res.update(status="runtime_error", detail="Runtime Error: " + (last[-1] if last else f"exit {rc}"))
        if rc == EXIT_SETUP:
            res["detail"] = "test setup failed in the sandbox: " + res["detail"]
    else:
        res.update(status="runtime_error", detail=f"Runtime Error: exit status {rc}")
    return res


def warm_up():
    """What every sandbox needs before its first test: LCB's prelude compiled and its modules imported (every
    forked test process inherits them). The cold path runs it per sandbox; the zygote (zygote.py) runs it
    once and forks each sandbox from the result."""
    global PRELUDE_CODE
    if PRELUDE_CODE is not None:
        return
    PRELUDE_CODE = compile(PRELUDE, "<lcb-prelude>", "exec")
    for name in PRELUDE_MODULES:
        __import__(name)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)


def main():
    # Non-dumpable: a test process (same uid) cannot open /proc/1/fd/* or /proc/1/mem to forge results.
    _prctl(PR_SET_DUMPABLE, 0)
    # PID 1 drops signals it has no handler for, but Python's SIGINT handler would let a test process
    # raise KeyboardInterrupt in the runner with os.kill(1, SIGINT).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hdr = json.loads(read_frame())
    code = read_frame().decode("utf-8", "replace")
    hdr["pid1"] = os.getpid() == 1
    if hdr.get("site_packages"):  # opt-in: Debian's numpy/scipy/sympy, after the stdlib so they shadow nothing
        sys.path.append(hdr["site_packages"])
    if not hdr["pid1"]:  # unsandboxed fallback: orphans come back to us so sweep() can kill them
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    warm_up()
    scratch = hdr.get("scratch") or SCRATCH_DIR  # the unsandboxed fallback has no private /tmp
    os.makedirs(scratch, exist_ok=True)
    paths = {k: os.path.join(scratch, k) for k in ("in", "out", "err", "ret")}
    for i in range(hdr["n_tests"]):
        inp = read_frame()
        emit({"ev": "start", "i": i})
        res = run_one(i, hdr, code, inp, paths)
        res["i"] = i
        if hdr["mode"] == "program":
            out = _read_tail(paths["out"], hdr["stdout_return"]) if res["status"] != "output_limit" else ""
            res["stdout"] = out
            res["status"] = "pass" if res["status"] == "ok" else res["status"]
        elif res["status"] == "ok":
            expected = read_frame().decode("utf-8", "replace")  # only now, with the test process gone
            if hdr["mode"] == "functional":
                returned = read_scratch(paths["ret"])
                if returned is None:
                    ok, reason = False, "Runtime Error: the function returned no value (process exited early)"
                    res["status"] = "runtime_error"
                else:
                    ok, reason = compare_functional(returned.decode("utf-8", "replace"), expected)
            else:
                actual = (read_scratch(paths["out"]) or b"").decode("utf-8", "replace")
                ok, reason = compare_stdout(actual, expected, hdr.get("float_tol"))
                if not ok:
                    res["output"] = truncate(actual)
                actual = None
            # Drop the expected output before the next test process is forked from this one: it would
            # inherit every live object (it can still scan freed memory: at worst it learns a past answer).
            expected = returned = None
            if ok:
                res["status"] = "pass"
            else:
                res["status"] = res["status"] if res["status"] == "runtime_error" else "fail"
                res["detail"] = reason
                res["input"] = truncate(inp.decode("utf-8", "replace"))
        emit({"ev": "test", **res})
        if res["status"] != "pass":
            break
    emit({"ev": "done"})


PRELUDE_CODE = None

if __name__ == "__main__":
    main()
    os._exit(0)  # skip interpreter finalisation: a few ms per sandbox, and nothing is left to flush
