from datetime import date, datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from portal.models import Invoice, InvoiceLine
from tests.factories import hourly_events, make_deployment, make_tenant, make_user, pdf_text

APRIL_1 = datetime(2026, 4, 1, tzinfo=timezone.utc)
APRIL_LINES = [
    ("plan_base", None, 5000),
    ("addon", "spaces_gb", 750),
    ("overage", "droplet_hours", 672),
    ("tax", None, 642),
]


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user(email="admin@example.com"))


@pytest.fixture
def acme(database):
    return make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd",
                       billing_address="1 Test St\nSydney NSW 2000", abn="51 824 753 556")


def april_deployment(admin, tenant, name="llm"):
    """The contract's case: studio + storage_50gb, three droplets metered every hour of April."""
    dep = make_deployment(tenant, name=name, plan_code="studio", addons=["storage_50gb"],
                          starts_on=date(2026, 3, 1))
    events = []
    for droplet in range(3):
        events += hourly_events(dep.id, "droplet_hours", APRIL_1, 720, prefix=f"{name}-drop{droplet}")
    for i in range(0, len(events), 1000):
        assert admin.post("/api/v1/usage", json={"events": events[i:i + 1000]}).status_code == 200
    return dep


def line_summary(body):
    return [(l["kind"], l["resource_kind"], l["amount_cents"]) for l in body["lines"]]


def test_contract_april_figures_end_to_end(admin, acme):
    dep = april_deployment(admin, acme)
    assert admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()["usage"][
        "droplet_hours"] == 2160
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    assert r.status_code == 200
    assert r.get_json() == {"period": "2026-04", "created": 1, "skipped": 0, "rebuilt": 0,
                            "messages": []}
    (listed,) = admin.get("/api/v1/invoices").get_json()["invoices"]
    body = admin.get(f"/api/v1/invoices/{listed['id']}").get_json()
    assert line_summary(body) == APRIL_LINES
    assert all(l["deployment_id"] == dep.id for l in body["lines"][:3])
    assert body["lines"][3]["deployment_id"] is None
    assert (body["subtotal_cents"], body["tax_cents"], body["total_cents"]) == (6422, 642, 7064)
    assert {k: body[k] for k in ("number", "tenant_id", "period_start", "period_end", "currency",
                                 "status", "issued_on", "due_on")} == {
        "number": None, "tenant_id": acme.id, "period_start": "2026-04-01",
        "period_end": "2026-05-01", "currency": "AUD", "status": "draft", "issued_on": None,
        "due_on": None}

    # Re-run without force: skipped, nothing changes.
    again = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).get_json()
    assert (again["created"], again["skipped"], again["rebuilt"]) == (0, 1, 0)
    # With force the draft is rebuilt in place, identically.
    forced = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": True}).get_json()
    assert (forced["created"], forced["skipped"], forced["rebuilt"]) == (0, 0, 1)
    rebuilt = admin.get(f"/api/v1/invoices/{listed['id']}").get_json()
    # A rebuild writes new line rows (new ids) with the same content.
    assert [{**l, "id": None} for l in rebuilt["lines"]] == [{**l, "id": None} for l in body["lines"]]
    assert rebuilt["total_cents"] == 7064
    assert len(admin.get("/api/v1/invoices").get_json()["invoices"]) == 1


def test_force_picks_up_late_usage_in_a_draft_but_never_touches_an_issued_invoice(admin, acme, database):
    dep = april_deployment(admin, acme)
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    late = [{"event_id": "late-tokens", "deployment_id": dep.id, "resource_kind": "llm_tokens",
             "quantity": 1_250_000, "occurred_at": "2026-04-15T00:00:00Z"}]
    admin.post("/api/v1/usage", json={"events": late})
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": True})
    body = admin.get(f"/api/v1/invoices/{invoice_id}").get_json()
    assert ("overage", "llm_tokens", 250) in line_summary(body)
    assert body["total_cents"] == 7064 + 250 + 25

    assert admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"}).status_code == 200
    admin.post("/api/v1/usage", json={"events": [{**late[0], "event_id": "later", "quantity": 10_000}]})
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": True}).get_json()
    assert (r["created"], r["skipped"], r["rebuilt"]) == (0, 1, 0)
    assert r["messages"] == ["acme: invoice ARC-000001 is issued; issued and paid invoices are "
                             "never rebuilt (void it first to bill the period again)"]
    assert admin.get(f"/api/v1/invoices/{invoice_id}").get_json()["lines"] == body["lines"]


