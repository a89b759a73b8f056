# Hostile: carry data to a later program through the uid's kernel keyring, which no mount, pid or network
# namespace renews. stdin "write <secret>" stores it; "read" looks for it. Prints what happened.
import ctypes
import sys

SYS_ADD_KEY, SYS_REQUEST_KEY, SYS_KEYCTL = 248, 249, 250
KEY_SPEC_USER_KEYRING, KEYCTL_READ = -4, 11
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
op, _, secret = sys.stdin.read().strip().partition(" ")
if op == "write":
    data = secret.encode()
    rc = libc.syscall(SYS_ADD_KEY, b"user", b"k2b-canary", data, len(data), KEY_SPEC_USER_KEYRING)
    print("STORED" if rc >= 0 else f"REFUSED errno={ctypes.get_errno()}")
else:
    key = libc.syscall(SYS_REQUEST_KEY, b"user", b"k2b-canary", None, KEY_SPEC_USER_KEYRING)
    if key < 0:
        print("NOT FOUND")
    else:
        buf = ctypes.create_string_buffer(4096)
        n = libc.syscall(SYS_KEYCTL, KEYCTL_READ, key, buf, 4096)
        print("FOUND", buf.raw[: max(n, 0)].decode(errors="replace"))
