"""What a command answers. Front ends render the body; none of this knows them."""

from typing import Literal

from pydantic import BaseModel, SerializeAsAny

from models.figures import Body


class Reply(BaseModel):
    body: SerializeAsAny[Body]
    # A change of state: front ends announce it where the team sees it (the
    # plan's channel in Slack), naming who did it. Reads go to the asker only.
    announce: bool = False
    plan: str | None = None


class Message(Body):
    kind: Literal["message"] = "message"
    text: str
    details: list[str] = []


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


class HelpText(Body):
    kind: Literal["help"] = "help"
    text: str


def message(text: str, *details: str, announce: bool = False, plan: str | None = None) -> Reply:
    return Reply(body=Message(text=text, details=list(details)), announce=announce, plan=plan)
