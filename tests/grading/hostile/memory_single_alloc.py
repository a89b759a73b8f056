# Hostile: one 50 GiB allocation (refused at once under overcommit heuristics -> MemoryError).
block = bytearray(50 << 30)
print(len(block))
