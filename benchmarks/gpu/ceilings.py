"""Measure the two ceilings of the GPU: device-memory copy bandwidth and the bf16 matrix-product rate.

Every other GPU figure (decode tokens/s against the bandwidth bound, SFT model-FLOPs utilisation) is stated
against these two measured numbers, not against datasheet values (the H200 datasheet says 4.8 TB/s and
~990 dense bf16 TFLOP/s; measured ones are lower).

Method (/work/.library/device/METHOD.md): CUDA events around each timed launch, warm-ups first, random data
(never zeros: they run faster), several repeats, median/min/max reported. The copy counts bytes read plus
bytes written; the matrix product counts 2*M*N*K floating-point operations.

Runs on the device machine with its own python3 (torch only, no k2bench imports):

    python3 benchmarks/gpu/ceilings.py --out $OUT/ceilings.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

COPY_BYTES = (1 << 30, 4 << 30)  # 1 GiB and 4 GiB: far above the 60 MB L2, so HBM is what is measured
MATMUL_SIZES = (4096, 8192)
WARMUP = 3
REPEATS = 20


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def gpu_environment() -> dict[str, object]:
    """Machine and versions, recorded beside every figure."""
    import torch

    env: dict[str, object] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0),
        "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        "cpu_count": __import__("os").cpu_count(),
        "kernel": platform.release(),
    }
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:
        env["transformers"] = None
    try:
        query = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit"
        env["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        env["nvidia_smi"] = f"unavailable: {exc}"
    return env


def time_events(fn, warmup: int = WARMUP, repeats: int = REPEATS) -> list[float]:
    """Seconds per call of fn, one CUDA-event pair per call."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return times


def copy_bandwidth(nbytes: int) -> dict[str, object]:
    import torch

    src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    dst.fill_(7)  # poison, then check every byte was written
    times = time_events(lambda: dst.copy_(src))
    if not torch.equal(src, dst):
        raise RuntimeError("device copy produced wrong bytes")
    moved = 2 * nbytes  # read + write
    result = {"bytes_each_way": nbytes, "seconds": stats(times), "bytes_per_s": stats([moved / t for t in times])}
    return result


def matmul_rate(n: int) -> dict[str, object]:
    import torch

    # several operand sets so that repeats do not hit a warm L2 on the same inputs
    sets = [(torch.randn(n, n, device="cuda", dtype=torch.bfloat16),
             torch.randn(n, n, device="cuda", dtype=torch.bfloat16)) for _ in range(3)]
    out = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    counter = iter(range(10**9))

    def one() -> None:
        a, b = sets[next(counter) % len(sets)]
        torch.matmul(a, b, out=out)

    times = time_events(one)
    # correctness: compare one product against an fp32 reference on a slice
    a, b = sets[0]
    ref = a[:256].float() @ b.float()
    got = (a[:256] @ b).float()
    rel = ((got - ref).norm() / ref.norm()).item()
    if not rel < 1e-2:
        raise RuntimeError(f"bf16 matmul relative error {rel} too large")
    flops = 2 * n**3
    result = {"n": n, "seconds": stats(times), "flop_per_s": stats([flops / t for t in times]), "rel_error": rel}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    started = time.time()
    report = {
        "what": "GPU ceilings: device-to-device copy bandwidth (read+write) and bf16 matmul rate",
        "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
        "environment": gpu_environment(),
        "copy": [],
        "matmul_bf16": [],
    }
    for n in COPY_BYTES:
        report["copy"].append(copy_bandwidth(n))
        torch.cuda.empty_cache()  # the buffers died with the function; hand their memory back
    for n in MATMUL_SIZES:
        report["matmul_bf16"].append(matmul_rate(n))
        torch.cuda.empty_cache()
    report["bandwidth_bytes_per_s"] = max(c["bytes_per_s"]["median"] for c in report["copy"])
    report["matmul_bf16_flop_per_s"] = max(m["flop_per_s"]["median"] for m in report["matmul_bf16"])
    report["elapsed_s"] = time.time() - started
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"{'measure':<28}{'median':>12}{'min':>12}{'max':>12}")
    for c in report["copy"]:
        s = c["bytes_per_s"]
        print(f"copy {c['bytes_each_way'] >> 30} GiB (TB/s){'':<8}{s['median'] / 1e12:>12.3f}{s['min'] / 1e12:>12.3f}"
              f"{s['max'] / 1e12:>12.3f}")
    for m in report["matmul_bf16"]:
        s = m["flop_per_s"]
        print(f"bf16 matmul {m['n']} (TFLOP/s){'':<2}{s['median'] / 1e12:>12.1f}{s['min'] / 1e12:>12.1f}"
              f"{s['max'] / 1e12:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
