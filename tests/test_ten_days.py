"""Ten working days of the example plan TR-ORCH-001 on the fake clock, with the scheduler ticking (issue 6).

The plan starts on Monday 5 January 2026 at 09:00 Paris and runs its ten working days, to Friday 16
January 17:00, over two weekends. The plan is the example file with one line added: agent-c2 reports
through the API with ``heartbeat-interval: 1h`` (so it can fall silent and go DOWN). The plan clock W
(working hours since the start; Mon–Fri 09:00–17:00 Paris) reads:

    Mon 5  W0–8    Tue 6  W8–16    Wed 7  W16–24   Thu 8  W24–32   Fri 9  W32–40
    Mon 12 W40–48  Tue 13 W48–56   Wed 14 W56–64   Thu 15 W64–72   Fri 16 W72–80

Stream B is paused for four working hours (Tue 6 15:00 W14 → Wed 7 11:00 W18): its clock B is W up to
W14, 14 while paused, W − 4 after W18. The A and C clocks are W.

Estimates (docs/semantics.md, "Estimates and the schedule"): 20h for every task of a1, b1, b2, c1, c2;
a2's T8 "API endpoints" is 2d = 16h and T5, T6, T7 share the rest: (80h − 16h) / 3 = 21h20m. Each
stream 160h, the plan 480h; later `task add` adds T25 (4h) and T26 (1d = 8h) to stream C: 172h, 492h.

    a1 (Database):   T1 T2 T3 T4         a2 (Services): T5 T6 T7 T8 (T8 signals api-endpoints-ready)
    b1 (UI Design):  T9 T10 T11 T12      b2 (Components): T13 T14 T15 T16 (T15 after frontend-integration-start)
    c1 (Testing):    T17 T18 T19 T20     c2 (DevOps): T21 T22 T23 T24
    (T18 waits for service-complete, T19 for day-5-complete: the plan's own coordination)

The story (STEPS below; times Paris, W in brackets):

    Mon 5  09:00 [W0]  everyone starts their first task on schedule: T1 T5 T9 T13 T17 T21
           14:00 [W5]  c2 blocks T21 (staging cluster quota); 16:30 cp-1 passed (all three criteria)
    Tue 6  10:00 [W9]  c2 starts T21 again: blocked 4h
           13:00 [W12] c1 (fast) finishes T17, starts T20; 15:00 T17 reopened (rework) and redone by 17:00
           15:00 [W14] lead pauses stream-b; 16:00 cp-2 criterion 1 ticked; code-coverage 85%
    Wed 7  11:00 [W18] lead resumes stream-b (4 working hours paused): stream-resumed, posted in #general
           13:00 [W20] T1 done on schedule, a1 starts T2; c2 falls silent after its 15:00 heartbeat
           16:00 code-coverage 88%; 16:30 lead forces cp-2
           17:00 [W24] T9, T13 done on the B clock's schedule (B20); T20 done; c1 now idle
                       tick: c2 DOWN (agent-down); T5 2h40m late → M1 proposal (reallocate-resources)
    Thu 8  10:00 [W25] tick: T21 5h late → task-delay > 4 hours → escalate-to-lead (DM to the lead)
           11:00 [W26] T5 done (26h for 21h20m), a2 starts T6; 11:30 test-coverage 78% → DEPLOYMENT BLOCKED
           12:00 [W27] tick: c1 down to 88.9% utilization → M2 allocate-backup-agent: T22 c2 → c1, ahead of
                       c1's waiting T18, T19 (the critical path stays 17.5 working days)
           14:00 [W29] lead adds "Rotate registry credentials" (DevOps): c2 is DOWN → the backup c1
    Fri 9  09:00 [W32] c2 heartbeats again (recovered), finishes T21, starts T23
           09:20 a stranger's `moves undo M2` is refused; 09:30 the lead undoes M2: T22 back with c2, at its
                 place and planned window (W20–40)
           09:45 lead adds "Canary deployment" (DevOps): c2 is the primary again; 15:00 test-coverage 92%
           17:00 [W40] T2 done; tick: cp-3 due and not passed → checkpoint-missed; day-5-complete → T19 ready
    Mon 12 09:00 [W40] T19 and T3 refused: held by cp-3
           10:00 [W41] cp-3 criteria 1, 2 ticked, bare validate refused; tick: c2 at 90.2% → M3
                       redistribute-tasks: T26 c2 → c1, ahead of c1's waiting T18 (now planned W49–69)
           11:00 [W42] cp-3 criterion 3 ticked: passed; T19, T3 start
           12:00 [W43] tick: nothing at risk on the critical path (T18 is not late any more)
           13:00 [W44] T10, T14 done on schedule (B40); T11, T16 start
           14:00 [W45] tick: B clock 41 passes T15's planned start → M4 prioritize-unblocking: T8 first;
                       T6 2h20m late → M5 proposal; T22 5h late → task-delay > 4 hours fires again
           15:45 T6 done; 16:00 [W47] a2 starts T8 (ahead of T7)
    Tue 13 13:00 [W52] T23 done, c2 starts T22
    Wed 14 15:00 [W62] T3, T19 done; a1 starts T4, c1 starts T26
           16:00 [W63] T8 done → api-endpoints-ready → T15 ready; a2 starts T7; cp-4 passed
           17:00 [W64] T11, T16 done (B60); T12, T15 start
    Thu 15 12:00 [W67] tick: T7 3h late → M6 proposal; 15:00 [W70] T26 done
           17:00 [W72] T22 done, c2 starts T24; tick: T18 3h late → M7 proposal
    Fri 16 10:00 reported metrics; 17:00 [W80] the end

The scheduler's tick (risk triggers, day-N-complete, task-delayed, checkpoint-missed, agent-down,
load balancing, escalation) runs at every working hour on the hour, after that instant's commands, and
the alert worker delivers right after it, to a FakeSlack (and a real SMTP server and SMS gateway). So
escalations of unacknowledged critical alerts, which fall due every 15 minutes of wall clock, go out at
most once per working-hour tick here. agent-c2 heartbeats every hour around the clock while it is up.
The 09:00 standup is posted by the scheduler's own job every working day (15 minutes each), nobody
answers it.

One world per store is played forward through the timeline, and the tests below, in time order, read
it at their instant (a test run alone replays from the start). Every expected value is worked out by
hand in the comments from docs/semantics.md and shared/domain.md.
"""

import csv
import io
import json
import re
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, SQLModel, select

from bot import scheduler
from bot.blocks import render as render_blocks_of
from bot.respond import SlackFront
from bot.text import render as render_text
from commands.core.errors import CommandError, PermissionDenied
from models.db.store import make_engine
from models.db.tables import Agent, SyncSlot, Task
from models.rules.heartbeats import record_heartbeat
from models.views import exports
from models.views.exports import stream
from tests import pg
from tests.clock import PARIS, H, paris, pct, same_instant
from tests.conftest import EXAMPLE_PLAN, LEAD, OPERATOR, STORES, STRANGER, Runner, start_plan_text
from tests.fake_slack import FakeSlack
from tests.outlets import Mailbox, SmsGateway

A2_TASK = 76800  # (80h − 16h) / 3 = 21h20m, in seconds: T5, T6, T7
A2 = A2_TASK / H  # the same in hours (21.333…)
PLAN_KEY = "TR-ORCH-001"
CHANNEL = "#tr-orchestration"
LEAD_DM = "DU0LEAD0001"  # FakeSlack's direct-message channel with U0LEAD0001
A, B, C = "stream-a-backend", "stream-b-frontend", "stream-c-testing"


START, END = paris(5, 9), paris(16, 17)
WORKING_DAYS = (5, 6, 7, 8, 9, 12, 13, 14, 15, 16)
# agent-c2 heartbeats every hour on the hour, except from after its Wed 7 15:00 beat to Fri 9 09:00.
C2_SILENT = (paris(7, 15, 1), paris(9, 9))

REFUSED = "refused"  # a step expected to be refused: the error is kept for the tests to read

STEPS = [
    # Monday 5 January (day 1, W0–8)
    (paris(5, 9), "task start T1"),
    (paris(5, 9), "task start T5"),
    (paris(5, 9), "task start T9"),
    (paris(5, 9), "task start T13"),
    (paris(5, 9), "task start T17"),
    (paris(5, 9), "task start T21"),
    (paris(5, 14), "task block T21 --reason 'staging cluster quota exhausted'"),
    (paris(5, 16, 30), "validate --checkpoint cp-1 --criterion 1,2,3", LEAD),
    # Tuesday 6 January (day 2, W8–16)
    (paris(6, 10), "task start T21"),
    (paris(6, 13), "task done T17"),
    (paris(6, 13), "task start T20"),
    (paris(6, 15), "task reopen T17 --reason 'flaky fixtures in the test environment'"),
    (paris(6, 15), "task start T17"),
    (paris(6, 15), "pause stream-b --reason 'design review with the client'", LEAD),
    (paris(6, 16), "validate --checkpoint cp-2 --criterion 1", LEAD),
    (paris(6, 16), "metric code-coverage 85%"),
    (paris(6, 16, 30), "task start T10", OPERATOR, REFUSED),
    (paris(6, 17), "task done T17"),
    # Wednesday 7 January (day 3, W16–24)
    (paris(7, 11), "resume stream-b", LEAD),
    (paris(7, 13), "task done T1"),
    (paris(7, 13), "task start T2"),
    (paris(7, 16), "metric code-coverage 88%"),
    (paris(7, 16, 30), "validate --checkpoint cp-2 --force --reason 'mocks come on day 4; the spec is frozen'", LEAD),
    (paris(7, 16, 45), "validate --checkpoint cp-2", LEAD, REFUSED),
    (paris(7, 17), "task done T9"),
    (paris(7, 17), "task start T10"),
    (paris(7, 17), "task done T13"),
    (paris(7, 17), "task start T14"),
    (paris(7, 17), "task done T20"),
    # Thursday 8 January (day 4, W24–32)
    (paris(8, 9, 30), ("@ack", "agent-down")),
    (paris(8, 9, 40), "moves undo M1", LEAD, REFUSED),
    (paris(8, 11), "task done T5"),
    (paris(8, 11), "task start T6"),
    (paris(8, 11, 30), "metric test-coverage 78%"),
    (paris(8, 14), "task add 'Rotate registry credentials' --type DevOps --estimate 4h", LEAD),
    (paris(8, 14), "task start T25"),
    (paris(8, 16), "metric code-coverage 92%"),
    (paris(8, 17), "task done T25"),
    # Friday 9 January (day 5, W32–40)
    (paris(9, 9), "task done T21"),
    (paris(9, 9), "task start T23"),
    (paris(9, 9, 20), "moves undo M2", STRANGER, REFUSED),
    (paris(9, 9, 30), "moves undo M2", LEAD),
    (paris(9, 9, 45), "task add 'Canary deployment' --type DevOps --estimate 1d", LEAD),
    (paris(9, 15), "metric test-coverage 92%"),
    (paris(9, 17), "task done T2"),
    # (the weekend: nothing)
    # Monday 12 January (day 6, W40–48)
    (paris(12, 9), "task start T19", OPERATOR, REFUSED),
    (paris(12, 9), "task start T3", OPERATOR, REFUSED),
    (paris(12, 9, 30), ("@ack", "checkpoint-missed")),
    (paris(12, 10), "validate --checkpoint cp-3 --criterion 1", LEAD),
    (paris(12, 10), "validate --checkpoint cp-3 --criterion 2", LEAD),
    (paris(12, 10), "validate --checkpoint cp-3", LEAD, REFUSED),
    (paris(12, 11), "validate --checkpoint cp-3 --criterion 3", LEAD),
    (paris(12, 11), "task start T19"),
    (paris(12, 11), "task start T3"),
    (paris(12, 11, 5), "validate --checkpoint cp-3", LEAD, REFUSED),
    (paris(12, 13), "task done T10"),
    (paris(12, 13), "task start T11"),
    (paris(12, 13), "task done T14"),
    (paris(12, 13), "task start T16"),
    (paris(12, 15, 45), "task done T6"),
    (paris(12, 16), "task start T8"),
    # Tuesday 13 January (day 7, W48–56)
    (paris(13, 13), "task done T23"),
    (paris(13, 13), "task start T22"),
    # Wednesday 14 January (day 8, W56–64)
    (paris(14, 15), "task done T3"),
    (paris(14, 15), "task start T4"),
    (paris(14, 15), "task done T19"),
    (paris(14, 15), "task start T26"),
    (paris(14, 16), "task done T8"),
    (paris(14, 16), "task start T7"),
    (paris(14, 16), "validate --checkpoint cp-4 --criterion 1,2,3", LEAD),
    (paris(14, 17), "task done T11"),
    (paris(14, 17), "task start T12"),
    (paris(14, 17), "task done T16"),
    (paris(14, 17), "task start T15"),
    # Thursday 15 January (day 9, W64–72)
    (paris(15, 10), "metric documentation 60%"),
    (paris(15, 15), "task done T26"),
    (paris(15, 17), "task done T22"),
    (paris(15, 17), "task start T24"),
    # Friday 16 January (day 10, W72–80)
    (paris(16, 10), "metric code-coverage 94%"),
    (paris(16, 10), "metric documentation 100%"),
    (paris(16, 10), "metric review-turnaround '3 hours'"),
    (paris(16, 10), "metric bug-detection-rate 2/day"),
]

