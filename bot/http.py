"""The web server: Slack's requests at /slack/events, /healthz, /metrics, the API and /mcp, on uvicorn.

HTTP mode serves all of it. Socket Mode and the console serve the same app
without /slack/events (``bolt=None``) when the API is on (ORCHESTRATE_API_TOKEN).

Bolt's App is synchronous; it runs in the server's thread pool so one slow
request never holds up the event loop (and with it every other ack). So do
the API's endpoints (plain ``def``: FastAPI runs them in the pool).
"""

import logging
import threading
import time
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from bot import api, mcp_server
from bot.body_limit import BodyLimit, KiB
from bot.metrics import LATENCY, REQUESTS
from bot.respond import REQUEST_ID, holding_work, start_held
from bot.throttle import FailedTokens
from bot.web_limits import BODY_TIMEOUT_S
from models.db.store import ping
from models.state.requests import signed_request_id

log = logging.getLogger(__name__)

ROUTES = ("/slack/events", "/healthz", "/metrics", mcp_server.PATH)
MAX_SLACK_BODY = 1024 * KiB  # Slack's payloads are far smaller
MAX_OTHER_BODY = 64 * KiB  # /healthz and /metrics take none
METRICS_CLOSED = (
    "/metrics needs a token: set ORCHESTRATE_METRICS_TOKEN (or ORCHESTRATE_API_TOKEN) and send it as "
    "`Authorization: Bearer <token>`, or set ORCHESTRATE_OPEN_ENDPOINTS=true to serve it to anyone"
)


def _route_label(path: str) -> str:
    """Bounded labels: the API's ids would make one series per task."""
    if path in ROUTES:
        return path
    return api.PREFIX if path.startswith(api.PREFIX + "/") else "other"


def _refusal(status: int, error: str) -> Response:
    return JSONResponse({"ok": False, "error": error}, status_code=status)


def _signed(verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's signature, and a timestamp within five minutes; anything malformed is simply not."""
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError):
        return False


