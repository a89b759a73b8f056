"""Build, HERE, what vLLM 0.26.0 and the k2bench harness need on the lent H200 (no network there), in parts.

The device image has Python 3.12.3, torch 2.11.0+cu130, transformers 5.17.0 and the packages KINDS.md lists;
vLLM 0.26.0 is the newest release that loads with that torch (../shared/reference/vllm-gpu.md). What the image
lacks travels as one xz-compressed tar stream cut into parts of PART_BYTES, one part per device call while the
machine stays warm (a call carries at most 64 MiB including the ~10 MiB working tree):

  site/          the wheels of benchmarks/gpu/vllm_wheels.txt, installed HERE for the device's platform with
                 `pip install --no-deps --no-compile --target site --python-version 3.12 --platform manylinux..`
                 (the same files pip writes there; xz over the installed files is ~25% smaller than the wheels'
                 deflate, and the device skips pip entirely: it only unpacks), minus STRIP (kernels and binaries
                 the serving path of a dense bf16 model on Hopper never loads; they travel separately as
                 optional `extra` parts, see below; KEEP_IN_STREAM files stay, strip_selection decides),
                 console-script shebangs set to `/usr/bin/env python3`
  smollm2.gguf   the embedded model as its 98 MB Q4_1 GGUF (smaller than 269 MB of bf16 safetensors);
                 benchmarks/gpu/vllm_device.py dequantizes it there with models/gguf.py
  data/          the mirror data the suites read ($K2BENCH_DATA_DIR, 4.6 MB; GPQA stays in its encrypted zip)

Written into the git-ignored .device/vllm/: part.NN (the stream), extra.NN (the stripped files, only sent if
the first server start asks for one of them), manifest.json (sha256 of every part and of the whole stream,
packages, stripped files, GGUF sha256, the local weights fingerprint). Wheels are cached in .whl/vllm-gpu/.

    python -m benchmarks.gpu.vllm_payload resolve --python312 ~/.pyenv/versions/3.12.1/bin/python  # rewrites the lock
    K2BENCH_DATA_DIR=/work/shared/data python -m benchmarks.gpu.vllm_payload build   # ~8 min on 2 cores (xz)
    python -m benchmarks.gpu.vllm_payload check --python312 ~/.pyenv/versions/3.12.1/bin/python  # dry run, 3.12

`check` proves here what can be proved without the device: the locked set plus the image's packages is closed
under the wheels' requirements (pip's resolver, --no-index, from the cached wheels only), `pip check` over the
unpacked site, and the harness side (inspect, math-verify, systems/, suites/) imports under Python 3.12 from
exactly the unpacked site plus the image's pure-Python packages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = Path(__file__).resolve().parent / "vllm_wheels.txt"
OUT = REPO / ".device" / "vllm"
CACHE = REPO / ".whl" / "vllm-gpu"
STAGE = Path(os.environ.get("TMPDIR", "/tmp")) / "k2bench-vllm-stage"
PART_BYTES = 50 * 2**20  # + the working tree (~10 MiB) stays under a call's 64 MiB
XZ_PRESET = "-6"
PLATFORMS = ["manylinux_2_35_x86_64", "manylinux_2_34_x86_64", "manylinux_2_31_x86_64", "manylinux_2_28_x86_64",
             "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64",
             "linux_x86_64"]
# What the device image already has, at the versions known from KINDS.md (stubs for the resolver: their own
# requirements are the image's business). Everything else on the image is matched by name only.
IMAGE_PINNED = {"torch": "2.11.0", "torchvision": "0.26.0", "torchaudio": "2.11.0", "triton": "3.6.0",
                "transformers": "5.17.0", "numpy": "2.5.2", "huggingface-hub": "1.33.0", "tokenizers": "0.23.2",
                "safetensors": "0.8.0", "accelerate": "1.15.0", "sentencepiece": "0.2.2", "tiktoken": "0.14.0"}
# KINDS.md, "Python packages already there" (read 2026-11-17)
IMAGE_PACKAGES = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite
lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas
nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum
opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split()
# What the device needs beyond vLLM: the harness (inspect), the graders, the GGUF reader, lm-eval for the
# harness comparison (benchmarks/lm_eval_crosscheck.py's stack; optional: see OPTIONAL_GROUPS)
ROOTS = ["vllm==0.26.0", "inspect-ai==0.3.285", "openai==3.57.0", "math-verify==0.9.0",
         "latex2sympy2_extended==1.11.0", "antlr4-python3-runtime==4.13.2", "gguf==0.19.0", "lm-eval==0.4.13"]
# Carried although the image has them: small pure-Python packages whose image version is not known and which
# the carried set needs new (pydantic 2.14 wants typing-extensions>=4.16, inspect anyio>=4.14.2 and
# fsspec<=2026.6.0, textual rich>=14.2); a newer copy of each is backward compatible for the image's users.
RECARRY = ["anyio", "typing-extensions", "fsspec", "rich", "pygments", "markdown-it-py", "mdurl"]
# vLLM's optional kernel packages (vllm-gpu.md): never imported when serving a dense bf16 model on Hopper, 502 MiB
OPTIONAL_KERNELS = ["pynvvideocodec", "tilelang", "nvidia-cutlass-dsl-libs-cu12", "torchcodec", "tokenspeed-triton",
                    "z3-solver", "nvidia-cuda-nvcc", "nvidia-cuda-nvdisasm", "nvidia-cuda-crt", "nvidia-nvvm"]
# Files inside installed packages that the serving path never loads (each reason checked in vLLM 0.26.0's
# source), by fallback group: a group travels as its own optional stream (<group>.NN parts) and is unpacked only
# if a server start asks for one of its files (`install --with-extra GROUP`); group None is not carried at all.
STRIP: dict[str | None, dict[str, str]] = {
    "kernels": {
        # FlashAttention 2 (124 MiB compressed): vllm_flash_attn imports it in try/except; on SM90 FA3 is chosen
        # (fa_utils.get_flash_attn_version), FA2 only for ALiBi or pre-Hopper cards
        "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so": "FA2 kernels; Hopper uses FA3",
        # MoE kernels (39 MiB): imported under contextlib.suppress(ImportError) in CudaPlatform.import_kernels,
        # used only by fused_moe layers and the marlin wna16 MoE path; SmolLM2 is dense
        "vllm/_moe_C_stable_libtorch.abi3.so": "MoE kernels; SmolLM2 is dense",
        # vendored kernels, each imported lazily by the models or paths that use them: deep_gemm (fp8 GEMM JIT),
        # fmha_sm100 (Blackwell, MiniMax M3), flash_linear_attention (GDN/linear-attention models), flashmla
        # (MLA), tml_fa4, triton_kernels (gpt-oss MoE). NOT vllm/third_party/pynvml.py: see KEEP_IN_STREAM
        "vllm/third_party": "vendored kernels (deep_gemm, fmha_sm100, flash_linear_attention, flashmla, ...)",
    },
    # The CUTLASS Python DSL (65 MiB compressed). vllm-gpu.md found it "required": its base and core packages
    # without a CUDA flavour make `import cutlass` raise RuntimeError("No CTK flavor installed"), which the SM90
    # kernel warm-up (warmup/kernel_warmup.py -> cute_dsl/ll_bf16.is_available) does not catch. Without any of the
    # four packages the import is a plain ImportError, is_available() is False and the warm-up (MoE router GEMMs
    # of DeepSeek-shaped models, JIT-compiled at every start) is skipped. Its .pth would not even be read from a
    # PYTHONPATH folder. vllm_device.py puts dsl_packages on the path if this group is unpacked.
    "cutlass": {
        "nvidia_cutlass_dsl": "CUTLASS Python DSL (MoE router warm-up, FA4)",
        "nvidia_cutlass_dsl-4.6.0.dist-info": "its metadata",
        "nvidia_cutlass_dsl_libs_base-4.6.0.dist-info": "its metadata",
        "nvidia_cutlass_dsl_libs_core-4.6.0.dist-info": "its metadata",
        "nvidia_cutlass_dsl_libs_cu13-4.6.0.dist-info": "its metadata",
        "nvidia_cutlass_dsl_packages.pth": "its path hook (not read from PYTHONPATH)",
    },
    None: {
        # the Rust front end (15 MiB), used only with VLLM_USE_RUST_FRONTEND=1
        "vllm/vllm-rs": "Rust front end, off by default",
        # inspect's sandbox tool binaries (29 MiB), injected only into docker sandboxes
        "inspect_ai/binaries": "inspect sandbox-tools executables for docker sandboxes",
    },
}
# Files inside a STRIP folder that stay in the main stream: what vLLM imports unconditionally, whatever the model.
# vLLM 0.26 detects CUDA through its vendored NVML wrapper: vllm/platforms/__init__.py cuda_platform_plugin() and
# vllm/platforms/cuda.py at import call vllm.utils.import_utils.import_pynvml(), which is
# `import vllm.third_party.pynvml`. Without it platform detection ends in "RuntimeError: Failed to infer device
# type" (the H200 lease of 2026-12-03, call 5: "No module named 'vllm.third_party'").
# tests/perf/test_vllm_gpu_prep.py derives this set from vLLM's own source and fails if one is stripped.
KEEP_IN_STREAM = ("vllm/third_party/__init__.py", "vllm/third_party/pynvml.py")
# Metadata conflicts with the image that are known and left alone: the image's version is what runs
KNOWN_IMAGE_CONFLICTS = {
    "numpy": "the image has 2.5.2; mistral-common 1.13.1 declares numpy<2.4 on Python <= 3.12 and numba 0.65 (vLLM's "
             "pin; the image has its own numba) <2.5. vLLM 0.26 ran with the image's numpy (vllm-gpu.md)",
}
PACKAGES_RE = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_comment(key: str) -> dict[str, str]:
    """The `# image:` / `# optional:` line of the lock as {name: version}."""
    for line in LOCK.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return dict(item.split("==", 1) for item in line.split(": ", 1)[1].split())
    return {}


def read_lock() -> list[tuple[str, str]]:
    pins = []
    for line in LOCK.read_text().splitlines():
        m = PACKAGES_RE.match(line.strip())
        if m:
            pins.append((m.group(1), m.group(2)))
    return pins


def pip_download(dest: Path, specs: list[str]) -> list[str]:
    """Fetch cp312 manylinux wheels (no deps); build a wheel here for the few sdist-only pure-Python packages."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {norm(p.name.split("-")[0]) + "==" + p.name.split("-")[1] for p in dest.glob("*.whl")}
    missing = [s for s in specs if norm(s.split("==")[0]) + "==" + s.split("==")[1] not in have]
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    built = []
    for spec in missing:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
                               *platform_args, "-d", str(dest), spec], capture_output=True, text=True)
        if proc.returncode != 0:  # e.g. sqlitedict, word2number, rouge-score: sdist only, pure Python
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), spec],
                           check=True, capture_output=True)
            built.append(spec)
    return built


