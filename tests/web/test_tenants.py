from sqlalchemy import select

from portal.models import AuditEntry
from tests.factories import make_tenant, make_user


def test_admin_edits_the_billing_profile(browser, database):
    tenant = make_tenant("acme", "Acme")
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    assert "Acme" in browser.get("/tenants/").get_data(as_text=True)
    r = browser.post(f"/tenants/{tenant.id}/edit", data={
        "name": "Acme AI", "billing_name": "Acme AI Pty Ltd",
        "billing_address": "1 Test St\nSydney NSW 2000", "abn": "51824753556"})
    assert r.status_code == 303
    database.session.refresh(tenant)
    assert (tenant.name, tenant.billing_name, tenant.billing_address, tenant.abn) == (
        "Acme AI", "Acme AI Pty Ltd", "1 Test St\nSydney NSW 2000", "51 824 753 556")
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "tenant.update"))
    assert entry.actor == "admin@example.com"
    assert entry.details["changed"]["abn"] == [None, "51 824 753 556"]


def test_bad_profiles_are_refused_with_inline_messages(browser, database):
    tenant = make_tenant("acme", "Acme")
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    r = browser.post(f"/tenants/{tenant.id}/edit", data={
        "name": "Acme", "billing_name": "", "billing_address": "x", "abn": "51 824 753 557"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "must not be empty" in html and "is not a valid ABN (checksum)" in html
    database.session.refresh(tenant)
    assert tenant.billing_name == "Acme"


def test_tenant_users_cannot_manage_tenants(browser, database):
    tenant = make_tenant("acme", "Acme")
    make_user("tenant_admin", tenant=tenant, email="alice@example.com")
    browser.login("alice@example.com")
    assert browser.get("/tenants/").status_code == 403
    assert browser.post(f"/tenants/{tenant.id}/edit", data={"name": "x"}).status_code == 403
