# Hostile: leave state behind for the next program: module, builtins and sys state inherited from the
# runner's prelude, environment, random's seed, files in /tmp, /dev/shm, / and /dev, and a live process.
import builtins
import collections
import math
import os
import random
import sys
import time

math.pi = 3
collections.k2b_leak = "LEAK"
builtins.k2b_leak = "LEAK"
sys.modules["k2b_leak"] = sys
sys.setrecursionlimit(123)
sys.set_int_max_str_digits(640)
os.environ["K2B_LEAK"] = "LEAK"
random.seed(1234)
for path in ("/tmp/k2b_leak", "/dev/shm/k2b_leak", "/k2b_leak", "/dev/k2b_leak", "/usr/k2b_leak"):
    try:
        with open(path, "w") as f:
            f.write("LEAK")
    except OSError:
        pass
if os.fork() == 0:
    os.setsid()
    with open("/tmp/k2b_alive", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
    os._exit(0)
print("WROTE")
