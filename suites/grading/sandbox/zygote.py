"""The warm zygote: one per slot, started once with the runner and LCB's prelude loaded; forks every sandbox.

suites/grading/sandbox/supervisor.py starts it as `/usr/bin/python3 -I -S zygote.py '<config json>'` (root,
on the host, no namespaces of its own) and asks it for one sandbox per program over a unix socket; users never
run it by hand. `python3 -I -S zygote.py --probe '<config json>'` creates one sandbox the same way, runs a
trivial program in it and prints {"ok": ...}: that is suites/grading/sandbox/isolation.py's probe.

Why: a cold sandbox (bwrap exec, a new interpreter, the prelude imported again) cost ~42 ms per program on
this machine, 72% of it CPU (results/perf/sandbox_bench.md before the zygote). Here the interpreter start
and the imports happen once; per program the zygote forks and the child builds the same isolation bwrap
built (shared/reference/sandbox.md, part 4), with the kernel calls bwrap makes:

  zygote --fork--> setup process: joins the job's cgroups (memory, pids), setsid,
                   unshare(mount, pid, net, ipc, uts, cgroup namespaces)
         --fork--> PID 1 of the new pid namespace (the setup process then exits, so PID 1 is re-parented
                   to the supervisor, a child subreaper, which waits for it as it waited for bwrap):
                   every mount private; a fresh tmpfs root with /usr (and the /bin, /lib... links)
                   bound read-only, a fresh size-capped tmpfs /tmp owned by the slot uid, a fresh /dev
                   (null, zero, full, random, urandom, tty; /dev/shm), a /proc of the new pid namespace;
                   pivot_root into it, the old root detached, the root remounted read-only; loopback up,
                   hostname "sandbox"; rlimits; setgroups([]) + setresgid/setresuid to the slot's uid
                   (all capabilities gone); no_new_privs; a seccomp filter; then runner.main().
Guarantees and how each is kept (tested in tests/grading/test_sandbox.py):
- nothing persists between programs: each program runs in its own fork of a zygote that never runs
  program code and never receives a program, its tests or its output (only uids, sizes and file
  descriptors); its /tmp, /dev and namespaces are new and go away with it. Per-uid kernel state that no
  namespace here renews (the uid's keyrings) is denied by the seccomp filter;
- a forked child inherits the zygote's memory: that is the interpreter, the runner and the prelude's
  modules as imported, never another program's data. `random` is reseeded per program (a fresh interpreter
  seeds it from urandom). What is shared, as it would be by a fresh interpreter of the same build: the
  memory layout (ASLR) and str hash seed of the zygote, so a program's set iteration order is the same
  for every program of one slot (a fresh interpreter draws a new one per program);
- no user namespaces inside (bwrap --disable-userns did this): clone(CLONE_NEWUSER), unshare and setns are
  denied by seccomp, clone3 answers ENOSYS so the C library falls back to clone.
Stdlib only (libseccomp through ctypes); runs on Debian's python3, as root.
"""

import ctypes
import ctypes.util
import errno
import fcntl
import importlib.util
import json
import os
import random
import resource
import select
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACES = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = 155  # x86_64; the C library has no wrapper
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_RUNNING = 0x1, 0x40

STAGING = "/tmp"  # where the new root is mounted in the private mount namespace before pivot_root (as bwrap)
ROOT_TMPFS = "size=1m,mode=0755"
DEV_NODES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
HOST_TOPS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
HOSTNAME = b"sandbox"
MAX_MESSAGE = 1 << 16
MAX_FDS = 3

# seccomp (libseccomp's constants)
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7


def SCMP_ACT_ERRNO(e):  # noqa: N802 (libseccomp's macro name)
    return 0x00050000 | (e & 0xFFFF)


