"""Every list's ``next`` is the path and query of the next page: followed to the end, it shows
each row exactly once, in the list's order, with the caller's filters and per_page kept.
Invoices and credit notes page by cursor (keyset) and refuse any cursor they did not make."""
import re
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from portal.extensions import db
from portal.models import CreditNote, Invoice
from portal.models.provider import DriftItem, ProviderResource
from portal.models.tenancy import TENANT_ADMIN
from portal.models.webhooks import Webhook, WebhookDelivery, WebhookEvent
from portal.services import accounts
from tests.factories import make_deployment, make_tenant, make_user

SLUGS = ("acme", "acme-labs", "globex", "initech")
ADMIN = "admin@example.com"
MONTHS = 30  # 4 tenants x 30 months = 120 invoices


def follow(api, path, key, max_pages=50):
    """Every row of a list, page by page through ``next``; checks each ``next`` on the way."""
    rows, pages, wanted = [], 0, parse_qs(urlsplit(path).query)
    while path:
        r = api.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
        body = r.get_json()
        rows += body[key]
        pages += 1
        assert pages <= max_pages
        path = body["next"]
        if path is not None:
            assert path.startswith("/api/v1/") and "://" not in path
            query = parse_qs(urlsplit(path).query)
            for name, value in wanted.items():  # filters and per_page kept; page may move on
                if name not in ("page", "cursor", "before"):
                    assert query[name] == value, (name, path)
    return rows, pages


@pytest.fixture
def admin(api_as, catalog):
    return api_as(make_user(email=ADMIN))


def month(i: int) -> date:
    return date(2024 + i // 12, i % 12 + 1, 1)


@pytest.fixture
def invoices_120(database):
    """120 issued invoices of four tenants (every third paid), inserted in a mixed order."""
    tenants = [make_tenant(slug, slug.title()) for slug in SLUGS]
    made = []
    for i in range(MONTHS):
        for t in (tenants[1], tenants[3], tenants[0], tenants[2]):
            n = len(made) + 1
            status = "paid" if n % 3 == 0 else "issued"
            made.append(Invoice(
                number=f"PG-{n:06d}", tenant_id=t.id, period_start=month(i),
                period_end=month(i + 1), currency="AUD", subtotal_cents=1000 * n, tax_cents=100 * n,
                total_cents=1100 * n, status=status, issued_on=month(i + 1), due_on=month(i + 1),
                paid_on=month(i + 1) if status == "paid" else None))
    db.session.add_all(made)
    db.session.flush()
    return {t.slug: t for t in tenants}, made


def expected_order(invoices):
    """The documented order: newest period first, then newest invoice first."""
    return [i.id for i in sorted(invoices, key=lambda i: (i.period_start, i.id), reverse=True)]


def test_120_invoices_in_pages_of_50_are_each_seen_once_in_order(admin, invoices_120):
    _, made = invoices_120
    rows, pages = follow(admin, "/api/v1/invoices?per_page=50", "invoices")
    assert pages == 3
    assert [r["id"] for r in rows] == expected_order(made)
    assert len({r["id"] for r in rows}) == 120
    assert sum(r["total_cents"] for r in rows) == 1100 * sum(range(1, 121))


def test_the_first_page_next_names_a_cursor_and_keeps_per_page(admin, invoices_120):
    _, made = invoices_120
    body = admin.get("/api/v1/invoices?per_page=50").get_json()
    last = next(i for i in made if i.id == body["invoices"][-1]["id"])
    assert body["next"] == (f"/api/v1/invoices?per_page=50&cursor=o.{last.period_start.isoformat()}"
                            f".{last.id}")


def test_filters_keep_working_with_the_cursor(admin, invoices_120):
    tenants, made = invoices_120
    rows, _ = follow(admin, "/api/v1/invoices?tenant=acme&per_page=7", "invoices")
    assert [r["id"] for r in rows] == expected_order(i for i in made if i.tenant_id == tenants["acme"].id)
    assert len(rows) == MONTHS
    rows, _ = follow(admin, "/api/v1/invoices?status=paid&per_page=9", "invoices")
    assert [r["id"] for r in rows] == expected_order(i for i in made if i.status == "paid")
    assert len(rows) == 40
    rows, _ = follow(admin, "/api/v1/invoices?period=2025-03&per_page=3", "invoices")
    assert [r["id"] for r in rows] == expected_order(i for i in made if i.period_start == date(2025, 3, 1))
    assert len(rows) == 4


def test_old_callers_page_numbers_still_answer_by_offset(admin, invoices_120):
    _, made = invoices_120
    order = expected_order(made)
    body = admin.get("/api/v1/invoices?per_page=50&page=2").get_json()
    assert [r["id"] for r in body["invoices"]] == order[50:100]
    rest, _ = follow(admin, body["next"], "invoices")  # a cursor from there on
    assert "&page=" not in body["next"] and [r["id"] for r in rest] == order[100:]
    r = admin.get(body["next"] + "&page=2")
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"cursor"}


