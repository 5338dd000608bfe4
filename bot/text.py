"""Replies as plain text, for the CLI and the console: the seed's boxes and bars."""

from datetime import date
from functools import singledispatch

from models.state.blockers import working_days
from models.time.units import format_duration
from models.views.agents import AgentFigures, AgentMonitor
from models.views.dashboard import Dashboard
from models.views.mine import MyWork
from models.views.reply import Checklist, Document, HelpText, Message, Reply, Table
from models.views.report import SHOWN_EVENTS, Report
from models.views.sync import SyncPrompt

WIDTH = 64  # inside the box


def render(reply: Reply) -> str:
    return render_body(reply.body)


def bar(fraction: float, width: int) -> str:
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "█" * filled + "░" * (width - filled)


def pct(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def _box(sections: list[list[str]]) -> str:
    out = ["┌" + "─" * (WIDTH + 2) + "┐"]
    for index, lines in enumerate(sections):
        if index:
            out.append("├" + "─" * (WIDTH + 2) + "┤")
        for line in lines:
            text = line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"
            out.append(f"│ {text:<{WIDTH}} │")
    out.append("└" + "─" * (WIDTH + 2) + "┘")
    return "\n".join(out)


@singledispatch
def render_body(body) -> str:
    return str(body)


@render_body.register
def _message_text(body: Message) -> str:
    return "\n".join([body.text, *(f"  {line}" for line in body.details)])


@render_body.register
def _help_as_text(body: HelpText) -> str:
    return body.text


@render_body.register
def _table_text(body: Table) -> str:
    if not body.rows:
        return f"{body.title}: {body.empty}"
    widths = [max(len(str(v)) for v in column) for column in zip(body.columns, *body.rows, strict=False)]
    widths = [min(w, 48) for w in widths]

    def line(values):
        cells = [
            (str(v) if len(str(v)) <= w else str(v)[: w - 1] + "…").ljust(w)
            for v, w in zip(values, widths, strict=False)
        ]
        return "  ".join(cells).rstrip()

    out = [body.title, line(body.columns), line(["─" * w for w in widths])]
    out += [line(row) for row in body.rows]
    if body.total > len(body.rows):
        out.append(f"(showing {len(body.rows)} of {body.total})")
    return "\n".join(out)


@render_body.register
def _dashboard_text(body: Dashboard) -> str:
    head = [f"ORCHESTRATION DASHBOARD · {body.plan} · {body.plan_status.upper()}", body.title]
    banners = []
    if body.plan_status == "stopped":
        kind = "EMERGENCY STOP" if body.emergency else "STOPPED"
        banners.append(f"■ {kind}: {body.stop_reason}")
    if body.deployment_blocked:
        banners.append(f"■ DEPLOYMENT BLOCKED: {body.deployment_blocked}")
    overall = [
        f"Overall Progress: {bar(body.progress, 18)} {pct(body.progress)}"
        + (f" (planned {pct(body.planned_progress)})" if body.plan_status != "draft" else "")
    ]
    if body.started_at is None:
        overall.append(f"Not started · ETA on plan: {_eta(body)}")
    else:
        overall.append(f"Time Elapsed: {format_duration(body.elapsed_s)} | ETA: {_eta(body)}")
    label = max([len(s.key) for s in body.streams] + [10])
    label = min(label, 24)
    streams = [
        f"{s.key[:label]:<{label}} {bar(s.progress, 14)} {pct(s.progress):>4} [{s.status}]" for s in body.streams
    ]
    c = body.counts
    counts = [f"Active Tasks: {c.active} | Completed: {c.completed} | Blocked: {c.blocked} | Failed: {c.failed}"]
    if body.next_checkpoint:
        cp = body.next_checkpoint
        due = f"due {cp.due_at:%a %d %b %H:%M %Z}" if cp.due_at else f"day {cp.day}"
        counts.append(f"Next gate: {cp.key} · {due} · {cp.met}/{cp.criteria} criteria met")
    metrics = [f"{'Metric':<24}{'Target':<11}{'Current':<11}Status"]
    for m in body.metrics:
        mark = {True: "✓ met", False: "✗ missed", None: "—"}[m.ok]
        trend = {"up": " ↗", "down": " ↘", "flat": " →", None: ""}[m.trend]
        metrics.append(f"{m.name.replace('-', ' ').title():<24}{m.target or '':<11}{m.display + trend:<11}{mark}")
    sections = [head] + ([banners] if banners else []) + [overall, streams or ["(no streams)"], counts, metrics]
    if body.blockers:
        sections.append(["Open blockers (named in syncs)", *_blocker_lines(body)])
    if body.away:
        sections.append(["Away: " + "; ".join(f"{a.who} {away_phrase(a.until, a.reason)}" for a in body.away)])
    return _box(sections)


def _blocker_lines(body: Dashboard) -> list[str]:
    lines = [  # the age first: the box cuts long lines
        f"{b.key} · {working_days(b.age_days)}{' · leads told' if 'leads' in b.state else ''} · "
        f"{b.owner}{f' on {b.task}' if b.task else ''}: {b.text}"
        for b in body.blockers
    ]
    return lines + (["… more: `blockers` lists them all"] if body.more_blockers else [])


def _eta(body: Dashboard) -> str:
    if body.eta_at is None:
        return "—"
    basis = ", on plan" if body.eta_basis == "planned" else ""
    return f"{format_duration(body.eta_s)} ({body.eta_at:%a %d %b %H:%M %Z}{basis})"


def away_note(agent: AgentFigures) -> str:
    """ "away through Fri 16 Jan (ski)": for the monitor's text and blocks."""
    return "away " + away_phrase(agent.away_until, agent.away_reason)


def away_phrase(until: date | None, reason: str | None) -> str:
    """ "through Fri 16 Jan (ski)", or "until `back`"."""
    return (f"through {until:%a %d %b}" if until else "until `back`") + (f" ({reason})" if reason else "")


@render_body.register
def _agent_monitor_text(body: AgentMonitor) -> str:
    rows = [f"{'Agent ID':<18}│ {'Status':<10}│ {'Current Task':<22}│ Health"]
    for a in body.agents:
        task = a.current_title or ("Awaiting tasks" if a.status in ("IDLE", "PREPARING") else "—")
        health = f"{a.health:.0f}%" if a.health is not None else "—"
        rows.append(f"{a.key[:17]:<18}│ {'AWAY' if a.away else a.status:<10}│ {task[:21]:<22}│ {health}")
    sections = [[f"AGENT STATUS MONITOR · {body.plan}"]]
    away = [f"{a.key}: {away_note(a)}" for a in body.agents if a.away]
    if body.pages > 1:  # a big team: every agent counted, then one page of them
        sections.append([f"{body.total} agents: " + ", ".join(f"{n} {s}" for s, n in body.summary.items())])
    sections.append(rows)
    if away:
        sections.append(["Away: " + "; ".join(away)])
    if body.page < body.pages:
        sections.append([f"page {body.page} of {body.pages} · `health --page {body.page + 1}` for the next"])
    elif body.pages > 1:
        sections.append([f"page {body.page} of {body.pages}"])
    return _box(sections)


@render_body.register
def _checklist_text(body: Checklist) -> str:
    state = ("FORCED" if body.forced else "PASSED") if body.passed else "open"
    due = f", due {body.due}" if body.due else ""
    lines = [f"{body.checkpoint} {body.name} · day {body.day}{due}{' · blocker' if body.blocker else ''} · {state}"]
    for number, text, met, by in body.criteria:
        lines.append(f"  [{'x' if met else ' '}] {number}. {text}" + (f"  ({by})" if met and by else ""))
    if body.forced and body.force_reason:
        lines.append(f"  forced by {body.passed_by}: {body.force_reason}")
    if body.note:
        lines.append(body.note)
    return "\n".join(lines)


@render_body.register
def _sync_prompt_text(body: SyncPrompt) -> str:
    lines = [f"Sync: {body.sync_type} · {body.plan}"]
    for a in body.agents:
        who = f"<@{a.slack_user}>" if a.slack_user else a.key
        lines.append(f"  • {who}: {a.current_title or 'no current task'}")
    if not body.agents:
        lines.append("  (no agent to ask)")
    for cp in body.checkpoints_due:
        lines.append(f"  Due today: {cp.key} {cp.name} ({cp.met}/{cp.criteria} criteria met)")
    for answer in body.answers:
        if answer.answered:
            lines.append(f"  ✓ {answer.agent}: {answer.summary or 'answered'}")
    return "\n".join(lines)


@render_body.register
def _mine_text(body: MyWork) -> str:
    if body.stranger:
        plans = ", ".join(p.plan for p in body.to_join) or "none loaded yet"
        return f"You take part in no plan yet (plans: {plans}): a lead adds your Slack id to one."
    lines = [f"You lead: {', '.join(body.leads)}"] if body.leads else []
    lines += [f"Waiting for your answer: the {p.sync_type} of {p.plan} (prompt #{p.slot_id})" for p in body.pending]
    for work in body.agents:
        lines.append(f"Your tasks in {work.plan} as {work.agent} ({work.open_total} open):")
        lines += [f"  {t.key} {t.title} [{t.status}]" for t in work.tasks]
    return "\n".join(lines)


@render_body.register
def _report_text(body: Report) -> str:
    lines = [body.title, *(f"  {line}" for line in body.headline), ""]
    if body.burnup:
        lines.append("Burn-up (h of estimate: done / planned by the day's close)")
        top = max([p.planned_h for p in body.burnup] + [p.done_h for p in body.burnup] + [1.0])
        for p in body.burnup:
            lines.append(f"  {p.day:%a %d %b}  {bar(p.done_h / top, 20)} {p.done_h:g} / {p.planned_h:g}")
        lines.append("")
    for section in body.sections:
        shown = section.model_copy(update={"rows": section.rows[:SHOWN_EVENTS]})
        lines += [_table_text(shown), ""]
    return "\n".join(lines).rstrip()


@render_body.register
def _document_text(body: Document) -> str:
    return body.content.rstrip("\n")
