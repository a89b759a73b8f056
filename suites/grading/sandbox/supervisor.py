"""Sandbox supervisor: a long-lived, single-threaded worker process that runs one sandbox at a time.

suites/grading/sandbox/pool.py starts one supervisor per slot (`python supervisor.py '<config json>'`) and
sends it jobs; users never run it by hand. It runs as a script (stdlib only, imports nothing of the
package). Design and measurements: shared/reference/sandbox.md, part 4 (namespaces and an unprivileged uid
inside a per-run cgroup, driven by a child-subreaper harness).

Why a separate process: it is a child subreaper (PR_SET_CHILD_SUBREAPER) so that the sandbox's PID 1
(re-parented from the zygote's set-up process), bwrap's intermediate processes and escaped grandchildren
are re-parented to it and reaped at once (PID 1 of this VM reaps only
every ~2 s; the zombies made 77 of 318 back-to-back runs fail, finding F2). A subreaper reaps with
waitpid(-1), which must never steal the exit status of some other child of the user's process (inspect,
pytest); and being single-threaded it can fork, join cgroups and drop privileges before exec safely.

Per job: take a machine-wide slot (flock, at most one sandbox per slot), create cgroup v1 groups (memory
nested under our own memory cgroup, and pids), then start the sandbox: by default ask the slot's warm zygote
(zygote.py, our child, started with the supervisor) to fork one, which joins the groups, builds fresh
namespaces and file system, drops to the slot's uid and runs runner.py as PID 1 of its pid namespace, our
child once the zygote's set-up process has exited; on the cold path fork, join the groups, set rlimits,
drop to the slot's uid and exec the request's command line (bwrap, built by isolation.bwrap_argv on the
host), which runs runner.py as PID 1 of fresh namespaces. Stream the job's frames into the runner, collect
its JSON lines (capped), enforce the overall deadline, then kill the session, sweep the cgroup, reap every
orphan and remove the groups.

Protocol on stdin/stdout: frames of an 8-byte big-endian length + JSON; per request two answers, {"started":
slot} once a slot is taken, then the result. A request carries "tmpfs_bytes" and "symlinks" (the warm
zygote's sandbox), "argv" and "env" (what the cold path execs), "header", "code" and "tests" (the frames for
the runner), "memory_bytes" and "pids_max" (cgroup limits), "rlimits" and "total_wall_s" (the sandbox's
overall deadline). EOF on stdin (the user's process is gone) ends the supervisor.
"""

import ctypes
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback

FRAME = struct.Struct(">Q")
PR_SET_CHILD_SUBREAPER = 36
CGROUP_PARENT = "k2bench-sandbox"
# No cpu controller on purpose: a per-run cpu group makes all sandboxes together one scheduling entity
# at the root, weighted like a single task; on a shared machine that starved them (3.6 executions/s
# instead of ~8 at load average 11). CPU use is bounded per process by RLIMIT_CPU instead.
CGROUP_CONTROLLERS = ("memory", "pids")
STDOUT_CAP = 32 << 20  # the runner is trusted, but its lines quote program output; never buffer more
STDERR_TAIL = 16 << 10
DRAIN_AFTER_KILL_S = 1.0
SWEEP_LIMIT_S = 5.0
SLOT_POLL_S = 0.005
ZYGOTE_TIMEOUT_S = 30.0  # a sandbox is built in milliseconds; a zygote silent this long is wedged


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def read_frame(fd):
    head = _read_exact(fd, FRAME.size)
    if head is None:
        return None
    (n,) = FRAME.unpack(head)
    body = _read_exact(fd, n)
    if body is None:
        raise EOFError("truncated request frame")
    return json.loads(body)


def _read_exact(fd, n):
    """n bytes from fd, or None at EOF."""
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def write_frame(fd, obj):
    data = json.dumps(obj).encode()
    data = FRAME.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def _frame(payload):
    return FRAME.pack(len(payload)) + payload


