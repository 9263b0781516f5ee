"""Admins change the catalog: plans, versions from a date, addons, retiring one. Nothing issued
or subscribed changes."""

from datetime import date

import pytest

from portal.models.tenancy import TENANT_ADMIN
from portal.services import documents, invoices, rollup
from tests.factories import make_deployment, make_tenant, make_user

NEW_STUDIO = {
    "base_price_cents": 6000, "currency": "AUD", "effective_from": "2026-07-01",
    "items": [
        {"resource_kind": "droplet_hours", "included_qty": 2000, "overage_price_cents": 1, "overage_unit": "hour"},
        {"resource_kind": "llm_tokens", "included_qty": 2_000_000, "overage_price_cents": 1, "overage_unit": "1k_tokens"},
        {"resource_kind": "spaces_gb", "included_qty": 100, "overage_price_cents": 2, "overage_unit": "gb",
         "hard_cap_qty": 500},
    ],
}


@pytest.fixture
def admin(api_as, catalog):
    return api_as(make_user(email="admin@example.com"))


def _quote(api, starts_on):
    return api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": starts_on,
                                           "projected_usage": {"llm_tokens": 1_500_000}}).get_json()


def test_a_future_version_changes_quotes_from_its_date_only(admin):
    before = _quote(admin, "2026-06-30")
    r = admin.post("/api/v1/catalog/plans/studio/versions", json=NEW_STUDIO)
    assert r.status_code == 201 and r.get_json()["version"] == 2
    assert _quote(admin, "2026-06-30") == before
    assert before["recurring_cents"] == 5000 and before["overage_cents"] == 500
    after = _quote(admin, "2026-07-01")
    assert (after["recurring_cents"], after["overage_cents"], after["plan_version"]) == (6000, 0, 2)


def test_an_issued_invoice_is_byte_for_byte_unchanged_by_a_new_version(admin, database):
    acme = make_tenant("acme", "Acme AI")
    make_deployment(acme, name="llm", plan_code="studio", starts_on=date(2026, 3, 1))
    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    user = make_user()
    (draft,), _ = invoices.list_invoices(user)
    invoice = invoices.transition_invoice(user, draft.id, {"to": "issued"})
    lines_before = admin.get(f"/api/v1/invoices/{invoice.id}").get_json()
    pdf_before = admin.get(f"/api/v1/invoices/{invoice.id}/pdf").data
    version = dict(NEW_STUDIO, effective_from="2026-03-15")  # even one inside the invoiced month
    assert admin.post("/api/v1/catalog/plans/studio/versions", json=version).status_code == 201
    assert admin.get(f"/api/v1/invoices/{invoice.id}").get_json() == lines_before
    assert admin.get(f"/api/v1/invoices/{invoice.id}/pdf").data == pdf_before
    # and a re-run of the month bills the subscription's own version still
    assert rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1), force=True).skipped == 1
    assert documents.filename(invoice).startswith("ARC-000001")


def test_version_rules(admin):
    early = dict(NEW_STUDIO, effective_from="2026-01-01")
    r = admin.post("/api/v1/catalog/plans/studio/versions", json=early)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "effective_from": "must be after 2026-01-01, when version 1 took effect"}
    usd = dict(NEW_STUDIO, currency="USD")
    assert admin.post("/api/v1/catalog/plans/studio/versions", json=usd).get_json()["error"]["fields"] == {
        "currency": "must stay AUD, the plan's currency"}
    bad_items = dict(NEW_STUDIO, items=[{"resource_kind": "llm_tokens", "included_qty": -1,
                                         "overage_price_cents": 1, "overage_unit": "hour"}])
    fields = admin.post("/api/v1/catalog/plans/studio/versions", json=bad_items).get_json()["error"]["fields"]
    assert fields == {"items": "item 0: included_qty must be from 0 to 1,000,000,000,000,000"}
    wrong_unit = dict(NEW_STUDIO, items=[{"resource_kind": "llm_tokens", "included_qty": 1,
                                          "overage_price_cents": 1, "overage_unit": "hour"}])
    fields = admin.post("/api/v1/catalog/plans/studio/versions", json=wrong_unit).get_json()["error"]["fields"]
    assert fields == {"items": "item 0: llm_tokens is sold per 1k_tokens"}
    assert admin.post("/api/v1/catalog/plans/nope/versions", json=NEW_STUDIO).status_code == 404


