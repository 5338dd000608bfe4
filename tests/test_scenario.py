"""Six working days of the example plan TR-ORCH-001 on the fake clock, checked on the dashboard.

The plan starts on Monday 5 January 2026 at 09:00 Paris (the ``started`` fixture). Working time
is Mon–Fri 09:00–17:00 Europe/Paris, so the plan clock W (working hours since the start) reads:

    Mon 5  W0–8    Tue 6  W8–16    Wed 7  W16–24    Thu 8  W24–32    Fri 9  W32–40
    (Sat 10, Sun 11: no working time)                Mon 12 W40–48

Estimates (domain: "the agent's share of the plan", loader: an agent's unestimated tasks share
duration-days × working-day length − its given estimates):

    every agent has 10 days × 8h = 80h of plan
    a1, b1, b2, c1, c2: 4 unestimated tasks          -> 80h / 4 = 20h each
    a2: "API endpoints" is given as 2d = 16h         -> (80h − 16h) / 3 = 21h20m for T5, T6, T7
    each stream: 2 agents × 80h = 160h; the plan: 3 × 160h = 480h

    a1: T1 T2 T3 T4     a2: T5 T6 T7 T8(16h)      (stream-a-backend)
    b1: T9 T10 T11 T12  b2: T13 T14 T15 T16       (stream-b-frontend; T15 waits for frontend-integration-start)
    c1: T17 T18 T19 T20 c2: T21 T22 T23 T24       (stream-c-testing; T18, T19 wait for actions never fired here)

Each agent's tasks are scheduled back to back from W0 (a1, b1, b2, c1, c2: due at 20h, 40h, 60h,
80h; a2: T5 21h20m, T6 42h40m, T7 64h, T8 80h). A task counts as planned-done once its planned due
time has passed on its stream's clock (docs/semantics.md), so a stream's planned work by stream
clock c is the estimates of its tasks due by c.

What happens (STEPS below), with each task's time in progress / blocked:

    Mon 5  09:00 W0    start T1 (a1), T5 (a2), T9 (b1), T13 (b2), T17 (c1)
           11:00 W2    start T21 (c2)
           13:00 W4    block T17 (c1): 4h in progress so far
           15:00 W6    T9 done (6h); b1 starts T10
           16:30       cp-1 validated
    Tue 6  10:00 W9    start T17 again (unblocked: 5h blocked)
           12:00 W11   T1 done (11h); a1 starts T2
           13:00 W12   pause stream-b-frontend ... resumed at 16:00 W15 (3h paused):
                       stream B's clock is W for W<=12, 12 while paused, W−3 from W15 on
    Wed 7  10:00 W17   T13 done (B clock 14: 14h); b2 starts T14
           11:00 W18   event api-endpoints-ready -> T15 ready
           11:30 W18.5 T1 reopened (rework)
           12:00 W19   T2 done (8h); a1 idle until 13:00 W20, then works on T1 again
           14:00 W21   T21 done (19h); c2 starts T22
           16:30       cp-2 validated
    Thu 8  11:00 W26   T1 done again (6h more, 17h in all); a1 starts T3
           12:00 W27   T14 done (B clock 14→24: 10h); b2 starts T15
           13:00 W28   T5 done (28h); a2 starts T6
           15:00 W30   T10 done (B clock 6→27: 21h); b1 starts T11
    Fri 9  10:00 W33   T17 done (4h + 24h = 28h); c1 starts T20
           12:00 W35   T22 failed (14h)
           14:00 W37   T11 done (B clock 27→34: 7h); b1 starts T12
           16:00 W39   T15 done (B clock 24→36: 12h); b2 starts T16
           16:30       cp-3 forced
    Mon 12 09:00 W40   T22 reopened (from failed: not rework) and started again
           11:00 W42   T12 done (B clock 34→39: 5h)
           12:00 W43   T16 done (B clock 36→40: 4h): stream B is complete
           14:00       metric code-coverage 94%

Every expected value below is worked out by hand from these lines and the definitions of
shared/domain.md (with the choices of docs/semantics.md where the domain is silent).
"""

from datetime import datetime

import pytest

from commands.core.errors import CommandError
from tests.clock import PARIS, H, paris, pct, same_instant

PLAN = 480 * H  # total estimate of the plan
STREAM = 160 * H  # total estimate of each stream
TASK = 20 * H  # an unestimated task of a1, b1, b2, c1, c2
A2_TASK = 76800  # (80h − 16h) / 3 = 21h20m = 76 800 s: T5, T6, T7


START = paris(5, 9)

