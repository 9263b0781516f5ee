import io
import json
import re
from datetime import date, datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.models import DriftItem, ProviderBalance, ProviderCostLine, ProviderResource, SyncRun
from portal.services import provider_sync, rollup
from tests.conftest import run_worker
from tests.factories import make_deployment, make_tenant, make_user

T1 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
T2 = datetime(2026, 5, 2, 10, 0, tzinfo=timezone.utc)
PAGES = ("/provider/inventory", "/provider/drift", "/provider/costs", "/provider/dashboard")
BANNER = "Demo provider:</strong> sample data, no DigitalOcean token is configured"
HEADER = "product,group_description,description,hours,start,end,USD,project_name,category\n"


@pytest.fixture
def admin(database):
    return make_user(email="admin@example.com")


@pytest.fixture
def world(database, admin):
    """acme / llm with a droplet, an untagged droplet, and drift on both; synced OK at T1."""
    llm = make_deployment(make_tenant("acme"), name="llm")
    node = ProviderResource(provider="demo", kind="droplet", provider_id="500010", name="llm-node0",
                            region="sgp1", size="s-2vcpu-4gb", status="active",
                            tags=[f"arcadia:deployment:{llm.id}"], deployment_id=llm.id,
                            recorded_size="s-2vcpu-4gb", last_seen_at=T1)
    stray = ProviderResource(provider="demo", kind="droplet", provider_id="599999", name="scratch-box",
                             region="syd1", size="s-1vcpu-1gb", status="active", tags=[],
                             recorded_size="s-1vcpu-1gb", last_seen_at=T1)
    database.session.add_all([node, stray])
    database.session.flush()
    region = DriftItem(kind="region_changed", resource_id=node.id, provider_id="500010",
                       deployment_id=llm.id, observed={"region": "sgp1"},
                       recorded={"region": "syd1"}, opened_at=T1)
    untagged = DriftItem(kind="untagged", resource_id=stray.id, provider_id="599999",
                         observed={"tags": []}, recorded={}, opened_at=T1)
    database.session.add_all([
        region, untagged,
        SyncRun(provider="demo", part="inventory", started_at=T1, finished_at=T1, ok=True, counts={}),
        SyncRun(provider="demo", part="billing", started_at=T1, finished_at=T1, ok=True, counts={}),
        ProviderBalance(provider="demo", currency="USD", month_to_date_usage_cents=12345,
                        month_to_date_balance_cents=12000, account_balance_cents=-500,
                        generated_at=T1, synced_at=T1),
        ProviderCostLine(source="api", invoice_ref="inv-1", line_no=1, period=date(2026, 4, 1),
                         product="Droplets", provider_id="500010", description="llm-node0",
                         amount_cents=2400, currency="USD", deployment_id=llm.id),
        ProviderCostLine(source="api", invoice_ref="inv-1", line_no=2, period=date(2026, 4, 1),
                         product="Droplets", provider_id="599999", description="scratch-box",
                         amount_cents=600, currency="USD"),
    ])
    database.session.commit()
    return {"llm": llm, "region": region, "untagged": untagged}


def text(response) -> str:
    return response.get_data(as_text=True)


def test_every_page_shows_the_demo_synced_data(browser, database, admin):
    llm = make_deployment(make_tenant("acme"), name="llm")
    report = provider_sync.sync()
    assert report.provider == "demo" and report.any_ok
    browser.login("admin@example.com")
    pages = {url: browser.get(url) for url in PAGES}
    for url, r in pages.items():
        assert r.status_code == 200, url
        html = text(r)
        assert BANNER in html, url
        assert 'aria-current="page"' in html and "Cost vs revenue</a>" in html
        assert "Inventory last synced OK at" in html and "Billing last synced OK at" in html
        assert 'hx-post="/provider/sync"' in html
    inventory = text(pages["/provider/inventory"])
    assert f"dep{llm.id}-node0" in inventory and "scratch-box" in inventory
    assert f'<a href="/deployments/{llm.id}">acme / llm</a>' in inventory and "unattributed" in inventory
    drift = text(pages["/provider/drift"])
    assert "Untagged resource" in drift and "599999" in drift
    assert 'hx-post="/provider/drift/' in drift and 'hx-target="closest tr"' in drift
    costs = text(pages["/provider/costs"])
    assert "Month-to-date usage" in costs and "US$" in costs
    assert f"dep{llm.id}-node0" in costs  # the demo's invoice for last month
    assert browser.get("/provider/").headers["Location"].endswith("/provider/inventory")


