"""Fast tests of systems/ logic that needs no model: reply parsing and fallbacks, prompts, configs, statistics.

pytest tests/systems/test_parsing.py
"""

from __future__ import annotations

import json
import random

import pytest

from models.config import ModelConfigError, load_model_config
from suites.grading.voting import majority
from systems.best_of_n import (
    JUDGE_KEY,
    JUDGE_SCHEMA,
    JUDGE_SYSTEM_PROMPT,
    NO_ANSWER_PREFIX,
    judged_text,
    parse_judge,
)
from systems.compose import KnownBrokenError, build_solver, check_serving, load_system
from systems.metrics import counter_delta, parse_metrics
from systems.plan import PLAN_PROMPT, SOLVER_PROMPT, TRIAGE_PROMPT, parse_plan, parse_triage
from systems.speculative import distinct_2, permutation_p

# --- judge replies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "index"),
    [
        ('{"better_index": 1, "explanation": "b"}', "ok", 1),
        ('{"better_index": 0, "explanation": "a"}', "ok", 0),
        ('Sure: ```json\n{"better_index": 1, "explanation": "b"}\n```', "judge_json_extracted", 1),
        ("Response 1 is better.", "judge_error", None),  # not JSON
        ('{"index": 1, "explanation": "x"}', "judge_error", None),  # the authors' parser key: not what we ask
        ('{"better_index": 2, "explanation": "x"}', "judge_error", None),  # wrong index
        ('{"better_index": true, "explanation": "x"}', "judge_error", None),  # a bool is not an index
        ('{"better_index": "1", "explanation": "x"}', "judge_error", None),
        ("[1]", "judge_error", None),
        ("", "judge_error", None),
    ],
)
def test_parse_judge(reply: str, status: str, index: int | None) -> None:
    got_status, got_index, detail = parse_judge(reply)
    assert (got_status, got_index) == (status, index)
    if status != "ok":
        assert detail  # every non-ok parse says why


def test_judge_key_mismatch_is_fixed() -> None:
    # the authors' prompt asks for 'better_index' but their schema/parser read 'index': all three agree here
    assert "'better_index'" in JUDGE_SYSTEM_PROMPT
    assert JUDGE_KEY == "better_index"
    assert JUDGE_SCHEMA["required"][0] == "better_index" and "index" not in JUDGE_SCHEMA["properties"]


def test_judged_text_sees_only_the_answer_part() -> None:
    assert judged_text("<think>long reasoning 42</think> The answer is \\boxed{7}.") == " The answer is \\boxed{7}."
    assert judged_text("<think>a</think>b</think>c") == "c"  # after the last </think>
    tail = judged_text("x" * 5000 + "END")
    assert tail.startswith(NO_ANSWER_PREFIX) and tail.endswith("END") and len(tail) == len(NO_ANSWER_PREFIX) + 2000


# --- planner replies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "hard", "topics"),
    [
        ('{"is_hard_problem": true, "plan": "p", "search_list": ["a", "b"]}', "ok", True, ["a", "b"]),
        ('{"is_hard_problem": false, "plan": "p", "search_list": []}', "not_hard", False, None),
        (
            'Here: {"is_hard_problem": true, "plan": "p", "search_list": ["a"]} done',
            "triage_json_extracted",
            True,
            ["a"],
        ),
        (
            json.dumps({"is_hard_problem": True, "plan": "p", "search_list": [str(i) for i in range(7)]}),
            "topics_truncated",
            True,
            ["0", "1", "2", "3", "4"],
        ),
        ("It is hard; search for primes.", "triage_error", None, None),
        ('{"is_hard_problem": "yes", "plan": "p", "search_list": ["a"]}', "triage_error", None, None),
        ('{"is_hard_problem": true, "plan": "p", "search_list": "a, b"}', "triage_error", True, None),
        ('{"is_hard_problem": true}', "triage_error", True, None),
        # cut at max_tokens inside a long search_list (the schema cannot bound its length): complete topics kept
        (
            '{"is_hard_problem": true, "plan": "p \\"q\\"", "search_list": ["a", "b, c", "d", "e", "f", "g", "h'
            , "topics_truncated", True, ["a", "b, c", "d", "e", "f"],
        ),
        ('{"is_hard_problem": true, "plan": "p", "search_list": ["a", "b", "c", "d", "e', "triage_error", None, None),
        ('{"is_hard_problem": false, "plan": "p", "search_list": ["a", "a", "a', "not_hard", False, None),
        ('{"is_hard_problem": true, "plan": "cut inside the pl', "triage_error", None, None),
        ('{"is_hard_problem": true, "plan": "p", "search_list": [1, 2, 3, 4, 5, 6', "triage_error", None, None),
    ],
)
def test_parse_triage(reply: str, status: str, hard: bool | None, topics: list[str] | None) -> None:
    got = parse_triage(reply)
    assert got[:3] == (status, hard, topics)


