"""The /orchestrate slash command: ack at once (in the request), then parse, run and answer (after the ack)."""

import shlex

from bot.modals import REHEARSAL_REASON, confirm_modal, without_reason
from bot.respond import SlackFront, answer, listen
from commands.core.errors import UsageError
from commands.core.grammar import tokenize
from commands.core.registry import parse
from models.db.types import utcnow


def register(app, front: SlackFront) -> None:
    def on_orchestrate(body, respond, client):
        # Runs after the ack (see bot.respond.listen): Slack already has its answer.
        how = front.invocation(
            {"id": body["user_id"], "username": body.get("user_name")},
            {"id": body.get("channel_id"), "name": body.get("channel_name")},
        )
        try:
            tokens = tokenize(body.get("text", ""))
        except UsageError as exc:
            answer(respond, None, f":warning: {exc.message}", how)
            return
        risky = confirmation_needed(tokens)
        if risky is not None:
            title, prompt, reason = risky
            # Permission first: the command is rehearsed (run, then rolled back) so that a refusal
            # comes at once, and a modal only ever asks someone who may run it.
            _, refusal = front.run(with_a_reason(tokens), how, rehearsal=True)
            if refusal is not None:
                answer(respond, None, refusal, how)
                return
            context = {
                "channel": {"id": body.get("channel_id"), "name": body.get("channel_name")},
                "response_url": body.get("response_url"),
            }
            client.views_open(
                trigger_id=body["trigger_id"],
                view=confirm_modal(shlex.join(tokens), reason, context, title=title, prompt=prompt),
            )
            return
        reply, error = front.run(tokens, how)
        if reply is not None:
            front.honour(client, reply, how, now=utcnow())
        answer(respond, reply, error, how, client=client)

    listen(app.command("/orchestrate"), on_orchestrate, opens_a_modal=asks_for_confirmation)


def asks_for_confirmation(body: dict) -> bool:
    """Whether the command opens a modal (so its work has Slack's 3 s): parsing only, no store, no Slack."""
    try:
        return confirmation_needed(tokenize(body.get("text", ""))) is not None
    except UsageError:
        return False


def with_a_reason(tokens: list[str]) -> list[str]:
    """The command as the modal will run it: with a reason (the modal asks for one if none was typed)."""
    return [*without_reason(tokens), "--reason", REHEARSAL_REASON]


def confirmation_needed(tokens: list[str]) -> tuple[str, str, str | None] | None:
    """(modal title, prompt, reason given) for commands that must be confirmed in Slack.

    A command whose only fault is a missing --reason needs it too: the modal asks for it."""
    try:
        parsed = parse(tokens, "slack")
    except UsageError:
        try:
            parsed = parse(with_a_reason(tokens), "slack")
        except UsageError:
            return None  # running it reports the usage error
        parsed.args.reason = None
    args = parsed.args
    if parsed.spec.name == "stop" and args.emergency:
        return "Emergency stop", ":rotating_light: This halts every stream of the plan now.", args.reason
    if getattr(args, "force", False):
        return "Force the gate", ":warning: This passes the checkpoint with criteria unmet.", args.reason
    return None
