"""What an HTMX action answers: the part it changed, a status message for the toast (a refusal's
marked as one), and the events the page's other parts refresh on. The browser tests in
tests/e2e/test_feedback.py watch the same happen in Chromium."""
import json
import re
from datetime import date

import pytest
from freezegun import freeze_time

from portal.services import invoices, rollup
from tests.conftest import run_worker
from tests.factories import make_deployment, make_tenant, make_user


def status(r):
    """(the toast's message, its tone) from HX-Trigger, or None."""
    if "HX-Trigger" not in r.headers:
        return None
    value = json.loads(r.headers["HX-Trigger"])["portal:status"]
    return (value, "ok") if isinstance(value, str) else (value["value"], value["tone"])


def events(r):
    return set(json.loads(r.headers["HX-Trigger-After-Swap"])) if "HX-Trigger-After-Swap" in r.headers else set()


def text(r):
    return r.get_data(as_text=True)


@pytest.fixture
def world(catalog, database):
    """Acme's and Globex's March invoices ($63.25 each), issued on 2 April 2026."""
    acme = make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd")
    globex = make_tenant("globex", "Globex")
    deps = {t.slug: make_deployment(t, name=f"{t.slug}-llm", plan_code="studio", addons=["storage_50gb"],
                                    starts_on=date(2026, 3, 1)) for t in (acme, globex)}
    admin = make_user(email="admin@example.com")
    with freeze_time("2026-04-02"):
        rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
        rows, _ = invoices.list_invoices(admin)
        ids = {i.tenant.slug: i.id for i in rows}
        for slug in sorted(ids):  # acme's is ARC-000001
            invoices.transition_invoice(admin, ids[slug], {"to": "issued"})
    return {"acme": acme, "globex": globex, "ids": ids, "deps": deps}


@freeze_time("2026-04-21 10:00:00")
def test_a_payment_answers_the_money_part_a_message_and_the_event(browser, world):
    browser.login("admin@example.com")
    url = f"/invoices/{world['ids']['acme']}/payments"
    r = browser.post(url, htmx=True, data={"amount": "20.00", "paid_on": "2026-04-20",
                                           "method": "bank_transfer", "reference": "EFT 9"})
    html = text(r)
    assert r.status_code == 200 and html.lstrip().startswith("<div id=\"invoice-money\"")
    assert "EFT 9" in html and "$20.00 AUD" in html
    assert 'value="43.25"' in html  # the form now offers what is still due
    assert status(r) == ("Payment of $20.00 AUD recorded on ARC-000001; $43.25 AUD still due.", "ok")
    assert events(r) == {"invoice-changed", "invoices-changed"}  # the header refreshes on it
    # The rest: paid in full, said so.
    r = browser.post(url, htmx=True, data={"amount": "43.25", "paid_on": "2026-04-21", "method": "card"})
    assert status(r) == ("Payment of $43.25 AUD recorded on ARC-000001; it is paid in full.", "ok")
    assert "Record payment" not in text(r)


@freeze_time("2026-04-21 10:00:00")
def test_a_refused_payment_shows_by_its_field_and_in_the_toast(browser, world):
    browser.login("admin@example.com")
    url = f"/invoices/{world['ids']['acme']}/payments"
    r = browser.post(url, htmx=True, data={"amount": "lots", "paid_on": "2026-04-20", "method": "card"})
    assert r.status_code == 422 and events(r) == set()
    assert status(r) == ("Could not record the payment: Amount: must be an amount such as 43.25", "bad")
    assert 'value="lots"' in text(r) and "<strong>Amount</strong> must be an amount such as 43.25" in text(r)
    r = browser.post(url, htmx=True, data={"amount": "99.00", "paid_on": "2026-04-20", "method": "card"})
    assert r.status_code == 422 and status(r)[1] == "bad"
    assert status(r)[0].startswith("Could not record the payment: Amount: ")
    assert "more than the amount due" in status(r)[0]