# ----------------------------------------------------------------------------------------------------
# cgroup v1
# ----------------------------------------------------------------------------------------------------
def own_cgroup_dirs():
    """{controller: directory of this process's own cgroup} for the v1 hierarchies mounted here."""
    own = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(","):
                    own[c] = path
        mounts = {}
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(rfields) < 3 or rfields[0] != "cgroup":
                    continue
                for c in rfields[2].split(","):
                    if c in CGROUP_CONTROLLERS:
                        mounts[c] = (fields[3], fields[4])  # (root inside the hierarchy, mount point)
    except OSError:
        return {}
    dirs = {}
    for c, (root, mnt) in mounts.items():
        if c not in own:
            continue
        rel = own[c]
        if root != "/" and rel.startswith(root):
            rel = rel[len(root) :]
        dirs[c] = os.path.join(mnt, rel.lstrip("/"))
    return dirs


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _cgroup_pids(directory):
    return [int(p) for p in _read(os.path.join(directory, "cgroup.procs")).split()]


class Cgroups:
    """The per-job groups; `procs` are the cgroup.procs files the child writes "0" into."""

    def __init__(self, bases, name, memory_bytes, pids_max):
        self.dirs = {}
        for c, base in bases.items():
            d = os.path.join(base, CGROUP_PARENT, name)
            os.makedirs(d)
            self.dirs[c] = d
        if "memory" in self.dirs:
            d = self.dirs["memory"]
            _write(os.path.join(d, "memory.limit_in_bytes"), memory_bytes)
            memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):  # also forbid swapping the excess out, where swap exists
                _write(memsw, memory_bytes)
        if "pids" in self.dirs:
            _write(os.path.join(self.dirs["pids"], "pids.max"), pids_max)
        self.procs = [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def members(self):
        pids = set()
        for d in self.dirs.values():
            pids.update(_cgroup_pids(d))
        return pids

    def stats(self):
        out = {}
        d = self.dirs.get("memory")
        if d:
            oom = _read(os.path.join(d, "memory.oom_control"))
            for line in oom.splitlines():
                key, _, val = line.partition(" ")
                if key == "oom_kill":
                    out["oom_kills"] = int(val)
            peak = _read(os.path.join(d, "memory.max_usage_in_bytes")).strip()
            out["peak_memory_bytes"] = int(peak) if peak else None
            failcnt = _read(os.path.join(d, "memory.failcnt")).strip()
            out["memory_failcnt"] = int(failcnt) if failcnt else None
        d = self.dirs.get("pids")
        if d:
            events = _read(os.path.join(d, "pids.events")).split()
            if len(events) == 2 and events[0] == "max":
                out["pids_max_hits"] = int(events[1])
        return out

    def remove(self):
        left = []
        for d in self.dirs.values():
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)  # EBUSY until the last member is reaped
            else:
                left.append(d)
        return left


def remove_stale_cgroups(bases):
    """Groups left by supervisors that died (named s<slot>-<pid>-<seq>): kill members, remove."""
    for base in bases.values():
        parent = os.path.join(base, CGROUP_PARENT)
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            parts = name.split("-")
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            if os.path.exists(f"/proc/{parts[1]}") and int(parts[1]) != os.getpid():
                continue
            d = os.path.join(parent, name)
            for pid in _cgroup_pids(d):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass


def _count_processes_of(uid):
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += os.stat("/proc/" + name).st_uid == uid
            except OSError:
                pass
    return n


# ----------------------------------------------------------------------------------------------------
# The warm zygote (mode "ns-uid")
# ----------------------------------------------------------------------------------------------------
class SpawnError(RuntimeError):
    pass