def test_a_tenant_never_pages_into_another_tenants_rows(api_as, invoices_120, admin):
    tenants, made = invoices_120
    acme = api_as(make_user(TENANT_ADMIN, tenant=tenants["acme"]))
    rows, _ = follow(acme, "/api/v1/invoices?per_page=4", "invoices")
    assert [r["id"] for r in rows] == expected_order(i for i in made if i.tenant_id == tenants["acme"].id)
    # a cursor made from another tenant's row (or the admin's next) still shows acme's only
    other = next(i for i in made if i.tenant_id == tenants["globex"].id and i.period_start == month(20))
    for path in (f"/api/v1/invoices?cursor=o.{other.period_start.isoformat()}.{other.id}",
                 f"/api/v1/invoices?cursor=n.{month(0).isoformat()}.1",
                 admin.get("/api/v1/invoices?per_page=10").get_json()["next"]):
        rows, _ = follow(acme, path, "invoices")
        assert rows and {r["tenant_id"] for r in rows} == {tenants["acme"].id}
    # a tenant's own ?tenant= names nothing else
    rows, _ = follow(acme, "/api/v1/invoices?tenant=globex&per_page=50", "invoices")
    assert {r["tenant_id"] for r in rows} == {tenants["acme"].id}


HOSTILE_CURSORS = ["garbage", "o", "o.", "o.2026-01-01", "o.2026-13-01.5", "o.2026-02-30.5",
                   "o.2026-01-01.-1", "o.2026-01-01.1.2", "x.2026-01-01.1", "o.2026-01-01.1e3",
                   "o.2026-01-01.99999999999", "o.2026-01-01." + "9" * 5000, "9" * 100_000,
                   "o.2026-01-01.1\x00", "\x00", "o.２０２６-01-01.1", "o.2026-01-01.٣",
                   "o.0000-01-01.1", " o.2026-01-01.1", ""]


@pytest.mark.parametrize("cursor", HOSTILE_CURSORS)
def test_a_hostile_cursor_is_a_422_never_a_500(admin, cursor, database):
    make_tenant("acme")
    for path in ("/api/v1/invoices", "/api/v1/credit-notes"):
        r = admin.get(path, query_string={"cursor": cursor})
        assert r.status_code == 422, (path, cursor[:40], r.status_code)
        assert set(r.get_json()["error"]["fields"]) == {"cursor"}


@pytest.mark.parametrize("cursor", ["garbage", "o.2026-01-01.99999999999", "\x00", "9" * 100_000])
def test_a_hostile_cursor_on_the_pages_is_a_422(browser, cursor, database):
    make_user(email=ADMIN)
    browser.login(ADMIN)
    for path in ("/invoices/", "/credit-notes/"):
        r = browser.get(path, query_string={"cursor": cursor})
        assert r.status_code == 422, (path, cursor[:40], r.status_code)
        assert "cursor" in r.get_data(as_text=True)


# --- credit notes -----------------------------------------------------------------------------

