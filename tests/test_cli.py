"""The installed `orchestrate` command, run in a subprocess on a temporary directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.db.store import head_revision
from tests.conftest import EXAMPLE_PLAN

pytestmark = pytest.mark.cli
ORCHESTRATE = Path(sys.executable).with_name("orchestrate")

SEED_LINES = [
    ["start", "TR-ORCH-001", "--parallel", "--monitor", "--safe"],
    ["dashboard", "TR-ORCH-001"],
    ["health", "--agents", "all"],
    ["sync", "--checkpoint", "cp-2"],
    ["pause", "--stream", "stream-b-frontend"],
    ["reallocate", "--from", "agent-c1", "--to", "stream-a-backend"],
    ["validate", "--checkpoint", "cp-3", "--force"],
    ["stop", "--emergency", "--reason", "Critical issue found"],
    ["execute", "TR-ORCH-001", "--start-now"],
]


def orchestrate(cwd, *args, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    environment.update(env or {})
    return subprocess.run(
        [str(ORCHESTRATE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        timeout=60,
    )


@pytest.fixture
def workdir(tmp_path):
    result = orchestrate(tmp_path, "plan", "load", str(EXAMPLE_PLAN))
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_the_seed_lines_work_as_written(workdir):
    for line in SEED_LINES:
        result = orchestrate(workdir, *line)
        assert result.returncode == 0, (line, result.stderr)
        assert result.stderr == ""
    audit = orchestrate(workdir, "audit", "--limit", "20", "--json")
    outcomes = [row[5] for row in json.loads(audit.stdout)["reply"]["body"]["rows"]]
    assert outcomes == ["ok"] * 10  # the nine lines and the load, newest first


def test_the_dashboard_reads_like_the_seed(workdir):
    orchestrate(workdir, "start", "TR-ORCH-001")
    out = orchestrate(workdir, "dashboard").stdout
    assert "ORCHESTRATION DASHBOARD · TR-ORCH-001 · RUNNING" in out
    assert "Overall Progress: ░░░░░░░░░░░░░░░░░░ 0%" in out
    assert "stream-b-frontend ░░░░░░░░░░░░░░   0% [Starting]" in out
    assert "Active Tasks: 0 | Completed: 0 | Blocked: 0 | Failed: 0" in out
    assert "Parallel Efficiency" in out and "> 80%" in out
    health = orchestrate(workdir, "health").stdout
    assert "AGENT STATUS MONITOR" in health and "agent-c2          │ IDLE" in health


def test_exit_codes_and_messages(workdir):
    refused = orchestrate(workdir, "pause", "stream-z")
    assert refused.returncode == 1
    assert refused.stderr.startswith("orchestrate: unknown stream 'stream-z'; known: stream-a-backend")
    usage = orchestrate(workdir, "stop", "--emergency")
    assert usage.returncode == 2
    assert "required: --reason" in usage.stderr and "usage: orchestrate stop" in usage.stderr
    unknown = orchestrate(workdir, "paws")
    assert unknown.returncode == 2 and "did you mean `pause`" in unknown.stderr
    for result in (refused, usage, unknown):
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_json_output_has_the_api_shape_for_answers_and_refusals(workdir):
    """`--json` prints what the HTTP API answers: {"ok": true, "reply": …} or {"ok": false, "error": …}."""
    result = orchestrate(workdir, "status", "--json")
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["reply"]["body"]["kind"] == "dashboard"
    streams = [s["key"] for s in data["reply"]["body"]["streams"]]
    assert streams == ["stream-a-backend", "stream-b-frontend", "stream-c-testing"]
    error = orchestrate(workdir, "pause", "nowhere", "--json")
    assert error.returncode == 1 and error.stderr == ""
    assert json.loads(error.stdout) == {"ok": False, "error": error_text(error)}
    assert error_text(error).startswith("unknown stream 'nowhere'")
    usage = json.loads(orchestrate(workdir, "stop", "--emergency", "--json").stdout)
    assert usage["ok"] is False and "--reason" in usage["error"] and usage["usage"].startswith("usage:")


def error_text(result) -> str:
    return json.loads(result.stdout)["error"]


def test_a_bad_plan_file_is_refused_with_its_lines(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("id: X\nstreams:\n  - id: a\n    priority: urgent\nagents: {dev: {stream: b}}\n")
    result = orchestrate(tmp_path, "plan", "load", str(bad))
    assert result.returncode == 1
    assert "streams[0].priority (line 4): Input should be" in result.stderr
    assert orchestrate(tmp_path, "plan", "list").stdout.startswith("Plans: no plan loaded yet")


def test_the_store_is_created_and_upgraded_by_itself(tmp_path):
    result = orchestrate(tmp_path, "db", "current")
    assert result.stdout.strip().startswith("store at revision (empty)")
    assert orchestrate(tmp_path, "plan", "list").returncode == 0  # upgrades on its own
    assert f"store at revision {head_revision()}" in orchestrate(tmp_path, "db", "current").stdout
    assert orchestrate(tmp_path, "db", "upgrade").stdout.strip() == f"store already at {head_revision()}"
    assert (tmp_path / "orchestrate.db").exists()


def test_database_url_chooses_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert orchestrate(tmp_path, "plan", "load", str(EXAMPLE_PLAN), env={"DATABASE_URL": url}).returncode == 0
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "orchestrate.db").exists()


def console(workdir, typed: str):
    return subprocess.run(
        [str(ORCHESTRATE), "serve"],
        cwd=workdir,
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
    )


def test_the_console_answers_through_the_bolt_app_until_eof(workdir):
    result = console(workdir, "health\npause stream-q\npause stream-b\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== TR-ORCH-001 · Restaurant Ticket Feature ==" in out  # the dashboard, as Slack would show it
    assert "stream-a-backend  ░░░░░░░░░░░░░░ 0%  ○ Not Started  [Pause]" in out
    assert "== Agents · TR-ORCH-001 ==" in out
    assert "⛔ unknown stream 'stream-q'; known: stream-a-backend" in out
    assert "Paused stream-b-frontend." in out and "by @U0CONSOLE" in out  # announced, with who did it
    assert out.rstrip().endswith("bye")
    assert "Traceback" not in result.stderr


def test_the_console_asks_before_an_emergency_stop(workdir):
    orchestrate(workdir, "start", "TR-ORCH-001")
    cancelled = console(workdir, "stop --emergency --reason test\n\nstatus\n").stdout
    assert "-- Emergency stop --" in cancelled and "cancelled; nothing changed" in cancelled
    assert "EMERGENCY STOP" not in cancelled
    replaced = console(workdir, "stop --emergency --reason test\nthe build is on fire\n").stdout
    assert "EMERGENCY STOP: TR-ORCH-001 is stopped (3 stream(s) halted). Reason: the build is on fire" in replaced


def test_the_console_keeps_the_reason_typed_with_the_command(workdir):
    orchestrate(workdir, "start", "TR-ORCH-001")
    out = console(workdir, "stop --emergency --reason 'the build is on fire'\ny\n").stdout
    assert "EMERGENCY STOP: TR-ORCH-001 is stopped (3 stream(s) halted). Reason: the build is on fire" in out


def test_the_console_shows_slack_formatting_as_a_terminal_can(workdir):
    out = console(workdir, "help\n").stdout
    assert "  pause                Pause a stream: its agents get no prompts" in out
    assert "* leads only (for some forms, see `help SUBCOMMAND`)." in out  # code is shown as typed
    summary = next(line for line in out.splitlines() if line.startswith("  answers "))
    assert summary.rstrip().endswith("shows.")  # a summary is its whole first sentence
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_what_the_bot_posts_while_you_type_does_not_run_into_the_prompt(tmp_path):
    """An alert printed while the prompt waits clears the prompt's line, and the prompt comes back."""
    import io
    import pty
    import threading

    from bot.console import Console
    from models.db.store import ensure_schema, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    ensure_schema(engine)
    master, replica = pty.openpty()
    with os.fdopen(replica, "r") as terminal:
        out = io.StringIO()
        shell = Console(engine, terminal, out)
        try:
            typed: list[str | None] = []
            waiting = threading.Thread(target=lambda: typed.append(shell.ask("/orchestrate ")))
            waiting.start()
            for _ in range(1000):  # until the prompt is on screen (10 s at most)
                if shell.prompt is not None:
                    break
                waiting.join(0.01)
            shell.say("🚨 CRITICAL · TR-ORCH-001")
            os.write(master, b"status\n")
            waiting.join(10)
        finally:
            shell.slack.close()
            os.close(master)
    assert typed == ["status"]
    assert out.getvalue() == "/orchestrate \r\x1b[K🚨 CRITICAL · TR-ORCH-001\n/orchestrate "