STEPS = [
    # Monday 5 January
    (paris(5, 9), "task start T1"),
    (paris(5, 9), "task start T5"),
    (paris(5, 9), "task start T9"),
    (paris(5, 9), "task start T13"),
    (paris(5, 9), "task start T17"),
    (paris(5, 11), "task start T21"),
    (paris(5, 13), "task block T17 --reason 'staging database not provisioned'"),
    (paris(5, 15), "task done T9"),
    (paris(5, 15), "task start T10"),
    (paris(5, 16, 30), "validate --checkpoint cp-1 --criterion 1,2,3"),
    # Tuesday 6 January
    (paris(6, 10), "task start T17"),
    (paris(6, 12), "task done T1"),
    (paris(6, 12), "task start T2"),
    (paris(6, 13), "pause stream-b-frontend --reason 'design review'"),
    (paris(6, 16), "resume stream-b-frontend"),
    # Wednesday 7 January
    (paris(7, 10), "task done T13"),
    (paris(7, 10), "task start T14"),
    (paris(7, 11), "event api-endpoints-ready"),
    (paris(7, 11, 30), "task reopen T1 --reason 'schema misses the ticket index'"),
    (paris(7, 12), "task done T2"),
    (paris(7, 13), "task start T1"),
    (paris(7, 14), "task done T21"),
    (paris(7, 14), "task start T22"),
    (paris(7, 16, 30), "validate --checkpoint cp-2 --criterion 1,2,3"),
    # Thursday 8 January
    (paris(8, 11), "task done T1"),
    (paris(8, 11), "task start T3"),
    (paris(8, 12), "task done T14"),
    (paris(8, 12), "task start T15"),
    (paris(8, 13), "task done T5"),
    (paris(8, 13), "task start T6"),
    (paris(8, 15), "task done T10"),
    (paris(8, 15), "task start T11"),
    # Friday 9 January
    (paris(9, 10), "task done T17"),
    (paris(9, 10), "task start T20"),
    (paris(9, 12), "task fail T22 --reason 'registry credentials expired'"),
    (paris(9, 14), "task done T11"),
    (paris(9, 14), "task start T12"),
    (paris(9, 16), "task done T15"),
    (paris(9, 16), "task start T16"),
    (paris(9, 16, 30), "validate --checkpoint cp-3 --force --reason 'demo build'"),
    # (the weekend: nothing)
    # Monday 12 January
    (paris(12, 9), "task reopen T22"),
    (paris(12, 9), "task start T22"),
    (paris(12, 11), "task done T12"),
    (paris(12, 12), "task done T16"),
    (paris(12, 14), "metric code-coverage 94%"),
]


def play_until(run, when: datetime) -> dict:
    """Run every step due at or before ``when``, then set the clock to ``when``.

    Returns the replies by command line, for the few checks on what a command answered.
    """
    assert run.now == START
    replies = {}
    for at, line in STEPS:
        if at > when:
            break
        run.at(at)
        replies[line] = run(line)
    run.at(when)
    return replies


def dashboard(run):
    return run("status").body


def streams(board) -> dict:
    return {s.key: s for s in board.streams}


def metrics(board) -> dict:
    return {m.name: m for m in board.metrics}


def monitor(run) -> dict:
    return {a.key: (a.status, a.current_task) for a in run("health").body.agents}


A, B, C = "stream-a-backend", "stream-b-frontend", "stream-c-testing"


# --- before and at the start --------------------------------------------------------------------


def test_before_start_every_agent_is_preparing(loaded):
    # Domain: PREPARING = plan not started (or first task not ready yet).
    agents = monitor(loaded)
    assert {status for status, _ in agents.values()} == {"PREPARING"}


def test_at_start_streams_are_starting_and_eta_follows_the_plan(started):
    # Monday 09:00: the plan has just started, no task has started yet.
    board = dashboard(started)
    assert [s.status for s in board.streams] == ["Starting", "Starting", "Starting"]
    assert board.progress == 0 and board.planned_progress == 0
    assert (board.counts.active, board.counts.completed, board.counts.blocked, board.counts.failed) == (0, 0, 0, 0)
    assert board.elapsed_s == 0
    # Nothing done yet: the ETA follows the schedule. The last tasks are due at W80 (each agent has
    # 80h of work) = 10 working days from Mon 5 09:00 -> Fri 16 Jan 17:00.
    assert board.eta_basis == "planned"
    assert board.eta_at.timestamp() == same_instant(paris(16, 17))
    # shown as a duration: Mon 5 09:00 -> Fri 16 17:00 = 11 days 8 hours
    assert board.eta_s == 11 * 24 * H + 8 * H
    # No working time has passed and nothing is done: no computed metric yet.
    figures = metrics(board)
    for name in ("parallel-efficiency", "agent-utilization", "blocking-time", "rework-rate"):
        assert figures[name].value is None, name


