"""resume: resume a paused stream."""

from commands.context import Context
from commands.errors import CommandError
from commands.grammar import CommandSpec
from commands.pause import add_stream_arguments, stream_name
from commands.reply import Reply, message
from commands.resolve import resolve_plan, resolve_stream
from models.lifecycle import StateError, raise_event, resume_stream


def run(args, ctx: Context) -> Reply:
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
    raise_event(ctx.session, plan, "stream-resumed", now=ctx.now, source=ctx.front, actor=ctx.actor.id,
                detail={"stream": stream.key})
    return message(f"Resumed {stream.key}.", announce=True, plan=plan.key)


SPECS = [CommandSpec("resume", run, add_stream_arguments, privileged="yes")]
