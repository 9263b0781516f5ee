"""The webhook page's deliveries: the shared list (newest event first, Older/Newer by cursor,
a status filter, the summary line, HTMX fragments), and "Redeliver all failed" behind a
confirmation."""
import json
import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, WebhookDelivery
from portal.models.tenancy import TENANT_ADMIN
from portal.services import webhooks
from tests.factories import make_tenant, make_user
from tests.webhook_outage import seven_events

ADMIN = "ops@example.com"



@pytest.fixture
def outage(browser, catalog, database, receiver, app, monkeypatch):
    """Seven events, oldest first: succeeded, failed, succeeded, failed, failed, pending,
    pending (the receiver answered 500 three times; no retries configured)."""
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [])
    make_user(email=ADMIN)
    hook = webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]})
    events, _ = seven_events(receiver, database)
    browser.login(ADMIN)
    return hook.id, events


def _events(html: str) -> list[str]:
    return re.findall(r"<code>(evt_\w+)</code>", html)


def _link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label), html)
    return found.group(1).replace("&amp;", "&") if found else None


def _summary(browser, html: str) -> str:
    url = re.search(r'class="list-summary" hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    r = browser.get(url, htmx=True)
    assert r.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", r.get_data(as_text=True))).strip()


def test_the_page_lists_newest_first_with_counts_and_the_bulk_action(browser, outage):
    hook_id, e = outage
    r = browser.get(f"/webhooks/{hook_id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert _events(html) == e[::-1]
    counts = re.sub(r"<[^>]+>", "", re.search(r'<p class="delivery-counts">(.*?)</p>', html, re.S).group(1))
    assert counts.split(" · ") == ["2 pending", "2 succeeded", "3 failed"]
    # The bulk action asks first (a details panel), and says how many it sends again.
    assert '<summary class="button secondary">Redeliver all failed…</summary>' in html
    assert "The 3 failed deliveries of this endpoint become pending" in html
    assert f'action="/webhooks/{hook_id}/deliveries/redeliver-failed"' in html
    assert "Redeliver 3 failed</button>" in html
    assert _summary(browser, html) == "7 deliveries · 1–7 of 7, page 1 of 1"


def test_status_filter_and_paging_as_htmx_fragments(browser, outage):
    hook_id, e = outage
    r = browser.get(f"/webhooks/{hook_id}?status=failed", htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    assert html.lstrip().startswith('<div id="delivery-rows" class="list"')  # the fragment alone
    assert "<h1>" not in html and _events(html) == [e[4], e[3], e[1]]
    assert _summary(browser, html) == "3 deliveries · 1–3 of 3, page 1 of 1"

    # Older, then Newer, two at a time, the filter kept.
    first = browser.get(f"/webhooks/{hook_id}?per_page=2", htmx=True).get_data(as_text=True)
    assert _events(first) == [e[6], e[5]] and _link(first, "← Newer") is None
    assert _summary(browser, first) == "7 deliveries · 1–2 of 7, page 1 of 4"
    pages, html = [_events(first)], first
    while _link(html, "Older →"):
        html = browser.get(_link(html, "Older →"), htmx=True).get_data(as_text=True)
        pages.append(_events(html))
    assert pages == [[e[6], e[5]], [e[4], e[3]], [e[2], e[1]], [e[0]]]
    assert _summary(browser, html) == "7 deliveries · 7–7 of 7, page 4 of 4"
    back = browser.get(_link(html, "← Newer"), htmx=True).get_data(as_text=True)
    assert _events(back) == [e[2], e[1]]
    assert _summary(browser, back) == "7 deliveries · 5–6 of 7, page 3 of 4"

    failed = browser.get(f"/webhooks/{hook_id}?status=failed&per_page=2", htmx=True).get_data(as_text=True)
    older = _link(failed, "Older →")
    assert older.startswith(f"/webhooks/{hook_id}?status=failed&per_page=2&cursor=o.")
    assert _events(browser.get(older, htmx=True).get_data(as_text=True)) == [e[1]]

    # Oldest first, from the Event header.
    oldest = browser.get(f"/webhooks/{hook_id}?sort=event", htmx=True).get_data(as_text=True)
    assert _events(oldest) == e and 'aria-sort="ascending"' in oldest


def test_an_empty_filter_says_so(browser, outage, database):
    hook_id, _ = outage
    other = webhooks.create_webhook(None, {"url": "http://127.0.0.1:9/x", "events": ["drift.opened"]})
    html = browser.get(f"/webhooks/{other.id}").get_data(as_text=True)
    assert "No deliveries yet." in html and "Redeliver all failed" not in html
    assert "No failed deliveries." in browser.get(f"/webhooks/{other.id}?status=failed").get_data(as_text=True)


@pytest.mark.parametrize("query", ["status=bogus", "cursor=garbage", "cursor=o.5&page=1",
                                   "per_page=0", "sort=-status", "status=%00", "cursor=o.%ff"])
def test_hostile_query_strings_are_422_never_500(browser, outage, query):
    hook_id, _ = outage
    for path in (f"/webhooks/{hook_id}", f"/webhooks/{hook_id}/deliveries/summary"):
        for htmx in (False, True):
            r = browser.get(f"{path}?{query}", htmx=htmx)
            assert r.status_code in (400, 422), (path, query, r.status_code)


def test_the_bulk_button_redelivers_then_finds_none(browser, outage, receiver, database):
    hook_id, e = outage
    r = browser.post(f"/webhooks/{hook_id}/deliveries/redeliver-failed")
    assert r.status_code == 303 and r.headers["Location"] == f"/webhooks/{hook_id}"
    html = browser.get(f"/webhooks/{hook_id}").get_data(as_text=True)
    assert "3 failed deliveries sent again, oldest event first" in html
    assert [json.loads(q["body"])["id"] for q in receiver.requests[5:]] == [e[1], e[3], e[4], e[5], e[6]]
    counts = re.sub(r"<[^>]+>", "", re.search(r'<p class="delivery-counts">(.*?)</p>', html, re.S).group(1))
    assert counts.split(" · ") == ["0 pending", "7 succeeded", "0 failed"]
    assert "Redeliver all failed" not in html
    browser.post(f"/webhooks/{hook_id}/deliveries/redeliver-failed")
    assert "No delivery had failed: nothing was sent again." in browser.get(f"/webhooks/{hook_id}").get_data(as_text=True)
    assert len(receiver.requests) == 10
    audited = database.session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == "webhook.redeliver_failed")).all()
    assert audited == [{"count": 3, "first_event": e[1], "last_event": e[4]}]


def test_tenant_roles_are_refused(browser, outage, receiver):
    hook_id, _ = outage
    make_user(TENANT_ADMIN, make_tenant(), email="t@example.com")
    browser.client.post("/logout", headers={"X-CSRFToken": browser.csrf_token()})
    browser.login("t@example.com")
    assert browser.get(f"/webhooks/{hook_id}").status_code == 403
    assert browser.get(f"/webhooks/{hook_id}/deliveries/summary").status_code == 403
    assert browser.post(f"/webhooks/{hook_id}/deliveries/redeliver-failed").status_code == 403
    assert len(receiver.requests) == 5


def test_the_redeliver_forms_refuse_a_post_without_the_csrf_token(browser, outage, receiver,
                                                                   database):
    hook_id, _ = outage
    failed = database.session.scalar(select(WebhookDelivery.id).where(
        WebhookDelivery.webhook_id == hook_id, WebhookDelivery.status == "failed"))
    for path in (f"/webhooks/{hook_id}/deliveries/redeliver-failed",
                 f"/webhooks/{hook_id}/deliveries/{failed}/redeliver"):
        assert browser.client.post(path).status_code == 400  # signed in, but no token
    assert len(receiver.requests) == 5
    assert webhooks.count_by_status(hook_id) == {"pending": 2, "succeeded": 2, "failed": 3}
    assert database.session.scalar(select(AuditEntry.id).where(
        AuditEntry.action.like("webhook.redeliver%"))) is None
