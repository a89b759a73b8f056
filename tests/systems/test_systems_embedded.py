"""Every system end to end on suites/aime with the embedded SmolLM2 (offline), its planner/judge health, the
refusal of a provider that ignores the JSON schema, HMMT's equal-budget baselines, kill-and-resume, malformed
replies.

    K2BENCH_DATA_DIR=../shared/data pytest tests/systems/test_systems_embedded.py

The model is real (in-process transformers, solver outputs capped at a few tokens so a 2-core machine copes);
the planner and judge are that same model unless a test binds them. The end-to-end test FAILS when the
planner's triage or the judge's verdicts do not parse (fewer than 90%, systems/health.py), when no plan is
inserted or no judgement is decisive: a system that silently measures something else is a failure, not a
result. Only the malformed-reply test uses a scripted stdlib server (tests/systems/stub_openai_server.py),
because it tests our parsing, not a model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from systems.health import HEALTH_COUNT_KEYS, PARSED_RATE_BOUND, health, is_parsed
from systems.plan import ideas_in
from systems.roles import ROLE_GENERATE_DEFAULTS

pytestmark = pytest.mark.slow

SYSTEMS = ("plain", "plan", "best_of_n", "k2_full")
SUITE_TASKS = ("aime2024", "aime2025")
# calls each system must make per sample (purpose -> allowed counts); a plan call happens only when triage
# says "hard" with a usable reply
EXPECTED_CALLS = {
    "plain": {"generate": {1}},
    "plan": {"triage": {1}, "plan": {0, 1}, "generate": {1}},
    "best_of_n": {"candidate": {3}, "judge": {2}},
    "k2_full": {"triage": {3}, "plan": {0, 1, 2, 3}, "candidate": {3}, "judge": {2}},
}
# the embedded model's token cap: room for the planner's triage JSON and the judge's verdict (their calls ask
# for ROLE_GENERATE_DEFAULTS' 4096 and get this); the solver's answers are cut at SOLVER_TOKENS (--max-tokens,
# which reaches the solver only)
ROLE_CAP = 256
SOLVER_TOKENS = 8


def read_logs(log_dir: Path) -> dict[str, Any]:
    from inspect_ai.log import list_eval_logs, read_eval_log

    logs = [read_eval_log(info.name) for info in list_eval_logs(str(log_dir))]
    by_task = {log.eval.task: log for log in logs}
    assert len(by_task) == len(logs), f"two logs for one task in {log_dir}: {[log.location for log in logs]}"
    return by_task


def check_accounting(sample: Any, system: str) -> list[dict]:
    calls = sample.store["Accounting:calls"]
    purposes = [c["purpose"] for c in calls]
    for purpose, allowed in EXPECTED_CALLS[system].items():
        assert purposes.count(purpose) in allowed, f"{system}: {purposes}"
    assert set(purposes) <= set(EXPECTED_CALLS[system])
    for call in calls:
        assert call["role"] in ("solver", "planner", "judge") and call["model"]
        assert call["input_tokens"] > 0 and call["output_tokens"] is not None and call["latency_s"] > 0
        assert call["stop_reason"] in ("stop", "max_tokens", "model_length")
        # the store drops None: no `parsed` key is a call with nothing to parse
        assert call.get("parsed") == is_parsed(call["purpose"], call["status"]), call
        assert call["generate"], call  # the request's effective decoding config, from inspect's ModelEvent
    totals = sample.metadata["k2bench_accounting"]
    assert totals["total"]["calls"] == len(calls)
    assert totals["total"]["output_tokens"] == sum(c["output_tokens"] for c in calls)
    assert sum(r["calls"] for r in totals["by_role"].values()) == len(calls)
    score = sample.scores["accounting_scorer"].value
    assert score["calls"] == len(calls) and score["non_ok_calls"] == sum(c["status"] != "ok" for c in calls)
    check_health(sample)
    return calls


def check_health(sample: Any) -> dict[str, Any]:
    """The sample's k2bench_health is what its stores say, and the accounting scorer carries the same numbers."""
    store = sample.store
    recorded = sample.metadata["k2bench_health"]
    assert recorded == health(
        store["Accounting:calls"], store.get("Plans:records", []), store.get("BestOfN:candidates", []),
        store.get("BestOfN:comparisons", []), store.get("BestOfN:winner"),
    )  # fmt: skip
    score = sample.scores["accounting_scorer"].value
    assert {k: score[k] for k in HEALTH_COUNT_KEYS} == {k: float(recorded[k]) for k in HEALTH_COUNT_KEYS}
    return recorded


