#!/usr/bin/env bash
# The project's test command (README; .ci/run runs exactly this after scripts/bootstrap.sh).
# It installs the services the tests use (bubblewrap sandbox, the vLLM CPU server's venv, headless Chromium),
# then runs the whole pytest suite: nothing is skipped for lack of data; K2BENCH_DATA_DIR must point at
# the benchmark mirror (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${K2BENCH_DATA_DIR:=$(cd .. && pwd)/shared/data}"
export K2BENCH_DATA_DIR HF_HUB_OFFLINE=1

for setup in scripts/install_system_deps.sh scripts/setup_vllm.sh scripts/install_chromium.sh; do
  [ -f "$setup" ] || { echo "missing $setup" >&2; exit 1; }
  echo "== $setup ($(date +%H:%M:%S))"
  bash "$setup"
done
echo "== pytest ($(date +%H:%M:%S))"
exec .venv/bin/python -m pytest -q --durations=25 "$@"
