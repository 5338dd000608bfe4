"""status / dashboard: progress, streams, counts, elapsed and ETA, metrics against targets."""

import argparse

from commands.core.context import Context
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan
from models.views.dashboard import dashboard
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "plan", nargs="?", metavar="PLAN", help="the plan id (default: the channel's plan, else the only running plan)"
    )


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Show the dashboard: progress, streams, task counts, elapsed/ETA, metrics against targets."""
    plan = resolve_plan(ctx, args.plan)
    return Reply(body=dashboard(ctx.session, plan, ctx.now), plan=plan.key)


SPECS = [CommandSpec("status", run, add_arguments, aliases=("dashboard",), read_only=True)]
