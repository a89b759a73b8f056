"""No single completion can end a task (issue 15): a grader that cannot decide, or raises, gives that sample an
`error` verdict with the reason, counted in the error rate.

The end-to-end test runs a real `inspect eval` of a math suite against a real local OpenAI-compatible HTTP server
(tests/systems/stub_openai_server.py, mode `digits-5000`) that answers with a 5,000-digit boxed integer: before
issue 15 that completion raised in normalize_answer and the whole task ended `error` with no score.

    pytest tests/grading/test_error_status.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessageUser, ModelName, ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from suites.grading import scorers
from suites.grading.math_answer import MAX_NUMBER_DIGITS, grade_math
from suites.grading.verdict import guarded

DIGITS_5000 = "<think>Counting.</think> The answer is $\\boxed{" + "9" * 5000 + "}$."
STUB_DIR = Path(__file__).resolve().parents[1] / "systems"


def _state(completion: str, metadata: dict | None = None, n_choices: int = 0) -> TaskState:
    output = ModelOutput.from_content("test", completion, stop_reason="stop")
    return TaskState(ModelName("k2bench/test"), "s1", 1, [ChatMessageUser(content="q")], [],
                     choices=[str(i) for i in range(n_choices)], output=output, metadata=metadata or {})  # fmt: skip


def test_long_digit_run_is_error_with_reason() -> None:
    started = time.monotonic()
    verdict = grade_math(DIGITS_5000, "204")
    assert verdict.status == "error" and verdict.score == 0.0
    assert f"longer than {MAX_NUMBER_DIGITS} digits" in verdict.reason and len(verdict.reason) < 600
    assert verdict.extracted == "9" * 5000  # kept in full for analysis; only the reason is shortened
    assert time.monotonic() - started < 1.0


def test_every_math_scorer_counts_it_in_the_error_rate() -> None:
    state = _state(DIGITS_5000, metadata={scorers.GRADING_KEY: "math", scorers.ANSWER_KIND_KEY: "set"})
    for scorer in (scorers.math_scorer(), scorers.math_set_scorer(), scorers.rule_or_judge_scorer()):
        score = asyncio.run(scorer(state, Target("204")))
        assert score.metadata["status"] == "error", score.explanation
        assert score.value["error"] == 1.0 and score.value["accuracy"] == 0.0


def test_a_grader_exception_becomes_an_error_verdict() -> None:
    # a real exception: grade_choice refuses a gold letter outside the options (ValueError)
    verdict = guarded(scorers_choice(), "Answer: B", "Z", n_choices=4)
    assert verdict.status == "error" and "grade_choice raised ValueError" in verdict.reason
    score = asyncio.run(scorers.choice_scorer()(_state("Answer: B", n_choices=4), Target("Z")))
    assert score.metadata["status"] == "error" and score.value["error"] == 1.0
    assert "is not one of ABCD" in score.explanation


def scorers_choice():  # noqa: ANN201
    from suites.grading.choice import grade_choice

    return grade_choice


def test_scicode_scorer_reports_a_broken_problem_as_error_steps(tmp_path: Path) -> None:
    from suites.grading.scorers import scorer_for
    from suites.scicode import steps
    from suites.scicode.scicode import STEPS_KEY, scorer_args

    problem = steps.load_problems("validation")[0][0]
    records = [steps.step_record(s, "```python\ndef f():\n    return 1\n```", "stop", False) for s in problem["sub_steps"]]
    missing_h5 = tmp_path / "no_test_data.h5"  # reading the targets raises: one problem's grading breaks
    scorer = scorer_for("scicode_steps", **scorer_args(str(missing_h5)))
    score = asyncio.run(scorer(_state("", {**problem, STEPS_KEY: records}), Target("")))
    n = len(steps.scored_steps(problem))
    assert score.metadata["status"] == "error" and "grade_problem raised" in score.explanation
    assert score.value["steps_error"] == score.value["sub_total"] == n and score.value["accuracy"] == 0.0


def test_equal_budget_grading_tolerates_answers_it_cannot_compare() -> None:
    from suites.grading.voting import grade_candidates, majority
    from systems.best_of_n import Candidate

    towers = ["<think>t</think> \\boxed{9^{9^{9^9}}}", "<think>t</think> \\boxed{9^{9^{9^9}}+2}"]
    texts = [DIGITS_5000, *towers, "<think>t</think> \\boxed{204}"]
    candidates = [Candidate(branch=i, completion=t, stop_reason="stop", judged_text=t, prompt="q")
                  for i, t in enumerate(texts)]  # fmt: skip
    verdicts = grade_candidates(candidates, "204")
    assert [v.status for v in verdicts] == ["error", "incorrect", "incorrect", "correct"]
    score, detail = majority(verdicts)  # the two towers cannot be compared: recorded, not raised
    assert detail["errors"] and "not evaluated" in detail["errors"][0]
    assert len(detail["clusters"]) == 3 and score == 0.0  # a 3-way tie goes to the first cluster (a tower)


@pytest.fixture()
def stub_server(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    sys.path.insert(0, str(STUB_DIR))
    try:
        import stub_openai_server
    finally:
        sys.path.pop(0)
    server, _ = stub_openai_server.serve(0)
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.mark.slow
def test_inspect_eval_with_a_5000_digit_completion_ends_success(
    stub_server: str, data_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    env = dict(os.environ, STUB_API_KEY="stub-key", STUB_BASE_URL=stub_server, K2BENCH_DATA_DIR=str(data_dir),
               HF_HUB_OFFLINE="1", PYTHONPATH=str(repo_root))  # fmt: skip
    inspect = Path(sys.executable).with_name("inspect")
    cmd = [str(inspect), "eval", "suites/aime/aime2025.py", "--model", "openai-api/stub/digits-5000", "--limit", "2",
           "-T", "epochs=1", "--log-dir", str(tmp_path), "--display", "none"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = tmp_path.glob("*.eval")
    log = read_eval_log(str(path))
    assert log.status == "success", log.error
    assert len(log.samples) == 2
    for sample in log.samples:
        assert sample.error is None
        # the real HTTP reply reached the scorer (inspect moves the <think> part into reasoning content)
        assert sample.output.completion.endswith("The answer is $\\boxed{" + "9" * 5000 + "}$.")
        score = sample.scores["math_scorer"]
        assert score.metadata["status"] == "error" and "5000-digit number" in score.explanation
        assert score.value["error"] == 1.0
    metrics = {(s.name, name): m.value for s in log.results.scores for name, m in s.metrics.items()}
    assert metrics[("error", "mean")] == 1.0 and metrics[("accuracy", "accuracy")] == 0.0  # the error rate counts them
