"""resolve: resolve an alert."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_alert_arguments, resolve_alert
from models.views.reply import Reply, message


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Resolve an alert."""
    plan, alert = resolve_alert(ctx, args.plan, args.alert)
    ctx.require_member(plan, "resolve an alert")
    if alert.status == "resolved":
        raise CommandError(f"alert #{alert.id} is already resolved (by {alert.resolved_by})")
    alert.status, alert.resolved_at, alert.resolved_by = "resolved", ctx.now, ctx.actor.id
    if alert.acked_at is None:
        alert.acked_at, alert.acked_by = ctx.now, ctx.actor.id
    ctx.session.add(alert)
    return message(
        f"Alert #{alert.id} ({alert.event_name}) resolved by {ctx.actor.name}.", announce=True, plan=plan.key
    )


SPECS = [CommandSpec("resolve", run, add_alert_arguments)]
