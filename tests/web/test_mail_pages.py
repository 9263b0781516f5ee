"""The outbox, an invoice's Messages section, and the tenant's billing email in the pages."""
from sqlalchemy import select

from portal.models import AuditEntry, Tenant
from tests.factories import make_tenant, make_user
from tests.mail.helpers import draft_invoice
from tests.mail.smtp import no_mail_server, smtp_server  # noqa: F401


def admin_browser(browser):
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    return browser


def test_the_outbox_shows_the_demo_mail_that_was_not_sent(browser, catalog, no_mail_server):
    invoice = draft_invoice()
    b = admin_browser(browser)
    home = b.get("/").get_data(as_text=True)
    assert 'href="/outbox/"' in home
    # Issuing from the invoice page: the header swaps, the Messages section fetches itself
    # again on the event (from the invoice's page, which now lists the mail).
    r = b.post(f"/invoices/{invoice.id}/transition", htmx=True, data={"to": "issued"})
    assert r.status_code == 200 and "invoice-changed" in r.headers["HX-Trigger-After-Swap"]
    show = b.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    messages = show[show.index('<section id="invoice-messages"'):]
    assert 'hx-trigger="invoice-changed from:body"' in messages[:messages.index(">")]
    assert "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd" in messages

    page = b.get("/outbox/").get_data(as_text=True)
    assert "No mail server is configured" in page
    assert "accounts@acme.example.com" in page
    assert "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd" in page
    assert "not sent" in page and "no mail server configured (MAIL_SERVER is unset)" in page
    assert "Total: $55.00 AUD" in page  # the body, for a demo user to read
    assert "ARC-000001-2026-04.pdf" in page
    assert f'href="/invoices/{invoice.id}"' in page

    show = b.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "<h2>Messages</h2>" in show and "accounts@acme.example.com" in show
    assert "no mail server configured" in show


def test_a_sent_mail_shows_when_it_went(browser, catalog, smtp_server):
    invoice = draft_invoice()
    b = admin_browser(browser)
    b.post(f"/invoices/{invoice.id}/transition", data={"to": "issued"})
    show = b.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert '<span class="badge mail-sent">sent</span>' in show
    assert " UTC" in show


def test_tenants_see_no_messages_and_no_outbox(browser, catalog, no_mail_server):
    invoice = draft_invoice()
    from portal.services.invoices import transition_invoice

    transition_invoice(make_user(), invoice.id, {"to": "issued"})
    make_user("tenant_admin", tenant=invoice.tenant, email="alice@example.com")
    browser.login("alice@example.com")
    show = browser.get(f"/invoices/{invoice.id}")
    assert show.status_code == 200
    html = show.get_data(as_text=True)
    assert "Messages" not in html and "accounts@acme.example.com" not in html
    assert browser.get("/outbox/").status_code == 403
    assert 'href="/outbox/"' not in html


def test_the_outbox_pages_newest_first(browser, database, no_mail_server):
    from portal.services import mail

    for n in range(3):
        mail.queue_message(f"n{n}@example.com", f"Message {n}", "body", "invoice_issued")
    database.session.commit()
    mail.dispatch()
    b = admin_browser(browser)
    first = b.get("/outbox/?per_page=2").get_data(as_text=True)
    assert first.index("Message 2") < first.index("Message 1") and "Message 0" not in first
    assert "Older →" in first
    second = b.get("/outbox/?per_page=2&page=2", htmx=True).get_data(as_text=True)
    assert "Message 0" in second and "Message 1" not in second and "<html" not in second
    assert b.get("/outbox/?page=0").status_code == 422
    assert b.get("/outbox/?page=x").status_code == 422


def test_a_sign_in_link_that_went_out_is_not_shown(browser, database, smtp_server):
    from portal.services import mail

    mail.queue_message("new@example.com", "Your invitation", "https://portal/secret-link",
                       "invitation")
    database.session.commit()
    mail.dispatch()
    page = admin_browser(browser).get("/outbox/").get_data(as_text=True)
    assert "Your invitation" in page and "secret-link" not in page
    assert "Not shown: it carries a sign-in link and was sent." in page


def test_admin_sets_and_clears_the_billing_email(browser, database):
    tenant = make_tenant("acme", "Acme")
    b = admin_browser(browser)
    profile = {"name": "Acme", "billing_name": "Acme", "billing_address": "1 Test St", "abn": ""}
    r = b.post(f"/tenants/{tenant.id}/edit", data={**profile, "billing_email": " Accounts@ACME.Example.com "})
    assert r.status_code == 303
    database.session.refresh(tenant)
    assert tenant.billing_email == "Accounts@acme.example.com"
    assert "Accounts@acme.example.com" in b.get("/tenants/").get_data(as_text=True)
    assert 'value="Accounts@acme.example.com"' in b.get(f"/tenants/{tenant.id}/edit").get_data(as_text=True)
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "tenant.update"))
    assert entry.details["changed"]["billing_email"] == [None, "Accounts@acme.example.com"]

    for bad in ("accounts", "a@b", "a b@example.com", "a@example.com\nBcc: x@example.com",
                "a@@example.com", "a@-example.com", "x" * 65 + "@example.com"):
        r = b.post(f"/tenants/{tenant.id}/edit", data={**profile, "billing_email": bad})
        assert r.status_code == 422, bad
        assert "is not an email address" in r.get_data(as_text=True) or "at most" in r.get_data(as_text=True)
    database.session.refresh(tenant)
    assert tenant.billing_email == "Accounts@acme.example.com"

    assert b.post(f"/tenants/{tenant.id}/edit", data={**profile, "billing_email": ""}).status_code == 303
    database.session.refresh(tenant)
    assert tenant.billing_email is None


def test_the_cli_creates_a_tenant_with_a_billing_email(app, database):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme",
                            "--billing-email", "billing@acme.example.com"])
    assert r.exit_code == 0, r.output
    tenant = database.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    assert tenant.billing_email == "billing@acme.example.com"
    r = runner.invoke(args=["tenants", "create", "globex", "--name", "Globex",
                            "--billing-email", "not-an-address"])
    assert r.exit_code == 1
    assert "billing_email: is not an email address (like accounts@example.com)" in r.output
    assert database.session.scalar(select(Tenant).where(Tenant.slug == "globex")) is None
