"""Who plans and judges, with what: the planner's and judge's model and decoding config, and whether their
provider honours the JSON schema the protocol needs.

Models. The planner is the inspect model role `planner` (`--model-role planner=<model config | inspect spec>`),
unbound the model under test; the judge is the role `judge`, unbound the planner.

Decoding (the same rule for both roles). A planner/judge call is sent with an explicit config, merged in this
order (later wins):
  1. ROLE_GENERATE_DEFAULTS: temperature 0.6, top-p 0.95, max_tokens 4096. The authors sent no decoding
     parameters (their vLLM server's defaults, which for their example planner Qwen3-235B-A22B come from its
     generation_config.json: T 0.6, top-p 0.95); 4096 tokens leave room for a thinking planner's reasoning
     before the JSON, and for the JSON itself.
  2. the role model's own `generate` (a bound model config's `generate:`; unbound, the model under test's model
     config `generate:` without the command line's -G/--max-tokens/--temperature, which are the solver's):
     e.g. a server whose context is 2048 tokens sets max_tokens 1024 there.
  3. the system yaml's `roles: {planner: {generate: {...}}, judge: {generate: {...}}}`; the judge starts from
     the planner's block, as its model does.
  4. the call's own block: `plan.triage_generate`, `plan.plan_generate`, `best_of_n.judge_generate`.
  5. for an unbound role (the model under test) `stop_seqs: []` unless set (the suite's `</answer>` stop is
     the solver's); the JSON schema; the plan call's extra body.
Because every field of 1-3 is set on the call, an unbound planner no longer inherits the task's protocol
(T 1.0, top-p 0.95, 65,536 tokens, stop </answer>) while the judge got none of it: both get the above.
systems.run records the result in each log's eval metadata as `system_roles`, and every call's effective
config is on its CallRecord (`generate`).

JSON schema. Triage and judge replies are constrained by `response_schema` (the authors' vLLM guided_json).
A provider that ignores it (inspect's `hf/` does, silently) turns planning and judging into free text that a
small model almost never writes as the JSON: the system would run but measure something else. So:
  * static check: the role model's inspect provider must be in SCHEMA_PROVIDERS, the providers whose inspect
    adapter sends the schema as a decoding constraint (OpenAI-compatible `response_format` json_schema:
    openai, openai-api, vllm, sglang, together, fireworks, groq, openrouter; native: google, anthropic,
    mistral, grok; k2bench: the embedded engine's grammar-constrained decoding). DeepSeek is not listed: it
    sends JSON mode without the schema.
  * runtime check (systems.run, before any sample): one probe request per role model under a schema that an
    unconstrained reply cannot satisfy by chance (`{"k2bench_probe": 7}` asked for with a prompt about
    something else). A listed provider whose server or engine does not constrain fails it.
Either failure refuses the run with one line naming the role, model and fix.

The whole schema. inspect's JSONSchema has no `maxItems` (it drops it), and its OpenAI-compatible adapter
(which `vllm/` uses) strips `maxLength`/`minLength`/`pattern` from the schema it sends. The bounds are what
keep a small model's JSON finite (the H200 grid of 2026-12-03 sent none: 22 of 30 triage replies of one log
ran to max_tokens inside a string or list). For providers in FULL_SCHEMA_PROVIDERS (vLLM, SGLang: xgrammar
or llguidance behind them honour every bound) `call_config` also puts the schema as written, bounds and all,
in the request body's `response_format` (`extra_body`, which the openai client merges over inspect's stripped
copy); the CallRecord keeps the schema that was sent. A system yaml may say
`use_response_schema: false` (in `plan:` and/or `best_of_n:`) to run unconstrained on purpose; the run then
records `"response_schema": false` for that role in `system_roles`, and its calls carry no schema.
"""

from __future__ import annotations

import json
from typing import Any

from inspect_ai.model import GenerateConfig, Model, ResponseSchema

from systems.accounting import decoding_config