# At one instant: heartbeat, then the standup, then the scripted commands, then the scheduler's tick.
_BEAT, _STANDUP, _STEP, _TICK = range(4)


def _timeline() -> list[tuple[datetime, tuple]]:
    events = []
    at = START
    while at <= END:
        if not C2_SILENT[0] <= at < C2_SILENT[1]:
            events.append((at, _BEAT, ("@beat",)))
        if at.astimezone(PARIS).day in WORKING_DAYS and 9 <= at.astimezone(PARIS).hour <= 17:
            if at.astimezone(PARIS).hour == 9:
                events.append((at, _STANDUP, ("@standup",)))
            events.append((at, _TICK, ("@tick",)))
        at += timedelta(hours=1)
    for step in STEPS:
        what = step[1] if isinstance(step[1], tuple) else step[1:]
        events.append((step[0], _STEP, what))
    ordered = sorted(enumerate(events), key=lambda pair: (pair[1][0], pair[1][1], pair[0]))
    return [(at, what) for _, (at, _, what) in ordered]


TIMELINE = _timeline()


def plan_file(folder) -> str:
    """The example plan, with agent-c2 reporting through the API (a heartbeat an hour)."""
    text = EXAMPLE_PLAN.read_text()
    anchor = "    skills: [Docker, Kubernetes, GitHub Actions, Monitoring]\n"
    assert text.count(anchor) == 1
    path = folder / "TR-ORCH-001.yml"
    path.write_text(text.replace(anchor, anchor + "    heartbeat-interval: 1h\n"))
    return str(path)


class World:
    """The plan, its store, Slack, email and SMS, played forward along TIMELINE."""

    def __init__(self, new_engine, folder):
        self.new_engine, self.folder = new_engine, folder
        self.slack, self.mailbox, self.sms = FakeSlack().start(), Mailbox(), SmsGateway()
        self.mailbox.__enter__()
        self.sms.__enter__()
        self.engine = None
        self.reset()

    def reset(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        self.engine = self.new_engine()
        self.slack.reset()
        self.mailbox.messages.clear()
        self.sms.received.clear()
        self.run = Runner(self.engine, START)
        self.loaded = self.run(f"plan load {plan_file(self.folder)}")
        self.run(f"start {PLAN_KEY}")
        self.played = 0
        self.replies: dict = {}  # (time, command line) -> reply, or the error of a refused step

    def close(self) -> None:
        self.slack.stop()
        self.mailbox.__exit__()
        self.sms.__exit__()
        if self.engine is not None:
            self.engine.dispose()

    def play_until(self, when: datetime) -> "World":
        if when < self.run.now:
            self.reset()  # a test run out of order: replay from the start
        scheduler.use(
            self.engine,
            WebClient(token="xoxb-test", base_url=self.slack.url),
            clock=lambda: self.run.now,
            smtp_url=self.mailbox.url,
            sms_url=self.sms.url,
        )
        while self.played < len(TIMELINE) and TIMELINE[self.played][0] <= when:
            at, what = TIMELINE[self.played]
            self.run.at(at)
            self._do(at, what)
            self.played += 1
        self.run.at(when)
        return self

    def _do(self, at: datetime, what: tuple) -> None:
        if what[0] == "@beat":
            with Session(self.engine) as session:
                agent = session.exec(select(Agent).where(Agent.key == "agent-c2")).one()
                record_heartbeat(session, agent, now=at)
                session.commit()
        elif what[0] == "@standup":
            scheduler.run_slot(PLAN_KEY, "standup")
        elif what[0] == "@tick":
            scheduler.tick()
            scheduler.deliver()
        elif what[0] == "@ack":  # the lead acknowledges the open alert of that event, as `alerts` lists it
            number = next(row[0] for row in self.run("alerts --open").body.rows if row[2] == what[1])
            self.replies[(at, f"ack {what[1]}")] = self.run(f"ack {number}", actor=LEAD)
        else:
            line, actor = what[0], what[1] if len(what) > 1 else OPERATOR
            if len(what) > 2 and what[2] == REFUSED:
                with pytest.raises(CommandError) as refused:
                    self.run(line, actor=actor)
                self.replies[(at, line)] = refused.value
            else:
                self.replies[(at, line)] = self.run(line, actor=actor)

    def reply(self, at: datetime, line: str):
        return self.replies[(at, line)]


@pytest.fixture(scope="module", params=[pytest.param(store, marks=getattr(pytest.mark, store)) for store in STORES])
def world(request, tmp_path_factory):
    """One world per store (in-memory SQLite, or a fresh PostgreSQL database per replay)."""
    databases = []
    if request.param == "sqlite":

        def new_engine():
            engine = make_engine("sqlite://")
            SQLModel.metadata.create_all(engine)
            return engine
    else:
        reason = pg.unreachable()
        if reason:
            pytest.skip(reason)
        templates = request.getfixturevalue("postgres_templates")

        def new_engine():
            databases.append(templates.copy())
            return make_engine(pg.url(databases[-1]))

    played = World(new_engine, tmp_path_factory.mktemp("plan"))
    try:
        yield played
    finally:
        scheduler._runtime = None
        played.close()
        for name in databases:
            templates.discard(name)


# --- reading what a user sees ----------------------------------------------------------------------


def dashboard(world):
    return world.run("status").body


def streams(board) -> dict:
    return {s.key: s for s in board.streams}


def figures(board) -> dict:
    return {m.name: m for m in board.metrics}


def monitor(world) -> dict:
    return {a.key: (a.status, a.current_task) for a in world.run("health").body.agents}


def health(world) -> dict:
    return {a.key: a.health for a in world.run("health").body.agents}


def owners(world) -> dict:
    return {row[0]: row[3] for row in world.run("task list --limit 100").body.rows}


def task_row(world, key: str) -> list:
    return next(row for row in world.run("task list --limit 100").body.rows if row[0] == key)


def moves_table(world) -> dict:
    """`moves`: Move, When (UTC), Rule, Task, Change, Status, Why, by move id."""
    table = world.run("moves").body
    assert table.columns == ["Move", "When (UTC)", "Rule", "Task", "Change", "Status", "Why"]
    return {row[0]: row[1:] for row in table.rows}


def critical_path(world) -> str:
    return next(d for d in world.run(f"plan show {PLAN_KEY}").body.details if d.startswith("critical path:"))


def _blocks(call) -> list:
    blocks = call.body.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def posts(world, channel: str) -> list[str]:
    """The texts of the messages the bot posted in a channel (or a DM channel), in order."""
    return [
        c.body["text"]
        for c in world.slack.calls_to("chat.postMessage", include_failed=False)
        if c.body["channel"] == channel
    ]


def announcements(world) -> dict:
    """Load-balancing posts in the plan's channel, by move id: (text, buttons as (action_id, value))."""
    found = {}
    for call in world.slack.calls_to("chat.postMessage", include_failed=False):
        if call.body["channel"] != CHANNEL or (
            "load-balancing" not in json.dumps(_blocks(call)) and " · " not in call.body["text"]
        ):
            continue
        buttons = [
            (e["action_id"], e["value"])
            for b in _blocks(call)
            for e in b.get("elements", [])
            if e.get("type") == "button"
        ]
        if buttons and buttons[0][0].startswith("move_"):
            found[buttons[0][1].split("|")[1]] = (call.body["text"], buttons)
    return found


def standups(world) -> list[dict]:
    """Each standup prompt posted in the plan's channel: the agents it asks (its first section) and its tally."""
    found = []
    for call in world.slack.calls_to("chat.postMessage", include_failed=False):
        if call.body["channel"] == CHANNEL and call.body["text"] == f"Sync: standup ({PLAN_KEY})":
            blocks = _blocks(call)
            sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
            tally = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
            found.append({"asked": sections[0], "sections": sections, "tally": tally[0]})
    return found


def balancer_audit(world) -> list[list[str]]:
    """Audit rows (#, When, Who, From, Command, Outcome) written by the load balancer, oldest first."""
    rows = world.run(f"audit --plan {PLAN_KEY} --limit 1000").body.rows
    return [row for row in reversed(rows) if row[2] == "load-balancer"]


def check_metrics(board, expected: dict) -> None:
    """expected: name -> (value, ok, trend); values in % are compared as the dashboard rounds them."""
    got = figures(board)
    for name, (value, ok, trend) in expected.items():
        figure = got[name]
        if value is None:
            assert figure.value is None, name
        else:
            assert figure.value == pct(value), name
        assert (figure.ok, figure.trend) == (ok, trend), name


def counts(board) -> tuple:
    c = board.counts
    return (c.active, c.completed, c.blocked, c.failed, c.ready, c.todo, c.total)


# --- loading and starting ----------------------------------------------------------------------------


def test_loading_says_the_plan_cannot_end_in_ten_days(world):
    world.play_until(START)
    # a2's four Services tasks T5–T8 end at W80; c1's T18 waits for service-complete (W80), then T19 and
    # T20 follow in c1's queue: 80 + 3 × 20 = 140 working hours = 17.5 working days, 7.5 past the 10.
    assert (
        "critical path: T5 → T6 → T7 → T8 → T18 → T19 → T20, ending after 17.5 working days: "
        "7.5 past duration-days (10); the waits (`after:`) do not fit the plan"
    ) in world.loaded.body.details


def test_monday_9am_everyone_starts_on_schedule(world):
    world.play_until(paris(5, 9))
    assert monitor(world) == {
        "agent-a1": ("ACTIVE", "T1"),
        "agent-a2": ("ACTIVE", "T5"),
        "agent-b1": ("ACTIVE", "T9"),
        "agent-b2": ("ACTIVE", "T13"),
        "agent-c1": ("ACTIVE", "T17"),
        "agent-c2": ("ACTIVE", "T21"),
    }
    # The 09:00 standup, posted before anyone started: all six agents, each with its first task; cp-1 due today.
    [standup] = standups(world)
    assert standup["asked"] == (
        "• *agent-a1*: Database schema design\n• *agent-a2*: Matricule mapping service\n"
        "• *agent-b1*: UI/UX mockups\n• *agent-b2*: Component implementation\n"
        "• *agent-c1*: Test environment setup\n• *agent-c2*: CI/CD pipeline"
    )
    assert ":checkered_flag: due today: *cp-1* Database Schema Validation (0/3 criteria met)" in standup["sections"]
    assert standup["tally"].startswith("*6 asked* · :white_check_mark: 0 answered · 6 not yet")
    board = dashboard(world)
    assert [s.status for s in board.streams] == ["Starting", "Starting", "Starting"]
    assert board.progress == 0 and board.planned_progress == 0


# --- Monday 5 January, 17:00 (W8) ---------------------------------------------------------------------

MON5_EVENING = paris(5, 17)


def test_monday_evening_dashboard(world):
    world.play_until(MON5_EVENING)
    board = dashboard(world)
    by_key = streams(board)
    # Nothing done yet: progress 0 and every stream Starting.
    assert board.progress == 0 and [s.progress for s in board.streams] == [0, 0, 0]
    assert [s.status for s in board.streams] == ["Starting", "Starting", "Starting"]
    # Planned: a task counts once its planned due time has passed; every first task (16h or more from W0)
    # is due at W16 or later, so none by W8.
    for key in (A, B, C):
        assert by_key[key].planned_progress == 0
    assert board.planned_progress == 0
    # Worst unfinished task against its due time: A's T1 (due W20) −12h; B's T9/T13 −12h; C's T21 −12h.
    assert [s.lateness_s for s in board.streams] == [-12 * H, -12 * H, -12 * H]
    # In progress T1 T5 T9 T13 T17; T21 blocked; ready: a1 3, a2 3, b1 3, b2 2 (T15 waits), c1 1 (T20), c2 3.
    assert counts(board) == (5, 0, 1, 0, 15, 3, 24)
    assert board.elapsed_s == 8 * H
    # Nothing done: the ETA follows the plan: the last due time is W80, 72h after W8 -> Fri 16 17:00.
    assert board.eta_basis == "planned"
    assert board.eta_at.timestamp() == same_instant(paris(16, 17))
    assert board.eta_s == 11 * 24 * H  # Mon 5 17:00 -> Fri 16 17:00
    # cp-1 passed at 16:30: the next gate is cp-2, due at the end of working day 3 (Wed 7), none met yet.
    gate = board.next_checkpoint
    assert (gate.key, gate.met, gate.criteria) == ("cp-2", 0, 3)
    assert gate.due_at.timestamp() == same_instant(paris(7, 17))


def test_monday_evening_metrics(world):
    world.play_until(MON5_EVENING)
    # Busy: a1 a2 b1 b2 c1 8h each; c2 5h (09:00–14:00, then T21 blocked) -> 45h of 6 × 8h.
    # Utilization: five at 100%, c2 5/8.  Blocking: T21 3h blocked / (45h in progress + 3h).
    # Communication: one 15-minute standup in 480 working minutes. Nothing marked done yet: no rework rate.
    # Nothing before this morning: no trend.
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 45 / 48, True, None),  # 93.75%
            "agent-utilization": (100 * (5 + 5 / 8) / 6, True, None),  # 93.75%
            "blocking-time": (100 * 3 / 48, False, None),  # 6.25%, target < 5%
            "rework-rate": (None, None, None),
            "communication-overhead": (100 * 15 / 480, True, None),  # 3.125%
            "code-coverage": (None, None, None),
        },
    )


