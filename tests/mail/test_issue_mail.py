"""Issuing an invoice emails the tenant's billing email with the PDF, through a real SMTP
server; without a server, an address, or with the server down, the issue still succeeds."""
from datetime import date

import pytest

from portal.models.mail import FAILED, NOT_SENT, SENT
from portal.services.rollup import roll_up_period
from tests.factories import make_deployment, make_tenant, make_user, pdf_text
from tests.mail.helpers import APRIL, draft_invoice, messages
from tests.mail.smtp import free_port, no_mail_server, pdf_attachments, smtp_server  # noqa: F401


def issue(api_as, invoice):
    admin = api_as(make_user())
    r = admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_issuing_sends_one_mail_with_the_pdf(app, catalog, api_as, smtp_server):
    invoice = draft_invoice()
    body = issue(api_as, invoice)
    assert body["number"] == "ARC-000001"

    assert len(smtp_server.received) == 1
    mail_from, rcpt_tos, message = smtp_server.received[0]
    assert rcpt_tos == ["accounts@acme.example.com"]
    assert mail_from == "billing@arcadia.example.com"
    assert message["To"] == "accounts@acme.example.com"
    assert message["From"] == "Arcadia Cloud Pty Ltd <billing@arcadia.example.com>"
    assert message["Subject"] == "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Hello Acme AI Pty Ltd," in text
    assert "tax invoice ARC-000001" in text
    assert "Total: $55.00 AUD (including GST $5.00 AUD)" in text
    assert f"Due: {body['due_on']}" in text
    [(filename, content)] = pdf_attachments(message)
    assert filename == "ARC-000001-2026-04.pdf"
    assert content.startswith(b"%PDF")
    pdf = pdf_text(content)
    assert "Tax invoice" in pdf and "ARC-000001" in pdf and "55.00" in pdf

    [row] = messages(invoice.id)
    assert (row.kind, row.status, row.attempts, row.error) == ("invoice_issued", SENT, 1, None)
    assert row.to_address == "accounts@acme.example.com" and row.sent_at is not None
    assert row.subject == message["Subject"] and row.tenant_id == invoice.tenant_id
    assert message["Message-ID"].startswith(f"<arcadia.{row.id}.")


def test_without_a_mail_server_the_mail_is_recorded_not_sent(app, catalog, api_as, no_mail_server):
    invoice = draft_invoice()
    assert issue(api_as, invoice)["status"] == "issued"
    [row] = messages(invoice.id)
    assert (row.status, row.error, row.attempts) == (
        NOT_SENT, "no mail server configured (MAIL_SERVER is unset)", 0)
    assert row.subject == "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"
    assert "Total: $55.00 AUD" in row.body  # the outbox shows what would have gone


def test_a_tenant_without_billing_email_gets_nothing_and_says_why(app, catalog, api_as, smtp_server):
    invoice = draft_invoice(billing_email=None)
    assert issue(api_as, invoice)["status"] == "issued"
    assert smtp_server.received == []
    [row] = messages(invoice.id)
    assert (row.status, row.to_address, row.error) == (
        NOT_SENT, None, "tenant acme has no billing email")


def test_a_mail_server_that_is_down_never_blocks_or_undoes_the_issue(app, catalog, api_as,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())
    invoice = draft_invoice()
    body = issue(api_as, invoice)
    assert (body["status"], body["number"]) == ("issued", "ARC-000001")
    [row] = messages(invoice.id)
    # Inline (no Redis) there is one attempt: recorded as failed, with the error.
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "ConnectionRefusedError" in row.error and "127.0.0.1" in row.error


def test_a_recipient_refused_for_good_is_failed_at_once(app, catalog, api_as, smtp_server):
    smtp_server.refuse.add("accounts@acme.example.com")
    invoice = draft_invoice()
    assert issue(api_as, invoice)["status"] == "issued"
    [row] = messages(invoice.id)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "recipient refused" in row.error and "550" in row.error
    assert smtp_server.received == []


