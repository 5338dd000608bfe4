"""help: usage, generated from the commands themselves."""

import argparse

from commands.core.context import Context
from commands.core.errors import UsageError
from commands.core.grammar import CommandSpec
from models.views.reply import HelpText, Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", nargs="*", metavar="SUBCOMMAND", help="the subcommand to explain")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Show usage: all subcommands, or one in detail."""
    grammar = ctx.grammar
    if grammar is None:  # the dispatcher gives every command its front end's grammar
        raise RuntimeError("help was run without a grammar to describe")
    known = grammar.specs
    if args.topic:
        name = args.topic[0]
        if name not in known:
            raise UsageError(f"no subcommand {name!r}: `{grammar.prog} help` lists them")
        spec = known[name]
        text = grammar.subparser(spec.name).format_help().strip()
        if spec.privileged != "no":
            text += f"\n\nPrivileged (leads only): {spec.privileged}"
        return Reply(body=HelpText(text=text))
    lines = [f"Usage: {grammar.prog} SUBCOMMAND [ARGS]   (`help SUBCOMMAND` for details)", ""]
    seen = set()
    for spec in known.values():
        if spec.name in seen:
            continue
        seen.add(spec.name)
        names = " / ".join((spec.name, *spec.aliases))
        mark = " *" if spec.privileged != "no" else ""
        lines.append(f"  {names:<20} {spec.summary}{mark}".rstrip())
    lines += ["", "* leads only (for some forms, see `help SUBCOMMAND`)."]
    return Reply(body=HelpText(text="\n".join(lines)))


SPECS = [CommandSpec("help", run, add_arguments, read_only=True)]
