"""A slash command acked by a replica that dies before finishing it is completed once by another replica,
which answers through the command's response_url (Slack never sends a slash command twice).

Real `orchestrate serve` processes on one PostgreSQL database; the replica is killed with SIGKILL while
its command waits for a row lock this test holds, so the kill falls between the ack and the commit
every time.
"""

import time

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from commands.core.dispatch import execute
from models.db.store import make_engine, upgrade
from models.db.tables import AcceptedRequest, Event
from tests import pg
from tests.conftest import EXAMPLE_PLAN
from tests.fake_slack import FakeSlack
from tests.serve_process import ServeProcess, wait_for
from tests.slack_app import OPERATOR

LEASE_S = 3  # ORCHESTRATE_COMMAND_LEASE_SECONDS: how long a command is left to the replica that acked it


@pytest.fixture
def store():
    reason = pg.unreachable()
    if reason:
        pytest.skip(reason)
    name = pg.create_database()
    engine = make_engine(pg.url(name))
    upgrade(engine)
    execute(engine, ["plan", "load", str(EXAMPLE_PLAN)], OPERATOR)
    execute(engine, ["start", "TR-ORCH-001"], OPERATOR)
    try:
        yield name, engine
    finally:
        engine.dispose()
        pg.drop_database(name)


def waiting_on_a_lock(engine) -> int:
    """How many of the store's sessions wait for a lock another holds (the stalled command's)."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


@pytest.mark.postgresql
def test_a_command_acked_by_a_replica_killed_before_its_commit_is_done_once_by_another(store, tmp_path):
    name, engine = store
    env = {"ORCHESTRATE_COMMAND_LEASE_SECONDS": str(LEASE_S)}
    with FakeSlack() as slack:
        doomed = ServeProcess(tmp_path, slack.url, pg.url(name), extra_env=env)
        other = ServeProcess(tmp_path, slack.url, pg.url(name), extra_env=env)
        try:
            doomed.wait_healthy()
            other.wait_healthy()
            holder = engine.connect()
            try:
                # Every change of a plan takes its row lock first: held here, the command stalls inside.
                holder.execute(text("SELECT id FROM plans WHERE key = 'TR-ORCH-001' FOR UPDATE"))
                status, _ = doomed.slash("event deploy-window-opened", slack.response_url("takeover"))
                assert status == 200  # acked: Slack shows the person nothing more unless we answer
                wait_for(lambda: waiting_on_a_lock(engine) >= 1, 20, "the command stalling on the plan's lock")
                doomed.process.kill()  # SIGKILL, between the ack and the commit
                doomed.process.wait()
            finally:
                holder.rollback()
                holder.close()
            answers = wait_for(
                lambda: [c for c in slack.calls if c.method == "response:takeover"], 60, "an answer to the command"
            )
            time.sleep(LEASE_S + 3)  # past another lease and two rounds of the takeover job: no second run
            answers = [c for c in slack.calls if c.method == "response:takeover"]
        finally:
            doomed.stop()
            other.stop()
    assert len(answers) == 1, [a.body for a in answers]
    assert "Event deploy-window-opened raised" in str(answers[0].body), answers[0].body
    with Session(engine) as session:
        events = session.exec(select(func.count()).select_from(Event).where(Event.name == "deploy-window-opened")).one()
        open_commands = session.exec(
            select(func.count()).select_from(AcceptedRequest).where(AcceptedRequest.finished_at.is_(None))
        ).one()
    assert events == 1  # applied once
    assert open_commands == 0
    assert "completing a command its replica left unfinished" in other.output()
