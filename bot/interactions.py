"""Buttons and modals. Each action id is registered once; each runs a command as the person who clicked."""

import json

from slack_sdk.webhook import WebhookClient

from bot.respond import SlackFront, answer, confirm_view
from bot.slash import without_reason
from commands.grammar import tokenize
from commands.validate import GateNotMet


def register(app, front: SlackFront) -> None:
    def run_and_answer(body, respond, tokens, *, replace=False, offset=0):
        how = front.invocation(body["user"], body.get("channel"))
        reply, error = front.run(tokens, how)
        answer(respond, reply, error, how, offset=offset, replace=replace and error is None)
        return reply, error, how

    def refresh_dashboard(body, respond, plan):
        run_and_answer(body, respond, ["status", plan], replace=True)

    def stream_button(verb: str):
        def on_click(ack, body, action, respond):
            ack()
            plan, stream = action["value"].split("|", 1)
            _, error, _ = run_and_answer(body, respond, [verb, stream, "--plan", plan])
            if error is None:
                refresh_dashboard(body, respond, plan)

        return on_click

    app.action("stream_pause")(stream_button("pause"))
    app.action("stream_resume")(stream_button("resume"))

    @app.action("dashboard_refresh")
    def on_refresh(ack, body, action, respond):
        ack()
        refresh_dashboard(body, respond, action["value"])

    @app.action("criterion_tick")
    def on_tick(ack, body, action, respond):
        ack()
        plan, checkpoint, number = action["value"].split("|", 2)
        run_and_answer(body, respond, ["validate", "--checkpoint", checkpoint, "--criterion", number,
                                       "--plan", plan], replace=True)

    @app.action("checkpoint_pass")
    def on_pass(ack, body, action, respond, client):
        ack()
        plan, checkpoint = action["value"].split("|", 1)
        how = front.invocation(body["user"], body.get("channel"))
        try:
            reply, error = front.run(["validate", "--checkpoint", checkpoint, "--plan", plan], how,
                                     reraise=(GateNotMet,))
        except GateNotMet:
            # Criteria are unmet: passing means forcing, which asks for a reason first.
            text = f"validate --checkpoint {checkpoint} --plan {plan} --force"
            context = {"channel": body.get("channel"), "response_url": body.get("response_url")}
            client.views_open(trigger_id=body["trigger_id"], view=confirm_view(
                text, None, context, title="Force the gate",
                prompt=":warning: Some criteria are not met: passing forces the gate."))
            return
        answer(respond, reply, error, how, replace=error is None)

    @app.action("page_more")
    def on_more(ack, body, action, respond):
        ack()
        page = json.loads(action["value"])
        tokens = [page["command"], page["plan"]] if page["command"] == "status" else [
            page["command"], "--plan", page["plan"]]
        run_and_answer(body, respond, tokens, offset=int(page["offset"]))

    @app.view("confirm_command")
    def on_confirm(ack, body, view):
        reason = (view["state"]["values"]["reason"]["value"].get("value") or "").strip()
        if not reason:
            ack(response_action="errors", errors={"reason": "Say why: it is recorded with your name."})
            return
        ack()
        context = json.loads(view["private_metadata"])
        tokens = without_reason(tokenize(context["text"])) + ["--reason", reason]
        how = front.invocation(body["user"], context.get("channel"))
        reply, error = front.run(tokens, how)
        if context.get("response_url"):
            webhook = WebhookClient(context["response_url"])
            answer(lambda **kw: webhook.send(**kw), reply, error, how)