def test_at_start_every_agent_is_idle_on_its_first_task(started):
    # Domain: IDLE = nothing in progress (its first task is ready, so not PREPARING);
    # current task = its next ready one = the first of its queue.
    assert monitor(started) == {
        "agent-a1": ("IDLE", "T1"),
        "agent-a2": ("IDLE", "T5"),
        "agent-b1": ("IDLE", "T9"),
        "agent-b2": ("IDLE", "T13"),
        "agent-c1": ("IDLE", "T17"),
        "agent-c2": ("IDLE", "T21"),
    }


# --- Monday 5 January, 17:00 (W8) -----------------------------------------------------------------

MON_EVENING = paris(5, 17)


def test_monday_evening_progress_counts_and_eta(started):
    play_until(started, MON_EVENING)
    board = dashboard(started)
    by_key = streams(board)
    # Progress = done estimate / total estimate. Only T9 (20h, stream B) is done.
    assert by_key[A].progress == 0
    assert by_key[B].progress == pytest.approx(20 / 160)  # 12.5%
    assert by_key[C].progress == 0
    assert board.progress == pytest.approx(20 / 480)  # 4.17%
    # Planned progress at W8: the first tasks are due at W20 (W21h20m for T5): none due yet.
    for key in (A, B, C):
        assert by_key[key].planned_progress == 0
    assert board.planned_progress == 0
    # Stream B: 12.5% done against 0% planned -> not behind -> On Track.
    assert by_key[B].status == "On Track"
    # Counts: in progress T1, T5, T10, T13, T21; done T9; blocked T17.
    counts = board.counts
    assert (counts.active, counts.completed, counts.blocked, counts.failed) == (5, 1, 1, 0)
    assert (by_key[C].blocked, by_key[B].done) == (1, 1)
    # Elapsed: Mon 09:00 -> 17:00.
    assert board.elapsed_s == 8 * H
    # ETA at the observed rate: 20h done in 8 working hours; 460h left -> 460 × 8 / 20 = 184h
    # = 23 working days after Mon 5 17:00: Tue 6–Fri 9 (4), two full weeks (14), Mon 26–Fri 30
    # (19), Mon 2–Thu 5 Feb (23) -> Thu 5 Feb 17:00.
    assert board.eta_basis == "observed"
    assert board.eta_at.timestamp() == same_instant(datetime(2026, 2, 5, 17, tzinfo=PARIS))
    assert board.eta_s == 31 * 24 * H  # Mon 5 Jan 17:00 -> Thu 5 Feb 17:00
    # cp-1 passed at 16:30: the next gate is cp-2, due at the end of working day 3 (Wed 7).
    gate = board.next_checkpoint
    assert (gate.key, gate.met, gate.criteria) == ("cp-2", 0, 3)
    assert gate.due_at.timestamp() == same_instant(paris(7, 17))


def test_monday_evening_streams_with_nothing_done_are_starting(started):
    play_until(started, MON_EVENING)
    by_key = streams(dashboard(started))
    # Streams A and C have nothing done yet (their first tasks are 20h long, 8h in) -> Starting.
    assert (by_key[A].status, by_key[C].status) == ("Starting", "Starting")


def test_monday_evening_metrics(started):
    play_until(started, MON_EVENING)
    figures = metrics(dashboard(started))
    # Busy time (time with a task in progress) by W8, per agent:
    #   a1 T1 8h, a2 T5 8h, b1 T9 6h + T10 2h = 8h, b2 T13 8h, c1 T17 4h (then blocked), c2 T21 6h
    #   -> 42h of 6 agents × 8h = 48h
    assert figures["parallel-efficiency"].value == pct(100 * 42 / 48)  # 87.5%
    assert figures["parallel-efficiency"].ok is True  # target > 80%
    # Utilization per agent: 1, 1, 1, 1, 4/8, 6/8 -> mean 5.25 / 6
    assert figures["agent-utilization"].value == pct(100 * 5.25 / 6)  # 87.5%
    assert figures["agent-utilization"].ok is True  # target > 75%
    # Blocking: T17 blocked 13:00–17:00 = 4h; task time = 42h in progress + 4h blocked
    assert figures["blocking-time"].value == pct(100 * 4 / 46)  # 8.7%
    assert figures["blocking-time"].ok is False  # target < 5%
    # Rework: nothing reopened, one task done -> 0 / 1
    assert figures["rework-rate"].value == pct(0)
    assert figures["rework-rate"].ok is True  # target < 10%


