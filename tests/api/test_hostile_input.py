"""Inputs built to break things answer 4xx with the error shape, never 500."""
import pytest

from tests.factories import make_deployment, make_tenant, make_user

HUGE = 10**30
BIG = 2**63


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user())


@pytest.mark.parametrize("path", [
    f"/api/v1/deployments/{HUGE}", f"/api/v1/deployments/{BIG}",
    f"/api/v1/invoices/{HUGE}", f"/api/v1/invoices/{HUGE}/pdf",
    f"/api/v1/deployments/{HUGE}/usage?period=2026-04",
    "/api/v1/invoices?page=99999999999999999999", "/api/v1/deployments?page=99999999999999999999",
    "/api/v1/deployments/-1", "/api/v1/invoices?period=2026-00",
])
def test_out_of_range_reads(admin, path):
    r = admin.get(path)
    assert r.status_code in (404, 422), (path, r.status_code)
    assert set(r.get_json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("path, body", [
    (f"/api/v1/deployments/{HUGE}/transition", {"to": "active"}),
    (f"/api/v1/invoices/{HUGE}/transition", {"to": "paid"}),
    (f"/api/v1/drift/{HUGE}/accept", {}),
    ("/api/v1/deployments", {"tenant_id": HUGE, "name": "x", "region": "syd1"}),
    ("/api/v1/deployments", {"tenant": "acme", "name": "x" * 10_000, "region": "syd1"}),
    ("/api/v1/usage", {"events": [{"event_id": "a", "deployment_id": HUGE, "resource_kind": "llm_tokens",
                                   "quantity": 1, "occurred_at": "2026-04-01T00:00:00Z"}]}),
    ("/api/v1/usage", {"events": [{"event_id": "a", "deployment_id": 1, "resource_kind": "llm_tokens",
                                   "quantity": 1, "occurred_at": "0001-01-01T00:00:00-10:00"}]}),
    ("/api/v1/usage", {"events": [{"event_id": "a", "deployment_id": 1, "resource_kind": "llm_tokens",
                                   "quantity": 1e400, "occurred_at": "2026-04-01T00:00:00Z"}]}),
    ("/api/v1/quote", {"plan_code": "studio", "starts_on": "9999-12-31",
                       "projected_usage": {"llm_tokens": 10**15}}),
    ("/api/v1/quote", {"plan_code": "studio" * 1000, "starts_on": "2026-05-01"}),
    ("/api/v1/invoices/rollup", {"period": "0000-01"}),
    ("/api/v1/invoices/rollup", {"period": "9999-12"}),
])
def test_out_of_range_writes(admin, path, body, database):
    make_deployment(make_tenant("acme"))
    r = admin.post(path, json=body)
    assert r.status_code < 500, (path, r.status_code, r.get_data(as_text=True)[:300])
    if r.status_code >= 400:
        assert set(r.get_json()["error"]) == {"code", "message", "fields"}


def test_a_huge_page_is_a_clear_422(admin):
    r = admin.get("/api/v1/invoices?page=99999999999999999999")
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"page": "must be a positive integer up to 1000000"}


@pytest.mark.parametrize("value", ["1e-999999999", "0.0000001", "1e-7"])
def test_quantities_finer_than_stored_are_refused_at_once(admin, value):
    body = ('{"plan_code": "studio", "starts_on": "2026-05-20", '
            '"projected_usage": {"spaces_gb": %s}}' % value)
    r = admin.client.post("/api/v1/quote", data=body,
                          headers={**admin.headers, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "projected_usage": "spaces_gb must have at most 6 decimal places"}


def test_a_fine_quantity_in_a_batch_names_its_event(admin, database):
    dep = make_deployment(make_tenant("acme"))
    body = ('{"events": [{"event_id": "a", "deployment_id": %d, "resource_kind": "spaces_gb", '
            '"quantity": 1e-999999999, "occurred_at": "2026-04-01T00:00:00Z"}]}' % dep.id)
    r = admin.client.post("/api/v1/usage", data=body,
                          headers={**admin.headers, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"events[0].quantity": "must have at most 6 decimal places"}


def test_six_decimals_are_fine(admin):
    r = admin.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-05-01",
                                          "projected_usage": {"spaces_gb": 100.000001}})
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/invoices?page=%C2%B2", "/api/v1/deployments?per_page=%C2%B2",
                                  "/api/v1/drift?page=%D9%A3"])
def test_non_ascii_digits_in_paging(admin, path):
    assert admin.get(path).status_code == 422


def test_a_resource_kind_that_is_not_a_string(admin, database):
    dep = make_deployment(make_tenant("acme"))
    r = admin.post("/api/v1/usage", json={"events": [{
        "event_id": "a", "deployment_id": dep.id, "resource_kind": ["llm_tokens"], "quantity": 1,
        "occurred_at": "2026-04-01T00:00:00Z"}]})
    assert r.status_code == 422 and "events[0].resource_kind" in r.get_json()["error"]["fields"]


def test_absurdly_deep_json_is_a_400(admin):
    r = admin.client.post("/api/v1/quote", data="[" * 100_000,
                          headers={**admin.headers, "Content-Type": "application/json"})
    assert r.status_code == 400


def test_the_invoices_page_with_a_strange_page_number(browser, catalog):
    make_user(email="admin2@example.com")
    browser.login("admin2@example.com")
    r = browser.get("/invoices/?page=%C2%B2")
    assert r.status_code == 422 and "must be a positive integer" in r.get_data(as_text=True)
