"""help: usage, generated from the commands themselves."""

from commands.context import Context
from commands.errors import UsageError
from commands.grammar import CommandSpec, prog_name, specs, subparser
from commands.reply import HelpText, Reply


def add_arguments(parser) -> None:
    parser.add_argument("topic", nargs="*", metavar="SUBCOMMAND", help="the subcommand to explain")


def run(args, ctx: Context) -> Reply:
    """Show usage: all subcommands, or one in detail."""
    known = specs(ctx.front)
    if args.topic:
        name = args.topic[0]
        if name not in known:
            raise UsageError(f"no subcommand {name!r}: `{prog_name(ctx.front)} help` lists them")
        spec = known[name]
        text = subparser(ctx.front, spec.name).format_help().strip()
        if spec.privileged != "no":
            text += f"\n\nPrivileged (leads only): {spec.privileged}"
        return Reply(body=HelpText(text=text))
    lines = [f"Usage: {prog_name(ctx.front)} SUBCOMMAND [ARGS]   (`help SUBCOMMAND` for details)", ""]
    seen = set()
    for spec in known.values():
        if spec.name in seen:
            continue
        seen.add(spec.name)
        names = " / ".join((spec.name, *spec.aliases))
        mark = " *" if spec.privileged != "no" else ""
        lines.append(f"  {names:<20} {spec.summary}{mark}")
    lines += ["", "* leads only (for some forms, see `help SUBCOMMAND`)."]
    return Reply(body=HelpText(text="\n".join(lines)))


SPECS = [CommandSpec("help", run, add_arguments)]
