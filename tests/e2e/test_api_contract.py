"""Contract tests: schemathesis (4.x) fuzzes every operation of /api/v1/openapi.json against a
live portal on 127.0.0.1 (its own PostgreSQL database, the demo loaded), once with a platform
admin's token and once with a tenant admin's, and must find no 5xx and no answer that breaks
its documented schema. Bounded: a few examples an operation, no stateful phase."""
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx

import flask_migrate
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.conftest import TEST_CONFIG, TEST_DATABASE_URL, _recreate_database

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def live_portal():
    url = sa.engine.make_url(TEST_DATABASE_URL)
    live_db = url.set(database=f"{url.database}_contract").render_as_string(hide_password=False)
    _recreate_database(live_db)
    app = create_app({**TEST_CONFIG, "TESTING": False, "SQLALCHEMY_DATABASE_URI": live_db})
    with app.app_context():
        flask_migrate.upgrade()
        from portal.services import accounts
        from portal.services.demo import load_demo

        load_demo()
        tokens = {who: accounts.create_token(email) for who, email in
                  (("admin", "admin@example.com"), ("tenant", "alice@example.com"))}
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", tokens
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver on 127.0.0.1 that answers 204 to every delivery."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_representative_call_of_every_operation_answers_its_documented_schema(live_portal):
    """One real call of each documented operation (method, URL rule), its answer validated
    against the schema the document gives for its status. A route added without a schema, or
    a schema without a call here, fails."""
    from portal.blueprints.api import schemas

    base, tokens = live_portal
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['admin']}"},
                         timeout=60)
    tenant = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['tenant']}"},
                          timeout=60)
    covered = set()

    def call(client, method, rule, path, status, **kwargs):
        r = client.request(method, path, **kwargs)
        assert r.status_code == status, (method, path, r.status_code, r.text[:500])
        covered.add((method, rule))
        if status in schemas.OPERATIONS[(method, rule)].responses:
            check = schemas.validator(method, rule, status)
            if check is None:  # a document (PDF, HTML) or no body
                return r
        else:  # an error: the contract's error shape
            check = schemas.error_validator()
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in check.iter_errors(r.json())]
        assert errors == [], (method, path, errors)
        return r

    V1 = "/api/v1"
    call(httpx, "GET", "/api/health", f"{base}/api/health", 200)
    call(httpx, "GET", f"{V1}/openapi.json", f"{base}{V1}/openapi.json", 200)
    call(httpx, "GET", "/api/docs", f"{base}/api/docs", 200)

    call(admin, "GET", f"{V1}/catalog/plans", f"{V1}/catalog/plans", 200)
    call(tenant, "GET", f"{V1}/catalog/addons", f"{V1}/catalog/addons", 200)
    item = {"resource_kind": "droplet_hours", "included_qty": 100, "overage_price_cents": 2,
            "overage_unit": "hour", "hard_cap_qty": None}
    call(admin, "POST", f"{V1}/catalog/plans", f"{V1}/catalog/plans", 201, json={
        "code": "contract", "name": "Contract", "versions": [{
            "base_price_cents": 1000, "currency": "AUD", "effective_from": "2026-01-01",
            "items": [item]}]})
    call(admin, "POST", f"{V1}/catalog/plans/<plan_code>/versions",
         f"{V1}/catalog/plans/contract/versions", 201, json={
             "base_price_cents": 1200, "currency": "AUD", "effective_from": "2026-06-01",
             "items": [item]})
    call(admin, "POST", f"{V1}/catalog/addons", f"{V1}/catalog/addons", 201, json={
        "code": "contract_addon", "name": "Contract addon", "price_cents": 100,
        "currency": "AUD", "resource_kind": "spaces_gb", "qty": 10})
    call(admin, "POST", f"{V1}/catalog/addons/<addon_code>/retire",
         f"{V1}/catalog/addons/contract_addon/retire", 200)
    call(tenant, "POST", f"{V1}/quote", f"{V1}/quote", 200, json={
        "plan_code": "studio", "addons": ["storage_50gb"], "starts_on": "2026-05-20",
        "projected_usage": {"droplet_hours": 1488, "llm_tokens": 1500000, "spaces_gb": 200}})

    listed = call(tenant, "GET", f"{V1}/deployments", f"{V1}/deployments?per_page=1", 200).json()
    assert listed["next"].startswith(f"{V1}/deployments?per_page=1&cursor=o.")
    call(tenant, "GET", f"{V1}/deployments", listed["next"], 200)
    regions = call(admin, "GET", f"{V1}/regions", f"{V1}/regions", 200).json()
    assert {"slug": "syd1", "name": "Sydney 1", "available": True} in regions["regions"]
    created = call(admin, "POST", f"{V1}/deployments", f"{V1}/deployments", 201, json={
        "tenant": "acme", "name": "contract", "region": "syd1"}).json()
    dep = f"{V1}/deployments/{created['id']}"
    call(tenant, "GET", f"{V1}/deployments/<int:deployment_id>", dep, 200)
    call(admin, "POST", f"{V1}/deployments/<int:deployment_id>/transition", f"{dep}/transition",
         200, json={"to": "provisioning"})
    call(admin, "POST", f"{V1}/deployments/<int:deployment_id>/subscribe", f"{dep}/subscribe",
         201, json={"plan_code": "studio", "addons": [], "starts_on": "2026-12-01"})
    call(admin, "POST", f"{V1}/deployments/<int:deployment_id>/subscription/change",
         f"{dep}/subscription/change", 200,
         json={"plan_code": "studio", "addons": ["storage_50gb"], "effective_on": "2027-01-01"})
    call(admin, "POST", f"{V1}/deployments/<int:deployment_id>/subscription/end",
         f"{dep}/subscription/end", 200, json={"ends_on": "2027-01-31"})
    call(admin, "POST", f"{V1}/usage", f"{V1}/usage", 200, json={"events": [{
        "event_id": "contract-1", "deployment_id": created["id"], "resource_kind": "llm_tokens",
        "quantity": 1000, "occurred_at": "2027-01-03T10:00:00Z"}]})
    call(admin, "GET", f"{V1}/deployments/<int:deployment_id>/usage", f"{dep}/usage?period=2027-01",
         200)

    call(admin, "GET", f"{V1}/inventory", f"{V1}/inventory", 200)
    call(admin, "GET", f"{V1}/billing/balance", f"{V1}/billing/balance", 200)
    call(admin, "GET", f"{V1}/billing/cost-lines", f"{V1}/billing/cost-lines?period=2026-10", 200)
    drift = call(admin, "GET", f"{V1}/drift", f"{V1}/drift", 200).json()["drift"]
    call(admin, "POST", f"{V1}/drift/<int:drift_id>/accept", f"{V1}/drift/{drift[0]['id']}/accept",
         200)

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        call(admin, "GET", f"{V1}/webhooks", f"{V1}/webhooks", 200)
        hook = call(admin, "POST", f"{V1}/webhooks", f"{V1}/webhooks", 201, json={
            "url": f"http://127.0.0.1:{receiver.server_port}/hook",
            "events": ["invoice.voided"]}).json()
        call(tenant, "GET", f"{V1}/invoices", f"{V1}/invoices", 200)
        call(tenant, "GET", f"{V1}/invoices", f"{V1}/invoices?sort=-total&per_page=2", 200)
        invoices = call(admin, "GET", f"{V1}/invoices", f"{V1}/invoices?status=issued",
                        200).json()["invoices"]
        # Void one with no money against it (the demo's others are part-paid or credited).
        clean = next(i for i in invoices if not (i["amount_paid_cents"] or
                                                 i["amount_credited_cents"] or i["credit_applied_cents"]))
        owing = next(i for i in invoices if i["amount_paid_cents"] and i["amount_due_cents"] > 100)
        inv = f"{V1}/invoices/{clean['id']}"
        call(admin, "GET", f"{V1}/invoices/<int:invoice_id>", inv, 200)
        pdf = call(admin, "GET", f"{V1}/invoices/<int:invoice_id>/pdf", f"{inv}/pdf", 200)
        assert pdf.content.startswith(b"%PDF")
        call(admin, "POST", f"{V1}/invoices/<int:invoice_id>/transition", f"{inv}/transition",
             200, json={"to": "void"})
        hooks = f"{V1}/webhooks/{hook['id']}"
        deliveries = call(admin, "GET", f"{V1}/webhooks/<int:webhook_id>/deliveries",
                          f"{hooks}/deliveries", 200).json()["deliveries"]
        call(admin, "POST",
             f"{V1}/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver",
             f"{hooks}/deliveries/{deliveries[0]['id']}/redeliver", 200)
        call(admin, "GET", f"{V1}/webhooks/<int:webhook_id>/deliveries",
             f"{hooks}/deliveries?status=failed&per_page=1", 200)
        assert call(admin, "POST", f"{V1}/webhooks/<int:webhook_id>/deliveries/redeliver-failed",
                    f"{hooks}/deliveries/redeliver-failed", 200).json() == {"redelivered": 0}
        call(tenant, "POST", f"{V1}/webhooks/<int:webhook_id>/deliveries/redeliver-failed",
             f"{hooks}/deliveries/redeliver-failed", 403)
        call(admin, "DELETE", f"{V1}/webhooks/<int:webhook_id>", hooks, 204)
    finally:
        receiver.shutdown()
    # Payments and credit notes, on the demo's part-paid invoice.
    owed = f"{V1}/invoices/{owing['id']}"
    call(admin, "POST", f"{V1}/invoices/<int:invoice_id>/payments", f"{owed}/payments", 201,
         json={"amount_cents": 100, "paid_on": owing["issued_on"], "method": "bank_transfer",
               "reference": "contract"})
    call(tenant, "GET", f"{V1}/invoices/<int:invoice_id>/payments", f"{owed}/payments", 200)
    line = next(x for x in call(admin, "GET", f"{V1}/invoices/<int:invoice_id>", owed, 200).json()["lines"]
                if x["kind"] != "tax")
    note = call(admin, "POST", f"{V1}/invoices/<int:invoice_id>/credit-notes", f"{owed}/credit-notes",
                201, json={"reason": "contract", "lines": [{"line_id": line["id"], "amount_cents": 100}]}).json()
    listed = call(tenant, "GET", f"{V1}/credit-notes", f"{V1}/credit-notes?per_page=1", 200).json()
    assert listed["next"] is None or listed["next"].startswith(f"{V1}/credit-notes?per_page=1&cursor=")
    cn = f"{V1}/credit-notes/{note['id']}"
    call(tenant, "GET", f"{V1}/credit-notes/<int:credit_note_id>", cn, 200)
    assert call(admin, "GET", f"{V1}/credit-notes/<int:credit_note_id>/pdf", f"{cn}/pdf",
                200).content.startswith(b"%PDF")
    call(admin, "POST", f"{V1}/credit-notes/<int:credit_note_id>/refund", f"{cn}/refund", 409, json={})

    # Tenants and users.
    call(admin, "GET", f"{V1}/tenants", f"{V1}/tenants?per_page=1", 200)
    made = call(admin, "POST", f"{V1}/tenants", f"{V1}/tenants", 201, json={
        "slug": "contract-co", "name": "Contract Co", "billing_email": "ap@contract.example.com"}).json()
    call(admin, "PATCH", f"{V1}/tenants/<int:tenant_id>", f"{V1}/tenants/{made['id']}", 200,
         json={"billing_name": "Contract Co Pty Ltd"})
    own = call(tenant, "GET", f"{V1}/tenants/<int:tenant_id>", f"{V1}/tenants/{made['id']}", 404)
    assert own.json()["error"]["code"] == "not_found"
    call(tenant, "GET", f"{V1}/users", f"{V1}/users", 200)
    invited = call(tenant, "POST", f"{V1}/users", f"{V1}/users", 201, json={
        "email": "new.hire@example.com", "role": "tenant_viewer", "tenant": "acme"}).json()
    call(tenant, "POST", f"{V1}/users/<int:user_id>/deactivate",
         f"{V1}/users/{invited['id']}/deactivate", 200)

    rolled = call(admin, "POST", f"{V1}/invoices/rollup", f"{V1}/invoices/rollup", 200,
                  json={"period": "2026-09"}).json()
    assert set(rolled) >= {"created", "skipped", "rebuilt"}
    call(admin, "GET", f"{V1}/jobs/<job_id>", f"{V1}/jobs/no-such-job", 404)

    call(tenant, "GET", f"{V1}/tokens", f"{V1}/tokens", 200)
    token = call(tenant, "POST", f"{V1}/tokens", f"{V1}/tokens", 201,
                 json={"name": "contract", "expires_in_days": 30}).json()
    call(tenant, "DELETE", f"{V1}/tokens/<int:token_id>", f"{V1}/tokens/{token['id']}", 200)
    call(admin, "GET", f"{V1}/audit", f"{V1}/audit?per_page=2", 200)

    # The error shape, through the structural validation of a body.
    bad = call(admin, "POST", f"{V1}/usage", f"{V1}/usage", 422, json={"events": [
        {"event_id": "x", "deployment_id": "one"}]}).json()
    assert bad["error"]["fields"] == {"events[0].deployment_id": "must be an integer"}
    call(admin, "POST", f"{V1}/quote", f"{V1}/quote", 400, content=b"[1, 2]")

    assert set(schemas.OPERATIONS) - covered == set(), "operations without a representative call"


