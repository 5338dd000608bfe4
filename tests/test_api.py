"""The API for machines, end to end over real sockets: a real `orchestrate serve` and urllib."""

import csv
import io
import json
import os
import subprocess
import urllib.error
import urllib.request

from sqlmodel import Session, func, select

from commands.core.dispatch import execute
from models.db.tables import Agent, AuditEntry, MetricReading, Task, TaskEvent
from tests.serve_process import ORCHESTRATE, ServeProcess
from tests.slack_app import OPERATOR

TOKEN = "test-api-token-0b9d3c7e5a1f"
PATHS = {
    "/api/v1/metrics",
    "/api/v1/events",
    "/api/v1/tasks/{task_id}",
    "/api/v1/agents/{agent_id}/heartbeat",
    "/api/v1/report",
    "/api/v1/exports/{what}",
    "/api/v1/agents/me/next",
    "/api/v1/agents/me/heartbeat",
    "/api/v1/tasks/{task_id}/start",
    "/api/v1/tasks/{task_id}/progress",
    "/api/v1/tasks/{task_id}/done",
    "/api/v1/tasks/{task_id}/block",
    "/api/v1/tasks/{task_id}/fail",
}


SERVE_ENV = {"ORCHESTRATE_API_TOKEN": TOKEN}  # the `server` fixture's (tests/slack_app.py)


def call(
    base: str,
    method: str,
    path: str,
    body=None,
    *,
    token: str | None = TOKEN,
    raw: bytes | None = None,
    headers: dict | None = None,
) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one request."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def task_status(engine, key: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Task.status).where(Task.key == key)).one()


def agent(engine, key: str) -> Agent:
    with Session(engine) as session:
        return session.exec(select(Agent).where(Agent.key == key)).one()


def test_no_token_or_a_wrong_one_is_401_and_records_nothing(server, store):
    for token in (None, "not-the-token", TOKEN + "x", ""):
        status, body, headers = call(
            server.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": "78%"}, token=token
        )
        assert status == 401, token
        assert body["ok"] is False and "Authorization: Bearer" in body["error"]
        assert headers["www-authenticate"] == "Bearer"
    # checked before the body is even read: a bad body without the token is still 401
    status, _, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", raw=b"{nonsense", token=None)
    assert status == 401
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(MetricReading)).one() == 0


def test_a_reported_metric_is_recorded_and_shown_by_status(server, store):
    status, body, _ = call(
        server.base, "POST", "/api/v1/metrics", {"plan": "TR-ORCH-001", "name": "code-coverage", "value": "94%"}
    )
    assert status == 201 and body["ok"] is True
    assert body["reply"]["body"]["text"] == "Recorded code-coverage = 94% (target > 90%: met)."
    assert body["reply"]["plan"] == "TR-ORCH-001"
    dashboard = execute(store[1], ["status", "TR-ORCH-001"], OPERATOR).body
    [coverage] = [m for m in dashboard.metrics if m.name == "code-coverage"]
    assert (coverage.display, coverage.ok, coverage.source) == ("94%", True, "reported")
    with Session(store[1]) as session:
        reading = session.exec(select(MetricReading)).one()
    assert (reading.source, reading.reported_by) == ("api", "api")
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "api-response", "value": 0.42})
    assert status == 201 and body["reply"]["body"]["text"].startswith("Recorded api-response = 0.42")


def test_bad_input_is_a_4xx_that_names_the_problem_and_records_nothing(server, store):
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": "lots"})
    assert status == 400 and body["ok"] is False
    assert "'lots' is not a value" in body["error"] and "e.g. 78%" in body["error"]
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "Test Coverage!", "value": "1%"})
    assert status == 400 and "is not a metric name" in body["error"]
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "vlaue": "5%"})
    assert status == 422
    assert [f["field"] for f in body["fields"]] == ["value", "vlaue"]
    assert body["error"].startswith("value: Field required")
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": True})
    assert status == 422 and body["error"].startswith("value: give a number, or a string with its unit")
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", raw=b'{"name": ')
    assert status == 422 and body["error"].startswith("body:")
    status, body, _ = call(server.base, "POST", "/api/v1/metrics", {"plan": "NOPE", "name": "x", "value": "1"})
    assert status == 404 and body["error"].startswith("unknown plan 'NOPE'")
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(MetricReading)).one() == 0