# (syscall, errno, (arg index, mask) or None): what the program may not do, and why
SECCOMP_DENY = (
    ("clone", errno.EPERM, (0, CLONE_NEWUSER)),  # a user namespace (what bwrap --disable-userns forbids)
    ("clone3", errno.ENOSYS, None),  # its flags are in memory, unfilterable: the C library falls back to clone
    ("unshare", errno.EPERM, None),  # namespaces again; nothing else of unshare needs a program
    ("setns", errno.EPERM, None),
    ("keyctl", errno.EPERM, None),  # keyrings belong to the uid, not to any namespace we renew: they would
    ("add_key", errno.EPERM, None),  # carry data from one program of a slot to the next
    ("request_key", errno.EPERM, None),
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


def _prctl(option, arg):
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")


# ----------------------------------------------------------------------------------------------------
# seccomp: built once in the zygote, loaded by each sandbox
# ----------------------------------------------------------------------------------------------------
class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class Seccomp:
    def __init__(self):
        name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
        lib = ctypes.CDLL(name, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
        if not self.ctx:
            raise OSError("seccomp_init failed")
        for call, err, arg in SECCOMP_DENY:
            nr = lib.seccomp_syscall_resolve_name(call.encode())
            if nr < 0:
                raise OSError(f"seccomp: unknown syscall {call}")
            if arg is None:
                rc = lib.seccomp_rule_add_array(self.ctx, SCMP_ACT_ERRNO(err), nr, 0, None)
            else:
                cmp = _ArgCmp(arg[0], SCMP_CMP_MASKED_EQ, arg[1], arg[1])
                rc = lib.seccomp_rule_add_array(self.ctx, SCMP_ACT_ERRNO(err), nr, 1, ctypes.byref(cmp))
            if rc != 0:
                raise OSError(-rc, f"seccomp rule for {call}: {os.strerror(-rc)}")

    def load(self):
        rc = self.lib.seccomp_load(self.ctx)
        if rc != 0:
            raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")


# ----------------------------------------------------------------------------------------------------
# One sandbox
# ----------------------------------------------------------------------------------------------------
def _load_runner():
    spec = importlib.util.spec_from_file_location("k2b_runner", os.path.join(HERE, "runner.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build_root(job):
    """Mount the sandbox's file system at STAGING and make it the root (we are PID 1, in a private mount ns)."""
    uid = job["uid"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount may propagate to the host
    root = STAGING
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, ROOT_TMPFS)
    for d in ("usr", "proc", "dev", "tmp"):
        os.mkdir(f"{root}/{d}")
    _mount("/usr", f"{root}/usr", None, MS_BIND | MS_REC)
    _mount(None, f"{root}/usr", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for top in HOST_TOPS:
        host = "/" + top
        if os.path.islink(host):
            os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            os.mkdir(root + host)
            _mount(host, root + host, None, MS_BIND | MS_REC)
            _mount(None, root + host, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for target, link in job.get("symlinks", []):  # Debian alternatives (site_packages): links into /usr
        os.makedirs(os.path.dirname(root + link), exist_ok=True)
        os.symlink(target, root + link)
    tmp_opts = f"size={job['tmpfs_bytes']},mode=0755,uid={uid},gid={uid}"
    _mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts)
    _mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, f"size={job['tmpfs_bytes']},mode=0755")
    for name, (major, minor) in DEV_NODES.items():
        os.mknod(f"{root}/dev/{name}", 0o20666, os.makedev(major, minor))
        os.chmod(f"{root}/dev/{name}", 0o666)  # mknod applies the umask
    os.mkdir(f"{root}/dev/shm")
    os.chmod(f"{root}/dev/shm", 0o1777)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")  # old root stacked under the new one
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/tmp")


def _loopback_up():
    """A fresh network namespace has a down loopback and nothing else; bwrap brings it up, so do we."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_RUNNING))


def _become_sandbox(job, seccomp):
    """In PID 1 of the new namespaces, still root: build the sandbox, then drop every privilege."""
    _build_root(job)
    _loopback_up()
    _check(_libc.sethostname(HOSTNAME, len(HOSTNAME)), "sethostname")
    os.setsid()  # as bwrap --new-session; the supervisor kills this session (= the namespace's init)
    lim = job["rlimits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize"], lim["fsize"]))
    resource.setrlimit(resource.RLIMIT_STACK, (lim["stack"], lim["stack"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
    uid = job["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from uid 0 to a non-zero uid: the kernel clears every capability
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if seccomp is not None:
        seccomp.load()
    random.seed()  # a fresh interpreter seeds `random` from urandom; a fork would repeat the zygote's state


def _sandbox_main(job, seccomp, runner):
    """PID 1 of the sandbox: never returns."""
    rc = 127
    try:
        _become_sandbox(job, seccomp)
        # Wait for the first frame: by then the setup process has exited and we are the supervisor's child,
        # so the parent-death signal set now refers to it (as bwrap --die-with-parent).
        select.select([0], [], [])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        rc = 1
        runner.main()
        rc = 0
    except BaseException as exc:  # noqa: BLE001 (reported to the supervisor, which turns it into sandbox_error)
        try:
            os.write(2, f"sandbox setup/runner failure: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(rc)


def spawn(job, fds, seccomp, runner):
    """Fork one sandbox whose stdin/stdout/stderr are `fds`; returns its pid (as the host sees it)."""
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the setup process
        try:
            os.close(report_r)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.dup2(report_w, 3)
            os.closerange(4, os.sysconf("SC_OPEN_MAX"))  # the zygote's socket must not reach the program
            for procs in job.get("cgroup_procs", []):
                with open(procs, "w") as f:
                    f.write("0")  # "0" = the writing process itself (cgroup v1); children follow
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # a host-wide OOM should pick a sandbox first
            _check(_libc.unshare(NAMESPACES), "unshare")
            child = os.fork()
            if child == 0:
                os.close(3)
                _sandbox_main(job, seccomp, runner)
            os.write(3, json.dumps({"pid": child}).encode())
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(3, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            finally:
                os._exit(127)
    os.close(report_w)
    data = b""
    while chunk := os.read(report_r, 4096):
        data += chunk
    os.close(report_r)
    os.waitpid(pid, 0)  # the setup process exits at once; its child is now the supervisor's
    try:
        report = json.loads(data)
    except ValueError:
        report = {"error": f"the sandbox's setup process died without a word ({data[:200]!r})"}
    if "pid" not in report:
        raise OSError(report.get("error", "unknown setup failure"))
    return report["pid"]


# ----------------------------------------------------------------------------------------------------
# The zygote's loop, and the probe
# ----------------------------------------------------------------------------------------------------
def serve(sock, seccomp, runner):
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
        except OSError:
            return
        if not msg:
            return  # the supervisor is gone
        try:
            job = json.loads(msg)
            if len(fds) != 3:
                raise OSError(f"expected 3 file descriptors, got {len(fds)}")
            reply = {"pid": spawn(job, fds, seccomp, runner)}
        except Exception as exc:  # noqa: BLE001
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(json.dumps(reply).encode())


def _frame(data):
    return struct.pack(">Q", len(data)) + data


def probe(cfg, seccomp, runner):
    """Create one sandbox as jobs do, run `print(6 * 7)` in it, and say whether it worked."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # the sandbox's PID 1 is re-parented to us, as to the supervisor
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    job = {
        "uid": cfg["uid"],
        "tmpfs_bytes": 16 << 20,
        # nproc generous: RLIMIT_NPROC counts every process of the uid, other processes' sandboxes included
        "rlimits": {"fsize": 1 << 20, "stack": 8 << 20, "nproc": 4096},
    }
    try:
        pid = spawn(job, [in_r, out_w, err_w], seccomp, runner)
    except OSError as exc:
        return {"ok": False, "error": str(exc)}
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    header = {
        "mode": "program",
        "fn_name": None,
        "n_tests": 1,
        "cpu_s": 5,
        "wall_s": 10,
        "file_bytes": 1 << 20,
        "output_bytes": 1 << 20,
        "nofile": 64,
        "float_tol": None,
        "stderr_tail": 2000,
        "stdout_return": 1000,
        "as_bytes": 0,
    }
    # the seccomp filter is in place: a user namespace is refused
    code = b"import ctypes, os\nno_userns = ctypes.CDLL(None).unshare(0x10000000) != 0\nprint(6 * 7, os.getuid(), os.getpid(), no_userns)"
    os.write(in_w, _frame(json.dumps(header).encode()) + _frame(code) + _frame(b""))
    os.close(in_w)
    deadline = time.monotonic() + 20
    out = b""
    while time.monotonic() < deadline and select.select([out_r], [], [], 1)[0]:
        chunk = os.read(out_r, 65536)
        if not chunk:
            break
        out += chunk
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os.waitpid(pid, 0)
    err = os.read(err_r, 65536).decode(errors="replace") if select.select([err_r], [], [], 0)[0] else ""
    events = [json.loads(line) for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    tests = [e for e in events if e.get("ev") == "test"]
    want = f"42 {cfg['uid']} 2 True\n"  # pid 2: the test process, forked by PID 1 of a fresh pid namespace
    if tests and tests[0].get("status") == "pass" and tests[0].get("stdout") == want:
        return {"ok": True}
    return {"ok": False, "error": f"probe program did not run as expected: events={events} stderr={err[-500:]}"}


def main():
    args = sys.argv[1:]
    probing = args[:1] == ["--probe"]
    cfg = json.loads(args[-1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the user's process
    if not probing:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the supervisor
    try:
        runner = _load_runner()
        runner.warm_up()
        seccomp = Seccomp() if cfg.get("seccomp", True) else None
    except Exception as exc:  # noqa: BLE001
        result = {"ok": False, "error": f"zygote start: {type(exc).__name__}: {exc}"}
        if probing:
            print(json.dumps(result))
            return
        sock = socket.socket(fileno=cfg["fd"])
        sock.send(json.dumps({"fatal": result["error"]}).encode())
        return
    if probing:
        print(json.dumps(probe(cfg, seccomp, runner)), flush=True)
        return
    sock = socket.socket(fileno=cfg["fd"])
    sock.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    serve(sock, seccomp, runner)


if __name__ == "__main__":
    main()
    os._exit(0)
