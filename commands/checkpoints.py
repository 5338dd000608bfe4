"""The checklist of a checkpoint, shared by `validate` and `sync --checkpoint`."""

from sqlmodel import select

from commands.reply import Checklist
from models.figures import checkpoint_due
from models.lifecycle import calendar_of
from models.tables import Checkpoint, Criterion, Plan


def criteria_of(session, checkpoint: Checkpoint) -> list[Criterion]:
    return list(session.exec(
        select(Criterion).where(Criterion.checkpoint_id == checkpoint.id).order_by(Criterion.position)
    ))


def checklist(session, plan: Plan, checkpoint: Checkpoint, note: str | None = None) -> Checklist:
    due = checkpoint_due(plan, checkpoint.day, calendar_of(plan))
    return Checklist(
        plan=plan.key, checkpoint=checkpoint.key, name=checkpoint.name, day=checkpoint.day,
        due=due.strftime("%a %d %b %H:%M %Z") if due else None, blocker=checkpoint.blocker,
        passed=checkpoint.passed_at is not None, passed_by=checkpoint.passed_by, forced=checkpoint.forced,
        force_reason=checkpoint.force_reason,
        criteria=[(c.position, c.text, c.met_at is not None, c.met_by) for c in criteria_of(session, checkpoint)],
        note=note,
    )
