"""HTTP mode: Slack's requests at /slack/events, /healthz and /metrics, on uvicorn.

Bolt's App is synchronous; it runs in the server's thread pool so one slow
request never holds up the event loop (and with it every other ack).
"""

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from bot.metrics import LATENCY, REQUESTS


def build_web(bolt: App, engine: Engine) -> FastAPI:
    web = FastAPI(title="orchestrate", version="1", docs_url=None, redoc_url=None)

    @web.middleware("http")
    async def measure(request: Request, call_next):
        route = request.url.path if request.url.path in ("/slack/events", "/healthz", "/metrics") else "other"
        started = time.perf_counter()
        response = await call_next(request)
        LATENCY.labels(route).observe(time.perf_counter() - started)
        REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    @web.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        return to_starlette_response(await run_in_threadpool(bolt.dispatch, bolt_request))

    @web.get("/healthz")
    async def healthz() -> dict:
        def check():
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        await run_in_threadpool(check)
        return {"ok": True}

    @web.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return web
