"""The /orchestrate slash command: ack at once (in the request), then parse, run and answer (lazily)."""

import shlex

from bot.respond import SlackFront, answer, confirm_view, listen
from bot.sync_post import post_prompt
from commands.core.errors import UsageError
from commands.core.grammar import tokenize
from commands.core.registry import parse
from models.db.types import utcnow
from models.views.sync import SyncPrompt


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
            context = {
                "channel": {"id": body.get("channel_id"), "name": body.get("channel_name")},
                "response_url": body.get("response_url"),
            }
            client.views_open(
                trigger_id=body["trigger_id"],
                view=confirm_view(shlex.join(tokens), reason, context, title=title, prompt=prompt),
            )
            return
        reply, error = front.run(tokens, how)
        if reply is not None and isinstance(reply.body, SyncPrompt) and reply.body.slot_id is not None and how.channel:
            # Posted as the bot, not through the response URL, so answers can update it.
            post_prompt(client, front.engine, reply.body, how.channel, now=utcnow())
            respond(
                text=f"Posted a {reply.body.sync_type} prompt: {len(reply.body.agents)} agent(s) asked.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        answer(respond, reply, error, how)

    listen(app.command("/orchestrate"), on_orchestrate)


def confirmation_needed(tokens: list[str]) -> tuple[str, str, str | None] | None:
    """(modal title, prompt, reason given) for commands that must be confirmed in Slack."""
    try:
        parsed = parse(tokens, "slack")
    except UsageError:
        return None  # running it reports the usage error
    args = parsed.args
    if parsed.spec.name == "stop" and args.emergency:
        return "Emergency stop", ":rotating_light: This halts every stream of the plan now.", args.reason
    if getattr(args, "force", False):
        return "Force the gate", ":warning: This passes the checkpoint with criteria unmet.", args.reason
    return None
