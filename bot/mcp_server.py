"""The MCP server: an AI coding agent joins its plan natively, with the official `mcp` SDK.

    orchestrate mcp        over stdio, acting as the agent of ORCHESTRATE_AGENT_TOKEN
    /mcp on serve          streamable HTTP, acting as the agent whose token is the request's bearer

Its tools are the work API's operations (bot/api.py), run through the same functions: each call is
the command the API runs (`task next`, `task start|progress|done|block|fail`, `heartbeat`, `status`),
through the grammar and the dispatcher, as that agent, checked and audited as the API's are (actor
``agent:AGENT``, source ``api``). The
plan's dashboard is a resource, ``orchestrate://plans/{plan}/dashboard``. A refused call changes
nothing and says why, as the API would.

The token is checked on every call, so a rotated or revoked one stops working at once. Over HTTP the
server is stateless (a plain JSON answer per request, no session kept in memory), so any replica
behind a load balancer answers any call. Asking for approval is not a tool yet: approvals do not
exist (issue 19, item 5).
"""

import os
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import api
from bot.throttle import FailedTokens
from commands.core.context import Actor
from models.views.reply import Reply

PATH = "/mcp"
TOKEN_VARIABLE = "ORCHESTRATE_AGENT_TOKEN"
DASHBOARD = "orchestrate://plans/{plan}/dashboard"
_ACTOR = "orchestrate_actor"  # where the HTTP front puts the request's agent, in the ASGI scope's state

INSTRUCTIONS = (
    "You are one agent of an orchestrate delivery plan. `next_task` gives your current task, else your next "
    "ready one, with what it takes; `start_task` it, report `task_progress` as you go (a note, a percent, "
    "links), `finish_task` with links to what you made (a pull request), `block_task` or `fail_task` with the "
    "reason. Send a `heartbeat` now and then, with a status line. `plan_status` (or the resource "
    "orchestrate://plans/{plan}/dashboard) shows the plan's dashboard."
)

NO_TOKEN = (
    f"no agent token: set {TOKEN_VARIABLE} to the token `orchestrate agent token AGENT` printed "
    "(a lead runs it once per agent)"
)
BAD_TOKEN = (
    f"{TOKEN_VARIABLE} is not a live agent token (mistyped, rotated or revoked): "
    "a lead makes a new one with `orchestrate agent token AGENT --rotate`"
)
OPERATOR_REFUSED = (
    "the MCP server acts as one agent: send that agent's own token (`agent token AGENT` makes one) as "
    "`Authorization: Bearer <token>`; the operator's token acts for no agent"
)

AGENT_MAY = "an agent's tools act on its own tasks and its own heartbeats only"