def check_role_configs(log: Any, system: str) -> None:
    """Planner and judge decode with the documented defaults (not the suite's protocol), and the log says so."""
    roles = log.eval.metadata["system_roles"]
    uses = {"plain": set(), "plan": {"planner"}, "best_of_n": {"judge"}, "k2_full": {"planner", "judge"}}[system]
    assert {r for r, v in roles.items() if v is not None} == uses
    for role in uses:
        assert roles[role]["model"] == "k2bench/smollm2-135m-instruct" and roles[role]["response_schema"] is True
        assert roles[role]["generate"] == ROLE_GENERATE_DEFAULTS
    schema_of = {"triage": "search_list", "judge": "better_response", "plan": None}
    for sample in log.samples:
        for call in sample.store["Accounting:calls"]:
            gen = call["generate"]
            if call["role"] == "solver":
                assert gen["max_tokens"] == SOLVER_TOKENS and gen["temperature"] == 1.0  # --max-tokens + protocol
                continue
            assert {k: gen[k] for k in ROLE_GENERATE_DEFAULTS} == ROLE_GENERATE_DEFAULTS
            assert not gen.get("stop_seqs")  # the suite's </answer> stop is the solver's, never the planner's/judge's
            assert gen.get("response_schema") == schema_of[call["purpose"]]


def check_plans(sample: Any, expected_records: int) -> None:
    """Every planned prompt carries the planner's plan as <ideas>; unplanned prompts are the raw question."""
    records = sample.store["Plans:records"]
    assert len(records) == expected_records
    raw_question = sample.input[-1].text if isinstance(sample.input, list) else sample.input
    prompts = [c["prompt"] for c in sample.store.get("BestOfN:candidates", [])] or [sample.messages[-2].text]
    by_branch = {r.get("branch"): r for r in records}
    for branch, prompt in enumerate(prompts):
        record = by_branch[branch if len(prompts) > 1 else None]
        if record["ideas_inserted"]:
            assert ideas_in(prompt) == record["plan"] and prompt.startswith(f"<question>{raw_question}</question>")
        else:
            assert prompt == raw_question and ideas_in(prompt) is None


def check_best_of_n(sample: Any) -> None:
    bon = sample.store
    candidates, comparisons, winner = bon["BestOfN:candidates"], bon["BestOfN:comparisons"], bon["BestOfN:winner"]
    assert len(candidates) == 3 and len(comparisons) == 2
    assert sample.output.completion == candidates[winner]["completion"]
    calls = sample.store["Accounting:calls"]
    best = 0
    for comparison in comparisons:  # the linear scan: best-so-far vs the next candidate
        assert comparison["best_so_far"] == best
        call = calls[comparison["call_index"]]
        assert call["purpose"] == "judge" and call["status"] == comparison["status"]
        if comparison["status"] == "judge_error":
            assert comparison["winner"] == best and comparison["detail"]  # fallback keeps best-so-far, says why
        best = comparison["winner"]
    assert best == winner
    errors = any(c["status"] == "judge_error" for c in comparisons)
    assert bon["BestOfN:selection_status"] == ("judge_error" if errors else "judged")
    eq = sample.scores["equal_budget_scorer"].value
    assert eq["judge_at_n"] == sample.scores["math_scorer"].value["accuracy"]
    assert eq["pass_at_n"] >= max(eq["judge_at_n"], eq["maj_at_n"], eq["avg_at_n"], eq["first_at_1"])
    assert 0.0 <= eq["avg_at_n"] <= 1.0


