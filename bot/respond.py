"""Running a command for a Slack user, and answering in Slack.

Read-only answers go to the asker only (ephemeral); changes of state are
announced in the channel with who did it; errors go to the asker only.
"""

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from slack_bolt.kwargs_injection.args import Args
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot import blocks, report_post, scheduler, story_posts, sync_post
from bot.blocks import section_dict
from commands.core.context import Actor
from commands.core.dispatch import InternalError, Invocation, execute
from commands.core.errors import AlreadyHandled, CommandError, PermissionDenied, Unaddressed, UsageError
from models.views.reply import Document, Reply
from models.views.report import Report
from models.views.sync import SyncPrompt

log = logging.getLogger(__name__)


# --- listeners: ack in the request, work after ---------------------------------------
#
# The App runs with process_before_response=True, so a listener's ack function runs in
# the thread that answers Slack's HTTP request (or Socket Mode envelope). Slack wants the
# ack within 3 seconds, so an ack function only reads the payload: no database, no Slack
# call, nothing slow. The work goes to the App's listener executor, and while an HTTP
# request is being answered it is held until the response has been sent (bot.http): started
# earlier, it competed for the GIL with the ack it follows. Bolt's own lazy listeners start
# at once and deep-copy the request first, which is why they are not used.

_held_work: ContextVar[list | None] = ContextVar("held_work", default=None)

# The signed request's id (bot.http puts it in the Bolt context under this key), for the work
# it set off: the commands it runs are recorded under it (models.state.requests).
REQUEST_ID = "orchestrate_request_id"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def _as_request(request_id: str | None, run: Callable[..., None], **kwargs) -> None:
    token = _request_id.set(request_id)
    try:
        run(**kwargs)
    finally:
        _request_id.reset(token)


def ack_at_once(ack) -> None:
    """The ack of a listener whose work all comes after."""
    ack()


@contextmanager
def holding_work() -> Iterator[list[Callable[[], object]]]:
    """Within: listeners' work is kept in the yielded list (each item starts it) instead of starting."""
    held: list[Callable[[], object]] = []
    token = _held_work.set(held)
    try:
        yield held
    finally:
        _held_work.reset(token)


def start_held(held: list[Callable[[], object]]) -> None:
    for start in held:
        start()


def logged(work):
    """``work`` with its failures logged, traceback included, and said to the person when it was their payload."""

    @functools.wraps(work)
    def run_logged(**kwargs):
        try:
            work(**kwargs)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # A payload of an unexpected shape (an old message's button, a hand-made request):
            # say so to the person, rather than nothing.
            log.warning("Slack listener %s refused a payload: %s", getattr(work, "__qualname__", work), exc)
            if kwargs.get("respond") is not None:
                kwargs["respond"](
                    text=":warning: this button or form is out of date; use `/orchestrate` instead",
                    response_type="ephemeral",
                    replace_original=False,
                )
        except Exception:
            log.exception("Slack listener %s failed", getattr(work, "__qualname__", work))

    return run_logged


def _injected(function) -> Callable[[Args], dict]:
    """What Bolt would inject into ``function``: the arguments it names, taken from a listener's Args."""
    names = tuple(inspect.signature(function).parameters)
    return lambda args: {name: getattr(args, name) for name in names}


def clicked_in_home_tab(body: dict) -> bool:
    """A button of the App Home tab: ``container.type`` "view" of a view of type "home", and no response_url."""
    container = body.get("container") or {}
    return (
        body.get("type") == "block_actions"
        and container.get("type") == "view"
        and (body.get("view") or {}).get("type") == "home"
    )


