"""Replies as Block Kit, built with slack_sdk's models so Slack's limits are checked.

Large plans never break a limit: long lists are cut into pages that fit a
message (50 blocks, 3,000 characters a section) and end with a "Show more"
button carrying the next offset. Everything a person or a machine wrote
(titles, reasons, names) is escaped before it is put in mrkdwn, so it can
never ping a channel or a person, or forge a link.
"""

import json
import re
from datetime import datetime
from functools import singledispatch

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.text import bar, pct
from models.db.tables import Alert
from models.time.units import format_duration
from models.views.agents import AGENTS_PER_PAGE, AgentMonitor
from models.views.dashboard import Dashboard
from models.views.reply import Checklist, HelpText, Message, Reply, Table
from models.views.sync import DaySummary, SyncPrompt

SECTION_LIMIT = 3000
STREAMS_PER_PAGE = 20
LINES_PER_SECTION = 25
MAX_MESSAGE_BLOCKS = 50  # Slack refuses a message of more blocks
SECTIONS_PER_PAGE = 4

STATUS_EMOJI = {
    "On Track": ":large_green_circle:",
    "Starting": ":white_circle:",
    "At Risk": ":large_yellow_circle:",
    "Delayed": ":red_circle:",
    "Paused": ":double_vertical_bar:",
    "Stopped": ":octagonal_sign:",
    "Done": ":white_check_mark:",
    "Not Started": ":white_circle:",
}
AGENT_EMOJI = {
    "ACTIVE": ":large_green_circle:",
    "IDLE": ":white_circle:",
    "PREPARING": ":large_blue_circle:",
    "PAUSED": ":double_vertical_bar:",
    "DOWN": ":red_circle:",
}


def escape(text: object) -> str:
    """Slack's three control characters, so user text stays text (no <!here>, <@U…>, <url|label>)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: object, limit: int = 150) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_body_dicts(body, *, offset: int = 0) -> list[dict]:
    """A body's blocks as the Web API takes them (validated by slack_sdk on the way)."""
    return [block.to_dict() for block in render_blocks(body, offset=offset)]


def render(reply: Reply, *, offset: int = 0, actor_user: str | None = None) -> list[dict]:
    blocks = render_blocks(reply.body, offset=offset)
    if reply.announce and actor_user:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"by <@{escape(actor_user)}>")]))
    return [block.to_dict() for block in blocks]  # to_dict() runs slack_sdk's validators


def fallback_text(reply: Reply) -> str:
    """The notification text that goes with the blocks (Slack parses it too: escaped like them)."""
    body = reply.body
    if isinstance(body, Dashboard):
        text = f"{body.plan}: {pct(body.progress)} done, {body.plan_status}"
    elif isinstance(body, Message):
        text = plain(body.text, 300)
    elif isinstance(body, Checklist):
        text = f"{body.checkpoint} {body.name}"
    else:
        text = plain(getattr(body, "title", None) or body.kind, 300)
    return escape(text)


def posted_note(reply: Reply) -> str:
    """What the asker is told when their command's reply went out as the bot's own message."""
    body = reply.body
    if isinstance(body, SyncPrompt):
        return f"Posted a {escape(body.sync_type)} prompt: {len(body.agents)} agent(s) asked."
    return f"Posted: {fallback_text(reply)}"


def section_dict(text: str) -> dict:
    """One section of mrkdwn text (cut to Slack's 3,000 characters), as a dict."""
    return _section(text).to_dict()


def _section(text: str, **kw) -> SectionBlock:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=text), **kw)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=plain(text, 75), action_id=action_id, value=value, style=style)


def more_button(
    command: str, plan: str | None, offset: int, *, page: int | None = None, **more: object
) -> ActionsBlock:
    """ "Show more": the command again, from ``offset`` in its reply, or for its ``page`` (health's);
    ``more``: what else names it (a sync prompt's slot)."""
    value = json.dumps({"command": command, "plan": plan, "offset": offset, **({"page": page} if page else {}), **more})
    return ActionsBlock(elements=[_button("Show more", "page_more", value)])