def test_proration_when_a_subscription_starts_and_another_ends_in_the_period(admin, acme):
    make_deployment(acme, name="new", plan_code="studio", starts_on=date(2026, 4, 11))
    make_deployment(acme, name="gone", plan_code="studio", addons=["storage_50gb"],
                    starts_on=date(2026, 1, 1), ends_on=date(2026, 4, 10), status="decommissioned")
    make_deployment(acme, name="later", plan_code="studio", starts_on=date(2026, 5, 2))
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    body = admin.get(f"/api/v1/invoices/{invoice_id}").get_json()
    # new: 5000 × 20/30 = 3333.33 → 3333; gone: 5000 × 10/30 → 1667, 750 × 10/30 → 250
    assert sorted(l["amount_cents"] for l in body["lines"] if l["kind"] != "tax") == [250, 1667, 3333]
    assert (body["subtotal_cents"], body["tax_cents"], body["total_cents"]) == (5250, 525, 5775)


def test_no_invoice_for_tenants_with_nothing_billed(admin, acme):
    make_deployment(acme, status="requested")  # no subscription
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).get_json()
    assert (r["created"], r["skipped"]) == (0, 0)


@pytest.mark.parametrize("body, code", [
    ({"period": "2026-4"}, 422), ({}, 422), ({"period": "2026-04", "force": "yes"}, 422),
    ({"period": "2026-04", "dry_run": True}, 422),
])
def test_rollup_input(admin, body, code):
    r = admin.post("/api/v1/invoices/rollup", json=body)
    assert r.status_code == code


def test_invoice_lifecycle_and_gap_free_numbers(catalog, api_as, database):
    with freeze_time("2026-05-01 03:30:00"):
        admin = api_as(make_user())
        tenants = [make_tenant(f"t{i}") for i in range(3)]
        for t in tenants:
            make_deployment(t, plan_code="studio", starts_on=date(2026, 4, 1))
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
        ids = [i["id"] for i in admin.get("/api/v1/invoices").get_json()["invoices"]]
        ids.sort()
        # An invalid move consumes no number.
        r = admin.post(f"/api/v1/invoices/{ids[0]}/transition", json={"to": "paid"})
        assert r.status_code == 409
        assert r.get_json()["error"]["message"] == (
            "invoice %d is draft; it cannot become paid (allowed: issued, void)" % ids[0])
        issued = [admin.post(f"/api/v1/invoices/{i}/transition", json={"to": "issued"}).get_json()
                  for i in ids]
    assert [i["number"] for i in issued] == ["ARC-000001", "ARC-000002", "ARC-000003"]
    assert {(i["issued_on"], i["due_on"]) for i in issued} == {("2026-05-01", "2026-05-15")}
    paid = admin.post(f"/api/v1/invoices/{ids[0]}/transition", json={"to": "paid"})
    assert paid.status_code == 200 and paid.get_json()["status"] == "paid"
    for bad in ("issued", "void", "draft", "refunded", "paid"):
        r = admin.post(f"/api/v1/invoices/{ids[0]}/transition", json={"to": bad})
        assert r.status_code == 409, bad
    assert admin.post(f"/api/v1/invoices/{ids[1]}/transition", json={"to": "void"}).status_code == 200
    r = admin.post(f"/api/v1/invoices/{ids[1]}/transition", json={"to": "issued"})
    assert r.status_code == 409 and "void is final" in r.get_json()["error"]["message"]


