"""Plan files: the reference example, defaults, and refusals that say what is wrong and where."""

import pytest

from commands.core.errors import CommandError
from models.plan.schema import PlanFileError, read_plan_file, read_plan_text
from tests.conftest import EXAMPLE_PLAN, SHARED_PLAN

MINIMAL = """
id: SMALL-1
streams:
  - id: backend
agents:
  dev-1: {stream: backend, tasks: [Write the API, Test the API]}
"""


def test_the_shipped_example_is_the_reference_plan_unchanged():
    if not SHARED_PLAN.exists():
        pytest.skip("../shared/plans is not beside this checkout")
    assert EXAMPLE_PLAN.read_bytes() == SHARED_PLAN.read_bytes()


def test_the_reference_plan_loads_with_every_section():
    plan = read_plan_file(str(EXAMPLE_PLAN))
    assert plan.id == "TR-ORCH-001"
    assert [s.id for s in plan.streams] == ["stream-a-backend", "stream-b-frontend", "stream-c-testing"]
    assert len(plan.task_list()) == 24
    assert plan.task_list()[7][0] == "T8" and plan.task_list()[7][3].signals == "api-endpoints-ready"
    assert [c.id for c in plan.checkpoints] == ["cp-1", "cp-2", "cp-3", "cp-4"]
    assert [e.time for e in plan.sync_schedule] == ["09:00", "13:00", "17:00"]
    assert plan.task_type_of("agent-b2") == "Components"
    assert plan.alerts[2].channel == ["slack-urgent", "email", "sms"]


def test_only_id_streams_and_agents_are_required():
    plan = read_plan_text(MINIMAL)
    assert plan.timezone == "UTC"
    assert plan.working_days == ["mon", "tue", "wed", "thu", "fri"]
    assert plan.working_hours == ("09:00", "17:00")
    assert plan.duration_days == 10
    assert plan.checkpoints == [] and plan.sync_schedule == [] and plan.alerts == []
    assert [key for key, *_ in plan.task_list()] == ["T1", "T2"]


def test_each_problem_gets_one_line_with_its_path_and_line_number():
    text = """id: BAD-1
streams:
  - id: a
  - id: b
    priority: urgent
agents:
  dev: {stream: a, tasks: [{title: x, estimate: 3 parsecs}]}
sync-schedule:
  - time: "25:00"
    type: standup
"""
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(text, source="bad.yml")
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("streams[1].priority (line 5): ")
    assert "'critical', 'high', 'medium' or 'low'" in problems[0]
    assert problems[1].startswith("agents.dev.tasks[0].estimate (line 7): ")
    assert "30min, 4h, 2d" in problems[1]
    assert problems[2].startswith("sync-schedule[0].time (line 9): ")


def test_cross_references_are_checked():
    text = """id: BAD-2
streams: [{id: a}]
agents:
  dev: {stream: nowhere, tasks: [{title: x, after: never-fires}]}
delegation-matrix:
  - {task-type: Database, primary: ghost}
alerts:
  - {level: critical, channel: pager}
"""
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(text)
    text_of = "\n".join(caught.value.problems)
    assert "agents.dev.stream (line 4): unknown stream 'nowhere'; known: a" in text_of
    assert "agents.dev.tasks[0].after" in text_of and "not an action of `coordination`" in text_of
    assert "delegation-matrix[0].primary (line 6): unknown agent 'ghost'" in text_of
    assert "alerts[0].channel (line 8): 'pager' is neither a destination" in text_of


def test_a_misspelt_key_is_named():
    with pytest.raises(PlanFileError) as caught:
        read_plan_text(MINIMAL + "risk_triggers: []\n")
    assert caught.value.problems == [
        "risk_triggers (line 7): unknown field (check its spelling; plan keys are kebab-case, e.g. risk-triggers)"
    ]


def test_broken_yaml_is_a_clear_error_with_its_line():
    with pytest.raises(PlanFileError) as caught:
        read_plan_text("id: X\nstreams: [\n  - id: a\n", source="broken.yml")
    assert caught.value.problems[0].startswith("line ")
    assert "invalid YAML" in caught.value.problems[0]


def test_yaml_cannot_build_python_objects():
    with pytest.raises(PlanFileError) as caught:
        read_plan_text("id: !!python/object/apply:os.system ['echo pwned']\nstreams: []\nagents: {}\n")
    assert "invalid YAML" in caught.value.problems[0]


def test_a_refused_file_stores_nothing(run, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("id: BAD-3\nstreams: [{id: a, priority: urgent}]\nagents: {x: {stream: a}}\n")
    with pytest.raises(CommandError) as caught:
        run(f"plan load {bad}")
    assert "was not loaded; nothing changed" in caught.value.message
    assert "streams[0].priority (line 2)" in caught.value.message
    assert run("plan list").body.rows == []


def test_a_missing_file_is_a_clear_error(run, tmp_path):
    with pytest.raises(CommandError) as caught:
        run(f"plan load {tmp_path / 'nope.yml'}")
    assert "cannot read the file: No such file or directory" in caught.value.message
