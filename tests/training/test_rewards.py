"""training/rewards.py: rewards are the graders' verdicts, None for other domains, 0 for cut completions, and
rewards without a grader stop a run before training instead of paying 0 (or 1) silently."""

import json

import pytest

from training.grpo import check_rewards
from training.rewards import GraderUnavailable, resolve_rewards

EOS = 2
GOOD = "<think>\n47 + 38 = 85\n</think>\n<answer>\n\\boxed{85}\n</answer>"


def conv(text):
    return [{"role": "assistant", "content": text}]


def test_math_reward_is_grade_math_and_skips_other_domains():
    (math,) = resolve_rewards(["math"], [EOS])
    completions = [conv(GOOD), conv("<think>85</think><answer>84</answer>"), conv("no answer here"), conv(GOOD)]
    logged = {}
    got = math(completions=completions, answer=["85", "85", "85", "85"], domain=["math", "math", "math", "code"],
               completion_ids=[[9, EOS]] * 4, log_metric=logged.__setitem__)
    assert got == [1.0, 0.0, 0.0, None]
    assert logged["math/correct"] == pytest.approx(1 / 3) and logged["math/no_answer"] == pytest.approx(1 / 3)
    statuses = [v.status for v in math.verdicts(completions[:3], ["85"] * 3, ["math"] * 3)]
    assert statuses == ["correct", "incorrect", "no_answer"]


def test_math_literal_refuses_the_unevaluated_expression_that_math_accepts():
    """The shortcut the CPU GRPO run learned (results/training/README.md): box the problem's own expression."""
    math, literal = resolve_rewards(["math", "math_literal"], [EOS])
    assert literal.__name__ == "math_literal_reward"
    completions = ["\\boxed{33 + 87}", "\\boxed{120}", "<answer>120.</answer>", "\\boxed{121}", "\\boxed{\\frac{1}{2}}"]
    kwargs = {"completions": completions, "answer": ["120", "120", "120", "120", "1/2"], "domain": ["math"] * 5,
              "completion_ids": [[9, EOS]] * 5}
    assert math(**kwargs) == [1.0, 1.0, 1.0, 0.0, 1.0]  # Math-Verify: 33 + 87 equals 120
    assert literal(**kwargs) == [0.0, 1.0, 1.0, 0.0, 1.0]  # non-numeral golds keep grade_math's equivalence
    verdict = literal.verdicts(completions[:1], ["120"], ["math"])[0]
    assert verdict.status == "incorrect" and "not written as a number" in verdict.reason


def test_cut_completion_is_truncated_even_with_the_right_answer():
    math, fmt = resolve_rewards(["math", "format"], [EOS])
    kwargs = {"completions": [GOOD, GOOD], "answer": ["85", "85"], "domain": ["math", "math"],
              "completion_ids": [[9, EOS], [9, 9]]}
    assert math(**kwargs) == [1.0, 0.0]
    assert fmt(**kwargs) == [1.0, 0.0]
    assert [v.status for v in math.verdicts([GOOD, GOOD], ["85"] * 2, ["math"] * 2, [[EOS], [9]])] == [
        "correct", "truncated"]


def test_format_reward_needs_think_then_answer():
    (fmt,) = resolve_rewards(["format"])
    texts = [GOOD, "<think>x</think><answer>5", "<answer>5</answer>", "<think>x</think> 5",
             "<think>a</think><think>b</think><answer>5</answer>", "preamble <think>x</think><answer>5</answer>"]
    assert fmt(completions=texts) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_choice_reward_uses_grade_choice():
    (choice,) = resolve_rewards(["choice"], [EOS])
    spec = json.dumps({"answer": "E", "n_choices": 5})
    got = choice(completions=["<think>x</think>Answer: C", "<think>x</think>Answer: B", "Answer: E", "x"],
                 answer=["C", "C", spec, "C"], domain=["choice", "choice", "choice", "math"])
    assert got == [1.0, 0.0, 1.0, None]


def test_code_reward_runs_the_program_in_the_sandbox():
    (code,) = resolve_rewards(["code"], [EOS])
    add = "<think>sum</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    sub = add.replace("a + b", "a - b")
    double = "```python\ndef f(x):\n    return 2 * x\n```"
    guru_stdin = json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]})
    own = json.dumps({"cases": [["1 2\n", "3\n"]], "mode": "stdin", "fn_name": None})
    guru_asserts = json.dumps({"functional": "assert f(2) == 4"})
    completions = [add, sub, "<think>no code</think> sorry", add, double, double.replace("2 * x", "x")]
    answers = [guru_stdin, guru_stdin, guru_stdin, own, guru_asserts, guru_asserts]
    verdicts = code.verdicts(completions, answers, ["code"] * 6)
    assert [v.status for v in verdicts] == ["correct", "incorrect", "no_answer", "correct", "correct", "incorrect"]
    assert code(completions=completions, answer=answers, domain=["code"] * 6) == [1.0, 0, 0, 1.0, 1.0, 0]
    with pytest.raises(GraderUnavailable, match="pytest"):
        code(completions=[add], answer=[json.dumps({"pytest": "x"})], domain=["code"])


def test_rewards_without_a_grader_resolve_but_stop_training():
    math, fmt, logic = resolve_rewards(["math", "format", "logic"])
    assert logic(completions=["x"], domain=["math"]) == [None]
    with pytest.raises(GraderUnavailable, match="puzzle checkers"):
        logic(completions=["x"], domain=["logic"])
    check_rewards([math, fmt, logic], {"math"})
    with pytest.raises(GraderUnavailable, match="logic"):
        check_rewards([math, fmt, logic], {"math", "logic"})
    with pytest.raises(ValueError, match="no reward"):
        check_rewards([math, fmt], {"math", "code"})
    with pytest.raises(ValueError, match="unknown reward"):
        resolve_rewards(["accuracy"])
