# Hostile: touch 64 MiB chunks until something stops us (bytes * n writes every page; bytearray would not).
chunks = []
while True:
    chunks.append(b"x" * (64 << 20))
