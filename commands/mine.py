"""mine: what is yours — the plans you lead, your own tasks, today's syncs waiting for your answer."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError, UsageError
from commands.core.grammar import CommandSpec, count
from models.views.mine import my_work
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="PLAN", help="with --agent and --from: whose tasks to page")
    parser.add_argument("--agent", metavar="A", help="with --from: the agent (you) whose tasks to page")
    parser.add_argument("--from", dest="start", type=count(0, 10**9), metavar="N", help="show tasks from the Nth")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """What is yours (the Home tab): the plans you lead, your tasks (current, blocked, next), today's
    syncs waiting for you; if none, the plans there are and whom to ask to join one."""
    if ctx.actor.slack_user is None:
        raise CommandError(
            "mine shows a Slack user's own plans, tasks and syncs: run `/orchestrate mine` in Slack;"
            " here, `plan list` and `task list --agent A`"
        )
    if args.start is not None and not (args.plan and args.agent):
        raise UsageError("--from pages one agent's tasks: name them, e.g. mine --plan P --agent dev --from 6")
    page = (args.plan, args.agent, args.start) if args.start is not None else None
    return Reply(body=my_work(ctx.session, ctx.actor.slack_user, now=ctx.now, page=page))


SPECS = [CommandSpec("mine", run, add_arguments, read_only=True)]
