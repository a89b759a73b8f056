# Hostile: delete the files named on stdin (one path a line) with posix.unlink, then list their directories.
import os
import posix
import sys

for path in sys.stdin.read().split():
    posix.unlink(path)
    print("DELETED", path, os.listdir(os.path.dirname(path)))
