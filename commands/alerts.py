"""alerts, ack, resolve: alerts and their state."""

import re

from sqlalchemy import func
from sqlmodel import select

from commands.context import Context
from commands.errors import CommandError, UsageError
from commands.grammar import CommandSpec, count
from commands.reply import Reply, Table, message
from commands.resolve import add_plan_option, resolve_plan
from models.tables import Alert, AlertDelivery


def add_list_arguments(parser) -> None:
    parser.add_argument("--open", action="store_true", help="only alerts not yet resolved")
    parser.add_argument("--limit", type=count(1, 1000), default=50, metavar="N")
    add_plan_option(parser)


def add_alert_argument(parser) -> None:
    parser.add_argument("alert", metavar="ALERT", help="the alert number, as `alerts` shows it (e.g. 12 or #12)")
    add_plan_option(parser)


def run_list(args, ctx: Context) -> Reply:
    """List alerts, newest first, with their level, state and who acknowledged them."""
    plan = resolve_plan(ctx, args.plan)
    where = [Alert.plan_id == plan.id]
    if args.open:
        where.append(Alert.status != "resolved")
    total = ctx.session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    rows = ctx.session.exec(select(Alert).where(*where).order_by(Alert.id.desc()).limit(args.limit)).all()
    pending = _undelivered(ctx, [a.id for a in rows])
    return Reply(body=Table(
        title=f"Alerts of {plan.key}", columns=["#", "Level", "Event", "State", "Raised", "Count", "By", "Not sent"],
        rows=[[f"#{a.id}", a.level, a.event_name, a.status, f"{a.created_at:%d %b %H:%M}", str(a.group_count),
               a.acked_by or "", pending.get(a.id, "")] for a in rows],
        total=total, empty="no open alerts" if args.open else "no alerts yet",
    ), plan=plan.key)


def _undelivered(ctx: Context, alert_ids: list[int]) -> dict[int, str]:
    """Per alert, the destinations it has not reached yet and why (e.g. "email: unconfigured")."""
    found: dict[int, list[str]] = {}
    for alert_id, destination, status in ctx.session.exec(
        select(AlertDelivery.alert_id, AlertDelivery.destination, AlertDelivery.status)
        .where(AlertDelivery.alert_id.in_(alert_ids), AlertDelivery.status != "sent").order_by(AlertDelivery.id)
    ):
        found.setdefault(alert_id, []).append(f"{destination}: {status}")
    return {alert_id: "; ".join(parts) for alert_id, parts in found.items()}


def _alert(ctx: Context, args) -> tuple:
    plan = resolve_plan(ctx, args.plan)
    text = args.alert.lstrip("#")
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise UsageError(f"{args.alert!r} is not an alert number: `alerts` lists them (e.g. #12)")
    alert = ctx.session.get(Alert, int(text))
    if alert is None or alert.plan_id != plan.id:
        raise CommandError(f"no alert #{text} in {plan.key}: `alerts` lists them")
    return plan, alert


def run_ack(args, ctx: Context) -> Reply:
    """Acknowledge an alert: it stops being re-sent to the leads."""
    plan, alert = _alert(ctx, args)
    ctx.require_member(plan, "acknowledge an alert")
    if alert.status != "open":
        raise CommandError(f"alert #{alert.id} is already {alert.status}"
                           + (f" (by {alert.acked_by})" if alert.acked_by else ""))
    alert.status, alert.acked_at, alert.acked_by = "acknowledged", ctx.now, ctx.actor.id
    ctx.session.add(alert)
    return message(f"Alert #{alert.id} ({alert.event_name}) acknowledged by {ctx.actor.name}.",
                   announce=True, plan=plan.key)


def run_resolve(args, ctx: Context) -> Reply:
    """Resolve an alert."""
    plan, alert = _alert(ctx, args)
    ctx.require_member(plan, "resolve an alert")
    if alert.status == "resolved":
        raise CommandError(f"alert #{alert.id} is already resolved (by {alert.resolved_by})")
    alert.status, alert.resolved_at, alert.resolved_by = "resolved", ctx.now, ctx.actor.id
    if alert.acked_at is None:
        alert.acked_at, alert.acked_by = ctx.now, ctx.actor.id
    ctx.session.add(alert)
    return message(f"Alert #{alert.id} ({alert.event_name}) resolved by {ctx.actor.name}.",
                   announce=True, plan=plan.key)


SPECS = [
    CommandSpec("alerts", run_list, add_list_arguments),
    CommandSpec("ack", run_ack, add_alert_argument),
    CommandSpec("resolve", run_resolve, add_alert_argument),
]
