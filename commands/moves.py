"""moves: what load balancing moved or proposed; a lead undoes a move or applies a proposal."""

import argparse

from sqlalchemy import func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.errors import CommandError
from commands.core.grammar import CommandSpec, count
from commands.core.lookup import add_plan_option, resolve_move, resolve_plan
from models.db.tables import Agent, Move, Plan, Stream, Task
from models.state.outcome import StateError
from models.state.tasks import move_agent, reassign_task
from models.views.reply import Reply, Table, message

LIST_LIMIT = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="the latest moves and proposals (the default)")
    listing.add_argument(
        "--limit", type=count(1, 500), default=LIST_LIMIT, metavar="N", help=f"at most N rows ({LIST_LIMIT})"
    )
    add_plan_option(listing)
    for verb, what in (("undo", "undo a move load balancing made"), ("apply", "apply a proposed reallocation")):
        action = actions.add_parser(verb, help=what)
        action.add_argument("move", metavar="MOVE", help="the move's id (M1)")
        add_plan_option(action)
    # `moves --plan P` lists too; SUPPRESS keeps the sub-commands' own --plan from resetting it.
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        default=argparse.SUPPRESS,
        help="the plan (default: the channel's plan, else the only running plan)",
    )


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Load balancing's moves: `moves` lists them, `moves undo M1` undoes one, `moves apply M2` applies a proposal.

    Undoing and applying are for leads. A task whose move was undone is not moved
    by a rule again.
    """
    plan = resolve_plan(ctx, getattr(args, "plan", None))
    if args.action in (None, "list"):
        return _list(ctx, plan, getattr(args, "limit", LIST_LIMIT))
    move = resolve_move(ctx, plan, args.move)
    ctx.require_lead(plan, f"{args.action} a load-balancing move")
    try:
        text = _undo(ctx, plan, move) if args.action == "undo" else _apply(ctx, plan, move)
    except StateError as exc:
        raise CommandError(str(exc)) from None
    return message(text, f"by {ctx.actor.name}; the move was made because {move.why}", announce=True, plan=plan.key)


def _list(ctx: Context, plan: Plan, limit: int) -> Reply:
    total = ctx.session.exec(select(func.count()).select_from(Move).where(Move.plan_id == plan.id)).one()
    moves = ctx.session.exec(
        select(Move).where(Move.plan_id == plan.id).order_by(col(Move.id).desc()).limit(limit)
    ).all()
    tasks = _keys(ctx, Task, {m.task_id for m in moves})
    agents = _keys(
        ctx, Agent, {m.from_agent_id for m in moves} | {m.to_agent_id for m in moves} | {m.agent_id for m in moves}
    )
    rows = []
    for m in moves:
        change = m.command or (
            f"{agents.get(m.from_agent_id)} → {agents.get(m.to_agent_id)}"
            if m.to_agent_id
            else f"priority {m.old_priority} → {m.new_priority}"
        )
        rows.append(
            [
                m.key,
                m.made_at.strftime("%Y-%m-%d %H:%M"),
                m.rule,
                tasks.get(m.task_id, ""),
                change,
                m.status + (f" by {m.undone_by}" if m.undone_by else ""),
                m.why,
            ]
        )
    return Reply(
        body=Table(
            title=f"Load-balancing moves of {plan.key}",
            columns=["Move", "When (UTC)", "Rule", "Task", "Change", "Status", "Why"],
            rows=rows,
            total=total,
            empty="no move yet: the rules have not acted",
        ),
        plan=plan.key,
    )


def _keys(ctx: Context, model: type[Task | Agent], ids: set[int | None]) -> dict[int | None, str]:
    ids.discard(None)
    if not ids:
        return {}
    return dict(ctx.session.exec(select(model.id, model.key).where(col(model.id).in_(ids))).all())


def _undo(ctx: Context, plan: Plan, move: Move) -> str:
    if move.status == "proposed":
        raise CommandError(f"{move.key} is a proposal nobody applied: there is nothing to undo")
    if move.status == "undone":
        raise CommandError(f"{move.key} was already undone by {move.undone_by}")
    if move.rule == "reallocate-resources":
        agent = ctx.session.get_one(Agent, move.agent_id)
        if agent.stream_id != move.to_stream_id:
            raise CommandError(f"{agent.key} has moved since {move.key}: reallocate it by hand")
        back = ctx.session.get_one(Stream, move.from_stream_id)
        move_agent(ctx.session, plan, agent, back, now=ctx.now)
        done = f"{agent.key} is back in {back.key}"
    else:
        task = ctx.session.get_one(Task, move.task_id)  # every other rule moved a task
        if move.old_priority is not None:  # prioritize-unblocking: it raised the task's priority
            task.priority = move.old_priority
            ctx.session.add(task)
            done = f"{task.key} is back to its place in the queue"
        else:
            if task.agent_id != move.to_agent_id:
                raise CommandError(f"{task.key} has changed hands since {move.key}: it is no longer the move's to undo")
            giver = ctx.session.get_one(Agent, move.from_agent_id)
            reassign_task(
                ctx.session,
                plan,
                task,
                giver,
                now=ctx.now,
                position=move.old_position,
                not_before_ws=move.old_not_before_ws,
            )
            done = f"{task.key} is back with {giver.key}, at its place and planned window"
    move.status, move.undone_at, move.undone_by = "undone", ctx.now, ctx.actor.name
    ctx.session.add(move)
    return f"Undid {move.key} ({move.rule}): {done}."


def _apply(ctx: Context, plan: Plan, move: Move) -> str:
    if move.status != "proposed":
        raise CommandError(f"{move.key} is not a proposal (it is {move.status}): `moves undo {move.key}` undoes it")
    agent, target = ctx.session.get_one(Agent, move.agent_id), ctx.session.get_one(Stream, move.to_stream_id)
    replanned = move_agent(ctx.session, plan, agent, target, now=ctx.now)  # refuses if it is there already
    move.status = "applied"
    ctx.session.add(move)
    return f"Applied {move.key}: `{move.command}` ({replanned} open task(s) of {agent.key} re-planned from now)."


SPECS = [CommandSpec("moves", run, add_arguments, privileged="undo and apply: yes")]