def test_agent_token_prints_the_secret_once_and_agent_tokens_never(workdir):
    made = orchestrate(workdir, "agent", "token", "agent-c2", "--plan", "TR-ORCH-001")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0] == "A token for agent-c2 (TR-ORCH-001); it is shown this once, keep it as a secret."
    secret = lines[1].strip()
    assert secret.startswith("oat_") and len(secret) == 47
    again = orchestrate(workdir, "agent", "token", "agent-c2")
    assert again.returncode == 1 and "agent-c2 has a token already" in again.stderr and secret not in again.stderr
    listed = orchestrate(workdir, "agent", "tokens", "--json")
    assert listed.returncode == 0 and secret not in listed.stdout
    assert [row[0] for row in json.loads(listed.stdout)["reply"]["body"]["rows"]] == ["agent-c2"]
    audit = orchestrate(workdir, "audit", "--limit", "5")
    assert secret not in audit.stdout


def test_task_show_lists_what_a_task_waits_for_and_the_gate_it_feeds(workdir):
    shown = orchestrate(workdir, "task", "show", "T15")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "T15 'API integration'"
    assert "  waits for: frontend-integration-start (not yet)" in shown.stdout.splitlines()
    assert "stream-b-frontend succeeds when: All UI components functional, accessibility compliant" in shown.stdout
    missing = orchestrate(workdir, "task", "show", "T99")
    assert missing.returncode == 1 and missing.stderr.startswith("orchestrate: unknown task 'T99'")
