"""App Home: the dashboards of the plans the user takes part in."""

import logging

from bot import blocks
from bot.respond import SlackFront, listen
from models.views.reply import Table

log = logging.getLogger(__name__)
HOME_BLOCK_LIMIT = 100


def register(app, front: SlackFront) -> None:
    def on_home_opened(event, client):
        # Lazily, after the ack: the dashboards take longer than Slack waits for one.
        if event.get("tab", "home") != "home":
            return
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": home_blocks(front, event["user"])})

    listen(app.event("app_home_opened"), on_home_opened)


def home_blocks(front: SlackFront, user_id: str) -> list[dict]:
    how = front.invocation({"id": user_id}, None)
    listing, _ = front.run(["plan", "list", "--mine"], how)
    if listing is None or not isinstance(listing.body, Table) or not listing.body.rows:
        text = "You take part in no plan yet: a lead adds your Slack id to a plan's `roles` or agents."
        return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    published: list[dict] = []
    left_out = 0
    for row in listing.body.rows:
        reply, _ = front.run(["status", row[0]], how)
        if reply is None:
            continue
        rendered = blocks.render(reply)
        if len(published) + len(rendered) + 2 > HOME_BLOCK_LIMIT:
            left_out += 1
            continue
        published += [*rendered, {"type": "divider"}]
    if left_out:
        published.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"{left_out} more plan(s): `/orchestrate status PLAN` shows them"}
                ],
            }
        )
    return published
