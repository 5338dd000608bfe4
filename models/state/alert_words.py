"""What an alert says, for the people who read it: a title on the first line, then a short body.

The title says what happened to what ("T21 blocked: CI/CD pipeline"); the body what it concerns,
the value against its target, and what the bot did about it. Every destination shows the same
words: Slack bolds the title, an email takes it as its subject, an SMS starts with it.
"""

from typing import Any

from sqlmodel import Session, select

from models.db.tables import Checkpoint, Plan, Task
from models.time.units import UnitError, parse_condition

# What a risk trigger's action did, as the alert's body says it.
ACTION_DONE = {
    "escalate-to-lead": "The leads are told by direct message.",
    "block-deployment": "Deployment is blocked until it clears, or a lead runs `unblock-deployment --reason …`.",
    "performance-review": "A performance review task was added.",
    "all-hands-alert": "All hands are called in the plan's channel.",
}
COMPARED = {"<": "below", "<=": "at most", ">": "above", ">=": "at least", "==": "at", "!=": "not"}


def alert_words(session: Session, plan: Plan, name: str, detail: dict[str, Any]) -> str:
    """The title and body of an event's alert (title, newline, body)."""
    if detail.get("message"):  # a load-balancing move, an event that carries its own words
        return str(detail["message"])
    title, body = _words(session, plan, name, detail)
    return "\n".join(part for part in (title, body) if part)


def _words(session: Session, plan: Plan, name: str, d: dict[str, Any]) -> tuple[str, str]:
    reason = f"Reason: {d['reason']}" if d.get("reason") else ""
    if name == "task-complete":
        return _task(session, plan, d.get("task"), "done"), ""
    if name == "task-blocked":
        return _task(session, plan, d.get("task"), "blocked"), reason
    if name == "task-delayed":
        if d.get("tasks"):
            return f"Tasks late: {d['tasks']}", "Past their planned due time and not done."
        return f"{d.get('task')} late: {d.get('title')}", "Past its planned due time and not done."
    if name == "checkpoint-passed":
        gate = _gate(session, plan, d.get("checkpoint"))
        if d.get("forced"):
            return f"Gate {gate} passed by force", "Passed with criteria unmet (`validate --force`)."
        return f"Gate {gate} passed", "Every criterion met."
    if name == "checkpoint-missed":
        gate = _gate(session, plan, d.get("checkpoint"))
        return f"Gate {gate} missed", "Due and not passed: the tasks planned after it wait until it passes."
    if name == "stream-paused":
        return f"{d.get('stream')} paused", reason
    if name == "stream-resumed":
        return f"{d.get('stream')} resumed", ""
    if name == "plan-stopped":
        title = "Emergency stop: every stream halted" if d.get("emergency") else "Plan stopped"
        return title, reason + (" · " if reason else "") + "`start` resumes it."
    if name == "agent-down":
        return f"{d.get('agent')} is down", _sentence(d.get("why"))
    if name == "agent-recovered":
        return f"{d.get('agent')} is back up", ""
    if name.startswith("risk:"):
        return _risk(name.removeprefix("risk:"), d)
    if name.startswith("day-") and name.endswith("-complete"):
        return f"Working day {name.removeprefix('day-').removesuffix('-complete')} complete", ""
    return name.replace("-", " ").capitalize(), ", ".join(f"{k}: {v}" for k, v in d.items() if v)


def _risk(condition: str, d: dict[str, Any]) -> tuple[str, str]:
    done = ACTION_DONE.get(str(d.get("action")), f"Action: {d.get('action')}.")
    try:
        parsed = parse_condition(condition)
    except UnitError:
        parsed = None
    if parsed is None or parsed.metric is None or parsed.comparison is None:
        return f"Risk: {condition}", done
    metric = parsed.metric.replace("-", " ").capitalize()
    compared = COMPARED.get(parsed.comparison.op, parsed.comparison.op)
    return f"{metric} is {d.get('value')}, {compared} {parsed.comparison.threshold.display()}", done


def _task(session: Session, plan: Plan, key: object, what: str) -> str:
    title = session.exec(select(Task.title).where(Task.plan_id == plan.id, Task.key == key)).first()
    return f"{key} {what}: {title}" if title else f"{key} {what}"


def _gate(session: Session, plan: Plan, key: object) -> str:
    name = session.exec(select(Checkpoint.name).where(Checkpoint.plan_id == plan.id, Checkpoint.key == key)).first()
    return f"{key} ({name})" if name else str(key)


def _sentence(text: object) -> str:
    words = str(text or "").strip()
    return words[:1].upper() + words[1:] + ("" if not words or words.endswith(".") else ".")
