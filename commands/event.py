"""event: raise an event."""

import argparse

from commands.core.context import Context
from commands.core.grammar import CommandSpec, slug
from commands.core.lookup import add_plan_option, resolve_plan
from models.state.events import raise_event
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="e.g. api-endpoints-ready, critical-bug-found")
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Raise an event: coordination actions it triggers fire once and ready the tasks waiting for them."""
    plan = resolve_plan(ctx, args.plan)
    ctx.require_member(plan, "raise an event")  # who may, before anything they typed is read
    name = slug(args.name, "an event name", "api-endpoints-ready")
    outcome = raise_event(ctx.session, plan, name, now=ctx.now, source=ctx.front, actor=ctx.actor.id)
    return message(f"Event {name} raised.", *outcome.notes, announce=True, plan=plan.key)


SPECS = [CommandSpec("event", run, add_arguments)]
