"""Payments and credit notes in the browser: forms on the invoice page, the credit note pages."""
import json
import re
from datetime import date

import pytest
from freezegun import freeze_time

from portal.services import invoices, rollup
from tests.factories import make_deployment, make_tenant, make_user, pdf_text


@pytest.fixture
def world(catalog, database):
    """Acme's and Globex's March invoices (6325 each), issued on 2 April 2026."""
    acme = make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd")
    globex = make_tenant("globex", "Globex")
    for t in (acme, globex):
        make_deployment(t, name=f"{t.slug}-llm", plan_code="studio", addons=["storage_50gb"],
                        starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    with freeze_time("2026-04-02"):
        rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
        rows, _ = invoices.list_invoices(admin)
        ids = {i.tenant.slug: i.id for i in rows}
        for slug in sorted(ids):  # acme's is ARC-000001 (the list is newest first, not by slug)
            invoices.transition_invoice(admin, ids[slug], {"to": "issued"})
    lines = {slug: {l.kind: l.id for l in invoices.get_invoice(admin, i).lines} for slug, i in ids.items()}
    return {"acme": acme, "globex": globex, "admin": admin, "ids": ids, "lines": lines}


def money(html):
    return dict(re.findall(r'data-money="(\w+)">(?:<strong>)?([^<]+)<', html))


@freeze_time("2026-04-20 10:00:00")
def test_admin_records_a_part_payment_then_the_rest(browser, world):
    browser.login("admin@example.com")
    url = f"/invoices/{world['ids']['acme']}"
    html = browser.get(url).get_data(as_text=True)
    assert "Record payment" in html and "Credit note" in html
    assert 'value="63.25"' in html  # the form offers the amount due
    assert "overdue" in html  # due 16 April
    r = browser.post(f"{url}/payments", data={"amount": "20.00", "paid_on": "2026-04-05",
                                              "method": "bank_transfer", "reference": "EFT 9"})
    assert r.status_code == 303
    html = browser.get(url).get_data(as_text=True)
    assert money(html)["paid"].startswith("$20.00 AUD") and money(html)["due"] == "$43.25 AUD"
    assert "Payment of $20.00 AUD recorded on ARC-" in html and "; $43.25 AUD still due." in html
    assert "EFT 9" in html
    # More than is due: the form says so, nothing recorded.
    r = browser.post(f"{url}/payments", data={"amount": "43.26", "paid_on": "2026-04-06", "method": "card"})
    assert r.status_code == 422
    assert "is more than the amount due (4325 cents)" in r.get_data(as_text=True)
    r = browser.post(f"{url}/payments", data={"amount": "12.345", "paid_on": "2026-04-06", "method": "card"})
    assert r.status_code == 422 and "must be an amount such as 43.25" in r.get_data(as_text=True)
    r = browser.post(f"{url}/payments", data={"amount": "43.25", "paid_on": "2026-04-12", "method": "card"})
    html = browser.get(url).get_data(as_text=True)
    assert 'badge badge-paid' in html and "settled 2026-04-12" in html and money(html)["due"] == "$0.00 AUD"
    assert "Record payment" not in html  # nothing more to pay
    # The audit log reads the payment as money, not as a count of cents.
    audit = browser.get(f"/audit/?object_type=invoice&object_id={world['ids']['acme']}").get_data(as_text=True)
    assert re.search(r'<dt>amount</dt><dd>\$20\.00 AUD</dd>', audit)
    assert re.search(r'<dt>amount</dt><dd>\$43\.25 AUD</dd>', audit)
    assert "amount cents" not in audit and ">2000<" not in audit


@freeze_time("2026-04-20 10:00:00")
def test_admin_issues_a_credit_note_per_line_and_records_its_refund(browser, world):
    browser.login("admin@example.com")
    iid = world["ids"]["acme"]
    browser.post(f"/invoices/{iid}/payments", data={"amount": "63.25", "paid_on": "2026-04-05", "method": "card"})
    lines = world["lines"]["acme"]
    r = browser.post(f"/invoices/{iid}/credit-notes", data={
        f"line_{lines['addon']}": "7.51", "reason": "Storage outage", "refund": "on"})
    assert r.status_code == 422
    assert "is more than what is left of the line (750 cents)" in r.get_data(as_text=True)
    r = browser.post(f"/invoices/{iid}/credit-notes", data={
        f"line_{lines['addon']}": "7.50", "reason": "Storage outage", "refund": "on"})
    assert r.status_code == 303
    note_url = r.headers["Location"]
    html = browser.get(note_url).get_data(as_text=True)
    assert "Credit note CN-000001" in html and "Storage outage" in html
    assert dict(re.findall(r'data-total="(\w+)">([^<]+)<', html)) == {
        "subtotal": "$7.50 AUD", "tax": "$0.75 AUD", "total": "$8.25 AUD"}
    assert "$8.25 AUD · owed" in html and "Record refund paid out" in html
    r = browser.post(f"{note_url}/refund", data={})
    assert r.status_code == 303
    html = browser.get(note_url).get_data(as_text=True)
    assert "refunded 2026-04-20" in html and "Record refund paid out" not in html
    assert browser.post(f"{note_url}/refund", data={}).status_code == 409
    invoice_page = browser.get(f"/invoices/{iid}").get_data(as_text=True)
    assert "CN-000001" in invoice_page and money(invoice_page)["credited"] == "$8.25 AUD"
    listed = browser.get("/credit-notes/").get_data(as_text=True)
    assert "CN-000001" in listed and "Acme AI" in listed and 'href="/credit-notes/"' in listed
    pdf = browser.get(f"{note_url}/pdf")
    text = pdf_text(pdf.data)
    assert "Adjustment note" in text and "CN-000001" in text and "ARC-000001" in text


@freeze_time("2026-04-20 10:00:00")
def test_tenants_read_their_own_payments_and_credit_notes_only(browser, world):
    admin = world["admin"]
    from portal.services import credit_notes, payments

    notes = {}
    for slug in ("acme", "globex"):
        payments.record_payment(admin, world["ids"][slug], {"amount_cents": 1000, "paid_on": "2026-04-05",
                                                            "method": "card", "reference": f"ref-{slug}"})
        notes[slug] = credit_notes.issue_credit_note(admin, world["ids"][slug], {
            "reason": f"fix {slug}", "lines": [{"line_id": world["lines"][slug]["addon"], "amount_cents": 100}]}).id
    make_user("tenant_viewer", tenant=world["acme"], email="vic@example.com")
    browser.login("vic@example.com")
    html = browser.get(f"/invoices/{world['ids']['acme']}").get_data(as_text=True)
    assert "ref-acme" in html and "CN-000001" in html
    assert "Record payment" not in html and "Issue credit note" not in html
    listed = browser.get("/credit-notes/").get_data(as_text=True)
    assert "fix acme" in listed and "fix globex" not in listed
    assert browser.get(f"/credit-notes/{notes['acme']}").status_code == 200
    assert browser.get(f"/credit-notes/{notes['acme']}/pdf").status_code == 200
    for url in (f"/credit-notes/{notes['globex']}", f"/credit-notes/{notes['globex']}/pdf",
                f"/invoices/{world['ids']['globex']}"):
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/invoices/{world['ids']['globex']}/payments",
                        data={"amount": "1", "paid_on": "2026-04-05", "method": "card"}).status_code == 404
    assert browser.post(f"/invoices/{world['ids']['acme']}/payments",
                        data={"amount": "1", "paid_on": "2026-04-05", "method": "card"}).status_code == 403
    assert browser.post(f"/credit-notes/{notes['globex']}/refund", data={}).status_code == 404


