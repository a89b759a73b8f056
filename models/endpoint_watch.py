"""inspect hooks that make an endpoint's misbehaviour visible: every retry, and protocol fields a provider dropped.

Registered with inspect when the `k2bench` entry point loads (models/_registry.py imports this module; inspect
loads every entry point once per process when it initialises hooks), so they act in `inspect eval` and in
`python -m systems.run` alike. Both speak through the `k2bench.endpoint` logger at WARNING level: inspect shows
the line on the console and records it in the sample's transcript (a logger event in the log).

1. Retries. inspect retries a failed model call with exponential backoff (3 s, 6 s, 12 s, ...) for as long as
   `max_retries` / `timeout` allow, by default forever and without a word on the console. Each retry is now one
   line: model, attempt, HTTP status, exception type, wait. Model configs bound the retries themselves
   (models/*.yaml `generate: {max_retries, timeout, attempt_timeout}`).
2. Protocol check. A provider may silently leave a generation setting out of the request it sends: inspect's
   `openai/` provider drops `temperature` for models it believes always reason (names like `o3-...`, the
   Responses API with reasoning on), yet the log's generate config still says 1.0. For each model call we
   compare the config it ran under with the request body inspect recorded (`ModelEvent.call.request`): a
   setting that is set but absent from the request is reported once per (model, setting). Providers that
   record no request (the in-process embedded model) are not checked.

    from models.endpoint_watch import dropped_settings     # the same check on one ModelEvent, e.g. from a log
"""

from __future__ import annotations

import logging
from typing import Any

from inspect_ai.hooks import Hooks, ModelRetry, SampleEvent, hooks

logger = logging.getLogger("k2bench.endpoint")

# generate-config field -> request keys that carry it (chat completions, Responses API, Anthropic-style names)
PROTOCOL_FIELDS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "stop_seqs": ("stop", "stop_sequences"),
}


def dropped_settings(event: Any) -> dict[str, Any]:
    """{setting: value asked} for protocol settings the call's config set but its recorded request lacks."""
    call = getattr(event, "call", None)
    request = getattr(call, "request", None)
    config = getattr(event, "config", None)
    if not isinstance(request, dict) or config is None:
        return {}
    dropped = {}
    for field, keys in PROTOCOL_FIELDS.items():
        asked = getattr(config, field, None)
        if asked is None or asked == []:
            continue
        if not any(request.get(key) is not None for key in keys):
            dropped[field] = asked
    return dropped


@hooks(name="k2bench_endpoint_watch", description="k2bench: report model-call retries and dropped protocol settings")
class EndpointWatch(Hooks):
    def __init__(self) -> None:
        self._reported: set[tuple[str, str]] = set()

    async def on_model_retry(self, data: ModelRetry) -> None:
        status = f"HTTP {data.status_code} " if data.status_code else ""
        logger.warning(
            "%s: attempt %d failed (%s%s)%s; retrying in %.0f s (bounded by the model config's max_retries/timeout)",
            data.model_name,
            data.attempt,
            status,
            data.exception_type or "error",
            f" in task {data.task_name}" if data.task_name else "",
            data.wait_time,
        )

    async def on_sample_event(self, data: SampleEvent) -> None:
        event = data.event
        if getattr(event, "event", None) != "model" or getattr(event, "pending", False):
            return
        for field, asked in dropped_settings(event).items():
            key = (str(getattr(event, "model", "")), field)
            if key in self._reported:
                continue
            self._reported.add(key)
            logger.warning(
                "protocol: %s was asked %s=%r but the request the provider sent has no %s: the model did not get "
                "it (the log's generate config is not what the model saw). Use a provider that sends it, e.g. "
                "openai-api/<service>/<model> for an OpenAI-compatible server.",
                key[0],
                field,
                asked,
                " / ".join(PROTOCOL_FIELDS[field]),
            )