def test_monday_evening_agents_and_the_blocked_task(world):
    world.play_until(MON5_EVENING)
    # c2's T21 is blocked: nothing in progress, its next ready task is T22 -> IDLE on T22.
    assert monitor(world) == {
        "agent-a1": ("ACTIVE", "T1"),
        "agent-a2": ("ACTIVE", "T5"),
        "agent-b1": ("ACTIVE", "T9"),
        "agent-b2": ("ACTIVE", "T13"),
        "agent-c1": ("ACTIVE", "T17"),
        "agent-c2": ("IDLE", "T22"),
    }
    # Health over the last working day (Mon 09:00–17:00): one standup asked everyone, nobody answered: 0%.
    # c2 also owes one heartbeat per hour: 8 expected, 9 sent (09:00…17:00) -> (0 + 8) / (1 + 8).
    assert health(world) == {
        "agent-a1": 0.0,
        "agent-a2": 0.0,
        "agent-b1": 0.0,
        "agent-b2": 0.0,
        "agent-c1": 0.0,
        "agent-c2": pytest.approx(100 * 8 / 9, abs=0.05),
    }
    # task-blocked is a warning, listed in no route: it goes by the warning route (#dev).
    blocked = "[warning] TR-ORCH-001: T21 blocked: CI/CD pipeline\nReason: staging cluster quota exhausted"
    assert blocked in posts(world, "#dev")
    assert "[info] TR-ORCH-001: Working day 1 complete" in posts(world, "#general")


def test_monday_evening_cp1_passed_with_its_checklist(world):
    world.play_until(MON5_EVENING)
    checklist = world.reply(paris(5, 16, 30), "validate --checkpoint cp-1 --criterion 1,2,3").body
    assert (checklist.checkpoint, checklist.passed, checklist.forced, checklist.note) == (
        "cp-1",
        True,
        False,
        "All criteria met: passed.",
    )
    assert checklist.criteria == [
        (1, "All migrations tested", True, "slack:U0LEAD0001"),
        (2, "Rollback verified", True, "slack:U0LEAD0001"),
        (3, "Performance benchmarked", True, "slack:U0LEAD0001"),
    ]
    passed = "[info] TR-ORCH-001: Gate cp-1 (Database Schema Validation) passed\nEvery criterion met."
    assert passed in posts(world, "#general")


# --- Tuesday 6 January, 17:00 (W16): stream B paused since 15:00 -------------------------------------

TUE6_EVENING = paris(6, 17)


def test_tuesday_the_paused_stream_cannot_start_tasks(world):
    world.play_until(paris(6, 16, 30))
    assert world.reply(paris(6, 15), "pause stream-b --reason 'design review with the client'").body.text == (
        "Paused stream-b-frontend: design review with the client. Its clocks are stopped until "
        "`resume stream-b-frontend`."
    )
    assert str(world.reply(paris(6, 16, 30), "task start T10")) == (
        "stream stream-b-frontend is paused: resume it first (`resume stream-b-frontend`)"
    )
    assert monitor(world)["agent-b1"] == ("PAUSED", "T9")
    assert monitor(world)["agent-b2"] == ("PAUSED", "T13")


def test_tuesday_evening_dashboard(world):
    world.play_until(TUE6_EVENING)
    board = dashboard(world)
    by_key = streams(board)
    # Done: T17 (c1, 20h; done twice, counted once).
    assert [s.progress for s in board.streams] == [0, 0, pytest.approx(20 / 160)]
    assert board.progress == pytest.approx(20 / 480)  # 4.17%
    # Planned at W16 (B stopped at its clock 14): the first tasks are due at W20 (T1, T9, T13, T17, T21) and
    # W21h20m (T5): none due yet, 0 everywhere.
    assert [s.planned_progress for s in board.streams] == [0, 0, 0]
    assert board.planned_progress == 0
    # A: nothing done -> Starting. B: Paused. C: 12.5% done vs 0% planned, no task late (T21 due W20:
    # −4h) -> On Track (c1 ahead of its plan).
    assert [s.status for s in board.streams] == ["Starting", "Paused", "On Track"]
    assert by_key[B].lateness_s == (14 - 20) * H  # B's clock stopped at 14: T9 and T13 due 20
    assert by_key[C].lateness_s == (16 - 20) * H
    # In progress T1 T5 T9 T13 T20 T21 (paused ones stay in progress); done T17.
    assert counts(board) == (6, 1, 0, 0, 14, 3, 24)
    assert board.elapsed_s == 32 * H  # Mon 09:00 -> Tue 17:00
    # ETA: 20h done in 16 working hours; 460h left -> 460 × 16 / 20 = 368h = 46 working days after
    # Tue 6 17:00: Jan 7–9 (3), five full weeks to Feb 13 (28), Feb 16 – Mar 6 (43), Mar 9, 10, 11 -> Wed 11 Mar 17:00.
    assert board.eta_basis == "observed"
    assert board.eta_at.timestamp() == same_instant(datetime(2026, 3, 11, 17, tzinfo=PARIS))
    assert board.eta_s == 64 * 24 * H  # Jan 6 -> Mar 11: 25 + 28 + 11 days


def test_tuesday_evening_metrics_and_trends(world):
    world.play_until(TUE6_EVENING)
    # Busy: a1 a2 16h; b1 b2 14h (their clock stopped at 14: they had 14h); c1 16h (T17, T20, then T17
    # again alongside T20: counted once); c2 5h + 7h (T21 again from W9) = 12h
    # -> 16 + 16 + 14 + 14 + 16 + 12 = 88h of 6 × 16h.
    # Utilization: a1 a2 b1 b2 c1 100%, c2 12/16.
    # Blocking: in progress T1 16, T5 16, T9 14, T13 14, T17 12 + 2, T20 4, T21 12 = 90h; blocked 4h.
    # Rework: T17 reopened once after done, marked done twice: 1/2.
    # Trends against Monday 17:00 (93.75, 93.75, 6.25, —, 3.125).
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 88 / 96, True, "down"),  # 91.7%
            "agent-utilization": (100 * (5 + 12 / 16) / 6, True, "up"),  # 95.8%
            "blocking-time": (100 * 4 / 94, True, "down"),  # 4.3%
            "rework-rate": (100 * 1 / 2, False, None),  # 50%, no earlier value
            "communication-overhead": (100 * 30 / 960, True, "flat"),  # 3.125%
            "code-coverage": (85, False, None),  # reported at 16:00; nothing before today
        },
    )
    assert world.reply(paris(6, 16), "metric code-coverage 85%").body.text == (
        "Recorded code-coverage = 85% (target > 90%: NOT met)."
    )


# --- Wednesday 7 January -----------------------------------------------------------------------------


def test_wednesday_standup_does_not_ask_the_paused_stream(world):
    world.play_until(paris(7, 9))
    standup = standups(world)[2]  # Mon, Tue, Wed
    # Stream B is paused: b1 and b2 are not asked. Current tasks: a1 T1, a2 T5, c1 T20 (T17 done), c2 T21.
    assert standup["asked"] == (
        "• *agent-a1*: Database schema design\n• *agent-a2*: Matricule mapping service\n"
        "• *agent-c1*: Performance testing\n• *agent-c2*: CI/CD pipeline"
    )
    assert standup["tally"].startswith("*4 asked* · :white_check_mark: 0 answered · 4 not yet")
    assert ":checkered_flag: due today: *cp-2* API Contract Lock (1/3 criteria met)" in standup["sections"]


WED7_EVENING = paris(7, 17)


def test_wednesday_evening_dashboard(world):
    world.play_until(WED7_EVENING)
    board = dashboard(world)
    by_key = streams(board)
    # Done: A T1 (20h); B T9, T13 (40h, on the B clock's schedule: B20); C T17, T20 (40h).
    assert by_key[A].progress == pytest.approx(20 / 160)
    assert by_key[B].progress == pytest.approx(40 / 160)
    assert by_key[C].progress == pytest.approx(40 / 160)
    assert board.progress == pytest.approx(100 / 480)  # 20.8%
    # Planned at W24 (B clock 20), the tasks due by then: A T1 (due W20) 20h + T5 (due W21h20m) 21h20m;
    # B T9, T13 (due B20) 40h; C T17, T21 (due W20) 40h.
    assert by_key[A].planned_progress == pytest.approx((20 + A2) / 160)  # 25.8%
    assert by_key[B].planned_progress == pytest.approx(40 / 160)
    assert by_key[C].planned_progress == pytest.approx(40 / 160)
    assert board.planned_progress == pytest.approx((100 + A2) / 480)
    # A: T5 (due W21h20) 2h40m late > 2h -> Delayed (also 13.3 points behind: T5 is due, not done).
    # B: 25% done vs 25% planned, its tasks due at B40 -> On Track (the 4 paused hours are not delay).
    # C: T21 (due W20) 4h late > 2h -> Delayed.
    assert by_key[A].lateness_s == 24 * H - A2_TASK  # 2h40m
    assert by_key[B].lateness_s == (20 - 40) * H
    assert by_key[C].lateness_s == 4 * H
    assert [s.status for s in board.streams] == ["Delayed", "On Track", "Delayed"]
    # In progress T2 T5 T10 T14 T21; done T1 T9 T13 T17 T20; ready: a1 T3 T4, a2 T6–T8, b1 T11 T12,
    # b2 T16, c2 T22–T24 = 11; todo T15 T18 T19.
    assert counts(board) == (5, 5, 0, 0, 11, 3, 24)
    assert board.elapsed_s == 56 * H  # Mon 09:00 -> Wed 17:00
    # ETA: 100h done in 24 working hours; 380h left -> 380 × 24 / 100 = 91.2h = 11 working days + 3h12m
    # after Wed 7 17:00: Thu 8, Fri 9, 12–16, 19–22 -> Thu 22 17:00, then Fri 23 09:00 + 3h12m.
    assert board.eta_at.timestamp() == same_instant(paris(23, 12, 12))
    assert board.eta_s == 15 * 24 * H + 19 * H + 12 * 60  # Wed 7 17:00 -> Fri 23 12:12
    # cp-2 forced at 16:30: next is cp-3, due at the end of working day 5 (Fri 9).
    gate = board.next_checkpoint
    assert (gate.key, gate.met, gate.criteria) == ("cp-3", 0, 3)
    assert gate.due_at.timestamp() == same_instant(paris(9, 17))


def test_wednesday_evening_metrics_and_trends(world):
    world.play_until(WED7_EVENING)
    # Busy at W24: a1 24, a2 24, b1 20 (had 20 on the B clock), b2 20, c1 24, c2 5 + 15 (W9–24) = 20.
    # -> 132h of 144h.  Utilization: five at 100%, c2 20/24.
    # Task time: T1 20, T2 4, T5 24, T9 20, T13 20, T17 12 + 2, T20 12, T21 20 = 134h in progress, 4h blocked.
    # Rework: 1 reopening / 6 times marked done (T17 twice, T1, T9, T13, T20).
    # Trends against Tuesday 17:00 (91.7, 95.8, 4.3, 50, 3.125).
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 132 / 144, True, "flat"),  # 91.7%, as yesterday
            "agent-utilization": (100 * (5 + 20 / 24) / 6, True, "up"),  # 97.2%
            "blocking-time": (100 * 4 / 138, True, "down"),  # 2.9%
            "rework-rate": (100 * 1 / 6, False, "down"),  # 16.7%
            "communication-overhead": (100 * 45 / 1440, True, "flat"),  # 3 standups: 3.125%
            "code-coverage": (88, False, "up"),  # 88% today against 85% yesterday
        },
    )


def test_wednesday_cp2_forced_by_the_lead(world):
    world.play_until(WED7_EVENING)
    forced = world.reply(
        paris(7, 16, 30), "validate --checkpoint cp-2 --force --reason 'mocks come on day 4; the spec is frozen'"
    ).body
    assert (forced.passed, forced.forced, forced.force_reason, forced.passed_by) == (
        True,
        True,
        "mocks come on day 4; the spec is frozen",
        "slack:U0LEAD0001",
    )
    # Criterion 1 was ticked on Tuesday; 2 and 3 were not.
    assert forced.criteria == [
        (1, "OpenAPI spec finalized", True, "slack:U0LEAD0001"),
        (2, "Frontend/Backend aligned", False, None),
        (3, "Mocks available", False, None),
    ]
    assert forced.note == "FORCED past 2 unmet criteria by lead: mocks come on day 4; the spec is frozen"
    # Passing it again is refused, saying who forced it, why and when (16:30 Paris = 15:30 UTC).
    assert str(world.reply(paris(7, 16, 45), "validate --checkpoint cp-2")) == (
        "cp-2 was already forced (mocks come on day 4; the spec is frozen) by slack:U0LEAD0001 on Wed 07 Jan 15:30 UTC"
    )


def test_wednesday_task_delayed_warnings(world):
    world.play_until(WED7_EVENING)
    # T21 passed its due time W20 at 13:00: raised by the 14:00 tick; T5 (due W21h20) by the 15:00 tick.
    dev = posts(world, "#dev")
    late = "Past its planned due time and not done."
    assert f"[warning] TR-ORCH-001: T21 late: CI/CD pipeline\n{late}" in dev
    assert f"[warning] TR-ORCH-001: T5 late: Matricule mapping service\n{late}" in dev
    # T1 (done at its due time) and T9/T13 (done at B20, their due) were never late.
    assert not [p for p in dev if re.search(r": (T1|T9|T13) late: |Tasks late: .*\b(T1|T9|T13)\b", p)]


