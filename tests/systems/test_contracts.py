"""Fast tests of the contracts systems/ keeps with its users: the health record, the planner/judge decoding rule,
the schema-provider check, graders by name, and system yaml validation.

    pytest tests/systems/test_contracts.py

No model generates here (the end-to-end checks are in test_systems_embedded.py); graders are the real ones.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.model import GenerateConfig

from systems.compose import SystemConfigError, load_system
from systems.health import HEALTH_KEYS, PARSED_STATUSES, degenerate_reasons, health, is_parsed
from systems.roles import (
    ROLE_GENERATE_DEFAULTS,
    SCHEMA_PROVIDERS,
    SchemaUnsupportedError,
    provider_of,
    role_base_config,
    role_settings,
    schema_roles,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# --- health -----------------------------------------------------------------------------------------------


def test_parse_classification_is_the_documented_one() -> None:
    # the contract analysis copies (systems/health.py docstring): do not change without telling analysis/
    assert PARSED_STATUSES["triage"] == {"ok", "triage_json_extracted", "topics_truncated", "not_hard"}
    assert PARSED_STATUSES["judge"] == {"ok", "judge_json_extracted"}
    assert HEALTH_KEYS == (
        "triage_calls", "triage_parsed", "plan_branches", "plans_inserted",
        "judge_calls", "judge_parsed", "judge_decisive", "winner", "n",
    )  # fmt: skip
    assert is_parsed("triage", "triage_error") is False and is_parsed("judge", "judge_error") is False
    assert is_parsed("candidate", "ok") is None and is_parsed("generate", "ok") is None
    assert is_parsed("plan", "ok") is True and is_parsed("plan", "no_plan_tags") is False


def test_health_counts_parsed_plans_and_decisive_verdicts() -> None:
    calls = [
        {"purpose": "triage", "status": "ok"},
        {"purpose": "triage", "status": "triage_error"},
        {"purpose": "triage", "status": "topics_truncated"},
        {"purpose": "plan", "status": "no_plan_tags"},
        {"purpose": "candidate", "status": "ok"},
        {"purpose": "judge", "status": "ok"},
        {"purpose": "judge", "status": "judge_json_extracted"},
        {"purpose": "judge", "status": "judge_error"},
    ]
    plans = [
        {"search_list": ["a"], "ideas_inserted": True},
        {"search_list": None, "ideas_inserted": False},  # unusable triage: no plan asked for
        {"search_list": ["b"], "ideas_inserted": False},  # plan asked for, empty plan: not inserted
    ]
    candidates = [{"judged_text": "x"}, {"judged_text": "y"}, {"judged_text": "x"}, {"judged_text": "z"}]
    comparisons = [
        {"best_so_far": 0, "challenger": 1, "status": "ok"},  # parsed, texts differ: decisive
        {"best_so_far": 0, "challenger": 2, "status": "judge_json_extracted"},  # identical texts: not decisive
        {"best_so_far": 0, "challenger": 3, "status": "judge_error"},  # unparsed: not decisive
    ]
    got = health(calls, plans, candidates, comparisons, winner=0)
    assert got == {
        "triage_calls": 3, "triage_parsed": 2, "plan_branches": 2, "plans_inserted": 1,
        "judge_calls": 3, "judge_parsed": 2, "judge_decisive": 1, "winner": 0, "n": 4,
    }  # fmt: skip
    plain = health([{"purpose": "generate", "status": "ok"}])
    assert plain == {**{k: 0 for k in HEALTH_KEYS}, "winner": None, "n": None}
    assert degenerate_reasons({"triage_calls": 10, "triage_parsed": 9, "judge_calls": 4, "judge_parsed": 3}) == [
        "judge parsed 75% < 90%"
    ]
    assert degenerate_reasons({"triage_calls": 0, "triage_parsed": 0, "judge_calls": 0, "judge_parsed": 0}) == []


# --- planner / judge decoding ------------------------------------------------------------------------------


def test_role_config_defaults_then_model_then_system() -> None:
    # unset anywhere: the documented defaults, the same for both roles
    for role in ("planner", "judge"):
        base = role_base_config(GenerateConfig(), None, role)
        assert base.model_dump(exclude_none=True) == ROLE_GENERATE_DEFAULTS
    # the role model's own config beats the defaults (e.g. a 2048-token server asks for 1024)
    assert role_base_config(GenerateConfig(max_tokens=1024), None, "judge").max_tokens == 1024
    # the system's roles block beats the model's; the judge starts from the planner's block
    roles = {"planner": {"generate": {"temperature": 0.2, "max_tokens": 512}}, "judge": {"generate": {"temperature": 0}}}
    planner = role_base_config(GenerateConfig(max_tokens=1024), roles, "planner")
    judge = role_base_config(GenerateConfig(max_tokens=1024), roles, "judge")
    assert (planner.temperature, planner.max_tokens, planner.top_p) == (0.2, 512, 0.95)
    assert (judge.temperature, judge.max_tokens, judge.top_p) == (0, 512, 0.95)
    assert role_settings({"judge": {"generate": {"top_p": 1.0}}}, "planner") == {}


def test_system_roles_are_recorded_with_their_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_ai.model import get_model

    from models.config import load_model_config
    from systems.roles import describe_roles

    monkeypatch.setenv("CEREBRAS_API_KEY", "k")  # a real openai-api provider object; nothing is sent
    solver = load_model_config("models/cerebras.yaml").get_model()
    planner = get_model("openai-api/other/planner-x", base_url="http://127.0.0.1:1/v1", api_key="k",
                        config=GenerateConfig(max_tokens=1024))  # fmt: skip
    full = load_system("k2_full")
    roles = describe_roles(full, solver, {"planner": planner})
    assert roles["planner"]["model"] == roles["judge"]["model"] == "openai-api/other/planner-x"
    assert roles["planner"]["generate"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 1024}
    assert roles["judge"]["source"] == "the planner (bound)" and roles["planner"]["response_schema"] is True
    unbound = describe_roles(load_system("best_of_n"), solver, {})
    assert unbound["planner"] is None and unbound["judge"]["model"] == "openai-api/cerebras/k2-think"
    assert unbound["judge"]["generate"] == ROLE_GENERATE_DEFAULTS  # not the suite's protocol (T 1.0, 65,536)
    assert describe_roles(load_system("plain"), solver, {}) == {"planner": None, "judge": None}


def test_schema_roles_and_provider_allow_list() -> None:
    assert schema_roles(load_system("plain")) == {}
    assert schema_roles(load_system("plan")) == {"planner": True}
    assert schema_roles(load_system("k2_full")) == {"planner": True, "judge": True}
    assert provider_of("hf//root/models/smollm2") == "hf" and "hf" not in SCHEMA_PROVIDERS
    assert {"openai-api", "vllm", "k2bench"} <= SCHEMA_PROVIDERS and "deepseek" not in SCHEMA_PROVIDERS
    assert issubclass(SchemaUnsupportedError, ValueError)  # systems.run prints it as one line


# --- graders by name --------------------------------------------------------------------------------------

SUITE_GRADERS = {
    "aime2024": "math", "aime2025": "math", "hmmt_feb2025": "math_set", "math500": "math",
    "omni_math_hard": "math", "gpqa_diamond": "choice", "livecodebench_v5": "code",
}  # fmt: skip
ANSWER_GRADED = {"math", "math_set", "choice"}


def test_every_suite_declares_a_registered_grader() -> None:
    from suites.grading.registry import GRADERS

    declared = {}
    for path in sorted((REPO_ROOT / "suites").glob("*/*.py")):
        for name in re.findall(r'(?:"grader":|grader=)\s*"(\w+)"', path.read_text()):
            declared[path.parent.name] = name
    assert declared == {"aime": "math", "math500": "math", "omni_math_hard": "math", "hmmt_feb2025": "math_set",
                        "gpqa_diamond": "choice", "livecodebench_v5": "code", "scicode": "scicode_steps",
                        "hle": "rule_or_judge"}  # fmt: skip
    assert set(declared.values()) <= set(GRADERS)
    assert {name for name, g in GRADERS.items() if g.answer_graded} == {"math", "math_set", "math_literal", "choice"}


def test_suite_tasks_carry_their_grader(data_dir: Path) -> None:
    from systems.run import suite_tasks

    for name, grader in SUITE_GRADERS.items():
        (factory,) = suite_tasks(name)
        task = factory(epochs=1)
        assert task.metadata["grader"] == grader, name


def test_task_files_are_suites_too(tmp_path: Path) -> None:
    """`--suites training/heldout_task.py` (the positive control's task, outside suites/) takes the file's @task
    functions with their declared grader; a file without a task, or outside the repository, is one clear error."""
    from systems.run import RunnerError, suite_tasks

    (factory,) = suite_tasks("training/heldout_task.py")
    task = factory(epochs=1)
    assert factory.__name__ == "arith_heldout" and task.metadata["grader"] == "math" and len(task.dataset) == 200
    with pytest.raises(RunnerError, match="defines no @task"):
        suite_tasks("training/data.py")
    outside = tmp_path / "x.py"
    outside.write_text("")
    with pytest.raises(RunnerError, match="outside the repository"):
        suite_tasks(str(outside))
    with pytest.raises(RunnerError, match="no task file"):
        suite_tasks("training/missing.py")


def test_registry_keys_match_the_scorers() -> None:
    from suites.grading import registry, scorers

    assert registry.ANSWER_KIND_KEY == scorers.ANSWER_KIND_KEY
    assert registry.CHOICE_SHUFFLE_KEY == scorers.CHOICE_SHUFFLE_KEY


def test_graders_by_name_grade_and_vote() -> None:
    from suites.grading.registry import GraderUnavailable, get_grader
    from suites.grading.voting import grade_candidates, majority
    from systems.best_of_n import Candidate

    assert get_grader("math")("so \\boxed{07}", "7").status == "correct"
    hmmt_set = {"answer_kind": "set"}
    two_boxes = "so \\boxed{3}, \\boxed{1}"  # a set answer boxed value by value: one list for a set problem
    assert get_grader("math_set")(two_boxes, "1, 3", metadata=hmmt_set).status == "correct"
    assert get_grader("math_set")(two_boxes, "1, 3").status == "incorrect"  # an expression problem: the last box
    shown = {"choice_shuffle": {"gold_letter": "C", "order": [2, 0, 3, 1], "seed": 1, "epoch": 2}}
    assert get_grader("choice")("Answer: C", "A", metadata=shown).status == "correct"  # the order shown wins
    assert get_grader("choice")("Answer: E", json.dumps({"answer": "E", "n_choices": 5})).status == "correct"
    with pytest.raises(GraderUnavailable, match="not a pure function"):
        get_grader("rule_or_judge")("x", "y")
    with pytest.raises(GraderUnavailable, match="no grader 'maths'"):
        get_grader("maths")

    def cands(*texts: str) -> list[Candidate]:
        return [Candidate(branch=i, completion=t, stop_reason="stop", judged_text=t, prompt="q") for i, t in
                enumerate(texts)]  # fmt: skip

    letters = grade_candidates(cands("Answer: B", "Answer: C", "Answer: C"), "A", "choice", shown)
    assert [v.status for v in letters] == ["incorrect", "correct", "correct"]
    assert majority(letters, "choice", shown)[0] == 1.0
    sets = grade_candidates(cands("\\boxed{1, 3}", "\\boxed{3,1}", "\\boxed{2}"), "1, 3", "math_set", hmmt_set)
    score, detail = majority(sets, "math_set", hmmt_set)
    assert score == 1.0 and detail["majority"] == [0, 1]


# --- system yaml validation (pydantic) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\nbest_of_n: {n: 3, judge: 1}\n", r"bad\.yaml: best_of_n\.judge: Extra inputs are not permitted"),
        ("id: x\nbogus: 1\n", r"bad\.yaml: bogus: Extra inputs are not permitted"),
        ("id: x\nbest_of_n: {n: three}\n", r"bad\.yaml: best_of_n\.n: Input should be a valid integer.*'three'"),
        ("id: x\nbest_of_n: {n: 0}\n", r"best_of_n\.n: Input should be greater than 0"),
        ("id: x\nplan: {use_response_schema: maybe}\n", r"plan\.use_response_schema: Input should be a valid boolean"),
        ("id: x\nplan: {triage_generate: {temprature: 1}}\n", r"plan\.triage_generate: .*temprature"),
        ("id: x\nroles: {planner: {generate: {top_p: high}}}\n", r"roles\.planner\.generate\.top_p: Input should be a valid number.*'high'"),
        ("id: x\nroles: {critic: {}}\n", r"roles\.critic: Extra inputs"),
        ("description: no id\n", r"bad\.yaml: id: Field required"),
        ("id: x\nplan: [1, 2\n", r"bad\.yaml: line \d+, column \d+ not valid YAML"),
    ],
)
def test_bad_system_yaml_is_one_line_naming_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SystemConfigError, match=message) as err:
        load_system(str(bad))
    assert "\n" not in str(err.value)


def test_base_and_plus_composition_keep_working(tmp_path: Path) -> None:
    (tmp_path / "judge_cold.yaml").write_text(
        "id: judge_cold\nbase: k2_full\nbest_of_n: {use_response_schema: false}\n"
        "roles: {judge: {generate: {temperature: 0.0}}}\n"
    )
    (tmp_path / "planner_short.yaml").write_text("id: planner_short\nroles: {planner: {generate: {max_tokens: 256}}}\n")
    system = load_system(f"{tmp_path / 'judge_cold.yaml'}+{tmp_path / 'planner_short.yaml'}")
    full = load_system("k2_full")
    assert system.id == "judge_cold+planner_short" and system.plan == full.plan
    assert system.best_of_n == {**full.best_of_n, "use_response_schema": False}  # key by key over the base
    assert system.roles == {"judge": {"generate": {"temperature": 0.0}}, "planner": {"generate": {"max_tokens": 256}}}
    assert role_settings(system.roles, "judge") == {"max_tokens": 256, "temperature": 0.0}
    assert schema_roles(system) == {"planner": True, "judge": False}
    spec = load_system("speculative")  # base: plain + serving, defaults not written back into the file's keys
    assert spec.plan is None and spec.serving == {
        "speculative_config": {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4,
                               "prompt_lookup_min": 2},
        "refuse_sampling_on": ["cpu"],
    }  # fmt: skip


def test_runner_reports_a_bad_system_yaml_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nbest_of_n: {n: three}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "systems.run", "--suites", "aime2025", "--systems", str(bad), "--model",
         "models/smollm2.yaml", "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"systems.run: SystemConfigError: {bad}: best_of_n.n: Input should be a valid integer (got 'three')"
    ]


# --- the JSON schemas close before max_tokens ----------------------------------------------------------------


def test_schemas_bound_their_free_text_and_compile_in_xgrammar() -> None:
    """The discarded/unused free text (triage plan, topics, judge explanation) is bounded, so a constrained model
    cannot ramble past max_tokens inside a string; xgrammar (vLLM's backend and the embedded engine's) compiles
    the schemas and enforces the bounds. The bounds survive inspect's ResponseSchema (which drops keys its
    JSONSchema does not know, e.g. maxItems: hence no list bound)."""
    import xgrammar as xgr
    from inspect_ai.model import ResponseSchema
    from transformers import AutoTokenizer

    from models.embedded import prepare_smollm2
    from systems.best_of_n import EXPLANATION_MAX_CHARS, JUDGE_SCHEMA
    from systems.plan import TOPIC_MAX_CHARS, TRIAGE_PLAN_MAX_CHARS, TRIAGE_SCHEMA

    for schema in (TRIAGE_SCHEMA, JUDGE_SCHEMA):  # what a provider is sent is what we wrote
        assert ResponseSchema(name="s", json_schema=schema).json_schema.model_dump(exclude_none=True) == schema

    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(prepare_smollm2())))

    def accepts(schema: dict, text: str) -> bool:
        return xgr.GrammarMatcher(compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)).accept_string(
            text
        )

    def triage(plan: str, topics: list[str]) -> str:
        return json.dumps({"is_hard_problem": True, "plan": plan, "search_list": topics})

    assert accepts(TRIAGE_SCHEMA, triage("p" * TRIAGE_PLAN_MAX_CHARS, ["t" * TOPIC_MAX_CHARS] * 7))
    assert not accepts(TRIAGE_SCHEMA, triage("p" * (TRIAGE_PLAN_MAX_CHARS + 1), []))
    assert not accepts(TRIAGE_SCHEMA, triage("p", ["t" * (TOPIC_MAX_CHARS + 1)]))
    assert accepts(JUDGE_SCHEMA, json.dumps({"better_index": 1, "explanation": "e" * EXPLANATION_MAX_CHARS}))
    assert not accepts(JUDGE_SCHEMA, json.dumps({"better_index": 1, "explanation": "e" * (EXPLANATION_MAX_CHARS + 1)}))
    assert not accepts(JUDGE_SCHEMA, json.dumps({"better_index": 2, "explanation": ""}))
    # what vLLM/SGLang are sent (systems/roles.py FULL_SCHEMA_PROVIDERS) also bounds the list
    from systems.plan import MAX_SEARCH_TOPICS, TRIAGE_SCHEMA_BOUNDED

    assert accepts(TRIAGE_SCHEMA_BOUNDED, triage("p", ["t"] * MAX_SEARCH_TOPICS))
    assert not accepts(TRIAGE_SCHEMA_BOUNDED, triage("p", ["t"] * (MAX_SEARCH_TOPICS + 1)))


def test_whole_schema_reaches_vllm_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """inspect's vllm/ adapter strips maxLength (and its JSONSchema drops maxItems) from the schema it sends: the
    H200 grid's triage/judge strings and lists ran to max_tokens. call_config puts the whole schema in the body
    (extra_body, merged over inspect's copy by the openai client) for vLLM/SGLang, and only for them."""
    from inspect_ai.model import ResponseSchema, get_model
    from inspect_ai.model._openai import openai_completion_params

    from systems.best_of_n import JUDGE_SCHEMA
    from systems.plan import TRIAGE_SCHEMA, TRIAGE_SCHEMA_BOUNDED
    from systems.roles import FULL_SCHEMA_PROVIDERS, call_config

    monkeypatch.setenv("VLLM_API_KEY", "k")
    monkeypatch.setenv("INSPECT_EVAL_MODEL", "mockllm/model")  # call_config asks whether the role is the model under test
    server = get_model("vllm/smollm2-135m-instruct", base_url="http://127.0.0.1:1/v1")  # HTTP only; nothing sent
    assert "vllm" in FULL_SCHEMA_PROVIDERS
    for name, schema, whole in (("search_list", TRIAGE_SCHEMA, TRIAGE_SCHEMA_BOUNDED), ("j", JUDGE_SCHEMA, JUDGE_SCHEMA)):
        config = call_config(server, None, "planner", None, schema=ResponseSchema(name=name, json_schema=schema),
                             schema_dict=whole)  # fmt: skip
        params = openai_completion_params("m", config, tools=False, schema_exclude=server.api.schema_exclude_fields)
        assert "maxLength" not in json.dumps(params["response_format"])  # inspect's copy: the bounds are gone
        body = {**params, **params["extra_body"]}  # what the openai client sends
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": name, "schema": whole}}
    monkeypatch.setenv("CEREBRAS_API_KEY", "k")
    other = get_model("openai-api/cerebras/k2-think", base_url="http://127.0.0.1:1/v1")
    config = call_config(other, None, "judge", None, schema=ResponseSchema(name="j", json_schema=JUDGE_SCHEMA),
                         schema_dict=JUDGE_SCHEMA)  # fmt: skip
    assert "response_format" not in (config.extra_body or {})  # other endpoints: inspect's schema, as before


def test_a_sample_that_lost_its_call_records_is_named(tmp_path: Path) -> None:
    """A finished sample with an empty store (seen after a resumed eval_set run) is named, so systems.run neither
    passes nor commits its log; a committed log has none."""
    from inspect_ai.log import read_eval_log, write_eval_log

    from systems.health import samples_without_records

    source = sorted(Path("results/logs/committed/smollm2-135m-sft-coldstart/positive_control").glob("*best-of-n*.eval"))[0]
    log = read_eval_log(str(source))
    assert samples_without_records(log) == []
    victim = log.samples[3]
    victim.store = {}
    write_eval_log(log, str(tmp_path / source.name))
    damaged = read_eval_log(str(tmp_path / source.name), header_only=True)  # read back from disk by the check
    assert samples_without_records(damaged) == [f"{victim.id}:{victim.epoch}"]
