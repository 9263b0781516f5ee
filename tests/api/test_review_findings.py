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
