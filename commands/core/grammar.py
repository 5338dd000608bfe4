"""One grammar for the CLI, the slash command and the API.

``orchestrate pause stream-b`` and ``/orchestrate pause stream-b`` go through
``parse`` and come out as the same typed command. The parser is argparse,
configured so that it never prints or exits: every problem is a UsageError
that names the right form. Help is generated from the command modules'
docstrings and argument specs, so it cannot drift from what they accept.
"""

import argparse
import difflib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from commands.core.errors import UsageError, brief
from models.views.reply import Reply

if TYPE_CHECKING:  # a context holds its front end's grammar: the two refer to each other in types only
    from commands.core.context import Context

FRONTS = frozenset({"cli", "slack", "api"})
FRONT_NAMES = {"cli": "CLI", "slack": "Slack", "api": "API"}

# The longest command text read (a slash command, a console line): far more than any real command
# needs (a reason is at most 500, a title 300), far less than Slack's 40,000-character messages.
MAX_COMMAND_TEXT = 4000


@dataclass(frozen=True)
class CommandSpec:
    name: str
    run: Callable[[argparse.Namespace, "Context"], Reply]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # "yes", "no", or when it depends on the arguments, a word on when.
    privileged: str = "no"
    aliases: tuple[str, ...] = ()
    fronts: frozenset[str] = field(default=FRONTS)
    # Changes nothing (with these arguments): a front end may run it for itself, unaudited (the Home tab, a form).
    read_only: bool | Callable[[argparse.Namespace], bool] = False

    def is_read_only(self, args: argparse.Namespace) -> bool:
        return self.read_only(args) if callable(self.read_only) else self.read_only

    @property
    def summary(self) -> str:
        """The docstring's first sentence, on one line however it wraps."""
        paragraph = " ".join((self.run.__doc__ or "").strip().split("\n\n")[0].split())
        return paragraph.split(". ")[0].rstrip(".") + "."

    @property
    def description(self) -> str:
        return (self.run.__doc__ or "").strip()


@dataclass(frozen=True)
class Parsed:
    spec: CommandSpec
    args: argparse.Namespace
    text: str


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("add_help", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(_friendlier(message), usage=self.format_usage().strip())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError((message or "").strip() or "usage error", usage=self.format_usage().strip())


def _friendlier(message: str) -> str:
    if message.startswith("unrecognized arguments:"):
        return message.replace("unrecognized arguments:", "unexpected", 1)
    return message


def count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high (what the store and Slack can take)."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        return int(text)

    parse.__name__ = "number"
    return parse


MAX_REASON = 500  # characters of a reason (--reason): what the audit log and Slack show in full
MAX_TITLE = 300  # characters of a task title, as in plan files


def free_text(most: int) -> Callable[[str], str]:
    """An argparse type: free text of at most ``most`` characters."""

    def parse(given: str) -> str:
        if len(given) > most:
            raise argparse.ArgumentTypeError(f"it is {len(given):,} characters long: at most {most:,} are kept")
        return given

    parse.__name__ = "text"
    return parse


_SLUG = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")


def slug(text: str, what: str, example: str) -> str:
    """A metric or event name: lower case letters, digits and dashes; a UsageError says so."""
    name = text.lower()
    if not _SLUG.match(name):
        raise UsageError(f"{brief(text)} is not {what}: use letters, digits and dashes (at most 100), e.g. {example}")
    return name


def prog_name(front: str) -> str:
    return "/orchestrate" if front == "slack" else "orchestrate"


class Grammar:
    """The parser of one front end, built from every subcommand's spec (``commands.core.registry``)."""

    def __init__(self, command_specs: list[CommandSpec], front: str):
        self.front = front
        self.prog = prog_name(front)
        self.root = _Parser(prog=self.prog)
        sub = self.root.add_subparsers(dest="command", parser_class=_Parser, metavar="SUBCOMMAND")
        self.specs: dict[str, CommandSpec] = {}
        self._subparsers: dict[str, argparse.ArgumentParser] = {}
        self.elsewhere: dict[str, CommandSpec] = {}  # commands of other front ends: named as such when typed here
        for spec in command_specs:
            if front not in spec.fronts:
                self.elsewhere[spec.name] = spec
                continue
            parser = sub.add_parser(
                spec.name, aliases=list(spec.aliases), help=spec.summary, description=spec.description
            )
            parser.add_argument("-h", "--help", action="store_true", help="show this help")
            spec.add_arguments(parser)
            self._subparsers[spec.name] = parser
            for name in (spec.name, *spec.aliases):
                self.specs[name] = spec

    def subparser(self, name: str) -> argparse.ArgumentParser:
        return self._subparsers[self.specs[name].name]

    def parse(self, tokens: list[str]) -> Parsed:
        """Tokens → a Parsed command; anything else is a UsageError."""
        text = shlex.join(tokens)
        if not tokens:
            tokens = ["help"]
        if tokens[0] in ("-h", "--help"):
            tokens = ["help", *tokens[1:]]
        first = tokens[0]
        if first in self.elsewhere:
            fronts = " and the ".join(sorted(FRONT_NAMES[f] for f in self.elsewhere[first].fronts))
            raise UsageError(f"`{first}` is not for {FRONT_NAMES[self.front]}: it runs from the {fronts}")
        if first not in self.specs:
            raise UsageError(_unknown(first, self.specs, self.front))
        if "-h" in tokens[1:] or "--help" in tokens[1:]:
            return Parsed(self.specs["help"], argparse.Namespace(command="help", topic=[self.specs[first].name]), text)
        args = self.root.parse_args(tokens)
        return Parsed(self.specs[args.command], args, text)


def tokenize(text: str) -> list[str]:
    """Split text the way a shell would, accepting the curly quotes Slack types."""
    if len(text) > MAX_COMMAND_TEXT:
        raise UsageError(
            f"the command is {len(text):,} characters long: at most {MAX_COMMAND_TEXT:,} characters are read"
        )
    text = text.translate(str.maketrans("“”‘’\u00a0", "\"\"'' "))
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"could not read the command: {exc} (close every quote you open)") from None


def _unknown(word: str, names: dict[str, CommandSpec], front: str) -> str:
    close = difflib.get_close_matches(word, list(names), n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown subcommand {word!r}: {hint}`{prog_name(front)} help` lists them all"