def test_wednesday_evening_c2_is_down(world):
    world.play_until(WED7_EVENING)
    # Last heartbeat 15:00; silent for 2h > 1h at the 17:00 tick -> DOWN, agent-down (critical).
    agents = monitor(world)
    assert agents["agent-c2"] == ("DOWN", "T21")
    # c1 finished T20: nothing in progress and nothing ready (T18, T19 wait) -> IDLE, no current task.
    assert agents["agent-c1"] == ("IDLE", None)
    # Health Wed 09:00–17:00: b1, b2 were not asked (paused at the standup): nothing expected -> None.
    # c2: asked once, 8 heartbeats expected, 7 sent (09:00–15:00) -> 7 / 9.
    assert health(world) == {
        "agent-a1": 0.0,
        "agent-a2": 0.0,
        "agent-b1": None,
        "agent-b2": None,
        "agent-c1": 0.0,
        "agent-c2": pytest.approx(100 * 7 / 9, abs=0.05),
    }
    # agent-down goes by the critical route: #urgent, email and SMS.
    text = "agent-c2 is down\nNo heartbeat since 14:00 UTC."
    assert f"[critical] TR-ORCH-001: {text}" in posts(world, "#urgent")
    assert [m["to"] for m in world.mailbox.messages if "agent-down" in m["data"]] == [["oncall@example.com"]]
    assert [s["text"] for s in world.sms.received if "is down" in s["text"]] == [f"[critical] TR-ORCH-001: {text}"]


def test_wednesday_evening_critical_path_at_risk_is_proposed(world):
    world.play_until(WED7_EVENING)
    # T5, on the critical path, is 2h40m late (> the 2h stream-delay threshold): a reallocation is proposed.
    # The helper is taken from a stream with no open critical task: only stream B (A has T5–T8, C has T18–T20);
    # b1 and b2 both have 60h open (one task done each) -> b1, the first.
    why = (
        "critical path at risk: T5 'Matricule mapping service' is 2h 40m late, and the plan's end moves "
        "with it; agent-b1 has the least open work outside it (60h open)"
    )
    assert moves_table(world) == {
        "M1": [
            "2026-01-07 16:00",
            "reallocate-resources",
            "T5",
            "reallocate --from agent-b1 --to stream-a-backend",
            "proposed",
            why,
        ]
    }
    text, buttons = announcements(world)["M1"]
    assert text == (
        f"[info] TR-ORCH-001: M1 · reallocate-resources: Proposed: `reallocate --from agent-b1 --to "
        f"stream-a-backend` ({why}). A lead applies it with `moves apply M1`"
    )
    assert buttons == [("move_apply", "TR-ORCH-001|M1")]
    assert text in posts(world, "#general")  # the info route too
    [audit] = balancer_audit(world)
    assert audit[1:] == [
        "2026-01-07 16:00:00",
        "load-balancer",
        "scheduler",
        "load-balancing reallocate-resources (M1)",
        "ok",
    ]
    # A proposal changes nothing: b1 is still in stream B.
    assert world.run("health --agents agent-b1").body.agents[0].stream == B


def test_wednesday_11am_resuming_the_stream_is_announced(world):
    world.play_until(paris(7, 11))
    assert world.reply(paris(7, 11), "resume stream-b").body.text == "Resumed stream-b-frontend."
    # stream-resumed is info level and listed in no route: it goes by the info route (#general), alert #8.
    assert "[info] TR-ORCH-001: stream-b-frontend resumed" in posts(world, "#general")
    assert monitor(world)["agent-b1"] == ("ACTIVE", "T9")


# --- Thursday 8 January --------------------------------------------------------------------------------


def test_thursday_10am_a_task_over_four_hours_late_escalates_to_the_lead(world):
    world.play_until(paris(8, 10))
    # T21 is 5h late at W25 (W24 was exactly 4h: not > 4 hours) -> the trigger fires once: a warning
    # (severity medium) by the warning route (#dev), and a direct message to the lead.
    risk = "[warning] TR-ORCH-001: Task delay is 5 hours, above 4 hours\nThe leads are told by direct message."
    assert risk in posts(world, "#dev")
    # The lead's DMs: the 09:00 tick re-sent the unacknowledged agent-down (raised at 17:00 yesterday),
    # then the escalation at 10:00. The lead acknowledged agent-down (alert #14) at 09:30, so no more of it.
    assert posts(world, LEAD_DM) == [
        "[critical] TR-ORCH-001: Still unacknowledged: agent-c2 is down\nNo heartbeat since 14:00 UTC.",
        risk,
    ]
    assert {c.body["users"] for c in world.slack.calls_to("conversations.open")} == {"U0LEAD0001"}
    # Alerts so far: #1 task-blocked, #2 cp-1 passed, #3 day-1, #4 T17 done, #5 stream-paused, #6 T17 done
    # again, #7 day-2, #8 stream-resumed, #9 T1 done, #10 T21 delayed, #11 T5 delayed, #12 cp-2 passed,
    # #13 T9, #14 T13, #15 T20 done (each its own: different tasks are never grouped), #16 agent-down.
    assert world.reply(paris(8, 9, 30), "ack agent-down").body.text == "Alert #16 (agent-down) acknowledged by lead."
    # A proposal is not a move: nothing to undo.
    assert (
        str(world.reply(paris(8, 9, 40), "moves undo M1"))
        == "M1 is a proposal nobody applied: there is nothing to undo"
    )
    assert streams(dashboard(world))[C].lateness_s == 5 * H


THU8_NOON = paris(8, 12)


def test_thursday_noon_the_backup_takes_the_late_agents_next_task(world):
    world.play_until(THU8_NOON)
    # Stream C is 7h late (T21, c2 DOWN). c1 has been idle since W24: 24h busy of 27h = 88.9% <= 90%
    # (at W25, W26 it was 96% and 92.3%: too busy to receive). c1's open work 40h (T18, T19) + 20h for T22
    # < c2's 80h -> c2's next queued task T22 goes to c1, the DevOps backup.
    why = "stream-c-testing is 7h 0m late (stream-delay > 2 hours); agent-c1 is the backup for DevOps"
    assert moves_table(world)["M2"] == [
        "2026-01-08 11:00",
        "allocate-backup-agent",
        "T22",
        "agent-c2 → agent-c1",
        "applied",
        why,
    ]
    assert owners(world)["T22"] == "agent-c1"
    assert monitor(world)["agent-c1"] == ("IDLE", "T22")  # its only ready task now
    text, buttons = announcements(world)["M2"]
    # Slack's text escapes its control characters: ">" is sent as "&gt;".
    assert text == (
        f"[info] TR-ORCH-001: M2 · allocate-backup-agent: T22 'Deployment automation' moved from "
        f"agent-c2 to agent-c1: {why.replace('>', '&gt;')} (undo: `moves undo M2`)"
    )
    assert buttons == [("move_undo", "TR-ORCH-001|M2")]
    assert [row[4] for row in balancer_audit(world)] == [
        "load-balancing reallocate-resources (M1)",
        "load-balancing allocate-backup-agent (M2)",
    ]
    # T22 goes into c1's queue just before its first waiting task, T18 (todo, after unit-tests-start): T17,
    # T22, T18, T19, T20; not before now (W27). c1's planned windows: T17 0–20, T22 27–47, T18 47–67, T19 67–87,
    # T20 87–107. The critical path is recomputed with the waits: T22 27–47, then T18 waits for
    # service-complete (T8's end, W80): T18 80–100, T19 100–120, T20 120–140. The path still ends at W140
    # through T5–T8 and c1's tests; T22 ends at 47, well before T18's wait, so it is not on it: 17.5 days.
    assert critical_path(world) == (
        "critical path: T5 → T6 → T7 → T8 → T18 → T19 → T20, ending after "
        "17.5 working days: 7.5 past duration-days (10); the waits (`after:`) do not fit the plan"
    )


def test_thursday_a_low_test_coverage_blocks_deployment(world):
    world.play_until(THU8_NOON)
    reply = world.reply(paris(8, 11, 30), "metric test-coverage 78%").body
    assert reply.details == [
        "risk trigger fired: test-coverage < 80% (now 78%) → block-deployment",
        "DEPLOYMENT BLOCKED: test-coverage < 80%",
    ]
    assert dashboard(world).deployment_blocked == "test-coverage < 80% (now 78%)"


def test_thursday_2pm_a_new_devops_task_goes_to_the_backup(world):
    world.play_until(paris(8, 14))
    # c2, the DevOps primary, is DOWN; c1 (24h busy of 29h: 82.8%) is available.
    assert world.reply(
        paris(8, 14), "task add 'Rotate registry credentials' --type DevOps --estimate 4h"
    ).body.text == (
        "Added T25 'Rotate registry credentials' to stream-c-testing, assigned to agent-c1 (backup for DevOps: "
        "agent-c2 is DOWN); estimate 4h."
    )
    assert task_row(world, "T25") == [
        "T25",
        "Rotate registry credentials",
        "in-progress",
        "agent-c1",
        C,
        "4h",
        "DevOps",
    ]
    assert monitor(world)["agent-c2"] == ("DOWN", "T21")
    # c2's health over the last working day (Wed 14:00 -> Thu 14:00): heartbeats are expected in working
    # time, Wed 14:00-17:00 and Thu 09:00-14:00 = 8h, so 8 expected; 2 sent (Wed 14:00, 15:00); asked by
    # this morning's standup, no answer -> 2 / 9.
    assert health(world)["agent-c2"] == pytest.approx(100 * 2 / 9, abs=0.05)


# --- Friday 9 January ----------------------------------------------------------------------------------


def test_friday_morning_a_non_lead_cannot_undo_a_move(world):
    world.play_until(paris(9, 9, 20))
    refused = world.reply(paris(9, 9, 20), "moves undo M2")
    assert isinstance(refused, PermissionDenied)
    assert str(refused) == "only a lead of TR-ORCH-001 may undo a load-balancing move; leads: U0LEAD0001"
    # Nothing changed.
    assert moves_table(world)["M2"][4] == "applied"
    assert owners(world)["T22"] == "agent-c1"
    # c2 is back (heartbeat at 09:00), finished T21 and started T23.
    assert monitor(world)["agent-c2"] == ("ACTIVE", "T23")
    assert "[info] TR-ORCH-001: agent-c2 is back up" in posts(world, "#general")
    refusals = [
        row
        for row in world.run(f"audit --plan {PLAN_KEY} --limit 1000").body.rows
        if row[4] == "moves undo M2" and row[2] == "stranger"
    ]
    assert [row[5] for row in refusals] == [
        "refused: only a lead of TR-ORCH-001 may undo a load-balancing move; leads: U0LEAD0001"
    ]


def test_friday_morning_the_lead_undoes_the_move(world):
    world.play_until(paris(9, 9, 30))
    reply = world.reply(paris(9, 9, 30), "moves undo M2").body
    assert reply.text == (
        "Undid M2 (allocate-backup-agent): T22 is back with agent-c2, at its place and planned window."
    )
    assert owners(world)["T22"] == "agent-c2"
    assert moves_table(world)["M2"][4] == "undone by lead"
    # T22 is back at its place (second in c2's queue) with its old earliest start (0): c2 T21 0–20, T22 20–40,
    # T23 40–60, T24 60–80, as loaded. c1: T17 0–20, T18 20–40, T19 40–60, T20 60–80, T25 (not before W29) 80–84.
    # The path: T18 waits for W80, T19 100–120, T20 120–140, T25 140–144 = 144h = 18 working days.
    assert critical_path(world) == (
        "critical path: T5 → T6 → T7 → T8 → T18 → T19 → T20 → T25, ending after "
        "18 working days: 8 past duration-days (10); the waits (`after:`) do not fit the plan"
    )
    # At 09:45 c2 (28h 45m busy of 32h 45m: 87.8%) is the DevOps primary again and gets the new task.
    world.play_until(paris(9, 9, 45))
    assert world.reply(paris(9, 9, 45), "task add 'Canary deployment' --type DevOps --estimate 1d").body.text == (
        "Added T26 'Canary deployment' to stream-c-testing, assigned to agent-c2 (primary for DevOps); estimate 1d."
    )


FRI9_EVENING = paris(9, 17)
# Done by W40: A T1, T2 (40h) + T5 (21h20m); B T9, T13 (40h); C T17, T20, T21 (60h) + T25 (4h).
FRI9_DONE = 40 + A2 + 40 + 64  # 165h20m


def test_friday_evening_cp3_is_missed(world):
    world.play_until(FRI9_EVENING)
    text = (
        "Gate cp-3 (Integration Readiness) missed\nDue and not passed: the tasks planned after it wait until it passes."
    )
    assert f"[critical] TR-ORCH-001: {text}" in posts(world, "#urgent")
    assert [s["text"] for s in world.sms.received if "missed" in s["text"]] == [f"[critical] TR-ORCH-001: {text}"]
    assert len([m for m in world.mailbox.messages if "checkpoint-missed" in m["data"]]) == 1
    # day-5-complete fired integration-testing: T19 is ready.
    assert task_row(world, "T19")[2] == "ready"


