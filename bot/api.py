"""The API for machines: CI reporting coverage, monitors reporting latency, agents reporting in.

    POST  /api/v1/metrics                    metric NAME VALUE [--plan PLAN]
    POST  /api/v1/events                     event NAME [--plan PLAN]
    PATCH /api/v1/tasks/{id}                 task start|done|block|fail|reopen ID [--reason] [--plan]
    GET   /api/v1/report                     report [--from] [--to] [--stream] [--agent] [--plan], JSON or CSV
    GET   /api/v1/exports/{what}             export WHAT [--from] [--to] [--plan] [--format csv|json], streamed
    POST  /api/v1/agents/{id}/heartbeat      an agent's heartbeat, up or down
    GET   /api/v1/agents/me/next             task next: your current task, else your next ready one
    POST  /api/v1/tasks/{id}/start|progress|done|block|fail    task start|progress|done|block|fail ID
    POST  /api/v1/agents/me/heartbeat        heartbeat ME [--down] [--note TEXT]
    GET   /api/v1/openapi.json               this API's OpenAPI document (/api/v1/docs: Swagger UI), with the token

Every request needs ``Authorization: Bearer $ORCHESTRATE_API_TOKEN`` (the client
acts as the operator, a lead on every plan) or an agent's own token from
``agent token AGENT`` (the client is that agent: its own tasks and heartbeats
only; anything else is 403). Its source in the audit log is ``api``, its actor
``api`` or ``agent:AGENT``. A write may carry an ``Idempotency-Key``: the same key
again gets the first answer and changes nothing twice. Where a command exists
the request *is* that command: it goes through
the grammar and the dispatcher, so it is checked, run in one transaction and
audited exactly as on the CLI (a heartbeat is `heartbeat AGENT [--down]`).

Answers are JSON: ``{"ok": true, "reply": …}`` (the command's reply), or
``{"ok": false, "error": "…"}`` with a 4xx status that says which kind of
problem it was. A refused request changes nothing.

Without a token the API is off: every /api/v1 path answers 503 with how to
turn it on.
"""

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bot.throttle import FailedTokens
from commands.core.context import Actor
from commands.core.dispatch import InternalError, Invocation, audit_refusal, execute
from commands.core.errors import CommandError, IdempotencyConflict, PermissionDenied, UsageError, brief
from models.db.types import utcnow
from models.state.agent_tokens import TokenHolder, holder, touch
from models.time.units import MAX_VALUE_TEXT, UnitError, parse_quantity
from models.views.exports import Export, stream
from models.views.reply import Document, HeartbeatAck, Reply, TaskCard

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"
DOCS_URL = f"{PREFIX}/docs"
MAX_BODY = 64 * 1024  # however it is sent: refused while it arrives (bot/body_limit.py)

ACTOR = Actor(id="api", name="api", source="api", operator=True)
INVOCATION = Invocation(actor=ACTOR, front="api")

OFF_MESSAGE = (
    "the API is off: set ORCHESTRATE_API_TOKEN (in the environment or .env) to a long random "
    "secret and restart `orchestrate serve`; clients then send `Authorization: Bearer <token>`"
)

# TASK_ID = Path(max_length=100, examples=["T1"])

TASK_ID = Path(max_length=100, examples=["T1"])

# PATCH /tasks/{id} "status" -> the `task` action that gets it there.
TASK_ACTIONS = {"in-progress": "start", "done": "done", "blocked": "block", "failed": "fail", "ready": "reopen"}


# --- what goes in and out ---------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="plan id; default: the only running plan, else the only plan",
    )


class MetricIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["test-coverage"])
    value: str | float = Field(
        examples=["78%"], description="a number with an optional unit: 78%, 620ms, 1.5 hours, 3/day"
    )

    @field_validator("value", mode="before")
    @classmethod
    def _as_written(cls, value: Any) -> str:
        """The command reads text: 0.62 and "0.62" are the same reading; true is none."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("give a number, or a string with its unit such as '78%' or '620ms'")
        if len(str(value)) > MAX_VALUE_TEXT:
            raise ValueError(f"a value is at most {MAX_VALUE_TEXT} characters, e.g. '78%' or '620ms'")
        return str(value)


class EventIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["api-endpoints-ready"])


class TaskPatch(_In):
    status: Literal["in-progress", "done", "blocked", "failed", "ready"] = Field(
        description="in-progress = task start, done, blocked = task block, failed = task fail, ready = task reopen"
    )
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class HeartbeatIn(_In):
    status: Literal["up", "down"] = "up"
    note: str | None = Field(
        default=None, max_length=200, description="a status line: what it is doing", examples=["running migrations"]
    )


Link = Annotated[str, Field(max_length=500, pattern=r"^https?://\S+$", examples=["https://github.com/o/r/pull/42"])]


class ReasonIn(_In):
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class RequiredReasonIn(_In):
    reason: str = Field(min_length=1, max_length=500, examples=["waiting for the staging database"])


class _Links(_In):
    link: Link | None = Field(default=None, description="one link")
    links: list[Link] = Field(default=[], max_length=10, description="links (at most 10)")

    def all_links(self) -> list[str]:
        return ([self.link] if self.link else []) + list(self.links)


class ProgressIn(_Links):
    note: str = Field(min_length=1, max_length=500, examples=["migrations written, tests next"])
    percent: int | None = Field(default=None, ge=0, le=100)


class DoneIn(_Links):
    reason: str | None = Field(default=None, min_length=1, max_length=500, description="a note on the done")


class CommandOut(BaseModel):
    ok: Literal[True] = True
    reply: dict[str, Any] = Field(description="the command's reply: {body: {kind, text, details…}, announce, plan}")


class HeartbeatOut(CommandOut):
    agent: str
    status: Literal["up", "down"]
    recovered: bool = Field(description="the agent had been down and is up again")
    last_seen_at: datetime
    status_line: str | None = Field(default=None, description="the status line this heartbeat carried")


class NextOut(CommandOut):
    task: TaskCard = Field(description="task is null when there is nothing in progress or ready (text says why)")


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    ok: Literal[False] = False
    error: str
    fields: list[FieldProblem] | None = Field(default=None, description="on 422: each field that was wrong")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input (the message says what would be right)"},
    401: {"model": ErrorOut, "description": "no token, or not the right one (or a revoked agent token)"},
    403: {"model": ErrorOut, "description": "an agent's token outside what it may do (the message says what it may)"},
    429: {"model": ErrorOut, "description": "too many wrong tokens from this address lately (Retry-After says when)"},
    404: {"model": ErrorOut, "description": "unknown plan, task or agent"},
    409: {"model": ErrorOut, "description": "refused in the current state (e.g. a task that is already done)"},
    413: {"model": ErrorOut, "description": "the body is larger than 64 KiB"},
    422: {
        "model": ErrorOut,
        "description": "the body does not have the right shape (the fields are named), or an Idempotency-Key "
        "sent again with another request",
    },
    500: {"model": ErrorOut, "description": "a bug on our side: nothing was changed, and it is logged"},
}


class ApiError(Exception):
    def __init__(self, status: int, error: str, headers: dict | None = None, fields: list | None = None):
        super().__init__(error)
        self.status, self.error, self.headers, self.fields = status, error, headers, fields


def error_response(
    status: int, error: str, headers: Mapping[str, str] | None = None, fields: list | None = None
) -> JSONResponse:
    body = ErrorOut(error=error, fields=fields).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


# --- authentication and error shapes, for the API's routes only -----------------------


def refused_token(request: Request, tokens: list[str], throttle: FailedTokens, name: str) -> Response | None:
    """None when the request carries one of ``tokens`` as its bearer; else the answer: 401, or 429 for a client
    that sent too many wrong ones (throttled per address, logged)."""
    client = request.client.host if request.client else "unknown"
    wait = throttle.wait_for(client)
    if wait:
        return error_response(
            429, f"too many wrong tokens from this address: try again in {wait} s", headers={"Retry-After": str(wait)}
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_bytes = given.strip().encode()
    # Every token is compared (in constant time), so the answer takes as long whichever matched.
    matches = [hmac.compare_digest(given_bytes, token.encode()) for token in tokens]
    if scheme.lower() == "bearer" and any(matches):
        return None
    throttle.failed(client)
    why = "no bearer token" if not given.strip() else "that token is not the right one"
    return error_response(401, f"{why}: send `Authorization: Bearer <{name}>`", headers={"WWW-Authenticate": "Bearer"})


AGENT_MAY = (
    "an agent's token may: GET /api/v1/agents/me/next; POST /api/v1/tasks/{id}/start|progress|done|block|fail "
    "and PATCH /api/v1/tasks/{id} on its own tasks; POST /api/v1/agents/me/heartbeat"
)


def authenticate(request: Request, token: str, engine: Engine, throttle: FailedTokens) -> Actor | Response:
    """The operator (ORCHESTRATE_API_TOKEN) or the agent whose live token the request carries; else the refusal:
    401, or 429 for a client that sent too many wrong ones (throttled per address, logged)."""
    client = request.client.host if request.client else "unknown"
    wait = throttle.wait_for(client)
    if wait:
        return error_response(
            429, f"too many wrong tokens from this address: try again in {wait} s", headers={"Retry-After": str(wait)}
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    bearer = scheme.lower() == "bearer"
    if bearer and hmac.compare_digest(given.encode(), token.encode()):
        return ACTOR
    found = holder(engine, given) if bearer and given else None
    if found is not None:
        touch(engine, found, utcnow())
        return agent_actor(found)
    throttle.failed(client)
    why = "no bearer token" if not given else "that token is not the right one (or it was revoked)"
    return error_response(
        401,
        f"{why}: send `Authorization: Bearer <ORCHESTRATE_API_TOKEN>`, or an agent's token from `agent token AGENT`",
        headers={"WWW-Authenticate": "Bearer"},
    )


def agent_actor(found: TokenHolder) -> Actor:
    return Actor(
        id=f"agent:{found.agent_key}"[:100],
        name=found.agent_key,
        source="api",
        agent_id=found.agent_id,
        agent_plan=found.plan_key,
    )


def _route_class(token: str, throttle: FailedTokens, engine: Engine) -> type[APIRoute]:

    class ApiRoute(APIRoute):
        """Checks the token before anything of the body is looked at (its size was, by BodyLimit), and answers
        every problem as ErrorOut."""

        def get_route_handler(self) -> Callable:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                who = await run_in_threadpool(authenticate, request, token, engine, throttle)
                if isinstance(who, Response):
                    return who
                request.state.actor = who
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    problems = [FieldProblem(field=_field(e), message=_problem(e)) for e in exc.errors()]
                    text = "; ".join(f"{p.field}: {p.message}" for p in problems) or "the request is not valid"
                    return error_response(422, text, fields=[p.model_dump() for p in problems])
                except ApiError as exc:
                    return error_response(exc.status, exc.error, exc.headers, exc.fields)
                except HTTPException as exc:  # FastAPI's own, e.g. a body it could not read
                    return error_response(exc.status_code, str(exc.detail), exc.headers)
                except Exception:  # a bug: logged, never shown
                    log.exception("API request failed: %s %s", request.method, request.url.path)
                    return error_response(500, "something went wrong on our side; it is logged")

            return guarded

    return ApiRoute


def _field(error: dict) -> str:
    where = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid":
        return "body"
    if where and where[0] == "body":
        where = where[1:]
    return ".".join(where) or "body"


def _problem(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return f"not valid JSON: {(error.get('ctx') or {}).get('error', 'could not read it')}"
    given = error.get("input")
    if isinstance(given, bytes):  # a body FastAPI did not read as JSON
        return "send a JSON object, with Content-Type: application/json"
    text = error.get("msg", "is not valid").removeprefix("Value error, ")
    if error.get("type") not in ("missing", "extra_forbidden") and isinstance(given, (str, int, float)):
        text += f" (got {brief(given) if isinstance(given, str) else repr(given)})"
    return text


# --- running commands ------------------------------------------------------------------


def _status_of(exc: CommandError) -> int:
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, PermissionDenied):
        return 403
    text = exc.message
    if text.startswith("unknown ") or text.startswith("no plan is loaded"):
        return 404
    if " is ambiguous" in text or text.startswith("which plan?"):
        return 400  # the request must name it exactly
    return 409


def _option(name: str, value: str | None) -> list[str]:
    if value is None:
        return []
    return [f"--{name}={value}"] if value.startswith("-") else [f"--{name}", value]


def _tokens(words: list[str], positionals: list[str], options: list[str]) -> list[str]:
    """A command line that means exactly what the request says, whatever its values look like."""
    for value in positionals:
        if value in ("-h", "--help"):
            raise ApiError(400, f"{value!r} is not a valid value here")
    if any(value.startswith("-") for value in positionals):
        return [*words, *options, "--", *positionals]
    return [*words, *positionals, *options]


def _plan(body: _In | None, query: str | None) -> str | None:
    given = body.plan if body is not None else None
    if given and query and given != query:
        raise ApiError(400, f"plan given twice: {given!r} in the body, {query!r} in the query; give it once")
    return given or query


def _ok(reply: Reply, **extra: Any) -> dict:
    return {"ok": True, "reply": reply.model_dump(mode="json"), **extra}


# --- the operations, shared by the routes below and the MCP server (bot/mcp_server.py) ---------


def run_as(
    engine: Engine,
    actor: Actor,
    tokens: list[str],
    *,
    key: str | None = None,
    bad_input: Callable[[], bool] = lambda: False,
    may: str | None = None,
) -> Reply:
    """One command as ``actor``: through the grammar and the dispatcher, checked, run and audited; a refusal is
    an ApiError with the status that says which kind it was; ``may``, what an agent's token may do, follows an
    agent's 403 (default: the API's routes)."""
    how = Invocation(actor=actor, front="api", idempotency_key=key)
    try:
        return execute(engine, tokens, how)
    except IdempotencyConflict as exc:
        raise ApiError(422 if exc.mismatch else 409, exc.message) from None
    except CommandError as exc:
        status = 400 if bad_input() else _status_of(exc)
        text = exc.message
        if status == 403 and actor.agent_id is not None:
            text += f"; {may or AGENT_MAY}"
        raise ApiError(status, text) from None
    except InternalError as exc:
        raise ApiError(500, str(exc)) from None


def task_command(
    action: str,
    task_id: str,
    plan: str | None,
    *,
    note: str | None = None,
    percent: int | None = None,
    links: list[str] | None = None,
    reason: str | None = None,
) -> list[str]:
    """`task ACTION ID` with its options, whatever the values look like."""
    options = _option("plan", plan) + _option("note", note)
    options += _option("percent", None if percent is None else str(percent))
    for link in links or []:
        options += _option("link", link)
    options += _option("reason", reason)
    return _tokens(["task", action], [task_id], options)


def answer(reply: Reply) -> dict:
    """A command's reply, as the API answers it."""
    return _ok(reply)


