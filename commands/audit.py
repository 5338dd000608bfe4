"""audit: the audit log."""

import argparse

from sqlalchemy import func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.grammar import CommandSpec, count
from models.db.tables import AuditEntry
from models.views.reply import Reply, Table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=count(1, 1000), default=20, metavar="N", help="the last N entries (20)")
    parser.add_argument("--plan", metavar="PLAN", help="only this plan's entries")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Show the audit log: who ran what, when, from where, and the outcome (refusals included)."""
    where = [AuditEntry.plan_key == args.plan] if args.plan else []
    total = ctx.session.exec(select(func.count()).select_from(AuditEntry).where(*where)).one()
    rows = ctx.session.exec(
        select(AuditEntry).where(*where).order_by(col(AuditEntry.id).desc()).limit(args.limit)
    ).all()
    return Reply(
        body=Table(
            title="Audit log",
            columns=["#", "When (UTC)", "Who", "From", "Command", "Outcome"],
            rows=[
                [
                    str(e.id),
                    f"{e.at:%Y-%m-%d %H:%M:%S}",
                    e.actor_name or e.actor,
                    e.source,
                    e.command,
                    e.outcome + (f": {e.message}" if e.outcome != "ok" and e.message else ""),
                ]
                for e in rows
            ],
            total=total,
            empty="the audit log is empty",
        )
    )


SPECS = [CommandSpec("audit", run, add_arguments, read_only=True)]
