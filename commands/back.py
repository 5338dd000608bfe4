"""back: end your time off (or, for a lead, an agent's)."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan
from commands.core.people import add_person_arguments, person_of
from models.state.outcome import StateError
from models.state.people import set_back
from models.views.reply import Reply, message


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Back from time off: prompts and work resume.

    A lead may say so for an agent with --agent.
    """
    plan = resolve_plan(ctx, args.plan)
    who = person_of(ctx, plan, args.agent, "back")
    try:
        set_back(ctx.session, plan, who, now=ctx.now)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    return message(f"{who} is back: prompts, reminders and new work resume.", announce=True, plan=plan.key)


SPECS = [CommandSpec("back", run, add_person_arguments, privileged="for another agent: yes")]
