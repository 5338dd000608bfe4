"""App Home: the dashboards of the plans the user takes part in."""

import logging
from collections.abc import Sequence

from slack_sdk.models.blocks import ContextBlock, DividerBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from bot import blocks
from bot.respond import SlackFront, listen
from models.db.types import utcnow
from models.rules.sync import first_delivery
from models.views.reply import Table

log = logging.getLogger(__name__)
HOME_BLOCK_LIMIT = 100


def register(app, front: SlackFront) -> None:
    def on_home_opened(event, body, client):
        # After the ack: the dashboards take longer than Slack waits for one.
        if event.get("tab", "home") != "home":
            return
        if body.get("event_id") and not first_delivery(front.engine, f"home:{body['event_id']}", now=utcnow()):
            return  # Slack's retry of an open already drawn (X-Slack-Retry-Num), maybe by another replica
        client.views_publish(user_id=event["user"], view=home_view(front, event["user"]))

    listen(app.event("app_home_opened"), on_home_opened)


def home_view(front: SlackFront, user_id: str, notices: Sequence[dict] = ()) -> dict:
    """The Home tab: a view of the user's plans, read for them and not audited (opening it is no command).

    ``notices``: blocks of what the user's last click in the tab answered, shown first."""
    how = front.invocation({"id": user_id}, None)
    listing, _ = front.run(["plan", "list", "--mine"], how, audited=False)
    top = list(notices)
    if listing is None or not isinstance(listing.body, Table) or not listing.body.rows:
        text = "You take part in no plan yet: a lead adds your Slack id to a plan's `roles` or agents."
        return View(type="home", blocks=[*top, SectionBlock(text=MarkdownTextObject(text=text))]).to_dict()
    published: list[dict] = list(top)
    left_out = 0
    for row in listing.body.rows:
        reply, _ = front.run(["status", row[0]], how, audited=False)
        if reply is None:
            continue
        rendered = blocks.render(reply)
        if len(published) + len(rendered) + 2 > HOME_BLOCK_LIMIT:
            left_out += 1
            continue
        published += [*rendered, DividerBlock().to_dict()]
    if left_out:
        more = f"{left_out} more plan(s): `/orchestrate status PLAN` shows them"
        published.append(ContextBlock(elements=[MarkdownTextObject(text=more)]).to_dict())
    return View(type="home", blocks=published).to_dict()
