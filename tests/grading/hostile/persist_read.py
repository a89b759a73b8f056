# Hostile (reader): report anything persist_write.py left behind; prints "CLEAN <random.random()>" or the leaks.
import builtins
import collections
import math
import os
import random
import sys

leaks = []
if math.pi != 3.141592653589793:
    leaks.append("math.pi")
if hasattr(collections, "k2b_leak") or hasattr(builtins, "k2b_leak") or "k2b_leak" in sys.modules:
    leaks.append("module state")
if sys.getrecursionlimit() != 50000 or sys.get_int_max_str_digits() != 50000:
    leaks.append("sys limits")
if "K2B_LEAK" in os.environ:
    leaks.append("environment")
for path in ("/tmp/k2b_leak", "/dev/shm/k2b_leak", "/k2b_leak", "/dev/k2b_leak", "/usr/k2b_leak", "/tmp/k2b_alive"):
    if os.path.exists(path):
        leaks.append(path)
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
if others:
    leaks.append(f"processes {others}")
print(" ".join(leaks) if leaks else f"CLEAN {random.random()!r}")