def test_tenant_users_are_refused_every_page_and_action(browser, world):
    make_user("tenant_admin", tenant=world["llm"].tenant, email="ta@example.com")
    browser.login("ta@example.com")
    for url in PAGES + ("/provider/", "/provider/sync/some-job"):
        assert browser.get(url).status_code == 403, url
    item = world["untagged"].id
    upload = lambda: {"data": {"period": "2026-04", "file": (io.BytesIO(HEADER.encode()), "x.csv")},  # noqa: E731
                      "content_type": "multipart/form-data"}
    for url, kwargs in [
        ("/provider/sync", dict),
        (f"/provider/drift/{item}/accept", dict),
        ("/provider/costs/import", upload),
    ]:
        assert browser.post(url, **kwargs()).status_code == 403, url
        assert browser.post(url, htmx=True, **kwargs()).status_code == 403, url
    assert browser.get("/").status_code == 200
    assert 'href="/provider/"' not in text(browser.get("/"))


def test_inventory_lists_resources_with_their_deployment(browser, world):
    browser.login("admin@example.com")
    html = text(browser.get("/provider/inventory"))
    row = re.search(r"<tr>\s*<td>droplet</td>\s*<td class=\"name\">llm-node0</td>.*?</tr>", html, re.S).group(0)
    for cell in ("500010", "sgp1", "s-2vcpu-4gb", "active", f"arcadia:deployment:{world['llm'].id}",
                 f'<a href="/deployments/{world["llm"].id}">acme / llm</a>', "2026-05-01 10:00 UTC"):
        assert cell in row
    assert "Inventory last synced OK at 2026-05-01 10:00 UTC." in html


def test_accepting_drift_through_htmx_swaps_the_row(browser, world, database):
    browser.login("admin@example.com")
    html = text(browser.get("/provider/drift"))
    assert "Region changed" in html and "Region <strong>sgp1</strong>" in html
    assert "Region syd1 (the deployment's)" in html and "Untagged resource" in html
    url = f"/provider/drift/{world['untagged'].id}/accept"
    first = browser.post(url, htmx=True)
    row = text(first)
    assert first.status_code == 200 and "<html" not in row
    assert row.lstrip().startswith(f'<tr id="drift-{world["untagged"].id}"')
    assert "Accepted by admin@example.com" in row and "hx-post" not in row
    again = browser.post(url, htmx=True)  # idempotent
    assert again.status_code == 200 and "Accepted by admin@example.com" in text(again)
    database.session.expire_all()
    assert json.loads(first.headers["HX-Trigger"]) == {
        "portal:status": f"Drift item {world['untagged'].id} accepted."}
    # The Open and Recently closed tables fetch themselves again on this event.
    assert json.loads(first.headers["HX-Trigger-After-Swap"]) == {"drift-changed": True}
    assert database.session.get(DriftItem, world["untagged"].id).status == "accepted"
    # and the page lists it among the recently closed
    page = text(browser.get("/provider/drift"))
    closed = page.split("Recently closed", 1)[1]
    assert "scratch-box" in closed and "Accepted by admin@example.com" in closed


def test_accepting_without_htmx_redirects_to_the_drift_page(browser, world, database):
    browser.login("admin@example.com")
    r = browser.post(f"/provider/drift/{world['region'].id}/accept")
    assert r.status_code == 303 and r.headers["Location"].endswith("/provider/drift")
    database.session.expire_all()
    assert database.session.get(type(world["llm"]), world["llm"].id).region == "sgp1"
    assert browser.post("/provider/drift/999999/accept", htmx=True).status_code == 404


def test_accepting_resolved_drift_shows_the_conflict_in_the_row(browser, world, database):
    item = database.session.get(DriftItem, world["region"].id)
    item.status, item.closed_at = "resolved", T2
    database.session.commit()
    browser.login("admin@example.com")
    r = browser.post(f"/provider/drift/{item.id}/accept", htmx=True)
    html = text(r)
    assert r.status_code == 200 and html.lstrip().startswith("<tr")
    assert "resolved itself at the last sync; nothing to accept" in html
    assert "Resolved by a sync" in html and "Accepted by" not in html