@freeze_time("2026-04-21 10:00:00")
def test_a_credit_note_stays_on_the_invoice_with_its_number_in_the_toast(browser, world, database):
    from portal.models import InvoiceLine

    browser.login("admin@example.com")
    invoice_id = world["ids"]["globex"]
    line = database.session.query(InvoiceLine).filter_by(invoice_id=invoice_id, kind="plan_base").one()
    r = browser.post(f"/invoices/{invoice_id}/credit-notes", htmx=True,
                     data={f"line_{line.id}": "10.00", "reason": "Outage on 3 March"})
    assert r.status_code == 200 and text(r).lstrip().startswith('<div id="invoice-money"')
    assert status(r) == ("Credit note CN-000001 issued for $11.00 AUD.", "ok")  # $10.00 + GST
    assert "Outage on 3 March" in text(r) and "CN-000001" in text(r)
    assert events(r) == {"invoice-changed", "invoices-changed"}
    r = browser.post(f"/invoices/{invoice_id}/credit-notes", htmx=True,
                     data={f"line_{line.id}": "999.00", "reason": "Too much"})
    assert r.status_code == 422 and status(r)[1] == "bad"
    assert status(r)[0].startswith("Could not issue the credit note: Studio plan (v1), monthly: ")
    r = browser.post(f"/invoices/{invoice_id}/credit-notes", htmx=True, data={"reason": ""})
    assert r.status_code == 422 and status(r)[1] == "bad"
    assert status(r)[0].startswith("Could not issue the credit note: ") and "Reason: " in status(r)[0]
    # Without htmx it goes to the note's own page, as before.
    plain = browser.post(f"/invoices/{invoice_id}/credit-notes",
                         data={f"line_{line.id}": "1.00", "reason": "Again"})
    assert plain.status_code == 303 and "/credit-notes/" in plain.headers["Location"]


def test_every_part_of_the_invoice_page_listens_for_the_change(browser, world):
    browser.login("admin@example.com")
    invoice_id = world["ids"]["acme"]
    html = text(browser.get(f"/invoices/{invoice_id}"))
    for part in ("invoice-header", "invoice-lines", "invoice-money", "invoice-messages"):
        tag = re.search(rf'<\w+ id="{part}"[^>]*>', html).group(0)
        assert f'hx-get="/invoices/{invoice_id}"' in tag and 'hx-trigger="invoice-changed from:body"' in tag
        assert f'hx-select="#{part}"' in tag and 'hx-disinherit="*"' in tag


def test_the_rollup_says_what_it_did_and_the_list_listens(browser, world):
    browser.login("admin@example.com")
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-03"})
    assert status(r) == ("Rollup of 2026-03: 0 created, 2 skipped.", "ok")
    assert events(r) == {"invoices-changed"}
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-03", "force": "on"})
    assert status(r)[0].startswith("Rollup of 2026-03: 0 created, 2 skipped")
    assert status(browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04"})) == (
        "Rollup of 2026-04: 2 created, 0 skipped.", "ok")
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04", "force": "on"})
    assert status(r) == ("Rollup of 2026-04: 0 created, 0 skipped, 2 rebuilt.", "ok")
    assert events(r) == {"invoices-changed", "invoice-changed"}  # a draft's page refreshes too
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "March"})
    assert r.status_code == 422 and events(r) == set()
    assert status(r) == ("Could not run the rollup: Period: must be a month as YYYY-MM", "bad")
    rows = re.search(r'<div id="invoice-rows"[^>]*>', text(browser.get("/invoices/"))).group(0)
    assert 'hx-trigger="invoices-changed from:body"' in rows and 'hx-include="#invoice-filters"' in rows


def test_a_rollup_on_the_worker_announces_itself_once_when_done(app, browser, world, redis_queue):
    browser.login("admin@example.com")
    make_deployment(make_tenant("initech", "Initech"), name="ledger", plan_code="studio",
                    starts_on=date(2026, 2, 1))
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-02"})
    assert "Rollup of 2026-02: queued" in text(r) and status(r) is None and events(r) == set()
    poll = re.search(r'hx-get="([^"]+)"', text(r)).group(1)
    waiting = browser.get(poll, htmx=True)
    assert status(waiting) is None and events(waiting) == set()  # polls say nothing
    run_worker(app)
    done = browser.get(poll, htmx=True)
    assert "every 1s" not in text(done)
    assert status(done) == ("Rollup of 2026-02: 1 created, 0 skipped.", "ok")
    assert events(done) == {"invoices-changed"}


