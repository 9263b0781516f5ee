"""The home page: each role sees the figures it checks first, from the services that own them."""
from datetime import date

import pytest
from freezegun import freeze_time

from portal.models.tenancy import TENANT_VIEWER
from portal.services import home, invoices, rollup
from tests.factories import make_deployment, make_tenant, make_user


@pytest.fixture
def world(catalog, database):
    acme = make_tenant("acme", "Acme AI")
    globex = make_tenant("globex", "Globex")
    for t in (acme, globex):
        make_deployment(t, name=f"{t.slug}-llm", plan_code="studio", addons=["storage_50gb"],
                        starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    make_user(TENANT_VIEWER, acme, email="viewer@example.com")
    with freeze_time("2026-05-05 09:00:00"):
        rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
        rows, _ = invoices.list_invoices(admin)
        ids = {i.tenant.slug: i.id for i in rows}
        # studio $50.00 + storage $7.50 = $57.50, GST $5.75: $63.25 each
        invoices.transition_invoice(admin, ids["acme"], {"to": "issued"})
        invoices.transition_invoice(admin, ids["globex"], {"to": "issued"})
        invoices.transition_invoice(admin, ids["globex"], {"to": "paid"})
    return {"admin": admin, "acme": acme}


@freeze_time("2026-06-10 12:00:00")
def test_admin_home_shows_owed_overdue_revenue_rollup_worker_and_drift(browser, world):
    browser.login("admin@example.com")
    html = browser.get("/").get_data(as_text=True)
    assert "Owed to us" in html and "$63.25 AUD" in html and "1 issued invoice unpaid" in html
    assert "Overdue" in html and "1 past the due date" in html  # due 14 days after 5 May
    # June so far: both tenants' studio + storage for the whole month, before GST: 2 × $57.50
    assert "June so far" in html and "$115.00 AUD" in html
    assert "Last run for <strong>March 2026</strong>" in html and "2 created, 0 rebuilt, 0 skipped" in html
    assert "No Redis is configured" in html  # the test app runs jobs inline
    assert "Open drift" in html


@freeze_time("2026-06-10 12:00:00")
def test_tenant_home_shows_only_its_own_money_and_deployments(browser, world):
    browser.login("viewer@example.com")
    html = browser.get("/").get_data(as_text=True)
    assert "You owe" in html and "$63.25 AUD" in html
    assert "June so far" in html and "$63.25 AUD" in html  # $57.50 + GST
    assert "Deployments" in html and "Globex" not in html and "Owed to us" not in html
    assert "Open drift" not in html and "Background worker" not in html


@freeze_time("2026-06-10 12:00:00")
def test_owed_is_one_function_over_issued_invoices(app, world):
    owed = home.owed(world["admin"], date(2026, 6, 10))
    assert owed.owed == {"AUD": 6325} and owed.overdue == {"AUD": 6325}
    assert (owed.owing_count, owed.overdue_count) == (1, 1)
    assert home.owed(world["admin"], date(2026, 5, 6)).overdue == {}
