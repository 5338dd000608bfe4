"""start: begin a plan's run, or resume a stopped one."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan
from models.plan.settings import settings_of
from models.state.outcome import StateError
from models.state.plans import start_plan
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", nargs="?", metavar="PLAN", help="the plan id (default: the only plan)")
    parser.add_argument("--parallel", action="store_true", help="run all streams at once (the plan's mode)")
    parser.add_argument(
        "--monitor", action="store_true", help="continuous monitoring: triggers and load balancing on every tick"
    )
    parser.add_argument(
        "--safe", action="store_true", help="safety on: blocker checkpoints hold the tasks due after them"
    )


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Start a plan, or resume a stopped one.

    The flags confirm the plan's `orchestration` settings for this run; left
    out, the plan file's own settings apply. Resuming restarts the streams
    the stop halted; streams a person paused stay paused.
    """
    plan = resolve_plan(ctx, args.plan)
    ctx.require_lead(plan, "start a plan")
    settings = settings_of(plan).orchestration
    options = {
        "mode": "parallel" if getattr(args, "parallel", False) else settings.mode,
        "monitoring": "continuous" if getattr(args, "monitor", False) else settings.monitoring,
        "safety": "enabled" if getattr(args, "safe", False) else settings.safety,
    }
    try:
        what = start_plan(ctx.session, plan, now=ctx.now, options=options)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    ctx.session.flush()
    return message(
        f"{what.capitalize()} {plan.key} ({plan.title}): streams in {options['mode']}, "
        f"monitoring {options['monitoring']}, safety {options['safety']}.",
        announce=True,
        plan=plan.key,
    )


SPECS = [CommandSpec("start", run, add_arguments, privileged="yes")]