def test_monday_evening_agent_monitor(started):
    play_until(started, MON_EVENING)
    assert monitor(started) == {
        "agent-a1": ("ACTIVE", "T1"),
        "agent-a2": ("ACTIVE", "T5"),
        "agent-b1": ("ACTIVE", "T10"),
        "agent-b2": ("ACTIVE", "T13"),
        # c1: T17 blocked, T18/T19 wait for their actions: nothing in progress, next ready is T20
        "agent-c1": ("IDLE", "T20"),
        "agent-c2": ("ACTIVE", "T21"),
    }


# --- Tuesday 6 January: stream B paused 13:00–16:00 -----------------------------------------------


def test_tuesday_paused_stream(started):
    play_until(started, paris(6, 14))  # W13, stream B paused since W12
    board = dashboard(started)
    by_key = streams(board)
    assert by_key[B].status == "Paused"
    # Stream B's clock stopped at W12: its worst open task, T13 (due B20), is 8h from due, not 7h.
    assert by_key[B].lateness_s == (12 - 20) * H
    # Nothing is due yet on either clock (first tasks due at 20h): planned progress 0.
    assert by_key[B].planned_progress == by_key[A].planned_progress == 0
    # Its agents are PAUSED, with the tasks they hold.
    assert monitor(started) == {
        "agent-a1": ("ACTIVE", "T2"),
        "agent-a2": ("ACTIVE", "T5"),
        "agent-b1": ("PAUSED", "T10"),
        "agent-b2": ("PAUSED", "T13"),
        "agent-c1": ("ACTIVE", "T17"),
        "agent-c2": ("ACTIVE", "T21"),
    }
    # No task of a paused stream can be started.
    with pytest.raises(CommandError, match="stream-b-frontend is paused"):
        started("task start T11")


def test_tuesday_evening_after_resume(started):
    play_until(started, paris(6, 17))  # W16; stream B's clock: 16 − 3 = 13h
    board = dashboard(started)
    by_key = streams(board)
    # A: T1 done = 20h / 160h = 12.5%; planned: no A task due by W16 (T1 due W20, T5 W21h20m) = 0%
    # -> ahead -> On Track (no A task is past due: T2 is due at W40, T5 at W21h20).
    assert by_key[A].progress == pytest.approx(20 / 160)
    assert by_key[A].planned_progress == 0
    assert by_key[A].status == "On Track"
    # B: T9 done = 12.5%; planned: nothing due by B13 (the pause does not count) -> On Track.
    assert by_key[B].progress == pytest.approx(20 / 160)
    assert by_key[B].planned_progress == 0
    assert by_key[B].status == "On Track"
    figures = metrics(board)
    # Busy by W16: a1 T1 11h + T2 5h = 16h; a2 T5 16h; b1 T9 6h + T10 (B clock 6→13) 7h = 13h;
    # b2 T13 13h; c1 T17 4h + 7h (W9–16) = 11h; c2 T21 14h (W2–16) -> 83h.
    # Parallel efficiency counts the whole working time: 83h / (6 × 16h).
    assert figures["parallel-efficiency"].value == pct(100 * 83 / 96)  # 86.5%
    # Utilization counts the time each agent had (B's agents: 16h − 3h paused = 13h):
    # 16/16, 16/16, 13/13, 13/13, 11/16, 14/16 -> mean (4 + 0.6875 + 0.875) / 6
    assert figures["agent-utilization"].value == pct(100 * 5.5625 / 6)  # 92.7%
    # Blocking: T17 blocked W4–W9 = 5h; 5 / (83 + 5)
    assert figures["blocking-time"].value == pct(100 * 5 / 88)  # 5.7%
    assert figures["blocking-time"].ok is False


# --- Wednesday 7 January: coordination event, rework ----------------------------------------------


def test_api_integration_waits_for_the_coordination_event(started):
    play_until(started, paris(7, 10, 30))
    board = dashboard(started)
    # Waiting for their actions: T15 (frontend-integration-start), T18, T19.
    assert board.counts.todo == 3
    # Ready (not started): a1 T3 T4, a2 T6 T7 T8, b1 T11 T12, b2 T16, c1 T20, c2 T22 T23 T24 = 12
    assert board.counts.ready == 12
    with pytest.raises(CommandError, match="T15 is not ready: it waits for `frontend-integration-start`"):
        started("task start T15")


def test_event_api_endpoints_ready_readies_api_integration(started):
    replies = play_until(started, paris(7, 11))
    reply = replies["event api-endpoints-ready"].body
    assert "api-endpoints-ready → frontend-integration-start (stream-a-b): 1 task(s) ready" in reply.details
    board = dashboard(started)
    assert board.counts.todo == 2  # T18, T19 still wait
    assert board.counts.ready == 13  # the 12 above + T15


