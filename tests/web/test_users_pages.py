"""The Users pages and the New tenant form, for each role, hostile requests included."""
import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Tenant, User
from tests.factories import make_tenant, make_user
from tests.mail.smtp import no_mail_server  # noqa: F401


@pytest.fixture
def people(database):
    acme, globex = make_tenant("acme", "Acme"), make_tenant("globex", "Globex")
    return {
        "admin": make_user(email="admin@example.com"),
        "alice": make_user("tenant_admin", tenant=acme, email="alice@example.com"),
        "vic": make_user("tenant_viewer", tenant=acme, email="vic@example.com"),
        "gina": make_user("tenant_admin", tenant=globex, email="gina@example.com"),
        "acme": acme, "globex": globex,
    }


def test_admin_sees_everyone_and_filters_by_tenant(browser, people):
    browser.login("admin@example.com")
    html = browser.get("/users/").get_data(as_text=True)
    for email in ("admin@example.com", "alice@example.com", "vic@example.com", "gina@example.com"):
        assert email in html
    html = browser.get("/users/?tenant=globex").get_data(as_text=True)
    assert "gina@example.com" in html and "alice@example.com" not in html
    assert browser.get("/users/?tenant=nope").status_code == 404
    assert browser.get("/users/?page=x").status_code == 422


def test_a_tenant_admin_sees_only_its_own_tenants_users(browser, people):
    browser.login("alice@example.com")
    r = browser.get("/users/?tenant=globex")  # the filter is an admin's; ignored here
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "vic@example.com" in html and "gina@example.com" not in html and "admin@example.com" not in html


def test_a_viewer_has_no_users_page(browser, people):
    browser.login("vic@example.com")
    assert browser.get("/users/").status_code == 403
    assert browser.get("/users/invite").status_code == 403
    assert browser.post(f"/users/{people['alice'].id}/deactivate").status_code == 403


def test_admin_invites_a_platform_admin_from_the_form(browser, people, database, no_mail_server):
    browser.login("admin@example.com")
    page = browser.get("/users/invite").get_data(as_text=True)
    assert 'value="platform_admin"' in page and 'value="globex"' in page
    r = browser.post("/users/invite", data={"email": "ops@example.com", "role": "platform_admin",
                                            "tenant": ""})
    assert r.status_code == 303
    ops = database.session.scalar(select(User).where(User.email == "ops@example.com"))
    assert ops.role == "platform_admin" and ops.tenant_id is None and ops.invitation_pending
    r = browser.post("/users/invite", data={"email": "ops@example.com", "role": "platform_admin"})
    assert r.status_code == 409
    r = browser.post("/users/invite", data={"email": "bad", "role": "tenant_viewer", "tenant": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "is not an email address" in html and "is required for tenant_viewer" in html


def test_a_tenant_admin_invites_tenant_roles_into_its_own_tenant(browser, people, database, no_mail_server):
    browser.login("alice@example.com")
    page = browser.get("/users/invite").get_data(as_text=True)
    assert 'value="platform_admin"' not in page and 'value="globex"' not in page
    r = browser.post("/users/invite", data={"email": "bob@example.com", "role": "tenant_viewer",
                                            "tenant": "globex"})  # the tenant field is ignored
    assert r.status_code == 303
    bob = database.session.scalar(select(User).where(User.email == "bob@example.com"))
    assert bob.tenant_id == people["acme"].id
    r = browser.post("/users/invite", data={"email": "eve@example.com", "role": "platform_admin"})
    assert r.status_code == 403
    assert database.session.scalar(select(User).where(User.email == "eve@example.com")) is None


def test_deactivation_asks_first_and_stays_inside_the_tenant(app, browser, people, database):
    vic, gina = people["vic"], people["gina"]
    browser.login("alice@example.com")
    assert browser.get(f"/users/{gina.id}/deactivate").status_code == 404
    assert browser.post(f"/users/{gina.id}/deactivate").status_code == 404
    assert browser.get(f"/users/{people['admin'].id}/deactivate").status_code == 404
    page = browser.get(f"/users/{vic.id}/deactivate")
    assert page.status_code == 200 and "Deactivate vic@example.com?" in page.get_data(as_text=True)
    database.session.refresh(vic)
    assert vic.active  # the confirmation page changes nothing
    r = browser.post(f"/users/{vic.id}/deactivate")
    assert r.status_code == 303
    database.session.refresh(vic)
    database.session.refresh(gina)
    assert not vic.active and gina.active
    assert "deactivated" in browser.get("/users/").get_data(as_text=True)
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.deactivate"))
    assert (entry.actor, entry.target_id) == ("alice@example.com", vic.id)


def test_resending_an_invitation_replaces_its_link(browser, people, database, no_mail_server):
    browser.login("admin@example.com")
    browser.post("/users/invite", data={"email": "new@example.com", "role": "tenant_viewer",
                                        "tenant": "acme"})
    new = database.session.scalar(select(User).where(User.email == "new@example.com"))
    assert browser.post(f"/users/{new.id}/resend").status_code == 303
    assert browser.post(f"/users/{people['vic'].id}/resend").status_code == 409  # nothing pending


def test_admin_creates_a_tenant_from_the_tenants_page(browser, people, database):
    browser.login("admin@example.com")
    assert 'href="/tenants/new"' in browser.get("/tenants/").get_data(as_text=True)
    r = browser.post("/tenants/new", data={
        "slug": "initech", "name": "Initech", "billing_name": "", "billing_address": "1 Office St",
        "billing_email": "ap@initech.example.com", "abn": "51824753556"})
    assert r.status_code == 303
    tenant = database.session.scalar(select(Tenant).where(Tenant.slug == "initech"))
    assert (tenant.billing_name, tenant.abn, tenant.billing_email) == (
        "Initech", "51 824 753 556", "ap@initech.example.com")
    r = browser.post("/tenants/new", data={"slug": "Bad!", "name": "", "abn": "1",
                                           "billing_email": "nope"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "lowercase letters" in html and "must not be empty" in html and "must be 11 digits" in html
    r = browser.post("/tenants/new", data={"slug": "acme", "name": "Acme 2"})
    assert r.status_code == 409 and "already exists" in r.get_data(as_text=True)


def test_tenant_users_cannot_create_tenants(browser, people):
    browser.login("alice@example.com")
    assert browser.get("/tenants/new").status_code == 403
    assert browser.post("/tenants/new", data={"slug": "mine", "name": "Mine"}).status_code == 403