def test_the_docs_page_renders_every_operation_in_chromium_without_csp_violations(live_portal):
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import _REPORT_CSP, ARGS, CHROMIUM

    base, _ = live_portal
    messages = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = chromium.new_page()
            page.add_init_script(_REPORT_CSP)
            page.on("console", lambda m: messages.append(m.text))
            page.goto(f"{base}/api/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            doc = httpx.get(f"{base}/api/v1/openapi.json").json()
            assert page.locator(".opblock").count() == sum(len(v) for v in doc["paths"].values())
            page.locator(".opblock-summary", has_text="/api/v1/quote").first.click()
            page.wait_for_selector(".opblock-body", timeout=10_000)
        finally:
            chromium.close()
    assert [m for m in messages if "Content Security Policy" in m or "CSP violation" in m] == []
    assert [m for m in messages if "error" in m.lower()] == []


# Last in the module: the fuzzing changes the demo data (retires addons, voids invoices...).
@pytest.mark.parametrize("who", ["admin", "tenant"])
def test_schemathesis_finds_no_server_error_and_no_schema_break(live_portal, who, tmp_path):
    base, tokens = live_portal
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", f"{base}/api/v1/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--header", f"Authorization: Bearer {tokens[who]}",
        "--max-examples", str(MAX_EXAMPLES),
        "--phases", "examples,coverage,fuzzing",  # no stateful phase
        "--seed", "20261122",
        "--workers", "1",
        "--max-time", "60",
        "--request-timeout", "30",
        # Revoking tokens by guessed id would revoke the run's own token.
        "--exclude-operation-id", "delete_api_v1_tokens_token_id",
        "--report-dir", str(tmp_path),
        "--no-color",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240,
                         env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
