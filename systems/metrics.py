"""Server metrics of an OpenAI-compatible vLLM server: scrape /metrics, read its counters, take their deltas.

A leaf: it imports nothing from systems/, so systems/serve.py (starts servers), systems/compose.py (the
`serving_counters` solver around each sample), systems/run.py and systems/speculative.py (eval-level counters)
all read server metrics from here without importing each other. The Prometheus text format is parsed by
prometheus-client's own parser (`prometheus_client.parser.text_string_to_metric_families`), the reference
implementation of the exposition format vLLM writes with the same library; each sample's value is summed over
its label sets (per engine, per model name), so `vllm:generation_tokens_total` is the server's total.

    python -m systems.serve --metrics http://127.0.0.1:8011     # a running server's serving counters
"""

from __future__ import annotations

import urllib.request

# Prometheus counters of vLLM's /metrics that systems read (summed over label sets)
SPEC_COUNTERS = {
    "drafts": "vllm:spec_decode_num_drafts_total",
    "draft_tokens": "vllm:spec_decode_num_draft_tokens_total",
    "accepted_tokens": "vllm:spec_decode_num_accepted_tokens_total",
}
TOKEN_COUNTERS = {"prompt_tokens": "vllm:prompt_tokens_total", "generation_tokens": "vllm:generation_tokens_total"}
SERVING_COUNTERS = {**SPEC_COUNTERS, **TOKEN_COUNTERS}
SCRAPE_TIMEOUT_S = 10


def root_url_of(base_url: str) -> str:
    """http://host:port/v1 -> http://host:port (where vLLM serves /metrics)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus exposition text -> {sample name: value summed over its label sets}.

    Sample names keep their suffixes (`_total`, `_sum`, `_count`, `_bucket`); summing `_bucket` samples over
    their `le` labels means nothing, so read histograms through `_sum` / `_count`."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


def scrape_metrics(root_url: str, timeout: float = SCRAPE_TIMEOUT_S) -> dict[str, float]:
    """A server's /metrics, parsed (`name` -> value summed over label sets)."""
    with urllib.request.urlopen(f"{root_url.rstrip('/')}/metrics", timeout=timeout) as response:
        return parse_metrics(response.read().decode())


def serving_counters(root_url: str) -> dict[str, float]:
    """The speculative-decoding and token counters systems record (0 where the server has none)."""
    raw = scrape_metrics(root_url)
    return {key: raw.get(name, 0.0) for key, name in SERVING_COUNTERS.items()}


def counter_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    """Counter differences plus the derived acceptance rate and mean accepted tokens per draft."""
    delta: dict[str, float | None] = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
    drafted, accepted, drafts = (
        delta.get("draft_tokens") or 0.0,
        delta.get("accepted_tokens") or 0.0,
        delta.get("drafts") or 0.0,
    )
    delta["acceptance_rate"] = round(accepted / drafted, 4) if drafted else None
    delta["mean_accepted_per_draft"] = round(accepted / drafts, 4) if drafts else None
    return delta
