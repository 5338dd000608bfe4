"""The web server: Slack's requests at /slack/events, /healthz, /metrics and the API, on uvicorn.

HTTP mode serves all of it. Socket Mode and the console serve the same app
without /slack/events (``bolt=None``) when the API is on (ORCHESTRATE_API_TOKEN).

Bolt's App is synchronous; it runs in the server's thread pool so one slow
request never holds up the event loop (and with it every other ack). So do
the API's endpoints (plain ``def``: FastAPI runs them in the pool).
"""

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from bot import api
from bot.metrics import LATENCY, REQUESTS

ROUTES = ("/slack/events", "/healthz", "/metrics")


def _route_label(path: str) -> str:
    """Bounded labels: the API's ids would make one series per task."""
    if path in ROUTES:
        return path
    return api.PREFIX if path.startswith(api.PREFIX + "/") else "other"


def build_web(bolt: App | None, engine: Engine, api_token: str | None = None) -> FastAPI:
    web = FastAPI(title="orchestrate", version="1", description=api.__doc__,
                  openapi_url=api.OPENAPI_URL if api_token else None,
                  docs_url=api.DOCS_URL if api_token else None, redoc_url=None)

    @web.middleware("http")
    async def measure(request: Request, call_next):
        route = _route_label(request.url.path)
        started = time.perf_counter()
        response = await call_next(request)
        LATENCY.labels(route).observe(time.perf_counter() - started)
        REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    if bolt is not None:
        @web.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            bolt_request = to_bolt_request(request, body)
            return to_starlette_response(await run_in_threadpool(bolt.dispatch, bolt_request))

    @web.get("/healthz", tags=["health"], summary="Up, and the store answers")
    async def healthz() -> dict:
        def check():
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        await run_in_threadpool(check)
        return {"ok": True}

    @web.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    web.include_router(api.build_api(engine, api_token))
    return web
