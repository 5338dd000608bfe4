"""Requests from the bot's own workspace only.

The signing secret is the app's, not the workspace's: an app installed in several workspaces
(or a request crafted by one of them) carries the same valid signature. The bot token belongs
to one workspace (or one Enterprise Grid organisation, for an org-wide install), as
``auth.test`` says; every request from elsewhere is refused before any listener runs.
"""

import logging

from slack_bolt import BoltContext, BoltResponse

log = logging.getLogger(__name__)

REFUSAL = "this app serves another Slack workspace"


class Workspace:
    def __init__(self, auth_test: dict):
        self.team_id = auth_test.get("team_id")
        self.enterprise_id = auth_test.get("enterprise_id") or None
        self.org_wide = bool(auth_test.get("is_enterprise_install"))

    def admits(self, team_id: str | None, enterprise_id: str | None) -> bool:
        if self.org_wide:
            return enterprise_id is not None and enterprise_id == self.enterprise_id
        if enterprise_id not in (None, self.enterprise_id):
            return False
        return team_id is not None and team_id == self.team_id

    def middleware(self, context: BoltContext, next) -> BoltResponse | None:
        if self.admits(context.team_id, context.enterprise_id):
            return next()
        log.warning(
            "refused a request from another workspace: team %.20r, enterprise %.20r",
            context.team_id,
            context.enterprise_id,
        )
        return BoltResponse(status=403, body=REFUSAL)