def _lines_in_pages(lines: list[str], offset: int) -> tuple[list[SectionBlock], int | None]:
    """Sections of at most LINES_PER_SECTION lines, a page of them; and the next offset, if any."""
    page = lines[offset : offset + LINES_PER_SECTION * SECTIONS_PER_PAGE]
    sections = [_section("\n".join(page[i : i + LINES_PER_SECTION])) for i in range(0, len(page), LINES_PER_SECTION)]
    following = offset + len(page)
    return sections, following if following < len(lines) else None


@singledispatch
def render_blocks(body, *, offset: int = 0) -> list[Block]:
    return [_section(escape(body))]


@render_blocks.register
def _message_blocks(body: Message, *, offset: int = 0) -> list[Block]:
    blocks: list[Block] = [_section(escape(body.text))]
    if body.details:
        blocks.append(_section("\n".join(f"• {escape(line)}" for line in body.details)))
    return blocks


@render_blocks.register
def _help_blocks(body: HelpText, *, offset: int = 0) -> list[Block]:
    return [_section(f"```{escape(body.text)}```")]


@render_blocks.register
def _table_blocks(body: Table, *, offset: int = 0) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=plain(body.title))]
    if not body.rows:
        return [*blocks, _section(escape(body.empty))]
    lines = [" · ".join(escape(cell) for cell in row if cell) for row in body.rows]
    sections, following = _lines_in_pages(lines, offset)
    blocks += sections
    shown = min(len(body.rows), following or len(body.rows))
    if body.total > shown:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"showing {shown} of {body.total}")]))
    return blocks


@render_blocks.register
def _dashboard_blocks(body: Dashboard, *, offset: int = 0) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=plain(f"{body.plan} · {body.title}"))]
    if body.plan_status == "stopped":
        kind = "EMERGENCY STOP" if body.emergency else "STOPPED"
        blocks.append(_section(f":octagonal_sign: *{kind}*: {escape(body.stop_reason)}"))
    if body.deployment_blocked:
        blocks.append(_section(f":no_entry: *DEPLOYMENT BLOCKED*: {escape(body.deployment_blocked)}"))
    if body.started_at is None:
        timing = f"Not started · ETA on plan: {_eta(body)}"
    else:
        timing = f"Elapsed {format_duration(body.elapsed_s)} · ETA {_eta(body)}"
    blocks.append(
        _section(
            f"*Overall* `{bar(body.progress, 18)}` *{pct(body.progress)}*"
            f" (planned {pct(body.planned_progress)})\n{timing}"
        )
    )
    blocks.append(DividerBlock())
    page = body.streams[offset : offset + STREAMS_PER_PAGE]
    for stream in page:
        text = (
            f"*{escape(stream.key)}*  `{bar(stream.progress, 14)}` {pct(stream.progress)}  "
            f"{STATUS_EMOJI.get(stream.status, '')} {stream.status}"
        )
        blocks.append(_section(text, accessory=_stream_button(body, stream)))
    following = offset + len(page)
    if following < len(body.streams):
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"streams {offset + 1}–{following} of {len(body.streams)}")])
        )
        blocks.append(more_button("status", body.plan, following))
    c = body.counts
    context = f"Active {c.active} · Completed {c.completed} · Blocked {c.blocked} · Failed {c.failed}"
    if body.next_checkpoint:
        cp = body.next_checkpoint
        due = f"due {cp.due_at:%a %d %b %H:%M %Z}" if cp.due_at else f"day {cp.day}"
        context += f" · next gate *{escape(cp.key)}* {due}, {cp.met}/{cp.criteria} met"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    if offset == 0 and body.metrics:
        lines = []
        for m in body.metrics:
            mark = {True: ":white_check_mark:", False: ":x:", None: "·"}[m.ok]
            target = f" (target {escape(m.target)})" if m.target else ""
            trend = {"up": " :arrow_upper_right:", "down": " :arrow_lower_right:", "flat": " :arrow_right:", None: ""}[
                m.trend
            ]
            lines.append(f"{mark} {escape(m.name)}: *{escape(m.display)}*{trend}{target}")
        blocks.append(_section("\n".join(lines)))
    blocks.append(ActionsBlock(elements=[_button("Refresh", "dashboard_refresh", body.plan)]))
    return blocks


