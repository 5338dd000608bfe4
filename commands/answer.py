"""answer, answer-form: an agent's answer to a sync prompt, and the form that asks for it."""

import argparse
import re

from sqlalchemy import func
from sqlmodel import col, select

from commands.core.context import Context
from commands.core.errors import CommandError, PermissionDenied, Unaddressed, UsageError, brief
from commands.core.grammar import CommandSpec, count
from commands.core.lookup import add_plan_option, resolve_agent, resolve_plan, resolve_task
from models.db.tables import Agent, Plan, SyncAnswer, SyncSlot, Task
from models.plan.settings import settings_of
from models.rules.sync import record_answer, slot_for_thread, withdraw_answer
from models.state.blockers import named_blocker, note_blocker, task_named, working_days
from models.state.outcome import StateError
from models.state.tasks import change_task
from models.views.reply import Reply, message
from models.views.sync import MESSAGE_KEY, answer_form, prompt_for_slot

MAX_ANSWER = 2000  # characters kept of one answer field (the form's inputs allow as much)
MAX_FILES, MAX_FILE_NAME = 10, 300  # files kept with one answer, characters of each name or link
FIELD = re.compile(r"^([a-z_]{1,40})=(.*)$", re.S)


def _slot_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--slot", type=count(1, 10**12), metavar="N", help="the prompt (its slot number)")
    where.add_argument(
        "--thread", metavar="CHANNEL:TS", help="the prompt whose thread this answer is a reply in (Slack)"
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--agent", metavar="A", help="answer for this agent (a lead; default: yourself)")
    who.add_argument(
        "--form-of",
        metavar="A",
        help="the agent the Answer form was opened for: it answers as you, who must be that agent",
    )
    add_plan_option(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="*", metavar="TEXT", help="your answer, in your own words")
    _slot_arguments(parser)
    parser.add_argument(
        "--field", action="append", default=[], metavar="KEY=TEXT", help="one question's answer, e.g. today=…"
    )
    parser.add_argument("--done", action="append", default=[], metavar="TASK", help="a task of yours now done")
    parser.add_argument("--blocked", metavar="TASK", help="the task your blocker holds up (default: yours in progress)")
    parser.add_argument(
        "--file", action="append", default=[], metavar="NAME", help="a file shared with the answer (its name or link)"
    )
    parser.add_argument("--message", metavar="TS", help="the thread reply this answer is (Slack's ts of it)")
    edit = parser.add_mutually_exclusive_group()
    edit.add_argument("--edited", action="store_true", help="the reply --message was edited: its new text")
    edit.add_argument("--withdraw", action="store_true", help="the reply --message was deleted: withdraw it")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Answer a sync prompt: `answer "finished the login page"`, or each question with --field.

    Without --slot it answers the newest prompt that asked you. --done marks tasks
    of yours done; a `blockers` answer blocks your task in progress (or --blocked).
    Answering again replaces your answer.
    """
    slot, plan = _slot(args, ctx)
    agent = _agent(args, ctx, plan, slot)
    if args.form_of is not None and args.form_of != agent.key:
        # A form answers for the one who submits it, whatever its metadata says (a lead included).
        raise PermissionDenied(
            f"this form was opened for {brief(args.form_of)}, and you answer as {agent.key}: "
            "press Answer on the prompt to open your own"
        )
    ctx.require_lead_or_owner(plan, agent, "answer for another agent")
    if (args.edited or args.withdraw) and not args.message:
        raise UsageError("--edited and --withdraw name the reply they change: add --message TS")
    if args.edited or args.withdraw:
        _require_stored_from(ctx, slot, agent, args.message)
    elif args.message:
        _require_newer_than_stored(ctx, slot, agent, args.message)
    sync_type = slot.entry.split("@")[0]
    if args.withdraw:
        withdraw_answer(ctx.session, slot, agent, now=ctx.now)
        reply = message(f"Answer withdrawn: {agent.key} for the {sync_type} of {plan.key}.", plan=plan.key)
        return reply.model_copy(update={"prompt_to_redraw": slot.id})
    answer: dict[str, str | list[str]] = dict(_fields(args.field))
    if args.text:
        answer["reply"] = " ".join(args.text)[:MAX_ANSWER]
    if args.file:
        answer["files"] = [name[:MAX_FILE_NAME] for name in args.file[:MAX_FILES]]
    if not answer and not args.done:
        raise UsageError('say something: `answer "what I did and what is next"` or --field today=…')
    notes = [_task_change(ctx, plan, agent, key, "done", None) for key in args.done]
    if args.blocked and not answer.get("blockers"):  # a task picked as blocked, with no words for it
        answer["blockers"] = f"{args.blocked} is blocked (no reason given)"
    blocker = answer.get("blockers")
    held = args.blocked or _in_progress(ctx, agent)  # the task a blocker holds up, unless it names one
    if isinstance(blocker, str) and blocker:
        blocked = held
        if blocked is not None:
            notes.append(_task_change(ctx, plan, agent, blocked, "block", blocker))
    if args.done:
        answer["tasks_done"] = list(args.done)
    if args.message:
        answer[MESSAGE_KEY] = args.message[:40]
    first = record_answer(ctx.session, slot, agent, answer, now=ctx.now, source="thread" if args.thread else ctx.front)
    named = named_blocker(answer)
    if named is not None:
        notes.append(_follow(ctx, plan, agent, slot, named, held))
    verb = "recorded" if first else "updated"
    reply = message(f"Answer {verb}: {agent.key} for the {sync_type} of {plan.key}.", *notes, plan=plan.key)
    return reply.model_copy(update={"prompt_to_redraw": slot.id})


def run_form(args: argparse.Namespace, ctx: Context) -> Reply:
    """The questions a sync prompt asks you, with your open tasks (what the Answer button opens)."""
    slot, plan = _slot(args, ctx)
    agent = _agent(args, ctx, plan, slot)
    ctx.require_lead_or_owner(plan, agent, "answer for another agent")
    return Reply(body=answer_form(ctx.session, plan, slot, agent), plan=plan.key)


def _answers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--slot", type=count(1, 10**12), required=True, metavar="N", help="the prompt (its slot number)"
    )
    add_plan_option(parser)


def run_answers(args: argparse.Namespace, ctx: Context) -> Reply:
    """A sync prompt as it reads now, every agent it asked with their answer (paged): what "Show more"
    under a prompt too long for one message shows."""
    slot = ctx.session.get(SyncSlot, args.slot)
    if slot is None:
        raise CommandError(f"no sync prompt #{args.slot}")
    plan = ctx.session.get_one(Plan, slot.plan_id)
    if args.plan and args.plan != plan.key:
        raise CommandError(f"prompt #{slot.id} belongs to {plan.key}, not {args.plan}")
    ctx.plan = plan
    every = prompt_for_slot(ctx.session, plan, slot, now=ctx.now).model_copy(update={"full": True})
    return Reply(body=every, plan=plan.key)


def _slot(args: argparse.Namespace, ctx: Context) -> tuple[SyncSlot, Plan]:
    if args.thread:
        channel, _, ts = args.thread.partition(":")
        slot = slot_for_thread(ctx.session, channel, ts) if channel and ts else None
        if slot is None:
            raise Unaddressed("a thread that is no sync prompt's")
    elif args.slot:
        slot = ctx.session.get(SyncSlot, args.slot)
        if slot is None or slot.status != "posted":
            raise CommandError(f"no posted sync prompt #{args.slot}")
    else:
        plan = resolve_plan(ctx, args.plan)
        mine = select(Agent.id).where(Agent.plan_id == plan.id, Agent.slack_user == ctx.actor.slack_user)
        slot = ctx.session.exec(
            select(SyncSlot)
            .join(SyncAnswer, col(SyncAnswer.slot_id) == col(SyncSlot.id))
            .where(SyncSlot.plan_id == plan.id, SyncSlot.status == "posted", col(SyncAnswer.agent_id).in_(mine))
            .order_by(col(SyncSlot.posted_at).desc())
            .limit(1)
        ).first()
        if slot is None:
            raise CommandError(f"no sync prompt of {plan.key} is waiting for your answer")
    plan = ctx.session.get_one(Plan, slot.plan_id)
    if args.plan and args.plan != plan.key:
        raise CommandError(f"prompt #{slot.id} belongs to {plan.key}, not {args.plan}")
    ctx.plan = plan
    return slot, plan


def _agent(args: argparse.Namespace, ctx: Context, plan: Plan, slot: SyncSlot) -> Agent:
    if args.agent:
        return resolve_agent(ctx, plan, args.agent)
    agent = ctx.session.exec(
        select(Agent).where(
            Agent.plan_id == plan.id, Agent.slack_user == ctx.actor.slack_user, col(Agent.archived).is_(False)
        )
    ).first()
    if agent is not None:
        return agent
    if args.thread:
        raise Unaddressed("a reply in a prompt's thread by someone the prompt does not ask")
    raise CommandError(
        f"this prompt asks the agents of {plan.key}, and you are not one of them; "
        "a lead may answer for an agent with --agent"
    )


def _require_stored_from(ctx: Context, slot: SyncSlot, agent: Agent, ts: str) -> None:
    """An edit or a deletion changes the answer only if the answer is that reply (not a later one)."""
    stored = ctx.session.exec(
        select(SyncAnswer).where(SyncAnswer.slot_id == slot.id, SyncAnswer.agent_id == agent.id)
    ).first()
    if stored is None or stored.answered_at is None or (stored.answer or {}).get(MESSAGE_KEY) != ts:
        raise Unaddressed("an edit or deletion of a reply that is not the stored answer")


def _ts(value: str) -> tuple[int, int]:
    seconds, _, micros = value.partition(".")
    return (int(seconds), int(micros or 0)) if seconds.isdigit() and (micros or "0").isdigit() else (0, 0)


def _require_newer_than_stored(ctx: Context, slot: SyncSlot, agent: Agent, ts: str) -> None:
    """Replies handled out of order (Slack's events run side by side): the latest reply is the answer."""
    stored = ctx.session.exec(
        select(SyncAnswer).where(SyncAnswer.slot_id == slot.id, SyncAnswer.agent_id == agent.id)
    ).first()
    earlier = (stored.answer or {}).get(MESSAGE_KEY) if stored is not None and stored.answered_at else None
    if isinstance(earlier, str) and _ts(earlier) > _ts(ts):
        raise Unaddressed("a reply older than the answer stored")


def _follow(ctx: Context, plan: Plan, agent: Agent, slot: SyncSlot, text: str, blocked: str | None) -> str:
    """The blocker the answer names, followed from now on: linked to the task it names (T12), else the one
    it blocks."""
    task = task_named(ctx.session, plan, text)
    if task is None and blocked is not None:
        task = ctx.session.exec(select(Task).where(Task.plan_id == plan.id, Task.key == blocked)).first()
    blocker, new = note_blocker(ctx.session, plan, agent, text, task=task, slot=slot, now=ctx.now)
    on = f" on {task.key}" if task is not None else ""
    if not new:
        return f"Blocker {blocker.key}{on} is still open: noted again."
    days = settings_of(plan).blocker_escalation_days
    return (
        f"Blocker {blocker.key}{on} noted: you will be reminded each working day it stays open, and the leads "
        f"told after {working_days(days)}; `blockers close {blocker.key}` (or Resolved) closes it."
    )


def _fields(pairs: list[str]) -> dict[str, str]:
    answer = {}
    for pair in pairs:
        matched = FIELD.match(pair)
        if matched is None:
            raise UsageError(f"--field {pair[:40]!r}: write KEY=TEXT, e.g. --field today=finish the login page")
        key, text = matched.groups()
        if text.strip():
            answer[key] = text.strip()[:MAX_ANSWER]
    return answer


def _in_progress(ctx: Context, agent: Agent) -> str | None:
    """The agent's oldest task in progress: what a blocker holds up unless the answer names one."""
    return ctx.session.exec(
        select(Task.key)
        .where(Task.agent_id == agent.id, Task.status == "in-progress", col(Task.archived).is_(False))
        .order_by(func.coalesce(Task.started_at, Task.status_changed_at))
        .limit(1)
    ).first()


def _task_change(ctx: Context, plan: Plan, agent: Agent, name: str, action: str, reason: str | None) -> str:
    """One task change asked in an answer; a change that cannot be made is said, and the answer still kept."""
    try:
        task = resolve_task(ctx, plan, name)
    except CommandError as exc:
        return f"{name}: {exc.message}"
    if task.agent_id != agent.id:
        return f"{task.key} is not {agent.key}'s task: left as it is"
    try:
        with ctx.session.begin_nested():
            change_task(ctx.session, plan, task, action, actor=ctx.actor.id, now=ctx.now, reason=reason)
    except StateError as exc:
        return f"{task.key} not changed: {exc}"
    return f"{task.key} {task.title!r} is now {task.status}" + (f" ({reason})" if reason else "") + "."


SPECS = [
    CommandSpec("answer", run, add_arguments),
    CommandSpec("answer-form", run_form, _slot_arguments, read_only=True),
    CommandSpec("answers", run_answers, _answers_arguments, read_only=True),
]