def wheel_for(dest: Path, name: str, version: str) -> Path:
    for p in dest.glob("*.whl"):
        parts = p.name.split("-")
        if norm(parts[0]) == norm(name) and parts[1] == version:
            return p
    raise SystemExit(f"no wheel for {name}=={version} in {dest}: run build (it downloads)")


# --- resolve -------------------------------------------------------------------------------------------------


def write_stubs(site: Path, pins: dict[str, str]) -> None:
    """dist-info folders with only Name and Version: pip treats the package as installed at that version."""
    for name, version in pins.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("k2bench-stub\n")
        (info / "RECORD").write_text("")


def make_venv(python312: str, where: Path) -> Path:
    subprocess.run([python312, "-m", "venv", str(where)], check=True)
    return where / "bin" / "python"


def site_of(venv: Path) -> Path:
    return next((venv / "lib").glob("python3.12/site-packages"))


def resolve(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "v"
        py = make_venv(args.python312, venv)
        write_stubs(site_of(venv), IMAGE_PINNED)
        report = Path(tmp) / "report.json"
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--dry-run", "--report", str(report), *ROOTS],
                       check=True)
        resolved = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    image = {norm(n) for n in IMAGE_PACKAGES}
    carried = [(n, v) for n, v in resolved if norm(n) not in image and norm(n) not in OPTIONAL_KERNELS]
    recarried = [(n, v) for n, v in resolved if norm(n) in RECARRY]
    left = sorted(f"{n}=={v}" for n, v in resolved if norm(n) in image and norm(n) not in RECARRY)
    dropped = sorted(f"{n}=={v}" for n, v in resolved if norm(n) in OPTIONAL_KERNELS)
    lines = [
        "# Generated by `python -m benchmarks.gpu.vllm_payload resolve` (pip's resolver, Python 3.12, stubs for the",
        f"# image's {', '.join(f'{k} {v}' for k, v in IMAGE_PINNED.items())}); roots: {' '.join(ROOTS)}.",
        "# Carried to the H200: packages the image lacks + small pure-Python ones re-carried (RECARRY). Do not edit.",
        *sorted(f"{n}=={v}" for n, v in carried + recarried),
        "# Left to the image (the resolver's pick; the image's own version is what runs), then vLLM's optional",
        "# kernel packages, not carried:",
        "# image: " + " ".join(left),
        "# optional: " + " ".join(dropped),
    ]
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"{len(carried) + len(recarried)} carried, {len(left)} from the image, {len(dropped)} optional dropped"
          f" -> {LOCK.relative_to(REPO)}")
    return 0


