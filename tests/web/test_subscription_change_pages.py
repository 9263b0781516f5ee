"""The deployment page's change and end forms, with their live preview from the quote engine."""
import json
import re
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.extensions import db
from portal.models import Subscription
from portal.services import usage as usage_svc
from tests.factories import make_deployment, make_plan, make_tenant, make_user

ADMIN = "admin@example.com"


@pytest.fixture
def acme(catalog):
    return make_tenant("acme", "Acme AI")


@pytest.fixture
def scale(catalog):
    return make_plan("scale", base_price_cents=12000, items=[
        ("droplet_hours", 4464, 1, "hour", None),
        ("llm_tokens", 5_000_000, 1, "1k_tokens", None),
        ("spaces_gb", 500, 2, "gb", None),
    ])


@pytest.fixture
def admin_user(catalog):
    return make_user(email=ADMIN)


@pytest.fixture
def dep(acme, scale):
    d = make_deployment(acme, name="llm", plan_code="studio", addons=["storage_50gb"],
                        starts_on=date(2026, 3, 1))
    usage_svc.ingest({"events": [
        {"event_id": f"u{i}", "deployment_id": d.id, "resource_kind": kind, "quantity": qty,
         "occurred_at": f"{day}T12:00:00Z"}
        for i, (kind, qty, day) in enumerate([
            ("droplet_hours", 1000, "2026-04-10"), ("spaces_gb", 80, "2026-04-05"),
            ("droplet_hours", 2500, "2026-04-20"), ("spaces_gb", 260, "2026-04-25")])]})
    return d


def amounts(html: str) -> list[str]:
    return [a.removesuffix(" AUD") for a in re.findall(r'<td class="num">([^<]+)</td>', html)]


def totals(html: str) -> dict[str, str]:
    return {k: v.removesuffix(" AUD") for k, v in re.findall(r'data-total="(\w+)">([^<]+)<', html)}


def section(html: str, action: str) -> str:
    return html.split(f'id="subscription-preview-{action}"', 1)[1].split("</section>", 1)[0]


