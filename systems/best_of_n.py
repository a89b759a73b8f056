"""Best-of-N with a pairwise LLM judge (the K2-Think authors' selection), plus equal-budget baselines.

Source: k2think-facts.md §3d and the authors' inference code (MBZUAI-IFM/K2-Think-Inference main.py at a576a07,
`select_best`, `best_of_n_sampling`): N independent samples (N = 3), each with its own plan when combined with
plan-before-you-think; the winner is found by a linear scan, best-so-far against the next candidate, each
comparison one call to the `judge` role (default: the `planner` role, default: the model under test). The judge
sees the question and only the text after `</think>` of each candidate, or "No answer was found, but here was
the tail end of the problem solving: " + the last 2,000 characters; never the reference answer.

Deviations from the authors' code, on purpose:
  * key mismatch fixed: their judge prompt asks for 'better_index' while their schema and parser read 'index'
    (with guided decoding the model is forced to write 'index', against its instructions). Here prompt, schema
    and parser all use 'better_index'.
  * the answer region is the text after the *last* `</think>` (theirs: between the first and a second
    `</think>`, if any), matching suites.grading.extract; identical for well-formed outputs.
  * a malformed judge reply does not raise (theirs: json.loads / KeyError ends the request). The fallback is
    keep best-so-far, and the comparison is recorded with status `judge_error` (systems/README.md).
  * no soft/hard timeouts: every candidate is waited for (a benchmark must not depend on server load).

The judge's decoding config is explicit, the same rule as the planner's (systems/roles.py: defaults T 0.6,
top-p 0.95, 4096 tokens, then the judge model's own config, the system's `roles.judge.generate` (which starts
from `roles.planner.generate`), then `judge_generate`); its provider must honour `response_schema` unless
`use_response_schema: false`.

Equal-budget baselines (`equal_budget_scorer(grader)`): the same N candidates, graded with the grader the
suite declares by name (suites/grading/registry.py: math, math_set, choice, ...), give avg@n (mean), maj@n
(majority over answers the grader calls the same), pass@n (oracle: any correct) and first@1 (candidate 0
alone), beside judge@n (the judge's pick), so a table shows what the judge adds over voting at the same
generation cost. Grading and voting are suites/grading's (voting.py, scorers.equal_budget_scorer); this module
only hands them its candidates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    Model,
    ModelOutput,
    ResponseSchema,
    get_model,
)
from inspect_ai.scorer import Scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import StoreModel, collect, store_as
from pydantic import BaseModel, Field

from systems.accounting import Accounting, accounted_generate, finalize
from systems.plan import PlanSettings, extract_json_object, plan_messages, user_question
from systems.roles import call_config, solver_schema_check

if TYPE_CHECKING:
    from suites.grading.voting import CandidatePool

DEFAULT_N = 3
TAIL_CHARS = 2000
THINK_CLOSE = "</think>"
NO_ANSWER_PREFIX = "No answer was found, but here was the tail end of the problem solving: "
JUDGE_SYSTEM_PROMPT = (
    "You are a strict evaluator. Given a question and two responses, return a JSON object with 'better_index' "
    "as 0 or 1 for the response that best answers the question."
)
JUDGE_USER_TEMPLATE = "Question: {question}\nResponse 0: {best}\nResponse 1: {challenger}"
# the authors' BoNIndex schema with the key their prompt asks for, the (unused) explanation BOUNDED so that the
# grammar closes the object before max_tokens, as systems/plan.py's TRIAGE_SCHEMA (measured with SmolLM2-135M
# under xgrammar at 128 tokens: 11 of 16 judge replies were cut inside the explanation, the index already written)
JUDGE_KEY = "better_index"
EXPLANATION_MAX_CHARS = 300
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        JUDGE_KEY: {"type": "integer", "enum": [0, 1]},
        "explanation": {"type": "string", "maxLength": EXPLANATION_MAX_CHARS},
    },
    "required": [JUDGE_KEY, "explanation"],
}


class Candidate(BaseModel):
    branch: int
    completion: str
    stop_reason: str
    judged_text: str
    prompt: str  # the user message this candidate answered (with <ideas> when planned)
    plan_status: str | None = None


class Comparison(BaseModel):
    best_so_far: int
    challenger: int
    call_index: int
    reply: str
    status: str  # ok | judge_json_extracted | judge_error
    detail: str | None = None
    better_index: int | None = None
    winner: int


class BestOfN(StoreModel):
    candidates: list[Candidate] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    winner: int | None = None
    selection_status: str | None = None  # judged | judge_error | single_candidate


def judged_text(completion: str) -> str:
    """What the judge sees of a candidate: its answer part, else the tail of its reasoning."""
    if THINK_CLOSE in completion:
        return completion.rsplit(THINK_CLOSE, 1)[1]
    return NO_ANSWER_PREFIX + completion[-TAIL_CHARS:]


def parse_judge(text: str) -> tuple[str, int | None, str | None]:
    """(status, better_index, detail): ok / judge_json_extracted with 0 or 1, else judge_error and None."""
    body, how = extract_json_object(text)
    if body is None:
        return "judge_error", None, how
    if JUDGE_KEY not in body:
        return "judge_error", None, f"no '{JUDGE_KEY}' key (keys: {sorted(body)})"
    value = body[JUDGE_KEY]
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
        return "judge_error", None, f"{JUDGE_KEY} is {value!r}, not 0 or 1"
    if how == "extracted":
        return "judge_json_extracted", value, "JSON object found inside surrounding text"
    return "ok", value, None


def judge_model() -> Model:
    return get_model(role="judge", default=get_model(role="planner"))


async def select_best(
    question: str,
    candidates: list[Candidate],
    judge_generate: dict[str, Any] | None,
    use_response_schema: bool,
    roles: dict[str, Any] | None = None,
) -> tuple[int, str, list[Comparison]]:
    """Linear scan of pairwise judge calls; returns (winner, selection_status, comparisons)."""
    if len(candidates) == 1:
        return 0, "single_candidate", []
    judge = judge_model()
    accounting = store_as(Accounting)
    schema = None
    if use_response_schema:
        solver_schema_check("judge", judge)
        schema = ResponseSchema(name="better_response", json_schema=JUDGE_SCHEMA)
    config = call_config(judge, roles, "judge", judge_generate, schema=schema, schema_dict=JUDGE_SCHEMA)
    best, comparisons, any_error = 0, [], False
    for challenger in range(1, len(candidates)):
        messages: list[ChatMessage] = [
            ChatMessageSystem(content=JUDGE_SYSTEM_PROMPT),
            ChatMessageUser(
                content=JUDGE_USER_TEMPLATE.format(
                    question=question, best=candidates[best].judged_text, challenger=candidates[challenger].judged_text
                )
            ),
        ]
        output, call = await accounted_generate(
            judge, messages, role="judge", purpose="judge", branch=challenger, config=config
        )
        status, better, detail = parse_judge(output.completion)
        accounting.set_status(call, status, detail)
        if status == "judge_error":
            any_error = True
            winner = best  # fallback: keep best-so-far, recorded; never a silent pick
        else:
            winner = challenger if better == 1 else best
        comparisons.append(
            Comparison(
                best_so_far=best, challenger=challenger, call_index=call, reply=output.completion,
                status=status, detail=detail, better_index=better, winner=winner,
            )
        )  # fmt: skip
        best = winner
    return best, ("judge_error" if any_error else "judged"), comparisons


@solver
def best_of_n(
    n: int = DEFAULT_N,
    plan: dict[str, Any] | None = None,
    judge_generate: dict[str, Any] | None = None,
    use_response_schema: bool = True,
    roles: dict[str, Any] | None = None,
) -> Solver:
    """N independent candidates (each planned when `plan` is given), the judge's pick becomes the output."""
    if n < 1:
        raise ValueError(f"best_of_n needs n >= 1, got {n}")
    plan_settings = PlanSettings.from_dict({**plan, "roles": roles}) if plan is not None else None

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        _, question = user_question(state.messages)
        base = list(state.messages)
        solver_model = get_model()

        async def branch(i: int) -> tuple[list[ChatMessage], ModelOutput, Candidate]:
            messages, plan_status = base, None
            if plan_settings is not None:
                messages, record = await plan_messages(base, plan_settings, branch=i)
                plan_status = record.plan_status or record.triage_status
            output, _ = await accounted_generate(solver_model, messages, role="solver", purpose="candidate", branch=i)
            candidate = Candidate(
                branch=i, completion=output.completion, stop_reason=output.stop_reason,
                judged_text=judged_text(output.completion), prompt=user_question(messages)[1], plan_status=plan_status,
            )  # fmt: skip
            return messages, output, candidate

        results = await collect(*(branch(i) for i in range(n)))
        candidates = [c for _, _, c in results]
        winner, status, comparisons = await select_best(
            question, candidates, judge_generate, use_response_schema, roles
        )
        record = store_as(BestOfN)
        record.candidates, record.comparisons, record.winner, record.selection_status = (
            candidates,
            comparisons,
            winner,
            status,
        )
        messages, output, _ = results[winner]
        state.messages = [*messages, output.message]
        state.output = output
        state.metadata["k2bench_best_of_n"] = {
            "n": n, "winner": winner, "selection_status": status,
            "judge_errors": sum(c.status == "judge_error" for c in comparisons),
        }  # fmt: skip
        finalize(state)
        return state

    return solve


# --- equal-budget baselines ------------------------------------------------------------------------------


def candidate_pool(state: TaskState) -> CandidatePool:
    """This sample's N candidates and the judge's pick, from the best_of_n solver's store."""
    from suites.grading.voting import CandidatePool

    record = store_as(BestOfN)
    if not record.candidates or record.winner is None:
        raise RuntimeError("equal_budget_scorer needs the best_of_n solver's candidates in the store")
    return CandidatePool(record.candidates, record.winner, record.selection_status)


def equal_budget_scorer(grader: str = "math") -> Scorer:
    """judge@n beside avg@n, maj@n, pass@n and first@1 over this system's N candidates, graded by the suite's
    grader: the scorer is suites/grading/scorers.py's (voting in suites/grading/voting.py); this supplies the pool."""
    from suites.grading.scorers import equal_budget_scorer as over_candidates

    return over_candidates(grader, pool=candidate_pool)
