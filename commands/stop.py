"""stop: halt the plan."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import MAX_REASON, CommandSpec, free_text
from commands.core.lookup import add_plan_option, resolve_plan
from models.state.events import raise_event
from models.state.outcome import StateError
from models.state.plans import stop_plan
from models.views.reply import Reply, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--emergency", action="store_true", help="an emergency stop: raised as a critical event")
    parser.add_argument("--reason", required=True, type=free_text(MAX_REASON), metavar="TEXT", help="why (required)")
    add_plan_option(parser)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Stop the plan: every stream halts and no task can start until `start` resumes it."""
    if not args.reason.strip():
        raise CommandError('give a reason: `stop --reason "what happened"`')
    plan = resolve_plan(ctx, args.plan)
    ctx.require_lead(plan, "stop a plan")
    try:
        halted = stop_plan(ctx.session, plan, now=ctx.now, reason=args.reason, emergency=args.emergency)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    raise_event(
        ctx.session,
        plan,
        "plan-stopped",
        now=ctx.now,
        source=ctx.front,
        actor=ctx.actor.id,
        level="critical" if args.emergency else "warning",
        detail={"reason": args.reason, "emergency": args.emergency},
    )
    kind = "EMERGENCY STOP" if args.emergency else "Stopped"
    return message(
        f"{kind}: {plan.key} is stopped ({halted} stream(s) halted). Reason: {args.reason}",
        f"`start {plan.key}` resumes it.",
        announce=True,
        plan=plan.key,
    )


SPECS = [CommandSpec("stop", run, add_arguments, privileged="yes")]