def test_an_event_readies_the_tasks_waiting_for_it(server, store):
    assert task_status(store[1], "T15") == "todo"  # API integration waits for frontend-integration-start
    status, body, _ = call(server.base, "POST", "/api/v1/events", {"name": "api-endpoints-ready"})
    assert status == 201 and body["reply"]["body"]["text"] == "Event api-endpoints-ready raised."
    assert any("frontend-integration-start" in note for note in body["reply"]["body"]["details"])
    assert task_status(store[1], "T15") == "ready"


def test_a_task_is_moved_through_its_statuses(server, store):
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "in-progress"})
    assert status == 200 and body["reply"]["body"]["text"] == "T1 'Database schema design' is now in-progress."
    assert task_status(store[1], "T1") == "in-progress"
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "done", "reason": "merged #42"})
    assert status == 200 and body["reply"]["announce"] is True
    assert task_status(store[1], "T1") == "done"
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "ready"})  # reopen
    assert status == 200 and task_status(store[1], "T1") == "ready"


def test_a_refused_patch_changes_nothing(server, store):
    with Session(store[1]) as session:
        history = session.exec(select(func.count()).select_from(TaskEvent)).one()
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T99", {"status": "done"})
    assert status == 404 and body == {"ok": False, "error": body["error"]}
    assert body["error"].startswith("unknown task 'T99'")
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "finished"})
    assert status == 422 and body["fields"][0]["field"] == "status"
    assert body["error"].startswith("status: Input should be 'in-progress', 'done', 'blocked', 'failed' or 'ready'")
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "ready"})  # T1 is ready already
    assert status == 409 and "T1" in body["error"]
    status, body, _ = call(server.base, "PATCH", "/api/v1/tasks/T", {"status": "done"})
    assert status == 400 and "ambiguous" in body["error"]
    assert task_status(store[1], "T1") == "ready"
    with Session(store[1]) as session:
        assert session.exec(select(func.count()).select_from(TaskEvent)).one() == history


def test_heartbeats_set_last_seen_and_report_an_agent_down_and_back(server, store):
    assert agent(store[1], "agent-c2").last_seen_at is None
    status, body, _ = call(server.base, "POST", "/api/v1/agents/agent-c2/heartbeat", {"status": "down"})
    assert status == 201 and (body["agent"], body["status"], body["recovered"]) == ("agent-c2", "down", False)
    down = agent(store[1], "agent-c2")
    assert down.reported_down is True and down.last_seen_at is not None
    status, body, _ = call(server.base, "POST", "/api/v1/agents/agent-c2/heartbeat?plan=TR-ORCH-001")  # no body: up
    assert status == 201 and (body["status"], body["recovered"]) == ("up", True)
    assert body["reply"]["body"]["text"] == "agent-c2 is up, recovered."
    up = agent(store[1], "agent-c2")
    assert up.reported_down is False and up.last_seen_at > down.last_seen_at
    status, body, _ = call(server.base, "POST", "/api/v1/agents/agent-zz/heartbeat", {"status": "up"})
    assert status == 404 and body["error"].startswith("unknown agent 'agent-zz'")
    status, body, _ = call(server.base, "POST", "/api/v1/agents/agent-c2/heartbeat", {"status": "sideways"})
    assert status == 422 and body["fields"][0]["field"] == "status"


def test_every_request_that_reached_a_command_is_in_the_audit_log_as_api(server, store):
    call(server.base, "PATCH", "/api/v1/tasks/T2", {"status": "in-progress"})
    call(server.base, "PATCH", "/api/v1/tasks/T99", {"status": "done"})
    call(server.base, "POST", "/api/v1/agents/agent-c2/heartbeat", {"status": "up"})
    call(server.base, "POST", "/api/v1/agents/agent-zz/heartbeat")
    with Session(store[1]) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.source == "api").order_by(AuditEntry.id)).all()
    assert [(e.command, e.outcome, e.actor, e.plan_key) for e in entries] == [
        ("task start T2", "ok", "api", "TR-ORCH-001"),
        ("task done T99", "refused", "api", "TR-ORCH-001"),
        ("heartbeat agent-c2", "ok", "api", "TR-ORCH-001"),
        ("heartbeat agent-zz", "refused", "api", "TR-ORCH-001"),
    ]


def test_the_openapi_document_lists_the_four_endpoints(server):
    status, text = server.get("/api/v1/openapi.json", token=TOKEN)
    assert status == 200
    document = json.loads(text)
    assert set(document["paths"]) >= PATHS
    assert set(document["paths"]["/api/v1/tasks/{task_id}"]) == {"patch"}
    assert document["components"]["securitySchemes"]["ORCHESTRATE_API_TOKEN"]["scheme"] == "bearer"
    assert "/slack/events" not in document["paths"]


