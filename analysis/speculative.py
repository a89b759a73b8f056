"""The speculative-decoding table (results/tables/speculative.*): each serving overlay against plain decoding of
the same model on the same server settings and problems: identical responses, the paired accuracy delta, the
server's draft acceptance rate and generation throughput, per-request tok/s. Records per suite and per
(model, overlay); the table's rows are rendered from the latter.

    python -m analysis        # writes results/tables/speculative.{md,csv,tex}
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from analysis.catalogue import BASELINE_SYSTEM, label, row_label
from analysis.render import Table, fmt_num, fmt_pct
from analysis.summary import RunStats, Summary
from suites.stats import paired_comparison


def speculative_overlays(summary: Summary) -> list[tuple[str, str]]:
    """(model, system) pairs whose runs were served with a speculative overlay (systems.run's serving metrics)."""
    found = set()
    for (model, system, _), st in summary.stats.items():
        overlay = (st.run.serving_metrics or {}).get("overlay") or {}
        if system != BASELINE_SYSTEM and overlay.get("speculative_config"):
            found.add((model, system))
    return sorted(found)


def _serving_groups(stats: list[RunStats]) -> list[dict[str, Any]]:
    """The distinct serving-metric records of some runs (one per systems.run serving group, shared by its logs)."""
    groups: dict[str, dict[str, Any]] = {}
    for st in stats:
        metrics = st.run.serving_metrics
        if metrics:
            groups.setdefault(json.dumps(metrics, sort_keys=True, default=str), metrics)
    return list(groups.values())


def _group_value(groups: list[dict[str, Any]], key: str) -> float | None:
    values = [float(g[key]) for g in groups if g.get(key) is not None]
    return float(np.mean(values)) if values else None


def speculative_row(r: dict[str, Any]) -> list[str]:
    """The table's row of a (model, overlay) pair, from its "all" record."""
    acceptance, gen_base, gen_over = (
        r["acceptance_rate"],
        r["server_generation_tokens_per_s_plain"],
        r["server_generation_tokens_per_s_overlay"],
    )
    med_base, med_over = r["tokens_per_second_median_plain"], r["tokens_per_second_median_overlay"]
    return [
        r["row"],
        ", ".join(label(suite) for suite in r["_suites"]),
        str(r["paired_samples"]),
        f"{r['identical_responses']}/{r['paired_samples']}",
        f"{100 * r['accuracy_delta']:+.1f} [{100 * r['accuracy_delta_ci_low']:+.1f}, {100 * r['accuracy_delta_ci_high']:+.1f}]",
        fmt_pct(acceptance) + "%" if acceptance is not None else "",
        f"{fmt_num(gen_base)} → {fmt_num(gen_over)}" if gen_base or gen_over else "",
        f"{fmt_num(med_base)} → {fmt_num(med_over)}" if med_base is not None or med_over is not None else "",
        ", ".join(f"{t:g}" for t in r["temperatures"]),
    ]


def speculative(summary: Summary) -> Table:
    """Speculative decoding against plain decoding of the same model on the same problems: the overlay must
    change speed, never answers. Identical responses (greedy), paired accuracy delta, the server's draft
    acceptance rate and generation throughput, per-request tok/s."""
    headers = [
        "Row",
        "Suites",
        "Paired samples",
        "Identical responses",
        "Δ accuracy pp [95% CI]",
        "Draft acceptance",
        "Server gen tok/s plain → overlay",
        "Median tok/s per request plain → overlay",
        "Temperature",
    ]
    records: list[dict[str, Any]] = []
    for model, system in speculative_overlays(summary):
        pairs = []
        for suite in summary.suites():
            base, over = summary.get(model, BASELINE_SYSTEM, suite), summary.get(model, system, suite)
            if base is not None and over is not None:
                pairs.append((suite, base, over))
        if not pairs:
            continue
        paired = identical = 0
        outcomes_base: dict[str, list[float]] = {}
        outcomes_over: dict[str, list[float]] = {}
        for suite, base, over in pairs:
            by_key = {(s.problem_id, s.epoch): s for s in base.run.samples}
            suite_paired = suite_identical = 0
            for s in over.run.samples:
                b = by_key.get((s.problem_id, s.epoch))
                if b is None:
                    continue
                suite_paired += 1
                suite_identical += int(b.response_sha is not None and b.response_sha == s.response_sha)
            paired, identical = paired + suite_paired, identical + suite_identical
            outcomes_base.update({f"{suite}/{p}": v for p, v in base.run.outcomes().items()})
            outcomes_over.update({f"{suite}/{p}": v for p, v in over.run.outcomes().items()})
            records.append(
                {
                    "row": row_label(model, system),
                    "scope": suite,
                    "model": model,
                    "system": system,
                    "paired_samples": suite_paired,
                    "identical_responses": suite_identical,
                    "accuracy_plain": base.accuracy.mean,
                    "accuracy_overlay": over.accuracy.mean,
                    "tokens_per_second_median_plain": base.tokens_per_second_median,
                    "tokens_per_second_median_overlay": over.tokens_per_second_median,
                    "logs": f"{base.run.path} ; {over.run.path}",
                }
            )
        comparison = paired_comparison(outcomes_base, outcomes_over)
        base_groups = _serving_groups([b for _, b, _ in pairs])
        over_groups = _serving_groups([o for _, _, o in pairs])
        acceptance = _group_value(over_groups, "acceptance_rate")
        gen_base = _group_value(base_groups, "generation_tokens_per_s")
        gen_over = _group_value(over_groups, "generation_tokens_per_s")
        tps_base = [c.tokens_per_second for _, b, _ in pairs for c in b.run.solver_calls() if c.tokens_per_second]
        tps_over = [c.tokens_per_second for _, _, o in pairs for c in o.run.solver_calls() if c.tokens_per_second]
        med_base = float(np.median(tps_base)) if tps_base else None
        med_over = float(np.median(tps_over)) if tps_over else None
        temperatures = sorted(
            {c.temperature for _, _, o in pairs for c in o.run.solver_calls() if c.temperature is not None}
        )
        records.append(
            {
                "row": row_label(model, system),
                "scope": "all",
                "model": model,
                "system": system,
                "paired_samples": paired,
                "identical_responses": identical,
                "accuracy_delta": comparison.delta,
                "accuracy_delta_ci_low": comparison.ci_low,
                "accuracy_delta_ci_high": comparison.ci_high,
                "accuracy_delta_p": comparison.p_value,
                "acceptance_rate": acceptance,
                "server_generation_tokens_per_s_plain": gen_base,
                "server_generation_tokens_per_s_overlay": gen_over,
                "tokens_per_second_median_plain": med_base,
                "tokens_per_second_median_overlay": med_over,
                "temperatures": temperatures,
                "_suites": [suite for suite, _, _ in pairs],
            }
        )
    notes = [
        "Overlay vs plain decoding of the same model on the same server settings and problems, paired by "
        "(problem, epoch). Identical responses: the graded response texts are equal (sha256); at temperature 0 "
        "speculative decoding must give identical text up to numerical near-ties (systems/speculative.py); under "
        "sampling texts differ by design and only the accuracy delta speaks. Draft acceptance and server gen tok/s: "
        "vLLM /metrics counters over each serving group (systems.run), averaged over groups. Per-request tok/s: "
        "output tokens / reported generation time. The paper gives no acceptance rate or draft model (§3e). "
        "Δ accuracy: paired bootstrap over problems, or ± the exact bound of the share of problems the two could "
        "disagree on where they agree on all (suites/stats.py no_discordance_interval).",
    ]
    rows = [speculative_row(r) for r in records if r["scope"] == "all"]
    if not rows:
        notes.insert(0, "No run with a speculative overlay in results/logs/committed yet.")
    return Table("speculative", "Speculative decoding vs plain decoding", headers, rows, records, notes)