class Zygote:
    """Our side of zygote.py: it forks each sandbox, whose PID 1 then becomes our child (we are a subreaper)."""

    def __init__(self, cfg):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [cfg["python"], *cfg["python_flags"], cfg["zygote"], json.dumps({"fd": 3})]
        stack = cfg["stack_bytes"]
        pid = os.fork()
        if pid == 0:  # only os-level calls until execve
            try:
                os.dup2(theirs.fileno(), 3)
                os.set_inheritable(3, True)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)  # our stdout is the host's protocol: never the zygote's
                os.closerange(4, os.sysconf("SC_OPEN_MAX"))
                # the main thread's stack may grow to the rlimit the layout was made for at exec
                resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
                os.execve(argv[0], argv, cfg["zygote_env"])
            except BaseException:
                os._exit(127)
        theirs.close()
        self.pid, self.sock = pid, ours
        self.sock.settimeout(ZYGOTE_TIMEOUT_S)
        hello = self._recv()
        if not hello.get("ready"):
            self.close()
            raise SpawnError(f"the zygote did not start: {hello.get('fatal', hello)}")

    def _recv(self):
        try:
            data = self.sock.recv(1 << 16)
        except OSError as exc:
            raise SpawnError(f"the zygote does not answer: {exc}") from exc
        if not data:
            raise SpawnError("the zygote exited")
        return json.loads(data)

    def spawn(self, job, fds):
        try:
            socket.send_fds(self.sock, [json.dumps(job).encode()], list(fds))
        except OSError as exc:
            raise SpawnError(f"the zygote is gone: {exc}") from exc
        reply = self._recv()
        if "pid" not in reply:
            raise ValueError(reply.get("error", reply))  # the sandbox could not be built; the zygote is fine
        return reply["pid"]

    def close(self):
        self.sock.close()  # EOF: the zygote exits
        for _ in range(500):
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return  # already reaped by _reap_all
            time.sleep(0.002)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


