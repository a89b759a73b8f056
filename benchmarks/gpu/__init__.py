"""GPU benchmarks and the H200 vLLM recipe (results/perf/gpu_speed.md, gpu_vllm_runbook.md).

The scripts that run ON the device (vllm_device.py through vllm_device.sh, ceilings.py, decode_bench.py,
sft_throughput.py, systems_run_noscore.py) are invoked there by path, as the runbooks write them; the ones that
run here (prepare_payload, vllm_payload, vllm_report, vllm_rescore, report) are modules:
`python -m benchmarks.gpu.<name>` from the repository root.
"""
