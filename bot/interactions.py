"""Buttons and modals. Each action id is registered once; each runs a command as the person who clicked.

Every listener acks at once in the request (see bot.respond.listen) and does its
work lazily, after Slack has its answer.
"""

import functools
import json
import re

from slack_sdk.webhook import WebhookClient

from bot import respond as responding
from bot.blocks import action, escape, handled_alert_blocks
from bot.home import home_view
from bot.modals import REHEARSAL_REASON, away_modal, away_tokens, confirm_modal, confirmed_reason, without_reason
from bot.respond import SlackFront, answer
from commands.core.grammar import tokenize
from commands.validate import GateNotMet
from models.db.types import utcnow

REASON_REQUIRED = {"reason": "Say why: it is recorded with your name."}


def register(app, front: SlackFront) -> None:
    # A click in the Home tab is answered in the Home tab (bot.respond.HomeTabAnswer).
    listen = functools.partial(responding.listen, home=functools.partial(home_view, front))

    def run_and_answer(body, respond, client, tokens, *, replace=False, offset=0):
        how = front.invocation(body["user"], body.get("channel"))
        reply, error = front.run(tokens, how)
        answer(respond, reply, error, how, offset=offset, replace=replace and error is None, client=client)
        return reply, error, how

    def modal_context(body, respond, how, tokens: list[str]) -> dict | None:
        """Before a modal opens: the command rehearsed (rolled back) as the clicker, its refusal answered at
        once (None), else where the modal's command is to answer once submitted."""
        _, refusal = front.run(tokens, how, rehearsal=True)
        if refusal is not None:
            answer(respond, None, refusal, how)
            return None
        return {
            "channel": body.get("channel"),
            "response_url": body.get("response_url"),
            "home": responding.clicked_in_home_tab(body),
        }

    def ask_reason(body, respond, client, how, text, *, title, prompt):
        """Open the reason modal for ``text``, once the clicker is known to be allowed to run it:
        a refusal is answered now, before any modal opens."""
        context = modal_context(body, respond, how, [*tokenize(text), "--reason", REHEARSAL_REASON])
        if context is not None:
            client.views_open(
                trigger_id=body["trigger_id"], view=confirm_modal(text, None, context, title=title, prompt=prompt)
            )

    def refresh_dashboard(body, respond, client, plan):
        run_and_answer(body, respond, client, ["status", plan], replace=True)

    def stream_button(verb: str):
        def on_click(body, action, respond, client):
            plan, stream = action["value"].split("|", 1)
            _, error, _ = run_and_answer(body, respond, client, [verb, stream, "--plan", plan])
            if error is None:
                refresh_dashboard(body, respond, client, plan)

        return on_click

    listen(app.action(action("stream_pause")), stream_button("pause"))
    listen(app.action(action("stream_resume")), stream_button("resume"))

    def on_refresh(body, action, respond, client):
        refresh_dashboard(body, respond, client, action["value"])

    listen(app.action(action("dashboard_refresh")), on_refresh)

    def on_tick(body, action, respond, client):
        plan, checkpoint, number = action["value"].split("|", 2)
        run_and_answer(
            body,
            respond,
            client,
            ["validate", "--checkpoint", checkpoint, "--criterion", number, "--plan", plan],
            replace=True,
        )

    listen(app.action(action("criterion_tick")), on_tick)

    def on_pass(body, action, respond, client):
        plan, checkpoint = action["value"].split("|", 1)
        how = front.invocation(body["user"], body.get("channel"))
        try:
            reply, error = front.run(
                ["validate", "--checkpoint", checkpoint, "--plan", plan], how, reraise=(GateNotMet,)
            )
        except GateNotMet:
            # Criteria are unmet: passing means forcing, which asks for a reason first, of a lead:
            # anyone else is refused now, before any modal opens.
            text = f"validate --checkpoint {checkpoint} --plan {plan} --force"
            prompt = ":warning: Some criteria are not met: passing forces the gate."
            ask_reason(body, respond, client, how, text, title="Force the gate", prompt=prompt)
            return
        answer(respond, reply, error, how, replace=error is None, client=client)

    listen(app.action(action("checkpoint_pass")), on_pass, opens_a_modal=True)

    def task_button(verb: str):
        """Start / Done on one of the clicker's tasks (the Home tab): `task start|done TASK`, as the clicker."""

        def on_task_click(body, action, respond, client):
            plan, task = action["value"].split("|", 1)
            run_and_answer(body, respond, client, ["task", verb, task, "--plan", plan])

        return on_task_click

    listen(app.action(action("task_start")), task_button("start"))
    listen(app.action(action("task_done")), task_button("done"))

    def on_task_blocked(body, action, respond, client):
        # Blocked asks what blocks it (the leads read it in blockers and the summary): permission first.
        plan, task = action["value"].split("|", 1)
        text = f"task block {task} --plan {plan}"
        how = front.invocation(body["user"], body.get("channel"))
        prompt = f":no_entry: What blocks *{escape(task)}*? The leads see it with the blocker."
        ask_reason(body, respond, client, how, text, title="Blocked", prompt=prompt)

    listen(app.action(action("task_block")), on_task_blocked, opens_a_modal=True)

    def on_away(body, action, respond, client):
        # Time off asks until when and why: permission first, then the modal.
        plan, agent = action["value"].split("|", 1)
        how = front.invocation(body["user"], body.get("channel"))
        context = modal_context(body, respond, how, ["away", "--plan", plan, "--agent", agent])
        if context is not None:
            client.views_open(trigger_id=body["trigger_id"], view=away_modal(plan, agent, context))

    listen(app.action(action("home_away")), on_away, opens_a_modal=True)

    def on_back(body, action, respond, client):
        plan, agent = action["value"].split("|", 1)
        run_and_answer(body, respond, client, ["back", "--plan", plan, "--agent", agent])

    listen(app.action(action("home_back")), on_back)

    def on_away_submit(body, view, client):
        answer_submitted(body, client, json.loads(view["private_metadata"]), away_tokens(view))

    listen(app.view("away_submit"), on_away_submit)

    def on_tasks_page(body, action, respond, client):
        page = json.loads(action["value"])
        where = (str(page["plan"]), str(page["agent"]), int(page["from"]))
        if isinstance(respond, responding.HomeTabAnswer):
            respond.shown = {"tasks": where}  # the Home tab pages in place
            return
        tokens = ["mine", "--plan", where[0], "--agent", where[1], "--from", str(where[2])]
        run_and_answer(body, respond, client, tokens, replace=True)

    listen(app.action(action("home_tasks_page")), on_tasks_page)

    def on_more(body, action, respond, client):
        page = json.loads(action["value"])
        if isinstance(respond, responding.HomeTabAnswer) and page["command"] == "status":
            respond.shown = {"dashboard": (str(page["plan"]), int(page["offset"]))}  # pages in place
            return
        tokens = (
            [page["command"], page["plan"]]
            if page["command"] == "status"
            else [page["command"], "--plan", page["plan"]]
        )
        if "page" in page:  # health comes a page at a time: the next is its own command
            tokens += ["--page", str(page["page"])]  # the grammar checks it
        if "slot" in page:  # the rest of a sync prompt
            tokens += ["--slot", str(int(page["slot"]))]
        # The next page of a list takes the place of the page clicked, in its message (an ephemeral one
        # only through the response_url); the first page of another list (a prompt's Show all) comes as its own.
        paging_on = (int(page["offset"]) > 0 or "page" in page) and not isinstance(respond, responding.HomeTabAnswer)
        run_and_answer(body, respond, client, tokens, offset=int(page["offset"]), replace=paging_on)

    listen(app.action(action("page_more")), on_more)

    # A modal cancelled (view_closed, sent for a view with notify_on_close): nothing to undo, as nothing
    # is done before a submission; acknowledged, so that Slack gets its 200 rather than Bolt's 404.
    app.view_closed(re.compile(".*"))(responding.ack_at_once)

    def ack_confirm(ack, view):
        # In the request: the reason is checked here, as Slack shows errors only from the ack.
        if not confirmed_reason(view):
            ack(response_action="errors", errors=REASON_REQUIRED)
            return
        ack()

    def on_confirm(body, view, client):
        reason = confirmed_reason(view)
        if not reason:
            return  # refused in the ack; the modal is still open
        context = json.loads(view["private_metadata"])
        answer_submitted(body, client, context, [*without_reason(tokenize(context["text"])), "--reason", reason])

    def answer_submitted(body, client, context: dict, tokens: list[str]) -> None:
        """Run a modal's command as its submitter; answer where the modal was opened from."""
        how = front.invocation(body["user"], context.get("channel"))
        reply, error = front.run(tokens, how)
        if context.get("response_url"):
            webhook = WebhookClient(context["response_url"])
            answer(lambda **kw: webhook.send(**kw), reply, error, how, client=client)
        elif context.get("home"):
            home = responding.HomeTabAnswer(client, body["user"]["id"], functools.partial(home_view, front))
            answer(home, reply, error, how, client=client)
            home.publish()

    listen(app.view("confirm_command"), on_confirm, ack=ack_confirm)

    def alert_button(verb: str):
        """Acknowledge / Resolve on a critical alert: the `ack N` / `resolve N` command, as the clicker."""

        def on_alert_click(body, action, respond):
            number = action["value"].lstrip("#")
            how = front.invocation(body["user"], body.get("channel"))
            # Alert numbers are unique across plans: the command finds the alert's plan (it may be shown in a DM).
            reply, error = front.run([verb, number], how)
            if reply is None:
                answer(respond, reply, error, how)
                return
            user = body["user"].get("id")
            blocks = handled_alert_blocks(body.get("message") or {}, number, verb, user, utcnow())
            done = "Acknowledged" if verb == "ack" else "Resolved"
            respond(text=f"Alert #{number}: {done.lower()} by <@{escape(user)}>", blocks=blocks, replace_original=True)

        return on_alert_click

    listen(app.action(action("alert_ack")), alert_button("ack"))
    listen(app.action(action("alert_resolve")), alert_button("resolve"))

    def move_button(verb: str):
        """Undo / Apply on a load-balancing announcement: `moves undo|apply M1`, as the clicker (a lead)."""

        def on_move_click(body, action, respond, client):
            plan_key, move_key = action["value"].split("|", 1)
            run_and_answer(body, respond, client, ["moves", verb, move_key, "--plan", plan_key])

        return on_move_click

    def on_blocker_resolved(body, action, respond, client):
        """Resolved on a blocker's reminder: `blockers close B1`, as the clicker (its owner, or a lead)."""
        plan_key, blocker_key = action["value"].split("|", 1)
        # Closed: the reminder is replaced by what was done (no button left); a refusal goes to the clicker alone.
        run_and_answer(body, respond, client, ["blockers", "close", blocker_key, "--plan", plan_key], replace=True)

    def verdict_button(verdict: str):
        """Met / Not met under a retrospective's criterion no metric judges: `retro criterion STREAM met`, as
        the clicker (a lead); the retrospective is drawn again in place with the verdict and who gave it."""

        def on_verdict_click(body, action, respond, client):
            plan_key, stream = action["value"].split("|", 1)
            tokens = ["retro", "criterion", stream, verdict, "--plan", plan_key]
            reply, error, how = run_and_answer(body, respond, client, tokens)
            if reply is not None and error is None:
                front.honour(client, reply, how, now=utcnow())

        return on_verdict_click

    listen(app.action(action("retro_met")), verdict_button("met"))
    listen(app.action(action("retro_not_met")), verdict_button("not-met"))
    listen(app.action(action("blocker_close")), on_blocker_resolved)
    listen(app.action(action("move_undo")), move_button("undo"))
    listen(app.action(action("move_apply")), move_button("apply"))
