"""`orchestrate serve`: run the bot in the mode the configuration calls for.

- Socket Mode when SLACK_APP_TOKEN is set (no public URL needed);
- HTTP mode when SLACK_SIGNING_SECRET is set, or with --http: uvicorn serving
  /slack/events, /healthz and /metrics;
- else the console, a terminal session through the same Bolt app.
"""

import argparse
import logging
import sys

from bot import scheduler
from bot.settings import Settings, settings
from models.store import ensure_schema, make_engine

log = logging.getLogger(__name__)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="orchestrate serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", action="store_true", help="HTTP mode even without SLACK_APP_TOKEN")
    parser.add_argument("--host", default="0.0.0.0", help="HTTP mode: the address to listen on (0.0.0.0)")
    parser.add_argument("--port", type=int, help="HTTP mode: the port (default: $PORT, else 3000)")
    args = parser.parse_args(argv)
    config = settings()
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    engine = make_engine(config.database_url)
    ensure_schema(engine)

    if config.slack_app_token and not args.http:
        return _socket_mode(engine, config)
    if config.slack_signing_secret or args.http:
        return _http_mode(engine, config, args.host, args.port or config.port)
    from bot.console import Console

    console = Console(engine, sys.stdin, sys.stdout)
    scheduler.start(engine, console.app.client)  # what it posts is printed like the rest
    try:
        return console.run()
    finally:
        scheduler.stop()


def _tokens(config: Settings, needed: str) -> str | None:
    if config.slack_bot_token is None:
        print(f"orchestrate serve: {needed} also needs SLACK_BOT_TOKEN (xoxb-…): see the README", file=sys.stderr)
        return None
    return config.slack_bot_token.get_secret_value()


def _socket_mode(engine, config: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_app

    token = _tokens(config, "Socket Mode")
    if token is None:
        return 1
    app = build_app(engine, token=token, signing_secret=None, api_url=config.slack_api_url)
    log.info("Socket Mode: connecting through %s", config.slack_api_url)
    scheduler.start(engine, app.client)
    try:
        SocketModeHandler(app, app_token=config.slack_app_token.get_secret_value()).start()
    finally:
        scheduler.stop()
    return 0


def _http_mode(engine, config: Settings, host: str, port: int) -> int:
    import uvicorn

    from bot.app import build_app
    from bot.http import build_web

    token = _tokens(config, "HTTP mode")
    if token is None:
        return 1
    if config.slack_signing_secret is None:
        print("orchestrate serve: HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests",
              file=sys.stderr)
        return 1
    app = build_app(engine, token=token, signing_secret=config.slack_signing_secret.get_secret_value(),
                    api_url=config.slack_api_url)
    scheduler.start(engine, app.client)
    try:
        uvicorn.run(build_web(app, engine), host=host, port=port, log_level="info", access_log=False)
    finally:
        scheduler.stop()
    return 0
