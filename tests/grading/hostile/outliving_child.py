# Hostile: a setsid grandchild that outlives the program, keeps stdout open and writes to it later.
# The program itself answers correctly (sum of the numbers on stdin) and exits at once.
import os
import sys
import time

data = sys.stdin.read()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(30)
        print("LATE GARBAGE FROM A GRANDCHILD", flush=True)
        time.sleep(600)
    os._exit(0)
print(sum(map(int, data.split())))