def test_a_failed_sync_warns_and_keeps_the_last_good_data(browser, world, database):
    database.session.add_all([
        SyncRun(provider="digitalocean", part="inventory", started_at=T2, finished_at=T2, ok=False,
                error="timeout talking to DigitalOcean"),
        SyncRun(provider="digitalocean", part="billing", started_at=T2, finished_at=T2, ok=False,
                error="timeout talking to DigitalOcean"),
    ])
    database.session.commit()
    browser.login("admin@example.com")
    for url in PAGES:
        r = browser.get(url)
        html = text(r)
        assert r.status_code == 200, url
        assert ("The last billing sync failed at 2026-05-02 10:00 UTC: timeout talking to DigitalOcean. "
                "Showing the data from 2026-05-01 10:00 UTC.") in " ".join(html.split()), url
        assert "The last inventory sync failed at 2026-05-02 10:00 UTC" in html
    assert "llm-node0" in text(browser.get("/provider/inventory"))
    costs = text(browser.get("/provider/costs?period=2026-04"))
    assert "US$123.45" in costs and "US$24.00" in costs


def test_costs_show_the_balance_and_the_period_lines(browser, world):
    browser.login("admin@example.com")
    html = text(browser.get("/provider/costs?period=2026-04"))
    assert "Cost lines for April 2026" in html
    assert "US$123.45" in html and "US$120.00" in html and "-US$5.00" in html
    assert "2026-05-01 10:00 UTC" in html
    assert f'<a href="/deployments/{world["llm"].id}">acme / llm</a>' in html
    assert 'data-total="USD">US$30.00<' in html and "Total (2 lines)" in html
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert "No cost lines for this period." in text(browser.get("/provider/costs?period=2026-03"))
    bad = browser.get("/provider/costs?period=April")
    assert bad.status_code == 422 and "must be a month as YYYY-MM" in text(bad)


def test_csv_import_through_the_form(browser, world, database):
    browser.login("admin@example.com")
    content = (HEADER + "Droplets,,llm-node0,744,,,$24.00,Arcadia,iaas\n"
                        "Spaces,,bucket,,,,5.005,Arcadia,storage\n").encode()
    r = browser.post("/provider/costs/import", content_type="multipart/form-data",
                     data={"period": "2026-03", "file": (io.BytesIO(content), "invoice.csv")})
    assert r.status_code == 303 and r.headers["Location"].endswith("/provider/costs?period=2026-03")
    page = text(browser.get(r.headers["Location"]))
    assert "Imported 2 lines from invoice.csv for March 2026" in page
    assert "US$24.00" in page and "US$5.01" in page and "CSV" in page
    lines = database.session.scalars(select(ProviderCostLine).where(
        ProviderCostLine.period == date(2026, 3, 1)).order_by(ProviderCostLine.line_no)).all()
    assert [(l.amount_cents, l.deployment_id) for l in lines] == [(2400, world["llm"].id), (501, None)]


def test_csv_import_errors_come_back_inline(browser, world, database):
    browser.login("admin@example.com")
    bad = (HEADER + "Droplets,,a,,,,1.00,,\nDroplets,,b,,,,abc,,\n").encode()
    r = browser.post("/provider/costs/import", content_type="multipart/form-data",
                     data={"period": "2026-03", "file": (io.BytesIO(bad), "bad.csv")})
    assert r.status_code == 422
    assert "row 2: amount &#39;abc&#39; is not a number" in text(r)
    assert BANNER in text(r)
    r = browser.post("/provider/costs/import", content_type="multipart/form-data", data={"period": "2026-03"})
    assert r.status_code == 422 and "choose the invoice CSV to import" in text(r)
    r = browser.post("/provider/costs/import", content_type="multipart/form-data",
                     data={"period": "March", "file": (io.BytesIO(HEADER.encode()), "x.csv")})
    assert r.status_code == 422 and "must be a month as YYYY-MM" in text(r)
    assert database.session.scalars(select(ProviderCostLine).where(
        ProviderCostLine.period == date(2026, 3, 1))).all() == []