# ----------------------------------------------------------------------------------------------------
# The supervisor
# ----------------------------------------------------------------------------------------------------
class Supervisor:
    def __init__(self, cfg):
        self.cfg = cfg
        self.seq = 0
        self.mode = cfg["mode"]  # "ns-uid" (warm) | "bwrap-uid" | "bwrap-same-uid" | "none"
        self.switch_uid = self.mode in ("ns-uid", "bwrap-uid") or (self.mode == "none" and os.geteuid() == 0)
        os.makedirs(cfg["lock_dir"], mode=0o700, exist_ok=True)
        self.slot_fds = [
            os.open(os.path.join(cfg["lock_dir"], f"slot-{s}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            for s in range(cfg["slots"])
        ]
        self.bases = {}
        if cfg.get("cgroups"):
            for c, d in own_cgroup_dirs().items():
                try:
                    os.makedirs(os.path.join(d, CGROUP_PARENT), exist_ok=True)
                    self.bases[c] = d
                except OSError:
                    continue
            remove_stale_cgroups(self.bases)
        self.zygote = Zygote(cfg) if self.mode == "ns-uid" else None

    # -- slots ------------------------------------------------------------------------------------------
    def acquire_slot(self):
        n = len(self.slot_fds)
        order = [(self.cfg["home_slot"] + k) % n for k in range(n)]
        while True:
            for s in order:
                try:
                    fcntl.flock(self.slot_fds[s], fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return s
                except BlockingIOError:
                    continue
            time.sleep(SLOT_POLL_S)

    def release_slot(self, s):
        fcntl.flock(self.slot_fds[s], fcntl.LOCK_UN)

    # -- one job ----------------------------------------------------------------------------------------
    def run(self, req):
        slot = self.acquire_slot()
        write_frame(1, {"started": slot})  # the caller's timeout for this job starts now
        try:
            return self._run(req, slot)
        finally:
            self.release_slot(slot)

    def _run(self, req, slot):
        self.seq += 1
        uid = self.cfg["base_uid"] + slot
        result = {"slot": slot, "uid": uid if self.switch_uid else os.geteuid(), "events": [], "error": None}
        cg = None
        if self.bases:
            try:
                cg = Cgroups(
                    self.bases,
                    f"s{slot}-{os.getpid()}-{self.seq}",
                    req["memory_bytes"],
                    req["pids_max"],
                )
            except OSError as exc:
                result["error"] = f"cannot create cgroups: {exc}"
                return result
        scratch = None
        if self.mode == "none":  # no tmpfs of our own: a private directory instead of /tmp
            import tempfile

            scratch = tempfile.mkdtemp(prefix="k2b-unsandboxed-")
            if self.switch_uid:
                os.chown(scratch, uid, uid)
        t0 = time.monotonic()
        try:
            self._execute(req, uid, cg, scratch, result)
        finally:
            result.setdefault("phases", {})["executed"] = round(time.monotonic() - t0, 4)
            if cg is not None:
                self._sweep(cg)
                result.update(cg.stats())
                left = cg.remove()
                if left:
                    result["cgroup_leftover"] = left
            self._reap_all()
            result["phases"]["torn_down"] = round(time.monotonic() - t0, 4)
            if self.zygote is not None:
                result["zygote"] = self.zygote.pid  # it may have been replaced
            if scratch:
                import shutil

                shutil.rmtree(scratch, ignore_errors=True)
        return result

    def _execute(self, req, uid, cg, scratch, result):
        header = dict(req["header"])
        if scratch:
            header["scratch"] = os.path.join(scratch, ".k2b")
        chunks = [_frame(json.dumps(header).encode()), _frame(req["code"].encode("utf-8", "surrogatepass"))]
        for test in req["tests"]:
            for part in test:
                chunks.append(_frame(part.encode("utf-8", "surrogatepass")))
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        t0 = time.monotonic()
        try:
            if self.zygote is not None:
                pid = self._spawn_warm(req, uid, cg, (in_r, out_w, err_w))
            else:
                pid = self._spawn_cold(req, uid, cg, scratch, (in_r, out_w, err_w))
        except (SpawnError, ValueError, OSError) as exc:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            result["error"] = f"cannot start the sandbox: {exc}"
            return
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        result["phases"] = {"spawn": round(time.monotonic() - t0, 4)}
        self._pump(pid, in_w, out_r, err_r, chunks, t0 + req["total_wall_s"], result, t0)
        status = self._wait_sandbox(pid)
        result["wall_s"] = round(time.monotonic() - t0, 4)
        result["exit_status"] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)

    def _spawn_warm(self, req, uid, cg, fds):
        """Ask the zygote for a sandbox (zygote.py); a zygote that died is replaced once."""
        job = {
            "uid": uid,
            "cgroup_procs": cg.procs if cg else [],
            "tmpfs_bytes": req["tmpfs_bytes"],
            "symlinks": req["symlinks"],
            "rlimits": req["rlimits"],
        }
        try:
            return self.zygote.spawn(job, fds)
        except SpawnError:
            self.zygote.close()
            self.zygote = Zygote(self.cfg)
            return self.zygote.spawn(job, fds)

    def _spawn_cold(self, req, uid, cg, scratch, fds):
        """Fork, join the cgroups, set rlimits, drop to the slot uid and exec the request's argv (bwrap)."""
        in_r, out_w, err_w = fds
        exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
        argv = req["argv"]  # built by the host (isolation.bwrap_argv, the same builder its probe uses)
        env = dict(req["env"], HOME=scratch, TMPDIR=scratch) if scratch else req["env"]
        nproc = req["rlimits"]["nproc"]
        if not self.switch_uid:
            # RLIMIT_NPROC counts every process of the uid: without a dedicated uid, the user's own
            # processes would use up the sandbox's budget
            nproc += _count_processes_of(os.geteuid())
        pid = os.fork()
        if pid == 0:  # child: only os-level calls until execve
            try:
                os.dup2(in_r, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.setsid()
                for procs in cg.procs if cg else ():
                    _write(procs, 0)  # "0" = the writing process itself (cgroup v1)
                _write("/proc/self/oom_score_adj", 1000)  # a host-wide OOM should pick a sandbox first
                lim = req["rlimits"]
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize"], lim["fsize"]))
                resource.setrlimit(resource.RLIMIT_STACK, (lim["stack"], lim["stack"]))
                if self.switch_uid or os.geteuid() != 0:
                    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
                if scratch:
                    os.chdir(scratch)
                if self.switch_uid:
                    os.setgroups([])
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                os.execve(argv[0], argv, env)
            except BaseException as exc:
                try:
                    os.write(exec_w, (f"{type(exc).__name__}: {exc}").encode())
                finally:
                    os._exit(127)
        os.close(exec_w)
        failure = b""
        while True:
            chunk = os.read(exec_r, 4096)
            if not chunk:
                break
            failure += chunk
        os.close(exec_r)
        if failure:
            os.waitpid(pid, 0)
            raise SpawnError(failure.decode(errors="replace"))
        return pid

    def _pump(self, pid, in_w, out_r, err_r, chunks, deadline, result, t0):
        os.set_blocking(in_w, False)
        poller = select.poll()
        poller.register(out_r, select.POLLIN)
        poller.register(err_r, select.POLLIN)
        poller.register(in_w, select.POLLOUT)
        open_fds = {in_w, out_r, err_r}
        pending = [memoryview(c) for c in chunks]
        pending.reverse()
        out, err = bytearray(), bytearray()
        out_total = 0
        killed_at = None
        while out_r in open_fds or err_r in open_fds:
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                result["deadline_hit"] = True
                killed_at = self._kill_session(pid)
            if killed_at is not None and now - killed_at > DRAIN_AFTER_KILL_S:
                break
            limit = (deadline if killed_at is None else killed_at + DRAIN_AFTER_KILL_S) - now
            for fd, _ev in poller.poll(max(1, int(limit * 1000) + 1)):
                if fd == in_w:
                    try:
                        while pending:
                            n = os.write(in_w, pending[-1][: 1 << 16])
                            if n == len(pending[-1]):
                                pending.pop()
                            else:
                                pending[-1] = pending[-1][n:]
                    except BlockingIOError:
                        continue
                    except OSError:  # EPIPE: the runner stopped early (first failure) or died
                        pending = []
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        open_fds.discard(in_w)
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    poller.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
                elif fd == out_r:
                    if not out_total:
                        result["phases"]["first_event"] = round(time.monotonic() - t0, 4)
                    out_total += len(data)
                    if out_total > STDOUT_CAP:
                        result["stdout_overflow"] = True
                        if killed_at is None:
                            killed_at = self._kill_session(pid)
                    else:
                        out += data
                else:
                    err += data
                    if len(err) > 2 * STDERR_TAIL:
                        del err[:-STDERR_TAIL]
        result["phases"]["eof"] = round(time.monotonic() - t0, 4)
        for fd in open_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if killed_at is None:
            self._kill_session(pid)  # normally already gone; makes sure nothing of the session lingers
        for line in bytes(out).decode("utf-8", "replace").splitlines():
            try:
                result["events"].append(json.loads(line))
            except ValueError:
                result.setdefault("garbage", []).append(line[:200])
        result["stderr"] = bytes(err[-STDERR_TAIL:]).decode("utf-8", "replace")

    @staticmethod
    def _kill_session(pid):
        # bwrap, and the zygote's PID 1, ran setsid: the group is the whole session; bwrap's
        # --die-with-parent takes its sandbox along, and killing a pid namespace's PID 1 kills the namespace
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return time.monotonic()

    @staticmethod
    def _wait_sandbox(pid):
        for _ in range(1000):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                return status
            time.sleep(0.001)
        Supervisor._kill_session(pid)
        return os.waitpid(pid, 0)[1]

    def _sweep(self, cg):
        """Kill whatever is still in the job's groups (pid-namespace teardown normally did it already)."""
        deadline = time.monotonic() + SWEEP_LIMIT_S
        while time.monotonic() < deadline:
            members = cg.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self._reap_all()
            time.sleep(0.001)

    @staticmethod
    def _reap_all():
        """Reap every exited child: we are a subreaper, so orphans of every sandbox end up here."""
        while True:
            try:
                got, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if got == 0:
                return


def main():
    cfg = json.loads(sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the user's process; we end on EOF
    if _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("sandbox supervisor: PR_SET_CHILD_SUBREAPER failed\n")
    try:
        sup = Supervisor(cfg)
    except Exception:
        write_frame(1, {"fatal": traceback.format_exc()})
        return
    zygote = sup.zygote.pid if sup.zygote is not None else None
    write_frame(1, {"ready": True, "cgroups": sorted(sup.bases), "pid": os.getpid(), "zygote": zygote})
    while True:
        try:
            req = read_frame(0)
        except (EOFError, OSError, ValueError):
            return
        if req is None:
            return
        try:
            resp = sup.run(req)
        except Exception:
            resp = {"events": [], "error": f"supervisor failure: {traceback.format_exc()}"}
        write_frame(1, resp)


if __name__ == "__main__":
    main()
