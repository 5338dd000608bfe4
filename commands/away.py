"""away: time off for yourself (or, for a lead, for an agent)."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import MAX_REASON, CommandSpec, free_text
from commands.core.lookup import resolve_plan
from commands.core.people import add_person_arguments, local_date, person_of
from models.state.outcome import StateError
from models.state.people import set_away
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until", type=local_date, metavar="DATE", help="the last day away, YYYY-MM-DD (your zone)")
    parser.add_argument("--reason", type=free_text(MAX_REASON), metavar="TEXT", help="why, for the team")
    add_person_arguments(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Time off: you are away until `back` or --until.

    A lead may mark an agent away with --agent. While away: no prompts or reminders, not counted
    in health, new work goes to the backup, escalations go to the next lead, queued work is moved
    by load balancing.
    """
    plan = resolve_plan(ctx, args.plan)
    who = person_of(ctx, plan, args.agent, "away")
    try:
        set_away(ctx.session, plan, who, now=ctx.now, until=args.until, reason=args.reason, set_by=ctx.actor.id)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    until = f" through {args.until:%a %d %b %Y}" if args.until else " until `back`"
    why = f" ({args.reason})" if args.reason else ""
    return message(
        f"{who} is away{until}{why}: no prompts or reminders, not counted in health, new work goes to the backup.",
        announce=True,
        plan=plan.key,
    )


SPECS = [CommandSpec("away", run, add_arguments, privileged="for another agent: yes")]
