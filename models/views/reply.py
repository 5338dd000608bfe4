"""What a command answers: a Reply holding one body. Front ends render the body; none of this knows them.

Every body is a ``Body`` with a ``kind``; the figures' bodies (dashboard, agent monitor,
sync prompt, day summary) live beside the views that compute them.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, SerializeAsAny


class Body(BaseModel):
    """What a command answers; each front end renders it in its own way."""

    kind: str


class Reply(BaseModel):
    body: SerializeAsAny[Body]
    # A change of state: front ends announce it where the team sees it (the
    # plan's channel in Slack), naming who did it. Reads go to the asker only.
    announce: bool = False
    plan: str | None = None
    # The plan's own channel (its `channel:`), set by the dispatcher on an announced reply: the
    # announcement goes there wherever the command was typed.
    announce_in: str | None = None
    # A new sync prompt (its slot): post it as the bot's own message and record where it landed,
    # so that answers can redraw it. Not an ephemeral answer, nor a response_url post.
    prompt_to_post: int | None = None
    # The posted prompt (its slot) this change shows in: the front end redraws it.
    prompt_to_redraw: int | None = None
    # The plan whose posted retrospective this change shows in: the front end draws it again in place.
    story_to_redraw: str | None = None

    def with_notes(self, notes: list[str]) -> "Reply":
        """The reply with what the rules did in reaction (a risk trigger fired) added to its details."""
        if not notes or not isinstance(self.body, Message):
            return self
        return self.model_copy(update={"body": self.body.model_copy(update={"details": self.body.details + notes})})


class Message(Body):
    kind: Literal["message"] = "message"
    text: str
    details: list[str] = []


class TaskNoteOut(BaseModel):
    at: datetime
    by: str
    kind: str  # progress | done
    note: str | None
    percent: int | None
    links: list[str]


class GateOut(BaseModel):
    """The checkpoint a task feeds: the first open one on or after the day it is planned to end."""

    key: str
    name: str
    day: int
    criteria: list[str]


class TaskCard(Message):
    """One task with what it takes to work on it (`task show`, `task next`): a Message to read, fields to use."""

    kind: Literal["task"] = "task"  # type: ignore[assignment]
    task: str | None  # None: nothing to do (the text says why)
    title: str | None = None
    status: str | None = None
    type: str | None = None
    estimate: str | None = None
    estimate_hours: float | None = None
    agent: str | None = None
    stream: str | None = None
    waits_for: str | None = None  # the coordination action of its `after:`
    waiting: bool = False  # that action has not happened yet
    checkpoint: GateOut | None = None
    success_criteria: str | None = None  # its stream's, from the plan's success-criteria
    notes: list[TaskNoteOut] = []


class Table(Body):
    """Rows of a listing; ``total`` counts them all when only some are shown."""

    kind: Literal["table"] = "table"
    title: str
    columns: list[str]
    rows: list[list[str]]
    total: int
    empty: str = "nothing to show"


class Checklist(Body):
    kind: Literal["checklist"] = "checklist"
    plan: str
    checkpoint: str
    name: str
    day: int
    due: str | None
    blocker: bool
    passed: bool
    passed_by: str | None
    forced: bool
    force_reason: str | None
    criteria: list[tuple[int, str, bool, str | None]]  # number, text, met, by whom
    note: str | None = None


class HeartbeatAck(Body):
    """A heartbeat taken: what the API answers an agent reporting in."""

    kind: Literal["heartbeat"] = "heartbeat"
    text: str
    agent: str
    status: Literal["up", "down"]
    recovered: bool  # the agent had been down and is up again
    at: datetime
    status_line: str | None = None  # what the heartbeat said the agent is doing


class Document(Body):
    """A reply that is a file: a report as CSV or JSON. Front ends print it, return it or upload it as it is."""

    kind: Literal["document"] = "document"
    title: str
    filename: str
    media_type: Literal["text/csv", "application/json"]
    content: str


class HelpText(Body):
    kind: Literal["help"] = "help"
    text: str


def message(text: str, *details: str, announce: bool = False, plan: str | None = None) -> Reply:
    return Reply(body=Message(text=text, details=list(details)), announce=announce, plan=plan)


def _kinds(base: type[Body]) -> dict[str, type[Body]]:
    found: dict[str, type[Body]] = {}
    for sub in base.__subclasses__():
        default = sub.model_fields["kind"].default
        if isinstance(default, str):
            found[default] = sub
        found.update(_kinds(sub))
    return found


def reply_from_json(data: dict[str, Any]) -> Reply:
    """A Reply as ``model_dump(mode="json")`` wrote it, with its body of the right kind again (an answer kept
    for a retried request)."""
    kinds = _kinds(Body)
    body = data.get("body") or {}
    return Reply.model_validate({**data, "body": kinds.get(str(body.get("kind")), Body).model_validate(body)})
