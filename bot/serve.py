"""`orchestrate serve`: run the bot in the mode the configuration calls for.

- Socket Mode when SLACK_APP_TOKEN is set (no public URL needed);
- HTTP mode when SLACK_SIGNING_SECRET is set, or with --http: uvicorn serving
  /slack/events, /healthz, /metrics and the API (/api/v1);
- else the console, a terminal session through the same Bolt app.

With ORCHESTRATE_API_TOKEN set, the API for machines (/api/v1, see bot/api.py)
is served in every mode: Socket Mode and the console have no web server of
their own, so one runs beside them (/healthz, /metrics and the API) on
--host/--port.
"""

import argparse
import gc
import logging
import socket
import sys
import threading
import time

from bot import scheduler
from bot.settings import Settings, settings
from bot.web_limits import uvicorn_options
from models.db.store import ensure_schema, make_engine

log = logging.getLogger(__name__)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="orchestrate serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--http", action="store_true", help="HTTP mode even without SLACK_APP_TOKEN")
    parser.add_argument(
        "--host",
        help="the web server's address: 0.0.0.0 in HTTP mode (Slack must reach it); 127.0.0.1 for the API "
        "beside Socket Mode or the console, where nothing outside needs to",
    )
    parser.add_argument(
        "--port", type=int, help="the web server's port (HTTP mode, or the API in any mode): $PORT, else 3000"
    )
    args = parser.parse_args(argv)
    config = settings()
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("alembic", "apscheduler", "slack_bolt"):  # Bolt would log refused requests' bodies
        logging.getLogger(chatty).setLevel(logging.WARNING)
    engine = make_engine(config.database_url)
    ensure_schema(engine)
    api_token = _api_token(config)
    port = config.port if args.port is None else args.port  # 0: any free port
    web_options = {
        "metrics_token": _secret(config.orchestrate_metrics_token),
        "open_endpoints": config.orchestrate_open_endpoints,
    }

    if config.slack_app_token and not args.http:
        host = args.host or "127.0.0.1"
        return _with_api(engine, api_token, host, port, web_options, lambda: _socket_mode(engine, config))
    if config.slack_signing_secret or args.http:
        return _http_mode(engine, config, api_token, args.host or "0.0.0.0", port, web_options)
    host = args.host or "127.0.0.1"
    return _with_api(engine, api_token, host, port, web_options, lambda: _console_mode(engine))


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    A long-running server otherwise rescans ~140k import-time objects at each full
    collection: 40-70 ms pauses, the tail of `status` latency (bench/HISTORY.md).
    """
    gc.collect()
    gc.freeze()


def _secret(value) -> str | None:
    return (value.get_secret_value().strip() or None) if value is not None else None


def _api_token(config: Settings) -> str | None:
    token = config.orchestrate_api_token.get_secret_value().strip() if config.orchestrate_api_token else ""
    if token and len(token) < 16:
        log.warning(
            "ORCHESTRATE_API_TOKEN is short (%d characters): use a long random one, "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            len(token),
        )
    return token or None


def _tokens(config: Settings, needed: str) -> str | None:
    if config.slack_bot_token is None:
        print(f"orchestrate serve: {needed} also needs SLACK_BOT_TOKEN (xoxb-…): see the README", file=sys.stderr)
        return None
    return config.slack_bot_token.get_secret_value()


def _console_mode(engine) -> int:
    from bot.console import Console

    console = Console(engine, sys.stdin, sys.stdout)
    scheduler.start(engine, console.app.client)  # what it posts is printed like the rest
    try:
        return console.run()
    finally:
        scheduler.stop()


def _socket_mode(engine, config: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    token = _tokens(config, "Socket Mode")
    if token is None:
        return 1
    app = _slack_app(engine, config, token)
    if app is None:
        return 1
    log.info("Socket Mode: connecting through %s", config.slack_api_url)
    scheduler.start(engine, app.client, front_jobs=_front_jobs(engine, app.client))
    settle_heap()
    try:
        assert config.slack_app_token is not None  # serve chose Socket Mode because it is set
        SocketModeHandler(app, app_token=config.slack_app_token.get_secret_value()).start()
    finally:
        scheduler.stop()
    return 0


def _http_mode(engine, config: Settings, api_token: str | None, host: str, port: int, web_options: dict) -> int:
    import uvicorn

    from bot.http import build_web

    token = _tokens(config, "HTTP mode")
    if token is None:
        return 1
    if config.slack_signing_secret is None:
        print("orchestrate serve: HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests", file=sys.stderr)
        return 1
    listening = listen(host, port)
    if listening is None:
        return 1
    app = _slack_app(engine, config, token)
    if app is None:
        return 1
    scheduler.start(engine, app.client, front_jobs=_front_jobs(engine, app.client))
    settle_heap()
    try:
        secret = config.slack_signing_secret.get_secret_value()
        web = build_web(app, engine, api_token, signing_secret=secret, **web_options)
        server = uvicorn.Server(uvicorn.Config(web, log_level="info", access_log=False, **uvicorn_options()))
        server.run(sockets=[listening])
    finally:
        scheduler.stop()
    return 0


def _front_jobs(engine, client) -> list:
    """The Slack front's follow-ups the scheduler runs: completing the slash commands a replica acked and died
    before answering (bot/slash.py), and the thread replies kept until their prompt's ts was recorded."""
    from bot.respond import SlackFront
    from bot.slash import complete_unfinished
    from bot.sync_listeners import attach_early_replies

    front = SlackFront(engine=engine)

    def unfinished_commands(now, by):
        return complete_unfinished(front, client, now=now, by=by)

    def early_replies(now, by):
        return attach_early_replies(front, client)

    return [unfinished_commands, early_replies]


