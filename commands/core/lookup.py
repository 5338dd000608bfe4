"""Naming things: by id or unique prefix, never ambiguously.

``stream-b`` names ``stream-b-frontend`` when no other stream starts with it;
an ambiguous or unknown name is an error that lists the candidates. Lookups
are SQL (exact, then prefix with a limit), so naming one task among tens of
thousands reads a handful of rows.
"""

import argparse
import re
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.errors import CommandError, UsageError, brief
from models.db.tables import Agent, Alert, Checkpoint, Move, Plan, Stream, Task
from models.plan.schema import MAX_KEY_LENGTH

_SHOWN = 10

# What can be named by its key.
_Named = TypeVar("_Named", Plan, Stream, Agent, Checkpoint, Task, Move)


def _pick(ctx: Context, model: type[_Named], what: str, name: str, *scope: ColumnElement[bool] | bool) -> _Named:
    if len(name) > MAX_KEY_LENGTH:  # no id is that long: refused before it reaches the store
        raise UsageError(f"{what} {brief(name)} is no {what} id: ids are at most {MAX_KEY_LENGTH} characters long")
    base = select(model).where(*scope)
    if hasattr(model, "archived"):
        base = base.where(col(model.archived).is_(False))
    exact = ctx.session.exec(base.where(model.key == name)).first()
    if exact is not None:
        return exact
    lowered = name.lower()
    matches = ctx.session.exec(
        base.where(func.lower(model.key).startswith(lowered, autoescape=True))
        .order_by(*_plan_order(model))
        .limit(_SHOWN + 1)
    ).all()
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = _listing([m.key for m in matches])
        raise CommandError(f"{what} {name!r} is ambiguous: it could be {listed}; type more of the id")
    known = ctx.session.exec(select(model.key).where(*scope).order_by(*_plan_order(model)).limit(_SHOWN + 1)).all()
    listed = _listing(list(known)) if known else "none yet"
    raise CommandError(f"unknown {what} {name!r}; known: {listed}")


def _plan_order(model: type[_Named]) -> tuple[Any, ...]:
    """Candidates in the order people count them: numbered ids (T1, M3) as numbers, T2 before T10;
    streams, agents and checkpoints as the plan lists them; plans by name."""
    if model in (Task, Move):
        return (func.length(model.key), col(model.key))
    listed = {Stream: Stream.position, Agent: Agent.position, Checkpoint: Checkpoint.position}.get(model)
    if listed is not None:
        return (col(listed), col(model.id))
    return (col(model.key),)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (", …" if len(keys) > _SHOWN else "")


def resolve_plan(ctx: Context, name: str | None) -> Plan:
    """The named plan; else the one bound to this channel; else the only running (or only) plan."""
    plan = _pick(ctx, Plan, "plan", name) if name else _implicit_plan(ctx)
    ctx.plan = plan
    return plan


def _implicit_plan(ctx: Context) -> Plan:
    if ctx.channel_names:
        bound = ctx.session.exec(select(Plan).where(col(Plan.channel).in_(ctx.channel_names))).all()
        if len(bound) == 1:
            return bound[0]
    for where in (Plan.status == "running", col(Plan.id).is_not(None)):
        found = ctx.session.exec(select(Plan).where(where).order_by(col(Plan.key)).limit(_SHOWN + 1)).all()
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CommandError(f"which plan? name it with --plan (plans: {_listing([p.key for p in found])})")
    raise CommandError("no plan is loaded yet: `orchestrate plan load FILE` loads one")


def resolve_stream(ctx: Context, plan: Plan, name: str) -> Stream:
    return _pick(ctx, Stream, "stream", name, Stream.plan_id == plan.id)


def resolve_agent(ctx: Context, plan: Plan, name: str) -> Agent:
    return _pick(ctx, Agent, "agent", name, Agent.plan_id == plan.id)


def resolve_checkpoint(ctx: Context, plan: Plan, name: str) -> Checkpoint:
    return _pick(ctx, Checkpoint, "checkpoint", name, Checkpoint.plan_id == plan.id)


def resolve_task(ctx: Context, plan: Plan, name: str) -> Task:
    return _pick(ctx, Task, "task", name, Task.plan_id == plan.id)


def add_plan_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", metavar="PLAN", help="the plan (default: the channel's plan, else the only running plan)"
    )


def resolve_move(ctx: Context, plan: Plan, name: str) -> Move:
    return _pick(ctx, Move, "move", name.upper(), Move.plan_id == plan.id)


def add_alert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert", metavar="ALERT", help="the alert number, as `alerts` shows it (e.g. 12 or #12)")
    add_plan_option(parser)


def resolve_alert(ctx: Context, plan_name: str | None, name: str) -> tuple[Plan, Alert]:
    """An alert by its number (`12` or `#12`); numbers are unique across plans, so the plan is the alert's own
    unless --plan names one (then the alert must be of that plan)."""
    text = name.lstrip("#")
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise UsageError(f"{brief(name)} is not an alert number: `alerts` lists them (e.g. #12)")
    alert = ctx.session.get(Alert, int(text))
    if plan_name is None and alert is not None:
        plan = ctx.session.get_one(Plan, alert.plan_id)
        ctx.plan = plan
        return plan, alert
    plan = resolve_plan(ctx, plan_name)
    if alert is None or alert.plan_id != plan.id:
        raise CommandError(f"no alert #{text} in {plan.key}: `alerts` lists them")
    return plan, alert
