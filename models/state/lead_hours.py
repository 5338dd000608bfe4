"""Quiet hours for the leads' direct messages: an alert below critical to the leads is not sent
to a lead outside their working hours; it waits for the start of their next working time.

The outbox has one row for "leads" (every lead in one send). When a lead is outside their hours,
that row is split into one row per lead, each addressed to the lead's Slack id (their direct message
with the app) and due at the start of that lead's working time (now for those at work). Critical
alerts always go at once (docs/semantics.md, "People and time").
"""

from datetime import datetime

from sqlmodel import Session, select

from models.db.tables import Alert, AlertDelivery, Plan, id_of
from models.state.alerts import LEADS
from models.state.people import Availability

SPLIT = "split"  # the status of a "leads" row whose leads each got a row of their own


def split_for_quiet_hours(session: Session, delivery: AlertDelivery, now: datetime) -> bool:
    """Split a claimed "leads" row when a lead is outside their working hours; True if it was split."""
    if delivery.destination != LEADS or delivery.status != "pending":
        return False
    alert = session.get_one(Alert, delivery.alert_id)
    if alert.level == "critical":
        return False
    people = Availability(session, session.get_one(Plan, alert.plan_id), now)
    leads = people.leads_to_reach()
    if all(people.calendar(lead).is_working_time(now) for lead in leads):
        return False
    have = set(session.exec(select(AlertDelivery.destination).where(AlertDelivery.alert_id == alert.id)).all())
    for lead in leads:
        if lead not in have:
            calendar = people.calendar(lead)
            due = now if calendar.is_working_time(now) else calendar.add_working(now, 0)
            session.add(AlertDelivery(alert_id=id_of(alert), destination=lead, next_attempt_at=due))
    delivery.status, delivery.sent_at = SPLIT, None
    delivery.last_error = "quiet hours: one direct message per lead, each at the start of their working time"
    session.add(delivery)
    return True
