"""Sorted lists: clicking a header orders the whole list (across pages, both ways, by keyset);
the summary fragment counts and totals what the filters select, to the cent, and says where the
page sits; a tenant sees only its own rows and totals; hostile sort and cursor values are 422."""
import re
from datetime import date
from html import unescape

import pytest
from portal.extensions import db
from portal.models import CreditNote, Invoice
from portal.models.tenancy import TENANT_ADMIN
from tests.factories import make_tenant, make_user

ADMIN = "lists-admin@example.com"
# (tenant, period month, total cents, status, paid cents): ties in total on purpose (4400 twice,
# 2000 three times) so the id decides; a USD tenant makes the totals per currency.
ROWS = [("acme", 1, 4400, "issued", 0), ("globex", 1, 2000, "paid", 2000),
        ("acme", 2, 2000, "issued", 500), ("globex", 2, 9900, "issued", 0),
        ("acme", 3, 4400, "paid", 4400), ("yankee", 3, 1234, "issued", 0),
        ("acme", 4, 2000, "void", 0), ("globex", 4, 100, "issued", 0),
        ("acme", 5, 7000, "issued", 1), ("globex", 5, 50, "draft", 0),
        ("acme", 6, 300, "issued", 0)]


def _month(m: int) -> date:
    return date(2026, m, 1)


@pytest.fixture
def listed(database, catalog):
    tenants = {s: make_tenant(s, s.title()) for s in ("acme", "globex", "yankee")}
    made = []
    for n, (slug, m, total, status, paid) in enumerate(ROWS, start=1):
        numbered = status != "draft"
        made.append(Invoice(
            number=f"LS-{n:06d}" if numbered else None, tenant_id=tenants[slug].id,
            period_start=_month(m), period_end=_month(m + 1),
            currency="USD" if slug == "yankee" else "AUD", subtotal_cents=total, tax_cents=0,
            total_cents=total, status=status, issued_on=_month(m + 1) if numbered else None,
            due_on=date(2099, 1, 1) if numbered else None, amount_paid_cents=paid,
            paid_on=_month(m + 1) if status == "paid" else None))
    db.session.add_all(made)
    db.session.flush()
    return tenants, made


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/invoices/(\d+)">', html)]


def _link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label), html)
    return unescape(found.group(1)) if found else None


def _header(html: str, label: str) -> tuple[str, str | None]:
    """A sort header's link and its aria-sort (None when that column is not the sorted one)."""
    th = re.search(r'<th scope="col"[^>]*?(?: aria-sort="(\w+)")?>\s*<a class="sort-link[^"]*" '
                   r'href="([^"]+)"[^>]*>' + re.escape(label), html)
    assert th, label
    return unescape(th.group(2)), th.group(1)


def _walk(browser, url: str) -> tuple[list[int], list[str]]:
    """Every row, following Next/Older to the end; the pages' HTML."""
    ids, pages = [], []
    while url:
        r = browser.get(url, htmx=True)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        html = r.get_data(as_text=True)
        pages.append(html)
        ids += _ids(html)
        url = _link(html, "Next →") or _link(html, "Older →")
    return ids, pages


def _summary(browser, html_or_url: str) -> str:
    url = html_or_url
    if "<" in html_or_url:
        url = unescape(re.search(r'class="list-summary" hx-get="([^"]+)"', html_or_url).group(1))
    r = browser.get(url, htmx=True)
    assert r.status_code == 200, r.get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", "", r.get_data(as_text=True)).split())


@pytest.fixture
def admin_browser(browser, listed):
    make_user(email=ADMIN)
    browser.login(ADMIN)
    return browser


def test_sorting_by_total_both_ways_across_pages(admin_browser, listed):
    _, made = listed
    page = admin_browser.get("/invoices/?per_page=4", htmx=True).get_data(as_text=True)
    url, aria = _header(page, "Total")
    assert aria is None and "sort=-total" in url  # first click: largest first
    _, period_aria = _header(page, "Period")
    assert period_aria == "descending"  # the default order
    ids, pages = _walk(admin_browser, url)
    by_total = sorted(made, key=lambda i: (i.total_cents, i.id), reverse=True)
    assert ids == [i.id for i in by_total] and len(pages) == 3
    assert [i.total_cents for i in by_total][:4] == [9900, 7000, 4400, 4400]
    assert _header(pages[0], "Total")[1] == "descending"
    # the other way round, from the header of a sorted page; the cursor keeps the sort
    up, _ = _header(pages[0], "Total")
    assert "sort=total" in up and "cursor" not in up
    ids, pages = _walk(admin_browser, up)
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.total_cents, i.id))]
    assert _header(pages[1], "Total")[1] == "ascending"
    # and back again from the last page, by Previous
    back = _link(pages[2], "← Previous")
    assert _ids(admin_browser.get(back, htmx=True).get_data(as_text=True)) == ids[4:8]