def test_new_plan_and_addon_then_retire(admin):
    plan = {"code": "studio-plus", "name": "Studio Plus", "description": "More of it.",
            "versions": [dict(NEW_STUDIO, effective_from="2026-01-01")]}
    r = admin.post("/api/v1/catalog/plans", json=plan)
    assert r.status_code == 201
    body = r.get_json()
    assert body["code"] == "studio-plus" and body["versions"][0]["version"] == 1
    assert body["versions"][0]["items"][2] == {"resource_kind": "spaces_gb", "included_qty": 100,
                                               "overage_price_cents": 2, "overage_unit": "gb",
                                               "hard_cap_qty": 500}
    assert admin.post("/api/v1/catalog/plans", json=plan).status_code == 409
    addon = {"code": "tokens_5m", "name": "5M tokens", "price_cents": 2000, "currency": "AUD",
             "resource_kind": "llm_tokens", "qty": 5_000_000}
    r = admin.post("/api/v1/catalog/addons", json=addon)
    assert r.status_code == 201 and r.get_json() == {**addon, "id": r.get_json()["id"], "retired": False}
    quote = {"plan_code": "studio-plus", "starts_on": "2026-05-01", "addons": ["tokens_5m"]}
    assert admin.post("/api/v1/quote", json=quote).get_json()["recurring_cents"] == 8000
    assert admin.post("/api/v1/catalog/addons/tokens_5m/retire").get_json()["retired"] is True
    refused = admin.post("/api/v1/quote", json=quote)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"addons": "no longer sold: tokens_5m"}
    assert admin.post("/api/v1/catalog/addons/nothing/retire").status_code == 404


def test_a_retired_addon_stays_on_existing_subscriptions(admin, database):
    acme = make_tenant("acme", "Acme AI")
    make_deployment(acme, name="llm", plan_code="studio", addons=["storage_50gb"],
                    starts_on=date(2026, 3, 1))
    admin.post("/api/v1/catalog/addons/storage_50gb/retire")
    result = rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    assert result.created == 1
    (invoice,), _ = invoices.list_invoices(make_user())
    assert [line.amount_cents for line in invoice.lines] == [5000, 750, 575]


def test_tenants_may_not_change_the_catalog(api_as, catalog):
    tenant = api_as(make_user(TENANT_ADMIN, make_tenant()))
    assert tenant.post("/api/v1/catalog/plans/studio/versions", json=NEW_STUDIO).status_code == 403
    assert tenant.post("/api/v1/catalog/addons/storage_50gb/retire").status_code == 403


def test_catalog_pages_with_live_preview(browser, catalog, database):
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    index = browser.get("/catalog/").get_data(as_text=True)
    assert "/catalog/plans/studio/versions/new" in index and "Retire from sale" in index
    form = browser.get("/catalog/plans/studio/versions/new").get_data(as_text=True)
    assert 'value="5000"' in form and 'name="llm_tokens.included_qty"' in form
    data = {"base_price_cents": "6000", "currency": "AUD", "effective_from": "2026-07-01",
            "droplet_hours.included_qty": "1488", "droplet_hours.overage_price_cents": "1",
            "llm_tokens.included_qty": "2000000", "llm_tokens.overage_price_cents": "1",
            "spaces_gb.included_qty": "100", "spaces_gb.overage_price_cents": "2"}
    preview = browser.post("/catalog/plans/studio/versions/preview", data=data, htmx=True)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "<html" not in html
    assert html.count("badge-changed") == 2  # the base price and the token allowance
    assert "$50.00 AUD" in html and "$60.00 AUD" in html and "2,000,000" in html
    bad = browser.post("/catalog/plans/studio/versions/preview", data=dict(data, effective_from="2025-12-01"), htmx=True)
    assert "must be after 2026-01-01" in bad.get_data(as_text=True)
    done = browser.post("/catalog/plans/studio/versions/new", data=data)
    assert done.status_code == 303
    assert "Version 2, effective from 2026-07-01" in browser.get("/catalog/").get_data(as_text=True)
    again = browser.post("/catalog/plans/studio/versions/new", data=dict(data, base_price_cents="ten"))
    assert again.status_code == 422 and "must be a whole number" in again.get_data(as_text=True)
    addon = browser.post("/catalog/addons/new", data={"code": "Bad Code", "name": "", "price_cents": "1",
                                                      "qty": "1", "resource_kind": "spaces_gb", "currency": "AUD"})
    assert addon.status_code == 422 and "lowercase letters" in addon.get_data(as_text=True)
    row = browser.post("/catalog/addons/storage_50gb/retire", htmx=True).get_data(as_text=True)
    assert row.startswith('<tr id="addon-storage_50gb">') and "retired" in row
    plan = browser.post("/catalog/plans/new", data=dict(data, code="studio", name="Dup"))
    assert plan.status_code == 409 and "is taken" in plan.get_data(as_text=True), plan.get_data(as_text=True)[-3000:]