def test_credit_notes_page_by_cursor_each_once(admin, api_as, invoices_120):
    tenants, made = invoices_120
    notes = []
    for n, inv in enumerate(made[:14], start=1):
        notes.append(CreditNote(
            number=f"CN-PG-{n:04d}", invoice_id=inv.id, tenant_id=inv.tenant_id, reason="test",
            issued_on=date(2026, 4, 1), currency="AUD", subtotal_cents=100, tax_cents=10,
            total_cents=110, against_invoice_cents=110, to_balance_cents=0, refund_cents=0))
    db.session.add_all(notes)
    db.session.flush()
    rows, pages = follow(admin, "/api/v1/credit-notes?per_page=4", "credit_notes")
    assert pages == 4 and [r["id"] for r in rows] == sorted((n.id for n in notes), reverse=True)
    rows, _ = follow(admin, "/api/v1/credit-notes?tenant=globex&per_page=2", "credit_notes")
    globex = [n.id for n in notes if n.tenant_id == tenants["globex"].id]
    assert [r["id"] for r in rows] == sorted(globex, reverse=True) and len(globex) == 3
    mine = api_as(make_user(TENANT_ADMIN, tenant=tenants["globex"]))
    rows, _ = follow(mine, "/api/v1/credit-notes?per_page=1", "credit_notes")
    assert [r["id"] for r in rows] == sorted(globex, reverse=True)


# --- every other list: next is a path, followed to the end sees each row once ---------------

def _deployments(admin):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    made = [make_deployment(acme if i % 2 else globex, name=f"d{i}") for i in range(7)]
    return "/api/v1/deployments?tenant=acme&per_page=2", "deployments", \
        [d.id for d in made if d.tenant_id == acme.id]


def _inventory(admin):
    now = datetime(2026, 4, 1, tzinfo=timezone.utc)
    made = [ProviderResource(provider="demo", kind="droplet", provider_id=f"p{i}", name=f"r{i}",
                             region="syd1", size="s-1", status="active", tags=[], recorded_size="s-1",
                             last_seen_at=now) for i in range(5)]
    db.session.add_all(made)
    db.session.flush()
    return "/api/v1/inventory?per_page=2", "resources", [r.id for r in made]


def _drift(admin):
    ids = _inventory(admin)[2]
    made = [DriftItem(kind="untagged", resource_id=rid, provider_id=f"p{n}", status="open")
            for n, rid in enumerate(ids)]
    made.append(DriftItem(kind="vanished", resource_id=ids[0], provider_id="p0", status="accepted"))
    db.session.add_all(made)
    db.session.flush()
    return "/api/v1/drift?status=open&per_page=2", "drift", [d.id for d in made[:-1]]


def _tenants(admin):
    made = [make_tenant(f"t{i}") for i in range(5)]
    return "/api/v1/tenants?per_page=2", "tenants", [t.id for t in made]


def _users(admin):
    acme = make_tenant("acme")
    made = [make_user(TENANT_ADMIN, tenant=acme) for _ in range(5)]
    return "/api/v1/users?tenant=acme&per_page=2", "users", [u.id for u in made]


def _tokens(admin):
    for _ in range(4):
        accounts.create_token(ADMIN)
    return "/api/v1/tokens?per_page=2", "tokens", None  # checked against the count below


def _audit(admin):
    for i in range(5):
        make_tenant(f"audited{i}")
    return "/api/v1/audit?object_type=tenant&per_page=2", "audit", None


def _deliveries(admin):
    hook = Webhook(url="http://127.0.0.1:9/hook", events=["invoice.issued"], secret="s" * 40)
    db.session.add(hook)
    db.session.flush()
    made = []
    for i in range(5):
        event = WebhookEvent(public_id=f"evt_pg{i}", type="invoice.issued", data={"n": i})
        db.session.add(event)
        db.session.flush()
        made.append(WebhookDelivery(webhook_id=hook.id, event_id=event.id))
    db.session.add_all(made)
    db.session.flush()
    return f"/api/v1/webhooks/{hook.id}/deliveries?per_page=2", "deliveries", [d.id for d in made]


@pytest.mark.parametrize("setup", [_deployments, _inventory, _drift, _tenants, _users, _tokens,
                                   _audit, _deliveries], ids=lambda f: f.__name__.strip("_"))
