"""The OpenAPI document (/api/v1/openapi.json), its page (/api/docs) and the structural
validation of request bodies by the same schemas (portal/blueprints/api/schemas.py)."""
import re

import pytest
import schemathesis

from portal.blueprints.api import openapi, schemas
from tests.factories import make_deployment, make_tenant, make_user


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user())


def test_every_api_route_and_method_is_documented(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    served = set(openapi.api_rules(app))
    assert len(served) >= 38
    missing = [(m, r) for m, r in served
               if m.lower() not in doc["paths"].get(openapi.openapi_path(r), {})]
    assert missing == [], "routes without a schema in portal/blueprints/api/schemas.py"
    # ...and nothing documented that the app does not serve.
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(m, openapi.openapi_path(r)) for m, r in served}


def test_the_document_is_openapi_3_1_without_auth(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.content_type == "application/json"
    doc = r.get_json()
    assert doc["openapi"] == "3.1.0"
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API token: `arc_…`"}
    loaded = schemathesis.openapi.from_dict(doc)  # a document schemathesis reads
    assert sum(1 for _ in loaded.get_all_operations()) == sum(len(v) for v in doc["paths"].values())
    health = doc["paths"]["/api/health"]["get"]
    assert health["security"] == [] and set(health["responses"]) == {"200", "503"}


def test_each_operation_documents_its_errors_idempotency_and_paging(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    for path, ops in paths.items():
        for method, operation in ops.items():
            names = [p.get("name") or p.get("$ref") for p in operation["parameters"]]
            if method == "post" and path.startswith("/api/v1/"):
                assert "#/components/parameters/IdempotencyKey" in names, path
                assert {"409", "422"} <= set(operation["responses"]), path
            if operation.get("security") != []:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "422"} <= set(operation["responses"]), (method, path)
            for conv_name in re.findall(r"{(\w+)}", path):
                assert conv_name in names, (method, path)
    key = doc["components"]["parameters"]["IdempotencyKey"]
    assert (key["in"], key["name"], key["schema"]["maxLength"]) == ("header", "Idempotency-Key", 255)
    errors = doc["components"]["responses"]
    assert {s[1:] for s in errors} == {"400", "401", "403", "404", "409", "422", "429", "503"}
    assert paths["/api/v1/invoices/{invoice_id}"]["get"]["responses"]["404"] == {
        "$ref": "#/components/responses/E404"}
    listing = paths["/api/v1/invoices"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listing["schema"]["properties"]["next"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert {p["name"] for p in paths["/api/v1/invoices"]["get"]["parameters"]} >= {"page", "per_page"}
    pdf = paths["/api/v1/invoices/{invoice_id}/pdf"]["get"]["responses"]["200"]["content"]
    assert list(pdf) == ["application/pdf"]


def test_the_docs_page_runs_the_vendored_viewer_under_the_csp(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    assert "<style" not in html and " style=" not in html and "http" not in html.split("</head>")[0]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and body.strip() == "" for attrs, body in scripts)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert 'data-spec-url="/api/v1/openapi.json"' in html


def test_a_body_that_is_not_an_object_is_400(admin):
    for raw in (b"[1]", b"\"x\"", b"nope", b""):
        r = admin.client.post("/api/v1/quote", data=raw, headers={
            **admin.headers, "Content-Type": "application/json"})
        assert r.status_code == 400, raw
        assert r.get_json()["error"]["code"] == "bad_request"


def test_a_field_of_the_wrong_type_is_422_naming_it_before_the_view_runs(admin, database):
    dep = make_deployment(make_tenant("acme"))
    r = admin.post("/api/v1/usage", json={"events": [
        {"event_id": "a", "deployment_id": dep.id, "resource_kind": "llm_tokens", "quantity": 1,
         "occurred_at": "2026-04-01T00:00:00Z"},
        {"event_id": "b", "deployment_id": dep.id, "resource_kind": "llm_tokens",
         "quantity": [1], "occurred_at": "2026-04-01T00:00:00Z"}]})
    assert r.status_code == 422
    assert r.get_json()["error"] == {
        "code": "validation_error",
        "message": "event 1 is invalid (events[1].quantity: must be a number); "
                   "nothing in this batch was stored",
        "fields": {"events[1].quantity": "must be a number"}}
    r = admin.post("/api/v1/invoices/rollup", json={"period": "2026-04", "force": "yes"})
    assert (r.status_code, r.get_json()["error"]["fields"]) == (422, {"force": "must be true or false"})
    r = admin.post("/api/v1/webhooks", json={"url": "http://127.0.0.1/x", "events": [1]})
    assert (r.status_code, r.get_json()["error"]["fields"]) == (422, {"events[0]": "must be a string"})


def test_credentials_come_before_the_body(client):
    r = client.post("/api/v1/usage", json={"events": "no"})
    assert r.status_code == 401


def test_a_schema_names_a_field_as_the_services_do():
    assert schemas.field_name(["events", 3, "quantity"]) == "events[3].quantity"
    assert schemas.field_name(["versions", 0, "items", 1, "qty"]) == "versions[0].items[1].qty"
    assert schemas.field_name([]) == ""
    check = schemas.validator("POST", "/api/v1/deployments/<int:deployment_id>/subscribe")
    assert schemas.problems(check, {"plan_code": 5, "addons": "x", "starts_on": None}) == {
        "plan_code": "must be a string", "addons": "must be a list of codes"}
