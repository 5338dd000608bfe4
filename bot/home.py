"""App Home: what is the person's own. A lead sees the plans they lead with their controls; an agent
their tasks (current, blocked, next) with Start / Done / Blocked, and today's syncs waiting for their
answer with Answer; someone in no plan, how to join one. Always within Slack's 100 blocks of a view."""

import logging
from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, MarkdownTextObject
from slack_sdk.models.views import View
from sqlmodel import Session, select

from bot import blocks
from bot.home_blocks import agent_blocks, burnup_block, join_blocks, pending_blocks
from bot.respond import SlackFront, listen
from models.db.tables import Plan
from models.db.types import utcnow
from models.rules.sync import first_delivery
from models.views.burnup import burnup_now
from models.views.mine import MyWork

log = logging.getLogger(__name__)
HOME_BLOCK_LIMIT = 100
ROOM_FOR_MORE = 2  # the divider and the line that says what did not fit


def register(app, front: SlackFront) -> None:
    def on_home_opened(event, body, client):
        # After the ack: the dashboards take longer than Slack waits for one.
        if event.get("tab", "home") != "home":
            return
        if body.get("event_id") and not first_delivery(front.engine, f"home:{body['event_id']}", now=utcnow()):
            return  # Slack's retry of an open already drawn (X-Slack-Retry-Num), maybe by another replica
        client.views_publish(user_id=event["user"], view=home_view(front, event["user"]))

    listen(app.event("app_home_opened"), on_home_opened)


def home_view(
    front: SlackFront,
    user_id: str,
    notices: Sequence[dict] = (),
    *,
    dashboard: tuple[str, int] | None = None,
    tasks: tuple[str, str, int] | None = None,
    now: datetime | None = None,
) -> dict:
    """The Home tab, read for the person and not audited (opening it is no command).

    ``notices``: blocks of what their last click in the tab answered, shown first. ``dashboard``
    (plan, offset): that plan's dashboard from that stream on (a lead's "Show more" pages in place;
    a plan they do not lead is shown on top). ``tasks`` (plan, agent, offset): that page of their tasks.
    ``now``: the instant it is drawn at (default: the clock's)."""
    now = now or utcnow()
    how = front.invocation({"id": user_id}, None)
    page = ["--plan", tasks[0], "--agent", tasks[1], "--from", str(tasks[2])] if tasks else []
    reply, error = front.run(["mine", *page], how, audited=False, now=now)
    published = _Budget(list(notices))
    if reply is None or not isinstance(reply.body, MyWork):
        published.add([blocks.section_dict(error or "Nothing to show.")])
        return View(type="home", blocks=published.blocks).to_dict()
    mine = reply.body
    if dashboard and dashboard[0] not in mine.leads:  # a plan they work in: its dashboard, on top
        published.add(_dashboard(front, how, *dashboard, now), "plan", dashboard[0], "`/orchestrate status PLAN`")
    if mine.stranger:
        published.add(_dicts(join_blocks(mine)))
        return View(type="home", blocks=published.blocks).to_dict()
    published.add(_dicts(pending_blocks(mine.pending)), "list of syncs", "", "`/orchestrate answer` answers")
    for work in mine.agents:
        see = f"`/orchestrate task list --agent AGENT --plan {work.plan}` shows each"
        published.add(_dicts(agent_blocks(work)), "task list", work.agent, see)
    for plan in mine.leads:
        offset = dashboard[1] if dashboard and dashboard[0] == plan else 0
        board = _with_burnup(_dashboard(front, how, plan, offset, now), _burnup(front, plan, now))
        published.add(board, "plan", plan, "`/orchestrate status PLAN` shows each")
    return View(type="home", blocks=blocks.unique_action_ids(published.finish())).to_dict()


def _dicts(parts: Sequence[Block]) -> list[dict]:
    return [block.to_dict() for block in parts]


def _dashboard(front: SlackFront, how, plan: str, offset: int, now: datetime) -> list[dict]:
    reply, error = front.run(["status", plan], how, audited=False, now=now)
    if reply is None:
        return [blocks.section_dict(error or f"{plan}: nothing to show")]
    return blocks.render(reply, offset=offset)


def _burnup(front: SlackFront, plan_key: str, now: datetime) -> list[dict]:
    """A lead's plan's burn-up as it stands (two statements), drawn as text: an image block needs a public URL."""
    with Session(front.engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == plan_key)).first()
        point = burnup_now(session, plan, now) if plan is not None else None
    return [burnup_block(point).to_dict()] if point is not None else []


def _with_burnup(board: list[dict], burnup: list[dict]) -> list[dict]:
    """The burn-up under the dashboard's overall progress: before its first divider."""
    cut = next((n for n, block in enumerate(board) if block.get("type") == "divider"), len(board))
    return [*board[:cut], *burnup, *board[cut:]]


class _Budget:
    """The Home view's blocks, part by part while they fit in 100; what does not fit is named and said."""

    def __init__(self, start: list[dict]):
        self.blocks = start
        self.left: dict[tuple[str, str], list[str]] = {}  # (kind, how to see one) -> the names left out

    def add(self, part: list[dict], kind: str = "", name: str = "", how: str = "") -> None:
        if not part:
            return
        if len(self.blocks) + len(part) + 1 > HOME_BLOCK_LIMIT - ROOM_FOR_MORE:
            self.left.setdefault((kind, how), []).append(name)
            return
        self.blocks += [*part, DividerBlock().to_dict()]

    def finish(self) -> list[dict]:
        lines = []
        for (kind, how), names in self.left.items():
            many = len(names) > 1
            named = blocks.escape(blocks.plain(", ".join(n for n in names if n), 1500))
            lines.append(f"{len(names)} more {kind}{'s' if many else ''} did not fit here ({named}): {how}")
        if lines:
            self.blocks.append(ContextBlock(elements=[MarkdownTextObject(text="\n".join(lines))]).to_dict())
        return self.blocks