def test_without_a_token_the_api_is_off_and_says_how_to_turn_it_on(tmp_path, slack, store):
    process = ServeProcess(tmp_path, slack.url, store[0], extra_env={"ORCHESTRATE_API_TOKEN": ""})
    try:
        process.wait_healthy()
        status, body, _ = call(process.base, "POST", "/api/v1/metrics", {"name": "x", "value": "1"})
        assert status == 503 and "set ORCHESTRATE_API_TOKEN" in body["error"]
        status, _, _ = call(process.base, "GET", "/api/v1/openapi.json")
        assert status == 503
    finally:
        process.stop()


class ConsoleServe(ServeProcess):
    """`orchestrate serve` in console mode (no Slack tokens), its stdin kept open like a terminal's."""

    def __init__(self, workdir, database_url: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "ORCHESTRATE_"))}
        env.update({"DATABASE_URL": database_url, "ORCHESTRATE_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"})
        self._start(
            workdir, [str(ORCHESTRATE), "serve", "--host", "127.0.0.1", "--port", "0"], env, stdin=subprocess.PIPE
        )


def test_in_console_mode_the_api_answers_on_the_port(tmp_path, store):
    console = ConsoleServe(tmp_path, store[0])
    try:
        console.wait_healthy()
        status, body, _ = call(console.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": "81%"})
        assert status == 201 and body["reply"]["body"]["text"].startswith("Recorded test-coverage = 81%")
        status, _, _ = call(
            console.base, "POST", "/api/v1/metrics", {"name": "test-coverage", "value": "1%"}, token="wrong"
        )
        assert status == 401
        status, _, _ = call(console.base, "POST", "/slack/events", {"type": "url_verification"})
        assert status in (404, 405)  # no Slack endpoint beside the console
        console.process.stdin.close()  # Ctrl-D: the console ends, and the API with it
        assert console.process.wait(timeout=15) == 0, console.output()
    finally:
        console.stop()
    with Session(store[1]) as session:
        assert session.exec(select(MetricReading.value)).all() == [81.0]


def raw_get(base: str, path: str) -> tuple[int, str, dict]:
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), {k.lower(): v for k, v in exc.headers.items()}


def test_exports_stream_the_range_asked_for_as_csv_or_json(server, store):
    for value in ("81%", "86%", "93%"):
        call(server.base, "POST", "/api/v1/metrics", {"name": "code-coverage", "value": value})
    status, text, headers = raw_get(server.base, "/api/v1/exports/readings?format=csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert headers.get("transfer-encoding") == "chunked"  # streamed: no length known before the last row
    assert 'filename="TR-ORCH-001-readings-' in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["metric"], r["value"], r["unit"], r["source"]) for r in rows] == [
        ("code-coverage", str(v), "%", "api") for v in (81.0, 86.0, 93.0)
    ]
    status, text, _ = raw_get(server.base, "/api/v1/exports/audit?format=json")
    audit = json.loads(text)
    assert [e["command"] for e in audit if e["source"] == "api"] == [
        "metric code-coverage 81%",
        "metric code-coverage 86%",
        "metric code-coverage 93%",
        "export readings --format csv",  # an export is audited as any command, before its rows go out
        "export audit --format json",
    ]


def test_the_report_comes_as_json_or_csv_and_a_bad_range_is_a_400(server, store):
    call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "in-progress"})
    call(server.base, "PATCH", "/api/v1/tasks/T1", {"status": "done"})
    status, body, _ = call(server.base, "GET", "/api/v1/report?stream=stream-a")
    assert status == 200
    report = body["reply"]["body"]
    assert report["kind"] == "report" and report["stream"] == "stream-a-backend"
    [tasks] = [s for s in report["sections"] if s["title"] == "Tasks"]
    assert [(row[0], row[3]) for row in tasks["rows"]] == [("T1", "done")]
    status, text, headers = raw_get(server.base, "/api/v1/report?format=csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "\nT1,stream-a-backend,agent-a1,done," in text
    status, body, _ = call(server.base, "GET", "/api/v1/report?from=2026-03-02&to=2026-03-01")
    assert status == 400 and body["error"] == "--from 2026-03-02 is after --to 2026-03-01: give the earlier day first"
    status, body, _ = call(server.base, "GET", "/api/v1/exports/tasks?from=02/03/2026")
    assert status == 400 and "not a date: write it YYYY-MM-DD" in body["error"]