# --- build ---------------------------------------------------------------------------------------------------


def install_site(site: Path, wheels: list[Path]) -> None:
    """pip's own wheel installer, for the device's platform, into a plain folder (no dependency resolution)."""
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--no-index",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
                    *platform_args, "--target", str(site), *map(str, wheels)], check=True)


def fix_scripts(site: Path) -> int:
    """Console scripts carry this machine's interpreter in their shebang; there it is python3 on PATH."""
    fixed = 0
    for script in (site / "bin").glob("*") if (site / "bin").is_dir() else []:
        data = script.read_bytes()
        if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
            script.write_bytes(b"#!/usr/bin/env python3\n" + data.split(b"\n", 1)[1])
            fixed += 1
    return fixed


def strip_selection(files: list[str]) -> dict[str, str | None]:
    """Which installed files leave the main stream: {relative path: STRIP group (None = not carried)}.

    `files` are paths relative to site/ (POSIX). A STRIP entry takes the file it names or every file under the
    folder it names, except KEEP_IN_STREAM. Refuses (SystemExit) a STRIP entry that matches no file and a
    KEEP_IN_STREAM path inside a STRIP folder that the installed set lacks: either means vLLM's layout changed
    and the selection must be looked at again."""
    have = set(files)
    selected: dict[str, str | None] = {}
    for group, paths in STRIP.items():
        for rel in paths:
            matched = [f for f in files if f == rel or f.startswith(rel + "/")]
            if not matched:
                raise SystemExit(f"STRIP names {rel}, which the installed set does not have: update STRIP")
            for keep in KEEP_IN_STREAM:
                if keep.startswith(rel + "/") and keep not in have:
                    raise SystemExit(f"KEEP_IN_STREAM names {keep}, which the installed set does not have: "
                                     "update KEEP_IN_STREAM (vLLM's platform detection may import something else)")
            selected.update({f: group for f in matched if f not in KEEP_IN_STREAM})
    return selected


