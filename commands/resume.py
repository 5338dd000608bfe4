"""resume: resume a paused stream."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan, resolve_stream
from commands.pause import add_stream_arguments, stream_name
from models.state.events import raise_event
from models.state.outcome import StateError
from models.state.streams import resume_stream
from models.views.reply import Reply, message


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Resume a paused stream; the time it spent paused does not count as delay."""
    name = stream_name(args, "resume")
    plan = resolve_plan(ctx, args.plan)
    stream = resolve_stream(ctx, plan, name)
    ctx.require_lead(plan, "resume a stream")
    try:
        resume_stream(ctx.session, stream, plan, now=ctx.now)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    ctx.session.add(stream)
    raise_event(
        ctx.session,
        plan,
        "stream-resumed",
        now=ctx.now,
        source=ctx.front,
        actor=ctx.actor.id,
        detail={"stream": stream.key},
    )
    return message(f"Resumed {stream.key}.", announce=True, plan=plan.key)


SPECS = [CommandSpec("resume", run, add_stream_arguments, privileged="yes")]
