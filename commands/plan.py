"""plan: list plans, show one, load or preview a plan file."""

import argparse

from sqlalchemy import func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.errors import CommandError, PermissionDenied
from commands.core.grammar import CommandSpec
from commands.core.lookup import resolve_plan
from models.db.tables import Agent, Checkpoint, Plan, RiskTrigger, Stream, Task
from models.plan.loader import assign_task_ids, diff_documents, load_plan, stored_document
from models.plan.schedule import describe_path, plan_critical_path
from models.plan.schema import PlanFileError, read_plan_file
from models.plan.settings import settings_of
from models.views.reply import Reply, Table, message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the plans in the store")
    listing.add_argument("--mine", action="store_true", help="only the plans you lead or work in")
    show = actions.add_parser("show", help="one plan's make-up and state")
    show.add_argument("plan", nargs="?", metavar="PLAN")
    load = actions.add_parser("load", help="load a plan file, or update the plan from it (CLI and API)")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--if-absent", action="store_true", help="do nothing if the plan is already loaded")
    diff = actions.add_parser("diff", help="show what loading a file would change (CLI and API)")
    diff.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Plans: `plan list`, `plan show [PLAN]`, `plan load FILE`, `plan diff FILE`.

    A reload keeps the run state of everything whose id did not change; what
    the file no longer has is archived, with its history. Loading is for leads.
    """
    if args.action == "list":
        return _list(ctx, mine=args.mine)
    if args.action == "show":
        return _show(ctx, resolve_plan(ctx, args.plan))
    if not ctx.reads_files:
        raise CommandError(f"`plan {args.action}` reads a file on the bot's machine: run it from the CLI or the API")
    try:
        doc = read_plan_file(args.file)
    except PlanFileError as exc:
        raise CommandError(f"{exc.source} was not loaded; nothing changed:\n" + "\n".join(exc.problems)) from None
    existing = ctx.session.exec(select(Plan).where(Plan.key == doc.id)).first()
    if args.action == "diff":
        ctx.plan = existing
        old = stored_document(ctx.session, existing) if existing else None
        changes = diff_documents(old, assign_task_ids(old, doc))
        head = (
            f"Loading {args.file} would create {doc.id}."
            if existing is None
            else (
                f"Loading {args.file} would change {doc.id}:"
                if changes
                else f"{doc.id} is up to date with {args.file}."
            )
        )
        return message(head, *(c.describe() for c in changes), plan=doc.id)
    if existing is not None:
        ctx.plan = existing
        ctx.require_lead(existing, "reload a plan")
        if args.if_absent:
            return message(f"{doc.id} is already loaded; left as it is.", plan=doc.id)
    else:
        ctx.permission_checked = True
        if not ctx.actor.operator:
            raise PermissionDenied("only the bot's operator (CLI, or the API's token) may load a new plan")
    result = load_plan(ctx.session, doc, now=ctx.now, source_path=args.file)
    ctx.plan = result.plan
    notes = (
        []
        if doc.roles.leads
        else ["warning: the plan names no leads (roles.leads), so no privileged command is allowed from Slack"]
    )
    if result.critical_path is not None:  # None: nothing changed
        notes.append(describe_path(ctx.session, result.plan, result.critical_path))
    if result.created:
        return message(
            f"Loaded {doc.id} ({result.plan.title}) from {args.file}: {_census(ctx, result.plan)}.", *notes, plan=doc.id
        )
    if not result.changes:
        return message(f"{doc.id} is up to date with {args.file}; nothing changed.", *notes, plan=doc.id)
    return message(
        f"Updated {doc.id} from {args.file}: {len(result.changes)} change(s); run state kept.",
        *(c.describe() for c in result.changes),
        *notes,
        plan=doc.id,
    )


def _census(ctx: Context, plan: Plan) -> str:
    def count(model: type[Stream | Agent | Task | Checkpoint]) -> int:
        return ctx.session.exec(
            select(func.count()).select_from(model).where(model.plan_id == plan.id, col(model.archived).is_(False))
        ).one()

    return f"{count(Stream)} streams, {count(Agent)} agents, {count(Task)} tasks, {count(Checkpoint)} checkpoints"


def _list(ctx: Context, mine: bool = False) -> Reply:
    plans = ctx.session.exec(select(Plan).order_by(col(Plan.key))).all()
    if mine and not ctx.actor.operator:
        user = ctx.actor.slack_user
        working = set(ctx.session.exec(select(Agent.plan_id).where(Agent.slack_user == user)).all())
        plans = [p for p in plans if p.id in working or user in settings_of(p).leads]
    return Reply(
        body=Table(
            title="Plans",
            columns=["Plan", "Title", "Status", "Channel", "Started (UTC)"],
            rows=[
                [p.key, p.title, p.status, p.channel or "", f"{p.started_at:%Y-%m-%d %H:%M}" if p.started_at else ""]
                for p in plans
            ],
            total=len(plans),
            empty="no plan loaded yet: `orchestrate plan load FILE`",
        )
    )


def _show(ctx: Context, plan: Plan) -> Reply:
    settings = settings_of(plan)
    triggers = ctx.session.exec(
        select(func.count())
        .select_from(RiskTrigger)
        .where(RiskTrigger.plan_id == plan.id, col(RiskTrigger.archived).is_(False))
    ).one()
    details = [
        f"status: {plan.status}" + (f" (stopped: {plan.stop_reason})" if plan.stop_reason else ""),
        f"make-up: {_census(ctx, plan)}",
        f"time zone: {plan.timezone}; working days {', '.join(settings.working_days)}, "
        f"hours {'–'.join(settings.working_hours)}; {settings.duration_days} working days",
        f"channel: {plan.channel or '(none)'}; leads: {', '.join(settings.leads) or '(none)'}",
        f"sync schedule: {', '.join(e.time + ' ' + e.type for e in settings.sync_schedule) or '(none)'}",
        f"risk triggers: {triggers}; alert routes: {len(settings.alerts)}; "
        f"delegation rules: {len(settings.delegation_matrix)}",
        describe_path(ctx.session, plan, plan_critical_path(ctx.session, plan)),
        f"source: {plan.source_path or '(unknown)'}; loaded {plan.loaded_at:%Y-%m-%d %H:%M} UTC, "
        f"updated {plan.updated_at:%Y-%m-%d %H:%M} UTC",
    ]
    return message(f"{plan.key}: {plan.title}", *details, plan=plan.key)


SPECS = [CommandSpec("plan", run, add_arguments, privileged="load: yes", read_only=lambda args: args.action != "load")]
