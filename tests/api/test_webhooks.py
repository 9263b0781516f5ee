"""Webhooks: registered by admins, events signed and delivered in order, retried, redelivered."""
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from portal.models import WebhookDelivery
from portal.models.tenancy import TENANT_ADMIN
from portal.services import invoices, rollup, webhooks
from tests.factories import make_deployment, make_tenant, make_user


def verify(secret: str, headers: dict, body: bytes) -> dict:
    """What a receiver does: check the signature over the raw body, then parse it."""
    parts = dict(item.split("=", 1) for item in headers["Arcadia-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "bad signature"
    return json.loads(body)



@pytest.fixture
def admin_api(api_as, catalog):
    return api_as(make_user())


def test_register_list_and_delete(admin_api, api_as, receiver):
    r = admin_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["invoice.issued"]})
    assert r.status_code == 201
    body = r.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["invoice.issued"]
    listed = admin_api.get("/api/v1/webhooks").get_json()
    assert listed == {"webhooks": [{k: v for k, v in body.items() if k != "secret"}], "next": None}
    bad = admin_api.post("/api/v1/webhooks", json={"url": "ftp://x", "events": ["invoice.eaten"], "x": 1})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) == {"url", "events", "x"}
    tenant = api_as(make_user(TENANT_ADMIN, make_tenant()))
    assert tenant.get("/api/v1/webhooks").status_code == 403
    assert tenant.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["invoice.issued"]}).status_code == 403
    assert admin_api.client.delete(f"/api/v1/webhooks/{body['id']}", headers=admin_api.headers).status_code == 204
    assert admin_api.get("/api/v1/webhooks").get_json()["webhooks"] == []
    assert admin_api.client.delete(f"/api/v1/webhooks/{body['id']}", headers=admin_api.headers).status_code == 404


def _issued_invoice(admin):
    acme = make_tenant("acme", "Acme AI")
    make_deployment(acme, name="llm", plan_code="studio", addons=["storage_50gb"],
                    starts_on=date(2026, 3, 1))
    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    (draft,), _ = invoices.list_invoices(admin)
    return invoices.transition_invoice(admin, draft.id, {"to": "issued"})


