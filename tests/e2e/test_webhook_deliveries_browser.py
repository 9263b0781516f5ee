"""The webhook page after a day's outage, in Chromium at 1400 and 390 px: it fits (the table
scrolls in its own box), axe finds nothing serious, the status filter swaps the list in place,
and "Redeliver all failed" (after its confirmation) sends the failed events to a real receiver
in order, once each. Screenshots of each width go to the test's tmp_path."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.live import live_portal
from tests.e2e.test_browser import PASSWORD, browser  # noqa: F401 (fixture)
from tests.e2e.test_design import _axe
from tests.fakes.receiver import Receiver

DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
# 72 events an hour apart: the receiver was down for the 30 in the middle (failed after its
# retries), two are waiting for a retry at the end.
STATUSES = ["succeeded"] * 20 + ["failed"] * 30 + ["succeeded"] * 20 + ["pending"] * 2


@pytest.fixture(scope="module")
def outage():
    with Receiver() as receiver:
        def setup():
            from portal.extensions import db
            from portal.models import (Webhook, WebhookAttempt, WebhookDelivery,
                                       WebhookEvent)

            hook = Webhook(url=receiver.url, events=["invoice.issued", "rollup.finished"],
                           secret="whsec_" + "x" * 40)
            db.session.add(hook)
            db.session.flush()
            public_ids = []
            for n, status in enumerate(STATUSES):
                at = DAY + timedelta(hours=n)
                event = WebhookEvent(public_id=f"evt_{n:024x}", created_at=at, data={"n": n},
                                     type="invoice.issued" if n % 3 else "rollup.finished")
                db.session.add(event)
                db.session.flush()
                public_ids.append(event.public_id)
                attempts = {"succeeded": 1, "failed": 6, "pending": 2}[status]
                delivery = WebhookDelivery(
                    webhook_id=hook.id, event_id=event.id, status=status, attempts=attempts,
                    last_status_code=200 if status == "succeeded" else None,
                    next_attempt_at=datetime(2030, 1, 1, tzinfo=timezone.utc) if status == "pending" else at,
                    delivered_at=at + timedelta(seconds=1) if status == "succeeded" else None)
                db.session.add(delivery)
                db.session.flush()
                for _ in range(attempts):
                    ok = status == "succeeded"
                    db.session.add(WebhookAttempt(
                        delivery_id=delivery.id, at=at, status_code=200 if ok else None,
                        duration_ms=41 if ok else 10_004,
                        error=None if ok else "ConnectError: [Errno 111] Connection refused"))
            db.session.commit()
            return hook.id, public_ids

        with live_portal("deliv_e2e", setup) as (url, _app, (hook_id, public_ids)):
            yield url, hook_id, public_ids, receiver


def _page(browser, url, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/login")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_contain_text("admin@example.com")
    return context, page


def _overflow(page):
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return scroll - inner


@pytest.mark.parametrize("width", [1400, 390])
def test_the_page_fits_and_reads_at_each_width(browser, outage, width, tmp_path):  # noqa: F811
    url, hook_id, public_ids, _ = outage
    context, page = _page(browser, url, width)
    try:
        page.goto(f"{url}/webhooks/{hook_id}")
        expect(page.locator(".list-summary")).to_have_text(
            "72 deliveries · 1–50 of 72, page 1 of 2")
        expect(page.locator(".delivery-counts")).to_have_text("2 pending · 40 succeeded · 30 failed")
        assert _overflow(page) <= 0
        assert _axe(page) == []
        if width == 1400:  # the whole table fits its card: nothing hides behind its scroll
            assert page.evaluate("(b => b.scrollWidth - b.clientWidth)("
                                 "document.querySelector('#delivery-rows .table-scroll'))") <= 0
        # What an operator looks for first, the status, is in view at every width.
        badge = page.locator("#delivery-rows tbody tr").first.locator(".badge").bounding_box()
        assert badge["x"] + badge["width"] <= width
        page.screenshot(path=str(tmp_path / f"webhook-{width}.png"), full_page=True)
        page.click("summary:has-text('Redeliver all failed…')")
        expect(page.locator(".confirm-panel")).to_contain_text("The 30 failed deliveries")
        assert _overflow(page) <= 0
        page.screenshot(path=str(tmp_path / f"webhook-{width}-confirm.png"))
    finally:
        context.close()


def test_filter_in_place_then_redeliver_all_failed(browser, outage):  # noqa: F811
    url, hook_id, public_ids, receiver = outage
    context, page = _page(browser, url, 1400)
    try:
        page.goto(f"{url}/webhooks/{hook_id}")
        page.evaluate("window.__stayed = 'yes'")
        page.select_option("select[name=status]", "failed")
        expect(page.locator(".list-summary")).to_have_text("30 deliveries · 1–30 of 30, page 1 of 1")
        assert page.evaluate("window.__stayed") == "yes"  # swapped by htmx, no page load
        assert page.url.endswith(f"/webhooks/{hook_id}?status=failed&sort=-event")
        codes = page.locator("#delivery-rows tbody code").all_inner_texts()
        assert codes == public_ids[20:50][::-1]

        page.click("summary:has-text('Redeliver all failed…')")
        page.click("button:has-text('Redeliver 30 failed')")
        expect(page.locator(".flash")).to_contain_text(
            "30 failed deliveries sent again, oldest event first")
        expect(page.locator(".delivery-counts")).to_have_text("2 pending · 70 succeeded · 0 failed")
        sent = [json.loads(r["body"])["id"] for r in receiver.requests]
        # In event order, each once; the two waiting for their retry (due in 2030) stay put.
        assert sent == public_ids[20:50]
        assert re.fullmatch(r"evt_0{22}14", sent[0])
    finally:
        context.close()
