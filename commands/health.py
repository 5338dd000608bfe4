"""health: the agent status monitor."""

import argparse

from commands.core.context import Context
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan
from models.db.tables import id_of
from models.views.agents import agent_monitor
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agents",
        nargs="+",
        default=["all"],
        metavar="AGENT",
        help="`all` (the default) or agent ids / unique prefixes",
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Show the agent monitor: status, current task and health of each agent."""
    plan = resolve_plan(ctx, args.plan)
    only = None
    if args.agents != ["all"]:
        only = [id_of(resolve_agent(ctx, plan, name)) for name in args.agents if name != "all"]
    return Reply(body=agent_monitor(ctx.session, plan, ctx.now, only=only), plan=plan.key)


SPECS = [CommandSpec("health", run, add_arguments, read_only=True)]