def test_friday_evening_dashboard(world):
    world.play_until(FRI9_EVENING)
    board = dashboard(world)
    by_key = streams(board)
    assert by_key[A].progress == pytest.approx((40 + A2) / 160)  # 38.3%
    assert by_key[B].progress == pytest.approx(40 / 160)  # 25%
    assert by_key[C].progress == pytest.approx(64 / 172)  # 37.2% (T25 and T26 added: 172h)
    assert board.progress == pytest.approx(FRI9_DONE / 492)  # 33.6%
    # Planned at W40 (B clock 36), the tasks due by then:
    #   A: a1 T1 T2 (due W40) = 40h; a2 T5 (due W21h20m) 21h20m, T6 due W42h40m not yet -> (40 + A2)/160
    #   B: T9, T13 (due B20); T10, T14 due B40 not yet                          -> 40/160
    #   C: c1 T17 T18 (due W40) = 40h (T19 from 40, T25 80–84); c2 T21 + T22 (20–40: the undo gave it back its
    #      old window) = 40h, T23 from 40, T26 80–88                              -> 80/172
    assert by_key[A].planned_progress == pytest.approx((40 + A2) / 160)
    assert by_key[B].planned_progress == pytest.approx(40 / 160)
    assert by_key[C].planned_progress == pytest.approx(80 / 172)
    assert board.planned_progress == pytest.approx((160 + A2) / 492)
    # A: 38.3% vs 38.3%, nothing late (T6 due W42h40m) -> On Track. B: 25% vs 25% -> On Track (b1, b2 on
    # schedule in the middle of T10, T14: neither side counts them yet). C: 37.2% vs 46.5%: 9.3 points behind,
    # nothing late (T18 and T22 due W40: 0) -> At Risk.
    assert [s.status for s in board.streams] == ["On Track", "On Track", "At Risk"]
    assert by_key[A].lateness_s == 40 * H - 2 * A2_TASK  # T6 due W42h40: −2h40m
    assert by_key[B].lateness_s == (36 - 40) * H
    assert by_key[C].lateness_s == 0
    # In progress T6 T10 T14 T23; done T1 T2 T5 T9 T13 T17 T20 T21 T25; ready a1 T3 T4, a2 T7 T8, b1 T11 T12,
    # b2 T16, c1 T19, c2 T22 T24 T26 = 11; todo T15, T18.
    assert counts(board) == (4, 9, 0, 0, 11, 2, 26)
    assert board.elapsed_s == 4 * 24 * H + 8 * H
    # ETA: 492h − 165h20m = 326h40m left at 165h20m per 40h -> 326.67 × 40 / 165.33 = 79.0323h
    # = 9 working days (to Thu 22 17:00) + 7h 1m 56.13s -> Fri 23 16:01:56.
    assert board.eta_at.timestamp() == same_instant(paris(23, 16, 1, 56.129))
    assert board.next_checkpoint.key == "cp-3"
    assert board.deployment_blocked is None  # test-coverage 92% at 15:00


def test_friday_evening_metrics_and_trends(world):
    world.play_until(FRI9_EVENING)
    # Busy at W40: a1 40, a2 40, b1 36, b2 36 (the B clock), c1 24 + 3 (T25) = 27, c2 5 + 31 (W9–40) = 36
    # -> 215h of 240h.  Utilization: 1, 1, 1, 1, 27/40, 36/40.
    # Task time: T1 20 T2 20 T5 26 T6 14 | T9 20 T10 16 T13 20 T14 16 | T17 14 T20 12 T25 3 T21 28 T23 8 = 217h;
    # blocked 4h.  Rework: 1 / 10 times marked done (T17 ×2, T1, T9, T13, T20, T5, T25, T21, T2).
    # Thursday 17:00 (W32) was: busy 32 32 28 28 27 28 = 175/192 = 91.1%; utilization (4 + 27/32 + 28/32)/6
    # = 95.3%; blocking 4/181 = 2.2%; rework 1/8 = 12.5%.
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 215 / 240, True, "down"),  # 89.6%
            "agent-utilization": (100 * (4 + 27 / 40 + 36 / 40) / 6, True, "down"),  # 92.9%
            "blocking-time": (100 * 4 / 221, True, "down"),  # 1.8%
            "rework-rate": (100 * 1 / 10, False, "down"),  # 10%: not < 10%
            "communication-overhead": (100 * 75 / 2400, True, "flat"),
            "code-coverage": (92, True, "flat"),  # Thursday's 92%, the latest before this morning too
            "test-coverage": (92, None, "up"),  # no target; 78% yesterday
        },
    )


# --- the weekend, and Monday 12 January ------------------------------------------------------------------


def test_the_weekend_moves_only_the_wall_clock(world):
    world.play_until(paris(10, 12))  # Saturday noon
    board = dashboard(world)
    assert board.elapsed_s == 5 * 24 * H + 3 * H
    assert board.progress == pytest.approx(FRI9_DONE / 492)
    assert streams(board)[C].lateness_s == 0
    assert board.eta_at.timestamp() == same_instant(paris(23, 16, 1, 56.129))


def test_monday_9am_tasks_planned_after_cp3_are_held(world):
    world.play_until(paris(12, 9))
    held = (
        "is held by checkpoint cp-3 (Integration Readiness): it is due and not passed, and the task is planned "
        "after it. `validate --checkpoint cp-3` first"
    )
    # T19 (c1, due W60) and T3 (a1, due W60) end after cp-3's due time W40.
    assert str(world.reply(paris(12, 9), "task start T19")) == f"task T19 {held}"
    assert str(world.reply(paris(12, 9), "task start T3")) == f"task T3 {held}"
    assert monitor(world)["agent-a1"] == ("IDLE", "T3")
    assert monitor(world)["agent-c1"] == ("IDLE", "T19")
    # The weekend is no delay: T18 and T22 (due W40 = Fri 17:00) are 0h late on Monday 09:00.
    assert streams(dashboard(world))[C].lateness_s == 0
    # checkpoint-missed (Fri 17:00), still unacknowledged, is re-sent to the lead by the first tick.
    assert posts(world, LEAD_DM)[-1] == (
        "[critical] TR-ORCH-001: Still unacknowledged: Gate cp-3 (Integration Readiness) missed\n"
        "Due and not passed: the tasks planned after it wait until it passes."
    )


def test_monday_10am_cp3_checklist_and_an_overloaded_agent_hands_over_its_last_task(world):
    world.play_until(paris(12, 10))
    ticked = world.reply(paris(12, 10), "validate --checkpoint cp-3 --criterion 2").body
    assert (ticked.passed, ticked.note, ticked.due) == (False, "Ticked 2; 1 to go.", "Fri 09 Jan 17:00 CET")
    assert ticked.criteria == [
        (1, "All unit tests passing", True, "slack:U0LEAD0001"),
        (2, "API endpoints functional", True, "slack:U0LEAD0001"),
        (3, "Frontend components ready", False, None),
    ]
    assert str(world.reply(paris(12, 10), "validate --checkpoint cp-3")) == (
        "cp-3 cannot pass: 1 of 3 criteria not met (3. Frontend components ready). Tick them with --criterion N, "
        "or pass anyway with --force --reason TEXT"
    )
    # c2: 28h busy by W32 (5 + 23), busy since: 37h of 41h = 90.2% > 90% (at W40 it was 36/40 = 90.0%).
    # Its last queued task is T26 (8h); c1 (27h of 41h: 65.9%) has 40h open (T18, T19): 40 + 8 < c2's 68h.
    # The announcement gives the utilization to its decimal: 90.2%.
    why = "agent-c2 is at 90.2% utilization (agent-utilization > 90%); agent-c1 has the least open work (40h open)"
    assert moves_table(world)["M3"] == [
        "2026-01-12 09:00",
        "redistribute-tasks",
        "T26",
        "agent-c2 → agent-c1",
        "applied",
        why,
    ]
    assert owners(world)["T26"] == "agent-c1"
    text, buttons = announcements(world)["M3"]
    assert text == (
        f"[info] TR-ORCH-001: M3 · redistribute-tasks: T26 'Canary deployment' moved from agent-c2 to "
        f"agent-c1: {why.replace('>', '&gt;')} (undo: `moves undo M3`)"
    )
    assert buttons == [("move_undo", "TR-ORCH-001|M3")]
    # T26 goes into c1's queue just before its first waiting task: T18 (todo, after unit-tests-start); T19 is
    # ready since day-5-complete, so it no longer waits. c1's queue: T17, T26, T18, T19, T20, T25, and its
    # planned windows: T17 0–20, T26 (not before W41) 41–49, T18 49–69, T19 69–89, T20 89–109, T25 109–113.
    # c2's: T21 0–20, T22 20–40, T23 40–60, T24 60–80.
    # The path with the waits: T26 41–49, T18 waits for W80 (80–100), T19 100–120, T20 120–140, T25 140–144:
    # T26 ends before T18's wait, so the path and its end (144h = 18 working days) do not change.
    assert critical_path(world) == (
        "critical path: T5 → T6 → T7 → T8 → T18 → T19 → T20 → T25, ending after "
        "18 working days: 8 past duration-days (10); the waits (`after:`) do not fit the plan"
    )


def test_monday_11am_cp3_passes_and_the_held_tasks_start(world):
    world.play_until(paris(12, 11, 5))
    passed = world.reply(paris(12, 11), "validate --checkpoint cp-3 --criterion 3").body
    assert (passed.passed, passed.forced, passed.note) == (True, False, "All criteria met: passed.")
    assert [c[2] for c in passed.criteria] == [True, True, True]
    assert str(world.reply(paris(12, 11, 5), "validate --checkpoint cp-3")) == (
        "cp-3 was already passed by slack:U0LEAD0001 on Mon 12 Jan 10:00 UTC"
    )
    assert world.reply(paris(12, 11), "task start T19").body.text == "T19 'Integration testing' is now in-progress."
    assert world.reply(paris(12, 11), "task start T3").body.text == "T3 'SQLAlchemy models' is now in-progress."
    world.play_until(paris(12, 12))
    assert "[info] TR-ORCH-001: Gate cp-3 (Integration Readiness) passed\nEvery criterion met." in posts(
        world, "#general"
    )
    assert dashboard(world).next_checkpoint.key == "cp-4"


def test_monday_noon_the_waiting_critical_task_is_not_at_risk_once_t26_goes_ahead_of_it(world):
    world.play_until(paris(12, 12))
    # T18 (critical; waits for service-complete) was due W40, 1h late at the 10:00 tick; M3 then put T26
    # ahead of it in c1's queue: T18 is planned 49–69 now, not late at W43. T6 (critical, due W42h40) is
    # 20m late: under the 2h threshold. No critical task is at risk: nothing is proposed.
    table = moves_table(world)
    assert list(table) == ["M3", "M2", "M1"]
    assert [row[4] for row in balancer_audit(world)] == [
        "load-balancing reallocate-resources (M1)",
        "load-balancing allocate-backup-agent (M2)",
        "load-balancing redistribute-tasks (M3)",
    ]
    # Stream C's delay is now T22's (c2's, back at 20–40 since the undo): 3h at W43 (T18 −26h, T26 −6h).
    assert streams(dashboard(world))[C].lateness_s == 3 * H


def test_monday_2pm_the_task_others_wait_for_goes_first(world):
    world.play_until(paris(12, 14))
    # B's clock reads 41 > 40, T15's planned start (b2: T13, T14 before it), and T15 still waits for
    # frontend-integration-start, which T8's api-endpoints-ready fires; T8 is queued behind T7 -> priority 2.
    # No proposal was made since M3, so this is M4.
    why = "T15 waits for `frontend-integration-start`, which T8 brings closer when done (`api-endpoints-ready`)"
    assert moves_table(world)["M4"] == [
        "2026-01-12 13:00",
        "prioritize-unblocking",
        "T8",
        "priority 0 → 2",
        "applied",
        why,
    ]
    text, buttons = announcements(world)["M4"]
    assert text == (
        f"[info] TR-ORCH-001: M4 · prioritize-unblocking: T8 'API endpoints' goes first: {why} (undo: `moves undo M4`)"
    )
    assert buttons == [("move_undo", "TR-ORCH-001|M4")]
    assert owners(world)["T8"] == "agent-a2"  # a priority, not a change of hands
    # T22 (due W40) is now 5h late, the worst open task (T18 is planned 49–69 since M3; T6 2h20m):
    # task-delay > 4 hours turns true again (it re-armed on Friday at 09:00 when T21 was done) -> a second
    # direct message to the lead.
    assert posts(world, LEAD_DM)[-1] == (
        "[warning] TR-ORCH-001: Task delay is 5 hours, above 4 hours\nThe leads are told by direct message."
    )
    assert len([p for p in posts(world, LEAD_DM) if "Task delay" in p]) == 2


