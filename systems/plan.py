"""Plan-before-you-think: the K2-Think authors' planner, as an inspect solver over any suite.

Source: k2think-facts.md §3c and the authors' inference code (GitHub MBZUAI-IFM/K2-Think-Inference, main.py at
a576a07: `create_topics_list`, `sampling_with_planning`); the three prompts below are theirs, character for
character, including the missing newline between `</question>` and "Below are ..." in the solver prompt.

  1. triage (planner role): is this a hard problem? JSON {is_hard_problem, plan, search_list}, constrained by a
     JSON schema (the authors' vLLM `guided_json`; here inspect's response_schema). The `plan` field is
     discarded, as in the authors' code; if not hard, the solver gets the raw question.
  2. plan (planner role, thinking disabled through chat_template_kwargs): a plan from the question and the
     search topics that must not disclose the answer, wrapped in <plan></plan>.
  3. insertion: the user message becomes `<question>q</question>Below are some helpful insights or ideas:
     <ideas>plan</ideas> ...`; the suite's system message (the K2-Think system prompt) stays.

The planner is the inspect model role `planner` (bind it with `--model-role planner=...` or the runner's
`--model-role planner=models/x.yaml`); unbound, the model under test plans for itself. Its decoding config is
explicit and the same rule as the judge's (systems/roles.py: defaults T 0.6, top-p 0.95, 4096 tokens, then
the planner model's own config, the system's `roles.planner.generate`, then `triage_generate` /
`plan_generate`); it never inherits the suite's protocol. Triage is constrained by a JSON schema, so the
planner's provider must honour `response_schema` (systems/roles.py refuses one that does not, unless
`use_response_schema: false`).

Malformed replies never crash a sample and are never silently used (systems/README.md "Failure handling"):
  triage reply not JSON / keys missing / wrong types -> status `triage_error`: no plan, raw question (the
      authors' code would raise here and drop the branch); the call is marked in the accounting record;
  JSON wrapped in prose or a code fence           -> parsed, status `triage_json_extracted` (recorded);
  more than 5 search topics                      -> the first 5 are used, status `topics_truncated`; also a
                                                    reply cut at max_tokens inside its search_list after 5
                                                    complete topics (`not_hard` when cut after `false`);
  plan reply without <plan></plan>               -> the whole reply is the plan (the authors' behaviour),
                                                    status `no_plan_tags`; an empty plan -> raw question,
                                                    status `empty_plan`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageUser, Model, ResponseSchema, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import StoreModel, store_as
from pydantic import BaseModel, Field

from systems.accounting import Accounting, accounted_generate
from systems.roles import call_config, solver_schema_check

MAX_SEARCH_TOPICS = 5

# --- the authors' prompts (MBZUAI-IFM/K2-Think-Inference main.py) -------------------------------------------
TRIAGE_PROMPT = (
    "First determine if the user is asking a hard math, stem, or coding problem, or any question where you would "
    "need more information from the internet. If so, construct a plan and then a JSON list of less than five "
    "things you would want to search for to help solve this hard problem: "
    "{question} "
    'An example of a good thing to search is "Prime vs. composite power sum convergence conditions" or '
    '"Using inclusion/exclusion to prove combinatorics problems"'
)
PLAN_PROMPT = (
    "You are given a question and some useful topics:\n"
    "<question>{question}</question>\n"
    "<topics>{topics}</topics>\n"
    "You need to generate a plan of solving the question based on the topics above WITHOUT disclosing the final "
    "or potential answer. DO NOT mention or give any hints of the final or potential answer in your plan. Wrap "
    "your plan inside <plan></plan>."
)
SOLVER_PROMPT = (
    "<question>{question}</question>"
    "Below are some helpful insights or ideas:\n"
    "<ideas>{ideas}</ideas>\n"
    "The ideas above may provide some insights in solving the challenge. Now please answer the original question."
)
# The authors' pydantic SearchList schema, as JSON schema, with its free text BOUNDED (a deliberate deviation):
# under constrained decoding a model that rambles inside the `plan` string (discarded, as in their code) or a
# topic never closes the JSON before max_tokens, and the verdict is lost (measured with SmolLM2-135M and
# xgrammar at 128 tokens: 11 of 16 triage replies cut inside a string). With maxLength the grammar closes each
# string; the fields the system uses (is_hard_problem, search_list) are unchanged. The list's length cannot be
# bounded here (inspect's JSONSchema has no maxItems and drops it): a reply cut inside a long list is read by
# `read_cut_triage` (status topics_truncated when it holds MAX_SEARCH_TOPICS complete topics). Servers that take
# the whole schema (systems/roles.py FULL_SCHEMA_PROVIDERS: vLLM, SGLang) get TRIAGE_SCHEMA_BOUNDED, whose list
# is bounded too (maxItems = MAX_SEARCH_TOPICS, what the parser keeps of a longer list anyway).
TRIAGE_PLAN_MAX_CHARS = 300
TOPIC_MAX_CHARS = 80
TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "is_hard_problem": {"type": "boolean"},
        "plan": {"type": "string", "maxLength": TRIAGE_PLAN_MAX_CHARS},
        "search_list": {"type": "array", "items": {"type": "string", "maxLength": TOPIC_MAX_CHARS}},
    },
    "required": ["is_hard_problem", "plan", "search_list"],
}
TRIAGE_SCHEMA_BOUNDED = {
    **TRIAGE_SCHEMA,
    "properties": {
        **TRIAGE_SCHEMA["properties"],
        "search_list": {**TRIAGE_SCHEMA["properties"]["search_list"], "maxItems": MAX_SEARCH_TOPICS},
    },
}
# the authors disable the planner's thinking for the plan call (Qwen3 chat template kwarg)
DEFAULT_PLAN_EXTRA_BODY = {"chat_template_kwargs": {"enable_thinking": False}}


class PlanRecord(BaseModel):
    branch: int | None = None
    triage_status: str  # ok | triage_json_extracted | topics_truncated | not_hard | triage_error
    is_hard_problem: bool | None = None
    search_list: list[str] | None = None
    triage_detail: str | None = None
    plan_status: str | None = None  # ok | no_plan_tags | empty_plan | None (no plan call)
    plan: str | None = None
    ideas_inserted: bool = False


class Plans(StoreModel):
    records: list[PlanRecord] = Field(default_factory=list)


@dataclass(frozen=True)
class PlanSettings:
    """What a system yaml's `plan:` block may set (all optional)."""

    triage_generate: dict[str, Any] | None = None  # extra GenerateConfig fields for the triage call
    plan_generate: dict[str, Any] | None = None  # ... for the plan call
    plan_extra_body: dict[str, Any] | None = None  # None -> the authors' enable_thinking=False
    use_response_schema: bool = True  # False for endpoints that reject response_format
    roles: dict[str, Any] | None = None  # the system's `roles:` block (planner decoding, systems/roles.py)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PlanSettings:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"plan: unknown settings {sorted(unknown)}")
        return cls(**data)