def test_sorting_by_period_ascending_and_the_default(admin_browser, listed):
    _, made = listed
    ids, _ = _walk(admin_browser, "/invoices/?per_page=3&sort=period")
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.period_start, i.id))]
    ids, _ = _walk(admin_browser, "/invoices/?per_page=3")
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.period_start, i.id), reverse=True)]


def test_a_filter_keeps_the_sort(admin_browser, listed):
    tenants, made = listed
    html = admin_browser.get("/invoices/?sort=total&tenant=globex", htmx=True).get_data(as_text=True)
    assert 'name="sort" value="total" form="invoice-filters"' in html
    globex = [i for i in made if i.tenant_id == tenants["globex"].id]
    assert _ids(html) == [i.id for i in sorted(globex, key=lambda i: (i.total_cents, i.id))]


def test_totals_of_a_filtered_set_to_the_cent(admin_browser, listed):
    # acme only: 6 invoices; total excludes the void one: 4400+2000+4400+7000+300 = 18100;
    # due: issued 4400 + (2000-500) + (7000-1) + 300 = 13199 (paid and void owe nothing)
    text = _summary(admin_browser, admin_browser.get("/invoices/?tenant=acme").get_data(as_text=True))
    assert text == "6 invoices · $181.00 AUD total · $131.99 AUD due · 1–6 of 6, page 1 of 1"
    # everything, AUD and USD apart: globex adds 2000 + 9900 + 100 + the 50 draft, and owes 10000
    text = _summary(admin_browser, "/invoices/summary?per_page=4")
    assert text == ("11 invoices · $301.50 AUD total · $231.99 AUD due · US$12.34 total · "
                    "US$12.34 due · 1–4 of 11, page 1 of 3")
    # the status filter: issued only
    text = _summary(admin_browser, "/invoices/summary?status=issued&tenant=acme")
    assert text.startswith("4 invoices · $137.00 AUD total · $131.99 AUD due")


def test_page_position_on_later_pages_and_going_back(admin_browser, listed):
    _, pages = _walk(admin_browser, "/invoices/?per_page=4&sort=-total")
    assert _summary(admin_browser, pages[1]).endswith("5–8 of 11, page 2 of 3")
    assert _summary(admin_browser, pages[2]).endswith("9–11 of 11, page 3 of 3")
    back = admin_browser.get(_link(pages[2], "← Previous"), htmx=True).get_data(as_text=True)
    assert _summary(admin_browser, back).endswith("5–8 of 11, page 2 of 3")
    assert _summary(admin_browser, "/invoices/summary?per_page=4&page=3").endswith(
        "9–11 of 11, page 3 of 3")
    assert _summary(admin_browser, "/invoices/summary?tenant=nobody") == "0 invoices"


def test_a_tenant_sees_only_its_own_rows_and_totals(browser, listed):
    tenants, made = listed
    make_user(role=TENANT_ADMIN, tenant=tenants["globex"], email="g@example.com")
    browser.login("g@example.com")
    html = browser.get("/invoices/?sort=-total&tenant=acme", htmx=True).get_data(as_text=True)
    visible = [i for i in made if i.tenant_id == tenants["globex"].id and i.status != "draft"]
    assert _ids(html) == [i.id for i in sorted(visible, key=lambda i: (i.total_cents, i.id),
                                                reverse=True)]
    # 2000 paid + 9900 + 100 issued; the draft is not theirs to see
    assert _summary(browser, html) == ("3 invoices · $120.00 AUD total · $100.00 AUD due · "
                                       "1–3 of 3, page 1 of 1")


HOSTILE_SORTS = ["bogus", "-", "--total", "total ", "tenant_id", "id; drop table invoices",
                 "\u0000", "x" * 5000, "TOTAL", "-period,total"]


@pytest.mark.parametrize("sort", HOSTILE_SORTS)
def test_a_hostile_sort_is_a_422(admin_browser, api_as, sort):
    for path in ("/invoices/", "/invoices/summary", "/credit-notes/", "/credit-notes/summary"):
        r = admin_browser.get(path, query_string={"sort": sort})
        assert r.status_code in (400, 422), (path, r.status_code)
    api = api_as(make_user(email="lists-api@example.com"))
    for path in ("/api/v1/invoices", "/api/v1/credit-notes"):
        assert api.get(path, query_string={"sort": sort}).status_code in (400, 422)


