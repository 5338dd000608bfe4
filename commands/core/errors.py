"""The errors a user sees. Any other exception is a bug: logged, never shown."""


def brief(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters: what was given, never all of it."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


class CommandError(Exception):
    """The command was refused; the text says what was wrong and what would be right."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PermissionDenied(CommandError):
    """The actor may not do this; the text says who may (``leads``: their user ids)."""

    def __init__(self, message: str, leads: tuple[str, ...] = ()):
        super().__init__(message)
        self.leads = leads


class IdempotencyConflict(CommandError):
    """An Idempotency-Key sent again with another request (``mismatch``), or while its first is still running."""

    def __init__(self, message: str, *, mismatch: bool = True):
        super().__init__(message)
        self.mismatch = mismatch


class Unaddressed(CommandError):
    """The input was not meant for the bot (a thread reply that is no sync answer): nothing is done,
    shown or audited."""


class AlreadyHandled(CommandError):
    """The same request again (Slack retries an event it thinks was lost): it acted once; nothing more
    is done, shown or audited."""


class UsageError(CommandError):
    """The text did not parse; ``usage`` shows the right form."""

    exit_code = 2

    def __init__(self, message: str, usage: str | None = None):
        super().__init__(message)
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\n{self.usage}" if self.usage else self.message
