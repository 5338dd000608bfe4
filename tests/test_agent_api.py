"""Agents' own tokens and the work API, end to end over real sockets: a real `orchestrate serve` and urllib.

An agent's token acts as that agent only (its tasks, its heartbeats); rotation and revocation end a
token at once; a write sent again with the same Idempotency-Key is applied once and answered the same.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, func, select

from commands.core.context import Actor
from commands.core.dispatch import Invocation, execute
from commands.core.errors import CommandError, IdempotencyConflict, PermissionDenied, UsageError
from models.db.tables import Agent, AgentToken, AuditEntry, MetricReading, TaskNote
from tests.slack_app import OPERATOR
from tests.test_api import TOKEN, agent, call, task_status

AGENT_MAY = "an agent's token may: GET /api/v1/agents/me/next"


SERVE_ENV = {"ORCHESTRATE_API_TOKEN": TOKEN}  # the `server` fixture's (tests/slack_app.py)


def token_for(engine, who: str, *flags: str) -> str:
    reply = execute(engine, ["agent", "token", who, *flags], OPERATOR)
    return reply.body.details[0]


def notes(engine) -> list[TaskNote]:
    with Session(engine) as session:
        return list(session.exec(select(TaskNote).order_by(TaskNote.id)).all())


def audit_rows(engine, actor: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.actor == actor).order_by(AuditEntry.id)).all())


# --- the commands ---------------------------------------------------------------------------


def test_a_token_is_shown_once_kept_hashed_and_listed_without_the_secret(store):
    reply = execute(store[1], ["agent", "token", "agent-c2"], OPERATOR)
    secret = reply.body.details[0]
    assert reply.body.text == "A token for agent-c2 (TR-ORCH-001); it is shown this once, keep it as a secret."
    assert secret.startswith("oat_") and len(secret) == 47
    with Session(store[1]) as session:
        kept = session.exec(select(AgentToken)).one()
        logged = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert kept.digest != secret and secret not in kept.digest and len(kept.digest) == 64
    assert logged.command == "agent token agent-c2" and secret not in (logged.message or "")
    listing = execute(store[1], ["agent", "tokens"], OPERATOR).body
    assert listing.columns == ["Agent", "Created", "By", "Last used", "Status"]
    [row] = listing.rows
    assert (row[0], row[2], row[3], row[4]) == ("agent-c2", "cli:setup", "never", "live")
    assert all(secret not in cell for cell in row)


def test_a_second_token_needs_rotate_and_bad_requests_change_nothing(store):
    token_for(store[1], "agent-c2")
    with pytest.raises(CommandError, match=r"agent-c2 has a token already .*`agent token agent-c2 --rotate`"):
        execute(store[1], ["agent", "token", "agent-c2"], OPERATOR)
    with pytest.raises(CommandError, match="agent-a1 has no token to revoke"):
        execute(store[1], ["agent", "token", "agent-a1", "--revoke"], OPERATOR)
    with pytest.raises(CommandError, match="agent-a1 has no token to rotate: `agent token agent-a1` makes one"):
        execute(store[1], ["agent", "token", "agent-a1", "--rotate"], OPERATOR)
    with pytest.raises(UsageError, match="not allowed with argument --rotate"):
        execute(store[1], ["agent", "token", "agent-c2", "--rotate", "--revoke"], OPERATOR)
    with pytest.raises(CommandError, match="unknown agent 'agent-z9'"):
        execute(store[1], ["agent", "token", "agent-z9"], OPERATOR)
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(AgentToken)).one() == 1


def test_tokens_are_for_leads_on_the_cli_only(store):
    someone = Invocation(actor=Actor(id="cli:guest", name="guest", source="cli"), front="cli")
    with pytest.raises(PermissionDenied, match="only a lead of TR-ORCH-001 may give out or revoke an agent's token"):
        execute(store[1], ["agent", "token", "agent-c2"], someone)
    with pytest.raises(PermissionDenied, match="only a lead of TR-ORCH-001 may list the agents' tokens"):
        execute(store[1], ["agent", "tokens"], someone)
    lead_in_slack = Invocation(actor=Actor(id="U1", name="u", source="slack", operator=True), front="slack")
    with pytest.raises(UsageError, match=r"^`agent` is not for Slack: it runs from the CLI$"):
        execute(store[1], ["agent", "tokens"], lead_in_slack)
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(AgentToken)).one() == 0


# --- over the socket ------------------------------------------------------------------------


def test_an_agents_token_acts_as_that_agent_only_and_every_call_is_audited_as_it(server, store):
    mine = token_for(store[1], "agent-c2")
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/start", token=mine)
    assert status == 200 and body["reply"]["body"]["text"] == "T21 'CI/CD pipeline' is now in-progress."
    # another agent's task, by either route: 403, saying what the token may do; nothing changes
    for method, path, payload in (
        ("POST", "/api/v1/tasks/T1/start", None),
        ("PATCH", "/api/v1/tasks/T1", {"status": "in-progress"}),
        ("POST", "/api/v1/tasks/T1/progress", {"note": "not mine"}),
    ):
        status, body, _ = call(server.base, method, path, payload, token=mine)
        assert status == 403, path
        assert body["error"].startswith("agent-c2's token acts only as agent-c2: it may not ")
        assert AGENT_MAY in body["error"]
    assert task_status(store[1], "T1") == "ready" and notes(store[1]) == []
    status, body, _ = call(server.base, "POST", "/api/v1/agents/agent-a1/heartbeat", token=mine)
    assert status == 403 and "may not report another agent's heartbeat" in body["error"]
    assert agent(store[1], "agent-a1").last_seen_at is None
    # the operator's routes
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": "9%"}, token=mine)
    assert status == 403 and body["error"].startswith("agent-c2's token acts only as agent-c2; " + AGENT_MAY)
    status, body, _ = call(server.base, "GET", "/api/v1/report", token=mine)
    assert status == 403 and AGENT_MAY in body["error"]
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/progress?plan=OTHER", {"note": "x"}, token=mine)
    assert status == 403 and body["error"] == "agent-c2's token acts only in its plan TR-ORCH-001, not 'OTHER'"
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(MetricReading)).one() == 0
    rows = audit_rows(store[1], "agent:agent-c2")
    assert [(r.actor_name, r.source, r.outcome) for r in rows] == [("agent-c2", "api", "ok")] + [
        ("agent-c2", "api", "refused")
    ] * 7
    assert rows[0].command == "task start T21 --plan TR-ORCH-001"
    assert rows[5].command == "POST /api/v1/metrics"
    # the operator's token still does everything
    status, _, _ = call(server.base, "POST", "/api/v1/tasks/T1/start")
    assert status == 200 and task_status(store[1], "T1") == "in-progress"


def test_next_is_the_current_task_else_the_next_ready_one_with_what_it_takes(server, store):
    mine = token_for(store[1], "agent-c2")
    status, body, _ = call(server.base, "GET", "/api/v1/agents/me/next", token=mine)
    assert status == 200
    task = body["task"]
    assert (task["task"], task["title"], task["status"], task["type"]) == ("T21", "CI/CD pipeline", "ready", "DevOps")
    assert (task["estimate"], task["estimate_hours"], task["agent"]) == ("2d 4h", 20.0, "agent-c2")
    assert task["checkpoint"] == {
        "key": "cp-2",
        "name": "API Contract Lock",
        "day": 3,
        "criteria": ["OpenAPI spec finalized", "Frontend/Backend aligned", "Mocks available"],
    }
    assert task["success_criteria"] == ">95% test coverage, zero critical bugs"
    assert (task["waits_for"], task["waiting"]) == (None, False)
    call(server.base, "POST", "/api/v1/tasks/T22/start", token=mine)  # in progress comes before ready
    status, body, _ = call(server.base, "GET", "/api/v1/agents/me/next", token=mine)
    assert (body["task"]["task"], body["task"]["status"]) == ("T22", "in-progress")
    # a task that waits says for what (`task show`: `next` gives only what can be worked on)
    waiting = execute(store[1], ["task", "show", "T15"], OPERATOR).body
    assert (waiting.status, waiting.waits_for, waiting.waiting) == ("todo", "frontend-integration-start", True)
    assert "waits for: frontend-integration-start (not yet)" in waiting.details
    # the operator's token is no agent
    status, body, _ = call(server.base, "GET", "/api/v1/agents/me/next")
    assert status == 400
    assert body["error"] == (
        "/api/v1/agents/me/next is for an agent's own token (`agent token AGENT` makes one); "
        "the operator's token acts for no agent"
    )


def test_progress_and_artifacts_show_in_task_show_and_bad_input_changes_nothing(server, store):
    mine = token_for(store[1], "agent-c2")
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/progress", {"note": "pipeline drafted"}, token=mine)
    assert status == 409 and body["error"] == "T21 is ready, not in progress: progress is noted on a started task"
    call(server.base, "POST", "/api/v1/tasks/T21/start", token=mine)
    for payload, field in (
        ({"note": "x", "percent": 150}, "percent"),
        ({"note": "x", "link": "ftp://example.com/a"}, "link"),
        ({"note": ""}, "note"),
        ({"percent": 5}, "note"),
        ({"note": "x", "colour": "red"}, "colour"),
    ):
        status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/progress", payload, token=mine)
        assert status == 422 and [f["field"] for f in body["fields"]] == [field], payload
        assert body["error"].startswith(f"{field}: ")
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T99/progress", {"note": "x"}, token=mine)
    assert status == 404 and body["error"].startswith("unknown task 'T99'; known: T1, T2")
    assert notes(store[1]) == []
    status, body, _ = call(
        server.base,
        "POST",
        "/api/v1/tasks/T21/progress",
        {"note": "pipeline drafted", "percent": 40, "link": "https://ci.example.com/run/7"},
        token=mine,
    )
    assert status == 201 and body["reply"]["body"]["text"] == "Noted on T21 (40%): pipeline drafted"
    status, body, _ = call(
        server.base,
        "POST",
        "/api/v1/tasks/T21/done",
        {"links": ["https://github.com/o/r/pull/42"], "reason": "merged"},
        token=mine,
    )
    assert status == 200 and body["reply"]["body"]["details"][0] == "artifacts: https://github.com/o/r/pull/42"
    shown = execute(store[1], ["task", "show", "T21"], OPERATOR).body
    assert shown.status == "done"
    assert [(n.by, n.kind, n.note, n.percent, n.links) for n in shown.notes] == [
        ("agent-c2", "done", "merged", None, ["https://github.com/o/r/pull/42"]),
        ("agent-c2", "progress", "pipeline drafted", 40, ["https://ci.example.com/run/7"]),
    ]
    assert any(
        line.endswith("agent-c2 progress 40%: pipeline drafted [https://ci.example.com/run/7]")
        for line in shown.details
    )


def test_block_and_fail_need_a_reason(server, store):
    mine = token_for(store[1], "agent-c2")
    for verb in ("block", "fail"):
        status, body, _ = call(server.base, "POST", f"/api/v1/tasks/T21/{verb}", {}, token=mine)
        assert status == 422 and body["error"].startswith("reason: Field required"), verb
    assert task_status(store[1], "T21") == "ready"
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/block", {"reason": "no runner"}, token=mine)
    assert status == 200 and body["reply"]["body"]["text"] == "T21 'CI/CD pipeline' is now blocked (no runner)."
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/fail", {"reason": "gave up"}, token=mine)
    assert status == 200 and task_status(store[1], "T21") == "failed"


def test_my_heartbeat_carries_a_status_line(server, store):
    mine = token_for(store[1], "agent-c2")
    status, body, _ = call(
        server.base, "POST", "/api/v1/agents/me/heartbeat", {"note": "running the pipeline"}, token=mine
    )
    assert status == 201
    assert (body["agent"], body["status"], body["status_line"]) == ("agent-c2", "up", "running the pipeline")
    assert agent(store[1], "agent-c2").status_line == "running the pipeline"
    assert agent(store[1], "agent-c2").last_seen_at is not None
    status, body, _ = call(server.base, "POST", "/api/v1/agents/me/heartbeat", {"note": "x" * 201}, token=mine)
    assert status == 422 and body["error"].startswith("note: String should have at most 200 characters")
    status, body, _ = call(server.base, "POST", "/api/v1/agents/me/heartbeat")
    assert status == 400 and "for an agent's own token" in body["error"]


def test_a_rotated_token_stops_working_at_once_and_a_revoked_one_too(server, store):
    first = token_for(store[1], "agent-c2")
    status, _, _ = call(server.base, "POST", "/api/v1/agents/me/heartbeat", token=first)
    assert status == 201
    second = token_for(store[1], "agent-c2", "--rotate")
    status, body, headers = call(server.base, "POST", "/api/v1/agents/me/heartbeat", token=first)
    assert status == 401 and body["error"].startswith("that token is not the right one (or it was revoked)")
    assert headers["www-authenticate"] == "Bearer"
    status, _, _ = call(server.base, "POST", "/api/v1/agents/me/heartbeat", token=second)
    assert status == 201
    listing = execute(store[1], ["agent", "tokens"], OPERATOR).body
    assert [row[4][:7] for row in listing.rows] == ["revoked", "live"]
    assert all(row[3] != "never" for row in listing.rows)  # each was used
    execute(store[1], ["agent", "token", "agent-c2", "--revoke"], OPERATOR)
    status, body, _ = call(server.base, "GET", "/api/v1/agents/me/next", token=second)
    assert status == 401 and "revoked" in body["error"]


def test_a_retry_with_the_same_idempotency_key_applies_once_and_gets_the_same_answer(server, store):
    mine = token_for(store[1], "agent-c2")
    start = {"Idempotency-Key": "start-T21-3f6c"}
    first = call(server.base, "POST", "/api/v1/tasks/T21/start", token=mine, headers=start)
    again = call(server.base, "POST", "/api/v1/tasks/T21/start", token=mine, headers=start)
    assert first[0] == again[0] == 200 and first[1] == again[1]
    # without the key the same start is refused: the task is started already
    status, body, _ = call(server.base, "POST", "/api/v1/tasks/T21/start", token=mine)
    assert status == 409 and "T21" in body["error"]
    progress = {"Idempotency-Key": "progress-1"}
    payload = {"note": "pipeline drafted", "percent": 40}
    first = call(server.base, "POST", "/api/v1/tasks/T21/progress", payload, token=mine, headers=progress)
    again = call(server.base, "POST", "/api/v1/tasks/T21/progress", payload, token=mine, headers=progress)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert len(notes(store[1])) == 1
    # the same key with another request: refused, and nothing applied
    status, body, _ = call(
        server.base, "POST", "/api/v1/tasks/T21/progress", {"note": "other"}, token=mine, headers=progress
    )
    assert status == 422
    assert body["error"].startswith("Idempotency-Key 'progress-1' was used for another request (at ")
    assert body["error"].endswith("a retry must send the same request, a new request a new key")
    assert [n.note for n in notes(store[1])] == ["pipeline drafted"]
    # keys are the sender's own: the operator's same key is another request altogether
    status, _, _ = call(server.base, "POST", "/api/v1/tasks/T1/start", headers=progress)
    assert status == 200 and task_status(store[1], "T1") == "in-progress"
    for bad in ("has spaces in it", "x" * 201):
        status, body, _ = call(
            server.base, "POST", "/api/v1/tasks/T21/progress", payload, token=mine, headers={"Idempotency-Key": bad}
        )
        assert status == 400 and "is not a key: give 1 to 200 printable characters" in body["error"]
    assert len(notes(store[1])) == 1
    replayed = [r.message for r in audit_rows(store[1], "agent:agent-c2") if r.outcome == "ok"]
    assert replayed[:4] == [
        "T21 'CI/CD pipeline' is now in-progress.",
        "replayed (Idempotency-Key): T21 'CI/CD pipeline' is now in-progress.",
        "Noted on T21 (40%): pipeline drafted",
        "replayed (Idempotency-Key): Noted on T21 (40%): pipeline drafted",
    ]


# --- on either store, in process ---------------------------------------------------------------


def test_concurrent_retries_with_one_idempotency_key_apply_once_on_either_store(started):
    """Four requests with the same key at once (a client retrying while the first is still running):
    one change, one answer for all."""
    started("task start T21")
    agent_c2 = started("agent token agent-c2").body.details[0]
    assert agent_c2.startswith("oat_")
    with Session(started.engine) as session:
        c2 = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
    actor = Actor(id="agent:agent-c2", name="agent-c2", source="api", agent_id=c2.id, agent_plan="TR-ORCH-001")
    how = Invocation(actor=actor, front="api", idempotency_key="k-1")
    line = ["task", "progress", "T21", "--note", "half way", "--percent", "50"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: execute(started.engine, line, how, now=started.now), range(4)))
    assert {a.model_dump_json() for a in answers} == {answers[0].model_dump_json()}
    assert answers[0].body.text == "Noted on T21 (50%): half way"
    assert [(n.actor, n.note, n.percent) for n in notes(started.engine)] == [("agent-c2", "half way", 50)]
    with pytest.raises(IdempotencyConflict, match="Idempotency-Key 'k-1' was used for another request"):
        execute(started.engine, [*line[:4], "other"], how, now=started.now)
    assert len(notes(started.engine)) == 1
