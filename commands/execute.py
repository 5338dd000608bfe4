"""execute: start a plan now (the seed's `execute PLAN --start-now`)."""

import argparse

from commands import start
from commands.core.context import Context
from commands.core.grammar import CommandSpec
from models.views.reply import Reply


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", nargs="?", metavar="PLAN", help="the plan id (default: the only plan)")
    parser.add_argument("--start-now", action="store_true", help="start at once (the default; kept for scripts)")


def run(args: argparse.Namespace, ctx: Context) -> Reply:
    """Start a plan now (the same as `start`)."""
    return start.run(args, ctx)


SPECS = [CommandSpec("execute", run, add_arguments, privileged="yes")]
