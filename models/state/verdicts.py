"""The leads' verdicts on success criteria that no metric judges: recorded, and the retrospective marked to
be drawn again where it was posted."""

from datetime import datetime

from sqlmodel import Session, col, select, update

from models.db.tables import CriterionVerdict, Plan, StoryPost, id_of

RETROSPECTIVE = "retrospective"  # the claim's action (models/rules/digest.py)


def record_verdict(
    session: Session, plan: Plan, stream: str, *, met: bool, by: str, slack_user: str | None, now: datetime
) -> CriterionVerdict | None:
    """Record (or change) a lead's verdict; the one it replaces, if any, is returned as it was."""
    verdict = session.exec(
        select(CriterionVerdict).where(CriterionVerdict.plan_id == plan.id, CriterionVerdict.stream == stream)
    ).first()
    before = None if verdict is None else verdict.model_copy()
    if verdict is None:
        verdict = CriterionVerdict(plan_id=id_of(plan), stream=stream, met=met, by=by, slack_user=slack_user, at=now)
    else:
        verdict.met, verdict.by, verdict.slack_user, verdict.at = met, by, slack_user, now
    session.add(verdict)
    session.exec(
        update(StoryPost)
        .where(col(StoryPost.plan_id) == id_of(plan), col(StoryPost.action) == RETROSPECTIVE)
        .values(redraw=True)
    )
    return before


def has_retrospective(session: Session, plan: Plan) -> bool:
    return (
        session.exec(
            select(StoryPost.id).where(StoryPost.plan_id == plan.id, StoryPost.action == RETROSPECTIVE)
        ).first()
        is not None
    )