def _stream_button(body: Dashboard, stream) -> ButtonElement | None:
    if body.plan_status == "stopped":
        return None
    value = f"{body.plan}|{stream.key}"
    if stream.status == "Paused":
        return _button("Resume", "stream_resume", value, "primary")
    return _button("Pause", "stream_pause", value)


def _eta(body: Dashboard) -> str:
    if body.eta_at is None:
        return "—"
    return f"{format_duration(body.eta_s)} ({body.eta_at:%a %d %b %H:%M %Z})"


@render_blocks.register
def _agent_monitor_blocks(body: AgentMonitor, *, offset: int = 0) -> list[Block]:
    lines = []
    for a in body.agents:
        task = escape(a.current_title) if a.current_title else "_awaiting tasks_"
        health = f"{a.health:.0f}%" if a.health is not None else "—"
        lines.append(f"{AGENT_EMOJI[a.status]} *{escape(a.key)}* {a.status} · {task} · health {health}")
    blocks: list[Block] = [HeaderBlock(text=plain(f"Agents · {body.plan}"))]
    if body.pages > 1:  # a big team: what all of them are doing first, then this page
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_agent_summary(body))]))
    sections, following = _lines_in_pages(lines, offset)
    blocks += sections or [_section("no agents")]
    first = (body.page - 1) * AGENTS_PER_PAGE
    if following is not None:  # more of this page than one message holds
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"agents {first + offset + 1}–{first + following} of {body.total}")]
            )
        )
        blocks.append(more_button("health", body.plan, following, page=body.page))
    elif body.page < body.pages:  # the next page: the command runs again for it
        shown = f"agents {first + 1}–{first + len(lines)} of {body.total} · page {body.page} of {body.pages}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shown)]))
        blocks.append(more_button("health", body.plan, 0, page=body.page + 1))
    return blocks


def _agent_summary(body: AgentMonitor) -> str:
    counts = " · ".join(f"{AGENT_EMOJI[status]} {n} {status}" for status, n in body.summary.items())
    return f"*{body.total} agents*: {counts}"


@render_blocks.register
def _checklist_blocks(body: Checklist, *, offset: int = 0) -> list[Block]:
    state = ("forced through" if body.forced else "passed") if body.passed else "open"
    due = f" · due {escape(body.due)}" if body.due else ""
    blocks: list[Block] = [
        HeaderBlock(text=plain(f"{body.checkpoint} · {body.name}")),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"day {body.day}{due}{' · blocker' if body.blocker else ''} · *{state}*")]
        ),
    ]
    for number, text, met, by in body.criteria[:40]:
        mark = ":white_check_mark:" if met else ":white_large_square:"
        accessory = None
        if not met and not body.passed:
            accessory = _button("Tick", "criterion_tick", f"{body.plan}|{body.checkpoint}|{number}")
        who = f" _(by {escape(by)})_" if met and by else ""
        blocks.append(_section(f"{mark} {number}. {escape(text)}{who}", accessory=accessory))
    if body.forced and body.force_reason:
        blocks.append(_section(f":warning: forced by {escape(body.passed_by)}: {escape(body.force_reason)}"))
    if body.note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=escape(body.note))]))
    if not body.passed:
        blocks.append(
            ActionsBlock(elements=[_button("Pass", "checkpoint_pass", f"{body.plan}|{body.checkpoint}", "primary")])
        )
    return blocks