def _is_ssl_check(request: Request, body: bytes) -> bool:
    """Slack's `ssl_check=1&token=…` (sent unsigned to a slash command's URL), answered 200 with nothing,
    read from nothing else, as bolt-python's SslCheck middleware does before verifying."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return False
    return parse_qs(body[:200].decode("ascii", "replace")).get("ssl_check") == ["1"] and len(body) < 200


class RecentSignatures:
    """Signatures seen in the last five minutes (Slack's window), in this process.

    Kept in memory so the check costs nothing before the ack: the fast path. A replay
    sent to another replica is caught by the store instead (models/state/requests.py).
    """

    WINDOW_S = 300.0

    def __init__(self):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:  # forget what is past the window
                self._seen = {s: t for s, t in self._seen.items() if now - t < self.WINDOW_S}
            seen = self._seen.get(signature)
            if seen is not None and now - seen < self.WINDOW_S:
                return False
            self._seen[signature] = now
            return True


def _dispatch_holding_work(bolt: App, request: BoltRequest) -> tuple[BoltResponse, list]:
    with holding_work() as held:
        return bolt.dispatch(request), held


def build_web(
    bolt: App | None,
    engine: Engine,
    api_token: str | None = None,
    *,
    signing_secret: str | None,
    metrics_token: str | None = None,
    open_endpoints: bool = False,
) -> FastAPI:
    """The web server. Slack's requests are verified here, once, with ``signing_secret``; None only for an
    app that verifies for itself (the bench's bare Bolt app).

    /metrics takes ``metrics_token`` or ``api_token`` as its bearer token, and the API's OpenAPI document and
    docs page take ``api_token``; ``open_endpoints`` serves them to anyone (ORCHESTRATE_OPEN_ENDPOINTS)."""
    open_docs = bool(api_token) and open_endpoints
    throttle = FailedTokens()
    mcp_route, mcp_lifespan = mcp_server.http_route(engine, api_token, throttle)
    web = FastAPI(
        lifespan=mcp_lifespan,
        title="orchestrate",
        version="1",
        description=api.__doc__,
        openapi_url=api.OPENAPI_URL if open_docs else None,
        docs_url=api.DOCS_URL if open_docs else None,
        redoc_url=None,
    )

    @web.middleware("http")
    async def measure(request: Request, call_next):
        route = _route_label(request.url.path)
        started = time.perf_counter()
        response = await call_next(request)
        LATENCY.labels(route).observe(time.perf_counter() - started)
        REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    if bolt is not None:
        verifier = SignatureVerifier(signing_secret) if signing_secret else None
        recent = RecentSignatures()

        @web.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            # Nothing is parsed, logged or stored before the request is known to be Slack's;
            # the body is at most MAX_SLACK_BODY, already read by BodyLimit.
            body = await request.body()
            if _is_ssl_check(request, body):
                return Response(status_code=200)  # Slack's certificate check, unsigned: Slack's SDKs answer it first
            request_id = None
            if verifier is not None:
                signature = request.headers.get("x-slack-signature", "")
                timestamp = request.headers.get("x-slack-request-timestamp", "")
                if not _signed(verifier, body, timestamp, signature):
                    return _refusal(401, "invalid or missing Slack signature")
                if not recent.first_time(signature):
                    return Response(status_code=200)  # a replay of a request this process handled
                # Replays to other replicas are caught in the store, by the command's own transaction.
                request_id = signed_request_id(timestamp, signature)
            try:
                bolt_request = to_bolt_request(request, body)
            except ValueError:
                return _refusal(400, "the request body is not what Slack sends")
            bolt_request.context[REQUEST_ID] = request_id
            bolt_response, held = await run_in_threadpool(_dispatch_holding_work, bolt, bolt_request)
            response = to_starlette_response(bolt_response)
            # The listeners' work starts once the ack is on the wire, not while it is written.
            response.background = BackgroundTask(start_held, held)
            return response

    @web.get(
        "/healthz",
        tags=["health"],
        summary="Up, and the store answers",
        responses={503: {"description": "the store does not answer"}},
    )
    async def healthz() -> Response:
        try:
            await run_in_threadpool(ping, engine)
        except SQLAlchemyError as exc:
            # Expected while the database restarts: one line, not a traceback per probe of the load balancer.
            cause = getattr(exc, "orig", None) or exc
            log.warning("health check: the store does not answer (%s)", type(cause).__name__)
            return _refusal(503, "the store does not answer")
        return JSONResponse({"ok": True})

    scrapers = [token for token in (metrics_token, api_token) if token]

    @web.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not open_endpoints:
            if not scrapers:
                return _refusal(401, METRICS_CLOSED)
            refusal = api.refused_token(request, scrapers, throttle, "ORCHESTRATE_METRICS_TOKEN")
            if refusal is not None:
                return refusal
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if api_token and not open_endpoints:  # the API's own description, for its clients only

        @web.get(api.OPENAPI_URL, include_in_schema=False)
        async def openapi(request: Request) -> Response:
            refusal = api.refused_token(request, [api_token], throttle, "ORCHESTRATE_API_TOKEN")
            return refusal or JSONResponse(web.openapi())

        @web.get(api.DOCS_URL, include_in_schema=False)
        async def docs(request: Request) -> Response:
            refusal = api.refused_token(request, [api_token], throttle, "ORCHESTRATE_API_TOKEN")
            return refusal or get_swagger_ui_html(openapi_url=api.OPENAPI_URL, title="orchestrate API")

    web.include_router(api.build_api(engine, api_token, throttle))
    web.router.routes.append(mcp_route)  # AI agents' MCP server (bot/mcp_server.py), with their own tokens
    # Added last, so outermost: the body is bounded before anything else (`measure` included) runs.
    web.add_middleware(
        BodyLimit,
        limits={"/slack/events": MAX_SLACK_BODY, api.PREFIX: api.MAX_BODY},
        default=MAX_OTHER_BODY,
        timeout_s=BODY_TIMEOUT_S,
    )
    return web