def test_monday_3pm_every_critical_task_at_risk_gets_a_proposal(world):
    world.play_until(paris(12, 15))
    # T6 (a2, critical, due W42h40) is still in progress: at the 14:00 tick (W45) it is 2h20m late > 2h, so
    # a reallocation is proposed for it, after that tick's M4: M5. Helper: stream B again (A and C have open
    # critical tasks); b1 40h open (T11, T12), b2 40h (T15, T16): b1, the first. At 15:00 (3h20m late) it is
    # not proposed again: once per task.
    why = (
        "critical path at risk: T6 'Working days calculator' is 2h 20m late, and the plan's end moves with it; "
        "agent-b1 has the least open work outside it (40h open)"
    )
    table = moves_table(world)
    assert list(table) == ["M5", "M4", "M3", "M2", "M1"]
    assert table["M5"] == [
        "2026-01-12 13:00",
        "reallocate-resources",
        "T6",
        "reallocate --from agent-b1 --to stream-a-backend",
        "proposed",
        why,
    ]
    text, buttons = announcements(world)["M5"]
    assert text == (
        f"[info] TR-ORCH-001: M5 · reallocate-resources: Proposed: `reallocate --from agent-b1 --to "
        f"stream-a-backend` ({why}). A lead applies it with `moves apply M5`"
    )
    assert buttons == [("move_apply", "TR-ORCH-001|M5")]
    assert [row[4] for row in balancer_audit(world)][3:] == [
        "load-balancing prioritize-unblocking (M4)",
        "load-balancing reallocate-resources (M5)",
    ]


def test_monday_afternoon_the_prioritized_task_is_the_agents_next(world):
    world.play_until(paris(12, 15, 50))
    # a2 finished T6 at 15:45: nothing in progress; its ready tasks by priority, then queue order: T8 (2), T7.
    assert monitor(world)["agent-a2"] == ("IDLE", "T8")


MON12_EVENING = paris(12, 17)
MON12_DONE = 40 + 2 * A2 + 80 + 64  # A: T1 T2 T5 T6; B: T9 T10 T13 T14; C: T17 T20 T21 T25


def test_second_monday_evening_dashboard(world):
    world.play_until(MON12_EVENING)
    board = dashboard(world)
    by_key = streams(board)
    assert by_key[A].progress == pytest.approx((40 + 2 * A2) / 160)  # 51.7%
    assert by_key[B].progress == pytest.approx(80 / 160)
    assert by_key[C].progress == pytest.approx(64 / 172)
    assert board.progress == pytest.approx(MON12_DONE / 492)  # 46.1%
    # Planned at W48 (B44), the tasks due by then: A a1 T1 T2 (T3 due W60) = 40; a2 T5 T6 (T7 due W64) = 2 × A2.
    # B: T9 T13 (B20), T10 T14 (B40) -> 80/160. C: c1 T17 20h (T26 41–49 due W49, T18 from 49) = 20; c2 T21 T22
    # 40h (T23 40–60) = 40 -> 60/172.
    assert by_key[A].planned_progress == pytest.approx((40 + 2 * A2) / 160)
    assert by_key[B].planned_progress == pytest.approx(80 / 160)
    assert by_key[C].planned_progress == pytest.approx(60 / 172)
    assert board.planned_progress == pytest.approx((180 + 2 * A2) / 492)
    # A: 51.7% vs 51.7%, nothing late (T3 due W60: −12h) -> On Track.
    # B: 50% vs 50% -> On Track. C: T22 (due W40) 8h late -> Delayed (though 37.2% done vs 34.9% planned).
    assert [s.lateness_s for s in board.streams] == [-12 * H, (44 - 60) * H, 8 * H]
    assert [s.status for s in board.streams] == ["On Track", "On Track", "Delayed"]
    # In progress T3 T8 T11 T16 T19 T23; 12 done; ready T4 T7 T12 T22 T24 T26; todo T15 T18.
    assert counts(board) == (6, 12, 0, 0, 6, 2, 26)
    assert board.elapsed_s == 7 * 24 * H + 8 * H
    # ETA: 492 − 226h40m = 265h20m left at 226h40m per 48h -> 265.33 × 48 / 226.67 = 56.188h
    # = 7 working days (to Wed 21 17:00) + 11m 17.65s -> Thu 22 09:11:17.65.
    assert board.eta_at.timestamp() == same_instant(paris(22, 9, 11, 17.647))
    gate = board.next_checkpoint
    assert (gate.key, gate.met, gate.criteria) == ("cp-4", 0, 3)
    assert gate.due_at.timestamp() == same_instant(paris(14, 17))  # working day 8


def test_second_monday_evening_metrics_and_trends(world):
    world.play_until(MON12_EVENING)
    # Busy at W48: a1 46 (held W40–42), a2 47.75 (idle 15:45–16:00), b1 44, b2 44 (B clock), c1 27 + 6 (T19)
    # = 33, c2 5 + 39 = 44 -> 258.75h of 288h.
    # Task time: A T1 20 T2 20 T3 6 T5 26 T6 20.75 T8 1 | B T9 20 T10 20 T11 4 T13 20 T14 20 T16 4 |
    # C T17 14 T20 12 T25 3 T19 6 T21 28 T23 16 = 260.75h; blocked 4h.  Rework 1 / 13.
    # Friday 17:00 was 89.6, 92.9, 1.8, 10.
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 258.75 / 288, True, "up"),  # 89.8%
            "agent-utilization": (100 * (46 / 48 + 47.75 / 48 + 1 + 1 + 33 / 48 + 44 / 48) / 6, True, "down"),  # 92.6%
            "blocking-time": (100 * 4 / 264.75, True, "down"),  # 1.5%
            "rework-rate": (100 * 1 / 13, True, "down"),  # 7.7%
            "communication-overhead": (100 * 90 / 2880, True, "flat"),
        },
    )


def test_second_monday_evening_agents(world):
    world.play_until(MON12_EVENING)
    assert monitor(world) == {
        "agent-a1": ("ACTIVE", "T3"),
        "agent-a2": ("ACTIVE", "T8"),
        "agent-b1": ("ACTIVE", "T11"),
        "agent-b2": ("ACTIVE", "T16"),
        "agent-c1": ("ACTIVE", "T19"),
        "agent-c2": ("ACTIVE", "T23"),
    }
    # c2 heartbeats again all day: 9 sent, 8 expected, asked once -> 8 / 9.
    assert health(world)["agent-c2"] == pytest.approx(100 * 8 / 9, abs=0.05)


# --- Wednesday 14 January: cp-4, and the API endpoints unblock the frontend ----------------------------


def test_wednesday_14_api_endpoints_unblock_api_integration(world):
    world.play_until(paris(14, 17))
    assert world.reply(paris(14, 16), "task done T8").body.details == [
        "api-endpoints-ready → frontend-integration-start (stream-a-b): 1 task(s) ready"
    ]
    assert (
        world.reply(paris(14, 16), "validate --checkpoint cp-4 --criterion 1,2,3").body.note
        == "All criteria met: passed."
    )
    assert task_row(world, "T15")[2] == "in-progress"
    assert dashboard(world).next_checkpoint is None  # every gate passed
    # One gate was missed in all: cp-3.
    assert len([p for p in posts(world, "#urgent") if " missed\n" in p]) == 1


# --- Thursday 15 January: the last two critical tasks fall behind ---------------------------------------


def test_thursday_15_each_late_critical_task_gets_its_own_proposal(world):
    world.play_until(paris(15, 17))
    # T7 (a2, critical, planned 42h40–64, started Wed 16:00) is 2h late at the 11:00 tick (W66: not > 2h) and
    # 3h late at noon (W67) -> M6. T18 (c1, critical, planned 49–69, still waiting for service-complete) is
    # 3h late at the 17:00 tick (W72) -> M7. Helper for both: stream B (A and C have open critical tasks);
    # b1 has 20h open (T12), b2 20h (T15): b1, the first.
    helper = "agent-b1 has the least open work outside it (20h open)"
    why_t7 = f"critical path at risk: T7 'CSV generator' is 3h 0m late, and the plan's end moves with it; {helper}"
    why_t18 = (
        f"critical path at risk: T18 'Unit test development' is 3h 0m late, and the plan's end moves with it; {helper}"
    )
    table = moves_table(world)
    assert list(table) == ["M7", "M6", "M5", "M4", "M3", "M2", "M1"]
    assert table["M6"] == [
        "2026-01-15 11:00",
        "reallocate-resources",
        "T7",
        "reallocate --from agent-b1 --to stream-a-backend",
        "proposed",
        why_t7,
    ]
    assert table["M7"] == [
        "2026-01-15 16:00",
        "reallocate-resources",
        "T18",
        "reallocate --from agent-b1 --to stream-c-testing",
        "proposed",
        why_t18,
    ]
    text, buttons = announcements(world)["M7"]
    assert text == (
        f"[info] TR-ORCH-001: M7 · reallocate-resources: Proposed: `reallocate --from agent-b1 --to "
        f"stream-c-testing` ({why_t18}). A lead applies it with `moves apply M7`"
    )
    assert buttons == [("move_apply", "TR-ORCH-001|M7")]


# --- Friday 16 January, 17:00 (W80): the end of the ten days ------------------------------------------------

END_DONE = 60 + 2 * A2 + 16 + 120 + 132  # A: T1 T2 T3, T5 T6, T8; B: six tasks; C: see below


def test_final_dashboard(world):
    world.play_until(END)
    board = dashboard(world)
    by_key = streams(board)
    # Done: A T1 T2 T3 (60h) + T5 T6 (42h40m) + T8 (16h); B T9 T10 T11 T13 T14 T16 (120h);
    # C T17 T19 T20 T21 T22 T23 (120h) + T25 (4h) + T26 (8h) = 132h.
    assert by_key[A].progress == pytest.approx((76 + 2 * A2) / 160)  # 74.2%
    assert by_key[B].progress == pytest.approx(120 / 160)  # 75%
    assert by_key[C].progress == pytest.approx(132 / 172)  # 76.7%
    assert board.progress == pytest.approx(END_DONE / 492)  # 75.3%
    # Planned at W80 (B76), the tasks due by then: A all 160h; B b1 T9–T11 (T12 due B80) 60 + b2 T13–T15 (T15
    # 40–60; T16 60–80) 60 -> 120/160; C c1 T17 20h, T26 (41–49) 8h, T18 (49–69) 20h (T19 69–89, T20 and T25
    # from 89) = 48h; c2 T21–T24 back to back 0–80 = 80h -> 128/172.
    assert [s.planned_progress for s in board.streams] == [
        pytest.approx(1.0),
        pytest.approx(120 / 160),
        pytest.approx(128 / 172),
    ]
    assert board.planned_progress == pytest.approx(408 / 492)
    # A: T7 (due W64) 16h late; B: T15 (due B60) 16h late; C: T18 (due W69 since M3) 11h late: all Delayed.
    assert [s.lateness_s for s in board.streams] == [16 * H, 16 * H, 11 * H]
    assert [s.status for s in board.streams] == ["Delayed", "Delayed", "Delayed"]
    # In progress T4 T7 T12 T15 T24; 20 done; nothing ready; T18 still waits for service-complete.
    assert counts(board) == (5, 20, 0, 0, 0, 1, 26)
    assert board.elapsed_s == 11 * 24 * H + 8 * H
    # ETA: 492 − 370h40m = 121h20m left at 370h40m per 80h -> 26.187h = 3 working days + 2h 11m 13.4s
    # -> Thu 22 11:11:13.
    assert board.eta_at.timestamp() == same_instant(paris(22, 11, 11, 13.381))
    assert board.eta_s == pytest.approx(5 * 24 * H + 18 * H + 11 * 60 + 13.381, abs=1)


def test_final_metrics_with_targets_and_trends(world):
    world.play_until(END)
    # Busy at W80: a1 78, a2 79.75, b1 76, b2 76, c1 24 + 3 + 20 (T19) + 8 (T26) = 55, c2 5 + 71 = 76
    # -> 440.75h of 480h. Task time 442.75h (c1's 2h of T17 alongside T20 count twice), blocked 4h.
    # Rework: 1 / 21 times marked done (20 tasks done, T17 twice).
    # Thursday 15 17:00 (W72) was: busy 70 71.75 68 68 55 68 = 400.75/432 = 92.8%; utilization
    # (70/72 + 71.75/72 + 1 + 1 + 55/72 + 68/72)/6 = 94.6%; blocking 4/406.75 = 1.0%; rework 1/21.
    check_metrics(
        dashboard(world),
        {
            "parallel-efficiency": (100 * 440.75 / 480, True, "down"),  # 91.8%
            "agent-utilization": (100 * (78 / 80 + 79.75 / 80 + 1 + 1 + 55 / 80 + 76 / 80) / 6, True, "down"),  # 93.5%
            "blocking-time": (100 * 4 / 446.75, True, "down"),  # 0.9%
            "rework-rate": (100 * 1 / 21, True, "flat"),  # 4.8%
            "communication-overhead": (100 * 150 / 4800, True, "flat"),  # ten standups
            "code-coverage": (94, True, "up"),  # 92% was the latest before this morning
            "bug-detection-rate": (2, True, None),  # 2/day < 5/day, first reading
            "documentation": (100, True, "up"),  # at least 100%; 60% yesterday
            "test-coverage": (92, None, "flat"),
        },
    )
    turnaround = figures(dashboard(world))["review-turnaround"]
    assert (turnaround.display, turnaround.target, turnaround.ok) == ("3 hours", "< 2 hours", False)


def test_final_agents(world):
    world.play_until(END)
    assert monitor(world) == {
        "agent-a1": ("ACTIVE", "T4"),
        "agent-a2": ("ACTIVE", "T7"),
        "agent-b1": ("ACTIVE", "T12"),
        "agent-b2": ("ACTIVE", "T15"),
        "agent-c1": ("IDLE", None),  # only T18 left, waiting for service-complete
        "agent-c2": ("ACTIVE", "T24"),
    }


