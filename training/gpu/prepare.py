"""Prepare, HERE, what training/gpu/device_grpo.py needs on the device machine (no network there).

Writes into the git-ignored .device/:
  heldout_messages.json   the exact chat messages and targets of the 200 held-out samples, read from the
                          committed inspect log of training/heldout_task.py (so the device asks what the suite asks)
  wheels-train/           TRL 1.16 and the packages it and the graders need that the device lacks, for Python 3.12
The embedded model's GGUF travels as in benchmarks/gpu/prepare_payload.py (.device/smollm2.gguf.part0/1).
A call may carry 64 MiB: pyarrow's wheel (55 MB) goes alone, the rest with a GGUF part.

    python training/gpu/prepare.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".device"
LOG = REPO / "results/training/logs/2026-11-29T18-41-32-00-00_arith-heldout_5o3UuE8i74iwkZZNKSeu8B.eval"
WHEELS = ["trl==1.16.0", "accelerate==1.15.0", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19",
          "xxhash==4.1.0", "fsspec==2026.9.0", "math-verify==0.9.0", "latex2sympy2_extended==1.11.0",
          "antlr4-python3-runtime==4.13.2", "pyarrow==26.0.1"]


def main() -> int:
    from inspect_ai.log import read_eval_log

    OUT.mkdir(exist_ok=True)
    log = read_eval_log(str(LOG))
    rows = [{"id": str(s.id), "target": str(s.target),
             "messages": [{"role": m.role, "content": m.text} for m in s.input]} for s in log.samples]
    (OUT / "heldout_messages.json").write_text(json.dumps(rows) + "\n")
    wheels = OUT / "wheels-train"
    wheels.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux2014_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux_2_28_x86_64", "-d", str(wheels),
                    *WHEELS], check=True)
    print(f"{len(rows)} held-out samples -> {OUT / 'heldout_messages.json'}; wheels in {wheels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