ROLE_GENERATE_DEFAULTS: dict[str, Any] = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096}
SYSTEM_ROLES = ("planner", "judge")
SCHEMA_PROVIDERS = frozenset(
    {
        "openai", "openai-api", "vllm", "sglang", "together", "fireworks", "groq", "openrouter",
        "google", "anthropic", "mistral", "grok", "k2bench",
    }
)  # fmt: skip
# OpenAI-compatible servers that take a whole JSON schema (every bound) in response_format, see above
FULL_SCHEMA_PROVIDERS = frozenset({"vllm", "sglang"})
PROBE_KEY = "k2bench_probe"
PROBE_VALUE = 7
PROBE_SCHEMA = ResponseSchema(
    name="k2bench_schema_probe",
    json_schema={
        "type": "object",
        "properties": {PROBE_KEY: {"type": "integer", "enum": [PROBE_VALUE]}},
        "required": [PROBE_KEY],
        "additionalProperties": False,
    },
)
PROBE_PROMPT = "Say hello to the reader in one short sentence."
PROBE_MAX_TOKENS = 48


class SchemaUnsupportedError(ValueError):
    """A planner/judge model cannot honour the JSON schema the system needs (see the module docstring)."""


# --- decoding config -------------------------------------------------------------------------------------


def role_settings(roles: dict[str, Any] | None, role: str) -> dict[str, Any]:
    """A role's `generate` from a system's `roles:` block; the judge starts from the planner's."""
    roles = roles or {}
    planner = dict((roles.get("planner") or {}).get("generate") or {})
    if role == "planner":
        return planner
    return {**planner, **((roles.get("judge") or {}).get("generate") or {})}


def role_base_config(model_config: GenerateConfig, roles: dict[str, Any] | None, role: str) -> GenerateConfig:
    """Defaults, then the role model's own config, then the system's role block (steps 1-3 above)."""
    return (
        GenerateConfig(**ROLE_GENERATE_DEFAULTS)
        .merge(model_config)
        .merge(GenerateConfig(**role_settings(roles, role)))
    )


def call_config(
    model: Model,
    roles: dict[str, Any] | None,
    role: str,
    purpose_generate: dict[str, Any] | None = None,
    schema: ResponseSchema | None = None,
    extra_body: dict[str, Any] | None = None,
    schema_dict: dict[str, Any] | None = None,
) -> GenerateConfig:
    """The explicit config of one planner/judge call (steps 1-5 above).

    `schema_dict`: the schema as written (with the bounds inspect's JSONSchema drops); sent whole in the request
    body to FULL_SCHEMA_PROVIDERS (module docstring, "The whole schema").
    """
    from inspect_ai.model import get_model

    config = role_base_config(model.config, roles, role).merge(GenerateConfig(**(purpose_generate or {})))
    if config.stop_seqs is None and model is get_model():
        # an unbound role is the model under test, which would inherit the suite's stop (</answer>); a bound
        # role inherits nothing, and some providers reject an empty list (inspect's hf/)
        config = config.merge(GenerateConfig(stop_seqs=[]))
    if schema is not None and schema_dict is not None and provider_of(model) in FULL_SCHEMA_PROVIDERS:
        extra_body = {**(extra_body or {}), "response_format": full_response_format(schema.name, schema_dict)}
    if extra_body:
        config = config.merge(GenerateConfig(extra_body=extra_body))
    if schema is not None:
        config = config.merge(GenerateConfig(response_schema=schema))
    return config


def full_response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `response_format` for a JSON schema, the schema as written (no keyword stripped)."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


# --- which roles a system has, with which model -------------------------------------------------------------


def schema_roles(system: Any) -> dict[str, bool]:
    """The roles a system uses -> whether it constrains them with a JSON schema (plan -> planner, best-of-N with
    n > 1 -> judge)."""
    out: dict[str, bool] = {}
    if system.plan is not None:
        out["planner"] = bool(system.plan.get("use_response_schema", True))
    if system.best_of_n is not None and int(system.best_of_n.get("n", 3)) > 1:
        out["judge"] = bool(system.best_of_n.get("use_response_schema", True))
    return out


