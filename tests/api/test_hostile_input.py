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


# --- text the database driver refuses: NUL, lone surrogates, control characters ---------

NUL, SURROGATE = "\\u0000", "\\ud800"  # as written in JSON text


def post_raw(api, path, body: str):
    return api.client.post(path, data=body.encode(),
                           headers={**api.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("bad, message", [
    (NUL, "must not contain NUL characters"),
    (SURROGATE, "is not valid Unicode text"),
    ("\\u001b", "must not contain control characters"),
])
@pytest.mark.parametrize("path, template, field", [
    ("/api/v1/deployments", '{"tenant": "acme", "name": "x%s", "region": "syd1"}', "name"),
    ("/api/v1/deployments", '{"tenant": "ac%sme", "name": "x", "region": "syd1"}', "tenant"),
    ("/api/v1/quote", '{"plan_code": "stu%sdio", "starts_on": "2026-05-01"}', "plan_code"),
    ("/api/v1/quote", '{"plan_code": "studio", "addons": ["a%s"], "starts_on": "2026-05-01"}',
     "addons[0]"),
    ("/api/v1/quote", '{"plan_code": "studio", "starts_on": "2026-05-01", '
                      '"projected_usage": {"llm%s": 1}}', "projected_usage.llm\x00"),
    ("/api/v1/usage", '{"events": [{"event_id": "e%s", "deployment_id": 1, "resource_kind": '
                      '"llm_tokens", "quantity": 1, "occurred_at": "2026-04-01T00:00:00Z"}]}',
     "events[0].event_id"),
    ("/api/v1/invoices/rollup", '{"period": "2026-04%s"}', "period"),
    ("/api/v1/deployments/1/transition", '{"to": "active%s"}', "to"),
])
def test_hostile_text_in_a_body_is_a_422_naming_its_field(admin, database, path, template,
                                                           field, bad, message):
    make_deployment(make_tenant("acme"))
    r = post_raw(admin, path, template % bad)
    assert r.status_code == 422, r.get_data(as_text=True)
    fields = r.get_json()["error"]["fields"]
    if field.startswith("projected_usage."):  # the key itself is bad: named by its parent
        assert fields == {"projected_usage": f"a field name {message}"}
    else:
        assert fields == {field: message}


@pytest.mark.parametrize("path", [
    "/api/v1/deployments?tenant=ac%00me", "/api/v1/invoices?tenant=%00",
    "/api/v1/invoices?status=paid%00", "/api/v1/drift?status=open%00",
    "/api/v1/billing/cost-lines?period=2026-04%00", "/api/v1/deployments/1/usage?period=%00",
    "/api/v1/catalog/plans?x=%00",
])
def test_nul_in_a_query_string_is_a_422_naming_the_parameter(admin, database, path):
    make_deployment(make_tenant("acme"))
    r = admin.get(path)
    assert r.status_code == 422
    name = path.split("?")[1].split("=")[0]
    assert r.get_json()["error"]["fields"] == {name: "must not contain NUL characters"}


def test_without_a_token_the_answer_is_401_whatever_the_query(client):
    assert client.get("/api/v1/deployments?tenant=%00").status_code == 401


def test_a_string_beyond_any_field_is_refused_at_the_edge(admin):
    r = admin.post("/api/v1/quote", json={"plan_code": "x" * 10_001, "starts_on": "2026-05-01"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"plan_code": "must be at most 10000 characters"}
    r = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "n" * 101, "region": "syd1"})
    assert r.get_json()["error"]["fields"]["name"] == "must be at most 100 characters"


@pytest.mark.parametrize("value", ["1e400", "-1e400", str(2**63), str(10**30), "1e19"])
def test_numbers_beyond_any_field_are_out_of_range(admin, value):
    r = post_raw(admin, "/api/v1/quote", '{"plan_code": "studio", "starts_on": "2026-05-01", '
                                         '"projected_usage": {"llm_tokens": %s}}' % value)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"projected_usage.llm_tokens": "is out of range"}


@pytest.mark.parametrize("value", [True, 1.5, "1", -1, 0])
def test_an_id_must_be_a_positive_integer(admin, database, value):
    r = admin.post("/api/v1/deployments", json={"tenant_id": value, "name": "x", "region": "syd1"})
    assert r.status_code == 422 and "tenant_id" in r.get_json()["error"]["fields"]


# --- dates and months --------------------------------------------------------------------


