from datetime import date

import pytest

from tests.factories import make_addon, make_plan, make_user

SEED_REQUEST = {
    "plan_code": "studio",
    "addons": ["storage_50gb"],
    "projected_usage": {"droplet_hours": 1488, "llm_tokens": 1500000, "spaces_gb": 200},
    "starts_on": "2026-05-20",
}


@pytest.fixture
def api(catalog, api_as):
    return api_as(make_user("tenant_viewer"))


def test_seed_figures_through_the_api(api):
    r = api.post("/api/v1/quote", json=SEED_REQUEST)
    assert r.status_code == 200
    body = r.get_json()
    assert body["recurring"] == [
        {"kind": "plan_base", "deployment_id": None, "resource_kind": None,
         "description": "Studio plan (v1), monthly", "qty": 1, "unit": "month",
         "unit_price_cents": 5000, "amount_cents": 5000},
        {"kind": "addon", "deployment_id": None, "resource_kind": "spaces_gb",
         "description": "Storage 50 GB addon, monthly", "qty": 1, "unit": "month",
         "unit_price_cents": 750, "amount_cents": 750},
    ]
    assert body["recurring_cents"] == 5750
    assert [line["amount_cents"] for line in body["first_invoice"]["lines"]] == [1935, 290]
    assert body["first_invoice"]["total_cents"] == 2225
    assert [(o["resource_kind"], o["qty"], o["unit"], o["amount_cents"]) for o in body["overage"]] == [
        ("llm_tokens", 500, "1k_tokens", 500),
        ("spaces_gb", 50, "gb", 100),
    ]
    assert body["overage_cents"] == 600
    assert body["all_in_monthly_cents"] == 6350
    assert (body["plan_code"], body["plan_version"], body["currency"]) == ("studio", 1, "AUD")


def test_studio_bare(api):
    r = api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-05-01"})
    body = r.get_json()
    assert r.status_code == 200
    assert (body["recurring_cents"], body["overage"], body["all_in_monthly_cents"]) == (5000, [], 5000)
    assert body["first_invoice"]["total_cents"] == 5000


def test_fractional_usage_is_exact_decimal_not_float(api):
    # 100.25 GB: 0.25 GB over at 2c = 0.5c → 1 (a float path would risk 0.49999…)
    r = api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-05-01",
                                        "projected_usage": {"spaces_gb": 100.25}})
    assert r.status_code == 200
    assert [(o["qty"], o["amount_cents"]) for o in r.get_json()["overage"]] == [(0.25, 1)]


def test_the_version_in_effect_on_the_start_date_prices_it(api, database):
    studio_v2 = make_plan(base_price_cents=6000, effective_from=date(2026, 7, 1), version=2,
                          plan=_studio(database))
    assert studio_v2.version == 2
    before = api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-06-30"})
    after = api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-07-01"})
    assert (before.get_json()["plan_version"], before.get_json()["recurring_cents"]) == (1, 5000)
    assert (after.get_json()["plan_version"], after.get_json()["recurring_cents"]) == (2, 6000)


def _studio(database):
    from portal.services.catalog import plan_by_code

    return plan_by_code("studio")


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"plan_code": "nope"}, "plan_code", "unknown plan 'nope'"),
        ({"addons": ["storage_50gb", "ghost"]}, "addons", "unknown addon 'ghost'"),
        ({"addons": ["storage_50gb", "storage_50gb"]}, "addons", "lists a code more than once"),
        ({"addons": "storage_50gb"}, "addons", "must be a list of codes"),
        ({"projected_usage": {"llm_tokens": -1}}, "projected_usage", "llm_tokens must not be negative"),
        ({"projected_usage": {"llm_tokens": "lots"}}, "projected_usage", "llm_tokens must be a number"),
        ({"projected_usage": {"llm_tokens": "100"}}, "projected_usage", "llm_tokens must be a number"),
        ({"projected_usage": {"llm_tokens": True}}, "projected_usage", "llm_tokens must be a number"),
        ({"projected_usage": {"gpus": 3}}, "projected_usage",
         "unknown resource kind 'gpus' (known: droplet_hours, llm_tokens, spaces_gb)"),
        ({"projected_usage": [1, 2]}, "projected_usage",
         "must be an object of resource kind to quantity"),
        ({"projected_usage": {"llm_tokens": 10**16}}, "projected_usage",
         "llm_tokens must be at most 1,000,000,000,000,000"),
        ({"starts_on": "20/05/2026"}, "starts_on", "must be a date as YYYY-MM-DD"),
        ({"starts_on": "20260520"}, "starts_on", "must be a date as YYYY-MM-DD"),
        ({"starts_on": "2026-02-30"}, "starts_on", "is not a real calendar date"),
        ({"starts_on": 20260520}, "starts_on", "must be a date as YYYY-MM-DD"),
        ({"starts_on": "2025-12-31"}, "starts_on", "no version of plan 'studio' is in effect then"),
        ({"plan_code": 7}, "plan_code", "must be a string"),
        ({"plan_code": ""}, "plan_code", "must not be empty"),
        ({"plan_code": None}, "plan_code", "is required"),
        ({"addon": ["storage_50gb"]}, "addon", "unknown field"),
    ],
)
def test_bad_fields_are_422_naming_the_field(api, change, field, message):
    r = api.post("/api/v1/quote", json={**SEED_REQUEST, **change})
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "validation_error"
    assert err["fields"][field] == message


