"""results/reported.yaml: schema, source tags, every number traceable to k2think-facts.md, and the arithmetic
that ties cells together (micro-averages, Table 1 = Table 2's full-system row, safety macro-averages).

The facts file is ../shared/reference/k2think-facts.md, found beside $K2BENCH_DATA_DIR (CI sets it to
../shared/data); the test fails, not skips, when that variable is unset.

    K2BENCH_DATA_DIR=../shared/data pytest tests/analysis/test_reported.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from analysis.load import load_reported

REPO = Path(__file__).resolve().parents[2]
REPORTED = REPO / "results" / "reported.yaml"
MATH4 = ("aime2024", "aime2025", "hmmt_feb2025", "omni_math_hard")
GROUPS = {"table1", "table2", "planning_length", "speed", "sft_only", "rl_ablation", "safety"}


@pytest.fixture(scope="module")
def reported():
    return load_reported(REPORTED)


@pytest.fixture(scope="module")
def facts() -> str:
    data_dir = os.environ.get("K2BENCH_DATA_DIR")
    assert data_dir, "K2BENCH_DATA_DIR is unset: point it at the shared data dir (../shared/data)"
    path = Path(data_dir).resolve().parent / "reference" / "k2think-facts.md"
    assert path.is_file(), f"{path} not found (expected beside $K2BENCH_DATA_DIR)"
    return path.read_text(encoding="utf-8")


def test_schema_and_groups(reported):
    assert {c.group for c in reported.cells} == GROUPS
    for cell in reported.cells:
        assert cell.id.split(".")[0].removesuffix("_hist") == cell.group, cell.id
        assert cell.unit in {"%", "fraction", "tok/s", "s", "x"}, cell.id
        if cell.unit == "%" and cell.group in ("table1", "table2", "sft_only"):
            assert 0 <= cell.value <= 100, cell.id


def test_source_tags_are_the_facts_tags(reported, facts):
    facts_tags = {
        t
        for pair in re.findall(r"^\| \[([A-Z0-9-]+)\](?: / \[([A-Z0-9-]+)\])? \|", facts, flags=re.M)
        for t in pair
        if t
    }
    assert len(facts_tags) >= 14, facts_tags
    assert set(reported.sources) == facts_tags | {"derived"}
    used = {s for c in reported.cells for s in c.sources}
    assert used <= set(reported.sources)
    for cell in reported.cells:
        secondary_only = all(reported.sources[s]["reliability"] == "secondary" for s in cell.sources)
        if secondary_only:
            assert cell.secondary, f"{cell.id} cites only secondary sources but is not marked secondary"


def _renderings(value: float) -> set[str]:
    out = {f"{value:g}", f"{value:.2f}", f"{value:.1f}", f"{value:.3f}", f"{value:,.0f}"}
    if value.is_integer():
        out.add(str(int(value)))
    return out | {r.lstrip("-") for r in out}


def test_every_number_appears_in_the_facts(reported, facts):
    # each value must be written in k2think-facts.md (2,000 as "2,000"; 0.79 as "≈0.79"; -6.7% as "−6.7%")
    text = facts.replace("−", "-")
    for cell in reported.cells:
        value = (
            cell.value / 100 if cell.group in ("rl_ablation",) or cell.id.startswith("sft_only.fig4") else cell.value
        )
        found = any(re.search(rf"(?<![\d.]){re.escape(r)}(?![\d])", text) for r in _renderings(value))
        assert found, f"{cell.id}: {cell.value} not found in k2think-facts.md"


def test_micro_average_counts(reported):
    assert reported.micro_average == {"aime2024": 30, "aime2025": 30, "hmmt_feb2025": 30, "omni_math_hard": 173}
    assert sum(reported.micro_average.values()) == 263


def _micro(reported, group, system):
    w = reported.micro_average
    cells = {b: reported.one(group, model="k2-think", system=system, benchmark=b).value for b in MATH4}
    return sum(w[b] * cells[b] for b in MATH4) / sum(w.values())


def test_micro_average_arithmetic_reproduces_67_99(reported):
    assert round(_micro(reported, "table1", "k2_full"), 2) == 67.99
    assert reported.one("table1", model="k2-think", system="k2_full", benchmark="math_micro_avg").value == 67.99


@pytest.mark.parametrize(
    ("system", "expected"), [("plain", 63.61), ("plan", 65.95), ("best_of_n", 66.85), ("k2_full", 67.99)]
)
def test_table2_micro_averages(reported, system, expected):
    assert round(_micro(reported, "table2", system), 2) == expected
    assert reported.one("table2", system=system, benchmark="math_micro_avg").value == expected


def test_table1_k2think_is_table2_full_system(reported):
    for bench in MATH4 + ("math_micro_avg",):
        t1 = reported.one("table1", model="k2-think", system="k2_full", benchmark=bench)
        t2 = reported.one("table2", system="k2_full", benchmark=bench)
        assert t1.value == t2.value, bench


def test_table2_deltas_match_the_facts(reported):
    # k2think-facts.md §4: full system vs checkpoint +4.57, +3.52, +7.29, +3.99
    deltas = [
        round(
            reported.one("table2", system="k2_full", benchmark=b).value
            - reported.one("table2", system="plain", benchmark=b).value,
            2,
        )
        for b in MATH4
    ]
    assert deltas == [4.57, 3.52, 7.29, 3.99]


@pytest.mark.parametrize("row", ["current card", "earlier card"])
def test_safety_macro_is_mean_of_aspects(reported, row):
    aspects = [c.value for c in reported.find("safety", row=row) if c.benchmark != "safety4_macro"]
    macro = reported.one("safety", row=row, benchmark="safety4_macro").value
    assert len(aspects) == 4
    assert abs(sum(aspects) / 4 - macro) <= 0.005


def test_speed_cells_are_consistent(reported):
    cerebras = reported.one("speed", row="Cerebras WSE (K2-Think deployment)", benchmark="tokens_per_second").value
    gpu = reported.one("speed", row="typical cloud setup (H100/H200)", benchmark="tokens_per_second").value
    assert cerebras / gpu == 10
    for row, tps in (("Cerebras WSE (K2-Think deployment)", cerebras), ("typical cloud setup (H100/H200)", gpu)):
        latency = reported.one("speed", row=row, benchmark="latency_32k_tokens").value
        assert latency == pytest.approx(32_000 / tps, rel=0.05)


def test_protocol_matches_the_suites(reported):
    from suites import _protocol

    assert reported.protocol["temperature"]["value"] == _protocol.PAPER_TEMPERATURE
    assert reported.protocol["top_p"]["value"] == _protocol.PAPER_TOP_P
    assert reported.protocol["max_tokens"]["value"] == _protocol.PAPER_MAX_TOKENS
    assert reported.protocol["epochs"]["value"] == _protocol.PAPER_EPOCHS
    assert [reported.protocol["stop"]["value"]] == _protocol.PAPER_STOP


def test_schema_errors_fail_loudly(tmp_path):
    text = REPORTED.read_text(encoding="utf-8")
    bad = tmp_path / "reported.yaml"
    bad.write_text(text.replace("sources: [HF-CARD, T2-IMG, MTP]}", "sources: [NOPE]}", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown sources"):
        load_reported(bad)
    bad.write_text(text.replace("value: 90.83", "value: ninety", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="not a number"):
        load_reported(bad)


REVERSE_SECTIONS = ("### 1.1", "### 1.2", "### 1.3", "## 4.", "## 5.")


def _section(facts: str, heading: str) -> str:
    start = facts.index(heading)
    rest = facts[start + len(heading) :]
    ends = [rest.find(h) for h in ("\n## ", "\n### ") if rest.find(h) >= 0]
    return rest[: min(ends)] if ends else rest


def test_every_table_number_of_the_facts_is_reported(reported, facts):
    # the other direction: each decimal number in the result tables of k2think-facts.md (§1.1-1.3, §4, §5) is a cell
    values = {round(c.value, 3) for c in reported.cells} | {round(-c.value, 3) for c in reported.cells}
    missing = []
    for heading in REVERSE_SECTIONS:
        for line in _section(facts, heading).replace("−", "-").splitlines():
            if not line.startswith("|"):
                continue
            for number in re.findall(r"(?<![\w.])-?\d+\.\d+(?![\w.])", line):
                if round(float(number), 3) not in values:
                    missing.append(f"{heading}: {number} in {line[:60]!r}")
    assert not missing, "\n".join(missing)
