# Hostile: kill the parent, PID 1, every process it can, and the pid given on stdin (the test harness);
# then answer correctly (sum of the other numbers on stdin).
import os
import signal
import sys

nums = sys.stdin.read().split()
harness_pid = int(nums[0])
for target in (os.getppid(), 1):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(target, sig)
        except OSError:
            pass
try:
    os.kill(harness_pid, signal.SIGKILL)
except OSError:
    pass
print(sum(map(int, nums[1:])))