def test_a_voided_invoice_is_rebuilt_by_a_new_rollup(admin, acme):
    april_deployment(admin, acme)
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    first = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    admin.post(f"/api/v1/invoices/{first}/transition", json={"to": "void"})
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).get_json()
    assert r["created"] == 1
    rows = admin.get("/api/v1/invoices?period=2026-04").get_json()["invoices"]
    assert sorted((i["status"], i["total_cents"]) for i in rows) == [("draft", 7064), ("void", 7064)]


def test_admin_filters(admin, acme):
    globex = make_tenant("globex")
    for t in (acme, globex):
        make_deployment(t, plan_code="studio", starts_on=date(2026, 3, 1))
    for period in ("2026-03", "2026-04"):
        admin.post("/api/v1/invoices/rollup", json={"period": period})
    def count(q):
        return len(admin.get(f"/api/v1/invoices{q}").get_json()["invoices"])
    assert count("") == 4
    assert count("?tenant=acme") == 2
    assert count("?period=2026-03") == 2
    assert count("?tenant=globex&period=2026-04&status=draft") == 1
    assert count("?status=issued") == 0
    r = admin.get("/api/v1/invoices?status=lost")
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {
        "status": "must be one of draft, issued, paid, void"}


def test_tenants_see_their_own_issued_invoices_never_drafts(catalog, api_as, acme):
    admin = api_as(make_user())
    globex = make_tenant("globex")
    for t in (acme, globex):
        make_deployment(t, plan_code="studio", starts_on=date(2026, 3, 1))
    for period in ("2026-03", "2026-04"):
        admin.post("/api/v1/invoices/rollup", json={"period": period})
    invoices = admin.get("/api/v1/invoices").get_json()["invoices"]
    by = {(i["tenant_id"], i["period_start"]): i["id"] for i in invoices}
    acme_march, acme_april = by[(acme.id, "2026-03-01")], by[(acme.id, "2026-04-01")]
    globex_march = by[(globex.id, "2026-03-01")]
    for invoice_id in (acme_march, globex_march):
        admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"})

    tenant = api_as(make_user("tenant_viewer", tenant=acme))
    listed = tenant.get("/api/v1/invoices").get_json()["invoices"]
    assert [i["id"] for i in listed] == [acme_march]
    assert tenant.get(f"/api/v1/invoices/{acme_march}").status_code == 200
    pdf = tenant.get(f"/api/v1/invoices/{acme_march}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="ARC-000001-2026-03.pdf"'
    # Its own draft, another tenant's issued invoice, and one that does not exist: all 404.
    for invoice_id in (acme_april, globex_march, 999999):
        for suffix in ("", "/pdf"):
            r = tenant.get(f"/api/v1/invoices/{invoice_id}{suffix}")
            assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
        assert tenant.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "paid"}).status_code == 404
    # Its own visible invoice: the role may not act.
    assert tenant.post(f"/api/v1/invoices/{acme_march}/transition", json={"to": "paid"}).status_code == 403
    # Filters cannot widen a tenant's view.
    assert tenant.get("/api/v1/invoices?tenant=globex").get_json()["invoices"] == listed
    assert tenant.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).status_code == 403


def test_pdf_text_holds_the_total_and_every_line(admin, acme):
    april_deployment(admin, acme)
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"})
    text = pdf_text(admin.get(f"/api/v1/invoices/{invoice_id}/pdf").data)
    for needle in ("Tax invoice", "ARC-000001", "Acme AI Pty Ltd", "50.00", "7.50", "6.72",
                   "64.22", "6.42", "70.64", "AUD"):
        assert needle in text, needle


def test_pagination(admin, database):
    for i in range(55):
        make_deployment(make_tenant(f"p{i:02d}"), plan_code="studio", starts_on=date(2026, 4, 1))
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    first = admin.get("/api/v1/invoices").get_json()
    second = admin.get(first["next"]).get_json()
    assert len(first["invoices"]) == 50 and first["next"].startswith("/api/v1/invoices?cursor=o.2026-04-01.")
    assert (len(second["invoices"]), second["next"]) == (5, None)
    assert not {i["id"] for i in first["invoices"]} & {i["id"] for i in second["invoices"]}
    # ?page= still answers, by offset, for callers written before cursors; its next is a cursor
    old = admin.get("/api/v1/invoices?page=2").get_json()
    assert (old["invoices"], old["next"]) == (second["invoices"], None)
    assert admin.get("/api/v1/invoices?page=0").status_code == 422
    assert admin.get("/api/v1/invoices?per_page=501").status_code == 422
    small = admin.get("/api/v1/invoices?per_page=20&page=3").get_json()
    assert (len(small["invoices"]), small["next"]) == (15, None)
    assert database.session.scalar(select(func.count()).select_from(InvoiceLine)) == 55 * 2
    assert database.session.scalar(select(func.count()).select_from(Invoice)) == 55


