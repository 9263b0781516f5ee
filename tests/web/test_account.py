"""A tenant's account page: this month so far, priced by the rollup's engine."""
from datetime import date

import pytest
from freezegun import freeze_time

from portal.models.tenancy import TENANT_VIEWER
from portal.services import usage
from tests.factories import make_deployment, make_tenant, make_user


@pytest.fixture
def world(catalog, database):
    acme = make_tenant("acme", "Acme AI")
    globex = make_tenant("globex", "Globex")
    dep = make_deployment(acme, name="acme-llm", plan_code="studio", starts_on=date(2026, 5, 20))
    make_deployment(globex, name="globex-llm", plan_code="studio", starts_on=date(2026, 5, 1))
    # 1,500,000 tokens so far in June: 500k over the allowance → 500 cents of overage.
    usage.ingest({"events": [
        {"event_id": "t-1", "deployment_id": dep.id, "resource_kind": "llm_tokens",
         "quantity": 1_500_000, "occurred_at": "2026-06-03T10:00:00Z"},
        {"event_id": "t-0", "deployment_id": dep.id, "resource_kind": "llm_tokens",
         "quantity": 9_000_000, "occurred_at": "2026-05-31T10:00:00Z"},  # May: not this month
    ]})
    make_user(email="admin@example.com")
    make_user(TENANT_VIEWER, acme, email="viewer@example.com")
    return acme


@freeze_time("2026-06-10 12:00:00")
def test_tenant_sees_the_invoice_its_month_is_heading_for(browser, world):
    browser.login("viewer@example.com")
    html = browser.get("/billing/?tenant=globex").get_data(as_text=True)  # asks for another: gets its own
    assert "Acme AI: account" in html and "Globex" not in html and "globex-llm" not in html
    assert "June 2026 so far" in html and "(10 of 30 days)" in html
    # studio 5000 + llm_tokens overage 500 = 5500; GST 550; heading for 6050.
    assert 'data-total="subtotal">$55.00 AUD' in html
    assert 'data-total="tax">$5.50 AUD' in html
    assert 'data-total="total">$60.50 AUD' in html


@freeze_time("2026-06-10 12:00:00")
def test_admin_chooses_a_tenant_and_unknown_is_404(browser, world):
    browser.login("admin@example.com")
    chooser = browser.get("/billing/").get_data(as_text=True)
    assert "/billing/?tenant=acme" in chooser and "/billing/?tenant=globex" in chooser
    globex = browser.get("/billing/?tenant=globex").get_data(as_text=True)
    assert "Globex: account" in globex and 'data-total="total">$55.00 AUD' in globex
    assert browser.get("/billing/?tenant=nobody").status_code == 404


@freeze_time("2026-06-10 12:00:00")
def test_nothing_subscribed_says_so(browser, catalog, database):
    lonely = make_tenant("lonely", "Lonely")
    make_user(TENANT_VIEWER, lonely, email="lonely@example.com")
    browser.login("lonely@example.com")
    assert "No subscription bills this month." in browser.get("/billing/").get_data(as_text=True)




def test_what_a_tenant_owes_to_the_cent(browser, world, api_as, database):
    from portal.models import Tenant
    from portal.services import invoices, rollup

    admin = make_user()
    api = api_as(admin)
    with freeze_time("2026-06-02 12:00:00"):
        rollup.roll_up_period(date(2026, 5, 1), date(2026, 6, 1))
        rows, _ = invoices.list_invoices(admin, tenant_slug="globex", period="2026-05")
        may = invoices.transition_invoice(admin, rows[0].id, {"to": "issued"})   # due 2026-06-16
        assert api.post(f"/api/v1/invoices/{may.id}/payments", json={
            "amount_cents": 1500, "paid_on": "2026-06-01", "method": "card"}).status_code == 201
    globex = database.session.scalar(database.select(Tenant).where(Tenant.slug == "globex"))
    make_user(TENANT_VIEWER, globex, email="g@example.com")
    with freeze_time("2026-06-10 12:00:00"):
        browser.login("g@example.com")
        html = browser.get("/billing/").get_data(as_text=True)
    # May: studio 5000 + GST 500 = 5500, less 1500 paid = 4000, not yet due.
    assert 'data-figure="balance_due">$40.00 AUD' in html
    assert 'data-figure="overdue" class="">$0.00 AUD' in html
    assert 'data-figure="credit_balance">$0.00 AUD' in html
    assert may.number in html and "2026-06-01" in html and "$15.00 AUD" in html  # the payment
    with freeze_time("2026-06-20 12:00:00"):
        browser.login("g@example.com")
        html = browser.get("/billing/").get_data(as_text=True)
    assert 'data-figure="overdue" class="overdue">$40.00 AUD (1 invoice)' in html
    assert html.count("badge-overdue") == 1


def test_the_account_shows_each_currencys_balance_and_credit(browser, catalog, api_as, database):
    """AUD 5.50 of credit and USD 2.20 of credit are two balances, not one figure of 7.70 in
    whichever currency came first; what is owed is split the same way."""
    from tests.api.test_payments_api import invoice_for, lines_of, pay
    from tests.factories import make_plan

    admin = api_as(make_user(email="admin@example.com"))
    make_plan(code="usd", base_price_cents=1000, currency="USD")
    tenant = make_tenant("twocur", "Two Currencies")
    make_deployment(tenant, name="aud", plan_code="studio", starts_on=date(2026, 3, 1),
                    ends_on=date(2026, 3, 31))
    make_deployment(tenant, name="usd", plan_code="usd", starts_on=date(2026, 4, 1))
    march = invoice_for(admin, tenant)                                         # AUD 55.00
    april = invoice_for(admin, tenant, period="2026-04", issue_on="2026-05-02")  # USD 11.00
    for invoice, cents in ((march, 500), (april, 200)):
        assert pay(admin, invoice["id"], invoice["total_cents"]).status_code == 201
        with freeze_time("2026-05-20"):
            r = admin.post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={
                "reason": "goodwill", "lines": [{"line_id": lines_of(invoice)["plan_base"],
                                                 "amount_cents": cents}]})
        assert r.status_code == 201, r.get_json()
    may = invoice_for(admin, tenant, period="2026-05", issue_on="2026-06-02")  # USD 11.00 - 2.20
    assert (may["currency"], may["credit_applied_cents"], may["amount_due_cents"]) == ("USD", 220, 880)
    make_user(TENANT_VIEWER, tenant, email="two@example.com")
    with freeze_time("2026-06-10 12:00:00"):
        browser.login("two@example.com")
        html = browser.get("/billing/").get_data(as_text=True)
    aud = html[html.index('data-currency="AUD"'):html.index('data-currency="USD"')]
    usd = html[html.index('data-currency="USD"'):html.index('id="payments"')]
    assert "In AUD" in html and "In USD" in html
    assert 'data-figure="balance_due">$0.00 AUD' in aud
    assert 'data-figure="credit_balance">$5.50 AUD' in aud
    assert 'data-figure="balance_due">US$8.80' in usd
    assert 'data-figure="credit_balance">US$0.00' in usd  # applied to May's invoice
