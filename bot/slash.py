"""The /orchestrate slash command: recorded and acked at once (in the request), then parsed, run and answered.

Slack never sends a slash command twice, and once acked it shows nothing more unless we answer: so the
command is recorded before the ack (models/state/requests.py), and finished once answered. A replica
that dies in between leaves it to another, which completes it once (its changes are recorded under the
request's id) and answers through its response_url (``complete_unfinished``).
"""

import logging
import shlex
import uuid
from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import SQLAlchemyError

from bot.modals import REHEARSAL_REASON, confirm_modal, without_reason
from bot.respond import REQUEST_ID, SlackFront, answer, listen
from bot.settings import replica_name
from bot.sync_listeners import THREAD_REPLY, handle_reply
from commands.core.errors import AlreadyHandled, UsageError
from commands.core.grammar import tokenize
from commands.core.registry import parse
from models.db.types import utcnow
from models.state import requests

log = logging.getLogger(__name__)

# What a command needs once acked: who, where, what, and where to answer (never Slack's token field).
KEPT_FIELDS = ("user_id", "user_name", "channel_id", "channel_name", "text", "response_url", "trigger_id")
STORE_DOWN = (
    ":warning: The bot cannot take commands this moment (its database does not answer), so nothing was "
    "done: run it again in a minute."
)


def register(app, front: SlackFront) -> None:
    def accept_then_ack(ack, body, context) -> bool:
        # In the request, before the ack: the command is recorded, so that it outlives this process.
        request_id = context.get(REQUEST_ID) or f"accepted:{uuid.uuid4().hex}"
        context[REQUEST_ID] = request_id
        payload = {k: body[k] for k in KEPT_FIELDS if body.get(k) is not None}
        try:
            first = requests.accept(front.engine, request_id, payload, now=utcnow(), by=replica_name())
        except SQLAlchemyError as exc:
            log.warning("a slash command was refused: the store does not answer (%s)", type(exc).__name__)
            ack(text=STORE_DOWN)  # said to the person at once, and nothing was taken on
            return False
        ack()
        return first  # a replay of a command recorded already is another replica's (or done)

    def on_orchestrate(body, respond, client, context):
        # Runs after the ack (see bot.respond.listen): Slack already has its answer.
        request_id = context[REQUEST_ID]
        try:
            run_slash(front, body, respond, client, request_id=request_id)
        finally:
            requests.finished(front.engine, request_id, now=utcnow())

    listen(app.command("/orchestrate"), on_orchestrate, accept_then_ack, opens_a_modal=asks_for_confirmation)


def run_slash(
    front: SlackFront, body: dict, respond, client: WebClient, *, request_id: str, taken_over: bool = False
) -> None:
    """Parse, run and answer one slash command. ``taken_over``: its replica died after the ack; a change it
    made already is not made again, and the person hears that it was done."""
    how = front.invocation(
        {"id": body["user_id"], "username": body.get("user_name")},
        {"id": body.get("channel_id"), "name": body.get("channel_name")},
        request_id=request_id,
    )
    text = body.get("text", "")
    try:
        tokens = tokenize(text)
    except UsageError as exc:
        answer(respond, None, f":warning: {exc.message}", how)
        return
    risky = confirmation_needed(tokens)
    if risky is not None and taken_over:
        # Its trigger_id lived 3 s: the confirmation form can no longer open.
        late = f":hourglass: `{text}` asks for a confirmation that could not open in time: run it again."
        answer(respond, None, late, how)
        return
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
    try:
        reply, error = front.run(tokens, how, reraise=(AlreadyHandled,) if taken_over else ())
    except AlreadyHandled:  # done by the replica that died, which had no time to say so
        answer(respond, None, f":white_check_mark: `{text}` was done (the bot restarted before it could answer).", how)
        return
    if reply is not None:
        front.honour(client, reply, how, now=utcnow())
    answer(respond, reply, error, how, client=client)


def response_url(url: str) -> Callable[..., None]:
    """``respond`` for a command taken over: a POST to its response_url, as Bolt's own respond does."""
    webhook = WebhookClient(url)

    def respond(**message) -> None:
        webhook.send(**message)

    return respond


def complete_unfinished(front: SlackFront, client: WebClient, *, now: datetime, by: str) -> int:
    """Complete the commands (and thread replies) acked by a replica that died before finishing them;
    returns how many."""
    done = 0
    for command in requests.take_unfinished(front.engine, now=now, by=by):
        what = command.payload.get("text") or command.payload.get("kind")
        log.warning("completing a command its replica left unfinished: %.80r", what)
        try:
            if command.payload.get("kind") == THREAD_REPLY:  # an answer in a prompt's thread
                handle_reply(front, client, command.payload["event"], command.payload["request"])
            else:
                respond = response_url(command.payload["response_url"])
                run_slash(front, command.payload, respond, client, request_id=command.request_id, taken_over=True)
            done += 1
        except Exception:
            log.exception("completing a command taken over failed; it is tried again after its lease")
            continue
        requests.finished(front.engine, command.request_id, now=utcnow())
    return done


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