def preview_url(dep, action, **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/deployments/{dep.id}/subscription/{action}/preview?{query}"


def test_admin_sees_both_forms_with_a_live_preview(browser, admin_user, dep):
    with freeze_time("2026-04-20 09:00:00"):  # before signing in: the cookie is signed with time
        browser.login(ADMIN)
        html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert "Change plan or addons" in html and "End the subscription" in html
    assert 'hx-trigger="input changed delay:300ms, change"' in html
    assert f'hx-get="/deployments/{dep.id}/subscription/change/preview"' in html
    # Defaults: today, the current terms; the preview is already there.
    assert 'name="effective_on" value="2026-04-20"' in html
    assert 'id="subscription-preview-change"' in html and 'id="subscription-preview-end"' in html


def test_the_change_preview_bills_each_plan_for_its_own_days(browser, admin_user, dep):
    browser.login(ADMIN)
    r = browser.get(preview_url(dep, "change", plan_code="scale", effective_on="2026-04-16"), htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and "HX-Request" in r.headers["Vary"]
    assert html.lstrip().startswith("{#") is False and 'id="subscription-preview-change"' in html
    assert "April 2026 for this deployment, after this change" in html
    # Studio + storage through the 15th, Scale (new) from the 16th: the rollup's figures.
    assert amounts(html) == ["$25.00", "$3.75", "$2.56", "$0.10", "$60.00", "$2.68", "$0.20"]
    assert totals(html) == {"subtotal": "$94.29", "tax": "$9.43", "total": "$103.72"}
    assert "Scale v1 (new)" in html
    assert "beyond the 744 hour allowance (1,488 × 1/2)" in html
    # Nothing was written.
    db.session.expire_all()
    assert db.session.scalar(select(Subscription.ends_on).where(Subscription.deployment_id == dep.id)) is None


def test_the_end_preview_prorates_the_allowance(browser, admin_user, dep):
    browser.login(ADMIN)
    html = browser.get(preview_url(dep, "end", ends_on="2026-04-10"), htmx=True).get_data(as_text=True)
    # 10/30 of April: 5000 → 1667, 750 → 250; droplet allowance 496, 1000 used → 504;
    # spaces allowance 150 → 50 GB, peak 80 → 30 GB × 2c.
    assert amounts(html) == ["$16.67", "$2.50", "$5.04", "$0.60"]
    assert totals(html)["total"] == "$27.29"  # 2481 + 248


def test_the_preview_works_out_gst_on_the_whole_invoice_as_the_rollup_does(browser, admin_user, dep, acme):
    """GST is one line on the invoice's subtotal. With a second deployment billing 50.05, the
    change's deployment (94.29) rounds its own 10 % up (9.43) and so does the other (5.01):
    per deployment that is 14.44, on the invoice 14.43. The preview shows the invoice's."""
    from portal.models import Invoice
    from portal.services.rollup import roll_up_period
    from portal.services.subscriptions import change_subscription

    web = make_deployment(acme, name="web", plan_code="studio", starts_on=date(2026, 3, 1))
    usage_svc.ingest({"events": [{"event_id": "web-tokens", "deployment_id": web.id,
                                  "resource_kind": "llm_tokens", "quantity": 1_005_000,
                                  "occurred_at": "2026-04-03T00:00:00Z"}]})
    browser.login(ADMIN)
    html = browser.get(preview_url(dep, "change", plan_code="scale", effective_on="2026-04-16"),
                       htmx=True).get_data(as_text=True)
    assert "The month's invoice, with 1 other deployment" in html
    assert totals(html) == {"deployment": "$94.29", "others": "$50.05", "subtotal": "$144.34",
                            "tax": "$14.43", "total": "$158.77"}
    # This deployment's own lines are as before; the other's are not listed.
    assert amounts(html)[:7] == ["$25.00", "$3.75", "$2.56", "$0.10", "$60.00", "$2.68", "$0.20"]

    change_subscription(admin_user, dep.id, {"plan_code": "scale", "addons": [],
                                             "effective_on": "2026-04-16"})
    roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    invoice = db.session.scalar(select(Invoice).where(Invoice.tenant_id == acme.id))
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (14434, 1443, 15877)


def test_a_tenant_billed_in_two_currencies_still_previews_the_deployment(browser, admin_user, dep, acme):
    """The tenant's other deployment bills in USD: no invoice of the month can hold both (the
    rollup skips the tenant with a message), so the preview bills this deployment alone, as
    it did before it showed the whole invoice, and says why. Another tenant's deployment in
    AUD never shows either."""
    make_plan("usdplan", base_price_cents=5000, currency="USD")
    make_deployment(acme, name="usd", plan_code="usdplan", starts_on=date(2026, 3, 1))
    make_deployment(make_tenant("globex"), name="g", plan_code="studio", starts_on=date(2026, 3, 1))
    browser.login(ADMIN)
    r = browser.get(preview_url(dep, "end", ends_on="2026-04-10"), htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, section(html, "end")
    assert amounts(html) == ["$16.67", "$2.50", "$5.04", "$0.60"]
    assert totals(html) == {"subtotal": "$24.81", "tax": "$2.48", "total": "$27.29"}
    assert "The month&#39;s invoice, with" not in html
    assert ("The tenant&#39;s other deployments bill in USD: one invoice cannot hold two "
            "currencies, so the month&#39;s rollup skips this tenant until they bill in AUD.") in html


def test_preview_errors_are_shown_not_raised(browser, admin_user, dep):
    browser.login(ADMIN)
    for args, text in [
        ({"plan_code": "scale", "effective_on": ""}, "must be a date as YYYY-MM-DD"),
        ({"plan_code": "scale", "effective_on": "2026-02-30"}, "is not a real calendar date"),
        ({"plan_code": "nope", "effective_on": "2026-04-16"}, "unknown plan"),
        ({"plan_code": "scale", "effective_on": "2026-03-01"}, "must be after the running subscription"),
        ({"plan_code": "scale", "effective_on": "2026-04-16", "addons": "zzz"}, "unknown addon"),
        ({"plan_code": "scale", "effective_on": "99999-01-01"}, "must be a date"),
        ({}, "must not be empty"),
    ]:
        r = browser.get(preview_url(dep, "change", **args), htmx=True)
        assert r.status_code == 422, args
        assert "Cannot preview this yet" in r.get_data(as_text=True) and text in r.get_data(as_text=True)
    r = browser.get(preview_url(dep, "end", ends_on="2026-01-01"), htmx=True)
    assert r.status_code == 422 and "must be on or after" in r.get_data(as_text=True)
    assert browser.get(preview_url(dep, "sideways"), htmx=True).status_code == 404


def test_a_preview_without_htmx_is_the_whole_page_with_the_form_as_typed(browser, admin_user, dep):
    browser.login(ADMIN)
    r = browser.get(preview_url(dep, "change", plan_code="scale", effective_on="2026-04-16"))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    assert 'name="effective_on" value="2026-04-16"' in html
    assert '<option value="scale" selected>' in html
    assert totals(section(html, "change"))["total"] == "$103.72"


def test_changing_through_the_form(browser, admin_user, dep):
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscription/change", htmx=True,
                     data={"plan_code": "scale", "effective_on": "2026-04-16"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="deployment-status"' in html
    assert "<code>scale</code> v1" in html
    assert '<dd data-field="starts_on">2026-04-16</dd>' in html
    subs = db.session.scalars(select(Subscription).where(Subscription.deployment_id == dep.id)
                              .order_by(Subscription.starts_on)).all()
    assert [(s.starts_on, s.ends_on) for s in subs] == [(date(2026, 3, 1), date(2026, 4, 15)),
                                                        (date(2026, 4, 16), None)]
    # Without JavaScript: the form posts and comes back to the page.
    r = browser.post(f"/deployments/{dep.id}/subscription/end", data={"ends_on": "2026-05-31"})
    assert r.status_code == 303 and r.headers["Location"] == f"/deployments/{dep.id}"
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert '<dd data-field="ends_on">2026-05-31</dd>' in html
    assert "Change plan or addons" not in html and "<h3>Subscribe</h3>" in html


def test_change_and_end_through_htmx_announce_what_they_did(browser, admin_user, dep):
    """One handler serves both forms: each answers with the widget and its own message."""
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscription/change", htmx=True,
                     data={"plan_code": "scale", "effective_on": "2026-04-16"})
    assert r.status_code == 200 and "<code>scale</code> v1" in r.get_data(as_text=True)
    assert json.loads(r.headers["HX-Trigger"]) == {
        "portal:status": "Subscription changed to scale from 2026-04-16."}
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"deployment-changed": True}
    r = browser.post(f"/deployments/{dep.id}/subscription/end", htmx=True, data={"ends_on": "2026-06-30"})
    assert r.status_code == 200 and '<dd data-field="ends_on">2026-06-30</dd>' in r.get_data(as_text=True)
    assert json.loads(r.headers["HX-Trigger"]) == {
        "portal:status": "Subscription ends: 2026-06-30 is its last billed day."}
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"deployment-changed": True}
    # From a stale page (nothing runs now): refused with its reason in the widget (htmx swaps a
    # 409 only as 200), the toast saying why, and nothing refreshed.
    r = browser.post(f"/deployments/{dep.id}/subscription/end", htmx=True, data={"ends_on": "2026-07-31"})
    assert r.status_code == 200 and "HX-Trigger-After-Swap" not in r.headers
    assert json.loads(r.headers["HX-Trigger"])["portal:status"]["tone"] == "bad"
    assert re.findall(r'<p class="error-message" role="alert">([^<]+)</p>', r.get_data(as_text=True)) == [
        f"deployment {dep.id} has no running subscription"]
    assert browser.post(f"/deployments/{dep.id}/subscription/sideways", htmx=True,
                        data={"ends_on": "2026-06-30"}).status_code == 404


def test_form_errors_sit_next_to_their_fields(browser, admin_user, dep):
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscription/change", htmx=True,
                     data={"plan_code": "scale", "effective_on": "2026-02-01"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    field = html.split('name="effective_on"', 1)[1].split("</label>", 1)[0]
    assert "must be after the running subscription&#39;s start (2026-03-01)" in field
    assert 'value="2026-02-01"' in html  # kept as typed
    r = browser.post(f"/deployments/{dep.id}/subscription/end", htmx=True, data={"ends_on": "tomorrow"})
    assert r.status_code == 422
    field = r.get_data(as_text=True).split('name="ends_on"', 1)[1].split("</label>", 1)[0]
    assert "must be a date as YYYY-MM-DD" in field


def test_an_issued_month_is_refused_with_the_reason(browser, admin_user, dep):
    from portal.services import invoices, rollup

    from portal.models import Invoice

    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    march = db.session.scalar(select(Invoice).where(Invoice.period_start == date(2026, 3, 1)))
    invoices.issue(march)
    db.session.commit()
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscription/change", htmx=True,
                     data={"plan_code": "scale", "effective_on": "2026-03-20"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200  # a 409 reaches HTMX as 200 with its message
    assert "correct an issued invoice with a credit note" in html
    r = browser.get(preview_url(dep, "end", ends_on="2026-03-10"), htmx=True)
    assert r.status_code == 200 and "credit note" in r.get_data(as_text=True)
    r = browser.post(f"/deployments/{dep.id}/subscription/change",
                     data={"plan_code": "scale", "effective_on": "2026-03-20"})
    assert r.status_code == 409


def test_tenants_never_see_the_forms_and_may_not_use_them(browser, admin_user, dep, acme):
    make_user("tenant_admin", tenant=acme, email="ta@example.com")
    other = make_deployment(make_tenant("globex"), plan_code="studio", starts_on=date(2026, 3, 1))
    browser.login("ta@example.com")
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert "Change plan or addons" not in html and "End the subscription" not in html
    assert browser.get(preview_url(dep, "change", plan_code="scale", effective_on="2026-04-16"),
                       htmx=True).status_code == 403
    assert browser.post(f"/deployments/{dep.id}/subscription/end", htmx=True,
                        data={"ends_on": "2026-04-16"}).status_code == 403
    assert browser.get(preview_url(other, "end", ends_on="2026-04-16"), htmx=True).status_code == 404
    assert browser.post(f"/deployments/{other.id}/subscription/change", htmx=True,
                        data={"plan_code": "studio", "effective_on": "2026-04-16"}).status_code == 404
