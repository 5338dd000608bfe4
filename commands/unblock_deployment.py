"""unblock-deployment: a lead lifts a deployment block."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import MAX_REASON, CommandSpec, free_text
from commands.core.lookup import add_plan_option, resolve_plan
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason", required=True, type=free_text(MAX_REASON), metavar="TEXT", help="why it is safe to deploy"
    )
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Lift the deployment block a risk trigger set (it blocks again only once its condition clears and recurs)."""
    plan = resolve_plan(ctx, args.plan)
    ctx.require_lead(plan, "lift a deployment block")
    if not plan.deployment_blocked:
        raise CommandError(f"deployment of {plan.key} is not blocked")
    was = plan.deployment_blocked
    plan.deployment_blocked = None
    ctx.session.add(plan)
    return message(
        f"Deployment of {plan.key} unblocked by {ctx.actor.name}: {args.reason}",
        f"it was blocked by: {was}",
        announce=True,
        plan=plan.key,
    )


SPECS = [CommandSpec("unblock-deployment", run, add_arguments, privileged="yes")]