def test_a_draft_voided_before_issue_never_reaches_the_tenant(catalog, api_as, acme):
    admin = api_as(make_user())
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-03"})
    draft_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    assert admin.post(f"/api/v1/invoices/{draft_id}/transition", json={"to": "void"}).status_code == 200
    tenant = api_as(make_user("tenant_admin", tenant=acme))
    assert tenant.get("/api/v1/invoices").get_json()["invoices"] == []
    assert tenant.get(f"/api/v1/invoices/{draft_id}").status_code == 404
    assert tenant.get(f"/api/v1/invoices/{draft_id}/pdf").status_code == 404


def test_the_rollup_issues_what_it_creates_when_configured_so(app, catalog, api_as, acme, monkeypatch):
    monkeypatch.setitem(app.config, "ROLLUP_AUTO_ISSUE", True)
    admin = api_as(make_user())
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    with freeze_time("2026-05-01 03:00:00"):
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    (invoice,) = admin.get("/api/v1/invoices").get_json()["invoices"]
    assert (invoice["status"], invoice["number"], invoice["issued_on"], invoice["due_on"]) == (
        "issued", "ARC-000001", "2026-05-01", "2026-05-15")
    tenant = api_as(make_user("tenant_viewer", tenant=acme))
    assert [i["id"] for i in tenant.get("/api/v1/invoices").get_json()["invoices"]] == [invoice["id"]]


def test_a_month_that_has_not_ended_cannot_be_rolled_up(catalog, api_as, acme):
    admin = api_as(make_user())
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    with freeze_time("2026-04-30 23:59:00"):
        for period in ("2026-04", "2026-09"):
            r = admin.post("/api/v1/invoices/rollup", json={"period": period})
            assert r.status_code == 422
            assert r.get_json()["error"]["fields"] == {"period": f"{period} has not ended yet (UTC)"}
    with freeze_time("2026-05-01 00:00:00"):
        assert admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"}).get_json()["created"] == 1


def test_the_issued_pdf_keeps_the_parties_as_they_were(catalog, api_as, acme, database):
    from portal.services.accounts import update_tenant_profile

    admin_user = make_user()
    admin = api_as(admin_user)
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-03"})
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]
    admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"})
    update_tenant_profile(admin_user, acme.id, {"name": "Acme", "billing_name": "New Name Pty Ltd",
                                                "billing_address": "99 Elsewhere Rd", "abn": ""})
    admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "void"})
    text = pdf_text(admin.get(f"/api/v1/invoices/{invoice_id}/pdf").data)
    assert "VOID" in text and "Acme AI Pty Ltd" in text and "1 Test St" in text
    assert "New Name" not in text and "Elsewhere" not in text


def test_a_failed_render_does_not_fail_a_committed_issue(catalog, api_as, acme, monkeypatch):
    admin = api_as(make_user())
    make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
    admin.post("/api/v1/invoices/rollup", json={"period": "2026-03"})
    invoice_id = admin.get("/api/v1/invoices").get_json()["invoices"][0]["id"]

    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr("portal.services.invoices.enqueue", broken)
    r = admin.post(f"/api/v1/invoices/{invoice_id}/transition", json={"to": "issued"})
    assert r.status_code == 200 and r.get_json()["number"] == "ARC-000001"
    monkeypatch.undo()
    assert admin.get(f"/api/v1/invoices/{invoice_id}/pdf").data.startswith(b"%PDF")
