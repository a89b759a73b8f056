"""Parity: every row of the grader case tables (math, choice, code) gets the same verdict from the grader, the
inspect scorer and the TRL reward (DESIGN.md "A grader": one function serves all three). A drift here means
RL optimises something the suites do not measure. Tables of graders with no reward domain (hmmt answer sets,
judge replies) are not rewards and are left to tests/grading."""

import asyncio
import functools
import json
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessageUser, ModelName, ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from suites.grading import scorers
from suites.grading.sandbox import Limits
from training import rewards

CASES_DIR = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases"
REWARD_TABLES = ("math", "choice", "code")
EOS = 2
CODE_LIMITS = Limits(time_s=1.0, memory_mb=256)  # as tests/grading/test_code_exec.py: slow rows fail fast


def _cases():
    for stem in REWARD_TABLES:
        for line in (CASES_DIR / f"{stem}.jsonl").read_text().splitlines():
            if line.strip():
                case = json.loads(line)
                yield pytest.param(stem, case, id=f"{stem}-{case['id']}")


def _paths(domain: str, case: dict):
    """(grader verdict, scorer, TaskState metadata, gold for the reward, reward) for one case."""
    truncated = bool(case.get("truncated", False))
    if domain == "math":
        from suites.grading.math_answer import grade_math

        verdict = grade_math(case["completion"], case["gold"], truncated=truncated)
        return verdict, scorers.math_scorer(), {}, case["gold"], rewards.resolve_rewards(["math"], [EOS])[0]
    if domain == "choice":
        from suites.grading.choice import grade_choice

        n = int(case.get("n_choices", 4))
        verdict = grade_choice(case["completion"], case["gold"], n_choices=n, truncated=truncated)
        gold = case["gold"] if n == 4 else json.dumps({"answer": case["gold"], "n_choices": n})
        return verdict, scorers.choice_scorer(), {}, gold, rewards.resolve_rewards(["choice"], [EOS])[0]
    from suites.grading.code_exec import CodeTests, grade_code

    verdict = grade_code(case["completion"], CodeTests.from_dict(case["tests"]), truncated=truncated,
                         limits=CODE_LIMITS).verdict
    scorer = scorers.code_scorer(time_s=CODE_LIMITS.time_s, memory_mb=CODE_LIMITS.memory_mb)
    reward = rewards.GraderReward("code", functools.partial(rewards._grade_code, limits=CODE_LIMITS), [EOS])
    return verdict, scorer, {scorers.CODE_TESTS_KEY: case["tests"]}, json.dumps(case["tests"]), reward


@pytest.mark.parametrize(("domain", "case"), list(_cases()))
def test_grader_scorer_and_reward_agree(domain, case):
    verdict, scorer, metadata, gold, reward = _paths(domain, case)
    truncated = bool(case.get("truncated", False))
    output = ModelOutput.from_content("parity", case["completion"], stop_reason="max_tokens" if truncated else "stop")
    n_choices = int(case.get("n_choices", 4))
    state = TaskState(ModelName("k2bench/parity"), case["id"], 1, [ChatMessageUser(content="q")], [],
                      choices=[str(i) for i in range(n_choices)], output=output, metadata=metadata)
    score = asyncio.run(scorer(state, Target(case.get("gold", ""))))
    kwargs = {"completions": [[{"role": "assistant", "content": case["completion"]}]], "answer": [gold],
              "domain": [domain], "completion_ids": [[7] if truncated else [7, EOS]]}
    (reward_verdict,) = reward.verdicts(kwargs["completions"], kwargs["answer"], kwargs["domain"], kwargs["completion_ids"])
    assert verdict.status == case["status"], verdict.reason
    assert score.metadata["status"] == verdict.status, score.explanation
    assert reward_verdict.status == verdict.status, reward_verdict.reason
    assert score.value["accuracy"] == verdict.score == reward(**kwargs)[0]