def test_a_cursor_of_another_order_is_a_422(admin_browser, listed):
    html = admin_browser.get("/invoices/?per_page=2&sort=-total", htmx=True).get_data(as_text=True)
    nxt = _link(html, "Next →")
    cursor = re.search(r"cursor=([^&]+)", nxt).group(1)
    assert cursor.startswith("o.-total.")
    for other in ("total", "-period", "period"):
        r = admin_browser.get("/invoices/", query_string={"sort": other, "cursor": cursor})
        assert r.status_code == 422 and "is not a cursor of this list" in r.get_data(as_text=True)
    for bad in ("o.-total.x.1", "o.-total.1", "o.-total.1.2.3", "o.total.5.5"):
        r = admin_browser.get("/invoices/summary", query_string={"sort": "-total", "cursor": bad})
        assert r.status_code == 422


def test_the_api_sorts_and_pages_by_total(api_as, listed):
    _, made = listed
    api = api_as(make_user(email="lists-api@example.com"))
    path, ids = "/api/v1/invoices?sort=total&per_page=4", []
    while path:
        body = api.get(path).get_json()
        ids += [i["id"] for i in body["invoices"]]
        path = body["next"]
        assert path is None or "sort=total" in path
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.total_cents, i.id))]


def test_search_by_invoice_number(admin_browser, listed):
    _, made = listed
    html = admin_browser.get("/invoices/?number=ls-000003", htmx=True).get_data(as_text=True)
    assert _ids(html) == [made[2].id]
    html = admin_browser.get("/invoices/?number=LS-00001&sort=total", htmx=True).get_data(as_text=True)
    assert _ids(html) == [made[10].id]  # LS-000011; LS-000010 is a draft, with no number
    assert admin_browser.get("/invoices/?number=" + "9" * 33).status_code == 422


def test_credit_notes_sort_by_total_with_totals(admin_browser, listed):
    tenants, made = listed
    notes = []
    for n, cents in enumerate((500, 120, 500, 80), start=1):
        notes.append(CreditNote(
            number=f"CN-LS-{n}", invoice_id=made[0].id, tenant_id=tenants["acme"].id,
            reason="test", issued_on=date(2026, 3, n), currency="AUD", subtotal_cents=cents,
            tax_cents=0, total_cents=cents, against_invoice_cents=cents, to_balance_cents=0,
            refund_cents=0))
    db.session.add_all(notes)
    db.session.flush()
    page = admin_browser.get("/credit-notes/?per_page=3", htmx=True).get_data(as_text=True)
    url, aria = _header(page, "Total")
    assert aria is None
    ids, seen = [], []
    while url:
        html = admin_browser.get(url, htmx=True).get_data(as_text=True)
        seen.append(html)
        ids += [int(i) for i in re.findall(r'<td><a href="/credit-notes/(\d+)">', html)]
        url = _link(html, "Next →")
    assert ids == [n.id for n in sorted(notes, key=lambda n: (n.total_cents, n.id), reverse=True)]
    assert _summary(admin_browser, seen[1]) == ("4 credit notes · $12.00 AUD credited · "
                                                "4–4 of 4, page 2 of 2")


