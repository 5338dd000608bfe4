"""export: a plan's history over a range, as CSV or JSON, streamed (from the CLI and the API)."""

import argparse

from commands.core.context import Context
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan
from commands.report import add_range_arguments, date_range
from models.plan.settings import calendar_of
from models.views.exports import KINDS, plan_export
from models.views.reply import Reply

FRONTS = frozenset({"cli", "api"})  # a file of any size: Slack has `report`, whose CSV comes as a file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=KINDS, metavar="WHAT", help=f"what to export: {', '.join(KINDS)}")
    parser.add_argument(
        "plan", nargs="?", metavar="PLAN", help="the plan id (default: the channel's plan, else the only running plan)"
    )
    add_range_arguments(parser)
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (the default) or json")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Export tasks (their status history), answers, readings, alerts or the audit log of a range, as CSV or JSON.

    The rows are streamed from the store as they are written out: any range of any plan.
    """
    plan = resolve_plan(ctx, args.plan)
    first, last = date_range(args, ctx)
    export = plan_export(plan, args.what, first, last, args.format, calendar_of(plan).zone)
    return Reply(body=export, plan=plan.key)


SPECS = [CommandSpec("export", run, add_arguments, fronts=FRONTS, read_only=True)]
