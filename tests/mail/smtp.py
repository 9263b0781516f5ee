"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""
import asyncio
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """The server's handler: every accepted message, parsed; ``refuse`` lists recipients
    answered with a permanent 550; ``delay`` holds each DATA (to overlap deliveries)."""

    def __init__(self):
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.delay = 0.0
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, _, message in self.received]


class LocalController(Controller):
    """aiosmtpd 1.4 checks readiness on ``self.port``: learn the port the OS chose first."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_server(inbox: Inbox, port: int = 0, **kwargs) -> LocalController:
    controller = LocalController(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


def free_port() -> int:
    """A port with nothing listening on it (a mail server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(app, monkeypatch):
    """A running SMTP server the app is configured to use; yields its ``Inbox``."""
    inbox = Inbox()
    controller = start_server(inbox)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    yield inbox
    controller.stop()


@pytest.fixture
def no_mail_server(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)


def pdf_attachments(message: EmailMessage) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf"]
