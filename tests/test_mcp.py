"""The MCP server, with the official SDK's own client: over stdio (`orchestrate mcp` spawned) and over HTTP
(/mcp on a real `orchestrate serve`).

An AI agent lists its tools, takes its next task, starts it, reports progress, finishes it; the store,
`task show` and the dashboard resource show it. Another agent's token cannot touch the task; no token,
a wrong one or the operator's is refused and nothing changes.
"""

import asyncio
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from commands.core.dispatch import execute
from tests.serve_process import ORCHESTRATE, SOURCE_ROOT
from tests.slack_app import OPERATOR
from tests.test_agent_api import audit_rows, notes, token_for
from tests.test_api import TOKEN, agent, task_status

TOOLS = {
    "next_task",
    "start_task",
    "task_progress",
    "finish_task",
    "block_task",
    "fail_task",
    "heartbeat",
    "plan_status",
}
DASHBOARD = "orchestrate://plans/TR-ORCH-001/dashboard"
PR = "https://github.com/o/r/pull/42"

Connect = Callable[[str | None], AbstractAsyncContextManager[ClientSession]]


SERVE_ENV = {"ORCHESTRATE_API_TOKEN": TOKEN}  # the `server` fixture's (tests/slack_app.py)


def _mcp_env(store_url: str, token: str | None) -> dict[str, str]:
    env = {"DATABASE_URL": store_url, "PYTHONPATH": str(SOURCE_ROOT)}
    if token is not None:
        env["ORCHESTRATE_AGENT_TOKEN"] = token
    return env


