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

from bot.text import away_note, away_phrase, bar, pct
from models.db.tables import Alert
from models.state.blockers import working_days
from models.time.units import format_duration
from models.views.agents import AGENTS_PER_PAGE, AgentMonitor
from models.views.dashboard import Dashboard
from models.views.reply import Checklist, Document, HelpText, Message, Reply, Table
from models.views.report import Report
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
    return unique_action_ids([block.to_dict() for block in render_blocks(body, offset=offset)])


def render(reply: Reply, *, offset: int = 0, actor_user: str | None = None) -> list[dict]:
    blocks = render_blocks(reply.body, offset=offset)
    if reply.announce and actor_user:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"by <@{escape(actor_user)}>")]))
    return unique_action_ids([block.to_dict() for block in blocks])  # to_dict() runs slack_sdk's validators


def unique_action_ids(blocks: list[dict]) -> list[dict]:
    """The blocks with no action_id twice (a Pause per stream, a Start per task): the second and later
    of a name get ":2", ":3"…, which the listeners take as the name (``action``). Changes them in place."""
    seen: dict[str, int] = {}
    for block in blocks:
        for element in [
            block.get("accessory"),
            *(block.get("elements") or [] if block.get("type") == "actions" else []),
        ]:
            if not isinstance(element, dict) or "action_id" not in element:
                continue
            name = element["action_id"].split(":", 1)[0]
            seen[name] = seen.get(name, 0) + 1
            element["action_id"] = name if seen[name] == 1 else f"{name}:{seen[name]}"
    return blocks


def action(name: str) -> re.Pattern[str]:
    """What a listener of ``name`` matches: the name, or the name made unique (unique_action_ids)."""
    return re.compile(rf"^{re.escape(name)}(:\d+)?$")


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
    """A page of sections, each of at most LINES_PER_SECTION whole lines and Slack's 3,000 characters
    (long lines, as answers are, make fewer to a section: none is cut); and the next offset, if any."""
    sections: list[SectionBlock] = []
    current: list[str] = []
    size, following = 0, offset
    for line in lines[offset:]:
        line = line if len(line) <= SECTION_LIMIT else line[: SECTION_LIMIT - 1] + "…"
        if current and (len(current) == LINES_PER_SECTION or size + 1 + len(line) > SECTION_LIMIT):
            sections.append(_section("\n".join(current)))
            current, size = [], 0
            if len(sections) == SECTIONS_PER_PAGE:
                break
        current.append(line)
        size += len(line) + (1 if size else 0)
        following += 1
    if current and len(sections) < SECTIONS_PER_PAGE:
        sections.append(_section("\n".join(current)))
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
    """The usage as code, in as many sections as Slack's 3000 characters a section need (at line ends)."""
    chunks: list[list[str]] = [[]]
    for line in escape(body.text).split("\n"):
        if chunks[-1] and len("\n".join([*chunks[-1], line])) + 6 > SECTION_LIMIT:
            chunks.append([])
        chunks[-1].append(line)
    return [_section("```" + "\n".join(chunk) + "```") for chunk in chunks]


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
    if offset == 0 and body.away:
        people = "; ".join(f"{_person(a.who)} {escape(away_phrase(a.until, a.reason))}" for a in body.away)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f":palm_tree: Away: {people}")]))
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
    if offset == 0 and body.blockers:
        lines = [
            f":construction: *{escape(b.key)}* {escape(b.owner)}{f' on {escape(b.task)}' if b.task else ''}: "
            f"{escape(plain(b.text, 120))} · _{working_days(b.age_days)}_"
            + (" · leads told" if "leads" in b.state else "")
            for b in body.blockers
        ]
        more = "\n… more: `/orchestrate blockers` lists them all" if body.more_blockers else ""
        blocks.append(_section("*Open blockers*\n" + "\n".join(lines) + more))
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


def _person(who: str) -> str:
    """A lead's Slack user id as a mention, an agent's id in bold."""
    return f"<@{who}>" if re.fullmatch(r"[UW][A-Z0-9]{2,30}", who) else f"*{escape(who)}*"


@render_blocks.register
def _agent_monitor_blocks(body: AgentMonitor, *, offset: int = 0) -> list[Block]:
    lines = []
    for a in body.agents:
        task = escape(a.current_title) if a.current_title else "_awaiting tasks_"
        health = f"{a.health:.0f}%" if a.health is not None else "—"
        away = f" · :palm_tree: {escape(away_note(a))}" if a.away else ""
        lines.append(f"{AGENT_EMOJI[a.status]} *{escape(a.key)}* {a.status} · {task} · health {health}{away}")
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


def _prompt_counts(body: SyncPrompt, answered: int) -> str:
    """Where everyone stands, in one line, before the names (a page of a big team shows some of them)."""
    waiting = len(body.agents) - answered
    return f"*{len(body.agents)} asked* · :white_check_mark: {answered} answered · {waiting} not yet"


PROMPT_LISTS_UP_TO = 30  # agents a prompt lists one by one in the channel; more are counted, with Show all


