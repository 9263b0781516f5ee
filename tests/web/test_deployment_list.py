"""The deployments list: filters (tenant search, status, region, name), sorting by name, status
and creation both ways across pages (keyset), the count of what is filtered and where the page
sits, tenants kept apart; and creating one through HTMX: an in-place result, a status message
and the `deployment-changed` event the list refreshes on."""
import json
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Deployment
from portal.services import deployments as svc
from tests.factories import make_tenant, make_user

ADMIN = "deploy-admin@example.com"
# (tenant, name, region, moves): names chosen so that name, status and creation orders differ.
MADE = [("acme", "llm", "syd1", ["provisioning", "active"]),
        ("acme", "Batch", "sgp1", []),
        ("globex", "vision", "sfo3", ["provisioning", "active", "suspended"]),
        ("acme", "rag-search", "syd1", ["provisioning", "active"]),
        ("globex", "llm", "syd1", ["provisioning", "failed"]),
        ("yankee", "edge", "nyc3", [])]


@pytest.fixture
def world(catalog, database):
    tenants = {s: make_tenant(s, s.title()) for s in ("acme", "globex", "yankee")}
    admin = make_user(email=ADMIN)
    made = []
    for slug, name, region, moves in MADE:
        dep = svc.create_deployment(admin, {"tenant": slug, "name": name, "region": region})
        for to in moves:
            svc.transition(admin, dep.id, {"to": to})
        made.append(dep)
    return tenants, made


def names(html: str) -> list[str]:
    """(name, tenant) of each row, as shown (an admin's list has the tenant column)."""
    return [f"{n}/{t}" if t else n for n, t in re.findall(
        r'<tr data-deployment="\d+">\s*<td><a href="/deployments/\d+">([^<]+)</a></td>\s*'
        r'(?:<td>([a-z]+)</td>)?', html)]


def link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label), html)
    return unescape(found.group(1)) if found else None


def walk(browser, url: str) -> list[str]:
    """Every row, following Next → to the end."""
    rows = []
    while url:
        r = browser.get(url, htmx=True)
        assert r.status_code == 200, r.get_data(as_text=True)[:400]
        html = r.get_data(as_text=True)
        rows += names(html)
        url = link(html, "Next →") or link(html, "Older →")
    return rows


def summary(browser, html: str) -> str:
    url = unescape(re.search(r'class="list-summary" hx-get="([^"]+)"', html).group(1))
    r = browser.get(url, htmx=True)
    assert r.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", r.get_data(as_text=True))).strip()


def test_the_admin_list_sorts_by_name_status_and_creation_both_ways_across_pages(browser, world):
    browser.login(ADMIN)
    made = [f"{n}/{t}" for t, n, _, _ in MADE]
    assert walk(browser, "/deployments/?per_page=2") == made[::-1]  # newest first by default
    by_name = ["Batch/acme", "edge/yankee", "llm/acme", "llm/globex", "rag-search/acme", "vision/globex"]
    assert walk(browser, "/deployments/?per_page=2&sort=name") == by_name
    assert walk(browser, "/deployments/?per_page=2&sort=-name") == by_name[::-1]
    # By status (alphabetical), then creation.
    by_status = ["llm/acme", "rag-search/acme", "llm/globex", "Batch/acme", "edge/yankee", "vision/globex"]
    assert walk(browser, "/deployments/?per_page=4&sort=status") == by_status
    assert walk(browser, "/deployments/?per_page=4&sort=-status") == by_status[::-1]
    assert walk(browser, "/deployments/?per_page=5&sort=created") == made
    assert walk(browser, "/deployments/?per_page=5&sort=-created") == made[::-1]


