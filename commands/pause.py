"""pause: pause a stream."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError, UsageError
from commands.core.grammar import MAX_REASON, CommandSpec, free_text
from commands.core.lookup import add_plan_option, resolve_plan, resolve_stream
from models.state.events import raise_event
from models.state.outcome import StateError
from models.state.streams import pause_stream
from models.views.reply import Reply, message


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stream", nargs="?", metavar="STREAM", help="stream id or unique prefix")
    parser.add_argument("--stream", dest="stream_option", metavar="STREAM", help="the same, as an option")
    add_plan_option(parser)


def stream_name(args: argparse.Namespace, verb: str) -> str:
    if args.stream and args.stream_option and args.stream != args.stream_option:
        raise UsageError(f"name one stream to {verb}, not two ({args.stream!r} and {args.stream_option!r})")
    name: str | None = args.stream or args.stream_option
    if not name:
        raise UsageError(f"name the stream to {verb}: `{verb} stream-b` or `{verb} --stream stream-b`")
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stream_arguments(parser)
    parser.add_argument(
        "--reason", type=free_text(MAX_REASON), metavar="TEXT", help="why, for the team and the audit log"
    )


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Pause a stream: its agents get no prompts, its clocks stop, none of its tasks can start."""
    name = stream_name(args, "pause")
    plan = resolve_plan(ctx, args.plan)
    stream = resolve_stream(ctx, plan, name)
    ctx.require_lead(plan, "pause a stream")
    try:
        pause_stream(ctx.session, stream, plan, now=ctx.now, reason=args.reason)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    ctx.session.add(stream)
    raise_event(
        ctx.session,
        plan,
        "stream-paused",
        now=ctx.now,
        source=ctx.front,
        actor=ctx.actor.id,
        detail={"stream": stream.key, "reason": args.reason},
    )
    why = f": {args.reason}" if args.reason else ""
    return message(
        f"Paused {stream.key}{why}. Its clocks are stopped until `resume {stream.key}`.", announce=True, plan=plan.key
    )


SPECS = [CommandSpec("pause", run, add_arguments, privileged="yes")]
