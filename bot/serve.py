"""`orchestrate serve`: run the bot.

Console mode (no Slack tokens): shows the dashboard of each running or
loaded plan, then reads commands line by line and answers them, until EOF
(Ctrl-D) or `quit`. The Slack modes (Socket Mode, HTTP) come with the Slack
front end; until then, setting their tokens is reported, not ignored.
"""

import argparse
import sys

from bot.cli import operator
from bot.settings import settings
from bot.text import render
from commands.dispatch import InternalError, Invocation, execute
from commands.errors import CommandError
from commands.grammar import tokenize
from models.store import ensure_schema, make_engine


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="orchestrate serve")
    parser.add_argument("--http", action="store_true", help="HTTP mode (needs SLACK_SIGNING_SECRET)")
    args = parser.parse_args(argv)
    config = settings()
    if args.http or config.slack_app_token or config.slack_signing_secret:
        print("orchestrate serve: the Slack modes (Socket Mode, HTTP) are not built yet; "
              "unset SLACK_APP_TOKEN / SLACK_SIGNING_SECRET to run the console", file=sys.stderr)
        return 1
    engine = make_engine(config.database_url)
    ensure_schema(engine)
    return console(engine, sys.stdin, sys.stdout)


def console(engine, stdin, stdout) -> int:
    how = Invocation(actor=operator(), front="cli")
    interactive = stdin.isatty()

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    say("orchestrate console: type a command (`help` lists them), Ctrl-D to quit.")
    _run(engine, ["status"], how, say)
    while True:
        if interactive:
            print("orchestrate> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            say("bye")
            return 0
        line = line.strip().removeprefix("/orchestrate").strip()
        if line in ("quit", "exit"):
            say("bye")
            return 0
        if line:
            try:
                _run(engine, tokenize(line), how, say)
            except CommandError as exc:
                say(f"error: {exc}")


def _run(engine, tokens, how, say) -> None:
    try:
        say(render(execute(engine, tokens, how)))
    except CommandError as exc:
        say(f"error: {exc}")
    except InternalError as exc:
        say(f"error: {exc}")
