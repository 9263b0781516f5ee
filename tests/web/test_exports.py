"""CSV exports: the accountant's columns, exact amounts, a tenant sees only its own."""
import csv
import io
from datetime import date

import pytest

from portal.models.tenancy import TENANT_VIEWER
from portal.services import invoices, rollup
from tests.factories import make_deployment, make_tenant, make_user


@pytest.fixture
def world(catalog, database):
    acme = make_tenant("acme", "Acme AI", billing_name="=HYPERLINK(\"x\") Pty Ltd", abn="53 004 085 616")
    globex = make_tenant("globex", "Globex")
    for t in (acme, globex):
        make_deployment(t, name=f"{t.slug}-llm", plan_code="studio", addons=["storage_50gb"],
                        starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    make_user(TENANT_VIEWER, acme, email="viewer@example.com")
    rollup.roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    rows, _ = invoices.list_invoices(admin)
    by_slug = {i.tenant.slug: i.id for i in rows}
    invoices.transition_invoice(admin, by_slug["acme"], {"to": "issued"})
    invoices.transition_invoice(admin, by_slug["globex"], {"to": "issued"})
    return by_slug


def _csv(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_admin_exports_every_tenants_invoices_with_exact_amounts(browser, world):
    browser.login("admin@example.com")
    r = browser.get("/exports/invoices.csv?period=2026-04")
    assert r.headers["Content-Disposition"] == 'attachment; filename="arcadia-invoices-2026-04.csv"'
    rows = _csv(r)
    assert rows[0][:4] == ["invoice_number", "tenant", "billing_name", "abn"]
    body = {row[1]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert set(body) == {"acme", "globex"}
    acme = body["acme"]
    # studio + storage_50gb, a whole month, no usage: 5000 + 750, GST 575.
    assert (acme["subtotal"], acme["tax"], acme["total"], acme["currency"]) == ("57.50", "5.75", "63.25", "AUD")
    assert acme["status"] == "issued" and acme["period_start"] == "2026-04-01"
    # A name a spreadsheet would run as a formula is written as text.
    assert acme["billing_name"] == "'=HYPERLINK(\"x\") Pty Ltd"
    assert acme["abn"] == "53 004 085 616"
    assert (acme["paid"], acme["credited"], acme["amount_due"], acme["paid_on"]) == ("0.00", "0.00", "63.25", "")


def test_payments_and_credit_notes_by_the_month_they_are_dated(browser, api_as, world, database):
    from freezegun import freeze_time

    admin = api_as(make_user())
    with freeze_time("2026-05-10 09:00:00"):
        r = admin.post(f"/api/v1/invoices/{world['acme']}/payments", json={
            "amount_cents": 2000, "paid_on": "2026-05-09", "method": "bank_transfer",
            "reference": "=cmd|' /C calc'!A0"})
        assert r.status_code == 201, r.get_json()
        line = next(x for x in admin.get(f"/api/v1/invoices/{world['acme']}").get_json()["lines"]
                    if x["kind"] == "addon")
        note = admin.post(f"/api/v1/invoices/{world['acme']}/credit-notes", json={
            "reason": "Storage never attached", "lines": [{"line_id": line["id"], "amount_cents": 750}]})
        assert note.status_code == 201, note.get_json()
    browser.login("admin@example.com")
    pays = _csv(browser.get("/exports/payments.csv?period=2026-05"))
    assert pays[0] == ["paid_on", "invoice_number", "tenant", "method", "reference", "amount",
                       "currency", "recorded_by"]
    assert pays[1][:7] == ["2026-05-09", "ARC-000001", "acme", "bank_transfer", "'=cmd|' /C calc'!A0",
                           "20.00", "AUD"]
    assert _csv(browser.get("/exports/payments.csv?period=2026-04"))[1:] == []
    notes = [dict(zip(r[0], row)) for r in [_csv(browser.get("/exports/credit_notes.csv?period=2026-05"))]
             for row in r[1:]]
    assert [(n["credit_note_number"], n["invoice_number"], n["subtotal"], n["tax"], n["total"],
             n["against_invoice"], n["to_credit_balance"]) for n in notes] == [
        ("CN-000001", "ARC-000001", "7.50", "0.75", "8.25", "8.25", "0.00")]
    invoices_csv = {r[1]: dict(zip(_csv(browser.get("/exports/invoices.csv?period=2026-04"))[0], r))
                    for r in _csv(browser.get("/exports/invoices.csv?period=2026-04"))[1:]}
    assert (invoices_csv["acme"]["paid"], invoices_csv["acme"]["credited"],
            invoices_csv["acme"]["amount_due"]) == ("20.00", "8.25", "35.00")


def test_lines_export_names_deployments_and_units(browser, world):
    browser.login("admin@example.com")
    rows = _csv(browser.get("/exports/lines.csv?period=2026-04"))
    header, lines = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header[-3:] == ["currency", "resource", "unit_label"]
    acme = [line for line in lines if line["tenant"] == "acme"]
    # codes for machines, and the same words the pages and the PDF use for people
    assert [(line["unit"], line["unit_label"]) for line in acme] == [
        ("month", "month"), ("month", "month"), ("rate", "rate")]
    assert [(line["kind"], line["amount"]) for line in acme] == [
        ("plan_base", "50.00"), ("addon", "7.50"), ("tax", "5.75")]
    assert acme[0]["deployment"] == "acme-llm" and acme[2]["deployment"] == ""


def test_tenant_exports_only_its_own_and_drafts_never(browser, world, database, api_as):
    admin = api_as(make_user())
    for slug in ("acme", "globex"):
        admin.post(f"/api/v1/invoices/{world[slug]}/payments", json={
            "amount_cents": 100, "paid_on": "2026-05-02", "method": "card"})
    browser.login("viewer@example.com")
    pays = _csv(browser.get("/exports/payments.csv?period=2026-05"))
    assert [(row[2], row[-1]) for row in pays[1:]] == [("acme", "")]  # no staff emails for tenants
    rows = _csv(browser.get("/exports/invoices.csv?period=2026-04"))
    assert [row[1] for row in rows[1:]] == ["acme"]
    lines = _csv(browser.get("/exports/lines.csv?period=2026-04"))
    assert {row[1] for row in lines[1:]} == {"acme"}
    assert _csv(browser.get("/exports/invoices.csv?period=2026-03"))[1:] == []


def test_bad_month_or_dataset_is_a_clear_4xx(browser, world):
    browser.login("admin@example.com")
    assert browser.get("/exports/invoices.csv?period=2026-13").status_code == 422
    assert browser.get("/exports/invoices.csv").status_code == 422
    assert browser.get("/exports/secrets.csv?period=2026-04").status_code == 404
    page = browser.get("/exports/?period=2026-04").get_data(as_text=True)
    assert "/exports/invoices.csv?period=2026-04" in page


def test_signed_out_export_redirects_to_sign_in(client, world):
    r = client.get("/exports/invoices.csv?period=2026-04")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
