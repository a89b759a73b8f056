"""Every system end to end on suites/aime with the embedded SmolLM2 (offline), kill-and-resume, malformed replies.

    K2BENCH_DATA_DIR=../shared/data pytest tests/systems/test_systems_embedded.py

The model is real (in-process transformers, outputs capped at a few tokens so a 2-core machine copes); the
planner and judge are that same model unless a test binds them. Only the malformed-reply test uses a scripted
stdlib server (tests/systems/stub_openai_server.py), because it tests our parsing, not a model.
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

from systems.plan import ideas_in

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
    totals = sample.metadata["k2bench_accounting"]
    assert totals["total"]["calls"] == len(calls)
    assert totals["total"]["output_tokens"] == sum(c["output_tokens"] for c in calls)
    assert sum(r["calls"] for r in totals["by_role"].values()) == len(calls)
    score = sample.scores["accounting_scorer"].value
    assert score["calls"] == len(calls) and score["non_ok_calls"] == sum(c["status"] != "ok" for c in calls)
    return calls


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
         "--epochs", "1", "-M", "max_tokens_cap=8", "--log-dir", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    logs = read_logs(tmp_path)
    assert set(logs) == {f"{suite}--{system}" for suite in SUITE_TASKS for system in SYSTEMS}
    for name, log in logs.items():
        suite, system = name.split("--")
        meta = log.eval.metadata
        assert log.status == "success" and len(log.samples) == 2
        assert (meta["suite"], meta["system_id"], meta["model_id"]) == (suite, system, "smollm2-135m-instruct")
        assert meta["suite_version"] == "1-A" and meta["protocol"] == "k2think-2509.07604"
        assert meta["k2bench_run"]["limit"] == 2
        for sample in log.samples:
            check_accounting(sample, system)
            if system == "plan":
                check_plans(sample, 1)
            if system == "k2_full":
                check_plans(sample, 3)
            if system in ("best_of_n", "k2_full"):
                check_best_of_n(sample)


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
    rc = runner(
        ["--suites", "aime2025", "--systems", "k2_full", "--model", "models/smollm2.yaml", "--limit", "1", "--epochs", "1",
         "-M", "max_tokens_cap=16", "--model-role", f"planner=openai-api/stub/{planner}",
         "--model-role", f"judge=openai-api/stub/{judge}", "--log-dir", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0  # handled: the eval completes
    (log,) = read_logs(tmp_path).values()
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
