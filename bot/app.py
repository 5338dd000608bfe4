"""Builds the Bolt App: one per process (and a fresh one per test); nothing registers at import."""

import logging
import os

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from sqlalchemy import Engine

from bot import home, interactions, slash, sync_listeners
from bot.respond import SlackFront
from bot.workspace import Workspace

log = logging.getLogger(__name__)


# How long a Slack call may take; the sync claims' lease must outlast it (models/rules/sync.py).
SLACK_TIMEOUT_S = int(os.environ.get("ORCHESTRATE_SLACK_TIMEOUT_SECONDS", "30"))


class RetryUnlessPosted(ConnectionErrorRetryHandler):
    """The SDK's retry of a lost connection, except for calls that post: Slack may already have
    done what a lost answer hides, and a blind second try would post twice. Their callers look
    in the channel before posting again (bot/delivery.py, bot/sync_post.py)."""

    POSTING = ("chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "files.completeUploadExternal")

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in self.POSTING:
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


class RetryRateLimitsUnlessTriggered(RateLimitErrorRetryHandler):
    """The SDK's retry of a 429 after its Retry-After, except for views.open and views.push: their
    trigger_id lives 3 s, so a retry after a second or more fails anyway (expired_trigger_id) and
    holds a modal worker meanwhile. The caller tells the person at once instead."""

    TRIGGERED = ("views.open", "views.push")

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in self.TRIGGERED:
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


def web_client(token: str, api_url: str) -> WebClient:
    # Slack's 429s are retried by the SDK, honouring Retry-After, not by a loop of ours; except on the
    # delivery and sync-post paths, which must not sleep in-line: they use bot.delivery.never_waiting(client)
    # and put the post back for its Retry-After.
    return WebClient(
        token=token,
        base_url=api_url,
        timeout=SLACK_TIMEOUT_S,
        retry_handlers=[RetryUnlessPosted(), RetryRateLimitsUnlessTriggered(max_retry_count=3)],
    )


def build_app(
    engine: Engine,
    *,
    token: str,
    api_url: str,
    operators: frozenset[str] = frozenset(),
    verify_token: bool = True,
) -> App:
    """The Bolt App with every area registered.

    ``operators`` are Slack user ids trusted as the local operator (the console's
    user); everyone else is judged by the plan's roles.
    """
    app = App(
        client=web_client(token, api_url),
        # The signature is checked once, by the web front, before anything of the request is read
        # (bot/http.py); Socket Mode's requests come over the app's own authenticated connection,
        # and the console's from this process.
        request_verification_enabled=False,
        token_verification_enabled=verify_token,
        raise_error_for_unhandled_request=False,
        # Each listener's ack function runs in the request's own thread and answers Slack at
        # once; its work runs after, on the listener executor (bot.respond.listen). Without
        # this, acks waited for a free worker behind running dashboards.
        process_before_response=True,
    )
    if verify_token:  # the workspace the token belongs to; a console or a test without Slack has none to check
        identity = app.client.auth_test()
        app.middleware(
            Workspace({k: identity.get(k) for k in ("team_id", "enterprise_id", "is_enterprise_install")}).middleware
        )
    front = SlackFront(engine=engine, operators=operators)
    slash.register(app, front)
    interactions.register(app, front)
    home.register(app, front)
    sync_listeners.register(app, front)

    @app.error
    def on_error(error, body, logger):
        # Reaching here is a bug in an ack function (Slack gets a 500): log it. Failures of the
        # work after the ack are logged by bot.respond.logged.
        logger.exception("unhandled error in a listener: %s", error)

    return app
