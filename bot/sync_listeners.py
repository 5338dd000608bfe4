"""Answers to sync prompts: the Answer button's modal, and replies in the prompt's thread.

Each listener acks at once in the request and does its work after (see bot.respond.listen).
An answer is the `answer` command run as the person who gave it, so it is checked and
audited like any other; a thread reply carries Slack's event id, so a retried event
is recorded once.
"""

import functools

from slack_sdk.errors import SlackApiError

from bot.blocks import action
from bot.home import home_view
from bot.modals import answer_modal, answer_tokens
from bot.respond import SlackFront, answer, listen
from bot.settings import replica_name
from models.db.types import utcnow
from models.rules.sync import drop_early_reply, early_replies_due, keep_early_reply
from models.state import requests
from models.views.sync import AnswerForm

BUSY = (
    ":hourglass_flowing_sand: Slack is too busy to open the form right now: reply in the prompt's thread "
    "(your reply is your answer), or press Answer again in a minute."
)


def register(app, front: SlackFront) -> None:
    def on_answer_button(body, action, client, respond):
        how = front.invocation(body["user"], body.get("channel"))
        # The form is a view of the prompt for this person: read-only, not audited.
        reply, error = front.run(["answer-form", "--slot", str(action["value"])], how, audited=False)
        if reply is None or not isinstance(reply.body, AnswerForm):
            answer(respond, reply, error, how)
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=answer_modal(reply.body, how.channel))
        except SlackApiError as exc:
            if exc.response.get("error") not in ("ratelimited", "expired_trigger_id"):
                raise
            # Slack is too busy to open the form within the click's 3 s: say so, and the other way.
            answer(respond, None, BUSY, how)

    listen(
        app.action(action("sync_answer")),
        on_answer_button,
        home=functools.partial(home_view, front),
        opens_a_modal=True,
    )

    def on_answer(body, view, client):
        how = front.invocation(body["user"], None)
        reply, _ = front.run(answer_tokens(view), how)
        if reply is not None:
            front.honour(client, reply, how, now=utcnow())

    listen(app.view("sync_answer_submit"), on_answer)

    def accept_then_ack(ack, body, event) -> bool:
        if thread_answer_tokens(event) is None:
            ack()
            return False  # not a person's reply in a thread, nor its edit or deletion: nothing to do
        # Recorded before the ack, as a slash command is (bot/slash.py): a replica that dies after the ack
        # leaves it to another. The store not answering raises: no ack, and Slack sends it again.
        payload = {"kind": THREAD_REPLY, "event": event, "request": _request_of(event, body)}
        first = requests.accept(front.engine, f"reply:{payload['request']}", payload, now=utcnow(), by=replica_name())
        ack()
        return first  # Slack's retry of a reply recorded already: the one that recorded it does it

    def on_message(event, body, client):
        request = _request_of(event, body)
        try:
            handle_reply(front, client, event, request)
        finally:
            requests.finished(front.engine, f"reply:{request}", now=utcnow())

    listen(app.event("message"), on_message, accept_then_ack)


THREAD_REPLY = "thread-reply"  # the kind of an accepted request that is a thread reply (models.state.requests)


def _request_of(event: dict, body: dict) -> str:
    return body.get("event_id") or f"{event['channel']}:{event.get('event_ts') or event.get('ts')}"


def handle_reply(front: SlackFront, client, event: dict, request: str) -> None:
    """A thread reply run as its answer; one in a thread not yet known to be a prompt's is kept if a
    prompt is being posted (its ts not yet recorded), and run once it is (attach_early_replies)."""
    if run_thread_answer(front, client, event, request) is not None:
        return
    if keep_early_reply(front.engine, request, event, now=utcnow()) == "prompt":
        run_thread_answer(front, client, event, request)  # recorded in the meantime


def run_thread_answer(front: SlackFront, client, event: dict, request: str) -> str | None:
    """Run a thread reply (its edit, its deletion) as the `answer` it is; None when it is not one (no prompt's
    thread, not by an agent the prompt asks, a retry handled already), else what was said or refused."""
    tokens = thread_answer_tokens(event)
    if tokens is None:
        return None  # not a person's reply in a thread, nor its edit or deletion
    author, thread, rest = tokens
    how = front.invocation({"id": author}, {"id": event["channel"]}, request_id=request)
    reply, error = front.run(["answer", "--thread", f"{event['channel']}:{thread}", *rest], how)
    if reply is not None:
        front.honour(client, reply, how, now=utcnow())
        return "answered"
    return error


def attach_early_replies(front: SlackFront, client) -> int:
    """Run the replies kept while their prompt's ts was unknown, now that it is recorded; returns how many."""
    attached = 0
    for request, event in early_replies_due(front.engine):
        run_thread_answer(front, client, event, request)  # a second run (a crash in between) is AlreadyHandled
        drop_early_reply(front.engine, request)
        attached += 1
    return attached


# The subtypes of a person's own message (docs.slack.dev/reference/events/message): a reply also
# sent to the channel, and a reply with files. Every other subtype is a bot's, a join, a topic...
PEOPLES_SUBTYPES = (None, "thread_broadcast", "file_share")


def _in_a_thread(message: dict) -> bool:
    return bool(message.get("thread_ts")) and message.get("thread_ts") != message.get("ts")


def _by_a_person(message: dict) -> bool:
    return bool(message.get("user")) and not message.get("bot_id") and message.get("subtype") in PEOPLES_SUBTYPES


def _files(message: dict) -> list[str]:
    """Each shared file as its name and link, kept with the answer."""
    found = []
    for file in message.get("files") or []:
        name, link = file.get("name") or file.get("title") or file.get("id") or "a file", file.get("permalink")
        found += ["--file", f"{name} ({link})" if link else str(name)]
    return found


def thread_answer_tokens(event: dict) -> tuple[str, str, list[str]] | None:
    """(author, thread ts, the rest of the `answer` command) a message event asks for, or None.

    A reply (plain, broadcast, with files) is an answer; its edit (`message_changed`) replaces it and
    its deletion (`message_deleted`) withdraws it, both only if it is the answer stored."""
    subtype = event.get("subtype")
    if subtype == "message_changed":
        message = event.get("message") or {}
        if not (_in_a_thread(message) and _by_a_person(message)):
            return None  # a tombstone, a bot's edit, an edit outside a thread
        text = ["--", message["text"]] if message.get("text") else []
        rest = ["--message", message["ts"], "--edited", *_files(message), *text]
        return message["user"], message["thread_ts"], rest
    if subtype == "message_deleted":
        gone = event.get("previous_message") or {}
        if not (_in_a_thread(gone) and _by_a_person(gone)):
            return None
        return gone["user"], gone["thread_ts"], ["--message", event.get("deleted_ts") or gone["ts"], "--withdraw"]
    if not (_in_a_thread(event) and _by_a_person(event)):
        return None
    text = ["--", event["text"]] if event.get("text") else []
    return event["user"], event["thread_ts"], ["--message", event["ts"], *_files(event), *text]