def _slack_app(engine, config: Settings, token: str):
    """The Bolt app, or None with a message saying why Slack would not have it (its token is checked now)."""
    from slack_bolt.error import BoltError

    from bot.app import build_app

    try:
        return build_app(engine, token=token, api_url=config.slack_api_url)
    except (OSError, BoltError) as exc:  # URLError is an OSError: Slack could not be reached
        reason = getattr(exc, "reason", None) or exc
        print(
            f"orchestrate serve: could not check the bot token with Slack at {config.slack_api_url} ({reason}); "
            "check SLACK_BOT_TOKEN, and that this machine reaches Slack (SLACK_API_URL)",
            file=sys.stderr,
        )
        return None


def listen(host: str, port: int) -> socket.socket | None:
    """The web server's socket, bound before anything starts; with port 0 the system picks a free one.

    The address really bound is logged, so whoever started us (a test, a supervisor) can read it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host, port), family=family)
    except OSError as exc:
        print(
            f"orchestrate serve: cannot listen on {host}:{port} ({exc.strerror}); "
            "free the port, or choose another with --port or PORT (0 picks a free one)",
            file=sys.stderr,
        )
        return None
    log.info("Listening on http://%s:%d", host, listening.getsockname()[1])
    return listening


def _with_api(engine, api_token: str | None, host: str, port: int, web_options: dict, run_mode) -> int:
    """Run a mode without a web server of its own; with the API on, serve it beside the mode."""
    if api_token is None:
        return run_mode()
    from bot.http import build_web

    listening = listen(host, port)
    if listening is None:
        return 1
    web = _WebThread(build_web(None, engine, api_token, signing_secret=None, **web_options), listening)
    if not web.start():
        print("orchestrate serve: the API's web server did not start (see above)", file=sys.stderr)
        return 1
    port = listening.getsockname()[1]
    log.info("API on http://%s:%s/api/v1 (OpenAPI: /api/v1/openapi.json)", host, port)
    try:
        return run_mode()
    finally:
        web.stop()


class _WebThread:
    """The web app on uvicorn in a daemon thread (signals stay with the main thread's mode)."""

    def __init__(self, app, listening: socket.socket):
        import uvicorn

        config = uvicorn.Config(app, log_level="warning", access_log=False, **uvicorn_options())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listening]}, name="orchestrate-web", daemon=True
        )

    def start(self, timeout: float = 15.0) -> bool:
        """Whether it is listening; False when it could not start (uvicorn logged why)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