@render_blocks.register
def _sync_prompt_blocks(body: SyncPrompt, *, offset: int = 0) -> list[Block]:
    answered = {a.agent: a for a in body.answers if a.answered}
    lines = []
    for a in body.agents:
        who = f"<@{escape(a.slack_user)}>" if a.slack_user else f"*{escape(a.key)}*"
        task = escape(a.current_title) if a.current_title else "_no current task_"
        if a.key in answered:
            said = escape(answered[a.key].summary) or "answered"
            lines.append(f":white_check_mark: {who}: {task}\n      _{said}_")
        else:
            lines.append(f"• {who}: {task}")
    blocks: list[Block] = [HeaderBlock(text=plain(f"Sync · {body.sync_type} · {body.plan}"))]
    sections, following = _lines_in_pages(lines, offset)
    blocks += sections or [_section("_no agent to ask_")]
    if following is not None:
        how = f"`/orchestrate answers --slot {body.slot_id}` shows them all" if body.slot_id is not None else ""
        left = f"and {len(lines) - following} more" + (f": {how}" if how else "")
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=left)]))
        if body.slot_id is not None:
            blocks.append(more_button("answers", body.plan, following, slot=body.slot_id))
    for cp in body.checkpoints_due[:5]:
        blocks.append(
            _section(
                f":checkered_flag: due today: *{escape(cp.key)}* {escape(cp.name)} "
                f"({cp.met}/{cp.criteria} criteria met)"
            )
        )
    if body.slot_id is not None:
        count = f"{len(answered)}/{len(body.agents)} answered"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"{count} · or reply in this thread")]))
        blocks.append(ActionsBlock(elements=[_button("Answer", "sync_answer", str(body.slot_id), "primary")]))
    return blocks


@render_blocks.register
def _day_summary_blocks(body: DaySummary, *, offset: int = 0) -> list[Block]:
    """Every stream and every silent person is named: lists are packed into sections of Slack's 3,000
    characters without cutting a name, and what would pass the message's 50 blocks is counted, not lost."""
    lines = [
        f"*{escape(s.key)}* {pct(s.start)} → *{pct(s.now)}* ({_signed(s.now - s.start)}; planned {pct(s.planned)})"
        for s in body.streams
    ]
    blocks: list[Block] = [HeaderBlock(text=plain(f"End of day · {body.plan} · {body.day:%a %d %b}"))]
    budget = MAX_MESSAGE_BLOCKS - 6  # the header, and room for the sections after the streams
    blocks += _packed("", lines, "\n", budget // 2, more=f"`/orchestrate status {body.plan}` shows them all") or [
        _section("_no streams_")
    ]
    done = ", ".join(escape(t) for t in body.done_today) or "none"
    blocks += _packed(f"*Done today* ({body.done_count}): ", [done], ", ", 1)
    if body.blockers:
        blocks += _packed("*Blockers*\n", [f"• {escape(b)}" for b in body.blockers], "\n", 4)
    if body.missing:
        silent = [f"• {escape(m)}" for m in body.missing]
        blocks += _packed("*No answer from*\n", silent, "\n", MAX_MESSAGE_BLOCKS - len(blocks) - 2)
    if body.missed_slots:
        blocks.append(_section("*Missed syncs* (the bot was down): " + ", ".join(escape(m) for m in body.missed_slots)))
    return blocks[:MAX_MESSAGE_BLOCKS]


