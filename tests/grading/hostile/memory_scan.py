# Hostile: read its own writable memory (a fork of whatever started it: heap, anonymous mappings, stack) looking
# for a secret that another program held. stdin: "<prefix> <sha256 of prefix+suffix> <suffix length>" (the secret
# itself never enters this process), optionally a line "plant <secret>" (the positive control: the scan must
# find that one). Reads through ctypes, not /proc/self/mem (the runner makes it non-dumpable: root-owned).
# Prints "FOUND <n> in <bytes scanned>" or "NOT FOUND in <bytes scanned>".
import ctypes
import hashlib
import re
import sys

lines = sys.stdin.read().splitlines()
prefix, digest, size = lines[0].split()
prefix_b, size = prefix.encode(), int(size)
planted = [line.split(" ", 1)[1] for line in lines[1:] if line.startswith("plant ")]
with open("/proc/self/maps") as maps:
    regions = [line.split() for line in maps]
found = scanned = 0
for fields in regions:
    lo, hi = (int(x, 16) for x in fields[0].split("-"))
    path = fields[5] if len(fields) > 5 else ""
    if not fields[1].startswith("rw") or path not in ("", "[heap]", "[stack]"):
        continue  # file mappings may fault past their end; a program's data lives in these
    chunk = ctypes.string_at(lo, hi - lo)
    scanned += len(chunk)
    for m in re.finditer(re.escape(prefix_b), chunk):
        if hashlib.sha256(chunk[m.start() : m.end() + size]).hexdigest() == digest:
            found += 1
    del chunk
print(f"FOUND {found} in {scanned}" if found else f"NOT FOUND in {scanned}")