def test_rework_takes_the_task_back_out_of_progress(started):
    play_until(started, paris(7, 11, 45))  # W18.75: T1 reopened at 11:30, T2 still in progress
    board = dashboard(started)
    by_key = streams(board)
    # Stream A has nothing done any more: T1 reopened, T2 in progress.
    assert by_key[A].progress == 0
    # Done: T9 and T13 -> 40h / 480h.
    assert board.progress == pytest.approx(40 / 480)
    assert board.counts.completed == 2
    # Rework rate: 1 reopening / 3 times a task was marked done (T9, T1, T13)
    figures = metrics(board)
    assert figures["rework-rate"].value == pct(100 * 1 / 3)  # 33.3%
    assert figures["rework-rate"].ok is False


WED_NOON = paris(7, 12, 30)  # W19.5: a1 finished T2 at 12:00 and resumes T1 at 13:00


def test_wednesday_noon_agent_monitor(started):
    play_until(started, WED_NOON)
    agents = monitor(started)
    assert agents["agent-a1"][0] == "IDLE"
    assert {key: agents[key] for key in agents if key != "agent-a1"} == {
        "agent-a2": ("ACTIVE", "T5"),
        "agent-b1": ("ACTIVE", "T10"),
        "agent-b2": ("ACTIVE", "T14"),
        "agent-c1": ("ACTIVE", "T17"),
        "agent-c2": ("ACTIVE", "T21"),
    }


def test_wednesday_noon_reopened_task_is_the_next_current_task(started):
    play_until(started, WED_NOON)
    # a1's ready tasks in queue order: T1 (reopened), T3, T4 -> the next ready one is T1.
    assert monitor(started)["agent-a1"] == ("IDLE", "T1")


WED_EVENING = paris(7, 17)  # W24; stream B's clock 21h


def test_wednesday_evening_dashboard(started):
    play_until(started, WED_EVENING)
    board = dashboard(started)
    by_key = streams(board)
    # Done: A T2 (20h); B T9, T13 (40h); C T21 (20h). T1 is in progress again.
    assert by_key[A].progress == pytest.approx(20 / 160)
    assert by_key[B].progress == pytest.approx(40 / 160)
    assert by_key[C].progress == pytest.approx(20 / 160)
    assert board.progress == pytest.approx(80 / 480)
    # Planned, the tasks due by then: A T1 (W20) + T5 (W21h20m) = 41h20m; B T9, T13 (due B20) = 40h of 160h
    # at B21; C T17, T21 (W20) = 40h; all (41h20m + 40 + 40) / 480
    assert by_key[A].planned_progress == pytest.approx((TASK + A2_TASK) / STREAM)
    assert by_key[B].planned_progress == pytest.approx(40 / 160)
    assert by_key[C].planned_progress == pytest.approx(40 / 160)
    assert board.planned_progress == pytest.approx((5 * TASK + A2_TASK) / PLAN)
    # A: T1 (due W20) still open at W24: 4h late > 2h (the plan's stream-delay threshold) -> Delayed.
    # C: T17 (due W20) likewise 4h late -> Delayed.
    # B: 25% done vs 25% planned, nothing past due -> On Track.
    assert by_key[A].lateness_s == 4 * H
    assert by_key[C].lateness_s == 4 * H
    assert [s.status for s in board.streams] == ["Delayed", "On Track", "Delayed"]
    # In progress: T1, T5, T10, T14, T17, T22; done: T2, T9, T13, T21.
    counts = board.counts
    assert (counts.active, counts.completed, counts.blocked, counts.failed) == (6, 4, 0, 0)
    assert board.elapsed_s == 2 * 24 * H + 8 * H  # Mon 09:00 -> Wed 17:00
    # ETA: 80h done in 24 working hours; 400h left -> 400 × 24 / 80 = 120h = 15 working days:
    # Thu 8, Fri 9 (2), Mon 12–Fri 16 (7), Mon 19–Fri 23 (12), Mon 26, Tue 27, Wed 28 -> Wed 28 Jan 17:00
    assert board.eta_basis == "observed"
    assert board.eta_at.timestamp() == same_instant(paris(28, 17))
    assert board.eta_s == 21 * 24 * H
    # cp-2 passed at 16:30: next is cp-3, due at the end of working day 5 (Fri 9).
    assert board.next_checkpoint.key == "cp-3"
    assert board.next_checkpoint.due_at.timestamp() == same_instant(paris(9, 17))


