"""The personal parts of the Home tab (and of `/orchestrate mine`): today's syncs waiting for the
person, their own tasks with buttons that act, and for someone in no plan, how to join one."""

import json

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.blocks import MAX_MESSAGE_BLOCKS, escape, plain, render_blocks
from bot.text import bar, pct
from models.views.burnup import BurnUpNow
from models.views.mine import TASKS_PER_PAGE, AgentWork, MyWork, PendingSync, TaskLine

GROUPS = {"in-progress": "Current", "blocked": "Blocked", "ready": "Next", "todo": "Next"}
MARKS = {"in-progress": ":arrow_forward:", "blocked": ":no_entry:", "ready": ":white_circle:", "todo": ":hourglass:"}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=plain(text, 75), action_id=action_id, value=value, style=style)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _when(at) -> str:
    """A time each reader sees in their own zone (Slack's date formatting), UTC as the fallback."""
    return f"<!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC>"


def pending_blocks(pending: list[PendingSync]) -> list[Block]:
    blocks: list[Block] = []
    for p in pending:
        text = (
            f":speech_balloon: The *{escape(p.sync_type)}* of *{escape(p.plan)}* is waiting for your answer"
            f" (as {escape(p.agent)}), until {_when(p.ends_at)}"
        )
        answer = _button("Answer", "sync_answer", str(p.slot_id), "primary")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text), accessory=answer))
    return blocks


def _task_blocks(work: AgentWork, task: TaskLine) -> list[Block]:
    value = f"{work.plan}|{task.key}"
    why = f" — _{escape(plain(task.reason, 200))}_" if task.reason else ""
    text = f"{MARKS[task.status]} *{escape(task.key)}* {escape(plain(task.title, 200))}{why}"
    if work.plan_status != "running":
        return [SectionBlock(text=MarkdownTextObject(text=text))]  # nothing starts in a plan not running
    if task.status == "in-progress":
        buttons = [_button("Done", "task_done", value, "primary"), _button("Blocked", "task_block", value, "danger")]
        return [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=buttons)]
    if task.status == "blocked":
        buttons = [_button("Start again", "task_start", value), _button("Done", "task_done", value)]
        return [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=buttons)]
    if task.status == "ready":
        return [SectionBlock(text=MarkdownTextObject(text=text), accessory=_button("Start", "task_start", value))]
    return [SectionBlock(text=MarkdownTextObject(text=f"{text} _(waits for earlier work)_"))]


def agent_blocks(work: AgentWork) -> list[Block]:
    """One agent's page of open tasks, grouped (current, blocked, next), with the counts of all of them."""
    c = work.counts
    counts = f"{c['in-progress']} current · {c['blocked']} blocked · {c['ready'] + c['todo']} next"
    head = f"*Your tasks in {escape(work.plan)}* as *{escape(work.agent)}* (stream {escape(work.stream)})\n{counts}"
    if work.plan_status != "running":
        head += f"\n_{escape(work.plan)} is {escape(work.plan_status)}: its tasks wait until it runs_"
    dashboard = _button("Dashboard", "page_more", json.dumps({"command": "status", "plan": work.plan, "offset": 0}))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head), accessory=dashboard), _time_off(work)]
    if not work.tasks:
        return [*blocks, _context("No open task: new work shows here when a lead gives it to you.")]
    group = None
    for task in work.tasks:
        if GROUPS[task.status] != group:
            group = GROUPS[task.status]
            blocks.append(_context(f"*{group}*"))
        blocks += _task_blocks(work, task)
    shown_to = work.offset + len(work.tasks)
    if work.offset or shown_to < work.open_total:
        blocks.append(_context(f"tasks {work.offset + 1}–{shown_to} of {work.open_total}"))
    if shown_to < work.open_total or work.offset:
        page = {"plan": work.plan, "agent": work.agent}
        buttons = []
        if work.offset:
            back = max(work.offset - TASKS_PER_PAGE, 0)
            buttons.append(_button("Previous", "home_tasks_page", json.dumps({**page, "from": back})))
        if shown_to < work.open_total:
            buttons.append(_button("Show more", "home_tasks_page", json.dumps({**page, "from": shown_to})))
        blocks.append(ActionsBlock(elements=buttons))
    return blocks


