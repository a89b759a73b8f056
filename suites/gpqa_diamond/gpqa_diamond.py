"""GPQA-Diamond (198 graduate-level science questions, 4 options), graded by the chosen letter (K2-Think
Table 1: 71.08 for the full system).

Options are shuffled per sample *and epoch* with a recorded seed (questions.py): the task's `setup` solver,
which inspect runs even when a system replaces the main solver chain, rewrites the user prompt for the
sample's epoch and stores the order (indices only, no text) in the sample metadata, where the scorer reads
the gold letter. Question text lives in memory only and reaches nothing but the model's prompt.

    inspect eval suites/gpqa_diamond                       # 16 epochs (avg@16), paper protocol
    inspect eval suites/gpqa_diamond -T shuffle_seed=7     # other option orders, same balance
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver

from suites._protocol import K2THINK_SYSTEM_PROMPT, PAPER_EPOCHS
from suites._suite import suite_task
from suites._unavailable import skip_when_unavailable
from suites.gpqa_diamond.questions import (
    DEFAULT_SEED,
    GPQAQuestion,
    load_questions,
    option_order,
    shuffle_metadata,
    user_prompt,
)
from suites.grading.registry import CHOICE_SHUFFLE_KEY


@solver
def shuffle_options(questions: dict[str, GPQAQuestion], seed: int) -> Solver:
    """Show the options in this epoch's order and record that order for the scorer."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        question = questions[str(state.sample_id)]
        state.user_prompt.text = user_prompt(question, option_order(question.record_id, state.epoch, seed))
        state.metadata[CHOICE_SHUFFLE_KEY] = shuffle_metadata(question.record_id, state.epoch, seed)
        return state

    return solve


def gpqa_sample(question: GPQAQuestion, seed: int) -> Sample:
    # the sample as built already shows epoch 1's order, so the input alone never reveals the gold position
    first = shuffle_metadata(question.record_id, 1, seed)
    return Sample(
        id=question.record_id,
        input=[
            ChatMessageSystem(content=K2THINK_SYSTEM_PROMPT),
            ChatMessageUser(content=user_prompt(question, option_order(question.record_id, 1, seed))),
        ],
        target=str(first["gold_letter"]),
        metadata={
            "record_id": question.record_id,
            "domain": question.domain,
            "subdomain": question.subdomain,
            CHOICE_SHUFFLE_KEY: first,
        },
    )


@task
@skip_when_unavailable
def gpqa_diamond(epochs: int = PAPER_EPOCHS, shuffle_seed: int = DEFAULT_SEED) -> Task:
    questions = {q.record_id: q for q in load_questions()}
    samples = [gpqa_sample(q, shuffle_seed) for q in questions.values()]
    return suite_task(
        "gpqa_diamond",
        samples,
        grader="choice",
        epochs=epochs,
        setup=shuffle_options(questions, shuffle_seed),
        metadata={"shuffle_seed": shuffle_seed},
    )