@pytest.mark.parametrize(
    ("reply", "status", "plan"),
    [
        ("<plan>Step 1. Factor.</plan>", "ok", "Step 1. Factor."),
        ("intro <plan>A</plan> middle <plan>B</plan> outro", "ok", "B"),  # the authors' split: before the last </plan>
        ("Step 1 without tags", "no_plan_tags", "Step 1 without tags"),  # the authors keep the whole reply
        ("<plan>   </plan>", "empty_plan", ""),
    ],
)
def test_parse_plan(reply: str, status: str, plan: str) -> None:
    assert parse_plan(reply) == (status, plan)


def test_prompts_are_the_authors() -> None:
    # spot checks against MBZUAI-IFM/K2-Think-Inference main.py @ a576a07
    assert TRIAGE_PROMPT.startswith("First determine if the user is asking a hard math, stem, or coding problem")
    assert TRIAGE_PROMPT.format(question="Q").count("Q ") == 1  # question then a space then the example
    assert PLAN_PROMPT.format(question="Q", topics=str(["t1"])).splitlines()[1:3] == [
        "<question>Q</question>",
        "<topics>['t1']</topics>",
    ]
    solver = SOLVER_PROMPT.format(question="Q", ideas="I")
    assert solver.startswith("<question>Q</question>Below are some helpful insights or ideas:\n<ideas>I</ideas>\n")
    assert solver.endswith("Now please answer the original question.")


# --- majority vote (uses the real grader) -----------------------------------------------------------------


def _verdicts(*completions: str, gold: str = "7") -> list:
    from suites.grading.math_answer import grade_math

    return [grade_math(c, gold) for c in completions]


def test_majority_clusters_equivalent_answers() -> None:
    verdicts = _verdicts("\\boxed{7}", "\\boxed{3}", "\\boxed{07}")  # 7 and 07 are one cluster
    score, detail = majority(verdicts)
    assert score == 1.0 and detail["majority"] == [0, 2] and not detail["tie"]


def test_majority_wrong_cluster_wins_and_ties_are_recorded() -> None:
    score, detail = majority(_verdicts("\\boxed{3}", "\\boxed{7}", "\\boxed{3}"))
    assert score == 0.0 and detail["majority"] == [0, 2]
    score, detail = majority(_verdicts("\\boxed{3}", "\\boxed{7}"))
    assert detail["tie"] and detail["majority"] == [0] and score == 0.0


def test_majority_ignores_unanswered_and_truncated() -> None:
    from suites.grading.math_answer import grade_math

    verdicts = [
        grade_math("no answer here", "7"),
        grade_math("\\boxed{3}", "7", truncated=True),
        grade_math("\\boxed{7}", "7"),
    ]
    score, detail = majority(verdicts)
    assert score == 1.0 and detail["majority"] == [2]
    assert majority(verdicts[:2]) == (0.0, {"clusters": [], "majority": None, "tie": False, "errors": []})


# --- configs ----------------------------------------------------------------------------------------------


def test_every_system_yaml_loads_and_builds() -> None:
    from pathlib import Path

    for path in sorted(Path("systems").glob("*.yaml")):
        system = load_system(path.stem)
        assert system.id == path.stem
        assert build_solver(system)
    full = load_system("k2_full")
    assert full.plan is not None and full.best_of_n["n"] == 3
    composed = load_system("plan+best_of_n")
    assert composed.plan == full.plan and composed.best_of_n == full.best_of_n
    spec = load_system("k2_full+speculative")
    assert spec.best_of_n["n"] == 3 and spec.serving["speculative_config"]["method"] == "ngram"


