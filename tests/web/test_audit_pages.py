"""The audit log page: platform admins only, filters, paging, details a person can read."""
import re

import pytest

from portal.services import accounts
from tests.factories import make_tenant, make_user


@pytest.fixture
def admin(database):
    return make_user(email="admin@example.com")


def test_admins_see_changes_readably_and_filter(browser, admin, database):
    acme = make_tenant("acme", "Acme")
    accounts.update_tenant_profile(admin, acme.id, {
        "name": "Acme", "billing_name": "Acme AI Pty Ltd", "billing_address": "1 Test St",
        "abn": "51824753556"})
    browser.login("admin@example.com")
    html = browser.get("/audit/").get_data(as_text=True)
    assert "Audit log" in html and "tenant.update" in html and "tenant.create" in html
    assert "billing name</dt>" in html and "Acme → Acme AI Pty Ltd" in html
    assert "abn</dt>\n        <dd><span class=\"muted\">—</span> → 51 824 753 556" in html

    r = browser.get("/audit/?actor=admin@example.com", htmx=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    rows = r.get_data(as_text=True)
    assert rows.lstrip().startswith('<div id="audit-rows" class="list">')
    assert "tenant.update" in rows and "tenant.create" not in rows
    rows = browser.get(f"/audit/?object_type=tenant&object_id={acme.id}&since=2000-01-01",
                       htmx=True).get_data(as_text=True)
    assert "tenant.update" in rows and "tenant.create" in rows and "user.create" not in rows
    assert "No entries match." in browser.get("/audit/?actor=scheduler").get_data(as_text=True)


def test_bad_filters_are_422_with_messages(browser, admin):
    browser.login("admin@example.com")
    r = browser.get("/audit/?since=last+week&object_id=x")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "since: must be an ISO date" in html and "object id: must be a whole number" in html


def test_paging_goes_older_and_back(browser, admin, database):
    for n in range(4):
        make_tenant(f"t{n}")
    browser.login("admin@example.com")
    first = browser.get("/audit/?object_type=tenant&per_page=3").get_data(as_text=True)
    assert first.count("tenant.create") == 3 and "Older →" in first and "← Newer" not in first
    link = re.search(r'<a href="([^"]+)" rel="next">Older →</a>', first).group(1).replace("&amp;", "&")
    second = browser.get(link).get_data(as_text=True)
    assert second.count("tenant.create") == 1 and "← Newer" in second and "Older →" not in second
    # oldest first, from the When header
    oldest = browser.get("/audit/?object_type=tenant&sort=when&per_page=3").get_data(as_text=True)
    assert 'aria-sort="ascending"' in oldest
    ids = [int(i) for i in re.findall(r'<tr id="audit-(\d+)">', oldest)]
    assert len(ids) == 3 and ids == sorted(ids)
    summary = browser.get("/audit/summary?object_type=tenant&per_page=3", htmx=True)
    assert "4 entries" in summary.get_data(as_text=True) and "page 1 of 2" in summary.get_data(as_text=True)


@pytest.mark.parametrize("role", ["tenant_admin", "tenant_viewer"])
def test_tenant_roles_get_403(browser, database, role):
    make_user(role, tenant=make_tenant(), email="t@example.com")
    browser.login("t@example.com")
    assert browser.get("/audit/").status_code == 403
