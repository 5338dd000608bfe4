"""ack: acknowledge an alert."""

import argparse

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec
from commands.core.lookup import add_alert_arguments, resolve_alert
from models.views.reply import Reply, message


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Acknowledge an alert: it stops being re-sent to the leads."""
    plan, alert = resolve_alert(ctx, args.plan, args.alert)
    ctx.require_member(plan, "acknowledge an alert")
    if alert.status == "notice":
        raise CommandError(f"alert #{alert.id} ({alert.event_name}) is for information: nothing to acknowledge")
    if alert.status != "open":
        raise CommandError(
            f"alert #{alert.id} is already {alert.status}" + (f" (by {alert.acked_by})" if alert.acked_by else "")
        )
    alert.status, alert.acked_at, alert.acked_by = "acknowledged", ctx.now, ctx.actor.id
    ctx.session.add(alert)
    return message(
        f"Alert #{alert.id} ({alert.event_name}) acknowledged by {ctx.actor.name}.", announce=True, plan=plan.key
    )


SPECS = [CommandSpec("ack", run, add_alert_arguments)]
