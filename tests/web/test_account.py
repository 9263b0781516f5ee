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


