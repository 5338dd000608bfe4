"""The baseline for the HTTP benchmark: a bare Bolt app that only acks `/orchestrate`.

It runs on the very stack of `orchestrate serve --http`: `bot.http.build_web`
(FastAPI with the same metrics middleware, Bolt's sync App dispatched with
starlette's run_in_threadpool) on `uvicorn.run` with the same options, the
same logging set-up, and a Bolt App configured as orchestrate's
(`bot.app.build_app`): the same middleware chain (request signature check,
single-team authorization; auth.test is asked once, of SLACK_API_URL, and
cached) and process_before_response, so the ack is sent from the request's
thread. Only the listener differs: it calls ack() and returns. /healthz answers
from an in-memory SQLite engine (no store).

    python bench/bare_bolt.py --port 3001 [--host 127.0.0.1]

Needs SLACK_SIGNING_SECRET; SLACK_BOT_TOKEN and SLACK_API_URL are optional.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/bare_bolt.py` puts bench/, not the root, on the path

import uvicorn  # noqa: E402
from slack_bolt import App  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from bot.http import build_web  # noqa: E402
from bot.serve import listen  # noqa: E402


def build_bare(signing_secret: str, token: str, api_url: str) -> App:
    app = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # As bot.app.build_app: the ack runs in the request's own thread, not behind Bolt's
        # 10 ms poll for an ack from a listener on the worker pool.
        process_before_response=True,
    )

    @app.command("/orchestrate")
    def on_orchestrate(ack):
        ack()

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default): any free port, logged")
    args = parser.parse_args(argv)
    secret = os.environ.get("SLACK_SIGNING_SECRET")
    if not secret:
        print("bare_bolt: SLACK_SIGNING_SECRET is needed to verify requests", file=sys.stderr)
        return 1
    # The logging orchestrate's CLI and `serve` set up, so both servers log alike.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO)
    app = build_bare(
        secret,
        os.environ.get("SLACK_BOT_TOKEN", "xoxb-bench-token"),
        os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    )
    engine = create_engine("sqlite://")  # /healthz runs SELECT 1; the bare app has no store
    # The bare app checks Slack's signature itself; /metrics is read by the bench without a token.
    web = build_web(app, engine, signing_secret=None, open_endpoints=True)
    listening = listen(args.host, args.port)  # as `serve` binds: first, and says where
    if listening is None:
        return 1
    uvicorn.Server(uvicorn.Config(web, log_level="info", access_log=False)).run(sockets=[listening])
    return 0


if __name__ == "__main__":
    sys.exit(main())
