"""task: list tasks, change a task's status, add a task."""

import argparse
import re

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.errors import CommandError, UsageError
from commands.core.grammar import MAX_REASON, MAX_TITLE, CommandSpec, count, free_text
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan, resolve_stream, resolve_task
from models.db.sql import select_columns
from models.db.tables import TASK_STATUSES, Agent, Checkpoint, Criterion, Plan, Stream, Task, TaskNote, id_of
from models.plan.coordination import fired_actions, initial_status
from models.plan.schedule import mark_critical_path
from models.plan.settings import calendar_of, plan_clock, settings_of
from models.rules.delegation import choose_agent
from models.state.outcome import StateError
from models.state.tasks import TASK_ACTIONS, change_task, reassign_task
from models.time.clocks import stream_clock
from models.time.units import UnitError, format_work, parse_duration
from models.views.reply import GateOut, Reply, Table, TaskCard, TaskNoteOut, message

LIST_LIMIT = 50
NOTES_SHOWN = 20  # the latest progress notes `task show` lists


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list tasks")
    listing.add_argument("--stream", metavar="S")
    listing.add_argument("--agent", metavar="A")
    listing.add_argument("--status", choices=TASK_STATUSES, metavar="X", help=" | ".join(TASK_STATUSES))
    listing.add_argument(
        "--limit", type=count(1, 5000), default=LIST_LIMIT, metavar="N", help=f"at most N rows ({LIST_LIMIT})"
    )
    add_plan_option(listing)
    for action in TASK_ACTIONS:
        change = actions.add_parser(action, help=f"{action} a task")
        change.add_argument("task", metavar="TASK", help="task id (T1) or unique prefix")
        change.add_argument("--reason", type=free_text(MAX_REASON), metavar="TEXT")
        if action == "done":
            change.add_argument(
                "--link", action="append", type=link, metavar="URL", help="an artifact (a pull request…); repeatable"
            )
        add_plan_option(change)
    show = actions.add_parser("show", help="a task: what it waits for, the gate it feeds, its progress notes")
    show.add_argument("task", metavar="TASK", help="task id (T1) or unique prefix")
    add_plan_option(show)
    upcoming = actions.add_parser("next", help="an agent's current task, else its next ready one")
    upcoming.add_argument("--agent", metavar="A", help="the agent (with an agent's token: itself)")
    add_plan_option(upcoming)
    progress = actions.add_parser("progress", help="note progress on a task in progress")
    progress.add_argument("task", metavar="TASK", help="task id (T1) or unique prefix")
    progress.add_argument("--note", required=True, type=free_text(MAX_REASON), metavar="TEXT")
    progress.add_argument("--percent", type=count(0, 100), metavar="N", help="how far along, 0 to 100")
    progress.add_argument("--link", action="append", type=link, metavar="URL", help="a link (a draft PR…); repeatable")
    add_plan_option(progress)
    assign = actions.add_parser("assign", help="give a task not yet started to an agent (lead)")
    assign.add_argument("task", metavar="TASK", help="task id (T1) or unique prefix")
    assign.add_argument("--agent", metavar="A", help="the agent (default: the delegation matrix's choice)")
    add_plan_option(assign)
    add = actions.add_parser("add", help="add a task; the delegation matrix assigns it")
    add.add_argument("title", type=free_text(MAX_TITLE), metavar="TITLE")
    add.add_argument("--type", required=True, metavar="TYPE", help="a task type of the delegation matrix")
    add.add_argument("--estimate", metavar="DURATION", help="e.g. 4h, 2d (default: the agent's mean estimate)")
    add.add_argument("--stream", metavar="S", help="the stream it belongs to (default: its agent's)")
    add.add_argument("--agent", metavar="A", help="give it to this agent instead of the matrix's choice")
    add_plan_option(add)


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Tasks: `task list`, `task show TASK`, `task start|done|block|fail|reopen TASK`, `task add "TITLE" --type TYPE`.

    Also `task assign TASK`, `task next [--agent A]` (an agent's current task, else its next ready one) and
    `task progress TASK --note TEXT [--percent N] [--link URL]`. Agents may change their own tasks;
    changing another's, adding and assigning tasks is for leads. A task reopened after done counts as rework.
    """
    plan = resolve_plan(ctx, args.plan)
    if args.action == "list":
        return _list(args, ctx, plan)
    if args.action == "show":
        return task_card(ctx, plan, resolve_task(ctx, plan, args.task))
    if args.action == "next":
        return _next(args, ctx, plan)
    if args.action == "progress":
        return _progress(args, ctx, plan)
    if args.action == "add":
        return _add(args, ctx, plan)
    if args.action == "assign":
        return _assign(args, ctx, plan)
    return _change(args, ctx, plan)


def _list(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    where: list[ColumnElement[bool] | bool] = [Task.plan_id == plan.id, col(Task.archived).is_(False)]
    if args.stream:
        where.append(Task.stream_id == resolve_stream(ctx, plan, args.stream).id)
    if args.agent:
        where.append(Task.agent_id == resolve_agent(ctx, plan, args.agent).id)
    if args.status:
        where.append(Task.status == args.status)
    total = ctx.session.exec(select(func.count()).select_from(Task).where(*where)).one()
    rows = ctx.session.exec(
        select_columns(Task.key, Task.title, Task.status, Agent.key, Stream.key, Task.estimate_ws, Task.type)
        .join(Stream, col(Stream.id) == Task.stream_id)
        .outerjoin(Agent, col(Agent.id) == Task.agent_id)
        .where(*where)
        .order_by(col(Task.id))
        .limit(args.limit)
    ).all()
    day_s = calendar_of(plan).day_s
    return Reply(
        body=Table(
            title=f"Tasks of {plan.key}",
            columns=["Task", "Title", "Status", "Agent", "Stream", "Estimate", "Type"],
            rows=[
                [k, t, s, a or "(unassigned)", st, format_work(e, day_s), ty or ""] for k, t, s, a, st, e, ty in rows
            ],
            total=total,
            empty="no task matches",
        ),
        plan=plan.key,
    )


def _change(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    task = resolve_task(ctx, plan, args.task)
    agent = ctx.session.get(Agent, task.agent_id) if task.agent_id else None
    ctx.require_lead_or_owner(plan, agent, "change another agent's task")
    try:
        outcome = change_task(ctx.session, plan, task, args.action, actor=ctx.actor.id, now=ctx.now, reason=args.reason)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    links = getattr(args, "link", None) or []
    if links:
        ctx.session.add(
            TaskNote(
                task_id=id_of(task), at=ctx.now, actor=ctx.actor.name[:100], kind="done", note=args.reason, links=links
            )
        )
    why = f" ({args.reason})" if args.reason else ""
    shown = [f"artifacts: {', '.join(links)}"] if links else []
    return message(
        f"{task.key} {task.title!r} is now {task.status}{why}.", *shown, *outcome.notes, announce=True, plan=plan.key
    )


def _progress(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    task = resolve_task(ctx, plan, args.task)
    agent = ctx.session.get(Agent, task.agent_id) if task.agent_id else None
    ctx.require_lead_or_owner(plan, agent, "note progress on another agent's task")
    if task.status != "in-progress":
        raise CommandError(f"{task.key} is {task.status}, not in progress: progress is noted on a started task")
    note = args.note.strip()
    if not note:
        raise UsageError(f'say what was done: task progress {task.key} --note "migrations written"')
    links = args.link or []
    ctx.session.add(
        TaskNote(
            task_id=id_of(task),
            at=ctx.now,
            actor=ctx.actor.name[:100],
            kind="progress",
            note=note,
            percent=args.percent,
            links=links,
        )
    )
    how_far = f" ({args.percent}%)" if args.percent is not None else ""
    return message(
        f"Noted on {task.key}{how_far}: {note}", *([f"links: {', '.join(links)}"] if links else []), plan=plan.key
    )


def _next(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    if args.agent:
        agent = resolve_agent(ctx, plan, args.agent)
    elif ctx.actor.agent_id is not None:
        agent = ctx.session.get_one(Agent, ctx.actor.agent_id)
        if agent.plan_id != plan.id:
            raise CommandError(f"{agent.key} is no agent of {plan.key}")
    else:
        raise UsageError("name the agent: task next --agent AGENT")
    mine = select(Task).where(Task.agent_id == agent.id, col(Task.archived).is_(False))
    order = (col(Task.position), col(Task.id))
    task = ctx.session.exec(mine.where(Task.status == "in-progress").order_by(*order)).first()
    if task is None:
        task = ctx.session.exec(mine.where(Task.status == "ready").order_by(*order)).first()
    if task is None:
        waiting = ctx.session.exec(
            select(func.count())
            .select_from(Task)
            .where(Task.agent_id == agent.id, col(Task.archived).is_(False), col(Task.status).in_(("todo", "blocked")))
        ).one()
        later = f"; {waiting} of its tasks wait (todo or blocked)" if waiting else ""
        return Reply(
            body=TaskCard(
                text=f"{agent.key} has no task in progress and none ready{later}.", task=None, agent=agent.key
            ),
            plan=plan.key,
        )
    return task_card(ctx, plan, task)


def task_card(ctx: Context, plan: Plan, task: Task) -> Reply:
    """A task with what it takes to work on it: its wait, the gate it feeds, its stream's success criteria."""
    agent = ctx.session.get(Agent, task.agent_id) if task.agent_id else None
    stream = ctx.session.get_one(Stream, task.stream_id)
    day_s = calendar_of(plan).day_s
    waiting = bool(task.after) and task.after not in fired_actions(ctx.session, plan)
    gate = _gate(ctx, plan, task, day_s)
    success = settings_of(plan).success_criteria.get(stream.key)
    notes = ctx.session.exec(
        select(TaskNote).where(TaskNote.task_id == task.id).order_by(col(TaskNote.id).desc()).limit(NOTES_SHOWN)
    ).all()
    shown = [
        TaskNoteOut(at=n.at, by=n.actor, kind=n.kind, note=n.note, percent=n.percent, links=n.links) for n in notes
    ]
    estimate = format_work(task.estimate_ws, day_s)
    lines = [
        f"status: {task.status} · agent: {agent.key if agent else '(unassigned)'} · stream: {stream.key}",
        f"type: {task.type or '—'} · estimate: {estimate}",
    ]
    if task.after:
        lines.append(f"waits for: {task.after}" + (" (not yet)" if waiting else " (happened)"))
    if gate is not None:
        lines.append(f"feeds {gate.key} {gate.name} (day {gate.day}): " + "; ".join(gate.criteria))
    if success:
        lines.append(f"{stream.key} succeeds when: {success}")
    for n in shown:
        how_far = f" {n.percent}%" if n.percent is not None else ""
        links = f" [{', '.join(n.links)}]" if n.links else ""
        lines.append(f"{n.at:%Y-%m-%d %H:%M} UTC {n.by} {n.kind}{how_far}: {n.note or ''}{links}")
    card = TaskCard(
        text=f"{task.key} {task.title!r}",
        details=lines,
        task=task.key,
        title=task.title,
        status=task.status,
        type=task.type,
        estimate=estimate,
        estimate_hours=round(task.estimate_ws / 3600, 2),
        agent=agent.key if agent else None,
        stream=stream.key,
        waits_for=task.after,
        waiting=waiting,
        checkpoint=gate,
        success_criteria=success,
        notes=shown,
    )
    return Reply(body=card, plan=plan.key)


def _gate(ctx: Context, plan: Plan, task: Task, day_s: int) -> GateOut | None:
    """The first checkpoint not passed whose day is on or after the task's planned last day."""
    last_day = max(1, -(-task.planned_due_ws // max(day_s, 1)))
    checkpoint = ctx.session.exec(
        select(Checkpoint)
        .where(
            Checkpoint.plan_id == plan.id,
            col(Checkpoint.archived).is_(False),
            col(Checkpoint.passed_at).is_(None),
            Checkpoint.day >= last_day,
        )
        .order_by(col(Checkpoint.day), col(Checkpoint.position))
    ).first()
    if checkpoint is None:
        return None
    criteria = ctx.session.exec(
        select(Criterion.text).where(Criterion.checkpoint_id == checkpoint.id).order_by(col(Criterion.position))
    ).all()
    return GateOut(key=checkpoint.key, name=checkpoint.name, day=checkpoint.day, criteria=list(criteria))


def link(text: str) -> str:
    """An argparse type: an http(s) link of at most 500 characters."""
    if len(text) > 500 or not re.fullmatch(r"https?://[^\s]+", text):
        raise argparse.ArgumentTypeError(f"{text[:60]!r} is not a link: give an http:// or https:// URL (at most 500)")
    return text


def _add(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    ctx.require_lead(plan, "add a task")
    title = args.title.strip()
    if not title:
        raise UsageError('give the task a title: task add "Write the migration" --type Database')
    stream = resolve_stream(ctx, plan, args.stream) if args.stream else None
    agent, why = _delegate(ctx, plan, args.agent, args.type)
    if stream is None:
        if agent is None:
            raise CommandError(f"{why}; name its stream with --stream so it can wait there")
        stream = ctx.session.get_one(Stream, agent.stream_id)
    calendar = calendar_of(plan)
    try:
        estimate = parse_duration(args.estimate, day_s=calendar.day_s) if args.estimate else None
    except UnitError as exc:
        raise CommandError(f"--estimate: {exc}") from None
    if estimate is None:
        estimate = _mean_estimate(ctx, plan, agent) or calendar.day_s
    now_clock = stream_clock(stream, plan_clock(plan, ctx.now))
    queue_end, last_position = ctx.session.exec(
        select(func.max(Task.planned_due_ws), func.max(Task.position)).where(
            Task.agent_id == (agent.id if agent else None), col(Task.archived).is_(False)
        )
    ).one()
    start = max(queue_end or 0, now_clock)
    task = Task(
        plan_id=id_of(plan),
        stream_id=id_of(stream),
        agent_id=agent.id if agent else None,
        key=_next_key(ctx, plan),
        title=title,
        type=args.type,
        estimate_ws=estimate,
        origin="command",
        status=initial_status(ctx.session, plan, None),
        position=(last_position or 0) + 1,
        not_before_ws=now_clock,
        planned_start_ws=start,
        planned_due_ws=start + estimate,
        since_ws=now_clock,
    )
    ctx.session.add(task)
    ctx.session.flush()
    mark_critical_path(ctx.session, plan)  # a longer queue may move the plan's end
    owner = f"{agent.key} ({why})" if agent else f"nobody yet ({why})"
    return message(
        f"Added {task.key} {title!r} to {stream.key}, assigned to {owner}; "
        f"estimate {format_work(estimate, calendar.day_s)}.",
        announce=True,
        plan=plan.key,
    )


def _assign(args: argparse.Namespace, ctx: Context, plan: Plan) -> Reply:
    task = resolve_task(ctx, plan, args.task)
    ctx.require_lead(plan, "assign a task")
    if not args.agent and not task.type:
        raise CommandError(f"{task.key} has no type for the delegation matrix: name the agent with --agent")
    agent, why = _delegate(ctx, plan, args.agent, task.type or "")  # (no type: --agent names the agent)
    if agent is None:
        raise CommandError(f"the matrix names nobody for {task.key} ({why}): name the agent with --agent")
    if agent.id == task.agent_id:
        raise CommandError(f"{task.key} is already {agent.key}'s")
    try:
        reassign_task(ctx.session, plan, task, agent, now=ctx.now)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    return message(
        f"{task.key} {task.title!r} is now {agent.key}'s ({why}); planned from now, last in its queue.",
        announce=True,
        plan=plan.key,
    )


def _delegate(ctx: Context, plan: Plan, agent_name: str | None, task_type: str) -> tuple[Agent | None, str]:
    """(agent, why): the one named with --agent, else the delegation matrix's choice for the type."""
    if agent_name:
        return resolve_agent(ctx, plan, agent_name), "named in the command"
    try:
        return choose_agent(ctx.session, plan, task_type, ctx.now)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _mean_estimate(ctx: Context, plan: Plan, agent: Agent | None) -> int | None:
    if agent is None:
        return None
    mean = ctx.session.exec(
        select(func.avg(Task.estimate_ws)).where(Task.agent_id == agent.id, col(Task.archived).is_(False))
    ).one()
    return int(mean) if mean else None


def _next_key(ctx: Context, plan: Plan) -> str:
    number = ctx.session.exec(select(func.count()).select_from(Task).where(Task.plan_id == plan.id)).one() + 1
    while ctx.session.exec(select(Task.id).where(Task.plan_id == plan.id, Task.key == f"T{number}")).first():
        number += 1
    return f"T{number}"


SPECS = [
    CommandSpec(
        "task",
        run,
        add_arguments,
        privileged="others' tasks and add: yes",
        read_only=lambda args: args.action in ("list", "show", "next"),
    )
]