def test_final_moves_announcements_and_audit(world):
    world.play_until(END)
    table = moves_table(world)
    # One proposal per critical task that fell at risk (T5, T6, T7, T18); nothing after Thursday 17:00 (T7 and
    # T18 have theirs; the other critical tasks are done).
    assert {key: (row[1], row[2], row[3], row[4]) for key, row in table.items()} == {
        "M1": ("reallocate-resources", "T5", "reallocate --from agent-b1 --to stream-a-backend", "proposed"),
        "M2": ("allocate-backup-agent", "T22", "agent-c2 → agent-c1", "undone by lead"),
        "M3": ("redistribute-tasks", "T26", "agent-c2 → agent-c1", "applied"),
        "M4": ("prioritize-unblocking", "T8", "priority 0 → 2", "applied"),
        "M5": ("reallocate-resources", "T6", "reallocate --from agent-b1 --to stream-a-backend", "proposed"),
        "M6": ("reallocate-resources", "T7", "reallocate --from agent-b1 --to stream-a-backend", "proposed"),
        "M7": ("reallocate-resources", "T18", "reallocate --from agent-b1 --to stream-c-testing", "proposed"),
    }
    # Every move was posted once in the plan channel, with its Undo (or, for a proposal, Apply) button.
    posted = announcements(world)
    assert {key: buttons for key, (_, buttons) in posted.items()} == {
        "M1": [("move_apply", "TR-ORCH-001|M1")],
        "M2": [("move_undo", "TR-ORCH-001|M2")],
        "M3": [("move_undo", "TR-ORCH-001|M3")],
        "M4": [("move_undo", "TR-ORCH-001|M4")],
        "M5": [("move_apply", "TR-ORCH-001|M5")],
        "M6": [("move_apply", "TR-ORCH-001|M6")],
        "M7": [("move_apply", "TR-ORCH-001|M7")],
    }
    assert [row[4] for row in balancer_audit(world)] == [
        "load-balancing reallocate-resources (M1)",
        "load-balancing allocate-backup-agent (M2)",
        "load-balancing redistribute-tasks (M3)",
        "load-balancing prioritize-unblocking (M4)",
        "load-balancing reallocate-resources (M5)",
        "load-balancing reallocate-resources (M6)",
        "load-balancing reallocate-resources (M7)",
    ]
    # The story's owners at the end: T22 back with c2, T26 with c1, everything else where the file put it.
    got = owners(world)
    assert (got["T22"], got["T24"], got["T25"], got["T26"]) == ("agent-c2", "agent-c2", "agent-c1", "agent-c1")
    assert world.slack.errors == []  # every message was valid Block Kit


def test_every_task_that_fell_late_is_named_in_the_warning_channel(world):
    """Tasks falling late at the same tick share one alert, which names each of them."""
    world.play_until(paris(16, 17))
    named = set()
    for post in posts(world, "#dev"):
        if match := re.search(r"^\[warning\] TR-ORCH-001: Tasks late: (.+)$", post, re.MULTILINE):
            named |= set(match.group(1).split(", "))
        elif match := re.search(r"^\[warning\] TR-ORCH-001: (T\d+) late: ", post):
            named.add(match.group(1))
    with Session(world.engine) as session:
        late = set(session.exec(select(Task.key).where(Task.delayed_at.is_not(None))).all())
    assert len(late) >= 8 and named == late


# --- the report over the ten days (issue 20): every figure worked out by hand from the story above ---------


def report_sections(world, line: str) -> dict:
    """`report … --format csv` parsed back: {section title: (columns, rows)}, and the burn-up as section "Burn-up"."""
    document = world.run(f"{line} --format csv").body
    assert document.media_type == "text/csv" and document.filename.endswith(".csv")
    blocks, block = [], []
    for row in csv.reader(io.StringIO(document.content)):
        if row:
            block.append(row)
        else:
            blocks.append(block)
            block = []
    blocks.append(block)
    title, *sections = blocks[0][0], blocks[0][1:], *blocks[1:]
    assert title[0].startswith(f"Report of {PLAN_KEY}")
    return {s[0][0]: (s[1], [dict(zip(s[1], row, strict=True)) for row in s[2:]]) for s in sections}


def by_first(rows: list[dict], column: str) -> dict:
    return {row[column]: row for row in rows}


def test_report_of_the_whole_plan(world):
    world.play_until(END)
    got = report_sections(world, "report")
    # Done (distinct tasks): T17 T1 T9 T13 T20 T5 T25 T21 T2 T10 T14 T6 T23 T3 T19 T8 T11 T16 T26 T22 = 20;
    # reopened: T17 (Tue 15:00); blocked: T21, Mon 14:00 → Tue 10:00 = 3 + 1 = 4 working hours.
    events = got["Tasks"][1]
    assert sum(1 for e in events if e["What"] == "done") == 21  # T17 twice
    assert [(e["Task"], e["When"], e["Reason"]) for e in events if e["What"] == "reopened"] == [
        ("T17", "2026-01-06 15:00", "flaky fixtures in the test environment")
    ]
    assert [(e["Task"], e["When"], e["Blocked for (working h)"]) for e in events if e["What"] == "blocked"] == [
        ("T21", "2026-01-05 14:00", "4.00")
    ]
    head = world.run("report").body.headline[0]
    assert head == "20 tasks done (370.7 h of estimate), 1 reopened, 1 blocked (4.0 working hours blocked)"
    # Per stream: A did T1 T2 T3 (20h each, a1) and T5 T6 (21h20m) T8 (16h): 6 tasks, 118.67h. B did T9 T10 T11
    # and T13 T14 T16: 120h, none late on the B clock. C did T17 T20 T19 T26 (c1) T21 T23 T22 (c2) T25: 132h.
    streams = by_first(got["Streams"][1], "Stream")
    assert {k: (v["Done"], v["Estimate done (h)"]) for k, v in streams.items()} == {
        A: ("6", "118.67"),
        B: ("6", "120.00"),
        C: ("8", "132.00"),
    }
    assert streams[B]["Late"] == "0" and streams[A]["Done a working day"] == "0.60"  # 6 tasks in 10 days
    # a2: T5 planned W0–21h20m, done W26 → 4h40m = 4.67h late; T6 planned to W42h40m, done Mon 12 15:45 = W46.75
    # → 4.08h late; T8 (prioritized) on time: 2 late, mean 4.375, worst 4.67.
    agents = by_first(got["Agents"][1], "Agent")
    assert (agents["agent-a2"]["Late"], agents["agent-a2"]["Mean lateness (h)"]) == ("2", "4.38")
    assert agents["agent-a2"]["Worst (h)"] == "4.67"
    # Gates: cp-1 passed Mon 16:30, cp-2 forced Wed 16:30 with its reason, cp-3 missed at Fri 17:00 and passed
    # Mon 12 11:00 (missed for 2 working hours: Mon 09:00–11:00), cp-4 passed Wed 14 16:00.
    gates = by_first(got["Gates"][1], "Gate")
    assert {k: (g["Outcome"], g["Passed"], g["Missed for (h)"]) for k, g in gates.items()} == {
        "cp-1": ("passed", "2026-01-05 16:30", ""),
        "cp-2": ("forced", "2026-01-07 16:30", ""),
        "cp-3": ("passed", "2026-01-12 11:00", "2.00"),
        "cp-4": ("passed", "2026-01-14 16:00", ""),
    }
    assert gates["cp-2"]["Forced because"] == "mocks come on day 4; the spec is frozen"
    assert gates["cp-2"]["By"] == gates["cp-1"]["By"] == "slack:U0LEAD0001"
    # Syncs: ten standups, nobody answers; stream B was paused on Wed 7's, so b1 and b2 were asked nine times.
    syncs = by_first(got["Syncs"][1], "Agent")
    assert {s["Away"] for s in syncs.values()} == {"0"}  # nobody took time off
    assert {k: (s["Asked"], s["Answered"], s["Late"], s["Missed"]) for k, s in syncs.items()} == {
        "agent-a1": ("10", "0", "0", "10"),
        "agent-a2": ("10", "0", "0", "10"),
        "agent-b1": ("9", "0", "0", "9"),
        "agent-b2": ("9", "0", "0", "9"),
        "agent-c1": ("10", "0", "0", "10"),
        "agent-c2": ("10", "0", "0", "10"),
    }
    # Metrics: code-coverage read 85%, 88%, 92%, 94% against > 90%; review-turnaround 3 hours against < 2 hours.
    metrics = by_first(got["Metrics"][1], "Metric")
    cov = metrics["code-coverage"]
    assert (cov["Readings"], cov["First"], cov["Last"], cov["Low"], cov["High"], cov["Target"], cov["Met"]) == (
        "4", "85%", "94%", "85%", "94%", "> 90%", "yes"
    )  # fmt: skip
    assert (metrics["review-turnaround"]["Last"], metrics["review-turnaround"]["Met"]) == ("3 hours", "no")
    # Moves: M1…M7, M2 undone by the lead, M3 and M4 applied by the rules, M1 M5 M6 M7 proposals nobody applied.
    moves = by_first(got["Moves"][1], "Move")
    assert {k: m["Outcome"] for k, m in moves.items()} == {
        "M1": "proposed",
        "M2": "undone",
        "M3": "applied",
        "M4": "applied",
        "M5": "proposed",
        "M6": "proposed",
        "M7": "proposed",
    }
    # Critical alerts: agent-down raised Wed 17:00, acknowledged Thu 09:30 (990 min); checkpoint-missed raised
    # Fri 17:00, acknowledged Mon 09:30 (64h30m = 3,870 min): mean 2,430 min.
    alerts = by_first(got["Alerts"][1], "Level")
    critical = alerts["critical"]
    assert (critical["Raised"], critical["Acknowledged"], critical["Open"]) == ("2", "2", "0")
    assert (critical["Mean to acknowledge (min)"], critical["Longest (min)"]) == ("2430.0", "3870.0")
    # Burn-up: Tue 6 T17 (20h, done, reopened, done again: once); Wed 7 + T1 T9 T13 T20 = 100h; Thu 8 + T5 (21h20m)
    # + T25 (4h) = 125.33h. Planned by Wed 7's close (W24): T1 T9 T13 T17 T21 due W20 (100h) + T5 (W21h20m).
    burnup = by_first(got["Burn-up"][1], "Day")
    assert (burnup["2026-01-06"]["Done (h)"], burnup["2026-01-07"]["Done (h)"]) == ("20.00", "100.00")
    assert burnup["2026-01-08"]["Done (h)"] == "125.33"
    assert burnup["2026-01-07"]["Planned (h)"] == "121.33"
    assert burnup["2026-01-16"]["Done (h)"] == "370.67"


def test_report_of_one_stream(world):
    world.play_until(END)
    got = report_sections(world, f"report --stream {C}")
    done = [e["Task"] for e in got["Tasks"][1] if e["What"] == "done"]
    assert done == ["T17", "T17", "T20", "T25", "T21", "T23", "T19", "T26", "T22"]
    assert list(by_first(got["Streams"][1], "Stream")) == [C]
    assert {row["Agent"] for row in got["Syncs"][1]} == {"agent-c1", "agent-c2"}
    # Stream C's moves: M2 (T22 to c1, undone), M3 (T26 to c1), M7 (b1 proposed into C for T18); not M1, M5, M6
    # (b1 into stream A) nor M4 (T8 of stream A).
    assert list(by_first(got["Moves"][1], "Move")) == ["M2", "M3", "M7"]
    assert by_first(got["Burn-up"][1], "Day")["2026-01-16"]["Done (h)"] == "132.00"
    # Stream C's alerts are those about its tasks (T17…T26, `tasks` lists too), its agents, itself, or its moves:
    # critical agent-down of c2 (not cp-3's miss: gates are the plan's); warning T21 blocked, T21 delayed,
    # "T22, T18" delayed, T26 delayed; info T17 done twice, T20, T25, T21, T23, T19, T26, T22 done, c2 recovered,
    # M2, M3, M7. Not the days' summaries, the gates' alerts, the risk rules', M1 M4 M5 M6.
    alerts = by_first(got["Alerts"][1], "Level")
    assert {level: a["Raised"] for level, a in alerts.items()} == {"critical": "1", "warning": "4", "info": "13"}


def test_report_of_one_agent(world):
    world.play_until(END)
    got = report_sections(world, "report --agent agent-c2")
    # c2: T21 blocked Mon 14:00 for 4 working hours, done Fri 9 09:00; T23 done Tue 13 13:00; T22 (back from c1
    # by M2's undo) done Thu 15 17:00.
    assert [(e["Task"], e["What"], e["When"]) for e in got["Tasks"][1]] == [
        ("T21", "blocked", "2026-01-05 14:00"),
        ("T21", "done", "2026-01-09 09:00"),
        ("T23", "done", "2026-01-13 13:00"),
        ("T22", "done", "2026-01-15 17:00"),
    ]
    assert list(by_first(got["Syncs"][1], "Agent")) == ["agent-c2"]
    assert set(by_first(got["Moves"][1], "Move")) == {"M2", "M3"}  # T22 from c2 (undone), T26 from c2
    assert got["Agents"][1][0]["Estimate done (h)"] == "60.00"
    # c2's alerts: agent-down (Wed 17:00, acknowledged Thu 09:30: 990 min); T21 blocked, T21 delayed, "T22, T18"
    # delayed (T22 is c2's again); T21, T23, T22 done, c2 recovered, M2 and M3 (its moves): 10 in all, not the
    # plan's 59. T26's alerts after M3 are c1's now.
    alerts = by_first(got["Alerts"][1], "Level")
    assert {level: a["Raised"] for level, a in alerts.items()} == {"critical": "1", "warning": "3", "info": "6"}
    assert alerts["critical"]["Mean to acknowledge (min)"] == "990.0"
    headline = world.run("report --agent agent-c2").body.headline
    assert "Alerts: 10 raised, 1 critical (1 acknowledged, after 16.5 h on average)" in headline
    # The gates are the plan's, and the report says so.
    assert list(by_first(got["Gates"][1], "Gate")) == ["cp-1", "cp-2", "cp-3", "cp-4"]
    assert [line for line in headline if line.startswith("Gates")] == [
        "Gates (the plan's): 3 passed, 1 forced (1 after being missed, 2.0 working hours in all)"
    ]