def test_every_system_end_to_end(tmp_path: Path, data_dir: Path, runner) -> None:
    rc = runner(
        ["--suites", "aime", "--systems", ",".join(SYSTEMS), "--model", "models/smollm2.yaml", "--limit", "2",
         "--epochs", "1", "-M", f"max_tokens_cap={ROLE_CAP}", "--max-tokens", str(SOLVER_TOKENS),
         "--log-dir", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    logs = read_logs(tmp_path)
    assert set(logs) == {f"{suite}--{system}" for suite in SUITE_TASKS for system in SYSTEMS}
    totals = {system: dict.fromkeys(HEALTH_COUNT_KEYS, 0) for system in SYSTEMS}
    for name, log in logs.items():
        suite, system = name.split("--")
        meta = log.eval.metadata
        assert log.status == "success" and len(log.samples) == 2
        assert (meta["suite"], meta["system_id"], meta["model_id"]) == (suite, system, "smollm2-135m-instruct")
        assert meta["suite_version"] == "1-A" and meta["protocol"] == "k2think-2509.07604"
        assert meta["k2bench_run"]["limit"] == 2
        check_role_configs(log, system)
        for sample in log.samples:
            check_accounting(sample, system)
            for key, value in sample.metadata["k2bench_health"].items():
                if key in totals[system]:
                    totals[system][key] += value
            if system == "plan":
                check_plans(sample, 1)
            if system == "k2_full":
                check_plans(sample, 3)
            if system in ("best_of_n", "k2_full"):
                check_best_of_n(sample)
    # the systems did what they say: planner and judge replies parse, plans reach the solver, the judge decides
    planned = {k: totals["plan"][k] + totals["k2_full"][k] for k in HEALTH_COUNT_KEYS}
    judged = {k: totals["best_of_n"][k] + totals["k2_full"][k] for k in HEALTH_COUNT_KEYS}
    assert planned["triage_calls"] == 16 and judged["judge_calls"] == 16
    assert planned["triage_parsed"] >= PARSED_RATE_BOUND * planned["triage_calls"], planned
    assert planned["plans_inserted"] >= 1, planned
    assert judged["judge_parsed"] >= PARSED_RATE_BOUND * judged["judge_calls"], judged
    assert judged["judge_decisive"] >= 1, judged
    assert totals["plain"] == dict.fromkeys(HEALTH_COUNT_KEYS, 0)


def test_provider_that_ignores_the_schema_is_refused(tmp_path: Path, data_dir: Path, runner) -> None:
    """inspect's hf/ provider (the same SmolLM2, in transformers) silently drops response_schema: refused."""
    import anyio
    from inspect_ai.model import get_model

    from models.embedded import prepare_smollm2
    from systems.roles import probe_schema

    hf_spec = f"hf/{prepare_smollm2()}"
    cmd = [sys.executable, "-m", "systems.run", "--suites", "aime2025", "--systems", "plan", "--model",
           "models/smollm2.yaml", "--model-role", f"planner={hf_spec}", "--limit", "1", "--epochs", "1",
           "--log-dir", str(tmp_path / "refused"), "--display", "none"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("systems.run: SchemaUnsupportedError: the planner model hf/") and "not known to honour response_schema" in last
    assert "use_response_schema: false" in last and not list((tmp_path / "refused").glob("*.eval"))

    # the runtime check catches it too, were hf/ ever listed: a real request under the probe schema
    honoured, detail = anyio.run(probe_schema, get_model(hf_spec, device="cpu"))
    assert not honoured and detail.startswith("replied "), detail

    # unconstrained on purpose: it runs, and the log says so (and that its planner is degenerate)
    unconstrained = tmp_path / "plan_free_text.yaml"
    unconstrained.write_text(
        "id: plan_free_text\nbase: plan\nplan: {use_response_schema: false}\n"
        "roles: {planner: {generate: {max_tokens: 24}}}\n"
    )
    assert runner(
        ["--suites", "aime2025", "--systems", str(unconstrained), "--model", "models/smollm2.yaml",
         "--model-role", f"planner={hf_spec}", "--limit", "1", "--epochs", "1", "-M", "max_tokens_cap=8",
         "--log-dir", str(tmp_path / "free")]
    ) == 0  # fmt: skip
    (log,) = read_logs(tmp_path / "free").values()
    planner = log.eval.metadata["system_roles"]["planner"]
    assert planner["response_schema"] is False and planner["model"] == hf_spec and planner["source"] == "bound"
    assert planner["generate"] == {**ROLE_GENERATE_DEFAULTS, "max_tokens": 24}
    (sample,) = log.samples
    (triage,) = [c for c in sample.store["Accounting:calls"] if c["purpose"] == "triage"]
    assert triage["model"] == hf_spec and "response_schema" not in triage["generate"]
    assert triage["generate"]["max_tokens"] == 24
    check_health(sample)


def test_hmmt_best_of_n_has_equal_budget_baselines(tmp_path: Path, data_dir: Path, runner) -> None:
    """HMMT declares grader math_set: its best-of-N logs carry avg/maj/pass@n (they did not when the grader was
    found by sniffing the scorer function). The judge runs unconstrained here: this test is about grading."""
    system = tmp_path / "bon_free_text.yaml"
    system.write_text(
        "id: bon_free_text\nbase: best_of_n\nbest_of_n: {use_response_schema: false}\n"
        "roles: {judge: {generate: {max_tokens: 8}}}\n"
    )
    assert runner(
        ["--suites", "hmmt_feb2025", "--systems", str(system), "--model", "models/smollm2.yaml", "--limit", "1",
         "--epochs", "1", "-M", "max_tokens_cap=8", "--log-dir", str(tmp_path)]
    ) == 0  # fmt: skip
    (log,) = read_logs(tmp_path).values()
    assert log.eval.metadata["grader"] == "math_set" and "'math_set'" in log.eval.metadata["equal_budget"]
    metrics = {s.name for s in log.results.scores if s.scorer == "equal_budget_scorer"}
    assert {"maj_at_n", "pass_at_n", "avg_at_n", "judge_at_n", "first_at_1"} <= metrics
    (sample,) = log.samples
    eq = sample.scores["equal_budget_scorer"]
    assert eq.metadata["grader"] == "math_set" and eq.metadata["n"] == 3
    assert eq.value["judge_at_n"] == sample.scores["math_set_scorer"].value["accuracy"]


def test_kill_and_resume_gives_every_sample_once(tmp_path: Path, data_dir: Path) -> None:
    """SIGKILL the runner after its first finished sample, re-run the same command: each sample exactly once."""
    from inspect_ai.log import read_eval_log_sample_summaries

    cmd = [
        sys.executable, "-m", "systems.run", "--suites", "aime2025", "--systems", "plain", "--model", "models/smollm2.yaml",
        "--limit", "4", "--epochs", "1", "-M", "max_tokens_cap=8", "--max-samples", "1", "--log-buffer", "1",
        "--log-dir", str(tmp_path), "--display", "none",
    ]  # fmt: skip
    first = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_before_kill: dict[str, str] = {}
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and not done_before_kill:
            assert first.poll() is None, "the runner finished before it could be killed"
            for path in tmp_path.glob("*.eval"):
                try:
                    summaries = read_eval_log_sample_summaries(str(path))
                except Exception:  # the zip is being written; try again
                    continue
                done_before_kill = {str(s.id): s.uuid for s in summaries}
            time.sleep(0.5)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert done_before_kill and len(done_before_kill) < 4, done_before_kill

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    logs = read_logs(tmp_path)  # also asserts one log per task: the killed run's log is gone
    (log,) = logs.values()
    keys = [(s.id, s.epoch) for s in log.samples]
    assert log.status == "success" and len(keys) == 4 and len(set(keys)) == 4
    reused = {str(s.id): s.uuid for s in log.samples if str(s.id) in done_before_kill}
    assert reused == done_before_kill  # finished samples were kept, not generated again

    third = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert third.returncode == 0
    again = read_logs(tmp_path)
    assert [(s.id, s.uuid) for s in next(iter(again.values())).samples] == [(s.id, s.uuid) for s in log.samples]


@pytest.fixture()
def stub_server(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import stub_openai_server
    finally:
        sys.path.pop(0)
    server, _ = stub_openai_server.serve(0)
    monkeypatch.setenv("STUB_API_KEY", "stub-key")
    monkeypatch.setenv("STUB_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("planner", "judge", "triage_status", "judge_detail"),
    [
        ("garbage", "garbage", "triage_error", "not JSON"),
        ("wrong-types", "wrong-types", "triage_error", "not 0 or 1"),
        ("authors-key", "authors-key", "topics_truncated", "no 'better_index' key"),
    ],
)
def test_malformed_planner_and_judge_replies(
    tmp_path: Path, data_dir: Path, runner, stub_server, planner: str, judge: str, triage_status: str, judge_detail: str
) -> None:
    # the stub ignores response_schema, like any server without constrained decoding: the run is declared
    # unconstrained (k2_full otherwise refuses it before any sample, test_provider_that_ignores_the_schema...)
    system = tmp_path / "k2_full_free_text.yaml"
    system.write_text(
        "id: k2_full_free_text\nbase: k2_full\nplan: {use_response_schema: false}\nbest_of_n: {use_response_schema: false}\n"
    )
    rc = runner(
        ["--suites", "aime2025", "--systems", str(system), "--model", "models/smollm2.yaml", "--limit", "1", "--epochs", "1",
         "-M", "max_tokens_cap=16", "--model-role", f"planner=openai-api/stub/{planner}",
         "--model-role", f"judge=openai-api/stub/{judge}", "--log-dir", str(tmp_path / "logs")]
    )  # fmt: skip
    assert rc == 0  # handled: the eval completes
    (log,) = read_logs(tmp_path / "logs").values()
    (sample,) = log.samples
    calls = check_accounting(sample, "k2_full")
    records = sample.store["Plans:records"]
    assert [r["triage_status"] for r in records] == [triage_status] * 3
    triage_calls = [c for c in calls if c["purpose"] == "triage"]
    assert all(c["status"] == triage_status and c["detail"] for c in triage_calls)
    if triage_status == "topics_truncated":  # 7 topics -> 5; the plan reply had no tags -> whole reply, recorded
        assert all(
            len(r["search_list"]) == 5 and r["plan_status"] == "no_plan_tags" and r["ideas_inserted"] for r in records
        )
        assert all(c["status"] == "no_plan_tags" for c in calls if c["purpose"] == "plan")
    else:  # unusable triage -> no plan, the raw question
        assert not any(r["ideas_inserted"] for r in records) and not any(c["purpose"] == "plan" for c in calls)
    # never a silent pick: every comparison failed, best-so-far (candidate 0) kept, and the sample says so
    comparisons = sample.store["BestOfN:comparisons"]
    assert [c["status"] for c in comparisons] == ["judge_error", "judge_error"]
    assert all(judge_detail in c["detail"] and c["reply"] for c in comparisons)
    assert sample.store["BestOfN:winner"] == 0 and sample.store["BestOfN:selection_status"] == "judge_error"
    assert sample.metadata["k2bench_best_of_n"]["judge_errors"] == 2
    assert sample.scores["accounting_scorer"].value["non_ok_calls"] == sum(c["status"] != "ok" for c in calls) >= 5
    check_best_of_n(sample)
    # the health record says what happened: nothing parsed, and the winner is the fallback's
    got = sample.metadata["k2bench_health"]
    parsed_triage = 3 if triage_status == "topics_truncated" else 0
    assert (got["triage_calls"], got["triage_parsed"], got["judge_calls"], got["judge_parsed"]) == (3, parsed_triage, 2, 0)
    assert got["plans_inserted"] == parsed_triage and got["judge_decisive"] == 0 and (got["winner"], got["n"]) == (0, 3)
    roles = log.eval.metadata["system_roles"]
    assert roles["planner"]["response_schema"] is False and roles["judge"]["model"] == f"openai-api/stub/{judge}"
    assert all(c["generate"].get("response_schema") is None for c in calls)


def test_greedy_divergence_is_located_and_classified() -> None:
    """systems/speculative.py's diagnosis of a greedy mismatch: where it parts and how far apart the tokens are."""
    from models.embedded import prepare_smollm2
    from systems.speculative import NEAR_TIE_NATS, PlainScorer

    scorer = PlainScorer(str(prepare_smollm2()))
    prompt = "What is 12 + 7? Answer with a number."
    plain, corrupt = "12 + 7 = 19", "12 + 7 = zebra"
    where = scorer.divergence(prompt, plain, corrupt)
    common = scorer.token_ids("12 + 7 =")
    assert where["position"] == len(common) and scorer.token_ids(plain)[: len(common)] == common
    assert where["plain_token"] != where["overlay_token"] and "zebra".startswith(where["overlay_token"].strip()[:3])
    assert where["logprob_gap"] > NEAR_TIE_NATS and not where["near_tie"]  # a digit vs "zebra" is no rounding flip
    ended = scorer.divergence(prompt, plain, plain + " and more")  # one output is a prefix of the other: EOS vs more
    assert ended["position"] == len(scorer.token_ids(plain)) and ended["plain_token"] == scorer.tokenizer.decode(
        [scorer.tokenizer.eos_token_id]
    )
