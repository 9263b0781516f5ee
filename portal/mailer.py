"""SMTP transport: build a MIME message and hand it to the configured server.

The standard library (``email.message.EmailMessage`` + ``smtplib``) is enough: it needs no
request (the worker sends), no extra dependency, and it is what any SMTP relay speaks.
Nothing here touches the database; ``services.mail`` records what happened.
"""
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Mapping, Sequence

from .clock import utcnow


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


class PermanentFailure(Exception):
    """The server refused the message for good (e.g. 5xx on the recipient): do not retry."""


def sender(config: Mapping) -> str:
    """``MAIL_FROM`` as configured, else the seller's name and email."""
    return config.get("MAIL_FROM") or formataddr((config["SELLER_NAME"], config["SELLER_EMAIL"]))


def build(config: Mapping, to: str, subject: str, body: str,
          attachments: Sequence[Attachment] = (), message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(config)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    for item in attachments:
        maintype, subtype = item.mimetype.split("/", 1)
        message.add_attachment(item.content, maintype=maintype, subtype=subtype,
                               filename=item.filename)
    return message


def send(config: Mapping, message: EmailMessage) -> None:
    """Deliver over SMTP (STARTTLS when ``MAIL_USE_TLS``), with a timeout on the connection
    and on every read and write. Raises ``PermanentFailure`` when the server refuses every
    recipient for good; any other error (``OSError``, ``smtplib.SMTPException``) may pass."""
    timeout = config.get("MAIL_TIMEOUT_SECONDS", 10)
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {reply.decode(errors='replace')}"
                               for rcpt, (code, reply) in exc.recipients.items())
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {detail}") from exc
            raise