def planner_model() -> Model:
    return get_model(role="planner")


def user_question(messages: list[ChatMessage]) -> tuple[int, str]:
    """Index and text of the last user message: the problem as the suite phrased it."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return i, messages[i].text
    raise ValueError("the sample has no user message to plan for")


def extract_json_object(text: str) -> tuple[dict[str, Any] | None, str]:
    """Parse a JSON object reply: strict first, then the outermost {...} in prose or a code fence."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
        if isinstance(value, dict):
            return value, "strict"
        return None, f"JSON is a {type(value).__name__}, not an object"
    except json.JSONDecodeError as err:
        strict_error = f"not JSON ({err.msg} at char {err.pos})"
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        try:
            value = json.loads(stripped[start : end + 1])
            if isinstance(value, dict):
                return value, "extracted"
        except json.JSONDecodeError:
            pass
    return None, strict_error


_CUT_TRIAGE_HEAD = re.compile(r'\s*\{\s*"is_hard_problem"\s*:\s*(true|false)\s*,\s*"plan"\s*:\s*')
_CUT_TRIAGE_LIST = re.compile(r'\s*,\s*"search_list"\s*:\s*\[\s*')
_COMMA = re.compile(r"\s*,\s*")


def read_cut_triage(text: str) -> tuple[bool, list[str]] | None:
    """(is_hard_problem, the complete topics) of a triage reply cut inside its search_list, else None.

    Under the JSON schema the reply is `{"is_hard_problem": b, "plan": "...", "search_list": ["...", ...` in the
    schema's order; a model that keeps listing topics runs into max_tokens before the closing `]}` (inspect's
    JSON schema cannot carry maxItems). What was written before the cut is complete and grammar-valid.
    """
    decoder = json.JSONDecoder()
    head = _CUT_TRIAGE_HEAD.match(text)
    if head is None:
        return None
    try:
        plan, end = decoder.raw_decode(text, head.end())
    except json.JSONDecodeError:
        return None
    at_list = _CUT_TRIAGE_LIST.match(text, end)
    if not isinstance(plan, str) or at_list is None:
        return None
    topics, pos = [], at_list.end()
    while True:
        try:
            topic, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        if not isinstance(topic, str):
            return None
        topics.append(topic)
        comma = _COMMA.match(text, pos)
        if comma is None:
            break
        pos = comma.end()
    return head.group(1) == "true", topics