@freeze_time("2026-04-20 10:00:00")
def test_the_list_filters_overdue_invoices(browser, world):
    from portal.services import payments

    payments.record_payment(world["admin"], world["ids"]["globex"], {
        "amount_cents": 6325, "paid_on": "2026-04-05", "method": "card"})
    browser.login("admin@example.com")
    text = browser.get("/invoices/?overdue=true", htmx=True).get_data(as_text=True)
    assert "Acme AI" in text and "Globex" not in text and "overdue" in text
    full = browser.get("/invoices/").get_data(as_text=True)
    assert 'name="overdue"' in full


@freeze_time("2026-04-21 10:00:00")
def test_marking_paid_through_htmx_also_refreshes_the_payments(browser, world):
    browser.login("admin@example.com")
    r = browser.post(f"/invoices/{world['ids']['acme']}/transition", htmx=True, data={"to": "paid"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith('<section id="invoice-header"')
    assert json.loads(r.headers["HX-Trigger"]) == {"portal:status": "Invoice ARC-000001 marked paid."}
    assert json.loads(r.headers["HX-Trigger-After-Swap"])["invoice-changed"] is True
    # The payments part listens for that event and fetches itself from the invoice's page.
    page = browser.get(f"/invoices/{world['ids']['acme']}").get_data(as_text=True)
    money_part = page[page.index('<div id="invoice-money"'):]
    listener = money_part[:money_part.index(">")]
    assert 'hx-trigger="invoice-changed from:body"' in listener and 'hx-select="#invoice-money"' in listener
    assert "2026-04-21" in money_part and "Marked paid" in money_part and "$63.25 AUD" in money_part
    assert "Record payment" not in money_part and "Issue credit note" in money_part
