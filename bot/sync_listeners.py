"""Answers to sync prompts: the Answer button's modal, and replies in the prompt's thread.

Each listener acks at once in the request and does its work lazily (see bot.respond.listen).
"""

import json
from collections.abc import Sequence

from sqlmodel import col, select

from bot.respond import SlackFront, listen
from bot.sync_post import refresh_prompt
from models.db.store import session_scope
from models.db.tables import Agent, Plan, SyncSlot, Task, id_of
from models.db.types import utcnow
from models.rules.sync import first_time_seen, record_answer, slot_for_thread

QUESTIONS = {
    "standup": [
        ("yesterday", "What did you do yesterday?"),
        ("today", "What will you do today?"),
        ("blockers", "Anything blocking you?"),
    ],
    "progress-check": [("progress", "How is it going?"), ("blockers", "Anything blocking you?")],
    "end-of-day": [
        ("done_today", "What did you finish today?"),
        ("tomorrow", "What comes next tomorrow?"),
        ("blockers", "Anything blocking you?"),
    ],
}
DEFAULT_QUESTIONS = [("update", "Your update"), ("blockers", "Anything blocking you?")]
OPEN = ("ready", "in-progress", "blocked")


def register(app, front: SlackFront) -> None:
    def on_answer_button(body, action, client, respond):
        user = body["user"]["id"]
        with session_scope(front.engine) as session:
            slot = session.get(SyncSlot, int(action["value"]))
            agent = (
                session.exec(
                    select(Agent).where(
                        Agent.plan_id == slot.plan_id, Agent.slack_user == user, col(Agent.archived).is_(False)
                    )
                ).first()
                if slot
                else None
            )
            if agent is None or slot is None:
                respond(
                    text=":no_entry: this prompt asks the plan's agents; you are not one of them",
                    response_type="ephemeral",
                    replace_original=False,
                )
                return
            tasks = session.exec(
                select(Task.key, Task.title)
                .where(Task.agent_id == agent.id, col(Task.status).in_(OPEN), col(Task.archived).is_(False))
                .order_by(col(Task.position))
                .limit(100)
            ).all()
            view = answer_view(slot, agent, tasks, body.get("channel", {}).get("id"))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    listen(app.action("sync_answer"), on_answer_button)

    def on_answer(body, view, client):
        context = json.loads(view["private_metadata"])
        values = {block: next(iter(fields.values())) for block, fields in view["state"]["values"].items()}
        answer = {
            key: (value.get("value") or "").strip()
            for key, value in values.items()
            if value.get("type") == "plain_text_input"
        }
        done = [o["value"] for o in (values.get("tasks_done", {}).get("selected_options") or [])]
        blocked = (values.get("blocked_task", {}).get("selected_option") or {}).get("value")
        now = utcnow()
        with session_scope(front.engine) as session:
            slot = session.get_one(SyncSlot, context["slot"])
            agent = session.get_one(Agent, context["agent"])
            plan_key = session.get_one(Plan, slot.plan_id).key
            record_answer(session, slot, agent, {**answer, "tasks_done": done}, now=now, source="slack")
            if answer.get("blockers") and not blocked:
                blocked = session.exec(
                    select(Task.key)
                    .where(Task.agent_id == agent.id, Task.status == "in-progress")
                    .order_by(col(Task.started_at))
                ).first()
        how = front.invocation(body["user"], {"id": context.get("channel")})
        for key in done:
            front.run(["task", "done", key, "--plan", plan_key], how)
        if answer.get("blockers") and blocked:
            # A blocker in an answer blocks the task, which raises task-blocked.
            front.run(["task", "block", blocked, "--reason", answer["blockers"], "--plan", plan_key], how)
        refresh_prompt(client, front.engine, context["slot"], now=now)

    listen(app.view("sync_answer_submit"), on_answer)

    def on_message(event, body, client):
        if event.get("subtype") or event.get("bot_id") or event.get("thread_ts") in (None, event.get("ts")):
            return  # only people's replies in a thread count
        now = utcnow()
        with session_scope(front.engine) as session:
            if not first_time_seen(session, body.get("event_id") or f"{event['channel']}:{event['ts']}", now=now):
                return  # a retry of an event already handled
            slot = slot_for_thread(session, event["channel"], event["thread_ts"])
            if slot is None:
                return
            agent = session.exec(
                select(Agent).where(Agent.plan_id == slot.plan_id, Agent.slack_user == event.get("user"))
            ).first()
            if agent is None:
                return
            record_answer(session, slot, agent, {"reply": event.get("text", "")[:2000]}, now=now, source="thread")
            slot_id = id_of(slot)
        refresh_prompt(client, front.engine, slot_id, now=now)

    listen(app.event("message"), on_message)


def answer_view(slot: SyncSlot, agent: Agent, tasks: Sequence[tuple[str, str]], channel: str | None) -> dict:
    sync_type = slot.entry.split("@")[0]
    blocks = [
        {
            "type": "input",
            "block_id": key,
            "optional": key == "blockers",
            "label": {"type": "plain_text", "text": label},
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2000},
        }
        for key, label in QUESTIONS.get(sync_type, DEFAULT_QUESTIONS)
    ]
    options = [{"text": {"type": "plain_text", "text": f"{key} {title}"[:75]}, "value": key} for key, title in tasks]
    if options:
        blocks.append(
            {
                "type": "input",
                "block_id": "tasks_done",
                "optional": True,
                "label": {"type": "plain_text", "text": "Mark done"},
                "element": {"type": "multi_static_select", "action_id": "value", "options": options},
            }
        )
        blocks.append(
            {
                "type": "input",
                "block_id": "blocked_task",
                "optional": True,
                "label": {"type": "plain_text", "text": "Blocked task (default: your task in progress)"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
            }
        )
    return {
        "type": "modal",
        "callback_id": "sync_answer_submit",
        "private_metadata": json.dumps({"slot": slot.id, "agent": agent.id, "channel": channel}),
        "title": {"type": "plain_text", "text": f"{sync_type.replace('-', ' ').title()}"[:24]},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