def test_issuing_pushes_the_whole_invoice_signed(admin_api, receiver, database):
    hook = admin_api.post("/api/v1/webhooks", json={
        "url": receiver.url, "events": ["invoice.issued", "rollup.finished"]}).get_json()
    admin = make_user()
    invoice = _issued_invoice(admin)
    assert [verify(hook["secret"], r["headers"], r["body"])["type"] for r in receiver.requests] == [
        "rollup.finished", "invoice.issued"]
    event = verify(hook["secret"], receiver.requests[1]["headers"], receiver.requests[1]["body"])
    assert event["id"].startswith("evt_") and event["data"]["number"] == invoice.number == "ARC-000001"
    assert event["data"]["total_cents"] == 6325
    assert [(x["kind"], x["amount_cents"]) for x in event["data"]["lines"]] == [
        ("plan_base", 5000), ("addon", 750), ("tax", 575)]
    rolled = verify(hook["secret"], receiver.requests[0]["headers"], receiver.requests[0]["body"])
    assert rolled["data"] == {"period": "2026-03", "created": 1, "skipped": 0, "rebuilt": 0,
                              "messages": [], "force": False}
    deliveries = admin_api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").get_json()["deliveries"]
    assert [(d["type"], d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("invoice.issued", "succeeded", 1, 200), ("rollup.finished", "succeeded", 1, 200)]
    # A tampered body fails verification.
    with pytest.raises(AssertionError):
        verify(hook["secret"], receiver.requests[1]["headers"], receiver.requests[1]["body"] + b" ")


def test_a_failing_receiver_gets_retries_in_order_then_failed(admin_api, receiver, database, app,
                                                               monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [60, 300])  # not left for later tests
    hook = admin_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["rollup.finished"]}).get_json()
    receiver.script = [500, 503]
    start = datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc)
    with freeze_time(start):
        first = webhooks.emit("rollup.finished", {"n": 1})
        second = webhooks.emit("rollup.finished", {"n": 2})
        database.session.commit()
        webhooks.deliver_due()
    assert len(receiver.requests) == 1  # the second waits behind the first: order holds
    with freeze_time(start + timedelta(seconds=59)):
        webhooks.deliver_due()
    assert len(receiver.requests) == 1  # not due yet
    with freeze_time(start + timedelta(seconds=61)):
        webhooks.deliver_due()  # second attempt: 503
    with freeze_time(start + timedelta(seconds=61 + 301)):
        webhooks.deliver_due()  # third attempt: 200, then the second event at once
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert ids == [first.public_id] * 3 + [second.public_id]
    rows = database.session.query(WebhookDelivery).order_by(WebhookDelivery.event_id).all()
    assert [(d.status, d.attempts, [a.status_code for a in d.attempt_log]) for d in rows] == [
        ("succeeded", 3, [500, 503, 200]), ("succeeded", 1, [200])]

    # Retries run out: failed, and the next event is not held back for ever.
    receiver.script = [500, 500, 500]
    with freeze_time(start + timedelta(days=1)):
        third = webhooks.emit("rollup.finished", {"n": 3})
        database.session.commit()
        webhooks.deliver_due()
    for later in (61, 61 + 301):
        with freeze_time(start + timedelta(days=1, seconds=later)):
            webhooks.deliver_due()
    failed = database.session.query(WebhookDelivery).filter_by(event_id=third.id).one()
    assert (failed.status, failed.attempts) == ("failed", 3)
    # An admin redelivers from the page: it goes through now.
    r = admin_api.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{failed.id}/redeliver")
    assert r.status_code == 200 and r.get_json()["status"] == "succeeded"
    assert json.loads(receiver.requests[-1]["body"])["id"] == third.public_id


def test_an_unreachable_receiver_is_recorded_not_raised(admin_api, database, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 2)
    hook = admin_api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks",
                                                    "events": ["rollup.finished"]}).get_json()
    webhooks.emit("rollup.finished", {"n": 1})
    database.session.commit()
    assert webhooks.deliver_due() == {"succeeded": 0, "retrying": 1, "failed": 0}
    (delivery,) = admin_api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").get_json()["deliveries"]
    assert delivery["status"] == "pending" and delivery["attempt_log"][0]["status_code"] is None
    assert "ConnectError" in delivery["attempt_log"][0]["error"]


def test_nothing_is_recorded_when_nobody_listens(database, catalog):
    assert webhooks.emit("rollup.finished", {"n": 1}) is None


def test_a_rolled_back_change_sends_nothing(admin_api, receiver, database):
    admin_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["rollup.finished"]})
    webhooks.emit("rollup.finished", {"n": 1})
    database.session.rollback()
    webhooks.deliver_due()
    assert receiver.requests == []


def test_webhook_pages(browser, receiver, database, catalog):
    make_user(email="admin@example.com")
    browser.login("admin@example.com")
    r = browser.post("/webhooks/", data={"url": receiver.url, "events": ["invoice.issued", "drift.opened"]})
    html = r.get_data(as_text=True)
    assert r.status_code == 201 and "whsec_" in html and "shown this once" in html
    assert "whsec_" not in browser.get("/webhooks/").get_data(as_text=True)
    bad = browser.post("/webhooks/", data={"url": "javascript:alert(1)", "events": []})
    assert bad.status_code == 422 and "must be an http or https URL" in bad.get_data(as_text=True)
    hook = webhooks.list_webhooks()[0]
    assert "No deliveries yet." in browser.get(f"/webhooks/{hook.id}").get_data(as_text=True)
    assert browser.get("/webhooks/999999").status_code == 404