def _big_prompt_blocks(body: SyncPrompt, answered: dict) -> list[Block]:
    """A big team's prompt in the channel: who has not answered yet, by name (all of them, in whole
    names), and Show all for every agent's task and answer, a page at a time, to whoever asks."""
    silent = [
        f"<@{escape(a.slack_user)}>" if a.slack_user else f"*{escape(a.key)}*"
        for a in body.agents
        if a.key not in answered
    ]
    how = f"`/orchestrate answers --slot {body.slot_id}`"
    blocks: list[Block] = _packed(
        f"*Not yet* ({len(silent)})\n", silent, ", ", 30, more=f"Show all, or {how}, lists everyone"
    ) or [_section(":tada: Everyone has answered.")]
    for cp in body.checkpoints_due[:5]:
        blocks.append(
            _section(f":checkered_flag: due today: *{escape(cp.key)}* {escape(cp.name)} ({cp.met}/{cp.criteria} met)")
        )
    count = f"{len(answered)}/{len(body.agents)} answered"
    blocks.append(_context(f"{count} · press Answer, or reply in this thread · Show all ({how}): everyone's answer"))
    everyone = json.dumps({"command": "answers", "plan": body.plan, "offset": 0, "slot": body.slot_id})
    buttons = [
        _button("Answer", "sync_answer", str(body.slot_id), "primary"),
        _button("Show all", "page_more", everyone),
    ]
    blocks.append(ActionsBlock(elements=buttons))
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
    if len(lines) > 1:
        blocks.append(_context(_prompt_counts(body, len(answered))))
    if body.slot_id is not None and not body.full and len(lines) > PROMPT_LISTS_UP_TO:
        return blocks + _big_prompt_blocks(body, answered)
    sections, following = _lines_in_pages(lines, offset)
    blocks += sections or [_section("_no agent to ask_")]
    if offset or following is not None:
        upto = following if following is not None else len(lines)
        where = f"agents {offset + 1}–{upto} of {len(lines)}"
        if following is not None:
            how = f"`/orchestrate answers --slot {body.slot_id}` shows them all" if body.slot_id is not None else ""
            where += f" · and {len(lines) - following} more" + (f": Show more, or {how}" if how else "")
        blocks.append(_context(where))
        if following is not None and body.slot_id is not None:
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
        reply = "or reply in this thread" if offset == 0 and not body.full else "or reply in the prompt's thread"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"{count} · {reply}")]))
        blocks.append(ActionsBlock(elements=[_button("Answer", "sync_answer", str(body.slot_id), "primary")]))
    return blocks


