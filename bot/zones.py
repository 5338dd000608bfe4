"""People's time zones from Slack: `users.info` for those the plan gives none, cached a day.

Slack's users.info answers ``{"ok": true, "user": {..., "tz": "Europe/Paris", "tz_label": ...,
"tz_offset": 3600}}`` (docs.slack.dev/reference/methods/users.info; tests/slack_payloads/
api_users_info.json). It is Tier 4 (100 a minute): a round asks at most ZONES_PER_ROUND users and
stops at the first 429, the next round goes on.
"""

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from models.db.store import session_scope
from models.state.people import keep_zone, zones_to_refresh

log = logging.getLogger(__name__)
ZONES_PER_ROUND = 50


def refresh_zones(engine: Engine, client: WebClient, now: datetime) -> int:
    """Ask Slack the zones that are missing or a day old; returns how many were asked."""
    with session_scope(engine) as session:
        users = zones_to_refresh(session, now, ZONES_PER_ROUND)
    asked = 0
    for user in users:
        try:
            zone = client.users_info(user=user)["user"].get("tz")
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                break  # the next round asks the rest
            if exc.response.get("error") == "missing_scope":  # asking the others would be refused too
                log.warning(
                    "Slack refused users.info: the app lacks the users:read scope; reinstall it from "
                    "manifest.yml. Until then everyone the plan gives no zone gets the plan's."
                )
                break
            zone = None  # user_not_found and the like: the plan's zone, asked again tomorrow
            log.info("users.info %s: %s", user, exc.response.get("error"))
        with session_scope(engine) as session:
            keep_zone(session, user, zone, now)
        asked += 1
    return asked