def test_speculative_refuses_sampling_on_cpu() -> None:
    cpu = load_model_config("models/vllm_cpu_smollm2.yaml")
    spec = load_system("speculative")
    with pytest.raises(KnownBrokenError, match="corrupts"):
        check_serving(spec, cpu, temperature=1.0, allow_known_broken=False)
    with pytest.raises(KnownBrokenError):
        check_serving(spec, cpu, temperature=None, allow_known_broken=False)  # server default samples
    assert check_serving(spec, cpu, temperature=0.0, allow_known_broken=False) == []
    warnings = check_serving(spec, cpu, temperature=0.7, allow_known_broken=True)
    assert warnings and "corrupts" in warnings[0]
    gpu = load_model_config("models/k2_think.yaml")
    assert check_serving(spec, gpu, temperature=1.0, allow_known_broken=False) == []
    assert check_serving(load_system("plain"), cpu, temperature=1.0, allow_known_broken=False) == []


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    config = load_model_config("models/cerebras.yaml")
    assert config.api_key_env == "CEREBRAS_API_KEY"
    text = Path("models/cerebras.yaml").read_text()
    assert "api_key:" not in text.replace("api_key_env:", "")
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    with pytest.raises(ModelConfigError, match="CEREBRAS_API_KEY"):
        config.api_key()
    monkeypatch.setenv("CEREBRAS_API_KEY", "k-123")
    monkeypatch.setenv("CEREBRAS_BASE_URL", "http://127.0.0.1:1/v1")
    assert config.api_key() == "k-123" and config.resolved_base_url() == "http://127.0.0.1:1/v1"
    assert "k-123" not in json.dumps(config.identity())


def test_model_configs_load_and_reject_bad_fields(tmp_path) -> None:
    from pathlib import Path

    for path in sorted(Path("models").glob("*.yaml")):
        assert load_model_config(path).id
    assert load_model_config("smollm2").model == "k2bench/smollm2-135m-instruct"  # by file stem
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nmodel: a/b\ngenerate: {temprature: 1}\n")
    with pytest.raises(ValueError, match="temprature"):
        load_model_config(bad)
    bad.write_text("id: x\nmodel: a/b\nmodel_args: {api_key: sk-1}\n")
    with pytest.raises(ModelConfigError, match="never put an API key"):
        load_model_config(bad)


def test_model_config_base_merges_mappings_and_refuses_cycles(tmp_path) -> None:
    fp32 = load_model_config("models/vllm_cpu_smollm2_fp32.yaml")
    bf16 = load_model_config("models/vllm_cpu_smollm2.yaml")
    assert fp32.id == "smollm2-135m-instruct-vllm-cpu-fp32" and bf16.id == "smollm2-135m-instruct-vllm-cpu"
    assert fp32.serve["args"]["dtype"] == "float32" and bf16.serve["args"]["dtype"] == "bfloat16"
    # everything the variant does not name comes from its base, nested mappings key by key
    assert {k: v for k, v in fp32.serve["args"].items() if k != "dtype"} == {
        k: v for k, v in bf16.serve["args"].items() if k != "dtype"
    }
    assert (fp32.model, fp32.base_url, fp32.generate, fp32.meta) == (bf16.model, bf16.base_url, bf16.generate, bf16.meta)
    (tmp_path / "a.yaml").write_text("base: b.yaml\nid: a\nmodel: x/y\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nid: b\nmodel: x/y\n")
    with pytest.raises(ModelConfigError, match="base cycle"):
        load_model_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: b.yaml\nid: c\nmodel: x/y\nmodel_args: {temperature: 1}\nbogus: 1\n")
    with pytest.raises(ModelConfigError, match="unknown fields"):
        load_model_config(tmp_path / "c.yaml")


# --- serving statistics -----------------------------------------------------------------------------------


def test_counter_delta_acceptance() -> None:
    before = {"drafts": 10.0, "draft_tokens": 40.0, "accepted_tokens": 10.0, "generation_tokens": 100.0}
    after = {"drafts": 20.0, "draft_tokens": 80.0, "accepted_tokens": 40.0, "generation_tokens": 200.0}
    delta = counter_delta(before, after)
    assert delta["acceptance_rate"] == 0.75 and delta["mean_accepted_per_draft"] == 3.0
    assert counter_delta(after, after)["acceptance_rate"] is None  # no drafts: unknown, not 0


