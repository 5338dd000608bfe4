"""The `orchestrate` command: every subcommand of the grammar, plus `serve` and `db`.

Exit codes: 0 done, 1 refused (or failed), 2 usage error. ``--json`` prints
on stdout what the HTTP API answers: ``{"ok": true, "reply": …}`` or
``{"ok": false, "error": …, "usage": …}``; ``--yes`` answers the confirmation questions asked at a
terminal. Run from a script (no terminal), nothing is asked, so the seed's
command lines work as written.
"""

import getpass
import json
import logging
import sys

from commands.core.context import Actor
from commands.core.dispatch import InternalError, Invocation, execute
from commands.core.errors import CommandError, UsageError
from commands.core.registry import parse
from models.views.exports import Export, stream

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def operator() -> Actor:
    user = getpass.getuser()
    return Actor(id=f"cli:{user}", name=user, source="cli", operator=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    assume_yes = "--yes" in argv or "-y" in argv
    argv = [a for a in argv if a not in ("--json", "--yes", "-y")]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if argv[:1] == ["serve"]:
        from bot.serve import serve

        return serve(argv[1:])
    if argv[:1] == ["mcp"]:
        from bot.mcp_server import serve_stdio

        return serve_stdio(argv[1:])
    if argv[:1] == ["db"]:
        return _db(argv[1:])

    from bot.settings import settings
    from models.db.store import ensure_schema, make_engine

    try:
        if not assume_yes and sys.stdin.isatty():
            argv = _confirm(argv)
        engine = make_engine(settings().database_url)
        ensure_schema(engine)
        reply = execute(engine, argv, Invocation(actor=operator(), front="cli"))
    except CommandError as exc:
        return _fail(exc, as_json)
    except InternalError as exc:
        return _fail(exc, as_json, code=EXIT_REFUSED)
    if isinstance(reply.body, Export):  # streamed from the store as it is written out
        for chunk in stream(engine, reply.body):
            sys.stdout.write(chunk)
        return EXIT_OK
    if as_json:
        print(json.dumps({"ok": True, "reply": reply.model_dump(mode="json")}, indent=2, ensure_ascii=False))
    else:
        from bot.text import render

        print(render(reply))
    return EXIT_OK


def _fail(exc: Exception, as_json: bool, code: int | None = None) -> int:
    code = code if code is not None else getattr(exc, "exit_code", EXIT_REFUSED)
    if as_json:
        payload = {"ok": False, "error": getattr(exc, "message", str(exc))}
        usage = getattr(exc, "usage", None)
        if usage:
            payload["usage"] = usage
        print(json.dumps(payload, ensure_ascii=False))  # one stream for both shapes, as the API answers
    else:
        print(f"orchestrate: {exc}", file=sys.stderr)
    return code


def _confirm(argv: list[str]) -> list[str]:
    """At a terminal, ask before an emergency stop or a forced gate, and ask a forced gate's reason."""
    try:
        parsed = parse(argv, "cli")
    except UsageError:
        return argv  # the dispatcher reports it
    args, name = parsed.args, parsed.spec.name
    risky = (name == "stop" and args.emergency) or getattr(args, "force", False)
    if not risky:
        return argv
    if name == "validate" and not args.reason:
        reason = input("Why force this checkpoint? (recorded in the audit log): ").strip()
        if reason:
            argv = [*argv, "--reason", reason]
    answer = input(f"Really run `{parsed.text}`? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("cancelled; nothing changed")
    return argv


def _db(args: list[str]) -> int:
    from bot.settings import settings
    from models.db.store import current_revision, head_revision, make_engine, upgrade

    if args not in (["upgrade"], ["current"]):
        print("usage: orchestrate db upgrade | orchestrate db current", file=sys.stderr)
        return EXIT_USAGE
    engine = make_engine(settings().database_url)
    if args == ["current"]:
        print(f"store at revision {current_revision(engine) or '(empty)'}; code at {head_revision()}")
        return EXIT_OK
    before, after = upgrade(engine)
    print(f"store upgraded from {before or '(empty)'} to {after}" if before != after else f"store already at {after}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