def test_the_sync_says_how_it_went_and_the_tables_listen(app, browser, database, redis_queue):
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    r = browser.post("/provider/sync", htmx=True)
    assert status(r) is None  # queued: nothing to say yet
    poll = re.search(r'hx-get="([^"]+)"', text(r)).group(1)
    run_worker(app)
    done = browser.get(poll, htmx=True)
    assert status(done) == ("Synced from the demo provider: inventory ok, billing ok.", "ok")
    assert events(done) == {"provider-synced"}
    assert "eload" not in text(done)
    for page, part in (("/provider/inventory", "inventory-rows"), ("/provider/drift", "drift-open"),
                       ("/provider/drift", "drift-closed"), ("/provider/costs", "cost-lines"),
                       ("/provider/costs", "cost-balance"), ("/provider/inventory", "sync-runs"),
                       ("/provider/dashboard", "dashboard-body")):
        tag = re.search(rf'<\w+ (?:class="[^"]*" )?id="{part}"[^>]*>', text(browser.get(page))).group(0)
        assert "provider-synced from:body" in tag, part
    gone = browser.get("/provider/sync/no-such-job", htmx=True)
    assert status(gone) == ("The sync could not run: that sync job is no longer known", "bad")


def test_subscription_actions_and_their_refusals_are_announced(browser, world, database):
    dep = make_deployment(world["acme"], name="spare")
    with freeze_time("2026-04-21 10:00:00"):
        browser.login("admin@example.com")
        r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True,
                         data={"plan_code": "studio", "starts_on": "someday"})
        assert r.status_code == 422 and status(r)[1] == "bad"
        assert status(r)[0].startswith("Could not subscribe: Starts on: ")
        r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True,
                         data={"plan_code": "studio", "starts_on": "2026-03-10"})  # March is invoiced
        assert r.status_code == 200 and status(r)[1] == "bad" and "already invoiced" in status(r)[0]
        r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True,
                         data={"plan_code": "studio", "starts_on": "2026-04-21"})
        assert status(r) == ("spare subscribed to Studio from 2026-04-21.", "ok")
        r = browser.post(f"/deployments/{dep.id}/subscription/change", htmx=True,
                         data={"plan_code": "studio", "addons": ["storage_50gb"], "effective_on": "2026-04-25"})
        assert status(r) == ("Subscription changed to studio from 2026-04-25.", "ok")
        r = browser.post(f"/deployments/{dep.id}/subscription/end", htmx=True, data={"ends_on": "2026-04-30"})
        assert status(r) == ("Subscription ends: 2026-04-30 is its last billed day.", "ok")
        assert events(r) == {"deployment-changed"}


def test_an_error_page_htmx_does_not_swap_still_says_what_went_wrong(browser, world):
    make_user("tenant_admin", tenant=world["acme"], email="alice@example.com")
    browser.login("alice@example.com")
    r = browser.post(f"/invoices/{world['ids']['acme']}/transition", htmx=True, data={"to": "paid"})
    assert r.status_code == 403 and status(r)[1] == "bad" and status(r)[0]
    r = browser.post(f"/invoices/{world['ids']['globex']}/transition", htmx=True, data={"to": "paid"})
    assert r.status_code == 404 and status(r)[1] == "bad"


def test_signing_out_says_so(browser, world):
    browser.login("admin@example.com")
    r = browser.post("/logout", follow_redirects=True)
    assert "You are signed out." in text(r)


def test_an_htmx_request_after_the_session_ended_goes_to_the_sign_in(browser, world):
    r = browser.get("/invoices/?status=draft", htmx=True,
                    headers={"HX-Current-URL": "http://localhost/invoices/?status=draft"})
    assert r.status_code == 401
    assert r.headers["HX-Redirect"] == "/login?next=/invoices/?status%3Ddraft"
    plain = browser.get("/invoices/")
    assert plain.status_code == 302 and plain.headers["Location"].startswith("/login?next=/invoices/")
