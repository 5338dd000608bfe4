"""Audit entries for what the bot does by itself (commands are audited by the dispatcher)."""

from datetime import datetime

from sqlmodel import Session

from models.db.tables import AuditEntry, Plan


def audit_automatic(session: Session, plan: Plan, *, actor: str, command: str, message: str, now: datetime) -> None:
    """An audit entry for a move the bot made by itself (no person, no front end)."""
    session.add(
        AuditEntry(
            at=now,
            plan_key=plan.key,
            actor=actor,
            actor_name=actor,
            source="scheduler",
            command=command,
            outcome="ok",
            message=message[:500],
        )
    )
