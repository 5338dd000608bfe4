"""event: raise an event."""

import re

from commands.context import Context
from commands.errors import UsageError
from commands.grammar import CommandSpec
from commands.reply import Reply, message
from commands.resolve import add_plan_option, resolve_plan
from models.lifecycle import raise_event

NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="NAME", help="e.g. api-endpoints-ready, critical-bug-found")
    add_plan_option(parser)


def run(args, ctx: Context) -> Reply:
    """Raise an event: coordination actions it triggers fire once and ready the tasks waiting for them."""
    name = args.name.lower()
    if not NAME.match(name):
        raise UsageError(f"{args.name!r} is not an event name: use letters, digits and dashes, e.g. api-endpoints-ready")
    plan = resolve_plan(ctx, args.plan)
    ctx.require_member(plan, "raise an event")
    outcome = raise_event(ctx.session, plan, name, now=ctx.now, source=ctx.front, actor=ctx.actor.id)
    return message(f"Event {name} raised.", *outcome.notes, announce=True, plan=plan.key)


SPECS = [CommandSpec("event", run, add_arguments)]
