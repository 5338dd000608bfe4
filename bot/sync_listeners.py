"""Answers to sync prompts: the Answer button's modal, and replies in the prompt's thread.

Each listener acks at once in the request and does its work after (see bot.respond.listen).
An answer is the `answer` command run as the person who gave it, so it is checked and
audited like any other; a thread reply carries Slack's event id, so a retried event
is recorded once.
"""

from bot.modals import answer_modal, answer_tokens
from bot.respond import SlackFront, answer, listen
from models.db.types import utcnow
from models.views.sync import AnswerForm


def register(app, front: SlackFront) -> None:
    def on_answer_button(body, action, client, respond):
        how = front.invocation(body["user"], body.get("channel"))
        # The form is a view of the prompt for this person: read-only, not audited.
        reply, error = front.run(["answer-form", "--slot", str(action["value"])], how, audited=False)
        if reply is None or not isinstance(reply.body, AnswerForm):
            answer(respond, reply, error, how)
            return
        client.views_open(trigger_id=body["trigger_id"], view=answer_modal(reply.body, how.channel))

    listen(app.action("sync_answer"), on_answer_button)

    def on_answer(body, view, client):
        how = front.invocation(body["user"], None)
        reply, _ = front.run(answer_tokens(view), how)
        if reply is not None:
            front.honour(client, reply, how, now=utcnow())

    listen(app.view("sync_answer_submit"), on_answer)

    def on_message(event, body, client):
        if event.get("subtype") or event.get("bot_id") or event.get("thread_ts") in (None, event.get("ts")):
            return  # only people's replies in a thread count
        request = body.get("event_id") or f"{event['channel']}:{event['ts']}"
        how = front.invocation({"id": event.get("user")}, {"id": event["channel"]}, request_id=request)
        thread = f"{event['channel']}:{event['thread_ts']}"
        reply, _ = front.run(["answer", "--thread", thread, "--", event.get("text", "")], how)
        if reply is not None:
            front.honour(client, reply, how, now=utcnow())

    listen(app.event("message"), on_message)