def test_headers_sort_with_aria_sort_and_previous_goes_back(browser, world):
    browser.login(ADMIN)
    html = browser.get("/deployments/?per_page=2").get_data(as_text=True)
    created = re.search(r'<th scope="col" aria-sort="descending">\s*<a class="sort-link sorted" href="([^"]+)"', html)
    assert created and unescape(created.group(1)) == "/deployments/?per_page=2&sort=created"
    assert names(html) == ["edge/yankee", "llm/globex"]
    # Name sorts A to Z on the first click.
    assert '<a class="sort-link" href="/deployments/?per_page=2&amp;sort=name"' in html
    html = browser.get("/deployments/?per_page=2&sort=name").get_data(as_text=True)
    name_th = re.search(r'<th scope="col" aria-sort="ascending">\s*<a class="sort-link sorted" href="([^"]+)"', html)
    assert name_th and unescape(name_th.group(1)) == "/deployments/?per_page=2&sort=-name"
    second = browser.get(link(html, "Next →"), htmx=True).get_data(as_text=True)
    assert names(second) == ["llm/acme", "llm/globex"]
    first = browser.get(link(second, "← Previous"), htmx=True).get_data(as_text=True)
    assert names(first) == ["Batch/acme", "edge/yankee"]


def test_filters_combine_and_the_summary_counts_them_and_the_page_position(browser, world):
    browser.login(ADMIN)
    html = browser.get("/deployments/?region=syd1&sort=name").get_data(as_text=True)
    assert names(html) == ["llm/acme", "llm/globex", "rag-search/acme"]
    assert summary(browser, html) == "3 deployments · 1–3 of 3, page 1 of 1"
    html = browser.get("/deployments/?region=syd1&status=active").get_data(as_text=True)
    assert names(html) == ["rag-search/acme", "llm/acme"]
    html = browser.get("/deployments/?name=LL").get_data(as_text=True)  # any part, any case
    assert names(html) == ["llm/globex", "llm/acme"]
    html = browser.get("/deployments/?tenant=glo").get_data(as_text=True)  # a slug's start
    assert names(html) == ["llm/globex", "vision/globex"]
    html = browser.get("/deployments/?name=%25").get_data(as_text=True)  # a wildcard is a character
    assert names(html) == [] and "No deployments match." in html
    assert summary(browser, html) == "0 deployments"
    page2 = browser.get("/deployments/?per_page=2", htmx=True).get_data(as_text=True)
    page2 = browser.get(link(page2, "Older →"), htmx=True).get_data(as_text=True)
    assert summary(browser, page2) == "6 deployments · 3–4 of 6, page 2 of 3"
    # The region filter offers every listed region by name, the chosen one selected.
    html = browser.get("/deployments/?region=sfo3").get_data(as_text=True)
    assert '<option value="sfo3" selected>San Francisco 3 (sfo3)</option>' in html


def test_a_tenant_sees_and_counts_only_its_own(browser, world):
    tenants, _ = world
    make_user("tenant_viewer", tenant=tenants["globex"], email="tv@globex.example")
    browser.login("tv@globex.example")
    html = browser.get("/deployments/").get_data(as_text=True)
    assert names(html) == ["llm", "vision"]  # newest first, and no tenant column
    assert summary(browser, html) == "2 deployments · 1–2 of 2, page 1 of 1"
    # The admins' tenant search is not a tenant's: it cannot widen the list.
    html = browser.get("/deployments/?tenant=acme&name=rag").get_data(as_text=True)
    assert names(html) == []
    assert summary(browser, html) == "0 deployments"
    assert "acme" not in browser.get("/deployments/summary?tenant=acme", htmx=True).get_data(as_text=True)


@pytest.mark.parametrize("query, field", [
    ("sort=tenant", "sort"), ("sort=%27%3Bdrop", "sort"), ("cursor=o.bogus", "cursor"),
    ("cursor=o.name.QQ.1", "cursor"), ("status=happy", "status"), ("per_page=0", "per_page"),
    ("region=" + "x" * 33, "region"), ("name=" + "n" * 101, "name"), ("tenant=" + "t" * 65, "tenant"),
])
def test_hostile_list_arguments_are_422_with_the_field_named(browser, world, query, field):
    browser.login(ADMIN)
    r = browser.get(f"/deployments/?{query}", htmx=True)
    assert r.status_code == 422
    assert f"<li>{field.replace('_', ' ')}: " in r.get_data(as_text=True)
    r = browser.get(f"/deployments/summary?{query}", htmx=True)
    assert r.status_code == 422
    assert f"<strong>{field}</strong>" in r.get_data(as_text=True)