def _packed(heading: str, items: list[str], joiner: str, budget: int, *, more: str = "") -> list[Block]:
    """``items`` in as few sections as fit (each under SECTION_LIMIT), at most ``budget`` blocks; an item
    too long for one section is split at its commas. What does not fit is said: "and N more"."""
    pieces: list[str] = []
    for item in items:
        while len(item) > SECTION_LIMIT - len(heading) - 10:
            cut = item.rfind(", ", 0, SECTION_LIMIT - len(heading) - 10)
            cut = cut if cut > 0 else SECTION_LIMIT - len(heading) - 10
            pieces.append(item[:cut])
            item = "  " + item[cut:].lstrip(", ")
        pieces.append(item)
    sections: list[str] = []
    current = heading
    for piece in pieces:
        if len(current) + len(joiner) + len(piece) > SECTION_LIMIT and current.strip():
            sections.append(current)
            current = ""
        current = f"{current}{joiner if current and current != heading else ''}{piece}"
    if current.strip():
        sections.append(current)
    if len(sections) <= budget:
        return [_section(text) for text in sections]
    kept = sections[: max(budget - 1, 1)]
    shown = sum(text.count(joiner) + 1 for text in kept)
    left = f"and {max(len(pieces) - shown, 1)} more" + (f": {more}" if more else "")
    return [*(_section(text) for text in kept), _context(left)]


def _signed(fraction: float) -> str:
    return f"{'+' if fraction >= 0 else '−'}{abs(fraction) * 100:.0f} pts"


# --- alerts -----------------------------------------------------------------------------

LEVEL_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
MOVE_KEY = re.compile(r"(M\d+) · ")  # how models.rules.balance starts a move's announcement


def alert_blocks(alert: Alert, plan_key: str, *, here: bool = False) -> list[dict]:
    """An alert as posted: its level and plan, its text, its number and state, and what can be done about it."""
    count = f" ×{alert.group_count}" if alert.group_count > 1 else ""
    head = ("<!here> " if here else "") + f"{LEVEL_EMOJI.get(alert.level, '')} *{alert.level.upper()}*{count}"
    blocks: list[Block] = [
        _section(f"{head} · {escape(plan_key)}\n{escape(alert.text)}"),
        _context(f"alert #{alert.id} · {alert.status}"),
    ]
    if alert.level == "critical" and alert.status == "open":
        blocks.append(
            ActionsBlock(
                elements=[
                    _button("Acknowledge", "alert_ack", str(alert.id), "primary"),
                    _button("Resolve", "alert_resolve", str(alert.id)),
                ]
            )
        )
    move = MOVE_KEY.match(alert.text) if alert.event_name == "load-balancing" else None
    if move:  # a lead undoes a move, or applies a proposal, from the announcement
        proposal = "Proposed:" in alert.text
        value = f"{plan_key}|{move.group(1)}"
        button = _button("Apply", "move_apply", value) if proposal else _button("Undo", "move_undo", value)
        blocks.append(ActionsBlock(elements=[button]))
    return [block.to_dict() for block in blocks]


def handled_alert_blocks(message: dict, number: str, verb: str, user: str, now: datetime) -> list[dict]:
    """The alert message once handled: its text, who handled it and when; Resolve stays until resolved."""
    posted = Block.parse_all(message.get("blocks") or [])
    first = next(
        (b.text for b in posted if isinstance(b, SectionBlock) and isinstance(b.text, MarkdownTextObject)), None
    )
    if first is not None:
        # Kept as it was, less the @here that raised it: an edit must not ping the channel again.
        kept = _section(first.text.replace("<!here> ", "").replace("<!here>", ""))
    else:
        kept = _section(f":rotating_light: Alert #{escape(number)}")
    blocks: list[Block] = [kept]
    if verb == "resolve":  # an earlier acknowledgement stays on record
        blocks += [
            b
            for b in posted
            if isinstance(b, ContextBlock)
            and any(str(getattr(e, "text", "")).startswith("Acknowledged by ") for e in b.elements)
        ]
    done = "Acknowledged" if verb == "ack" else "Resolved"
    blocks.append(_context(f"{done} by <@{escape(user)}> at {now:%H:%M} UTC · alert #{escape(number)}"))
    if verb == "ack":
        blocks.append(ActionsBlock(elements=[_button("Resolve", "alert_resolve", number)]))
    return [block.to_dict() for block in blocks]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])