def test_every_list_next_is_a_path_followed_to_the_end(admin, setup, database):
    path, key, expected = setup(admin)
    rows, pages = follow(admin, path, key)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row was shown twice"
    if expected is not None:
        assert sorted(ids) == sorted(expected)
        assert pages == -(-len(expected) // 2)
    else:
        assert len(ids) >= 4 and pages == -(-len(ids) // 2)
    first = admin.get(path).get_json()
    assert isinstance(first["next"], str) and first["next"].startswith("/")


def test_next_never_carries_url_for_options_from_the_query(admin, database):
    for i in range(3):
        make_tenant(f"t{i}")
    body = admin.get("/api/v1/tenants?per_page=1&_external=1&_scheme=javascript").get_json()
    assert body["next"].startswith("/api/v1/tenants?") and "_scheme" not in body["next"]


# --- the invoice list page ----------------------------------------------------------------------

def _page_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/invoices/(\d+)">', html)]


def _link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label), html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_page_walks_older_then_newer_by_cursor(browser, invoices_120):
    _, made = invoices_120
    make_user(email=ADMIN)
    browser.login(ADMIN)
    order = expected_order(made)
    seen, url, pages = [], "/invoices/?per_page=50", []
    while url:
        r = browser.get(url, htmx=True)
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        pages.append((url, html))
        seen += _page_ids(html)
        url = _link(html, "Older →")
        assert url is None or "per_page=50" in url
    assert seen == order and len(pages) == 3
    assert _link(pages[0][1], "← Newer") is None
    back = browser.get(_link(pages[2][1], "← Newer"), htmx=True).get_data(as_text=True)
    assert _page_ids(back) == order[50:100]
    back = browser.get(_link(back, "← Newer"), htmx=True).get_data(as_text=True)
    assert _page_ids(back) == order[:50] and _link(back, "← Newer") is None
    assert _page_ids(browser.get(_link(back, "Older →")).get_data(as_text=True)) == order[50:100]


def test_the_search_box_filters_by_tenant(browser, invoices_120):
    tenants, made = invoices_120
    make_user(email=ADMIN)
    browser.login(ADMIN)

    def ids_of(*slugs, period=None):
        wanted = {tenants[s].id for s in slugs}
        return expected_order(i for i in made if i.tenant_id in wanted
                              and period in (None, i.period_start))

    page = browser.get("/invoices/").get_data(as_text=True)
    assert 'type="search" name="tenant"' in page and "<option value=\"acme\"" not in page
    exact = browser.get("/invoices/?tenant=acme&per_page=200", htmx=True).get_data(as_text=True)
    assert _page_ids(exact) == ids_of("acme") and len(ids_of("acme")) == MONTHS  # not acme-labs
    prefix = browser.get("/invoices/?tenant=ACM&per_page=200", htmx=True).get_data(as_text=True)
    assert _page_ids(prefix) == ids_of("acme", "acme-labs") and len(_page_ids(prefix)) == 2 * MONTHS
    one = browser.get("/invoices/?tenant=glo&period=2025-01", htmx=True).get_data(as_text=True)
    assert _page_ids(one) == ids_of("globex", period=date(2025, 1, 1)) and len(_page_ids(one)) == 1
    none = browser.get("/invoices/?tenant=100%25_", htmx=True).get_data(as_text=True)
    assert _page_ids(none) == [] and "No invoices match." in none
    older = _link(browser.get("/invoices/?tenant=acm&per_page=25", htmx=True).get_data(as_text=True),
                  "Older →")
    assert "tenant=acm" in older
    rest = browser.get(older, htmx=True).get_data(as_text=True)
    assert _page_ids(rest) == ids_of("acme", "acme-labs")[25:50]
    r = browser.get("/invoices/?tenant=" + "a" * 65)
    assert r.status_code == 422 and "at most 64 characters" in r.get_data(as_text=True)


def test_the_credit_note_page_searches_tenants_too(browser, invoices_120):
    tenants, made = invoices_120
    inv = next(i for i in made if i.tenant_id == tenants["initech"].id)
    db.session.add(CreditNote(
        number="CN-PG-0001", invoice_id=inv.id, tenant_id=inv.tenant_id, reason="test",
        issued_on=date(2026, 4, 1), currency="AUD", subtotal_cents=100, tax_cents=10,
        total_cents=110, against_invoice_cents=110, to_balance_cents=0, refund_cents=0))
    db.session.flush()
    make_user(email=ADMIN)
    browser.login(ADMIN)
    assert "CN-PG-0001" in browser.get("/credit-notes/?tenant=ini", htmx=True).get_data(as_text=True)
    assert "CN-PG-0001" not in browser.get("/credit-notes/?tenant=acme", htmx=True).get_data(as_text=True)