def strip_site(site: Path, extra: Path) -> dict[str, dict[str, object]]:
    """Move each selected file to extra/<group>/ (same relative path) or delete it (group None); returns, per
    STRIP entry, its bytes, reason and group, and what stayed in the stream under it."""
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file() or p.is_symlink())
    selection = strip_selection(files)
    stripped: dict[str, dict[str, object]] = {}
    for group, paths in STRIP.items():
        for rel, why in paths.items():
            mine = [f for f in selection if f == rel or f.startswith(rel + "/")]
            stripped[rel] = {"bytes": sum((site / f).stat().st_size for f in mine), "why": why, "group": group,
                             "kept_in_stream": [k for k in KEEP_IN_STREAM if k.startswith(rel + "/")]}
    for rel, group in selection.items():
        src = site / rel
        if group is None:
            src.unlink()
            continue
        (extra / group / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(extra / group / rel))
    for rel in (r for paths in STRIP.values() for r in paths):  # folders emptied by the moves
        folder = site / rel
        if folder.is_dir():
            for d in sorted((p for p in [folder, *folder.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(d.iterdir()):
                    d.rmdir()
    return stripped


def tar_stream(entries: list[tuple[Path, str]], out: Path) -> tuple[int, int]:
    """tar (sorted, fixed owner/mtime) | xz into `out`; returns (tar bytes, xz bytes)."""
    raw = out.with_suffix(".tar")
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tar:
        for src, arcname in entries:
            for path in sorted([src, *src.rglob("*")]) if src.is_dir() else [src]:
                info = tar.gettarinfo(str(path), arcname=arcname + str(path)[len(str(src)):])
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 1_700_000_000
                if info.isreg():
                    with path.open("rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    with open(out, "wb") as f:
        subprocess.run(["xz", XZ_PRESET, "-T2", "-c", str(raw)], stdout=f, check=True)
    size = raw.stat().st_size
    raw.unlink()
    return size, out.stat().st_size


def split(stream: Path, prefix: str, dest: Path) -> list[dict[str, object]]:
    parts = []
    with stream.open("rb") as f:
        for i, block in enumerate(iter(lambda: f.read(PART_BYTES), b"")):
            path = dest / f"{prefix}.{i:02d}"
            path.write_bytes(block)
            parts.append({"name": path.name, "bytes": len(block), "sha256": hashlib.sha256(block).hexdigest()})
    return parts


def local_fingerprint() -> str | None:
    """sha256 of the locally dequantized weights (fp32, name order), for the device to compare with its own."""
    from transformers import AutoModelForCausalLM

    from benchmarks.gpu.prepare_payload import weights_fingerprint
    from models.embedded import prepare_smollm2

    return weights_fingerprint(AutoModelForCausalLM.from_pretrained(prepare_smollm2()))


def build(args: argparse.Namespace) -> int:
    from models.embedded import smollm2_gguf_path

    started = time.time()
    pins = read_lock()
    built = pip_download(CACHE, [f"{n}=={v}" for n, v in pins])
    wheels = [wheel_for(CACHE, n, v) for n, v in pins]
    shutil.rmtree(STAGE, ignore_errors=True)
    site, extra = STAGE / "site", STAGE / "extra"
    install_site(site, wheels)
    scripts = fix_scripts(site)
    stripped = strip_site(site, extra)
    data_dir = Path(os.environ.get("K2BENCH_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (data_dir / "aime2025").is_dir():
        raise SystemExit(f"no mirror data at {data_dir}: set K2BENCH_DATA_DIR")
    gguf = smollm2_gguf_path()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    stream = STAGE / "payload.tar.xz"
    raw_bytes, xz_bytes = tar_stream([(site, "site"), (gguf, "smollm2.gguf"), (data_dir, "data")], stream)
    extras = {}
    for group in (g for g in STRIP if g is not None):
        group_stream = STAGE / f"{group}.tar.xz"
        group_raw, group_xz = tar_stream([(extra / group, "site")], group_stream)
        extras[group] = {"sha256": sha256_file(group_stream), "bytes": group_xz, "tar_bytes": group_raw,
                         "parts": split(group_stream, group, OUT),
                         "files": {k: v for k, v in stripped.items() if v["group"] == group}}
        group_stream.unlink()
    manifest = {
        "what": "vLLM 0.26.0 + the k2bench harness for the H200 image (Python 3.12, torch 2.11.0+cu130)",
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["python", *sys.argv]),
        "part_bytes": PART_BYTES,
        "stream": {"sha256": sha256_file(stream), "bytes": xz_bytes, "tar_bytes": raw_bytes,
                   "parts": split(stream, "part", OUT)},
        "extras": extras,
        "not_carried": {k: v for k, v in stripped.items() if v["group"] is None},
        "packages": [f"{n}=={v}" for n, v in pins],
        "built_from_sdist": built,
        "wheel_bytes": sum(w.stat().st_size for w in wheels),
        "scripts_fixed": scripts,
        "gguf": {"name": gguf.name, "sha256": sha256_file(gguf), "bytes": gguf.stat().st_size},
        "weights_fingerprint_fp32": None if args.no_fingerprint else local_fingerprint(),
        "data_dir": str(data_dir),
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    stream.unlink()
    parts = manifest["stream"]["parts"]
    print(f"{len(pins)} packages ({manifest['wheel_bytes'] / 2**20:.0f} MiB of wheels); stream "
          f"{xz_bytes / 2**20:.1f} MiB (tar {raw_bytes / 2**20:.0f} MiB) in {len(parts)} parts; optional: "
          + ", ".join(f"{g} {e['bytes'] / 2**20:.1f} MiB in {len(e['parts'])} parts" for g, e in extras.items())
          + f"; {time.time() - started:.0f} s -> {OUT.relative_to(REPO)}")
    for p in parts + [p for e in extras.values() for p in e["parts"]]:
        print(f"  {p['name']}  {p['bytes'] / 2**20:5.1f} MiB  {p['sha256'][:16]}")
    return 0


# --- check ---------------------------------------------------------------------------------------------------

# the harness side that must import under 3.12 from the unpacked site + the image's pure-Python packages
HARNESS_IMPORTS = ["inspect_ai", "inspect_ai.model._providers.vllm", "openai", "math_verify", "latex2sympy2_extended",
                   "gguf", "pydantic", "xgrammar", "lm_eval", "systems.run", "systems.serve", "systems.metrics",
                   "systems.speculative",
                   "suites._registry", "suites.grading.math_answer", "models.config", "models.embedded",
                   "benchmarks.raw_client", "benchmarks.gpu.vllm_device"]
# image packages the check venv gets from the cached wheels (the torch/CUDA/JAX ones are stubbed or not needed)
IMAGE_FOR_CHECK = ["pyyaml", "numpy", "sympy", "mpmath", "aiohttp", "aiohappyeyeballs", "aiosignal", "attrs",
                   "frozenlist", "multidict", "propcache", "yarl", "httpx", "httpcore", "h11", "idna", "certifi",
                   "click", "jinja2", "markupsafe", "psutil", "regex", "requests", "urllib3", "charset-normalizer",
                   "tqdm", "zipp", "packaging", "filelock", "annotated-doc", "python-dateutil", "six", "pandas",
                   "tabulate", "protobuf", "prometheus-client", "uvloop", "typer", "shellingham", "cloudpickle",
                   "sacrebleu", "colorama", "lxml", "portalocker", "scikit-learn", "scipy", "joblib",
                   "threadpoolctl", "absl-py", "wrapt"]


def check(args: argparse.Namespace) -> int:
    manifest = json.loads((OUT / "manifest.json").read_text())
    pins = read_lock()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "v"
        py = make_venv(args.python312, venv)
        # 1. closure: roots resolved from the cached wheels only, image packages as stubs at the resolver's picks
        left = lock_comment("image")
        write_stubs(site_of(venv), {**left, **IMAGE_PINNED})
        closure = subprocess.run([str(py), "-m", "pip", "install", "--dry-run", "--no-index", "--find-links",
                                  str(CACHE), "--report", str(Path(tmp) / "r.json"), "-q", *ROOTS],
                                 capture_output=True, text=True)
        extra_needed = []
        if closure.returncode == 0:
            planned = {norm(i["metadata"]["name"]): i["metadata"]["version"]
                       for i in json.loads((Path(tmp) / "r.json").read_text())["install"]}
            locked = {norm(n): v for n, v in pins}
            extra_needed = sorted(f"{n}=={v}" for n, v in planned.items() if locked.get(n) != v
                                  and n not in OPTIONAL_KERNELS and n not in KNOWN_IMAGE_CONFLICTS)
            known = {n: KNOWN_IMAGE_CONFLICTS[n] for n in planned if n in KNOWN_IMAGE_CONFLICTS}
        results["closure"] = {"ok": closure.returncode == 0 and not extra_needed, "needs_beyond_lock": extra_needed,
                              "known_image_conflicts": known if closure.returncode == 0 else None,
                              "stderr": closure.stderr.strip()[-2000:]}
        # 2. unpack the stream exactly as the device does, into a fresh folder
        unpack = Path(tmp) / "k2"
        from benchmarks.gpu.vllm_device import join_and_unpack

        t0 = time.time()
        info = join_and_unpack(OUT, unpack, manifest["stream"])
        results["unpack"] = {**info, "seconds_here": round(time.time() - t0, 1)}
        # 3. pip check over the unpacked site + the image's packages (real wheels where the harness needs them)
        fresh = Path(tmp) / "c"
        cpy = make_venv(args.python312, fresh)
        image_wheels = [w for n in IMAGE_FOR_CHECK for w in CACHE.glob(f"{n.replace('-', '_')}-*.whl")]
        image_wheels += [w for n in IMAGE_FOR_CHECK for w in CACHE.glob(f"{n.replace('-', '_').title()}-*.whl")]
        image_wheels += [w for n in IMAGE_FOR_CHECK for w in CACHE.glob(f"{n.replace('-', '_').lower()}-*.whl")]
        subprocess.run([str(cpy), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        *sorted({str(w) for w in image_wheels})], check=True)
        write_stubs(site_of(fresh), {k: v for k, v in {**left, **IMAGE_PINNED}.items()
                                     if not list(site_of(fresh).glob(f"{k.replace('-', '_')}-*.dist-info"))})
        env = {**os.environ, "PYTHONPATH": f"{unpack / 'site'}:{REPO}", "PYTHONNOUSERSITE": "1"}
        env.pop("VIRTUAL_ENV", None)
        pipcheck = subprocess.run([str(cpy), "-m", "pip", "check"], capture_output=True, text=True, env=env)
        results["pip_check"] = {"rc": pipcheck.returncode, "lines": pipcheck.stdout.strip().splitlines()}
        # 4. the harness imports under 3.12 from exactly that
        code = ("import importlib, json, sys; bad = {}\n"
                f"for m in {HARNESS_IMPORTS!r}:\n"
                "    try: importlib.import_module(m)\n"
                "    except Exception as e: bad[m] = f'{type(e).__name__}: {e}'\n"
                "print(json.dumps({'python': sys.version.split()[0], 'failed': bad}))")
        imp = subprocess.run([str(cpy), "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
        results["imports"] = json.loads(imp.stdout.strip().splitlines()[-1]) if imp.returncode == 0 else {
            "error": imp.stderr[-2000:]}
        if args.keep_env:
            keep = Path(args.keep_env)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(unpack, keep / "k2", symlinks=True)
            subprocess.run([args.python312, "-m", "venv", str(keep / "venv")], check=True)
            subprocess.run([str(keep / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                            "--no-index", *sorted({str(w) for w in image_wheels})], check=True)
            results["kept"] = str(keep)
    print(json.dumps(results, indent=1))
    (OUT / "check.json").write_text(json.dumps(results, indent=1) + "\n")
    ok = results["closure"]["ok"] and not results["imports"].get("failed") and "error" not in results["imports"]
    return 0 if ok else 1


# --- preflight -----------------------------------------------------------------------------------------------

CALL_LIMIT = 64 * 2**20


def tree_bytes(repo: Path) -> int:
    """What every device call sends besides its carry: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((repo / name.decode()).stat().st_size for name in listed if name and (repo / name.decode()).is_file())


def preflight(args: argparse.Namespace) -> int:
    """Each payload call's size (tree + manifest + its part) against the device tool's 64 MiB, and the parts'
    hashes, in the checkout that will make the calls."""
    repo = Path(args.repo).resolve()
    out = repo / ".device" / "vllm"
    manifest = json.loads((out / "manifest.json").read_text())
    tree = tree_bytes(repo)
    ok = True
    print(f"working tree that travels with every call: {tree / 2**20:.1f} MiB ({repo})")
    streams = {"payload": manifest["stream"], **manifest.get("extras", {})}
    for label, stream in streams.items():
        for part in stream["parts"]:
            path = out / part["name"]
            size = tree + (out / "manifest.json").stat().st_size + part["bytes"]
            good = path.is_file() and path.stat().st_size == part["bytes"] and sha256_file(path) == part["sha256"]
            fits = size <= CALL_LIMIT - 2**20
            ok &= good and (fits or label != "payload")
            print(f"  {label:8} {part['name']:10} call {size / 2**20:5.1f} MiB {'ok' if fits else 'TOO BIG'}"
                  f"{'' if good else '  MISSING OR CORRUPT'}")
    print("preflight", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resolve", help="rewrite benchmarks/gpu/vllm_wheels.txt with pip's resolver (Python 3.12)")
    r.add_argument("--python312", required=True)
    b = sub.add_parser("build", help="download, install for the device, strip, pack, split into .device/vllm")
    b.add_argument("--no-fingerprint", action="store_true", help="skip the local weights fingerprint")
    c = sub.add_parser("check", help="dry run of the payload under Python 3.12 here")
    c.add_argument("--python312", required=True)
    c.add_argument("--keep-env", help="keep the unpacked payload and a 3.12 venv of the image's packages here")
    f = sub.add_parser("preflight", help="tree + part per call <= 64 MiB, hashes, in the checkout making the calls")
    f.add_argument("--repo", default=str(REPO))
    args = parser.parse_args(argv)
    return {"resolve": resolve, "build": build, "check": check, "preflight": preflight}[args.cmd](args)


if __name__ == "__main__":
    if not __package__:  # run by path: the checkout is importable only from the repository root
        sys.exit("run it as a module from the repository root: python -m benchmarks.gpu.vllm_payload ...")
    raise SystemExit(main())
