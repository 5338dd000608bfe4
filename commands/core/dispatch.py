"""Running a command: parse, run in one transaction, audit, answer.

Every front end calls ``execute``. A refused command rolls back whatever it
had begun, so it changes nothing; its audit entry is then written on its own.
An unexpected exception is logged with a reference number, and the user gets
a short message with that number, never a traceback.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from commands.core.context import Actor, Context
from commands.core.errors import CommandError, UsageError
from commands.core.grammar import Parsed
from commands.core.registry import grammar, parse
from models.db.tables import AuditEntry
from models.db.types import utcnow
from models.rules.reactions import react
from models.views.reply import Reply

log = logging.getLogger(__name__)


class InternalError(Exception):
    """A bug: the message is safe to show, the details are in the log."""


@dataclass(frozen=True)
class Invocation:
    """Where a command comes from, as the front end knows it."""

    actor: Actor
    front: str = "cli"
    channel: str | None = None
    channel_names: tuple[str, ...] = ()
    # Whether a file path in the command names a file the caller may have read on the bot's machine:
    # the operator's CLI and API yes; a Slack user, who has no access to that machine, no.
    reads_files: bool = True


def execute(engine: Engine, tokens: list[str], how: Invocation, *, now: datetime | None = None) -> Reply:
    now = now or utcnow()
    try:
        parsed = parse(tokens, how.front)
    except UsageError as exc:
        _audit_alone(engine, how, " ".join(tokens), None, "usage", exc.message, now)
        raise
    return run_parsed(engine, parsed, how, now=now)


def run_parsed(engine: Engine, parsed: Parsed, how: Invocation, *, now: datetime) -> Reply:
    with Session(engine, expire_on_commit=False) as session:
        ctx = Context(
            session=session,
            actor=how.actor,
            now=now,
            front=how.front,
            channel=how.channel,
            channel_names=how.channel_names,
            grammar=grammar(how.front),
            reads_files=how.reads_files,
        )
        try:
            reply = parsed.spec.run(parsed.args, ctx)
            if parsed.spec.privileged == "yes" and not ctx.permission_checked:
                raise RuntimeError(f"privileged command {parsed.spec.name} did not check permissions")
            reply = reply.with_notes(react(session, now))
            session.add(_entry(how, parsed.text, ctx, "ok", _summary(reply), now))
            session.commit()
            return reply
        except CommandError as exc:
            session.rollback()
            plan_key = ctx.plan.key if ctx.plan is not None else None
            outcome = "refused" if not isinstance(exc, UsageError) else "usage"
            _audit_alone(engine, how, parsed.text, plan_key, outcome, exc.message, now)
            raise
        except Exception as exc:
            session.rollback()
            ref = _audit_alone(engine, how, parsed.text, None, "error", type(exc).__name__, now)
            log.exception("command failed (audit #%s): %s", ref, parsed.text)
            where = (
                f"It is logged as audit #{ref}."
                if ref is not None
                else "The store did not take the audit entry either; the server's log has it."
            )
            raise InternalError(
                f"something went wrong on our side running `{parsed.spec.name}`; nothing was changed. {where}"
            ) from exc


def _entry(
    how: Invocation,
    text: str,
    ctx: Context | None,
    outcome: str,
    message: str | None,
    now: datetime,
    plan_key: str | None = None,
) -> AuditEntry:
    plan = ctx.plan if ctx is not None else None
    where = how.front + (f":{how.channel}" if how.channel else "")
    return AuditEntry(
        at=now,
        plan_key=plan.key if plan is not None else plan_key,
        actor=how.actor.id,
        actor_name=how.actor.name,
        source=where[:20],
        command=text,
        outcome=outcome,
        message=(message or "")[:500] or None,
    )


def _audit_alone(
    engine: Engine, how: Invocation, text: str, plan_key: str | None, outcome: str, message: str, now: datetime
) -> int | None:
    try:
        with Session(engine) as session:
            entry = _entry(how, text, None, outcome, message, now, plan_key)
            session.add(entry)
            session.commit()
            return entry.id
    except Exception:  # the audit must never turn a refusal into a crash
        log.exception("could not write the audit entry for %r", text)
        return None


def _summary(reply: Reply) -> str | None:
    body = reply.body
    return getattr(body, "text", None) or getattr(body, "title", None) or body.kind
