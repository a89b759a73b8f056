"""Import structure of systems/ and benchmarks/ (issue 18): no import circle among the modules of either, counting
imports inside functions too (a lazy import is still a dependency: compose<->serve and harness_bench<->
lm_eval_crosscheck were lazy circles); server metrics come from the leaf systems/metrics.py; benchmarks/ is a
package run with `python -m benchmarks.<name>` from the repository root, with no sys.path edits.

    pytest tests/perf/test_import_graph.py -q
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# the device driver points sys.path at the payload it unpacked on the GPU machine (its runtime, not our modules)
SYS_PATH_EDITS_ALLOWED = {"benchmarks/gpu/vllm_device.py": 1}


def module_graph(folder: str) -> dict[str, set[str]]:
    """module -> the modules of the same folder it imports anywhere (top level or inside functions)."""
    modules = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            imported |= {c for c in candidates if c in modules and c != name}
        graph[name] = imported
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def path_to(start: str, target: str, seen: set[str]) -> list[str] | None:
        for nxt in sorted(graph.get(start, ())):
            if nxt == target:
                return [nxt]
            if nxt not in seen:
                seen.add(nxt)
                rest = path_to(nxt, target, seen)
                if rest:
                    return [nxt, *rest]
        return None

    for module in graph:
        loop = path_to(module, module, set())
        if loop:
            found.append([module, *loop])
    return found


@pytest.mark.parametrize("folder", ["systems", "benchmarks"])
def test_no_import_circles(folder):
    graph = module_graph(folder)
    assert len(graph) > 5
    found = circles(graph)
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_circle_detector_sees_lazy_imports(tmp_path, monkeypatch):
    """The check can fail: two modules importing each other inside functions are a circle."""
    pkg = tmp_path / "loop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from loop.b import g\n    return g\n")
    (pkg / "b.py").write_text("def g():\n    from loop import a\n    return a\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert circles(module_graph("loop"))


def test_metrics_is_a_leaf_that_serve_and_compose_share():
    graph = module_graph("systems")
    assert graph["systems.metrics"] == set()
    assert "systems.metrics" in graph["systems.serve"] and "systems.metrics" in graph["systems.compose"]
    assert "systems.serve" not in graph["systems.compose"]
    for module in ("systems.run", "systems.speculative"):  # they read counters from the leaf, not from serve
        source = (REPO / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        assert not re.search(r"from systems\.serve import [^\n]*(counter_delta|serving_counters|scrape_metrics)",
                             source)


def test_benchmarks_edit_no_sys_path():
    edits = {}
    for path in sorted((REPO / "benchmarks").rglob("*.py")):
        count = len(re.findall(r"sys\.path\.(insert|append)\(", path.read_text(encoding="utf-8")))
        if count:
            edits[str(path.relative_to(REPO))] = count
    assert edits == SYS_PATH_EDITS_ALLOWED


def test_benchmarks_run_as_modules_from_the_repo_root():
    """`python -m benchmarks.<name> --help` works for every entry point; run by path, a module says how to run it."""
    for name in ("run_all", "harness_bench", "lm_eval_crosscheck", "grading_bench", "sandbox_bench", "plots",
                 "raw_client", "gpu.report", "gpu.vllm_report", "gpu.vllm_rescore"):
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        assert "usage:" in proc.stdout
    proc = subprocess.run([sys.executable, "benchmarks/run_all.py", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "python -m benchmarks.run_all" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_health_reads_the_store_models_by_their_keys():
    """systems/health.py reads the sample stores by key (so it imports neither accounting, plan nor best_of_n):
    each key must be a field the StoreModel writes."""
    from inspect_ai.util import Store

    from systems.accounting import Accounting
    from systems.best_of_n import BestOfN
    from systems.health import STORE_KEYS
    from systems.plan import Plans

    written = Store()
    for model in (Accounting, Plans, BestOfN):
        model(store=written)  # a StoreModel writes its fields' defaults under `<class>:<field>`
    assert set(STORE_KEYS.values()) <= set(written.keys())


def test_benchmarks_readme_commands_name_runnable_modules():
    """benchmarks/README.md's commands (hour-long measurements, so not run here as written) name modules that
    start: each `python -m benchmarks.<module>` answers --help; its --render-only form runs in
    tests/perf/test_perf_helpers.py and run_all's --render-only."""
    readme = (REPO / "benchmarks" / "README.md").read_text(encoding="utf-8")
    commands = set(re.findall(r"python -m (benchmarks(?:\.\w+)+)", readme))
    table = set(re.findall(r"^\| `(\w+)` \|", readme, flags=re.MULTILINE))  # the module table's entry points
    assert "benchmarks.run_all" in commands and {"harness_bench", "lm_eval_crosscheck", "plots"} <= table
    for module in sorted(commands | {f"benchmarks.{name}" for name in table}):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "usage:" in proc.stdout, (module, proc.stderr[-1500:])