class HomeTabAnswer:
    """``respond`` for a click in the App Home tab, which has no response_url (Bolt's own respond raises).

    What the bot would have said there is kept (its blocks: a confirmation, a refusal, the next page
    of a list), and once the work is done the Home view is published again, with the new state and
    those blocks at its top."""

    NOTICE_BLOCKS = 40  # of the Home view's 100: the rest is for the dashboards

    def __init__(self, client: WebClient, user_id: str, draw: Callable[..., dict]):
        self.client, self.user_id, self.draw = client, user_id, draw
        self.notices: list[dict] = []
        self.shown: dict = {}  # what the view shows beyond the first pages (a "Show more" in the tab pages in place)
        self.redraw = False

    def __call__(self, text: str = "", blocks: list | None = None, replace_original: bool = False, **_ignored) -> None:
        if replace_original:  # a replaced dashboard is the republished Home itself
            self.redraw = True
            return
        shown = [b if isinstance(b, dict) else b.to_dict() for b in blocks or []]
        if not shown and text:
            shown = [section_dict(text)]
        room = self.NOTICE_BLOCKS - len(self.notices)
        self.notices += shown[:room]

    def publish(self) -> None:
        if not (self.notices or self.shown or self.redraw):
            return  # nothing was said or asked for (a modal opened): the view stays as it is
        top = [*self.notices, {"type": "divider"}] if self.notices else []
        self.client.views_publish(user_id=self.user_id, view=self.draw(self.user_id, top, **self.shown))


def _then_publish(run, home: HomeTabAnswer):
    def run_and_publish(**kwargs):
        try:
            run(**kwargs)
        finally:
            logged(lambda: home.publish())()

    return run_and_publish


# Work that opens a modal has Slack's 3 s (the trigger_id's life) and must never wait behind work
# that may be sleeping out a 429 on the listener executor: it has a pool of its own.
MODAL_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modal")


def listen(
    registration,
    work,
    ack=ack_at_once,
    *,
    home: Callable[..., dict] | None = None,
    opens_a_modal: bool | Callable[[dict], bool] = False,
) -> None:
    """Register ``ack`` (answers Slack at once) and ``work`` (after the ack, unless ``ack`` returned False).

        listen(app.action("dashboard_refresh"), on_refresh)

    Both name the arguments they want, as Bolt listeners do. With ``home`` (draws a user's Home
    view with notices), a click in the Home tab gets a ``respond`` that answers there (HomeTabAnswer).
    ``opens_a_modal`` (or a test of the request's body, cheap: it runs before the ack): the work runs
    on MODAL_WORKERS.
    """
    ack_args, work_args, run_work = _injected(ack), _injected(work), logged(work)

    def listener(args: Args) -> None:
        if ack(**ack_args(args)) is False:
            return  # the ack function answered, and no work is to follow
        urgent = opens_a_modal(args.body) if callable(opens_a_modal) else opens_a_modal
        executor = MODAL_WORKERS if urgent else args.context.listener_runner.listener_executor
        kwargs = work_args(args)
        run = run_work
        if home is not None and "respond" in kwargs and clicked_in_home_tab(args.body):
            kwargs["respond"] = surface = HomeTabAnswer(args.client, args.body["user"]["id"], home)
            run = _then_publish(run_work, surface)
        work_now = functools.partial(_as_request, args.context.get(REQUEST_ID), run, **kwargs)
        held = _held_work.get()
        if held is None:
            executor.submit(work_now)
        else:
            held.append(functools.partial(executor.submit, work_now))

    registration(listener)


