"""Humanity's Last Exam, text-only questions (K2-Think reports 9.95; which subset and judge: not recovered).

Multiple-choice and numeric/formula answers are graded by rule; free-text answers by an LLM judge taken
from the inspect model role `grader` (records.py says which is which). The judge's verdict is parsed
strictly: an unreadable verdict is status `error`, never `incorrect`. A run with free-text questions and
no `grader` role stops at the first such sample instead of letting the model grade itself.

    inspect eval suites/hle -T data_path=/data/hle/test-00000-of-00001.parquet \\
        --model-role grader=openai/o3-mini
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, model_roles
from inspect_ai.solver import Generate, Solver, TaskState, solver

from suites._protocol import K2THINK_SYSTEM_PROMPT, PAPER_EPOCHS
from suites._suite import suite_task
from suites._unavailable import skip_when_unavailable
from suites.grading.scorers import GRADING_KEY
from suites.hle.records import hle_records

USER_TEMPLATE = "{question}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."
MC_USER_TEMPLATE = (
    "{question}\n\nPlease reason step by step, and put the letter of your chosen answer within \\boxed{{}}."
)


@solver
def require_judge(role: str) -> Solver:
    """Stop before generating if this sample needs the judge and no model is bound to its role."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.metadata[GRADING_KEY] == "judge" and role not in model_roles():
            raise RuntimeError(
                f"HLE sample {state.sample_id} is graded by an LLM judge, but no model is bound to the role "
                f"{role!r}: run with --model-role {role}=<provider/model> (the model under test never grades itself)"
            )
        return state

    return solve


def hle_sample(record: dict) -> Sample:
    template = MC_USER_TEMPLATE if record[GRADING_KEY] == "choice" else USER_TEMPLATE
    return Sample(
        id=record["id"],
        input=[
            ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT),
            ChatMessageUser(content=template.format(question=record["question"])),
        ],
        target=record["answer"],
        metadata=dict(record),
    )


@task
@skip_when_unavailable
def hle(epochs: int = PAPER_EPOCHS, data_path: str | None = None, judge_role: str = "grader") -> Task:
    records, facts = hle_records(data_path)
    return suite_task(
        "hle",
        [hle_sample(r) for r in records],
        grader="rule_or_judge",
        scorer_args={"judge_role": judge_role},
        epochs=epochs,
        setup=require_judge(judge_role),
        metadata={"judge_role": judge_role, **facts},
    )
