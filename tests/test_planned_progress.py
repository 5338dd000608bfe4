"""Planned progress against progress: a stream exactly on schedule reads On Track (issue 18, item 5).

The rule (docs/semantics.md, "The figures"): a task counts as planned-done once its planned due time
has passed, as it counts as done only once it is done; neither side gives a task in progress a share.

The example plan, started on Monday 5 January 2026 09:00 Paris (Mon–Fri 09:00–17:00): stream B's two
agents each have four tasks of 20 working hours (T9–T12 for b1, T13–T16 for b2), 160h in all.
"""

import pytest

from tests.clock import paris

B = "stream-b-frontend"


def on_schedule(run):
    """Both of B's first tasks started at W0, cp-1 out of the way (the gates are not under test)."""
    run("validate --checkpoint cp-1 --force --reason 'not under test'")
    for task in ("T9", "T13"):
        run(f"task start {task}")


def stream(run, key):
    return next(s for s in run("status").body.streams if s.key == key)


def test_a_stream_on_schedule_in_the_middle_of_its_tasks_is_on_track(started):
    on_schedule(started)
    started.at(paris(7, 13))  # W20: both first tasks end at their planned due time
    for done, then in (("T9", "T10"), ("T13", "T14")):
        started(f"task done {done}")
        started(f"task start {then}")
    started.at(paris(8, 15))  # W30: T10 and T14 are half done, due at W40
    b = stream(started, B)
    # Done: T9, T13 = 40h of 160h. Planned done by W30: the tasks due by then, T9 and T13 (due W20) = 40h;
    # T10 and T14 (due W40) count only at W40. Pro rata they would add 2 × 10h: 60/160, 12.5 points behind.
    assert b.progress == pytest.approx(40 / 160)
    assert b.planned_progress == pytest.approx(40 / 160)
    assert b.status == "On Track"


def test_a_stream_whose_task_passed_its_due_time_unfinished_is_behind(started):
    on_schedule(started)
    started.at(paris(7, 13))  # W20
    started("task done T9")
    started("task start T10")
    started.at(paris(7, 14))  # W21: T13 (due W20) is 1h late, under the 2h threshold
    b = stream(started, B)
    # Done: T9 = 20h. Planned done: T9 and T13 = 40h: 12.5 points behind -> Delayed.
    assert b.progress == pytest.approx(20 / 160)
    assert b.planned_progress == pytest.approx(40 / 160)
    assert b.lateness_s == 3600
    assert b.status == "Delayed"