def parse_triage(text: str) -> tuple[str, bool | None, list[str] | None, str | None]:
    """(status, is_hard_problem, search_list, detail) for a triage reply."""
    body, how = extract_json_object(text)
    if body is None:
        cut = read_cut_triage(text)
        if cut is not None and not cut[0]:
            return "not_hard", False, None, "reply cut inside search_list after is_hard_problem: false"
        if cut is not None and len(cut[1]) >= MAX_SEARCH_TOPICS:
            # what the parser keeps of a longer list anyway: the first MAX_SEARCH_TOPICS complete topics
            detail = f"reply cut inside search_list after {len(cut[1])} complete topics, kept the first {MAX_SEARCH_TOPICS}"
            return "topics_truncated", True, cut[1][:MAX_SEARCH_TOPICS], detail
        return "triage_error", None, None, how
    hard, topics = body.get("is_hard_problem"), body.get("search_list")
    if not isinstance(hard, bool):
        return "triage_error", None, None, f"is_hard_problem is {hard!r}, not a boolean"
    if not hard:
        return "not_hard", False, None, None
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return "triage_error", True, None, f"search_list is {topics!r}, not a list of strings"
    status, detail = (
        ("triage_json_extracted", "JSON object found inside surrounding text") if how == "extracted" else ("ok", None)
    )
    if len(topics) > MAX_SEARCH_TOPICS:
        status, detail = "topics_truncated", f"{len(topics)} topics, kept the first {MAX_SEARCH_TOPICS}"
        topics = topics[:MAX_SEARCH_TOPICS]
    return status, True, topics, detail


def parse_plan(text: str) -> tuple[str, str]:
    """The authors' rule: the text before the last </plan>, after the last <plan> in it; else the whole reply."""
    if "</plan>" in text:
        plan = text.split("</plan>")[-2]
        if "<plan>" in plan:
            plan = plan.split("<plan>")[-1]
        status = "ok"
    else:
        plan, status = text, "no_plan_tags"
    if not plan.strip():
        return "empty_plan", ""
    return status, plan


async def plan_messages(
    messages: list[ChatMessage], settings: PlanSettings, branch: int | None = None
) -> tuple[list[ChatMessage], PlanRecord]:
    """Run triage (+ plan) for one solver call; return the messages the solver should see and the record."""
    index, question = user_question(messages)
    planner = planner_model()
    accounting = store_as(Accounting)

    schema = None
    if settings.use_response_schema:
        solver_schema_check("planner", planner)
        schema = ResponseSchema(name="search_list", json_schema=TRIAGE_SCHEMA)
    triage_config = call_config(
        planner, settings.roles, "planner", settings.triage_generate, schema=schema,
        schema_dict=TRIAGE_SCHEMA_BOUNDED,
    )  # fmt: skip
    triage_out, triage_call = await accounted_generate(
        planner, [ChatMessageUser(content=TRIAGE_PROMPT.format(question=question))],
        role="planner", purpose="triage", branch=branch, config=triage_config,
    )  # fmt: skip
    status, hard, topics, detail = parse_triage(triage_out.completion)
    record = PlanRecord(
        branch=branch, triage_status=status, is_hard_problem=hard, search_list=topics, triage_detail=detail
    )
    accounting.set_status(triage_call, status, detail)
    if topics is None:  # not hard, or a triage reply we could not use: the raw question, as the authors do
        _record(record)
        return list(messages), record

    extra_body = DEFAULT_PLAN_EXTRA_BODY if settings.plan_extra_body is None else settings.plan_extra_body or None
    plan_config = call_config(planner, settings.roles, "planner", settings.plan_generate, extra_body=extra_body)
    plan_out, plan_call = await accounted_generate(
        planner, [ChatMessageUser(content=PLAN_PROMPT.format(question=question, topics=str(topics)))],
        role="planner", purpose="plan", branch=branch, config=plan_config,
    )  # fmt: skip
    plan_status, plan = parse_plan(plan_out.completion)
    record = record.model_copy(update={"plan_status": plan_status, "plan": plan})
    accounting.set_status(plan_call, plan_status)
    if plan_status == "empty_plan":
        _record(record)
        return list(messages), record
    rewritten = list(messages)
    rewritten[index] = ChatMessageUser(content=SOLVER_PROMPT.format(question=question, ideas=plan))
    record = record.model_copy(update={"ideas_inserted": True})
    _record(record)
    return rewritten, record


def _record(record: PlanRecord) -> None:
    plans = store_as(Plans)
    plans.records = [*plans.records, record]


@solver
def plan(
    triage_generate: dict[str, Any] | None = None,
    plan_generate: dict[str, Any] | None = None,
    plan_extra_body: dict[str, Any] | None = None,
    use_response_schema: bool = True,
    roles: dict[str, Any] | None = None,
) -> Solver:
    """Rewrite the sample's user message with the planner's ideas (then chain a generation after it)."""
    settings = PlanSettings(triage_generate, plan_generate, plan_extra_body, use_response_schema, roles)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.messages, record = await plan_messages(state.messages, settings)
        state.metadata["k2bench_plan"] = [record.model_dump()]
        return state

    return solve


def ideas_in(text: str) -> str | None:
    """The <ideas> block of a solver prompt, if the planner's plan was inserted (used by tests and analysis)."""
    match = re.search(r"<ideas>(.*?)</ideas>", text, re.DOTALL)
    return match.group(1) if match else None
