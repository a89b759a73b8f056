# Hostile: create a user namespace (full capabilities inside it: mounts, more namespaces), by unshare(2),
# by clone(2) with CLONE_NEWUSER, and by the unshare(1) tool; prints one word per attempt.
import ctypes
import os
import subprocess

CLONE_NEWUSER, SIGCHLD, SYS_CLONE = 0x10000000, 17, 56
libc = ctypes.CDLL(None, use_errno=True)
words = []
words.append("ESCAPED" if libc.unshare(CLONE_NEWUSER) == 0 else "DENIED")
pid = libc.syscall(SYS_CLONE, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
if pid == 0:
    os._exit(0)  # the child, inside a new user namespace
if pid > 0:
    os.waitpid(pid, 0)
words.append("ESCAPED" if pid > 0 else "DENIED")
try:
    ok = subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode == 0
except OSError:
    ok = False
words.append("ESCAPED" if ok else "DENIED")
print(" ".join(words))