@pytest.mark.parametrize("missing", ["plan_code", "starts_on"])
def test_missing_required_fields_are_422(api, missing):
    payload = {k: v for k, v in SEED_REQUEST.items() if k != missing}
    r = api.post("/api/v1/quote", json=payload)
    assert r.status_code == 422
    assert error_of(r)["fields"] == {missing: "is required"}


def test_empty_object_names_every_required_field(api):
    r = api.post("/api/v1/quote", json={})
    assert r.status_code == 422
    assert error_of(r)["fields"] == {"plan_code": "is required", "starts_on": "is required"}


def test_addons_and_usage_are_optional(api):
    r = api.post("/api/v1/quote", json={"plan_code": "studio", "starts_on": "2026-05-20"})
    assert r.status_code == 200
    assert r.get_json()["first_invoice"]["total_cents"] == 1935


def test_an_addon_in_another_currency_is_refused(api):
    make_addon("usd_storage", currency="USD")
    r = api.post("/api/v1/quote", json={**SEED_REQUEST, "addons": ["usd_storage"]})
    assert r.status_code == 422
    assert error_of(r)["fields"] == {"addons": "not sold in AUD: usd_storage"}


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("[1, 2]", "application/json"),
        ('"studio"', "application/json"),
        ("null", "application/json"),
        ("{not json", "application/json"),
        ('{"plan_code": NaN}', "application/json"),
        ("", "application/json"),
        ("plan_code=studio", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(api, body, content_type):
    r = api.client.post("/api/v1/quote", data=body, headers={**api.headers, "Content-Type": content_type})
    assert r.status_code == 400
    assert error_of(r) == {"code": "bad_request", "message": "The body must be a JSON object.",
                           "fields": {}}


def test_without_a_token_is_401(client, catalog):
    r = client.post("/api/v1/quote", json=SEED_REQUEST)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer arc_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "arc_x"])
def test_a_bad_token_is_401(client, catalog, header):
    r = client.post("/api/v1/quote", json=SEED_REQUEST, headers={"Authorization": header})
    assert r.status_code == 401


def test_a_revoked_token_is_401(catalog, api_as):
    from portal.services import accounts

    user = make_user()
    api = api_as(user)
    assert api.post("/api/v1/quote", json=SEED_REQUEST).status_code == 200
    assert accounts.revoke_tokens(user.email) == 1
    assert api.post("/api/v1/quote", json=SEED_REQUEST).status_code == 401


def test_a_deactivated_users_token_is_401(catalog, api_as, database):
    user = make_user()
    api = api_as(user)
    user.active = False
    database.session.commit()
    assert api.post("/api/v1/quote", json=SEED_REQUEST).status_code == 401


def test_api_needs_no_csrf_token_and_ignores_cookies_for_auth(api, client, browser):
    # A signed-in browser session alone is not an API credential.
    make_user(email="cookie@example.com")
    browser.login("cookie@example.com")
    r = client.post("/api/v1/quote", json=SEED_REQUEST)
    assert r.status_code == 401
    assert api.post("/api/v1/quote", json=SEED_REQUEST).status_code == 200


def test_unknown_api_route_and_wrong_method_use_the_error_shape(api):
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    r = api.get("/api/v1/quote")
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"