Task = Annotated[str, Field(min_length=1, max_length=100, description="the task's id, e.g. T21")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Links = Annotated[list[api.Link], Field(max_length=10, description="links (at most 10), e.g. a pull request")]


class Refused(ToolError):
    """A call that changed nothing, and why (the API's error text)."""


def build_mcp(engine: Engine, actor_of: Callable[[Context], Actor]) -> MCPServer:
    """The tools and the dashboard, for the agent ``actor_of`` finds behind each call (it raises Refused)."""
    server: MCPServer = MCPServer("orchestrate", instructions=INSTRUCTIONS, version="1", log_level="WARNING")

    def run(actor: Actor, tokens: list[str]) -> Reply:
        try:
            return api.run_as(engine, actor, tokens, may=AGENT_MAY)
        except api.ApiError as exc:
            raise Refused(exc.error) from None

    async def call(ctx: Context, work: Callable[[Actor], Any]) -> Any:
        actor = await anyio.to_thread.run_sync(actor_of, ctx)
        return await anyio.to_thread.run_sync(work, actor)

    def dashboard(actor: Actor, plan: str | None = None) -> str:
        from bot.text import render

        if plan is not None and plan != actor.agent_plan:
            raise Refused(f"{actor.name}'s token acts only in its plan {actor.agent_plan}, not {plan!r}")
        return render(run(actor, api.status_command(actor.agent_plan)))

    def _task(action: str, task_id: str, **options: Any) -> Callable[[Actor], dict[str, Any]]:
        return lambda actor: api.answer(run(actor, api.task_command(action, task_id, actor.agent_plan, **options)))

    @server.tool(description="Your current task, else your next ready one, with what it takes (`task next`)")
    async def next_task(ctx: Context) -> dict[str, Any]:
        return await call(ctx, lambda actor: api.next_answer(run(actor, api.next_command(actor))))

    @server.tool(description="Start one of your tasks (`task start`)")
    async def start_task(ctx: Context, task: Task, reason: Reason | None = None) -> dict[str, Any]:
        return await call(ctx, _task("start", task, reason=reason))

    @server.tool(description="Note progress on your task in progress: a note, a percent, links (`task progress`)")
    async def task_progress(
        ctx: Context,
        task: Task,
        note: Reason,
        percent: Annotated[int | None, Field(ge=0, le=100)] = None,
        links: Links | None = None,
    ) -> dict[str, Any]:
        return await call(ctx, _task("progress", task, note=note, percent=percent, links=links))

    @server.tool(description="Finish your task (`task done`), with links to what you made (a pull request…)")
    async def finish_task(
        ctx: Context, task: Task, note: Reason | None = None, links: Links | None = None
    ) -> dict[str, Any]:
        return await call(ctx, _task("done", task, reason=note, links=links))

    @server.tool(description="Block your task, with the reason (`task block`)")
    async def block_task(ctx: Context, task: Task, reason: Reason) -> dict[str, Any]:
        return await call(ctx, _task("block", task, reason=reason))

    @server.tool(description="Fail your task, with the reason (`task fail`)")
    async def fail_task(ctx: Context, task: Task, reason: Reason) -> dict[str, Any]:
        return await call(ctx, _task("fail", task, reason=reason))

    @server.tool(description="Your heartbeat, with an optional status line: what you are doing (`heartbeat`)")
    async def heartbeat(
        ctx: Context,
        status_line: Annotated[str | None, Field(max_length=200)] = None,
        down: bool = False,
    ) -> dict[str, Any]:
        def beat(actor: Actor) -> dict[str, Any]:
            tokens = api.heartbeat_command(actor.name, actor.agent_plan, down=down, note=status_line)
            return api.heartbeat_answer(run(actor, tokens))

        return await call(ctx, beat)

    @server.tool(description="Your plan's dashboard: progress, streams, agents, metrics (`status`)")
    async def plan_status(ctx: Context) -> str:
        return await call(ctx, dashboard)

    @server.resource(DASHBOARD, name="dashboard", description="The plan's dashboard (`status`)", mime_type="text/plain")
    async def dashboard_resource(plan: str, ctx: Context) -> str:
        try:
            return await call(ctx, lambda actor: dashboard(actor, plan))
        except ToolError as exc:
            raise ResourceError(str(exc)) from None

    return server


# --- over stdio: `orchestrate mcp` -------------------------------------------------------------------


def serve_stdio(args: list[str]) -> int:
    """`orchestrate mcp`: refused at once without a live token; then the token is checked at every call."""
    from bot.settings import settings
    from models.db.store import ensure_schema, make_engine
    from models.state.agent_tokens import holder

    if args:
        print(
            f"orchestrate: `mcp` takes no arguments (got {' '.join(args)}); it reads {TOKEN_VARIABLE}", file=sys.stderr
        )
        return 2
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        print(f"orchestrate: {NO_TOKEN}", file=sys.stderr)
        return 1
    engine = make_engine(settings().database_url)
    ensure_schema(engine)
    if holder(engine, token) is None:
        print(f"orchestrate: {BAD_TOKEN}", file=sys.stderr)
        return 1

    def actor_of(ctx: Context) -> Actor:
        found = holder(engine, token)
        if found is None:
            raise Refused(BAD_TOKEN)
        return api.agent_actor(found)

    build_mcp(engine, actor_of).run("stdio")
    return 0


# --- over HTTP: /mcp on serve --------------------------------------------------------------------------


class _AgentsOnly:
    """The request's bearer must be a live agent token (checked, and throttled, as the API checks it) before
    the MCP transport reads anything; the agent goes with the request to the tools."""

    def __init__(self, app: ASGIApp, engine: Engine, api_token: str, throttle: FailedTokens):
        self.app, self.engine, self.api_token, self.throttle = app, engine, api_token, throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        who = await run_in_threadpool(api.authenticate, request, self.api_token, self.engine, self.throttle)
        if not isinstance(who, Actor):
            await who(scope, receive, send)
            return
        if who.agent_id is None:
            await api.error_response(403, OPERATOR_REFUSED)(scope, receive, send)
            return
        scope.setdefault("state", {})[_ACTOR] = who
        await self.app(scope, receive, send)


def _request_actor(ctx: Context) -> Actor:
    request = ctx.request_context.request
    actor = request.scope.get("state", {}).get(_ACTOR) if isinstance(request, Request) else None
    if not isinstance(actor, Actor):  # never: every request came through _AgentsOnly
        raise Refused("no agent token on this request")
    return actor


def http_route(engine: Engine, api_token: str | None, throttle: FailedTokens):
    """(the /mcp route, the lifespan that runs its sessions' task group); with the API off, /mcp says so."""
    if not api_token:

        async def off(request: Request):
            return api.error_response(503, api.OFF_MESSAGE)

        return Route(PATH, off, methods=["GET", "POST", "DELETE"], include_in_schema=False), None
    server = build_mcp(engine, _request_actor)
    # The bearer token is the defence against DNS rebinding (a browser cannot add it), and serve's
    # Host is whatever its operators named it: the SDK's localhost-only Host check is off.
    inner = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    @asynccontextmanager
    async def lifespan(_app: Any):
        async with server.session_manager.run():
            yield

    return Route(PATH, _AgentsOnly(inner, engine, api_token, throttle), include_in_schema=False), lifespan
