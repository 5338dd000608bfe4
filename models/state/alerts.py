"""Alerts: every event has a level; the plan's `alerts` routes send it to destinations.

An event listed in a route goes by that route; one listed nowhere goes by the
route of its level. The alert and one delivery row per destination are
written in the same transaction as the event, so nothing raised is lost; the
delivery worker (bot/delivery.py) sends each row at least once. The same event
repeating within the group window updates one alert's count instead of
raising another.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from models.db.tables import Alert, AlertDelivery, Event, Plan, id_of
from models.plan.schema import PlanSettings
from models.plan.settings import settings_of
from models.state.alert_words import ACTION_DONE, alert_words

GROUP_WINDOW = timedelta(minutes=5)
LEVELS = ("info", "warning", "critical")

# The level of each event the bot itself raises; any other event is info.
EVENT_LEVELS = {
    "task-complete": "info",
    "checkpoint-passed": "info",
    "stream-paused": "info",
    "stream-resumed": "info",
    "task-delayed": "warning",
    "task-blocked": "warning",
    "test-failed": "warning",
    "plan-stopped": "warning",
    "checkpoint-missed": "critical",
    "agent-down": "critical",
    "critical-bug": "critical",
    "critical-bug-found": "critical",
    "deployment-failed": "critical",
    "blocker-reminder": "info",
    "blocker-escalated": "warning",
}
SEVERITY_LEVELS = {"low": "info", "medium": "warning", "high": "warning", "critical": "critical"}

# What an alert is about: alerts group only when these details of their events agree.
SUBJECT_KEYS = ("checkpoint", "task", "tasks", "stream", "agent")

# Destinations that are not in a plan's `destinations` section.
LEADS = "leads"  # a direct message to each lead
CHANNEL_HERE = "channel-here"  # the plan's channel, with @here
PLAN_CHANNEL = "plan-channel"  # the plan's channel, without @here (announcements)


def level_of(name: str, given: str | None = None) -> str:
    return given or EVENT_LEVELS.get(name, "info")


def route(plan: Plan, name: str, level: str) -> list[str]:
    """The destinations of an event: its route if one lists it, else its level's route."""
    routes = settings_of(plan).alerts
    listed = [r for r in routes if name in r.events]
    chosen = listed or [r for r in routes if r.level == level]
    destinations: list[str] = []
    for r in chosen:
        destinations += [c for c in r.channel if c not in destinations]
    return destinations


def slack_channel(settings: PlanSettings, plan_channel: str | None, destination: str) -> str | None:
    """The Slack channel a destination posts in: a name from `destinations`, a channel given as is
    (`#name`, `C…`), or the plan's own; None for email, SMS, the leads' direct messages, unknown names."""
    if destination in (CHANNEL_HERE, PLAN_CHANNEL):
        return plan_channel
    target = settings.destinations.get(destination)
    if target is not None:
        return target.slack
    # A user id (U…, W…) is their direct message with the app: Slack posts there given the id as the channel.
    return destination if destination.startswith("#") or destination[:1] in ("C", "G", "D", "U", "W") else None


def alert_for_event(
    session: Session,
    plan: Plan,
    event: Event,
    *,
    now: datetime,
    extra_destinations: tuple[str, ...] = (),
    grouped: bool = True,
    routed: bool = True,
) -> Alert | None:
    """Raise (or group into) an alert for an event just stored; None when no route takes it.

    ``grouped=False`` for events each worth its own message (a load-balancing move).
    """
    routed_to = route(plan, event.name, event.level) if routed else []
    # The plan's channel once, where a route already posts there.
    in_plan_channel = any(slack_channel(settings_of(plan), plan.channel, d) == plan.channel for d in routed_to)
    destinations = routed_to + [d for d in extra_destinations if not (d == PLAN_CHANNEL and in_plan_channel)]
    if not destinations:
        return None
    recent = _same_alert(session, plan, event, now) if grouped else None
    if recent is not None:
        recent.group_count += 1
        recent.last_seen_at, recent.text = now, alert_words(session, plan, event.name, event.detail)
        session.add(recent)
        # A Slack message already sent shows the new count; other kinds are not sent again.
        for delivery in session.exec(
            select(AlertDelivery).where(
                AlertDelivery.alert_id == recent.id,
                AlertDelivery.status == "sent",
                col(AlertDelivery.external_ref).is_not(None),
            )
        ):
            delivery.status, delivery.next_attempt_at = "update", now
            session.add(delivery)
        return recent
    alert = Alert(
        plan_id=id_of(plan),
        event_id=event.id,
        event_name=event.name,
        level=event.level,
        text=alert_words(session, plan, event.name, event.detail),
        status=opening_status(event.level),
        created_at=now,
        last_seen_at=now,
    )
    session.add(alert)
    session.flush()
    for destination in dict.fromkeys(destinations):
        session.add(AlertDelivery(alert_id=id_of(alert), destination=destination, next_attempt_at=now))
    return alert


def join_alert(
    session: Session,
    plan: Plan,
    alert: Alert,
    *,
    name: str,
    level: str,
    extra_destinations: tuple[str, ...],
    action: str,
) -> None:
    """Widen an alert a trigger fired on: the higher level, and only the destinations it lacks.

    The trigger reaches whom its own alert would have (its level's route and its extras), but
    a destination the alert already has is not sent a second message.
    """
    if LEVELS.index(level) > LEVELS.index(alert.level):
        alert.level = level
        if alert.status == "notice":
            alert.status = opening_status(level)
    words = ACTION_DONE.get(action, f"Action: {action}.")
    if words not in alert.text:
        alert.text = f"{alert.text}\n{words}"
    session.add(alert)
    have = set(session.exec(select(AlertDelivery.destination).where(AlertDelivery.alert_id == alert.id)).all())
    for destination in dict.fromkeys([*route(plan, name, level), *extra_destinations]):
        if destination not in have:
            session.add(
                AlertDelivery(alert_id=id_of(alert), destination=destination, next_attempt_at=alert.last_seen_at)
            )


def opening_status(level: str) -> str:
    """News (a task done, a gate passed) is a notice: nobody is asked to acknowledge or resolve it."""
    return "notice" if level == "info" else "open"


def subject_of(detail: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(detail.get(key) for key in SUBJECT_KEYS)


def _same_alert(session: Session, plan: Plan, event: Event, now: datetime) -> Alert | None:
    """The newest alert of the same event about the same thing within the group window, if any."""
    candidates = session.exec(
        select(Alert, Event.detail)
        .join(Event, col(Event.id) == Alert.event_id)
        .where(
            Alert.plan_id == plan.id,
            Alert.event_name == event.name,
            Alert.status != "resolved",
            Alert.last_seen_at >= now - GROUP_WINDOW,
        )
        .order_by(col(Alert.id).desc())
    ).all()
    subject = subject_of(event.detail)
    return next((alert for alert, detail in candidates if subject_of(detail or {}) == subject), None)


def escalations_due(session: Session, plan: Plan, now: datetime, after: timedelta, limit: int) -> list[Alert]:
    """A plan's critical alerts nobody acknowledged, due for another round of direct messages."""
    rows = session.exec(
        select(Alert).where(
            Alert.plan_id == plan.id, Alert.level == "critical", Alert.status == "open", Alert.escalations < limit
        )
    ).all()
    return [a for a in rows if now - a.created_at >= after * (a.escalations + 1)]