def _time_off(work: AgentWork) -> Block:
    """Away… when present, Back when away by `away` (time off from the plan file ends there)."""
    value = f"{work.plan}|{work.agent}"
    if not work.away:
        return ActionsBlock(elements=[_button("Away…", "home_away", value)])
    until = f"through {work.away_until:%a %d %b %Y}" if work.away_until else "until you press Back"
    text = f":palm_tree: You are away {until}: no prompts or reminders, new work goes to the backup."
    if work.away_by_plan:
        return _context(f"{text} _(the plan's time-off: the plan file ends it)_")
    return SectionBlock(text=MarkdownTextObject(text=text), accessory=_button("Back", "home_back", value, "primary"))


BURNUP_BAR = 18  # characters: the dashboard's overall bar, which fits a phone's width


def burnup_block(point: BurnUpNow) -> Block:
    """The burn-up so far: done and planned as bars of the plan's whole estimate, short enough for a phone,
    then how far apart they are by the close of the last working day begun."""
    whole = point.total_h or 1.0
    gap = point.done_h - point.planned_h
    by = f"by {point.day:%a %d %b}'s close"
    if gap >= 0.05:
        pace = f":white_check_mark: {_hours(gap)} ahead of plan ({by})"
    elif gap <= -0.05:
        pace = f":warning: {_hours(-gap)} behind plan ({by})"
    else:
        pace = f":white_check_mark: on plan ({by})"
    text = (
        f"*Burn-up so far* (of {_hours(point.total_h)} of estimate)\n"
        f"`{bar(point.done_h / whole, BURNUP_BAR)}` done {_hours(point.done_h)} ({pct(point.done_h / whole)})\n"
        f"`{bar(point.planned_h / whole, BURNUP_BAR)}` planned {_hours(point.planned_h)}"
        f" ({pct(point.planned_h / whole)})\n{pace}"
    )
    return SectionBlock(text=MarkdownTextObject(text=text))


def _hours(h: float) -> str:
    return f"{h:.1f}".removesuffix(".0") + " h"


def join_blocks(body: MyWork) -> list[Block]:
    """For someone in no plan: how to join one, and whom to ask."""
    text = (
        ":wave: *You take part in no plan yet.*\n"
        f"To join one, give its lead your Slack id `{escape(body.user or '?')}`: they add it to the plan file,"
        " as an agent's `slack-user:` (your tasks and syncs then show here) or under `roles.leads`"
        " (you then run the plan), and load it again."
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if not body.to_join:
        return [*blocks, _context("No plan is loaded yet: an operator loads one with `orchestrate plan load FILE`.")]
    lines = []
    for p in body.to_join:
        leads = ", ".join(f"<@{escape(u)}>" for u in p.leads) or "no lead yet"
        lines.append(f"• *{escape(p.plan)}* {escape(plain(p.title, 80))} — ask {leads}")
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Plans here*\n" + "\n".join(lines))))
    if body.plans_total > len(body.to_join):
        blocks.append(_context(f"and {body.plans_total - len(body.to_join)} more: `/orchestrate plan list` lists them"))
    return blocks


@render_blocks.register
def _mine_blocks(body: MyWork, *, offset: int = 0) -> list[Block]:
    """`/orchestrate mine` as a message: the same parts as the Home tab, within a message's 50 blocks."""
    if body.stranger:
        return join_blocks(body)
    blocks = pending_blocks(body.pending)
    if body.leads:
        led = ", ".join(f"*{escape(k)}*" for k in body.leads)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"You lead {led}: `/orchestrate status PLAN`")))
    left: list[str] = []
    for work in body.agents:
        part = agent_blocks(work)
        if len(blocks) + len(part) > MAX_MESSAGE_BLOCKS - 1:
            left.append(f"{work.agent} ({work.plan})")
            continue
        blocks += part
    if left:
        named = escape(plain(", ".join(left), 1500))
        how = "`/orchestrate task list --agent AGENT --plan PLAN` shows each one's tasks"
        blocks.append(_context(f"and {len(left)} more of your agents ({named}): {how}"))
    return blocks
