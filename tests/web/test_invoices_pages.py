import re
from datetime import date

import pytest

from portal.services import invoices, rollup
from tests.conftest import run_worker
from tests.factories import make_deployment, make_tenant, make_user


@pytest.fixture
def world(catalog, database):
    acme = make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd")
    globex = make_tenant("globex", "Globex")
    for t in (acme, globex):
        make_deployment(t, name=f"{t.slug}-llm", plan_code="studio", addons=["storage_50gb"],
                        starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    rollup.roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    rows, _ = invoices.list_invoices(admin)
    ids = {(i.tenant.slug, i.period_start.month): i.id for i in rows}
    invoices.transition_invoice(admin, ids[("acme", 3)], {"to": "issued"})
    return {"acme": acme, "globex": globex, "admin": admin, "ids": ids}


def test_admin_lists_and_filters_all_tenants(browser, world):
    browser.login("admin@example.com")
    html = browser.get("/invoices/").get_data(as_text=True)
    assert html.count('class="badge badge-draft"') == 3 and "ARC-000001" in html
    assert 'hx-post="/invoices/rollup"' in html
    # The tenant column is the admin's only (the rows decide it once per list).
    assert '<th scope="col">Tenant</th>' in html and html.count("<td>Acme AI</td>") == 2
    fragment = browser.get("/invoices/?tenant=globex&period=2026-04", htmx=True)
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text
    assert text.count("<tr>") == 2  # header + one invoice
    assert "Globex" in text and "April 2026" in text and "$63.25 AUD" in text
    bad = browser.get("/invoices/?period=March", htmx=True)
    assert bad.status_code == 422 and "must be a month as YYYY-MM" in bad.get_data(as_text=True)


def test_tenant_sees_only_its_issued_invoices(browser, world):
    make_user("tenant_viewer", tenant=world["acme"], email="vic@example.com")
    browser.login("vic@example.com")
    html = browser.get("/invoices/").get_data(as_text=True)
    assert "ARC-000001" in html and "Draft" not in html and "Globex" not in html
    assert 'hx-post="/invoices/rollup"' not in html
    assert '<th scope="col">Tenant</th>' not in html and "<td>Acme AI</td>" not in html
    ids = world["ids"]
    assert browser.get(f"/invoices/{ids[('acme', 3)]}").status_code == 200
    for hidden in (ids[("acme", 4)], ids[("globex", 3)]):
        assert browser.get(f"/invoices/{hidden}").status_code == 404
        assert browser.get(f"/invoices/{hidden}/pdf").status_code == 404
    r = browser.get(f"/invoices/{ids[('acme', 3)]}/pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert browser.post(f"/invoices/{ids[('acme', 3)]}/transition", data={"to": "paid"}).status_code == 403


def test_detail_groups_lines_by_deployment_and_shows_totals(browser, world):
    browser.login("admin@example.com")
    html = browser.get(f"/invoices/{world['ids'][('acme', 4)]}").get_data(as_text=True)
    assert "acme-llm" in html and "line-tax" not in html  # tax shows once, in the totals
    totals = dict(re.findall(r'data-total="(\w+)">([^<]+)<', html))
    assert totals == {"subtotal": "$57.50 AUD", "tax": "$5.75 AUD", "total": "$63.25 AUD"}
    assert "DRAFT preview (PDF)" in html
    assert ">Issue</button>" in html and ">Void</button>" in html and "Mark paid" not in html


def test_issue_through_htmx_swaps_the_header(browser, world):
    browser.login("admin@example.com")
    invoice_id = world["ids"][("globex", 3)]
    r = browser.post(f"/invoices/{invoice_id}/transition", htmx=True, data={"to": "issued"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="invoice-header"')
    assert "Invoice ARC-000002" in html and "Mark paid" in html
    import json

    assert json.loads(r.headers["HX-Trigger"]) == {"portal:status": "Invoice ARC-000002 issued."}
    # Payments, credit notes and messages refresh themselves on the event, after the swap.
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"invoice-changed": True, "invoices-changed": True}
    r = browser.post(f"/invoices/{invoice_id}/transition", htmx=True, data={"to": "issued"})
    assert r.status_code == 200 and "HX-Trigger-After-Swap" not in r.headers  # nothing changed
    assert json.loads(r.headers["HX-Trigger"]) == {"portal:status": {
        "value": "invoice ARC-000002 is issued; it cannot become issued (allowed: paid, void)", "tone": "bad"}}
    assert "invoice ARC-000002 is issued; it cannot become issued (allowed: paid, void)" in r.get_data(as_text=True)


def test_rollup_button_runs_inline_without_redis(browser, world):
    browser.login("admin@example.com")
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04"})
    assert r.status_code == 200
    assert "Rollup of 2026-04: 0 created, 2 skipped, 0 rebuilt." in r.get_data(as_text=True)
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "04/2026"})
    assert r.status_code == 422 and "must be a month as YYYY-MM" in r.get_data(as_text=True)


def test_rollup_progress_polls_until_the_worker_is_done(app, browser, world, redis_queue):
    browser.login("admin@example.com")
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-05"})
    html = r.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and "Rollup of 2026-05: queued" in html
    poll_url = re.search(r'hx-get="([^"]+)"', html).group(1)
    run_worker(app)
    done = browser.get(poll_url, htmx=True).get_data(as_text=True)
    assert "every 1s" not in done  # polling stops
    assert "Rollup of 2026-05: 2 created, 0 skipped, 0 rebuilt." in done


def test_detail_shows_the_period_as_calendar_days(browser, world):
    browser.login("admin@example.com")
    html = browser.get(f"/invoices/{world['ids'][('acme', 4)]}").get_data(as_text=True)
    assert "<dd>1 April 2026 – 30 April 2026</dd>" in html


def test_void_is_not_offered_once_money_is_against_an_invoice(browser, world, api_as):
    from tests.factories import make_user

    invoice_id = world["ids"][("acme", 3)]  # issued
    browser.login("admin@example.com")
    assert ">Void</button>" in browser.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    r = api_as(make_user()).post(f"/api/v1/invoices/{invoice_id}/payments", json={
        "amount_cents": 100, "paid_on": "2026-04-02", "method": "card"})
    assert r.status_code == 201, r.get_json()
    html = browser.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert ">Void</button>" not in html and "Mark paid" in html


def test_a_draft_that_went_out_of_date_says_so_and_rebuilds_from_its_page(browser, world):
    """Usage metered late into April leaves acme's April draft billing less than the month
    now comes to: its page says so (Issue would be refused), offers the forced rollup of the
    month, and after it the draft bills the late usage and the warning is gone."""
    from portal.services import usage as usage_svc

    browser.login("admin@example.com")
    url = f"/invoices/{world['ids'][('acme', 4)]}"
    assert "Out of date." not in browser.get(url).get_data(as_text=True)
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Deployment

    dep = db.session.scalar(select(Deployment).where(Deployment.tenant_id == world["acme"].id))
    usage_svc.ingest({"events": [{"event_id": "late-1", "deployment_id": dep.id,
                                  "resource_kind": "droplet_hours", "quantity": 1600,
                                  "occurred_at": "2026-04-30T23:00:00Z"}]})
    html = browser.get(url).get_data(as_text=True)
    from portal.models import Invoice
    assert "Out of date." in html and "Rebuild April 2026's drafts" in html
    assert 'name="period" value="2026-04"' in html and 'name="force" value="on"' in html
    assert ">Issue</button>" not in html and ">Void</button>" in html  # Issue would be refused
    r = browser.post("/invoices/rollup", htmx=True, data={"period": "2026-04", "force": "on"})
    assert "0 created, 0 skipped, 2 rebuilt" in r.get_data(as_text=True)
    html = browser.get(url).get_data(as_text=True)
    assert "Out of date." not in html and ">Issue</button>" in html
    assert "Droplet hours beyond the 1,488 hour allowance" in html  # 1600 - 1488 = 112 hours
    # A tenant user never sees the warning (nor drafts at all).
    make_user("tenant_viewer", tenant=world["acme"], email="vic@example.com")
    browser.post("/logout")
    browser.login("vic@example.com")
    assert browser.get(url).status_code == 404
