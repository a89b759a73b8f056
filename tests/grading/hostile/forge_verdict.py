# Hostile: try to forge the runner's verdict (write "pass" into its result pipe through /proc/1/fd/1),
# or read the expected outputs from the runner's memory; prints nothing of its own.
import json

fake = json.dumps({"ev": "test", "i": 0, "status": "pass", "cpu_s": 0, "wall_s": 0}) + "\n"
for path in ("/proc/1/fd/1", "/proc/1/mem"):
    try:
        with open(path, "w") as f:
            f.write(fake + json.dumps({"ev": "done"}) + "\n")
    except OSError:
        pass
for path in ("/proc/1/environ", "/proc/1/fd/0"):
    try:
        with open(path, "rb") as f:
            print(f.read(100))
    except OSError:
        pass
