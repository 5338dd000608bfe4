"""Running a command: parse, run in one transaction, audit, answer.

Every front end calls ``execute``, for every change of state (sync answers and
heartbeats included). A refused command rolls back whatever it had begun, so it
changes nothing; its audit entry is then written on its own. An unexpected
exception is logged with a reference number, and the user gets a short message
with that number, never a traceback.

A request that carries its source's id (Slack's ``event_id``) is recorded in the
same transaction under a unique key, so a retry of it changes nothing twice. A read
is computed outside the writers' turn and audited in a short write after.
A front end may run a read-only command for itself (drawing the Home tab, filling
a form) without an audit entry: that is a view, not a command someone gave.
"""

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from commands.core.context import Actor, Context
from commands.core.errors import AlreadyHandled, CommandError, IdempotencyConflict, Unaddressed, UsageError
from commands.core.grammar import Parsed
from commands.core.registry import grammar, parse
from models.db.store import one_writer
from models.db.tables import AuditEntry, IdempotentRequest
from models.db.types import utcnow
from models.plan.settings import settings_of
from models.rules.reactions import react
from models.state.requests import claim_idempotency_key, fingerprint, first_time, keep_answer
from models.views.reply import Reply, reply_from_json

log = logging.getLogger(__name__)

MAX_AUDITED_TEXT = 1000  # characters of a command's text kept in its audit entry (and its log line: 200)


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
    # The request's id at its source (Slack's event_id, or the hash of a signed request's signature):
    # a change of state under the same id again is AlreadyHandled (models.state.requests).
    request_id: str | None = None
    # An API write's Idempotency-Key: the same key again gets the first answer, and changes nothing twice.
    idempotency_key: str | None = None


def execute(
    engine: Engine,
    tokens: list[str],
    how: Invocation,
    *,
    now: datetime | None = None,
    audited: bool = True,
    rehearsal: bool = False,
) -> Reply:
    """Run a command. ``audited=False``: a read-only command a front end runs for itself (a view).

    ``rehearsal=True``: run it all, permission checks included, then roll everything back: what a
    front end does before it asks for a confirmation, so that a refusal comes at once and no modal
    opens for a command that would be refused. A refusal is audited as any; a success is not (the
    confirmed run will be)."""
    now = now or utcnow()
    try:
        parsed = parse(tokens, how.front)
    except UsageError as exc:
        if audited:
            _audit_alone(engine, how, " ".join(tokens), None, "usage", exc.message, now)
        raise
    if not audited:
        if not parsed.spec.is_read_only(parsed.args):
            raise RuntimeError(f"{parsed.spec.name} changes state: it cannot run unaudited")
        return _view(engine, parsed, how, now=now)
    return run_parsed(engine, parsed, how, now=now, rehearsal=rehearsal)


def _context(session: Session, how: Invocation, now: datetime) -> Context:
    return Context(
        session=session,
        actor=how.actor,
        now=now,
        front=how.front,
        channel=how.channel,
        channel_names=how.channel_names,
        grammar=grammar(how.front),
        reads_files=how.reads_files,
    )


def _view(engine: Engine, parsed: Parsed, how: Invocation, *, now: datetime) -> Reply:
    with Session(engine, expire_on_commit=False) as session:
        try:
            return parsed.spec.run(parsed.args, _context(session, how, now))
        finally:
            session.rollback()  # a view writes nothing