def test_wednesday_evening_metrics(started):
    play_until(started, WED_EVENING)
    figures = metrics(dashboard(started))
    # Busy by W24:
    #   a1: T1 11h + 4h (W20–24) + T2 8h (W11–19) = 23h (idle W19–20)
    #   a2: T5 24h
    #   b1: T9 6h + T10 15h (B clock 6→21) = 21h        (had 21h)
    #   b2: T13 14h (B clock 0→14) + T14 7h (14→21) = 21h (had 21h)
    #   c1: T17 4h + 15h (W9–24) = 19h
    #   c2: T21 19h (W2–21) + T22 3h = 22h
    #   -> 130h of 6 × 24h
    assert figures["parallel-efficiency"].value == pct(100 * 130 / 144)  # 90.3%
    # utilization: 23/24, 1, 21/21, 21/21, 19/24, 22/24 -> (3 + 64/24) / 6
    assert figures["agent-utilization"].value == pct(100 * (3 + 64 / 24) / 6)  # 94.4%
    assert figures["agent-utilization"].ok is True
    # blocking: 5h blocked / (130h + 5h)
    assert figures["blocking-time"].value == pct(100 * 5 / 135)  # 3.7%
    assert figures["blocking-time"].ok is True
    # rework: 1 reopening / 5 times marked done (T9, T1, T13, T2, T21)
    assert figures["rework-rate"].value == pct(100 * 1 / 5)  # 20%
    assert figures["rework-rate"].ok is False


# --- Thursday 8 January, 17:00 (W32) ---------------------------------------------------------------


def test_thursday_evening_stream_a_back_on_track(started):
    play_until(started, paris(8, 17))
    board = dashboard(started)
    by_key = streams(board)
    # A: T1, T2 (20h each) and T5 (21h20m) done = 61h20m of 160h = 38.33%; planned: T1, T5 due by W32 =
    # 41h20m = 25.8% -> ahead, and no open A task is past due (T6 is due at W42h40) -> On Track.
    assert by_key[A].progress == pytest.approx((2 * TASK + A2_TASK) / STREAM)
    assert by_key[A].status == "On Track"
    # B: T9, T13, T14, T10 = 80h -> 50%; planned T9, T13 (due B20) at B29 = 25% -> On Track.
    assert by_key[B].progress == pytest.approx(80 / 160)
    assert by_key[B].status == "On Track"
    # C: T21 only (12.5%), T17 due W20 still open: 12h late -> Delayed.
    assert by_key[C].lateness_s == 12 * H
    assert by_key[C].status == "Delayed"


# --- Friday 9 January, 17:00 (W40), and the weekend ------------------------------------------------

FRI_EVENING = paris(9, 17)
# Done by W40: A T1, T2, T5 = 220 800 s; B T9, T10, T11, T13, T14, T15 = 6 × 72 000 = 432 000 s;
# C T17, T21 = 144 000 s -> 796 800 s of 1 728 000 s.
FRI_DONE_S = 2 * TASK + A2_TASK + 6 * TASK + 2 * TASK
# ETA: (1 728 000 − 796 800) × 144 000 / 796 800 = 168 289.16 working seconds left
# = 5 working days (Mon 12–Fri 16: 144 000 s) + 24 289.16 s = 6h 44m 49.16s from Mon 19 09:00.
FRI_ETA = paris(19, 15, 44, 49.157)


def test_friday_evening_dashboard(started):
    play_until(started, FRI_EVENING)
    board = dashboard(started)
    by_key = streams(board)
    assert board.progress == pytest.approx(FRI_DONE_S / PLAN)  # 46.1%
    assert by_key[A].progress == pytest.approx((2 * TASK + A2_TASK) / STREAM)  # 38.3%
    assert by_key[B].progress == pytest.approx(120 / 160)  # 75%
    assert by_key[C].progress == pytest.approx(40 / 160)  # 25%
    # A: 38.3% vs planned T1, T2 (due W40), T5 = 61h20m = 38.3% -> not behind; the worst open task T6 is
    # due at W42h40m -> On Track.
    # B: 75% vs T9, T13 (due B20; T10, T14 due B40, the clock reads B37) = 25% -> On Track.
    # C: 25% vs T17, T18, T21, T22 (due W20, W40) = 50% -> 25 points behind -> Delayed.
    assert by_key[A].planned_progress == pytest.approx((2 * TASK + A2_TASK) / STREAM)
    assert by_key[B].planned_progress == pytest.approx(40 / 160)
    assert by_key[C].planned_progress == pytest.approx(80 / 160)
    assert [s.status for s in board.streams] == ["On Track", "On Track", "Delayed"]
    # In progress: T3, T6, T12, T16, T20; 11 done; T22 failed.
    counts = board.counts
    assert (counts.active, counts.completed, counts.blocked, counts.failed) == (5, 11, 0, 1)
    assert by_key[C].failed == 1
    assert board.elapsed_s == 4 * 24 * H + 8 * H  # Mon 09:00 -> Fri 17:00
    assert board.eta_basis == "observed"
    assert board.eta_at.timestamp() == same_instant(FRI_ETA)
    # Fri 9 17:00 -> Mon 19 15:44:49 = 9 days 22h 44m 49s
    assert board.eta_s == pytest.approx(9 * 24 * H + 22 * H + 44 * 60 + 49, abs=1)


