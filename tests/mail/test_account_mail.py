"""Invitations and password resets go out over a real SMTP server on 127.0.0.1; the link in
the received email, followed with a browser, ends on a signed-in page."""
import re
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.models import MailMessage
from tests.conftest import Browser
from tests.factories import make_tenant, make_user
from tests.mail.smtp import smtp_server  # noqa: F401

NEW = "chosen-password-77"


def link_from(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"https?://\S+/password/link/[\w-]+", body).group(0)
    return urlsplit(url).path


def test_an_invitation_arrives_and_its_link_signs_the_user_in(app, browser, database, smtp_server):
    make_tenant("acme", "Acme")
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    r = browser.post("/users/invite", data={"email": "new@example.com", "role": "tenant_viewer",
                                            "tenant": "acme"})
    assert r.status_code == 303
    [(sender, rcpts, message)] = smtp_server.received
    assert rcpts == ["new@example.com"]
    assert "invited" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "admin@example.com has invited you" in body and "within 72 hours" in body
    row = database.session.scalar(select(MailMessage).where(MailMessage.kind == "invitation"))
    assert row.status == "sent"
    # Sent: the outbox no longer shows the body with its link.
    outbox = browser.get("/outbox/").get_data(as_text=True)
    assert link_from(message) not in outbox and "carries a sign-in link and was sent" in outbox

    newcomer = Browser(app.test_client())
    path = link_from(message)
    assert "Accept your invitation" in newcomer.get(path).get_data(as_text=True)
    r = newcomer.post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 303
    home = newcomer.get(r.headers["Location"])
    assert home.status_code == 200 and "new@example.com" in home.get_data(as_text=True)
    assert newcomer.post(path, data={"password": NEW, "confirm": NEW}).status_code == 410


def test_a_reset_arrives_and_its_link_signs_the_user_in(app, database, smtp_server):
    make_user(email="ann@example.com")
    stranger = Browser(app.test_client())
    assert stranger.post("/password/forgot", data={"email": "ann@example.com"}).status_code == 200
    assert stranger.post("/password/forgot", data={"email": "ghost@example.com"}).status_code == 200
    [(sender, rcpts, message)] = smtp_server.received  # nothing for the unknown address
    assert rcpts == ["ann@example.com"] and "Reset your" in message["Subject"]
    path = link_from(message)
    r = stranger.post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 303
    home = stranger.get("/")
    assert home.status_code == 200 and "ann@example.com" in home.get_data(as_text=True)
    assert Browser(app.test_client()).login("ann@example.com", NEW).status_code == 302
