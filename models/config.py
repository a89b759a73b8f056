"""Model configurations: load a models/*.yaml into what inspect's eval()/eval_set() and get_model() take.

A model config is data (DESIGN.md: one YAML per served configuration). Fields:
  id           stable name written into every log's eval metadata (`model_id`)
  model        inspect model spec, e.g. `k2bench/smollm2-135m-instruct`, `vllm/LLM360/K2-Think`,
               `openai-api/cerebras/<model>` (any OpenAI-compatible endpoint)
  model_args   provider args (inspect's -M)
  generate     GenerateConfig fields; for the model under test they override the suite's protocol
               (eval-level config), for a role (planner/judge) they are that model's own defaults
  epochs       default epochs when the runner is not given --epochs
  base_url     endpoint URL (optional); `base_url_env` names an environment variable that overrides it
  api_key_env  name of the environment variable holding the API key; the key itself never goes in a file
               or a log (it is passed to inspect as api_key, which logs do not record)
  serve        how to start the endpoint locally (systems/serve.py), e.g. the vLLM CPU server
  meta         free-form facts (family, params, source) copied into eval metadata
  base         another model config (path relative to this file, or a file stem / id in models/) whose
               fields this one starts from; mappings merge key by key (serve.args too), anything else is
               replaced. A variant names only what differs, e.g. vllm_cpu_smollm2_fp32.yaml

Validated by pydantic (each file as written, then the merged config): unknown keys are refused, types are
checked, `generate` must be valid inspect GenerateConfig fields. Every problem (YAML syntax, unknown or
mistyped field, missing id/model, unset API key variable) is a `ModelConfigError`, one line naming the file
and the field, which inspect and systems.run print without a traceback.

    from models.config import load_model_config
    cfg = load_model_config("models/smollm2.yaml")      # or by id: load_model_config("smollm2-135m-instruct")
    model = cfg.get_model()                              # an inspect Model (api key read from the env here)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from inspect_ai._util.error import PrerequisiteError
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

MODELS_DIR = Path(__file__).resolve().parent


class ModelConfigError(PrerequisiteError, ValueError):
    """A model config file is missing, malformed, or needs an environment variable that is not set.

    An inspect PrerequisiteError: printed as its one-line message, without a traceback."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = message


class _ModelFields(BaseModel):
    """The fields of a model config (module docstring). Unknown keys are refused, types checked by pydantic."""

    # `model_*` field names are ours, not pydantic's protected namespace
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_args: dict[str, Any] = Field(default_factory=dict)
    generate: dict[str, Any] = Field(default_factory=dict)
    epochs: PositiveInt | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    base_url: str | None = None
    base_url_env: str | None = None
    api_key_env: str | None = None
    serve: dict[str, Any] | None = None

    @field_validator("model_args")
    @classmethod
    def _no_key_in_file(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "api_key" in value:
            raise ValueError("never put an API key in a config; name its variable in api_key_env")
        return value

    @field_validator("generate")
    @classmethod
    def _generate_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        from inspect_ai.model import GenerateConfig

        GenerateConfig(**value)  # fail at load, not mid-run, on a misspelt or mistyped field
        return value


class ModelConfigFile(_ModelFields):
    """One YAML file as written: every field optional (a `base:` variant names only what differs)."""

    id: str | None = None
    model: str | None = None
    base: str | None = None


class ModelConfig(_ModelFields):
    """A loaded model config: its base chain merged, `id` and `model` required."""

    id: str
    model: str
    path: str | None = None

    def resolved_base_url(self) -> str | None:
        """`base_url_env`'s value when set (so one config can point at a proxy or a local stand-in), else base_url."""
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env]
        return self.base_url

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ModelConfigError(
                f"model config {self.id}: set the API key in the environment variable {self.api_key_env}"
            )
        return key

    def generate_config(self) -> Any:
        from inspect_ai.model import GenerateConfig

        return GenerateConfig(**self.generate)

    def with_overrides(
        self, model_args: dict[str, Any] | None = None, generate: dict[str, Any] | None = None
    ) -> ModelConfig:
        """A copy with command-line overrides merged in (-M key=value, --max-tokens ...), validated like the file."""
        data = self.model_dump()
        data["model_args"] = {**self.model_args, **(model_args or {})}
        data["generate"] = {**self.generate, **(generate or {})}
        return _validated(ModelConfig, data, f"model config {self.id} with command-line overrides")

    def get_model(self, memoize: bool = True) -> Any:
        """An inspect Model whose own config is the `generate` block (what it uses when bound to a role; as the
        model under test the runner also passes `generate` at eval level, where it overrides the suite)."""
        from inspect_ai.model import get_model

        return get_model(
            self.model,
            config=self.generate_config(),
            base_url=self.resolved_base_url(),
            api_key=self.api_key(),
            memoize=memoize,
            **self.model_args,
        )

    def identity(self) -> dict[str, Any]:
        """What a log records about the model (never the key; the base URL only if it is not a secret)."""
        return {
            "model_id": self.id,
            "model_spec": self.model,
            "model_config_path": self.path,
            "model_args": dict(self.model_args),
            "model_generate": dict(self.generate),
            "model_base_url": self.resolved_base_url(),
            "model_meta": dict(self.meta),
        }