def test_friday_evening_metrics(started):
    play_until(started, FRI_EVENING)
    figures = metrics(dashboard(started))
    # Busy by W40 (B's clock 37h):
    #   a1: T1 17h + T2 8h + T3 14h (W26–40) = 39h
    #   a2: T5 28h + T6 12h = 40h
    #   b1: T9 6h + T10 21h + T11 7h + T12 3h (B clock 34→37) = 37h   (had 37h)
    #   b2: T13 14h + T14 10h + T15 12h + T16 1h = 37h                 (had 37h)
    #   c1: T17 28h + T20 7h = 35h
    #   c2: T21 19h + T22 14h (failed at W35, idle since) = 33h
    #   -> 221h of 6 × 40h
    assert figures["parallel-efficiency"].value == pct(100 * 221 / 240)  # 92.1%
    # utilization: 39/40, 1, 1, 1, 35/40, 33/40 -> 5.675 / 6
    assert figures["agent-utilization"].value == pct(100 * 5.675 / 6)  # 94.6%
    assert figures["blocking-time"].value == pct(100 * 5 / 226)  # 2.2%
    # rework: 1 / 12 times marked done (T9, T1, T13, T2, T21, T1, T14, T5, T10, T17, T11, T15)
    assert figures["rework-rate"].value == pct(100 * 1 / 12)  # 8.3%
    assert figures["rework-rate"].ok is True


def test_friday_evening_agent_monitor(started):
    play_until(started, FRI_EVENING)
    assert monitor(started) == {
        "agent-a1": ("ACTIVE", "T3"),
        "agent-a2": ("ACTIVE", "T6"),
        "agent-b1": ("ACTIVE", "T12"),
        "agent-b2": ("ACTIVE", "T16"),
        "agent-c1": ("ACTIVE", "T20"),
        # c2: T22 failed, nothing in progress; its next ready task is T23
        "agent-c2": ("IDLE", "T23"),
    }


def test_the_weekend_moves_only_the_wall_clock(started):
    play_until(started, paris(10, 12))  # Saturday noon: no working time since Friday 17:00
    board = dashboard(started)
    by_key = streams(board)
    assert board.elapsed_s == 5 * 24 * H + 3 * H  # Mon 09:00 -> Sat 12:00 (wall clock)
    assert board.progress == pytest.approx(FRI_DONE_S / PLAN)
    assert by_key[B].planned_progress == pytest.approx(40 / 160)  # as on Friday evening
    assert [s.status for s in board.streams] == ["On Track", "On Track", "Delayed"]
    # Same working time, same done work: the same ETA date; the duration shrinks by 19h of wall clock.
    assert board.eta_at.timestamp() == same_instant(FRI_ETA)
    assert board.eta_s == pytest.approx(9 * 24 * H + 22 * H + 44 * 60 + 49 - 19 * H, abs=1)
    figures = metrics(board)
    assert figures["parallel-efficiency"].value == pct(100 * 221 / 240)
    assert figures["agent-utilization"].value == pct(100 * 5.675 / 6)
    # cp-3 was forced on Friday: the next gate is cp-4, end of working day 8 = Wed 14 Jan
    # (Mon 5 … Fri 9 are days 1–5, Mon 12 = 6, Tue 13 = 7, Wed 14 = 8).
    assert board.next_checkpoint.key == "cp-4"
    assert board.next_checkpoint.due_at.timestamp() == same_instant(paris(14, 17))


def test_monday_morning_lateness_does_not_count_the_weekend(started):
    play_until(started, paris(12, 9, 30))  # W40.5
    board = dashboard(started)
    by_key = streams(board)
    # C: T22 (restarted at 09:00) and T18 were due at W40 = Fri 17:00: 30 working minutes late, not 64h30.
    assert by_key[C].lateness_s == 30 * 60
    # T22 reopened from failed: in progress again, and not rework.
    counts = board.counts
    assert (counts.active, counts.completed, counts.blocked, counts.failed) == (6, 11, 0, 0)
    assert metrics(board)["rework-rate"].value == pct(100 * 1 / 12)


