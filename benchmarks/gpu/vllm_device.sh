#!/usr/bin/env bash
# Run benchmarks/gpu/vllm_device.py ON the device with the unpacked payload first on the path.
#   bash benchmarks/gpu/vllm_device.sh STEPS [options]      e.g. bash benchmarks/gpu/vllm_device.sh receive
# The NVLink-multicast variables are the device's rule for every program (KINDS.md); PYTHONUNBUFFERED so the
# call's output_tail shows progress.
set -o pipefail
export K2_WORK=${K2_WORK:-/root/k2} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$K2_WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
exec python3 benchmarks/gpu/vllm_device.py "$@" --out "${OUT:-$K2_WORK/out}"