def test_dashboard_shows_exact_cost_against_revenue(browser, catalog, admin):
    tenant = make_tenant("acme")
    llm = make_deployment(tenant, name="llm", plan_code="studio", starts_on=date(2026, 3, 1))
    rollup.roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    catalog.session.add(ProviderCostLine(
        source="api", invoice_ref="inv-1", line_no=1, period=date(2026, 4, 1), product="Droplets",
        provider_id="500010", description="llm-node0", amount_cents=2400, currency="USD",
        deployment_id=llm.id))
    catalog.session.commit()
    browser.login("admin@example.com")
    r = browser.get("/provider/dashboard?period=2026-04")
    html = text(r)
    assert r.status_code == 200 and BANNER in html
    totals = dict(re.findall(r'data-total="([\w-]+)">([^<]+)<', html))
    assert totals == {"revenue": "$50.00 AUD", "cost": "$37.20 AUD", "margin": "$12.80 AUD",
                      "margin-percent": "25.6%"}
    assert "converted from USD at 1.55" in html
    by_deployment = html.split("By deployment", 1)[1].split("By kind", 1)[0]
    assert f'<a href="/deployments/{llm.id}">acme / llm</a>' in by_deployment
    assert "$50.00 AUD" in by_deployment and "$37.20 AUD" in by_deployment
    by_kind = html.split("By kind", 1)[1]
    assert "Plan fees (cover every kind" in by_kind and "Droplet hours" in by_kind
    assert "Margin %" not in by_kind  # revenue and cost by kind, the margin by deployment
    # the chart: inline SVG, one pair of bars for the one deployment, accessible
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count("<rect") == 2 and 'role="img"' in svg
    assert 'aria-label="Revenue and cost by deployment, April 2026"' in svg
    assert "acme / llm" in svg and "$50.00" in svg and "$37.20" in svg
    # …and the same chart laid out for phones, which the stylesheet shows below 600 px.
    narrow = html[html.index('class="bar-chart bar-chart-narrow"'):]
    narrow = narrow[:narrow.index("</svg>")]
    assert narrow.count("<rect") == 2 and 'viewBox="0 0 360 ' in narrow and "acme / llm" in narrow
    assert "<script" not in html.split("<main", 1)[1]
    assert 'hx-get="/provider/dashboard"' in html and 'hx-target="#dashboard-body"' in html
    assert 'hx-push-url="true"' in html


def test_dashboard_period_change_returns_only_the_partial(browser, world):
    browser.login("admin@example.com")
    r = browser.get("/provider/dashboard?period=2026-04", htmx=True)
    html = text(r)
    assert r.status_code == 200 and "HX-Request" in r.headers.get("Vary", "")
    assert html.lstrip().startswith('<div id="dashboard-body"') and "<html" not in html
    assert "Demo provider" not in html and "subnav" not in html
    # cost only: 2400 + 600 USD cents at 1.55, 930 of it unattributed
    assert 'data-total="cost">$46.50 AUD<' in html and 'data-total="margin">-$46.50 AUD<' in html
    assert "unattributed" in html and "No provider cost" not in html
    empty = text(browser.get("/provider/dashboard?period=2026-01", htmx=True))
    assert "No data for this period" in empty and "<rect" not in empty
    bad = browser.get("/provider/dashboard?period=2026-13", htmx=True)
    assert bad.status_code == 422 and "must be a month as YYYY-MM" in text(bad)


def test_sync_now_runs_inline_without_redis(browser, database, admin):
    make_deployment(make_tenant("acme"), name="llm")
    browser.login("admin@example.com")
    r = browser.post("/provider/sync", htmx=True, headers={"HX-Current-URL": "http://localhost/provider/drift"})
    html = text(r)
    assert r.status_code == 200 and "<html" not in html
    assert "Synced from the demo provider" in html and "Inventory: ok" in html and "Billing: ok" in html
    assert "Reload" not in html  # the page's tables refresh themselves: nothing says reload
    assert json.loads(r.headers["HX-Trigger"]) == {
        "portal:status": "Synced from the demo provider: inventory ok, billing ok."}
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"provider-synced": True}
    assert "Untagged resource" in text(browser.get("/provider/drift"))
    plain = browser.post("/provider/sync")
    assert plain.status_code == 303


def test_sync_now_on_the_worker_polls_until_done(app, browser, database, admin, redis_queue):
    make_deployment(make_tenant("acme"), name="llm")
    browser.login("admin@example.com")
    html = text(browser.post("/provider/sync", htmx=True))
    assert 'hx-trigger="every 1s"' in html and "Sync queued" in html
    poll_url = re.search(r'hx-get="([^"]+)"', html).group(1)
    assert poll_url.startswith("/provider/sync/")
    assert run_worker(app) == 1
    done = text(browser.get(poll_url, htmx=True))
    assert "every 1s" not in done and "Synced from the demo provider" in done
    gone = browser.get("/provider/sync/no-such-job", htmx=True)
    assert gone.status_code == 200 and "no longer known" in text(gone)


def test_by_kind_shows_revenue_and_cost_without_a_margin_and_a_month_in_progress_says_so(browser, world):
    browser.login("admin@example.com")
    html = text(browser.get("/provider/dashboard?period=2026-04"))
    by_kind = html.split("By kind", 1)[1]
    assert "Margin" not in by_kind.split("</table>", 1)[0] and "Provider cost" in by_kind
    assert "without a margin per kind" in by_kind and "still in progress" not in html
    with freeze_time("2026-04-20 12:00:00"):
        browser.login("admin@example.com")
        current = text(browser.get("/provider/dashboard?period=2026-04"))
    assert "April 2026 is still in progress" in current
