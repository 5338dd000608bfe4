"""report: a plan's history over a range of days, for the whole plan, one stream or one agent."""

import argparse
import re
from datetime import date

from commands.core.context import Context
from commands.core.errors import UsageError
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_agent, resolve_plan, resolve_stream
from models.views.reply import Document, Reply
from models.views.report import Scope, as_csv, default_range, report

FORMATS = ("text", "csv", "json")


def day(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it YYYY-MM-DD, e.g. 2026-01-05")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no day of the calendar: write e.g. 2026-01-05") from None


day.__name__ = "date"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "plan", nargs="?", metavar="PLAN", help="the plan id (default: the channel's plan, else the only running plan)"
    )
    add_range_arguments(parser)
    parser.add_argument("--stream", metavar="S", help="only this stream's tasks, people and moves")
    parser.add_argument("--agent", metavar="A", help="only this agent's tasks, syncs and moves")
    parser.add_argument("--format", choices=FORMATS, default="text", help="text (the default), csv or json")


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="first",
        type=day,
        metavar="DATE",
        help="the first day, in the plan's timezone (default: its start)",
    )
    parser.add_argument("--to", dest="last", type=day, metavar="DATE", help="the last day, included (default: today)")


def date_range(args: argparse.Namespace, ctx: Context) -> tuple[date, date]:
    """The range the arguments name, the plan so far filling what they leave out; refused when it runs backwards."""
    assert ctx.plan is not None
    first, last = default_range(ctx.plan, ctx.now)
    first, last = args.first or first, args.last or last
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}: give the earlier day first")
    return first, last


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Report on a range of days: tasks done, reopened and blocked, burn-up, throughput and lateness, gates,
    sync participation, metrics against targets, load-balancing moves, alerts and time to acknowledge.

    In Slack the summary comes with the burn-up chart and the full report as a CSV file.
    """
    plan = resolve_plan(ctx, args.plan)
    if args.stream and args.agent:
        raise UsageError("give --stream or --agent, not both: an agent's report is within its stream")
    first, last = date_range(args, ctx)
    scope = Scope(
        plan,
        stream=resolve_stream(ctx, plan, args.stream) if args.stream else None,
        agent=resolve_agent(ctx, plan, args.agent) if args.agent else None,
    )
    body = report(ctx.session, scope, first, last, ctx.now)
    name = f"{plan.key}-report-{first}-{last}" + (f"-{body.stream or body.agent}" if body.stream or body.agent else "")
    if args.format == "csv":
        return Reply(
            body=Document(title=body.title, filename=f"{name}.csv", media_type="text/csv", content=as_csv(body)),
            plan=plan.key,
        )
    if args.format == "json":
        content = body.model_dump_json(indent=2)
        doc = Document(title=body.title, filename=f"{name}.json", media_type="application/json", content=content)
        return Reply(body=doc, plan=plan.key)
    return Reply(body=body, plan=plan.key)


SPECS = [CommandSpec("report", run, add_arguments, read_only=True)]
