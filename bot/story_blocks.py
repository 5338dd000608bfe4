"""The weekly digest and the retrospective as Slack messages: text in sections of whole lines, and under each
success criterion no metric judges, Met / Not met buttons for the leads (`retro criterion STREAM met`)."""

from slack_sdk.models.blocks import ActionsBlock, MarkdownTextObject, SectionBlock

from bot.blocks import MAX_MESSAGE_BLOCKS, SECTION_LIMIT, _button, escape, unique_action_ids
from models.views.report import Report
from models.views.retrospective import Criterion, Retrospective


def digest_message(report: Report) -> tuple[str, list[dict]]:
    """The notification text and the blocks of the week's digest."""
    title = f"*Weekly digest of {escape(report.plan)}*, {report.start:%a %d %b} to {report.end:%a %d %b}"
    lines = [title, *(f"• {escape(line)}" for line in report.headline)]
    lines.append(f"_The whole report: `report {escape(report.plan)} --from {report.start} --to {report.end}`_")
    text = f"Weekly digest of {report.plan}, {report.start:%a %d %b} to {report.end:%a %d %b}"
    return text, [s.to_dict() for s in _packed(lines)]


def retrospective_message(retro: Retrospective) -> tuple[str, list[dict]]:
    """The notification text and the blocks of the plan's whole story; the buttons go under the criteria
    still to confirm, as many as the message's 50 blocks hold (the others are named with the command)."""
    body = retro.report
    story = [
        f"*Retrospective of {escape(retro.plan)}*, {body.start:%a %d %b} to {body.end:%a %d %b}",
        *(escape(line) for line in retro.lines),
    ]
    gates = [
        f"• {escape(r[0])} {escape(r[1])}: {escape(r[3])}" + (f" by {_who(r[5])}" if r[5] else "")
        for r in body.section("Gates").rows
    ]
    metrics = [
        f"• {escape(r[0])}: {escape(r[3])} "
        + (
            f"(target {escape(r[6])}{', met' if r[7] == 'yes' else ', not met' if r[7] == 'no' else ''})"
            if r[6]
            else "(no target)"
        )
        for r in body.section("Metrics").rows
    ]
    head = _packed(story)
    tail = _packed(["*Gates*", *(gates or ["• none was passed or missed"])]) + _packed(
        ["*Quality metrics at the end*", *(metrics or ["• none was reported"])]
    )
    room = MAX_MESSAGE_BLOCKS - len(head) - len(tail)
    buttons = len(retro.waiting)
    criteria = _criteria_blocks(retro, buttons)
    while len(criteria) > room and buttons > 0:  # fewer criteria with buttons, until the message fits
        buttons -= 1
        criteria = _criteria_blocks(retro, buttons)
    text = f"Retrospective of {retro.plan}: {retro.lines[0]}"
    return text, unique_action_ids([b.to_dict() for b in [*head, *criteria, *tail]])


def _criteria_blocks(retro: Retrospective, buttons: int) -> list[SectionBlock | ActionsBlock]:
    """Each criterion a line; the first ``buttons`` still to confirm get a section of their own and their
    buttons, the others are lines like the rest, with the command that confirms them."""
    blocks: list[SectionBlock | ActionsBlock] = []
    lines = ["*Success criteria*"] if retro.criteria else ["*Success criteria*", "• none in the plan file"]
    left_out = 0
    for criterion in retro.criteria:
        waiting = criterion.for_the_leads and criterion.verdict is None
        if waiting and buttons > 0:
            buttons -= 1
            blocks += _packed(lines)
            lines = []
            blocks.append(SectionBlock(text=MarkdownTextObject(text=_cut(f"• {_line(criterion)}"))))
            blocks.append(_verdict_buttons(retro.plan, criterion))
            continue
        left_out += waiting
        lines.append(f"• {_line(criterion)}")
    if left_out:
        lines.append(
            f"_{left_out} more to confirm: `/orchestrate retro criterion STREAM met` (or `not-met`), by a lead_"
        )
    return blocks + _packed(lines)


def _who(actor: str) -> str:
    """Who passed a gate: a Slack user mentioned (Slack shows the name), anyone else as the audit names them."""
    source, _, user = actor.partition(":")
    return f"<@{escape(user)}>" if source == "slack" and user else escape(actor)


def _line(criterion: Criterion) -> str:
    """The criterion as a person reads it, escaped, the lead who judged it mentioned."""
    if not criterion.said_by_user:
        return escape(criterion.line())
    mark = "\x00"  # where the mention goes: escape() must not touch it
    return escape(criterion.line(who=mark)).replace(mark, f"<@{escape(criterion.said_by_user)}>")


def _verdict_buttons(plan: str, criterion: Criterion) -> ActionsBlock:
    value = f"{plan}|{criterion.stream}"
    return ActionsBlock(
        elements=[
            _button("Met", "retro_met", value, style="primary"),
            _button("Not met", "retro_not_met", value, style="danger"),
        ]
    )


def _packed(lines: list[str]) -> list[SectionBlock]:
    """Sections of whole lines, each within Slack's 3,000 characters (a longer line is cut)."""
    sections: list[SectionBlock] = []
    current: list[str] = []
    size = 0
    for line in (_cut(line) for line in lines):
        if current and size + 1 + len(line) > SECTION_LIMIT:
            sections.append(SectionBlock(text=MarkdownTextObject(text="\n".join(current))))
            current, size = [], 0
        current.append(line)
        size += len(line) + (1 if size else 0)
    if current:
        sections.append(SectionBlock(text=MarkdownTextObject(text="\n".join(current))))
    return sections


def _cut(line: str) -> str:
    return line if len(line) <= SECTION_LIMIT else line[: SECTION_LIMIT - 1] + "…"
