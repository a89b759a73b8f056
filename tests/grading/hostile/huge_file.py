# Hostile: write a 10 GiB file in the working directory.
block = b"\0" * (1 << 20)
with open("huge.bin", "wb") as f:
    for _ in range(10 * 1024):
        f.write(block)
