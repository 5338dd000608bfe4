"""The bot's modals, built with slack_sdk's view models (so Slack's limits are checked).

A modal carries what it needs back in its ``private_metadata`` (at most 3,000
characters): the command to confirm, or the prompt and agent an answer is for.
The command that runs on submit checks all of it again; the metadata is never trusted.
"""

import json
import shlex

from slack_sdk.models.blocks import (
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import escape, plain
from commands.core.grammar import MAX_REASON, tokenize
from models.views.sync import AnswerForm

# The reason a rehearsal (a run rolled back, to refuse before the modal opens) stands in with.
REHEARSAL_REASON = "(asked in the confirmation)"
REASON_LIMIT = 500  # characters of a reason the confirmation modal takes
ANSWER_LIMIT = 2000  # characters of one answer field


def without_reason(tokens: list[str]) -> list[str]:
    """The command without its --reason (the modal's reason replaces it)."""
    kept, skip = [], False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token == "--reason":
            skip = True
            continue
        if token.startswith("--reason="):
            continue
        kept.append(token)
    return kept


def confirm_modal(text: str, reason: str | None, context: dict, *, title: str, prompt: str) -> dict:
    """A modal that asks for the reason, and so for confirmation, before a risky command runs.

    The command travels in the modal's metadata without its reason: the modal asks for that
    (pre-filled with what was typed, up to the input's 500 characters).
    """
    command = shlex.join(without_reason(tokenize(text)))
    reason = (reason or "")[:REASON_LIMIT] or None
    view = View(
        type="modal",
        callback_id="confirm_command",
        private_metadata=json.dumps({**context, "text": command}),
        title=plain(title, 24),
        submit="Confirm",
        close="Cancel",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"{prompt}\n`{escape(command)[:2500]}`")),
            InputBlock(
                block_id="reason",
                label="Reason",
                element=PlainTextInputElement(action_id="value", max_length=REASON_LIMIT, initial_value=reason),
            ),
        ],
    )
    return view.to_dict()


def confirmed_reason(view: dict) -> str:
    """The reason typed in the confirmation modal ("" when none)."""
    field = ((view.get("state") or {}).get("values") or {}).get("reason", {}).get("value") or {}
    return (field.get("value") or "").strip()


def answer_modal(form: AnswerForm, channel: str | None) -> dict:
    """The Answer button's modal: the prompt's questions, and the agent's open tasks to mark done or blocked."""
    blocks: list = [
        InputBlock(
            block_id=key,
            optional=key == "blockers",
            label=label,
            element=PlainTextInputElement(action_id="value", multiline=True, max_length=ANSWER_LIMIT),
        )
        for key, label in form.questions
    ]
    options = [Option(value=key, label=plain(f"{key} {title}", 75)) for key, title in form.tasks]
    if options:
        blocks.append(
            InputBlock(
                block_id="tasks_done",
                optional=True,
                label="Mark done",
                element=StaticMultiSelectElement(action_id="value", options=options),
            )
        )
        blocks.append(
            InputBlock(
                block_id="blocked_task",
                optional=True,
                label="Blocked task (default: your task in progress)",
                element=StaticSelectElement(action_id="value", options=options),
            )
        )
    metadata = {"slot": form.slot_id, "agent": form.agent, "plan": form.plan, "channel": channel}
    return View(
        type="modal",
        callback_id="sync_answer_submit",
        private_metadata=json.dumps(metadata),
        title=plain(form.sync_type.replace("-", " ").title(), 24),
        submit="Send",
        close="Cancel",
        blocks=blocks,
    ).to_dict()


def answer_tokens(view: dict) -> list[str]:
    """The `answer` command a submitted answer modal asks for (every value checked again by the command)."""
    context = json.loads(view["private_metadata"])
    values = {block: next(iter(fields.values())) for block, fields in view["state"]["values"].items()}
    # --form-of, not --agent: the form answers as whoever submits it, who must be the agent it was opened for.
    tokens = ["answer", "--slot", str(context["slot"]), "--form-of", str(context["agent"])]
    if context.get("plan"):
        tokens += ["--plan", str(context["plan"])]
    for key, value in values.items():
        text = (value.get("value") or "").strip() if value.get("type") == "plain_text_input" else ""
        if text:
            tokens += ["--field", f"{key}={text}"]
    for option in values.get("tasks_done", {}).get("selected_options") or []:
        tokens += ["--done", option["value"]]
    blocked = (values.get("blocked_task", {}).get("selected_option") or {}).get("value")
    if blocked:
        tokens += ["--blocked", blocked]
    return tokens


def away_modal(plan: str, agent: str, context: dict) -> dict:
    """The Home tab's Away…: time off from now, through an optional last day, with an optional reason."""
    return View(
        type="modal",
        callback_id="away_submit",
        private_metadata=json.dumps({**context, "plan": plan, "agent": agent}),
        title=plain("Time off", 24),
        submit="Away",
        close="Cancel",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":palm_tree: Away from now as *{escape(agent)}* in *{escape(plan)}*: no prompts or "
                    "reminders, not counted in health, new work goes to the backup."
                )
            ),
            InputBlock(
                block_id="until",
                optional=True,
                label="Last day away (empty: until you press Back)",
                element=DatePickerElement(action_id="date"),
            ),
            InputBlock(
                block_id="reason",
                optional=True,
                label="Reason, for the team",
                element=PlainTextInputElement(action_id="text", max_length=MAX_REASON),
            ),
        ],
    ).to_dict()


def away_tokens(view: dict) -> list[str]:
    """The `away` command a submitted Away… modal asks for (the command checks every value again)."""
    context = json.loads(view["private_metadata"])
    values = (view.get("state") or {}).get("values") or {}
    until = (values.get("until", {}).get("date") or {}).get("selected_date")
    reason = ((values.get("reason", {}).get("text") or {}).get("value") or "").strip()
    tokens = ["away", "--plan", str(context["plan"]), "--agent", str(context["agent"])]
    if until:
        tokens += ["--until", str(until)]
    if reason:
        tokens += ["--reason", reason]
    return tokens