def test_delivering_again_never_sends_twice(app, catalog, api_as, smtp_server):
    from portal.services import mail

    invoice = draft_invoice()
    issue(api_as, invoice)
    [row] = messages(invoice.id)
    assert mail.deliver(row.id)["status"] == SENT
    assert mail.deliver(row.id)["status"] == SENT
    assert len(smtp_server.received) == 1
    assert messages(invoice.id)[0].attempts == 1


def test_the_rollups_auto_issue_emails_too(app, catalog, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "ROLLUP_AUTO_ISSUE", True)
    for slug in ("acme", "globex"):
        tenant = make_tenant(slug, slug.title(), billing_email=f"billing@{slug}.example.com")
        make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    assert roll_up_period(*APRIL).created == 2
    assert sorted((rcpt[0], m["Subject"]) for _, rcpt, m in smtp_server.received) == [
        ("billing@acme.example.com", "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"),
        ("billing@globex.example.com", "Tax invoice ARC-000002 from Arcadia Cloud Pty Ltd"),
    ]
    assert [m.status for m in messages()] == [SENT, SENT]


def test_a_failed_issue_sends_nothing(app, catalog, api_as, smtp_server):
    invoice = draft_invoice()
    admin = api_as(make_user())
    assert admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "paid"}).status_code == 409
    assert smtp_server.received == [] and messages() == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_server_login_uses_the_configured_credentials(app, catalog, api_as, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    from tests.mail.smtp import Inbox, start_server

    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    # A relay that requires a login (plain text over this loopback test connection only).
    controller = start_server(inbox, authenticator=authenticator, auth_required=True,
                              auth_require_tls=False)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", "portal")
    monkeypatch.setitem(app.config, "MAIL_PASSWORD", "wrong")
    monkeypatch.setitem(app.config, "MAIL_FROM", "Arcadia Billing <invoices@arcadia.example.com>")
    try:
        first = draft_invoice("acme")
        issue(api_as, first)
        [row] = messages(first.id)
        assert row.status == FAILED and "SMTPAuthenticationError" in row.error
        monkeypatch.setitem(app.config, "MAIL_PASSWORD", "s3cret")
        second = draft_invoice("globex", "billing@globex.example.com")
        issue(api_as, second)
    finally:
        controller.stop()
    # smtplib tries each mechanism the server offers before giving up on a wrong password.
    assert set(inbox.logins[:-1]) == {("portal", "wrong")}
    assert inbox.logins[-1] == ("portal", "s3cret")
    [(mail_from, rcpt, message)] = inbox.received
    assert (mail_from, rcpt) == ("invoices@arcadia.example.com", ["billing@globex.example.com"])
    assert message["From"] == "Arcadia Billing <invoices@arcadia.example.com>"
    assert messages(second.id)[0].status == SENT


def test_a_server_that_never_answers_times_out(app, catalog, api_as, monkeypatch):
    import socket
    import time

    with socket.socket() as silent:  # accepts connections (the backlog) and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
        monkeypatch.setitem(app.config, "MAIL_PORT", silent.getsockname()[1])
        monkeypatch.setitem(app.config, "MAIL_TIMEOUT_SECONDS", 0.5)
        invoice = draft_invoice()
        started = time.monotonic()
        assert issue(api_as, invoice)["status"] == "issued"
        assert time.monotonic() - started < 10
    [row] = messages(invoice.id)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "timed out" in row.error


def test_a_message_no_header_can_carry_fails_for_good(app, database, smtp_server):
    from portal.services import mail

    message = mail.queue_message("a@example.com\nBcc: b@example.com", "Hi", "x", "invoice_issued")
    database.session.commit()
    mail.dispatch()
    [row] = messages()
    assert row.id == message.id and (row.status, row.attempts) == (FAILED, 1)
    assert row.error.startswith("not a sendable message")
    assert smtp_server.received == []
