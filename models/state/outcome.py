"""What a change of state says back: a refusal (``StateError``), or what it did (``Outcome``)."""

from dataclasses import dataclass, field


class StateError(ValueError):
    """A change the current state does not allow; the text says what would work."""


@dataclass
class Outcome:
    """What a change did, beyond its own row: for replies and announcements."""

    notes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def merge(first: Outcome, second: Outcome) -> Outcome:
    return Outcome(first.notes + second.notes, first.events + second.events)