def test_report_of_two_days(world):
    world.play_until(END)
    got = report_sections(world, "report --from 2026-01-07 --to 2026-01-08")
    # Wed 7: T1 (13:00), T9 T13 T20 (17:00); Thu 8: T5 (11:00), T25 (17:00): 6 tasks, 105.33h.
    assert [(e["Task"], e["When"]) for e in got["Tasks"][1]] == [
        ("T1", "2026-01-07 13:00"),
        ("T9", "2026-01-07 17:00"),
        ("T13", "2026-01-07 17:00"),
        ("T20", "2026-01-07 17:00"),
        ("T5", "2026-01-08 11:00"),
        ("T25", "2026-01-08 17:00"),
    ]
    assert sum(float(s["Estimate done (h)"]) for s in got["Streams"][1]) == pytest.approx(105.33)
    assert list(by_first(got["Gates"][1], "Gate")) == ["cp-2"]
    assert set(by_first(got["Moves"][1], "Move")) == {"M1", "M2"}
    assert by_first(got["Syncs"][1], "Agent")["agent-b1"]["Asked"] == "1"  # stream B paused on Wed 7's standup
    assert by_first(got["Alerts"][1], "Level")["critical"]["Mean to acknowledge (min)"] == "990.0"
    # The burn-up carries what was done before the range: Wed 7 closes at 100h.
    assert [row["Day"] for row in got["Burn-up"][1]] == ["2026-01-07", "2026-01-08"]
    assert by_first(got["Burn-up"][1], "Day")["2026-01-07"]["Done (h)"] == "100.00"


def three_standups_plan() -> str:
    """The example plan with agent-c2's own day off on Tue 6 and agent-c1's course on Wed 7 in its time-off."""
    text = EXAMPLE_PLAN.read_text().replace("  agent-c2:\n", "  agent-c2:\n    holidays: [2026-01-06]\n", 1)
    return text + "time-off:\n  - {who: agent-c1, from: 2026-01-07, until: 2026-01-07, reason: course}\n"


def test_report_counts_each_persons_answers_in_time_late_missed_and_days_away(run, tmp_path, engine, slack):
    """Three standups (Mon 5, Tue 6, Wed 7 at 09:00 Paris, 15 minutes each, asked by the scheduler):
    a1 answers two in time, a2 two late; b1 is away on Wed 7 (`away`), c2 on its own day off on Tue 6 (its
    holidays), c1 on a course on Wed 7 (the plan's time-off). Someone away is not asked: the day shows as Away."""
    start_plan_text(run, tmp_path / "plan.yml", three_standups_plan(), PLAN_KEY)
    scheduler.use(engine, WebClient(token="xoxb-test", base_url=slack.url), clock=lambda: run.now)
    try:
        answers = {  # day: [(minute after 09:00, agent)]; the window closes at 09:15
            5: [(10, "agent-a1"), (30, "agent-a2")],  # a1 in time, a2 15 minutes late
            6: [(5, "agent-a1")],  # a2 silent
            7: [(45, "agent-a2")],  # a2 late again, a1 silent
        }
        for day, given in answers.items():
            if day == 7:
                run.at(paris(6, 17))
                run("away --agent agent-b1 --until 2026-01-07 --reason dentist", actor=LEAD)
            run.at(paris(day, 9))
            scheduler.run_slot(PLAN_KEY, "standup")
            slot = max(prompt_slots(engine))
            for minute, agent in given:
                run.at(paris(day, 9, minute))
                run(f"answer --slot {slot} --agent {agent} 'on it'", actor=LEAD)
    finally:
        scheduler._runtime = None
    run.at(paris(7, 12))
    got = report_sections(SimpleNamespace(run=run), "report --from 2026-01-05 --to 2026-01-07")
    # Asked = Answered + Late + Missed; a day away is not asked. Over the three standups:
    #   a1: asked 3; in time Mon, Tue = 2; late 0; missed Wed = 1; away 0
    #   a2: asked 3; in time 0; late Mon, Wed = 2; missed Tue = 1; away 0
    #   b1: asked Mon, Tue = 2, both missed; away Wed = 1
    #   b2: asked 3, all missed; away 0
    #   c1: asked Mon, Tue = 2, both missed; away Wed = 1 (the plan's time-off)
    #   c2: asked Mon, Wed = 2, both missed; away Tue = 1 (its own holiday)
    syncs = by_first(got["Syncs"][1], "Agent")
    assert {k: (s["Asked"], s["Answered"], s["Late"], s["Missed"], s["Away"]) for k, s in syncs.items()} == {
        "agent-a1": ("3", "2", "0", "1", "0"),
        "agent-a2": ("3", "0", "2", "1", "0"),
        "agent-b1": ("2", "0", "0", "2", "1"),
        "agent-b2": ("3", "0", "0", "3", "0"),
        "agent-c1": ("2", "0", "0", "2", "1"),
        "agent-c2": ("2", "0", "0", "2", "1"),
    }
    # The headline adds them up: asked 3+3+2+3+2+2 = 15; in time 2; late 2; missed 1+1+2+3+2+2 = 11; away 3.
    report = run("report --from 2026-01-05 --to 2026-01-07")
    assert "Syncs: 15 answers asked, 2 in time, 2 late, 11 missed; 3 not asked (away)" in report.body.headline
    assert ["agent-c2", "2", "0", "0", "2", "1"] in [line.split() for line in render_text(report).splitlines()]
    as_json = json.loads(run("report --from 2026-01-05 --to 2026-01-07 --format json").body.content)
    table = next(s for s in as_json["sections"] if s["title"] == "Syncs")
    assert table["columns"][-1] == "Away" and dict((r[0], r[-1]) for r in table["rows"])["agent-c2"] == "1"


def prompt_slots(engine) -> list[int]:
    with Session(engine) as session:
        return list(session.exec(select(SyncSlot.id).where(SyncSlot.entry == "standup")).all())


def test_report_refuses_a_range_that_runs_backwards_and_a_day_that_does_not_exist(world):
    world.play_until(END)
    with pytest.raises(CommandError, match="--from 2026-01-09 is after --to 2026-01-08"):
        world.run("report --from 2026-01-09 --to 2026-01-08")
    with pytest.raises(CommandError, match="no day of the calendar"):
        world.run("report --from 2026-02-30")


def test_report_in_slack_sends_the_chart_and_the_csv_to_the_askers_dm(world):
    world.play_until(END)
    world.slack.reset()
    reply = world.run("report", actor=LEAD, front="slack")
    front = SlackFront(world.engine)
    how = front.invocation({"id": "U0LEAD0001", "username": "lead"}, {"id": "C0PLAN"})
    front.honour(WebClient(token="xoxb-test", base_url=world.slack.url), reply, how, now=END)
    assert world.slack.calls_to("conversations.open")[0].body["users"] == "U0LEAD0001"
    names = [c.body["filename"] for c in world.slack.calls_to("files.getUploadURLExternal")]
    assert names == [
        f"{PLAN_KEY}-report-2026-01-05-2026-01-16-burnup.png",
        f"{PLAN_KEY}-report-2026-01-05-2026-01-16.csv",
    ]
    done = world.slack.calls_to("files.completeUploadExternal")[0].body
    chart, table = (world.slack.calls_to(f"upload:{f['id']}")[0].raw for f in done["files"])
    assert chart.startswith(b"\x89PNG")
    assert table.decode() == world.run("report --format csv").body.content  # the CSV checked above, byte for byte
    assert done["channel_id"] == "DU0LEAD0001" and "burn-up chart" in done["initial_comment"]
    text = json.dumps(render_blocks_of(reply))
    assert "20 tasks done" in text and "in your DM with me" in text
    # Hours to a tenth, as the headline writes them (the CSV keeps two decimals).
    assert "*stream-a-backend*: 6 done (118.7 h), 3 late (by 3.6 h on average)" in text
    assert "passed 2026-01-12 11:00, missed for 2.0 working hours" in text
    # `report --format csv` in Slack: the file itself goes to the DM, the answer shows its start.
    world.slack.reset()
    document = world.run("report --agent agent-c2 --format csv", actor=LEAD, front="slack")
    front.honour(WebClient(token="xoxb-test", base_url=world.slack.url), document, how, now=END)
    [upload] = world.slack.calls_to("files.getUploadURLExternal")
    assert upload.body["filename"] == f"{PLAN_KEY}-report-2026-01-05-2026-01-16-agent-c2.csv"
    [done] = world.slack.calls_to("files.completeUploadExternal")
    assert world.slack.calls_to(f"upload:{done.body['files'][0]['id']}")[0].raw.decode() == document.body.content
    assert "is in your DM with me" in json.dumps(render_blocks_of(document))
    assert world.slack.errors == []


def exported(world, line: str) -> tuple[str, str]:
    """(file name, text) of an `export` as the CLI and the API stream it."""
    body = world.run(line).body
    return body.filename, "".join(stream(world.engine, body))


def test_exports_of_a_range_read_back_as_the_store_holds_them(world):
    world.play_until(END)
    # Tuesday 6: c2 restarts T21 at 10:00; c1 finishes T17 and starts T20 at 13:00, T17 is reopened at 15:00 and
    # started again, and done at 17:00 (Paris; the export's times are UTC).
    name, text = exported(world, "export tasks --from 2026-01-06 --to 2026-01-06")
    assert name == f"{PLAN_KEY}-tasks-2026-01-06-2026-01-06.csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["at"], r["task"], r["from"], r["to"]) for r in rows] == [
        ("2026-01-06T09:00:00+00:00", "T21", "blocked", "in-progress"),
        ("2026-01-06T12:00:00+00:00", "T17", "in-progress", "done"),
        ("2026-01-06T12:00:00+00:00", "T20", "ready", "in-progress"),
        ("2026-01-06T14:00:00+00:00", "T17", "done", "ready"),
        ("2026-01-06T14:00:00+00:00", "T17", "ready", "in-progress"),
        ("2026-01-06T16:00:00+00:00", "T17", "in-progress", "done"),
    ]
    assert rows[3]["reason"] == "flaky fixtures in the test environment" and rows[3]["stream"] == C
    # code-coverage was reported 85%, 88%, 92%, 94% (the computed metrics are snapshotted each evening too).
    _, text = exported(world, "export readings --format json")
    coverage = [(r["value"], r["unit"]) for r in json.loads(text) if r["metric"] == "code-coverage"]
    assert coverage == [(85.0, "%"), (88.0, "%"), (92.0, "%"), (94.0, "%")]
    # The two critical alerts, acknowledged by the lead; as many in all as the report counts.
    _, text = exported(world, "export alerts --format json")
    alerts = json.loads(text)
    assert len(alerts) == sum(int(row["Raised"]) for row in report_sections(world, "report")["Alerts"][1])
    assert [(a["event"], a["acknowledged_by"]) for a in alerts if a["level"] == "critical"] == [
        ("agent-down", "slack:U0LEAD0001"),
        ("checkpoint-missed", "slack:U0LEAD0001"),
    ]
    # Standups: 58 answers asked (the report's figure), none given.
    _, text = exported(world, "export answers")
    answers = list(csv.DictReader(io.StringIO(text)))
    assert len(answers) == 58 and {a["answered_at"] for a in answers} == {""}
    # The audit log of Friday 9: the stranger's refused undo and the lead's undo of M2.
    _, text = exported(world, "export audit --from 2026-01-09 --to 2026-01-09")
    undo = [(r["command"], r["outcome"]) for r in csv.DictReader(io.StringIO(text)) if "moves undo" in r["command"]]
    assert undo == [("moves undo M2", "refused"), ("moves undo M2", "ok")]


def test_an_export_comes_out_a_batch_at_a_time(world):
    """The rows leave as they are read (BATCH at a time), not once all are in memory: the alerts in batches of 20."""
    world.play_until(END)
    body = world.run("export alerts").body
    original = exports.BATCH
    exports.BATCH = 20
    try:
        chunks = list(stream(world.engine, body))
    finally:
        exports.BATCH = original
    # The 59 alerts: the header and 20 rows, 20 rows, the last 19 (an alert's text is a title line and a body
    # line: CSV quotes it, so rows are counted as CSV reads them).
    assert [len(list(csv.reader(io.StringIO(c)))) for c in chunks] == [21, 20, 19]
    assert "".join(chunks) == "".join(stream(world.engine, body))


def test_export_is_refused_in_slack_and_says_what_to_use(world):
    world.play_until(END)
    with pytest.raises(CommandError, match=r"^`export` is not for Slack: it runs from the API and the CLI$"):
        world.run("export tasks", actor=LEAD, front="slack")