@pytest.mark.parametrize("starts_on, message", [
    ("0000-01-01", "must be a date as YYYY-MM-DD"),  # year 0 is no date at all
    ("0001-01-01", "must be between 2000-01-01 and 2999-12-31"),
    ("9999-12-31", "must be between 2000-01-01 and 2999-12-31"),
    ("2026-02-30", "is not a real calendar date"),
    ("٢٠٢٦-٠٥-٠١", "must be a date as YYYY-MM-DD"),
])
def test_dates_outside_the_portals_years_are_refused(admin, database, starts_on, message):
    dep = make_deployment(make_tenant("acme"))
    for path, body in (("/api/v1/quote", {"plan_code": "studio", "starts_on": starts_on}),
                       (f"/api/v1/deployments/{dep.id}/subscribe",
                        {"plan_code": "studio", "starts_on": starts_on})):
        r = admin.post(path, json=body)
        assert r.status_code == 422, (path, r.get_data(as_text=True))
        fields = r.get_json()["error"]["fields"]
        assert fields["starts_on"] in (message, "is not a real calendar date"), fields


@pytest.mark.parametrize("period, message", [
    ("0000-01", "must be a month between 2000-01 and 2999-12"),
    ("9999-12", "must be a month between 2000-01 and 2999-12"),
    ("2026-00", "must be a month as YYYY-MM"),
    ("2026-13", "must be a month as YYYY-MM"),
    ("2026- 4", "must be a month as YYYY-MM"),
    ("٢٠٢٦-٠٤", "must be a month as YYYY-MM"),
])
def test_odd_periods_are_a_422(admin, database, period, message):
    dep = make_deployment(make_tenant("acme"))
    for path in (f"/api/v1/deployments/{dep.id}/usage?period={period}",
                 f"/api/v1/billing/cost-lines?period={period}", f"/api/v1/invoices?period={period}"):
        r = admin.get(path)
        assert r.status_code == 422, (path, r.get_data(as_text=True))
        assert r.get_json()["error"]["fields"] == {"period": message}
    r = admin.post("/api/v1/invoices/rollup", json={"period": period})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"period": message}


# --- the job lookup ----------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["%00", "x" * 5000, "rq:job:x", "..%2F..", "%ED%A0%80",
                                    "a%20b", "*"])
def test_odd_job_ids_are_404_with_redis_too(admin, redis_queue, job_id):
    r = admin.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 404, r.get_data(as_text=True)[:300]
    assert "x" * 100 not in r.get_json()["error"]["message"]


def test_odd_job_ids_on_the_progress_pages(browser, redis_queue, catalog):
    make_user(email="admin3@example.com")
    browser.login("admin3@example.com")
    for url in ("/invoices/rollup/%00", "/invoices/rollup/" + "x" * 5000,
                "/provider/sync/%ED%A0%80", "/provider/sync/" + "y" * 5000):
        r = browser.get(url, htmx=True)
        assert r.status_code < 500 and "Traceback" not in r.get_data(as_text=True), url


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url, data, field", [
    ("/login", {"email": "a\x00@example.com", "password": "password123"}, "email"),
    ("/login", {"email": "a@example.com", "password": "pass\x00word"}, "password"),
    ("/deployments/new", {"tenant": "acme", "name": "x\x00", "region": "syd1"}, "name"),
    ("/invoices/rollup", {"period": "2026-04\x00"}, "period"),
])
def test_nul_in_a_form_is_a_422_naming_the_field(browser, catalog, url, data, field):
    make_tenant("acme")
    make_user(email="admin4@example.com")
    if url != "/login":
        browser.login("admin4@example.com")
    r = browser.post(url, data=data)
    assert r.status_code == 422
    assert f"{field}: must not contain NUL characters" in r.get_data(as_text=True)


def test_tenant_profile_with_control_characters(browser, catalog):
    tenant = make_tenant("acme")
    make_user(email="admin5@example.com")
    browser.login("admin5@example.com")
    r = browser.post(f"/tenants/{tenant.id}/edit", data={
        "name": "Acme\x1b[31m", "billing_name": "Acme", "billing_address": "1 Road\nSydney",
        "abn": ""})
    assert r.status_code == 422 and "must not contain control characters" in r.get_data(as_text=True)
    r = browser.post(f"/tenants/{tenant.id}/edit", data={
        "name": "Acme", "billing_name": "Acme", "billing_address": "1 Road\r\nSydney NSW",
        "abn": ""})
    assert r.status_code == 303  # line breaks belong in an address


@pytest.mark.parametrize("depth", [500, 900, 990])
def test_deep_but_parseable_json_is_never_a_500(admin, depth):
    body = '{"plan_code": ' + "[" * depth + '"\\u0000"' + "]" * depth + ', "starts_on": "2026-05-01"}'
    r = admin.client.post("/api/v1/quote", data=body,
                          headers={**admin.headers, "Content-Type": "application/json"})
    assert r.status_code in (400, 422)


def test_a_huge_number_with_many_decimals_is_a_field_error_not_an_overflow():
    from decimal import Decimal

    import pytest

    from portal.services.validation import FieldError, quantity

    with pytest.raises(FieldError, match="must be at most"):
        quantity(Decimal("10941685194586986024840.0345188"))