@dataclass(frozen=True)
class SlackFront:
    engine: Engine
    operators: frozenset[str] = frozenset()

    def invocation(self, user: dict, channel: dict | None, request_id: str | None = None) -> Invocation:
        user_id = user.get("id") or user.get("user_id")
        name = user.get("username") or user.get("name") or user.get("user_name") or user_id
        actor = Actor(
            id=f"slack:{user_id}",
            name=name or "",
            source="slack",
            slack_user=user_id,
            operator=user_id in self.operators,
        )
        channel = channel or {}
        channel_id = channel.get("id")
        names = tuple(n for n in (channel_id, f"#{channel['name']}" if channel.get("name") else None) if n)
        return Invocation(
            actor=actor,
            front="slack",
            channel=channel_id,
            channel_names=names,
            reads_files=False,
            request_id=request_id or _request_id.get(),
        )

    def run(
        self,
        tokens: list[str],
        how: Invocation,
        reraise: tuple[type[Exception], ...] = (),
        *,
        audited: bool = True,
        rehearsal: bool = False,
        now: datetime | None = None,
    ) -> tuple[Reply | None, str | None]:
        """(reply, None) when it ran; (None, the message for the user) when it did not;
        (None, None) when there is nothing to say (not meant for the bot, or a retry already handled).

        Refusals of the ``reraise`` kinds are raised instead, for callers that act on them.
        ``audited=False``: a read-only command run for the front end itself (a view, a form).
        ``rehearsal=True``: run and roll back, to refuse before a confirmation modal opens.
        ``now``: the instant it runs at (default: the clock's).
        """
        try:
            return execute(self.engine, tokens, how, now=now, audited=audited, rehearsal=rehearsal), None
        except reraise:
            raise
        except (Unaddressed, AlreadyHandled):
            return None, None
        except UsageError as exc:
            usage = f"\n```{blocks.escape(exc.usage)}```" if exc.usage else ""
            return None, f":warning: {blocks.escape(exc.message)}{usage}"
        except PermissionDenied as exc:
            text = blocks.escape(exc.message)
            for lead in exc.leads:  # the leads as mentions, so the asker sees whom to ask
                text = text.replace(blocks.escape(lead), f"<@{blocks.escape(lead)}>")
            return None, f":no_entry: {text}"
        except CommandError as exc:
            return None, f":no_entry: {blocks.escape(exc.message)}"
        except InternalError as exc:
            return None, f":boom: {blocks.escape(str(exc))}"

    def honour(self, client: WebClient, reply: Reply, how: Invocation, *, now: datetime) -> None:
        """What the reply asks of the front beyond showing it: a prompt to post as the bot's own message
        (recorded, so answers can redraw it), a posted prompt or retrospective to redraw."""
        if reply.prompt_to_post is not None and how.channel and isinstance(reply.body, SyncPrompt):
            label = f"the {reply.body.sync_type} sync of {reply.body.plan}"
            # Through the scheduler's path (no sleep through a 429, tried again if it fails), else at once.
            if not scheduler.post_on_demand(reply.prompt_to_post, how.channel, label):
                sync_post.post_prompt(client, self.engine, reply.body, how.channel, now=now)
        if reply.prompt_to_redraw is not None:
            sync_post.refresh_prompt_soon(client, self.engine, reply.prompt_to_redraw)
        if reply.story_to_redraw is not None:
            story_posts.redraw_retrospectives(client, self.engine, now, plan_key=reply.story_to_redraw)
        if isinstance(reply.body, Report) and how.actor.slack_user:
            report_post.send_report(client, reply.body, how.actor.slack_user)
        if isinstance(reply.body, Document) and how.actor.slack_user:
            report_post.send_document(client, reply.body, how.actor.slack_user)


def typed_in_plan_channel(reply: Reply, how: Invocation) -> bool:
    return reply.announce_in is None or reply.announce_in in how.channel_names


def announce_in_plan_channel(client: WebClient | None, reply: Reply, how: Invocation) -> None:
    """A change typed (or clicked) elsewhere than the plan's channel: posted there too, naming who did it."""
    if client is None or reply.announce_in is None or typed_in_plan_channel(reply, how):
        return
    rendered = blocks.render(reply, actor_user=how.actor.slack_user)
    try:
        client.chat_postMessage(channel=reply.announce_in, text=blocks.fallback_text(reply), blocks=rendered)
    except SlackApiError as exc:
        log.warning("could not announce in %s: %s", reply.announce_in, exc.response.get("error"))


def answer(
    respond,
    reply: Reply | None,
    error: str | None,
    how: Invocation,
    *,
    offset: int = 0,
    replace: bool = False,
    client: WebClient | None = None,
) -> None:
    """Show a reply the way its kind asks: announced, private, or an error to the asker (nothing for (None, None)).

    An announcement goes to the plan's channel (with ``client``) when it was not typed there, and
    to where it was typed as well."""
    if error is not None:
        respond(text=error, response_type="ephemeral", replace_original=False)
        return
    if reply is None:
        return
    if reply.prompt_to_post is not None:
        # Posted as the bot's own message (SlackFront.honour): the asker hears that it went out.
        respond(text=blocks.posted_note(reply), response_type="ephemeral", replace_original=False)
        return
    if reply.announce:
        announce_in_plan_channel(client, reply, how)
    rendered = blocks.render(reply, offset=offset, actor_user=how.actor.slack_user)
    kind = "in_channel" if reply.announce else "ephemeral"
    respond(text=blocks.fallback_text(reply), blocks=rendered, response_type=kind, replace_original=replace)
