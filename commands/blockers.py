"""blockers: the blockers named in sync answers, open ones first, with their age; `blockers close B1`."""

import argparse

from sqlmodel import select

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec, count, free_text
from commands.core.lookup import add_plan_option, resolve_plan
from models.db.tables import Agent, Blocker, Plan
from models.state.blockers import close_blocker, working_days
from models.views.blockers import blocker_lines
from models.views.reply import Reply, Table, message

LIST_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="the open blockers, then the latest closed (the default)")
    listing.add_argument("--all", action="store_true", help="closed ones too")
    listing.add_argument(
        "--limit", type=count(1, 500), default=LIST_LIMIT, metavar="N", help=f"at most N rows ({LIST_LIMIT})"
    )
    add_plan_option(listing)
    closing = actions.add_parser("close", help="close a blocker: it no longer holds anything up")
    closing.add_argument("blocker", metavar="BLOCKER", help="the blocker's id (B1)")
    closing.add_argument("--reason", type=free_text(500), metavar="TEXT", help="what lifted it")
    add_plan_option(closing)
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        default=argparse.SUPPRESS,
        help="the plan (default: the channel's plan, else the only running plan)",
    )


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Blockers named in sync answers: `blockers` lists the open ones with their age, `blockers close B1` closes one.

    A blocker is reminded to its owner each working day it stays open and told to the leads after the plan's
    `blocker-escalation-days`; it closes when its task moves on, or when its owner (or a lead) closes it.
    """
    plan = resolve_plan(ctx, getattr(args, "plan", None))
    if args.action == "close":
        return _close(args, ctx, plan)
    return _list(ctx, plan, getattr(args, "all", False), getattr(args, "limit", LIST_LIMIT))


def _close(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    key = args.blocker.upper()
    blocker = ctx.session.exec(select(Blocker).where(Blocker.plan_id == plan.id, Blocker.key == key)).first()
    if blocker is None:
        raise CommandError(f"no blocker {args.blocker!r} in {plan.key}: `blockers` lists them (B1, B2…)")
    owner = ctx.session.get_one(Agent, blocker.agent_id)
    ctx.require_lead_or_owner(plan, owner, f"close {owner.key}'s blocker")
    if blocker.closed_at is not None:
        raise CommandError(f"{blocker.key} was closed already ({blocker.close_reason}, by {blocker.closed_by})")
    reason = args.reason or f"closed by {ctx.actor.name}"
    close_blocker(ctx.session, blocker, by=ctx.actor.name, reason=reason, now=ctx.now)
    return message(
        f"Closed blocker {blocker.key} of {owner.key}: “{blocker.text}”.", reason, announce=True, plan=plan.key
    )


def _list(ctx: Context, plan: Plan, everything: bool, limit: int) -> Reply:
    lines, total = blocker_lines(ctx.session, plan, ctx.now, everything=everything, limit=limit)
    return Reply(
        body=Table(
            title=f"Blockers of {plan.key}" + ("" if everything else " (open)"),
            columns=["Blocker", "Owner", "Task", "What", "Named", "Age", "State"],
            rows=[[b.key, b.owner, b.task or "", b.text, b.named, working_days(b.age_days), b.state] for b in lines],
            total=total or 0,
            empty="no open blocker: none was named in a sync answer, or all are closed",
        ),
        plan=plan.key,
    )


SPECS = [
    CommandSpec(
        "blockers", run, add_arguments, privileged="close: the owner or a lead", read_only=lambda a: a.action != "close"
    )
]