def test_metrics_text_is_parsed_by_prometheus_client_and_summed_over_labels() -> None:
    """systems/metrics.py sums each sample over its label sets (engines, models); the exposition format's
    optional timestamp and quoted label values (spaces, braces, escaped quotes) are the parser's business."""
    text = (
        "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
        "# TYPE vllm:generation_tokens_total counter\n"
        'vllm:generation_tokens_total{engine="0",model_name="smol lm {a}"} 1280.0\n'
        'vllm:generation_tokens_total{engine="1",model_name="say \\"hi\\""} 20.0 1712345678000\n'
        "# HELP vllm:e2e_request_latency_seconds Latency.\n"
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        'vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m"} 3.0\n'
        'vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 4.0\n'
        'vllm:e2e_request_latency_seconds_count{model_name="m"} 4.0\n'
        'vllm:e2e_request_latency_seconds_sum{model_name="m"} 2.5\n'
    )
    totals = parse_metrics(text)
    assert totals["vllm:generation_tokens_total"] == 1300.0  # the timestamp is not a value
    assert totals["vllm:e2e_request_latency_seconds_count"] == 4.0
    assert totals["vllm:e2e_request_latency_seconds_sum"] == 2.5
    with pytest.raises(ValueError):
        parse_metrics("vllm:x_total{engine=0} 1\n")  # malformed exposition is an error, not a silent 0


def test_permutation_test_detects_a_shift_and_not_noise() -> None:
    rng = random.Random(0)
    a = [rng.gauss(2.0, 0.3) for _ in range(24)]
    b = [rng.gauss(2.0, 0.3) for _ in range(24)]
    shifted = [x + 3.0 for x in b]
    assert permutation_p(a, shifted, permutations=2000) < 0.01
    assert permutation_p(a, b, permutations=2000) > 0.01
    assert distinct_2([1, 2, 1, 2, 1]) == 0.5 and distinct_2([1]) is None


def test_apply_system_replaces_solver_and_adds_scorers() -> None:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import match

    from suites.grading.scorers import math_scorer
    from systems.compose import apply_system

    def suite(scorer, grader=None):  # noqa: ANN001, ANN202
        metadata = {"suite": "toy", **({"grader": grader} if grader else {})}
        return Task(dataset=[Sample(input="1+1?", target="2")], scorer=scorer, name="toy", metadata=metadata)

    task = apply_system(suite(math_scorer(), "math"), load_system("k2_full"), metadata={"model_id": "m"})
    assert task.name == "toy--k2_full"
    assert (
        task.metadata["suite"] == "toy" and task.metadata["system_id"] == "k2_full" and task.metadata["model_id"] == "m"
    )
    names = [s.__qualname__.split(".")[0] for s in task.scorer]
    assert names == ["math_scorer", "accounting_scorer", "equal_budget_scorer"]
    assert "'math'" in task.metadata["equal_budget"]
    # the grader is found by the suite's declared name, never by the scorer function: a math scorer without a
    # declaration gets no baselines, and says why
    undeclared = apply_system(suite(math_scorer()), load_system("best_of_n"))
    assert [s.__qualname__.split(".")[0] for s in undeclared.scorer][1:] == ["accounting_scorer"]
    assert "declares no `grader`" in undeclared.metadata["equal_budget"]
    code = apply_system(suite(match(), "code"), load_system("best_of_n"))
    assert [s.__qualname__.split(".")[0] for s in code.scorer][1:] == ["accounting_scorer"]
    assert "'code' is not answer-graded" in code.metadata["equal_budget"]
    choice = apply_system(suite(match(), "choice"), load_system("best_of_n"))
    assert [s.__qualname__.split(".")[0] for s in choice.scorer][1:] == ["accounting_scorer", "equal_budget_scorer"]
    plain = apply_system(suite(math_scorer(), "math"), load_system("plain"))
    assert [s.__qualname__.split(".")[0] for s in plain.scorer] == ["math_scorer", "accounting_scorer"]
    assert "equal_budget" not in plain.metadata


def test_serving_overlays_become_vllm_arguments() -> None:
    from systems.serve import server_for

    config = load_model_config("models/vllm_cpu_smollm2.yaml")
    plain = server_for(config, None, port=8099, args={"dtype": "float32"}).command()
    assert "--speculative-config" not in plain and plain[plain.index("--dtype") + 1] == "float32"
    assert plain[plain.index("--host") + 1] == "127.0.0.1" and plain[plain.index("--port") + 1] == "8099"
    assert (
        "--enforce-eager" in plain
        and json.loads(plain[plain.index("--structured-outputs-config") + 1])["backend"] == "xgrammar"
    )
    ngram = server_for(config, load_system("speculative").serving).command()
    assert json.loads(ngram[ngram.index("--speculative-config") + 1])["method"] == "ngram"
    draft = server_for(config, load_system("speculative_draft").serving).command()
    spec = json.loads(draft[draft.index("--speculative-config") + 1])
    assert spec["method"] == "draft_model" and spec["model"] == draft[draft.index("--model") + 1]  # resolved dir