def role_models(solver_model: Model, bound: dict[str, Model]) -> dict[str, Model]:
    """planner: bound or the model under test; judge: bound or the planner (as the solvers resolve them)."""
    planner = bound.get("planner", solver_model)
    return {"planner": planner, "judge": bound.get("judge", planner)}


def describe_roles(system: Any, solver_model: Model, bound: dict[str, Model]) -> dict[str, Any]:
    """`system_roles` for eval metadata: per role the model, its base decoding config and per-call extras, and
    whether replies are schema-constrained; None for a role the system does not use."""
    models = role_models(solver_model, bound)
    used = schema_roles(system)
    purposes = {
        "planner": {k: (system.plan or {}).get(f"{k}_generate") or {} for k in ("triage", "plan")},
        "judge": {"judge": (system.best_of_n or {}).get("judge_generate") or {}},
    }
    out: dict[str, Any] = {}
    for role in SYSTEM_ROLES:
        if role not in used:
            out[role] = None
            continue
        model = models[role]
        out[role] = {
            "model": str(model),
            "generate": decoding_config(role_base_config(model.config, system.roles, role)),
            "by_purpose": {k: v for k, v in purposes[role].items() if v},
            "response_schema": used[role],
            "source": _source(role, bound),
        }
    return out


def _source(role: str, bound: dict[str, Model]) -> str:
    if role in bound:
        return "bound"
    if role == "judge" and "planner" in bound:
        return "the planner (bound)"
    return "the model under test"


# --- can the provider honour the schema? ------------------------------------------------------------------


def provider_of(model: Model | str) -> str:
    return str(model).split("/", 1)[0]


def static_schema_check(role: str, model: Model) -> None:
    provider = provider_of(model)
    if provider not in SCHEMA_PROVIDERS:
        raise SchemaUnsupportedError(
            f"the {role} model {model} (provider {provider!r}) is not known to honour response_schema (JSON-schema "
            f"constrained decoding; known: {', '.join(sorted(SCHEMA_PROVIDERS))}): bind the {role} to such a "
            f"model (--model-role {role}=...), or set use_response_schema: false in the system yaml to run it "
            f"unconstrained on purpose"
        )


async def probe_schema(model: Model) -> tuple[bool, str]:
    """One request under PROBE_SCHEMA: (honoured, what came back)."""
    config = GenerateConfig(max_tokens=PROBE_MAX_TOKENS, response_schema=PROBE_SCHEMA)
    output = await model.generate(PROBE_PROMPT, config=config)
    reply = output.completion
    try:
        value = json.loads(reply.strip())
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict) and value.get(PROBE_KEY) == PROBE_VALUE and not isinstance(value[PROBE_KEY], bool):
        return True, reply
    cut = f", cut at {output.stop_reason}" if output.stop_reason in ("max_tokens", "model_length") else ""
    return False, f"replied {reply[:80]!r}{cut}"


def check_schema_support(system: Any, models: dict[str, Model], probed: dict[str, tuple[bool, str]]) -> list[str]:
    """Refuse (SchemaUnsupportedError) when a schema-constrained role's model cannot honour the schema.

    `probed` caches probe results by model name across the systems of one run. Returns notes to log: the roles
    that run unconstrained on purpose.
    """
    import anyio

    notes = []
    for role, constrained in schema_roles(system).items():
        model = models[role]
        if not constrained:
            notes.append(f"{system.id}: the {role} ({model}) runs without a JSON schema (use_response_schema: false)")
            continue
        static_schema_check(role, model)
        key = str(model)
        if key not in probed:
            probed[key] = anyio.run(probe_schema, model)
        honoured, detail = probed[key]
        if not honoured:
            raise SchemaUnsupportedError(
                f"the {role} model {model} ignored a JSON schema in a probe request ({detail}): it cannot run "
                f"{system.id}'s {role} as specified; use a model whose server constrains decoding, or set "
                f"use_response_schema: false in the system yaml to run it unconstrained on purpose"
            )
    return notes


def solver_schema_check(role: str, model: Model) -> None:
    """The static check at solve time, for systems applied outside systems.run (e.g. from Python)."""
    static_schema_check(role, model)