KNOWN_FIELDS = set(ModelConfigFile.model_fields)


def _validated(schema: type[BaseModel], data: dict[str, Any], where: str) -> Any:
    """pydantic validation with its errors as one line: `where: field: problem; ...`."""
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        unknown = sorted(str(e["loc"][0]) for e in err.errors() if e["type"] == "extra_forbidden")
        problems = [
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
            if e["type"] != "extra_forbidden"
        ]
        if unknown:
            problems.insert(0, f"unknown fields {unknown} (known: {sorted(KNOWN_FIELDS)})")
        raise ModelConfigError(f"{where}: " + "; ".join(problems)) from None


def config_path(spec: str | Path) -> Path:
    """A path to a yaml, or a config id / file stem looked up in models/."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ModelConfigError(f"model config {path} does not exist")
        return path
    for candidate in sorted(MODELS_DIR.glob("*.yaml")):
        if candidate.stem == str(spec):
            return candidate
    for candidate in sorted(MODELS_DIR.glob("*.yaml")):
        try:
            data = yaml.safe_load(candidate.read_text()) or {}
        except yaml.YAMLError:  # a broken file is reported when it is loaded by name, not while searching
            continue
        if isinstance(data, dict) and data.get("id") == str(spec):
            return candidate
    raise ModelConfigError(f"no model config {spec!r} (a .yaml path, or a file stem / id in {MODELS_DIR})")


def is_model_config_spec(spec: str) -> bool:
    """True when `spec` names a model config rather than an inspect model spec like `vllm/x`."""
    if spec.endswith((".yaml", ".yml")):
        return True
    try:
        config_path(spec)
    except ModelConfigError:
        return False
    return True


def _merged(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in own.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ModelConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: expected a mapping of config fields, got {type(data).__name__}")
    _validated(ModelConfigFile, data, str(path))  # unknown keys and wrong types, named in this very file
    return data


def _raw_config(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping with its `base:` chain merged in (the file's own fields win)."""
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    local = path.parent / str(base)
    base_path = local if local.is_file() else config_path(str(base))
    if base_path.resolve() in seen + (path.resolve(),):
        raise ModelConfigError(f"{path}: base cycle through {base_path}")
    return _merged(_raw_config(base_path, seen + (path.resolve(),)), data)


def load_model_config(spec: str | Path) -> ModelConfig:
    path = config_path(spec)
    data = _raw_config(path)
    missing = [f for f in ("id", "model") if not data.get(f)]
    if missing:
        raise ModelConfigError(f"{path}: missing {missing}")
    return _validated(ModelConfig, {**data, "path": str(path)}, str(path))
