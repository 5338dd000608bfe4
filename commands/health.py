"""health: the agent status monitor."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan
from models.db.tables import id_of
from models.views.agents import AGENTS_PER_PAGE, agent_page
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agents",
        nargs="+",
        default=["all"],
        metavar="AGENT",
        help="`all` (the default) or agent ids / unique prefixes",
    )
    parser.add_argument(
        "--page",
        type=int,
        default=1,
        metavar="N",
        help=f"the page of agents to show, {AGENTS_PER_PAGE} a page (default: the first); a summary counts them all",
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Show the agent monitor: a summary of every agent's status, then status, current task and health of a page."""
    plan = resolve_plan(ctx, args.plan)
    only = None
    if args.agents != ["all"]:
        only = [id_of(resolve_agent(ctx, plan, name)) for name in args.agents if name != "all"]
    if args.page < 1:
        raise CommandError(f"--page {args.page}: pages count from 1 (`health --page 1` is the first)")
    monitor = agent_page(ctx.session, plan, ctx.now, args.page, only=only)
    if args.page > monitor.pages:
        raise CommandError(
            f"--page {args.page}: there {'is' if monitor.pages == 1 else 'are'} {monitor.pages} page(s) of "
            f"{monitor.total} agent(s); `health --page {monitor.pages}` is the last"
        )
    return Reply(body=monitor, plan=plan.key)


SPECS = [CommandSpec("health", run, add_arguments, read_only=True)]