def test_a_cursor_of_one_sort_is_refused_by_another(browser, world):
    browser.login(ADMIN)
    html = browser.get("/deployments/?per_page=2&sort=status", htmx=True).get_data(as_text=True)
    cursor = re.search(r"cursor=([^&\"]+)", link(html, "Next →")).group(1)
    r = browser.get(f"/deployments/?per_page=2&sort=name&cursor={cursor}", htmx=True)
    assert r.status_code == 422


# --- creating through HTMX ------------------------------------------------------------------


def test_the_list_offers_the_create_form_and_listens_for_changes(browser, world):
    browser.login(ADMIN)
    html = browser.get("/deployments/").get_data(as_text=True)
    assert 'hx-get="/deployments/new" hx-target="#deployment-create"' in html
    assert 'hx-trigger="change from:.deployment-filter, submit, deployment-changed from:body"' in html
    panel = browser.get("/deployments/new", htmx=True).get_data(as_text=True)
    assert panel.lstrip().startswith('<section id="deployment-create"') and "<html" not in panel
    assert '<option value="syd1">Sydney 1 (syd1)</option>' in panel
    assert '<option value="nyc2"' not in panel  # unavailable: not offered
    assert re.findall(r'<option value="([a-z]+)">\1</option>', panel) == ["acme", "globex", "yankee"]


def test_creating_through_htmx_answers_in_place_with_a_message_and_the_event(browser, world):
    browser.login(ADMIN)
    r = browser.post("/deployments/new", htmx=True,
                     data={"tenant": "globex", "name": "inference", "region": "syd1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    dep = db.session.scalars(select(Deployment).where(Deployment.name == "inference")).one()
    assert (dep.tenant.slug, dep.region, dep.status) == ("globex", "syd1", "requested")
    assert json.loads(r.headers["HX-Trigger"]) == {
        "portal:status": "Deployment inference requested for globex in Sydney 1 (syd1)."}
    # The refresh rides after the swap (portal/htmx.py hx_status): the list refreshes once.
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"deployment-changed": True}
    notice = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.split('role="status">', 1)[1].split("</p>")[0]))
    assert notice.strip() == ("inference requested for globex in Sydney 1 (syd1). An operator "
                              "provisions it; you may request another below.")
    assert f'href="/deployments/{dep.id}"' in html
    # The form is ready for the next one: same tenant, empty name.
    assert '<option value="globex" selected>' in html and 'id="f-name" type="text" name="name" value=""' in html
    # And the list (what the event re-fetches) has it.
    assert "inference/globex" in names(browser.get("/deployments/?tenant=globex", htmx=True).get_data(as_text=True))


def test_a_duplicate_through_htmx_is_shown_in_place_not_dropped(browser, world):
    browser.login(ADMIN)
    r = browser.post("/deployments/new", htmx=True, data={"tenant": "acme", "name": "llm", "region": "syd1"})
    html = r.get_data(as_text=True)
    # htmx swaps 2xx and 422 only: the conflict comes as 200 with its message by the field.
    assert r.status_code == 200 and "HX-Trigger" not in r.headers
    assert "acme already has a deployment named &#39;llm&#39;" in html
    assert '<span class="field-error" id="err-name">already exists for this tenant</span>' in html
    assert db.session.scalar(select(func.count()).select_from(Deployment)) == len(MADE)


def test_a_tenant_admin_creates_for_its_own_tenant_through_htmx(browser, world):
    tenants, _ = world
    make_user("tenant_admin", tenant=tenants["yankee"], email="ta@yankee.example")
    browser.login("ta@yankee.example")
    r = browser.post("/deployments/new", htmx=True,
                     data={"tenant": "acme", "name": "edge-2", "region": "tor1"})
    assert r.status_code == 200
    assert json.loads(r.headers["HX-Trigger"])["portal:status"] == (
        "Deployment edge-2 requested for yankee in Toronto 1 (tor1).")
    html = browser.get("/deployments/").get_data(as_text=True)
    assert names(html) == ["edge-2", "edge"]
