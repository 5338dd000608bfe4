"""alerts: the plan's alerts, newest first, with their state."""

import argparse

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.grammar import CommandSpec, count
from commands.core.lookup import add_plan_option, resolve_plan
from models.db.tables import Alert, AlertDelivery, id_of
from models.state.lead_hours import SPLIT
from models.views.reply import Reply, Table


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open", action="store_true", help="only alerts still to acknowledge or resolve")
    parser.add_argument("--limit", type=count(1, 1000), default=50, metavar="N")
    add_plan_option(parser)


def run_list(args: argparse.Namespace, ctx: Context) -> Reply:
    """List alerts, newest first, with their level, state and who acknowledged them."""
    plan = resolve_plan(ctx, args.plan)
    where: list[ColumnElement[bool]] = [col(Alert.plan_id) == plan.id]
    if args.open:
        where.append(col(Alert.status).in_(("open", "acknowledged")))
    total = ctx.session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    rows = ctx.session.exec(select(Alert).where(*where).order_by(col(Alert.id).desc()).limit(args.limit)).all()
    pending = _undelivered(ctx, [id_of(a) for a in rows])
    return Reply(
        body=Table(
            title=f"Alerts of {plan.key}",
            columns=["#", "Level", "Event", "State", "Raised", "Count", "By", "Not sent"],
            rows=[
                [
                    f"#{a.id}",
                    a.level,
                    a.event_name,
                    a.status,
                    f"{a.created_at:%d %b %H:%M}",
                    str(a.group_count),
                    a.acked_by or "",
                    pending.get(id_of(a), ""),
                ]
                for a in rows
            ],
            total=total,
            empty="no open alerts" if args.open else "no alerts yet",
        ),
        plan=plan.key,
    )


def _undelivered(ctx: Context, alert_ids: list[int]) -> dict[int, str]:
    """Per alert, the destinations it has not reached yet and why (e.g. "email: unconfigured")."""
    found: dict[int, list[str]] = {}
    for alert_id, destination, status in ctx.session.exec(
        select(AlertDelivery.alert_id, AlertDelivery.destination, AlertDelivery.status)
        .where(col(AlertDelivery.alert_id).in_(alert_ids), col(AlertDelivery.status).not_in(("sent", SPLIT)))
        .order_by(col(AlertDelivery.id))
    ):
        found.setdefault(alert_id, []).append(f"{destination}: {status}")
    return {alert_id: "; ".join(parts) for alert_id, parts in found.items()}


SPECS = [CommandSpec("alerts", run_list, add_list_arguments, read_only=True)]
