"""Findings of the review: each a scenario the merged features got wrong."""
from datetime import date

import pytest
from freezegun import freeze_time

from tests.api.test_payments_api import invoice_for, lines_of, pay
from tests.factories import make_deployment, make_plan, make_tenant, make_user


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user(email="admin@example.com"))


def test_an_issued_invoice_that_owes_nothing_is_paid(admin):
    """A free plan's month: total 0. Issued, it owes nothing, so it is paid at once (the
    "paid" transition cannot record a payment of 0 cents, so it would stay issued for ever)."""
    make_plan(code="free", base_price_cents=0)
    tenant = make_tenant("freebie")
    make_deployment(tenant, plan_code="free", starts_on=date(2026, 3, 1))
    inv = invoice_for(admin, tenant)
    assert (inv["total_cents"], inv["amount_due_cents"]) == (0, 0)
    assert (inv["status"], inv["paid_on"]) == ("paid", "2026-04-02")


def balance(database, tenant) -> int:
    from portal.models import Tenant

    database.session.expire_all()
    return database.session.get(Tenant, tenant.id).credit_balance_cents


def test_a_credit_balance_is_never_applied_to_an_invoice_in_another_currency(admin, database):
    """AUD 5.00 of credit balance must not pay 500 cents of a USD invoice."""
    make_plan(code="usd", base_price_cents=1000, currency="USD")
    tenant = make_tenant("twocur")
    make_deployment(tenant, name="aud", plan_code="studio", starts_on=date(2026, 3, 1),
                    ends_on=date(2026, 3, 31))
    march = invoice_for(admin, tenant)
    assert pay(admin, march["id"], march["total_cents"]).status_code == 201
    with freeze_time("2026-04-20"):
        r = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "goodwill", "lines": [{"line_id": lines_of(march)["plan_base"],
                                             "amount_cents": 500}]})
    assert r.status_code == 201, r.get_json()
    assert balance(database, tenant) == 550
    make_deployment(tenant, name="usd", plan_code="usd", starts_on=date(2026, 4, 1))
    april = invoice_for(admin, tenant, period="2026-04", issue_on="2026-05-02")
    assert april["currency"] == "USD"
    assert (april["credit_applied_cents"], april["amount_due_cents"]) == (0, 1100)
    assert balance(database, tenant) == 550


@pytest.mark.parametrize("url", [
    "http://[::1",                       # urlsplit raises: was a 500
    "http://a:b:c/",                     # no port httpx can read
    "http://ex\u00e4mple..com/",         # not an IDNA host name
    "http://" + "a" * 70 + ".example.com/",  # a DNS label longer than 63
])
def test_a_webhook_url_no_request_could_go_to_is_422(admin, url):
    r = admin.post("/api/v1/webhooks", json={"url": url, "events": ["rollup.finished"]})
    assert r.status_code == 422, (r.status_code, r.get_data(as_text=True)[:300])
    assert "url" in r.get_json()["error"]["fields"]
    assert admin.get("/api/v1/webhooks").get_json()["webhooks"] == []


def test_a_delivery_to_an_unusable_url_is_an_attempt_recorded_not_a_crash(admin, database):
    """One stored before URLs were checked this closely: the worker used to raise on it
    (httpx.InvalidURL is no HTTPError), so the delivery stayed leased, was never counted as
    an attempt, never failed, and held back every later event of that endpoint for ever."""
    from portal.models import Webhook
    from portal.services import webhooks

    hook = Webhook(url="http://a:b:c/", events=["rollup.finished"], secret="whsec_x")
    database.session.add(hook)
    database.session.commit()
    webhooks.emit("rollup.finished", {"n": 1})
    database.session.commit()
    assert webhooks.deliver_due() == {"succeeded": 0, "retrying": 1, "failed": 0}
    (delivery,) = admin.get(f"/api/v1/webhooks/{hook.id}/deliveries").get_json()["deliveries"]
    assert delivery["attempts"] == 1 and "InvalidURL" in delivery["attempt_log"][0]["error"]


def test_a_draft_the_billing_moved_away_from_is_not_issued_until_rebuilt(admin, database):
    """A change backdated into a drafted month (allowed: only issued months refuse it), or
    usage metered late into it, leaves the draft billing the old terms. Issuing it as it
    stood put a wrong amount on a tax invoice that no rollup may rebuild any more."""
    tenant = make_tenant("late")
    dep = make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    with freeze_time("2026-04-02 09:00:00"):
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-03"})
    (draft,) = admin.get("/api/v1/invoices?period=2026-03&status=draft").get_json()["invoices"]
    assert draft["total_cents"] == 5500
    with freeze_time("2026-04-02 10:00:00"):
        r = admin.post(f"/api/v1/deployments/{dep.id}/subscription/end", json={"ends_on": "2026-03-15"})
        assert r.status_code == 200
        issue = admin.post(f"/api/v1/invoices/{draft['id']}/transition", json={"to": "issued"})
    assert issue.status_code == 409
    assert "rollup" in issue.get_json()["error"]["message"]
    assert admin.get(f"/api/v1/invoices/{draft['id']}").get_json()["status"] == "draft"
    with freeze_time("2026-04-02 11:00:00"):
        assert admin.post("/api/v1/invoices/rollup", json={"period": "2026-03", "force": True}).get_json()["rebuilt"] == 1
        issued = admin.post(f"/api/v1/invoices/{draft['id']}/transition", json={"to": "issued"})
    assert issued.status_code == 200
    # 15/31 of 5000 = 2419.35 → 2419; GST 242.
    assert (issued.get_json()["status"], issued.get_json()["total_cents"]) == ("issued", 2661)

    # Usage metered late into a drafted month: the same.
    with freeze_time("2026-05-02 09:00:00"):
        admin.post(f"/api/v1/deployments/{dep.id}/subscribe", json={"plan_code": "studio", "starts_on": "2026-04-01"})
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
        (april,) = admin.get("/api/v1/invoices?period=2026-04&status=draft").get_json()["invoices"]
        assert admin.post("/api/v1/usage", json={"events": [{
            "event_id": "late-1", "deployment_id": dep.id, "resource_kind": "llm_tokens",
            "quantity": 2_000_000, "occurred_at": "2026-04-30T12:00:00Z"}]}).status_code == 200
        assert admin.post(f"/api/v1/invoices/{april['id']}/transition", json={"to": "issued"}).status_code == 409