@render_blocks.register
def _day_summary_blocks(body: DaySummary, *, offset: int = 0) -> list[Block]:
    """Every stream and every silent person is named: lists are packed into sections of Slack's 3,000
    characters without cutting a name, and what would pass the message's 50 blocks is counted, with
    the command that shows it all."""
    lines = [
        f"*{escape(s.key)}* {pct(s.start)} → *{pct(s.now)}* ({_signed(s.now - s.start)}; planned {pct(s.planned)})"
        for s in body.streams
    ]
    blocks: list[Block] = [HeaderBlock(text=plain(f"End of day · {body.plan} · {body.day:%a %d %b}"))]
    all_streams = f"`/orchestrate status {body.plan}` shows them all"
    blocks += _packed(f"*Streams* ({len(lines)})\n", lines, "\n", 20, more=all_streams) or [_section("_no streams_")]
    done = [escape(t) for t in body.done_today] or ["none"]
    more_done = f"`/orchestrate task list --status done --plan {body.plan}` lists them"
    blocks += _packed(f"*Done today* ({body.done_count}): ", done, ", ", 1, total=body.done_count, more=more_done)
    if body.blockers:
        blocks += _packed(
            "*Blockers*\n", [f"• {escape(b)}" for b in body.blockers], "\n", 4, more="`/orchestrate blockers`"
        )
    room = MAX_MESSAGE_BLOCKS - len(blocks) - (1 if body.missed_slots else 0)
    left = len(body.missing)
    for silent in body.missing:
        budget = max(room // left, 1) if left else 1
        part = _packed(
            f"*No answer from* ({len(silent.agents)}, {escape(silent.sync_type)})\n",
            [escape(a) for a in silent.agents],
            ", ",
            budget,
            more=f"`/orchestrate answers --slot {silent.slot_id}` shows who",
        )
        blocks += part
        room -= len(part)
        left -= 1
    if body.missed_slots:
        blocks.append(_section("*Missed syncs* (the bot was down): " + ", ".join(escape(m) for m in body.missed_slots)))
    return blocks


def _packed(
    heading: str, items: list[str], joiner: str, budget: int, *, more: str = "", total: int | None = None
) -> list[Block]:
    """``items`` joined by ``joiner`` in as few sections as fit (each within SECTION_LIMIT, no item cut),
    at most ``budget`` blocks. What does not fit, or is not in ``items`` of ``total``, is said: "and N
    more: ``more``"."""
    if not items:
        return []
    sections: list[list[str]] = [[]]
    size, limit = len(heading), SECTION_LIMIT - len(heading)
    for item in items:
        item = item if len(item) <= limit else item[: limit - 1] + "…"  # one line too long for a section
        grown = len(item) + (len(joiner) if sections[-1] else 0)
        if sections[-1] and size + grown > SECTION_LIMIT:
            sections.append([])
            size, grown = 0, len(item)
        sections[-1].append(item)
        size += grown
    if len(sections) > budget and budget <= 1:  # no room for names and the line after them: say how many
        return [_context(f"{heading.strip()}: {total if total is not None else len(items)}; {more}")]
    kept = sections if len(sections) <= budget else sections[: budget - 1]
    shown = sum(len(part) for part in kept)
    texts = [(heading if i == 0 else "") + joiner.join(part) for i, part in enumerate(kept)]
    blocks: list[Block] = [_section(text) for text in texts]
    left = (total if total is not None else len(items)) - shown
    if left > 0:
        blocks.append(_context(f"and {left} more" + (f": {more}" if more else "")))
    return blocks


def _signed(fraction: float) -> str:
    return f"{'+' if fraction >= 0 else '−'}{abs(fraction) * 100:.0f} pts"


# --- alerts -----------------------------------------------------------------------------

LEVEL_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
MOVE_KEY = re.compile(r"(M\d+) · ")  # how models.rules.balance starts a move's announcement
BLOCKER_KEY = re.compile(r"blocker (B\d+) ")  # how models.rules.blockers names the blocker it reminds of


def alert_blocks(alert: Alert, plan_key: str, *, here: bool = False) -> list[dict]:
    """An alert as posted: its level and plan, its text, its number and state, and what can be done about it."""
    count = f" ×{alert.group_count}" if alert.group_count > 1 else ""
    head = ("<!here> " if here else "") + f"{LEVEL_EMOJI.get(alert.level, '')} *{alert.level.upper()}*{count}"
    title, _, body = alert.text.partition("\n")
    blocks: list[Block] = [
        # The first line in bold when it heads more; a one-line alert (a sentence or three) stays plain.
        _section(f"{head} · {escape(plan_key)}\n" + (f"*{escape(title)}*\n{escape(body)}" if body else escape(title))),
        _context(f"alert #{alert.id} · {'for information' if alert.status == 'notice' else alert.status}"),
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
    if alert.event_name == "blocker-reminder":  # its owner closes it from the reminder
        blocker = BLOCKER_KEY.search(alert.text)
        if blocker:
            blocks.append(
                ActionsBlock(elements=[_button("Resolved", "blocker_close", f"{plan_key}|{blocker.group(1)}")])
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


@render_blocks.register
def _report_blocks(body: Report, *, offset: int = 0) -> list[Block]:
    """The summary: the headline, each stream's throughput, the gates; the chart and the CSV go to the DM."""
    blocks: list[Block] = [HeaderBlock(text=plain(body.title))]
    blocks.append(_section("\n".join(f"• {escape(line)}" for line in body.headline)))
    streams = [
        _stream_line(dict(zip(body.section("Streams").columns, row, strict=True)))
        for row in body.section("Streams").rows
    ]
    if streams:
        blocks.append(_section("*Done per stream*\n" + "\n".join(streams[:LINES_PER_SECTION])))
    gates = [
        _gate_line(dict(zip(body.section("Gates").columns, row, strict=True))) for row in body.section("Gates").rows
    ]
    if gates:
        whose = " (the plan's)" if body.stream or body.agent else ""  # gates are plan-wide
        blocks.append(_section(f"*Gates{whose}*\n" + "\n".join(gates[:LINES_PER_SECTION])))
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text="The burn-up chart and the whole report (CSV) are in your DM with me.")]
        )
    )
    return blocks


def _hours(cell: str) -> str:
    """Hours as the headline writes them, to a tenth (the CSV keeps two decimals)."""
    return f"{float(cell):.1f}"


def _stream_line(row: dict[str, str]) -> str:
    mean = row["Mean lateness (h)"]
    late = f", {row['Late']} late (by {_hours(mean)} h on average)" if row["Late"] != "0" else ", none late"
    return f"*{escape(row['Stream'])}*: {row['Done']} done ({_hours(row['Estimate done (h)'])} h){late}"


def _gate_line(row: dict[str, str]) -> str:
    mark = {"passed": ":white_check_mark:", "forced": ":warning:", "missed": ":x:"}[row["Outcome"]]
    text = f"{mark} *{escape(row['Gate'])}* {escape(row['Name'])}: {row['Outcome']}"
    if row["Passed"]:
        text += f" {row['Passed']}"
    if row["Missed for (h)"]:
        text += f", missed for {_hours(row['Missed for (h)'])} working hours"
    if row["Forced because"]:
        text += f" — _{escape(row['Forced because'])}_"
    return text


@render_blocks.register
def _document_blocks(body: Document, *, offset: int = 0) -> list[Block]:
    text = body.content if len(body.content) <= SECTION_LIMIT - 8 else body.content[: SECTION_LIMIT - 9] + "…"
    note = _context(f"The whole file, `{escape(body.filename)}`, is in your DM with me.")
    return [HeaderBlock(text=plain(body.title)), _section(f"```{escape(text)}```"), note]