def status_command(plan: str | None) -> list[str]:
    return _tokens(["status"], [plan] if plan else [], [])


def next_command(actor: Actor) -> list[str]:
    return ["task", "next", "--plan", actor.agent_plan or ""]


def next_answer(reply: Reply) -> dict:
    card = reply.body
    if not isinstance(card, TaskCard):
        raise RuntimeError(f"`task next` answered a {card.kind}")
    return _ok(reply, task=card.model_dump(mode="json"))


def heartbeat_command(agent_id: str, plan: str | None, *, down: bool = False, note: str | None = None) -> list[str]:
    options = (["--down"] if down else []) + _option("plan", plan) + _option("note", note)
    return _tokens(["heartbeat"], [agent_id], options)


def heartbeat_answer(reply: Reply) -> dict:
    ack = reply.body
    if not isinstance(ack, HeartbeatAck):
        raise RuntimeError(f"`heartbeat` answered a {ack.kind}")
    return _ok(
        reply,
        agent=ack.agent,
        status=ack.status,
        recovered=ack.recovered,
        last_seen_at=ack.at,
        status_line=ack.status_line,
    )


def build_api(engine: Engine, token: str | None, throttle: FailedTokens | None = None) -> APIRouter:
    """The /api/v1 routes; with no token, routes that only say how to turn the API on."""
    if not token:
        return _api_off()
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="ORCHESTRATE_API_TOKEN",
        description="`Authorization: Bearer <ORCHESTRATE_API_TOKEN>`, or an agent's token (`agent token AGENT`)",
    )
    router = APIRouter(
        prefix=PREFIX,
        route_class=_route_class(token, throttle or FailedTokens(), engine),
        dependencies=[Depends(bearer)],
        responses=ERRORS,
        tags=["api"],
    )
    plan_query = Query(
        default=None,
        min_length=1,
        max_length=100,
        description="plan id (or in the body); default: the only running plan, else the only plan",
    )
    idempotency_header = Header(
        default=None,
        alias="Idempotency-Key",
        description="any unique string (a UUID) of at most 200 printable characters: the same key again gets "
        "the first answer and changes nothing twice (kept a day)",
    )

    def refuse(request: Request, status: int, error: str) -> NoReturn:
        """A refusal before any command ran, audited with who asked."""
        actor: Actor = request.state.actor
        audit_refusal(engine, Invocation(actor=actor, front="api"), f"{request.method} {request.url.path}", error)
        raise ApiError(status, error)

    def operator_only(request: Request) -> None:
        actor: Actor = request.state.actor
        if actor.agent_id is not None:
            refuse(request, 403, f"{actor.name}'s token acts only as {actor.name}; {AGENT_MAY}")

    def agent_only(request: Request) -> Actor:
        actor: Actor = request.state.actor
        if actor.agent_id is None:
            refuse(
                request,
                400,
                f"{request.url.path} is for an agent's own token (`agent token AGENT` makes one); "
                "the operator's token acts for no agent",
            )
        return actor

    def plan_for(request: Request, body: _In | None, query: str | None) -> str | None:
        given = _plan(body, query)
        actor: Actor = request.state.actor
        if actor.agent_id is None:
            return given
        if given is not None and given != actor.agent_plan:
            refuse(request, 403, f"{actor.name}'s token acts only in its plan {actor.agent_plan}, not {given!r}")
        return actor.agent_plan

    def key_of(request: Request, key: str | None) -> str | None:
        if key is None:
            return None
        if not re.fullmatch(r"[\x21-\x7e]{1,200}", key):
            refuse(
                request,
                400,
                f"Idempotency-Key {brief(key)} is not a key: give 1 to 200 printable characters without spaces, "
                "e.g. a UUID",
            )
        return key

    def run(
        request: Request,
        tokens: list[str],
        bad_input: Callable[[], bool] = lambda: False,
        key: str | None = None,
    ) -> Reply:
        return run_as(engine, request.state.actor, tokens, key=key_of(request, key), bad_input=bad_input)

    operator = [Depends(operator_only)]

    @router.post(
        "/metrics",
        status_code=201,
        response_model=CommandOut,
        summary="Report a metric reading (`metric NAME VALUE`)",
        dependencies=operator,
    )
    def report_metric(
        request: Request, body: MetricIn, plan: str | None = plan_query, key: str | None = idempotency_header
    ) -> dict:
        value = str(body.value)

        def unreadable() -> bool:
            try:
                parse_quantity(value)
                return False
            except UnitError:
                return True

        tokens = _tokens(["metric"], [body.name, value], _option("plan", _plan(body, plan)))
        return _ok(run(request, tokens, bad_input=unreadable, key=key))

    @router.post(
        "/events",
        status_code=201,
        response_model=CommandOut,
        summary="Raise an event (`event NAME`): readies the tasks waiting for what it triggers",
        dependencies=operator,
    )
    def raise_event(
        request: Request, body: EventIn, plan: str | None = plan_query, key: str | None = idempotency_header
    ) -> dict:
        return _ok(run(request, _tokens(["event"], [body.name], _option("plan", _plan(body, plan))), key=key))

    @router.patch(
        "/tasks/{task_id}",
        response_model=CommandOut,
        summary="Change a task's status (`task start|done|block|fail|reopen`)",
    )
    def change_task(
        request: Request,
        body: TaskPatch,
        task_id: str = TASK_ID,
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        options = _option("reason", body.reason) + _option("plan", plan_for(request, body, plan))
        return _ok(run(request, _tokens(["task", TASK_ACTIONS[body.status]], [task_id], options), key=key))

    def task_verb(request: Request, action: str, task_id: str, body: _In | None, plan: str | None, key: str | None):
        tokens = task_command(
            action,
            task_id,
            plan_for(request, body, plan),
            note=body.note if isinstance(body, ProgressIn) else None,
            percent=body.percent if isinstance(body, ProgressIn) else None,
            links=body.all_links() if isinstance(body, (ProgressIn, DoneIn)) else None,
            reason=body.reason if isinstance(body, (ReasonIn, RequiredReasonIn, DoneIn)) else None,
        )
        return _ok(run(request, tokens, key=key))

    @router.post("/tasks/{task_id}/start", response_model=CommandOut, summary="Start a task (`task start`)")
    def start_task(
        request: Request,
        task_id: str = TASK_ID,
        body: ReasonIn | None = Body(default=None),
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return task_verb(request, "start", task_id, body, plan, key)

    @router.post(
        "/tasks/{task_id}/progress",
        status_code=201,
        response_model=CommandOut,
        summary="Note progress on a task in progress (`task progress`): a note, a percent, links (`task show`)",
    )
    def task_progress(
        request: Request,
        body: ProgressIn,
        task_id: str = TASK_ID,
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return task_verb(request, "progress", task_id, body, plan, key)

    @router.post(
        "/tasks/{task_id}/done",
        response_model=CommandOut,
        summary="Finish a task (`task done`), with links to its artifacts (a pull request…)",
    )
    def finish_task(
        request: Request,
        task_id: str = TASK_ID,
        body: DoneIn | None = Body(default=None),
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return task_verb(request, "done", task_id, body, plan, key)

    @router.post("/tasks/{task_id}/block", response_model=CommandOut, summary="Block a task, with the reason")
    def block_task(
        request: Request,
        body: RequiredReasonIn,
        task_id: str = TASK_ID,
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return task_verb(request, "block", task_id, body, plan, key)

    @router.post("/tasks/{task_id}/fail", response_model=CommandOut, summary="Fail a task, with the reason")
    def fail_task(
        request: Request,
        body: RequiredReasonIn,
        task_id: str = TASK_ID,
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return task_verb(request, "fail", task_id, body, plan, key)

    @router.get(
        "/agents/me/next",
        response_model=NextOut,
        summary="Your current task, else your next ready one, with what it takes (`task next`); an agent's token",
    )
    def next_task(request: Request) -> dict:
        actor = agent_only(request)
        return next_answer(run(request, next_command(actor)))

    @router.post(
        "/agents/me/heartbeat",
        status_code=201,
        response_model=HeartbeatOut,
        summary="Your heartbeat, with an optional status line (`heartbeat AGENT --note`); an agent's token",
    )
    def my_heartbeat(
        request: Request,
        body: HeartbeatIn | None = Body(default=None),
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        actor = agent_only(request)
        return beat(request, actor.name, body, plan, key)

    @router.post(
        "/agents/{agent_id}/heartbeat",
        status_code=201,
        response_model=HeartbeatOut,
        summary="An agent's heartbeat: up, or reporting itself down",
    )
    def heartbeat(
        request: Request,
        agent_id: str = Path(max_length=100, examples=["agent-c2"]),
        body: HeartbeatIn | None = Body(default=None),
        plan: str | None = plan_query,
        key: str | None = idempotency_header,
    ) -> dict:
        return beat(request, agent_id, body, plan, key)

    def beat(request: Request, agent_id: str, body: HeartbeatIn | None, plan: str | None, key: str | None) -> dict:
        down = body is not None and body.status == "down"
        note = body.note if body is not None else None
        tokens = heartbeat_command(agent_id, plan_for(request, body, plan), down=down, note=note)
        return heartbeat_answer(run(request, tokens, key=key))

    @router.get(
        "/report",
        response_model=CommandOut,
        responses={200: {"content": {"text/csv": {}}, "description": "the report (as CSV with format=csv)"}},
        summary="A plan's report over a range of days (`report`): JSON, or CSV with format=csv",
        dependencies=operator,
    )
    def plan_report(
        request: Request,
        plan: str | None = plan_query,
        first: str | None = Query(default=None, alias="from", max_length=10, examples=["2026-01-05"]),
        last: str | None = Query(default=None, alias="to", max_length=10, examples=["2026-01-16"]),
        stream: str | None = Query(default=None, min_length=1, max_length=100),
        agent: str | None = Query(default=None, min_length=1, max_length=100),
        format: Literal["json", "csv"] = "json",
    ) -> Any:
        options = [
            *_option("from", first),
            *_option("to", last),
            *_option("stream", stream),
            *_option("agent", agent),
            *_option("plan", plan),
        ]
        reply = run(request, _tokens(["report"], [], [*options, "--format", "csv" if format == "csv" else "text"]))
        if isinstance(reply.body, Document):
            disposition = f'attachment; filename="{reply.body.filename}"'
            return Response(
                reply.body.content, media_type=reply.body.media_type, headers={"Content-Disposition": disposition}
            )
        return _ok(reply)

    @router.get(
        "/exports/{what}",
        responses={200: {"content": {"text/csv": {}, "application/json": {}}, "description": "the rows, streamed"}},
        summary="Export tasks, answers, readings, alerts or the audit log of a range (`export`), streamed",
        dependencies=operator,
    )
    def export(
        request: Request,
        what: Literal["tasks", "answers", "readings", "alerts", "audit"] = Path(examples=["tasks"]),
        plan: str | None = plan_query,
        first: str | None = Query(default=None, alias="from", max_length=10, examples=["2026-01-05"]),
        last: str | None = Query(default=None, alias="to", max_length=10, examples=["2026-01-16"]),
        format: Literal["csv", "json"] = "csv",
    ) -> StreamingResponse:
        options = [*_option("from", first), *_option("to", last), *_option("plan", plan), "--format", format]
        body = run(request, _tokens(["export", what], [], options)).body
        if not isinstance(body, Export):
            raise RuntimeError(f"`export` answered a {body.kind}")
        disposition = f'attachment; filename="{body.filename}"'
        return StreamingResponse(
            stream(engine, body), media_type=body.media_type, headers={"Content-Disposition": disposition}
        )

    return router


def _api_off() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.api_route("/{anything:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def off(anything: str) -> JSONResponse:
        return error_response(503, OFF_MESSAGE)

    return router