def run_parsed(engine: Engine, parsed: Parsed, how: Invocation, *, now: datetime, rehearsal: bool = False) -> Reply:
    # A read (status, health…) is computed outside the process's turn to write, and its audit
    # entry is written after, in a short write of its own: on SQLite a read held the one
    # writer's lock for its whole computation, and 16 readers queued behind it (issue 21).
    read_only = parsed.spec.is_read_only(parsed.args)
    with nullcontext() if read_only else one_writer(engine), Session(engine, expire_on_commit=False) as session:
        ctx = _context(session, how, now)
        try:
            # A change of state is recorded under the request's id: the same request again (a retry, a replay
            # to another replica) changes nothing. What only reads may be answered twice.
            if not read_only and how.request_id is not None and not first_time(session, how.request_id, now=now):
                raise AlreadyHandled(f"request {how.request_id} was handled already")
            key = _idempotency_key(how) if not read_only and not rehearsal else None
            if key is not None:
                earlier = claim_idempotency_key(session, key, parsed.text, now=now)
                if earlier is not None:
                    return _replay(engine, session, how, parsed, ctx, earlier, now)
            reply = parsed.spec.run(parsed.args, ctx)
            if parsed.spec.privileged == "yes" and not ctx.permission_checked:
                raise RuntimeError(f"privileged command {parsed.spec.name} did not check permissions")
            if rehearsal:  # run to see whether it would be refused, then undone
                session.rollback()
                return reply
            if read_only:
                entry = _entry(how, parsed.text, ctx, "ok", _summary(reply), now)
                session.rollback()  # it read only
                _audit_read(engine, entry)
                return reply
            reply = reply.with_notes(react(session, now))
            if reply.announce and ctx.plan is not None:
                reply = reply.model_copy(update={"announce_in": settings_of(ctx.plan).channel})
            if key is not None:
                keep_answer(session, key, reply.model_dump(mode="json"))
            session.add(_entry(how, parsed.text, ctx, "ok", _summary(reply), now))
            session.commit()
            return reply
        except (Unaddressed, AlreadyHandled):
            session.rollback()  # not a command anyone gave (again): nothing to audit
            raise
        except CommandError as exc:
            session.rollback()
            plan_key = ctx.plan.key if ctx.plan is not None else None
            outcome = "refused" if not isinstance(exc, UsageError) else "usage"
            _audit_alone(engine, how, parsed.text, plan_key, outcome, exc.message, now)
            raise
        except Exception as exc:
            session.rollback()
            ref = _audit_alone(engine, how, parsed.text, None, "error", type(exc).__name__, now)
            log.exception("command failed (audit #%s): %.200s", ref, parsed.text)
            where = (
                f"It is logged as audit #{ref}."
                if ref is not None
                else "The store did not take the audit entry either; the server's log has it."
            )
            raise InternalError(
                f"something went wrong on our side running `{parsed.spec.name}`; nothing was changed. {where}"
            ) from exc


def _idempotency_key(how: Invocation) -> str | None:
    """The key as stored: scoped to who sent it, so that two clients' keys never meet."""
    if how.idempotency_key is None:
        return None
    return f"{how.actor.id}\n{how.idempotency_key}"[:250]


def _replay(
    engine: Engine,
    session: Session,
    how: Invocation,
    parsed: Parsed,
    ctx: Context,
    earlier: IdempotentRequest,
    now: datetime,
) -> Reply:
    """The answer a request with this Idempotency-Key got the first time; refused if it asked something else."""
    session.rollback()  # the claim found the key taken: nothing of this transaction is kept
    if earlier.fingerprint != fingerprint(parsed.text):
        raise IdempotencyConflict(
            f"Idempotency-Key {how.idempotency_key!r} was used for another request "
            f"(at {earlier.at:%Y-%m-%d %H:%M:%S} UTC); a retry must send the same request, a new request a new key"
        )
    if not earlier.answer:  # the first is still running (cannot be seen from another transaction)
        raise IdempotencyConflict(
            f"Idempotency-Key {how.idempotency_key!r}: the first request with it is still running; try again",
            mismatch=False,
        )
    reply = reply_from_json(earlier.answer)
    _audit_read(engine, _entry(how, parsed.text, ctx, "ok", f"replayed (Idempotency-Key): {_summary(reply)}", now))
    return reply


def audit_refusal(engine: Engine, how: Invocation, text: str, message: str, plan_key: str | None = None) -> None:
    """A request a front end refused before any command ran (an agent's token on an operator's route)."""
    _audit_alone(engine, how, text, plan_key, "refused", message, utcnow())


def _audit_read(engine: Engine, entry: AuditEntry) -> None:
    """A read's audit entry, in a short write of its own."""
    with one_writer(engine), Session(engine) as session:
        session.add(entry)
        session.commit()


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
        command=text if len(text) <= MAX_AUDITED_TEXT else text[: MAX_AUDITED_TEXT - 1] + "…",
        outcome=outcome,
        message=(message or "")[:500] or None,
    )


def _audit_alone(
    engine: Engine, how: Invocation, text: str, plan_key: str | None, outcome: str, message: str, now: datetime
) -> int | None:
    try:
        with one_writer(engine), Session(engine) as session:
            entry = _entry(how, text, None, outcome, message, now, plan_key)
            session.add(entry)
            session.commit()
            return entry.id
    except Exception:  # the audit must never turn a refusal into a crash
        log.exception("could not write the audit entry for %.200r", text)
        return None


def _summary(reply: Reply) -> str | None:
    body = reply.body
    return getattr(body, "text", None) or getattr(body, "title", None) or body.kind