def _cells(html: str, n: int) -> list[str]:
    """The text of column ``n`` (from 1) of each body row."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[n - 1])
                     .split()) for r in rows]


def _column_of_every_page(browser, url: str, n: int, link: str) -> list[str]:
    """Column ``n`` of every page, from ``url`` following the ``link`` ("Older →") to the end."""
    seen = []
    while url:
        html = browser.get(url, htmx=True).get_data(as_text=True)
        seen += _cells(html, n)
        url = _link(html, link)
    return seen


def test_users_search_by_email_and_sort_both_ways(admin_browser, listed):
    tenants, _ = listed
    for i in range(5):
        make_user(role=TENANT_ADMIN, tenant=tenants["acme"], email=f"u{i}@acme.example")
    make_user(role=TENANT_ADMIN, tenant=tenants["globex"], email="boss@globex.example")
    everyone = sorted([ADMIN, "boss@globex.example"] + [f"u{i}@acme.example" for i in range(5)])
    # A to Z by default, across three pages
    assert _column_of_every_page(admin_browser, "/users/?per_page=3", 1, "Older →") == everyone
    down, aria = _header(admin_browser.get("/users/", htmx=True).get_data(as_text=True), "Email")
    assert aria == "ascending" and "sort=-email" in down
    assert _column_of_every_page(admin_browser, down + "&per_page=3", 1, "Next →") == everyone[::-1]
    html = admin_browser.get("/users/?email=ACME.ex", htmx=True).get_data(as_text=True)
    assert _cells(html, 1) == [f"u{i}@acme.example" for i in range(5)]
    assert _summary(admin_browser, "/users/summary?email=acme.ex&per_page=2&page=2") == (
        "5 users · 3–4 of 5, page 2 of 3")
    assert _summary(admin_browser, "/users/summary?email=%25") == "0 users"  # a literal %


def test_a_tenant_admin_counts_only_its_own_users(browser, listed):
    tenants, _ = listed
    make_user(role=TENANT_ADMIN, tenant=tenants["globex"], email="boss@globex.example")
    make_user(role=TENANT_ADMIN, tenant=tenants["acme"], email="a@acme.example")
    browser.login("boss@globex.example")
    html = browser.get("/users/?email=example", htmx=True).get_data(as_text=True)
    assert _cells(html, 1) == ["boss@globex.example"]
    assert _summary(browser, html) == "1 user · 1–1 of 1, page 1 of 1"


def test_tenants_search_and_sort(admin_browser, listed):
    html = admin_browser.get("/tenants/", htmx=True).get_data(as_text=True)
    assert _cells(html, 1) == ["Acme", "Globex", "Yankee"]
    url, aria = _header(html, "Slug")
    assert aria is None and "sort=slug" in url
    down, _ = _header(admin_browser.get(url, htmx=True).get_data(as_text=True), "Slug")
    assert _cells(admin_browser.get(down, htmx=True).get_data(as_text=True), 2) == [
        "yankee", "globex", "acme"]
    assert _cells(admin_browser.get("/tenants/?q=lob", htmx=True).get_data(as_text=True), 1) == [
        "Globex"]
    assert _summary(admin_browser, "/tenants/summary?q=e") == "3 tenants · 1–3 of 3, page 1 of 1"
    assert admin_browser.get("/tenants/?sort=abn").status_code == 422


def test_inventory_sorts_by_name_both_ways_and_searches(admin_browser, listed):
    from datetime import datetime, timezone

    from portal.models.provider import ProviderResource

    seen_at = datetime(2026, 5, 1, tzinfo=timezone.utc)
    names = ["web-b", "Web-a", "db-1", "web-c", "cache"]
    db.session.add_all([ProviderResource(
        provider="demo", kind="volume" if n.startswith("db") else "droplet", provider_id=f"p{i}",
        name=n, region="syd1", size="s-1", status="active", tags=[], recorded_size="s-1",
        last_seen_at=seen_at) for i, n in enumerate(names)])
    db.session.flush()
    ordered = db.session.execute(
        db.select(ProviderResource.name).order_by(ProviderResource.name, ProviderResource.id)
    ).scalars().all()  # the database's collation decides where "Web-a" sorts
    assert _column_of_every_page(
        admin_browser, "/provider/inventory?per_page=2", 2, "Older →") == ordered
    down, aria = _header(admin_browser.get("/provider/inventory", htmx=True).get_data(as_text=True),
                         "Name")
    assert aria == "ascending"
    assert _column_of_every_page(admin_browser, down + "&per_page=2", 2, "Next →") == ordered[::-1]
    html = admin_browser.get("/provider/inventory?q=WEB&sort=name", htmx=True).get_data(as_text=True)
    assert sorted(_cells(html, 2)) == sorted(["web-b", "Web-a", "web-c"])
    assert _summary(admin_browser, "/provider/inventory/summary?q=web&per_page=2") == (
        "3 resources · 1–2 of 3, page 1 of 2")


def test_a_total_beyond_an_int_key_and_a_negative_one_still_page(admin_browser, listed):
    tenants, made = listed
    for invoice, cents in ((made[0], 2**40), (made[1], -700)):  # BIGINT; a negative adjustment
        invoice.subtotal_cents = invoice.total_cents = cents
    db.session.flush()
    ids, _ = _walk(admin_browser, "/invoices/?per_page=1&sort=-total")
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.total_cents, i.id), reverse=True)]
    ids, _ = _walk(admin_browser, "/invoices/?per_page=2&sort=total")
    assert ids == [i.id for i in sorted(made, key=lambda i: (i.total_cents, i.id))]
    for bad in ("o.-total.99999999999999999999.1", "o.-total.--5.1", "o.-total.5.-1"):
        r = admin_browser.get("/invoices/", query_string={"sort": "-total", "cursor": bad})
        assert r.status_code == 422, bad
