#!/usr/bin/env bash
# Issue 13's system grid on the EMBEDDED model (models/smollm2.yaml: the transformers engine on CPU, exactly as on a
# 2-core machine here), run on the lent device's 16 CPU cores while its GPU serves the vLLM grid: the shared 2-core
# machine needs 1-2 h for it (results/logs/committed/smollm2-135m-instruct/systems/README.md says where each cell ran).
# Started by the driver's `hook` step (copied to .device/hook.sh by the device call); returns at once, the run goes on
# as a daemon and writes under $K2_WORK/logs/embedded, which `pack` returns with each later call.
#   mkdir -p .device && cp benchmarks/gpu/embedded_grid.sh .device/hook.sh && bash benchmarks/gpu/vllm_device.sh hook
set -euo pipefail
log_dir=$K2_WORK/logs/embedded
mkdir -p "$log_dir"
# the engine's torch threads: the device has 16 cores; the vLLM server and the vLLM grid's runners need a few
threads=${EMBEDDED_THREADS:-10}
setsid nohup env OMP_NUM_THREADS="$threads" python3 -m systems.run \
    --suites aime2024,aime2025,hmmt_feb2025,math500,gpqa_diamond,omni_math_hard,livecodebench_v5 \
    --systems plain,plan,best_of_n,k2_full --model models/smollm2.yaml --limit 10 --epochs 1 \
    -M max_tokens_cap=256 --log-dir "$log_dir" --display plain > "$log_dir/runner.log" 2>&1 < /dev/null &
echo "embedded grid started: pid $! threads $threads log dir $log_dir"