@pytest.fixture
def over_stdio(store, tmp_path) -> Connect:
    @asynccontextmanager
    async def connect(token: str | None) -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(
            command=str(ORCHESTRATE), args=["mcp"], env=_mcp_env(store[0], token), cwd=str(tmp_path)
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session

    return connect


@pytest.fixture
def over_http(server) -> Connect:
    @asynccontextmanager
    async def connect(token: str | None) -> AsyncIterator[ClientSession]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(f"{server.base}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    return connect


async def _call(session: ClientSession, tool: str, **arguments) -> tuple[bool, dict | str]:
    """(whether it was refused, the answer: the API's JSON, or the refusal's text)."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text
    if result.is_error:
        return True, text
    structured = result.structured_content
    return False, text if structured in (None, {"result": text}) else structured


async def _the_agents_day(connect: Connect, mine: str) -> None:
    async with connect(mine) as session:
        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == TOOLS
        refused, answer = await _call(session, "next_task")
        assert not refused and (answer["task"]["task"], answer["task"]["status"]) == ("T21", "ready")
        assert answer["task"]["success_criteria"] == ">95% test coverage, zero critical bugs"
        refused, answer = await _call(session, "start_task", task="T21")
        assert not refused and answer["reply"]["body"]["text"] == "T21 'CI/CD pipeline' is now in-progress."
        refused, answer = await _call(session, "next_task")
        assert (answer["task"]["task"], answer["task"]["status"]) == ("T21", "in-progress")
        refused, answer = await _call(session, "task_progress", task="T21", note="x", percent=150)
        assert refused and "percent" in answer
        refused, answer = await _call(
            session,
            "task_progress",
            task="T21",
            note="pipeline drafted",
            percent=40,
            links=["https://ci.example.com/7"],
        )
        assert not refused and answer["reply"]["body"]["text"] == "Noted on T21 (40%): pipeline drafted"
        refused, answer = await _call(session, "heartbeat", status_line="running the pipeline")
        assert not refused and (answer["agent"], answer["status_line"]) == ("agent-c2", "running the pipeline")
        refused, answer = await _call(session, "finish_task", task="T21", note="merged", links=[PR])
        assert not refused and answer["reply"]["body"]["details"][0] == f"artifacts: {PR}"
        refused, answer = await _call(session, "plan_status")
        assert not refused and "ORCHESTRATION DASHBOARD · TR-ORCH-001 · RUNNING" in answer
        board = await session.read_resource(DASHBOARD)
        assert "ORCHESTRATION DASHBOARD · TR-ORCH-001" in board.contents[0].text
        with pytest.raises(MCPError, match=r"agent-c2's token acts only in its plan TR-ORCH-001, not 'OTHER'"):
            await session.read_resource("orchestrate://plans/OTHER/dashboard")


def _shows_the_agents_day(engine) -> None:
    shown = execute(engine, ["task", "show", "T21"], OPERATOR).body
    assert shown.status == "done" and task_status(engine, "T21") == "done"
    assert [(n.by, n.kind, n.note, n.percent, n.links) for n in shown.notes] == [
        ("agent-c2", "done", "merged", None, [PR]),
        ("agent-c2", "progress", "pipeline drafted", 40, ["https://ci.example.com/7"]),
    ]
    assert any(
        line.endswith("agent-c2 progress 40%: pipeline drafted [https://ci.example.com/7]") for line in shown.details
    )
    assert agent(engine, "agent-c2").status_line == "running the pipeline"
    done = [(r.command, r.source, r.outcome) for r in audit_rows(engine, "agent:agent-c2") if r.outcome == "ok"]
    assert ("task start T21 --plan TR-ORCH-001", "api", "ok") in done  # audited as the API's calls are
    assert (
        "task done T21 --plan TR-ORCH-001 --link https://github.com/o/r/pull/42 --reason merged",
        "api",
        "ok",
    ) in done
    refused = [r.command for r in audit_rows(engine, "agent:agent-a1") if r.outcome == "refused"]
    assert refused[:2] == [
        "task start T21 --plan TR-ORCH-001",
        "task progress T21 --plan TR-ORCH-001 --note 'not mine'",
    ]


async def _another_agent_cannot_touch_it(connect: Connect, theirs: str) -> None:
    async with connect(theirs) as session:
        for tool, arguments in (
            ("start_task", {"task": "T21"}),
            ("task_progress", {"task": "T21", "note": "not mine"}),
            ("finish_task", {"task": "T21"}),
            ("block_task", {"task": "T21", "reason": "not mine"}),
        ):
            refused, answer = await _call(session, tool, **arguments)
            assert refused, tool
            assert "agent-a1's token acts only as agent-a1: it may not " in answer, tool


@pytest.mark.cli
def test_an_agent_works_through_its_task_over_stdio(over_stdio, store):
    mine = token_for(store[1], "agent-c2")
    theirs = token_for(store[1], "agent-a1")
    asyncio.run(_another_agent_cannot_touch_it(over_stdio, theirs))
    assert task_status(store[1], "T21") == "ready" and notes(store[1]) == []
    asyncio.run(_the_agents_day(over_stdio, mine))
    _shows_the_agents_day(store[1])


def test_an_agent_works_through_its_task_over_http(over_http, store):
    mine = token_for(store[1], "agent-c2")
    theirs = token_for(store[1], "agent-a1")
    asyncio.run(_another_agent_cannot_touch_it(over_http, theirs))
    assert task_status(store[1], "T21") == "ready" and notes(store[1]) == []
    asyncio.run(_the_agents_day(over_http, mine))
    _shows_the_agents_day(store[1])


@pytest.mark.cli
def test_stdio_without_a_live_token_is_refused_at_once(store, tmp_path):
    def mcp(token: str | None) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "ORCH"))}
        environment.update(_mcp_env(store[0], token))
        return subprocess.run(
            [str(ORCHESTRATE), "mcp"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
        )

    missing = mcp(None)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no agent token: set ORCHESTRATE_AGENT_TOKEN" in missing.stderr
    revoked = token_for(store[1], "agent-c2")
    execute(store[1], ["agent", "token", "agent-c2", "--revoke"], OPERATOR)
    for token in ("oat_not-a-token", revoked):
        wrong = mcp(token)
        assert wrong.returncode == 1 and wrong.stdout == ""
        assert "ORCHESTRATE_AGENT_TOKEN is not a live agent token" in wrong.stderr
    assert task_status(store[1], "T21") == "ready" and notes(store[1]) == []


def _post_mcp(base: str, token: str | None) -> tuple[int, dict]:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "start_task", "arguments": {"task": "T21"}},
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base}/mcp", data=json.dumps(message).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_without_an_agents_token_is_refused_and_changes_nothing(over_http, server, store):
    with pytest.raises(BaseException) as raised:  # the SDK's client: its first request is refused
        asyncio.run(_open(over_http, None))
    assert any(isinstance(leaf, MCPError) for leaf in _leaves(raised.value))
    status, body = _post_mcp(server.base, None)
    assert status == 401 and body["error"].startswith("no bearer token: send `Authorization: Bearer")
    status, body = _post_mcp(server.base, "oat_not-a-token")
    assert status == 401 and body["error"].startswith("that token is not the right one (or it was revoked)")
    status, body = _post_mcp(server.base, TOKEN)
    assert status == 403 and body["error"].startswith("the MCP server acts as one agent: send that agent's own token")
    assert task_status(store[1], "T21") == "ready" and notes(store[1]) == []


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _open(connect: Connect, token: str | None) -> None:
    async with connect(token) as session:
        await session.list_tools()
