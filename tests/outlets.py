"""Real local servers for alert destinations: an SMTP server (aiosmtpd) and an SMS gateway (HTTP)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


class _AnyPortController(Controller):
    """aiosmtpd's Controller on port 0: the port the system gave is read back before its first connection."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps every message it is sent."""

    def __init__(self):
        self.messages: list[dict] = []
        self.controller = _AnyPortController(self, hostname="127.0.0.1", port=0)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode(errors="replace")})
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        if self.controller is not None:
            self.controller.stop()

    def down(self) -> None:
        """Stop answering: connections to its port are refused until ``up``."""
        self.port = self.controller.port
        self.controller.stop()
        self.controller = None

    def up(self) -> None:
        """Answer again, on the same port."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()


class SmsGateway:
    """An HTTP endpoint taking {"to", "text"} POSTs; ``fail_next`` answers 500 a number of times."""

    def __init__(self):
        self.received: list[dict] = []
        self.fail_next = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if gateway.fail_next > 0:
                    gateway.fail_next -= 1
                    self.send_response(500)
                else:
                    gateway.received.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# Fixtures (registered for the whole suite in conftest.py): a real SMTP server and SMS gateway per test.


@pytest.fixture
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture
def sms():
    with SmsGateway() as gateway:
        yield gateway
