"""reallocate: move an agent to another stream."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan, resolve_stream
from models.db.tables import Stream
from models.state.outcome import StateError
from models.state.tasks import move_agent
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="agent", required=True, metavar="AGENT", help="the agent to move")
    parser.add_argument("--to", dest="stream", required=True, metavar="STREAM", help="the stream it joins")
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Move an agent to another stream; its open tasks stay its own and are re-planned from now."""
    plan = resolve_plan(ctx, args.plan)
    agent = resolve_agent(ctx, plan, args.agent)
    target = resolve_stream(ctx, plan, args.stream)
    ctx.require_lead(plan, "reallocate an agent")
    origin = ctx.session.get_one(Stream, agent.stream_id)
    try:
        replanned = move_agent(ctx.session, plan, agent, target, now=ctx.now)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    return message(
        f"Moved {agent.key} ({agent.name}) from {origin.key} to {target.key}.",
        f"{replanned} open task(s) of its queue re-planned from now",
        announce=True,
        plan=plan.key,
    )


SPECS = [CommandSpec("reallocate", run, add_arguments, privileged="yes")]
