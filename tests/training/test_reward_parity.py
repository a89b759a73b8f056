"""Parity: every grader case table row gets the same verdict from the grader, the inspect scorer and the TRL
reward (DESIGN.md "A grader": one function serves all three). A drift here means RL optimises something the
suites do not measure."""

import asyncio
import json
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessageUser, ModelName, ModelOutput
from inspect_ai.scorer import Target
from inspect_ai.solver import TaskState

from suites.grading import scorers
from training.rewards import resolve_rewards

CASES_DIR = Path(__file__).resolve().parents[2] / "suites" / "grading" / "cases"
EOS = 2


def _grader_and_scorer(domain: str):
    if domain == "math":
        from suites.grading.math_answer import grade_math

        return (lambda c, g, t, n: grade_math(c, g, truncated=t)), scorers.math_scorer()
    from suites.grading.choice import grade_choice

    return (lambda c, g, t, n: grade_choice(c, g, n_choices=n, truncated=t)), scorers.choice_scorer()


def _cases():
    for path in sorted(CASES_DIR.glob("*.jsonl")):
        if path.stem not in ("math", "choice"):  # case tables of graders that have no reward domain
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                yield pytest.param(path.stem, json.loads(line), id=f"{path.stem}-{json.loads(line)['id']}")


def _state(case: dict, n_choices: int) -> TaskState:
    output = ModelOutput.from_content("parity", case["completion"],
                                      stop_reason="max_tokens" if case.get("truncated") else "stop")
    return TaskState(ModelName("k2bench/parity"), case["id"], 1, [ChatMessageUser(content="q")], [],
                     choices=[str(i) for i in range(n_choices)], output=output)


@pytest.mark.parametrize(("domain", "case"), list(_cases()))
def test_grader_scorer_and_reward_agree(domain, case):
    n_choices = int(case.get("n_choices", 4))
    grade, scorer = _grader_and_scorer(domain)
    truncated = bool(case.get("truncated", False))
    verdict = grade(case["completion"], case["gold"], truncated, n_choices)
    score = asyncio.run(scorer(_state(case, n_choices), Target(case["gold"])))
    (reward,) = resolve_rewards([domain], [EOS])
    gold = case["gold"] if n_choices == 4 else json.dumps({"answer": case["gold"], "n_choices": n_choices})
    kwargs = {"completions": [[{"role": "assistant", "content": case["completion"]}]], "answer": [gold],
              "domain": [domain], "completion_ids": [[7] if truncated else [7, EOS]]}
    (reward_verdict,) = reward.verdicts(kwargs["completions"], kwargs["answer"], kwargs["domain"], kwargs["completion_ids"])
    assert verdict.status == case["status"], verdict.reason
    assert score.metadata["status"] == verdict.status and reward_verdict.status == verdict.status
    assert score.value["accuracy"] == verdict.score == reward(**kwargs)[0]
