"""Buttons and modals. Each action id is registered once; each runs a command as the person who clicked.

Every listener acks at once in the request (see bot.respond.listen) and does its
work lazily, after Slack has its answer.
"""

import json

from slack_sdk.webhook import WebhookClient
from sqlmodel import col, select

from bot.blocks import escape
from bot.respond import SlackFront, answer, confirm_view, listen, without_reason
from commands.core.grammar import tokenize
from commands.validate import GateNotMet
from models.db.store import session_scope
from models.db.tables import Alert, Plan
from models.db.types import utcnow

REASON_REQUIRED = {"reason": "Say why: it is recorded with your name."}


def register(app, front: SlackFront) -> None:
    def run_and_answer(body, respond, tokens, *, replace=False, offset=0):
        how = front.invocation(body["user"], body.get("channel"))
        reply, error = front.run(tokens, how)
        answer(respond, reply, error, how, offset=offset, replace=replace and error is None)
        return reply, error, how

    def refresh_dashboard(body, respond, plan):
        run_and_answer(body, respond, ["status", plan], replace=True)

    def stream_button(verb: str):
        def on_click(body, action, respond):
            plan, stream = action["value"].split("|", 1)
            _, error, _ = run_and_answer(body, respond, [verb, stream, "--plan", plan])
            if error is None:
                refresh_dashboard(body, respond, plan)

        return on_click

    listen(app.action("stream_pause"), stream_button("pause"))
    listen(app.action("stream_resume"), stream_button("resume"))

    def on_refresh(body, action, respond):
        refresh_dashboard(body, respond, action["value"])

    listen(app.action("dashboard_refresh"), on_refresh)

    def on_tick(body, action, respond):
        plan, checkpoint, number = action["value"].split("|", 2)
        run_and_answer(
            body, respond, ["validate", "--checkpoint", checkpoint, "--criterion", number, "--plan", plan], replace=True
        )

    listen(app.action("criterion_tick"), on_tick)

    def on_pass(body, action, respond, client):
        plan, checkpoint = action["value"].split("|", 1)
        how = front.invocation(body["user"], body.get("channel"))
        try:
            reply, error = front.run(
                ["validate", "--checkpoint", checkpoint, "--plan", plan], how, reraise=(GateNotMet,)
            )
        except GateNotMet:
            # Criteria are unmet: passing means forcing, which asks for a reason first.
            text = f"validate --checkpoint {checkpoint} --plan {plan} --force"
            context = {"channel": body.get("channel"), "response_url": body.get("response_url")}
            client.views_open(
                trigger_id=body["trigger_id"],
                view=confirm_view(
                    text,
                    None,
                    context,
                    title="Force the gate",
                    prompt=":warning: Some criteria are not met: passing forces the gate.",
                ),
            )
            return
        answer(respond, reply, error, how, replace=error is None)

    listen(app.action("checkpoint_pass"), on_pass)

    def on_more(body, action, respond):
        page = json.loads(action["value"])
        tokens = (
            [page["command"], page["plan"]]
            if page["command"] == "status"
            else [page["command"], "--plan", page["plan"]]
        )
        run_and_answer(body, respond, tokens, offset=int(page["offset"]))

    listen(app.action("page_more"), on_more)

    def ack_confirm(ack, view):
        # In the request: the reason is checked here, as Slack shows errors only from the ack.
        if not confirmed_reason(view):
            ack(response_action="errors", errors=REASON_REQUIRED)
            return
        ack()

    def on_confirm(body, view):
        reason = confirmed_reason(view)
        if not reason:
            return  # refused in the ack; the modal is still open
        context = json.loads(view["private_metadata"])
        tokens = [*without_reason(tokenize(context["text"])), "--reason", reason]
        how = front.invocation(body["user"], context.get("channel"))
        reply, error = front.run(tokens, how)
        if context.get("response_url"):
            webhook = WebhookClient(context["response_url"])
            answer(lambda **kw: webhook.send(**kw), reply, error, how)

    listen(app.view("confirm_command"), on_confirm, ack=ack_confirm)

    def alert_button(verb: str):
        """Acknowledge / Resolve on a critical alert: the `ack N` / `resolve N` command, as the clicker."""

        def on_alert_click(body, action, respond):
            number = action["value"].lstrip("#")
            tokens = [verb, number]
            plan_key = alert_plan(front, number)
            if plan_key is not None:
                # The alert may be shown in a DM or another channel: name its plan.
                tokens += ["--plan", plan_key]
            how = front.invocation(body["user"], body.get("channel"))
            reply, error = front.run(tokens, how)
            if error is not None:
                answer(respond, reply, error, how)
                return
            user = body["user"].get("id")
            blocks = handled_alert_blocks(body.get("message") or {}, number, verb, user, utcnow())
            done = "Acknowledged" if verb == "ack" else "Resolved"
            respond(text=f"Alert #{number}: {done.lower()} by <@{escape(user)}>", blocks=blocks, replace_original=True)

        return on_alert_click

    listen(app.action("alert_ack"), alert_button("ack"))
    listen(app.action("alert_resolve"), alert_button("resolve"))

    def move_button(verb: str):
        """Undo / Apply on a load-balancing announcement: `moves undo|apply M1`, as the clicker (a lead)."""

        def on_move_click(body, action, respond):
            plan_key, move_key = action["value"].split("|", 1)
            run_and_answer(body, respond, ["moves", verb, move_key, "--plan", plan_key])

        return on_move_click

    listen(app.action("move_undo"), move_button("undo"))
    listen(app.action("move_apply"), move_button("apply"))


def confirmed_reason(view: dict) -> str:
    """The reason typed in the confirmation modal ("" when none)."""
    field = ((view.get("state") or {}).get("values") or {}).get("reason", {}).get("value") or {}
    return (field.get("value") or "").strip()


def alert_plan(front: SlackFront, number: str) -> str | None:
    """The key of the plan an alert belongs to (None when there is no such alert: the command says so)."""
    if not number.isdigit():
        return None
    with session_scope(front.engine) as session:
        return session.exec(
            select(Plan.key).join(Alert, col(Alert.plan_id) == Plan.id).where(Alert.id == int(number))
        ).first()


def handled_alert_blocks(message: dict, number: str, verb: str, user: str, now) -> list[dict]:
    """The alert message once handled: its text, who handled it and when; Resolve stays until resolved."""
    first = next((b for b in message.get("blocks") or [] if b.get("type") == "section"), None)
    if first is not None and (first.get("text") or {}).get("type") == "mrkdwn":
        # Kept as it was, less the @here that raised it: an edit must not ping the channel again.
        text = first["text"]["text"].replace("<!here> ", "").replace("<!here>", "")
        kept = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    else:
        kept = {"type": "section", "text": {"type": "mrkdwn", "text": f":rotating_light: Alert #{escape(number)}"}}
    blocks: list[dict] = [kept]
    if verb == "resolve":
        # An earlier acknowledgement stays on record.
        blocks += [
            b
            for b in message.get("blocks") or []
            if b.get("type") == "context"
            and any(str(e.get("text", "")).startswith("Acknowledged by ") for e in b.get("elements", []))
        ]
    done = "Acknowledged" if verb == "ack" else "Resolved"
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (f"{done} by <@{escape(user)}> at {now:%H:%M} UTC · alert #{escape(number)}"),
                }
            ],
        }
    )
    if verb == "ack":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "action_id": "alert_resolve",
                        "value": number,
                    }
                ],
            }
        )
    return blocks