# --- Monday 12 January, 17:00 (W48) -----------------------------------------------------------------

MON2_EVENING = paris(12, 17)


def test_second_monday_evening_dashboard(started):
    play_until(started, MON2_EVENING)
    board = dashboard(started)
    by_key = streams(board)
    # B: all 8 tasks done -> 100% -> Done.
    assert by_key[B].progress == pytest.approx(1.0)
    assert by_key[B].status == "Done"
    # A: T6 (a2, due W42h40) still open at W48: 5h20m late -> Delayed.
    assert by_key[A].lateness_s == 5 * H + 20 * 60
    assert by_key[A].status == "Delayed"
    # C: 25% vs T17, T18, T21, T22 (due by W40; T19, T23 due W60) = 50% planned -> Delayed.
    assert by_key[C].status == "Delayed"
    # All done: A 220 800 s + B 576 000 s + C 144 000 s = 940 800 s of 1 728 000 s.
    assert board.progress == pytest.approx((2 * TASK + A2_TASK + STREAM + 2 * TASK) / PLAN)  # 54.4%
    # In progress: T3, T6, T20, T22; done: 11 + T12 + T16.
    counts = board.counts
    assert (counts.active, counts.completed, counts.blocked, counts.failed) == (4, 13, 0, 0)
    assert board.elapsed_s == 7 * 24 * H + 8 * H  # Mon 5 09:00 -> Mon 12 17:00


def test_second_monday_evening_metrics(started):
    play_until(started, MON2_EVENING)
    figures = metrics(dashboard(started))
    # Busy by W48 (B's clock 45h):
    #   a1: 39h + T3 8h = 47h; a2: 40h + T6 8h = 48h
    #   b1: T9 6 + T10 21 + T11 7 + T12 5 (B clock 34→39) = 39h  (had 45h)
    #   b2: T13 14 + T14 10 + T15 12 + T16 4 (B clock 36→40) = 40h (had 45h)
    #   c1: 35h + T20 8h = 43h; c2: 33h + T22 8h (W40–48) = 41h
    #   -> 258h of 6 × 48h
    assert figures["parallel-efficiency"].value == pct(100 * 258 / 288)  # 89.6%
    # utilization: 47/48, 48/48, 39/45, 40/45, 43/48, 41/48 -> (179/48 + 79/45) / 6
    assert figures["agent-utilization"].value == pct(100 * (179 / 48 + 79 / 45) / 6)  # 91.4%
    assert figures["blocking-time"].value == pct(100 * 5 / 263)  # 1.9%
    # rework: 1 / 14 times marked done (the 12 above + T12 + T16)
    assert figures["rework-rate"].value == pct(100 * 1 / 14)  # 7.1%


def test_reported_code_coverage_meets_its_target(started):
    replies = play_until(started, MON2_EVENING)
    assert replies["metric code-coverage 94%"].body.text == "Recorded code-coverage = 94% (target > 90%: met)."
    coverage = metrics(dashboard(started))["code-coverage"]
    assert (coverage.value, coverage.unit, coverage.display) == (94, "%", "94%")
    assert (coverage.target, coverage.ok, coverage.source) == ("> 90%", True, "reported")


def test_second_monday_evening_agent_monitor(started):
    play_until(started, MON2_EVENING)
    assert monitor(started) == {
        "agent-a1": ("ACTIVE", "T3"),
        "agent-a2": ("ACTIVE", "T6"),
        # b1, b2: all their tasks done, nothing in progress or ready
        "agent-b1": ("IDLE", None),
        "agent-b2": ("IDLE", None),
        "agent-c1": ("ACTIVE", "T20"),
        "agent-c2": ("ACTIVE", "T22"),
    }


# --- an agent with two tasks in progress at once -----------------------------------------------------


def test_two_tasks_in_progress_at_once_count_once(started):
    started.at(paris(5, 11))  # a1 waits two hours, then opens T1 and T2 together
    started("task start T1")
    started("task start T2")
    started.at(paris(5, 13))  # W4
    figures = metrics(dashboard(started))
    # a1 was busy 11:00–13:00 = 2h (not 2 × 2h); nobody else worked: 2h / (6 agents × 4h)
    assert figures["parallel-efficiency"].value == pct(100 * 2 / 24)  # 8.3%
    # utilization: a1 2/4, the others 0 -> 0.5 / 6
    assert figures["agent-utilization"].value == pct(100 * 0.5 / 6)  # 8.3%
