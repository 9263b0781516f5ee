"""After every action a person sees what happened without reloading: a status message (the
toast) and every related part of the page as it now is. Each test sets ``window.__marker``,
acts, and checks the toast, the refreshed rows and that the marker survived (a page load
would have wiped it).

The demo plus two tenants of this module's own (Initech and Umbrella, subscribed before the
demo's months) give the rollups something to create and the issue test a draft.
FEEDBACK_WIDTH sets the viewport (default 1400); with FEEDBACK_SHOTS=<dir> each test saves
a screenshot with its toast showing.
"""
import os
import re
from datetime import date
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.e2e.live import live_portal
from tests.e2e.test_browser import PASSWORD, _watch_csp, browser, csp_violations  # noqa: F401 (fixtures)

WIDTH = int(os.environ.get("FEEDBACK_WIDTH", "1400"))
SHOTS = os.environ.get("FEEDBACK_SHOTS")


def _months_back(n: int) -> date:
    from portal.billing.proration import month_start, previous_month_start

    day = month_start(date.today())
    for _ in range(n):
        day = previous_month_start(day)
    return day


def _world():
    """Initech from four months back, Umbrella from five; the fourth month back rolled up
    (two drafts). Runs in the live app's context after the demo is loaded."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Invoice
    from portal.services import accounts, deployments, rollup

    admin = accounts.user_by_email("admin@example.com")
    for slug, name, dep, months in (("initech", "Initech", "ledger", 4), ("umbrella", "Umbrella", "hive", 5)):
        accounts.create_tenant(slug, name, billing_name=f"{name} Pty Ltd")
        created = deployments.create_deployment(admin, {"tenant": slug, "name": dep, "region": "syd1"})
        deployments.subscribe(admin, created.id, {"plan_code": "studio", "addons": [],
                                                  "starts_on": _months_back(months).isoformat()})
    start = _months_back(4)
    rollup.roll_up_period(start, _months_back(3), actor=admin)
    db.session.commit()
    initech = accounts.tenant_by_slug("initech")
    globex = accounts.tenant_by_slug("globex")
    draft = db.session.scalar(select(Invoice).where(Invoice.tenant_id == initech.id, Invoice.period_start == start))
    # Globex's open invoice: last month's, issued and unpaid.
    open_one = db.session.scalar(select(Invoice).where(
        Invoice.tenant_id == globex.id, Invoice.period_start == _months_back(1)))
    umbrella = accounts.tenant_by_slug("umbrella")
    other = db.session.scalar(select(Invoice).where(Invoice.tenant_id == umbrella.id, Invoice.period_start == start))
    return SimpleNamespace(draft_id=draft.id, other_draft_id=other.id, open_id=open_one.id,
                           open_number=open_one.number)


@pytest.fixture(scope="module")
def live():
    with live_portal("feedback_e2e", setup=_world) as (url, app, world):
        yield SimpleNamespace(url=url, app=app, world=world)


@pytest.fixture
def admin(browser, live, csp_violations):  # noqa: F811 (the imported fixtures)
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    _watch_csp(context, csp_violations)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.goto(f"{live.url}/login")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_contain_text("admin@example.com")
    yield page
    context.close()


def mark(page):
    page.evaluate("window.__marker = 1")


def still_marked(page):
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"


BAD = re.compile(r"\btone-bad\b")


def toast(page, text, bad=False, whole=True):
    """The toast shows ``text`` (or starts with it, whole=False), as an error or not."""
    box = page.locator("#status-toast")
    expect(box).to_have_text(text if whole else re.compile("^" + re.escape(text)))
    expect(box).to_be_visible()
    if bad:
        expect(box).to_have_class(BAD)
        expect(box).to_have_attribute("role", "alert")
    else:
        expect(box).not_to_have_class(BAD)


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{WIDTH}.png"), full_page=False)


def test_subscribe_says_so_and_shows_the_subscription(admin, live):
    page = admin
    page.goto(f"{live.url}/deployments/")
    page.click("text=batch-jobs")
    mark(page)
    form = page.locator("form.subscribe")
    # Into a month already invoiced: refused with the reason, in the toast and by the form.
    form.locator("input[name=starts_on]").fill(_months_back(1).isoformat())
    form.locator("button:has-text('Subscribe')").click()
    toast(page, f"Could not subscribe: {_months_back(1):%Y-%m} is already invoiced", bad=True, whole=False)
    expect(page.locator("#deployment-status .error-message")).to_be_visible()
    shot(page, "subscribe-refused")
    form = page.locator("form.subscribe")
    form.locator("select[name=plan_code]").select_option("studio")
    form.locator("input[name=starts_on]").fill(date.today().isoformat())
    form.locator("button:has-text('Subscribe')").click()
    toast(page, f"batch-jobs subscribed to Studio from {date.today().isoformat()}.")
    expect(page.locator("[data-field=starts_on]")).to_have_text(date.today().isoformat())
    expect(page.locator("[data-field=ends_on]")).to_have_text("running")
    expect(page.locator("form.change")).to_be_visible()  # now it may be changed, not subscribed
    expect(page.locator("form.subscribe")).to_have_count(0)
    shot(page, "subscribe")
    still_marked(page)


def test_issue_says_so_and_the_payments_and_messages_appear(admin, live):
    page = admin
    page.goto(f"{live.url}/invoices/{live.world.draft_id}")
    expect(page.locator("#invoice-payments, #payments")).to_have_count(0)  # a draft has none
    mark(page)
    page.click("#invoice-header button:has-text('Issue')")
    expect(page.locator("#invoice-header h1")).to_contain_text("Invoice ARC-")
    number = page.locator("#invoice-header h1").inner_text().split()[1]
    toast(page, f"Invoice {number} issued.")
    expect(page.locator("#invoice-header .badge").first).to_have_text("issued")
    # Refreshed through "invoice-changed": the payments part and its form, the messages.
    expect(page.locator("#payments")).to_contain_text("No payments recorded.")
    expect(page.locator("button:has-text('Record payment')")).to_be_visible()
    expect(page.locator("#invoice-messages")).to_contain_text(f"Tax invoice {number}")
    shot(page, "issue")
    still_marked(page)


def test_issuing_what_someone_issued_meanwhile_says_why_not(admin, live):
    from portal.extensions import db
    from portal.services import accounts, invoices

    page = admin
    page.goto(f"{live.url}/invoices/{live.world.other_draft_id}")
    mark(page)
    with live.app.app_context():  # another admin, another tab: issued since the page loaded
        number = invoices.transition_invoice(accounts.user_by_email("admin@example.com"),
                                             live.world.other_draft_id, {"to": "issued"}).number
        db.session.commit()
    page.click("#invoice-header button:has-text('Issue')")
    toast(page, f"invoice {number} is issued; it cannot become issued (allowed: paid, void)", bad=True)
    expect(page.locator("#invoice-header .error-message")).to_contain_text("cannot become issued")
    expect(page.locator("#invoice-header .badge").first).to_have_text("issued")  # as it now is
    shot(page, "issue-conflict")
    still_marked(page)


def test_pay_part_then_mark_paid_refreshes_badge_due_and_payments(admin, live):
    page = admin
    page.goto(f"{live.url}/invoices/{live.world.open_id}")
    due_before = page.locator("[data-money=due] strong").inner_text()
    mark(page)
    # A bad amount: the field's error in place and in the toast.
    page.fill("input[name=amount]", "ten dollars")
    page.click("button:has-text('Record payment')")
    toast(page, "Could not record the payment: Amount: must be an amount such as 43.25", bad=True)
    expect(page.locator("#invoice-money .field-errors")).to_contain_text("must be an amount such as 43.25")
    # A part payment.
    page.fill("input[name=amount]", "10.00")
    page.fill("input[name=reference]", "EFT feedback-1")
    page.click("button:has-text('Record payment')")
    expect(page.locator("#status-toast")).to_contain_text(
        f"Payment of $10.00 AUD recorded on {live.world.open_number}; ")
    expect(page.locator("#status-toast")).to_contain_text("still due.")
    expect(page.locator("#payments tr.payment")).to_have_count(1)
    expect(page.locator("#payments")).to_contain_text("EFT feedback-1")
    expect(page.locator("[data-money=paid]")).to_contain_text("$10.00 AUD")  # the header, by event
    expect(page.locator("[data-money=due] strong")).not_to_have_text(due_before)
    due_after_part = page.locator("[data-money=due] strong").inner_text()
    assert _cents(due_before) - _cents(due_after_part) == 1000
    shot(page, "pay")
    # Mark paid: the badge, nothing due, and the payments list gains the rest.
    page.click("#invoice-header button:has-text('Mark paid')")
    toast(page, f"Invoice {live.world.open_number} marked paid.")
    expect(page.locator("#invoice-header .badge").first).to_have_text("paid")
    expect(page.locator("[data-money=due] strong")).to_have_text("$0.00 AUD")
    expect(page.locator("#payments tr.payment")).to_have_count(2)
    expect(page.locator("#payments")).to_contain_text(due_after_part)
    expect(page.locator("button:has-text('Record payment')")).to_have_count(0)
    still_marked(page)


def _cents(text: str) -> int:
    return int(text.split()[0].lstrip("$").replace(",", "").replace(".", ""))


def test_an_inline_rollup_says_what_it_did_and_the_list_below_refreshes(admin, live):
    page = admin
    period = _months_back(3)
    page.goto(f"{live.url}/invoices/")
    rows = page.locator("#invoice-rows tbody tr")
    before = rows.count()
    expect(page.locator("#invoice-rows")).not_to_contain_text(period.strftime("%B %Y"))
    mark(page)
    page.fill("form[hx-post$='/invoices/rollup'] input[name=period]", period.strftime("%Y-%m"))
    page.click("button:has-text('Run rollup')")
    toast(page, f"Rollup of {period:%Y-%m}: 2 created, 0 skipped.")
    expect(rows).to_have_count(before + 2)
    month = page.locator("#invoice-rows tbody tr", has_text=period.strftime("%B %Y"))
    expect(month).to_have_count(2)
    expect(month.filter(has_text="Initech")).to_contain_text("draft")
    expect(month.filter(has_text="Umbrella")).to_contain_text("draft")
    shot(page, "rollup")
    still_marked(page)


def test_a_rollup_on_the_worker_polls_then_says_so_and_refreshes_the_list(admin, live):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from portal.queue import queue_names

    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    Redis.from_url(redis_url).flushdb()
    live.app.config.update(REDIS_URL=redis_url, RQ_QUEUE="portal-feedback-e2e")
    try:
        page = admin
        period = _months_back(5)
        page.goto(f"{live.url}/invoices/")
        mark(page)
        page.fill("form[hx-post$='/invoices/rollup'] input[name=period]", period.strftime("%Y-%m"))
        page.click("button:has-text('Run rollup')")
        expect(page.locator("#rollup-status .progress")).to_contain_text(f"Rollup of {period:%Y-%m}: queued")
        expect(page.locator("#status-toast")).not_to_be_visible()  # nothing done yet
        conn = Redis.from_url(redis_url)
        queues = [Queue(name, connection=conn) for name in queue_names("portal-feedback-e2e")]
        with live.app.app_context():
            SimpleWorker(queues, connection=conn).work(burst=True)
        assert sum(q.failed_job_registry.count for q in queues) == 0
        toast(page, f"Rollup of {period:%Y-%m}: 1 created, 0 skipped.")  # the poll after it finished
        expect(page.locator("#rollup-status .progress")).to_have_count(0)  # polling stopped
        month = page.locator("#invoice-rows tbody tr", has_text=period.strftime("%B %Y"))
        expect(month).to_have_count(1)
        expect(month).to_contain_text("Umbrella")
        still_marked(page)
    finally:
        live.app.config.update(REDIS_URL=None)


def test_sync_says_how_it_went_and_the_tables_refresh(admin, live):
    from sqlalchemy import update

    from portal.extensions import db
    from portal.models import ProviderResource

    with live.app.app_context():  # the portal's copy goes stale: the sync puts it right
        db.session.execute(update(ProviderResource).where(ProviderResource.name == "scratch-box")
                           .values(name="stale-name"))
        db.session.commit()
    page = admin
    page.goto(f"{live.url}/provider/inventory")
    table = page.locator("#inventory-resources")
    expect(table).to_contain_text("stale-name")
    mark(page)
    page.click("button:has-text('Sync now')")
    toast(page, "Synced from the demo provider: inventory ok, billing ok.")
    expect(table).not_to_contain_text("stale-name")
    expect(table).to_contain_text("scratch-box")
    expect(page.locator("#sync-result")).to_contain_text("Inventory: ok")
    expect(page.locator("main")).not_to_contain_text("eload")  # nothing asks for a reload
    shot(page, "sync")
    still_marked(page)


def test_accepting_drift_moves_the_item_from_open_to_closed(admin, live):
    page = admin
    page.goto(f"{live.url}/provider/drift")
    open_items = page.locator("#drift-open")
    closed = page.locator("#drift-closed")
    expect(open_items).to_contain_text("scratch-box")
    expect(closed).not_to_contain_text("scratch-box")
    count = open_items.locator("tbody tr.drift-row").count()
    mark(page)
    row = open_items.locator("tr", has_text="scratch-box")
    item_id = row.get_attribute("id").removeprefix("drift-")
    row.locator("button:has-text('Accept')").click()
    toast(page, f"Drift item {item_id} accepted.")
    expect(open_items).not_to_contain_text("scratch-box")
    expect(open_items.locator("tbody tr.drift-row")).to_have_count(count - 1)
    expect(open_items.locator("h2")).to_contain_text(f"({count - 1})")
    expect(closed.locator("tr", has_text="scratch-box")).to_contain_text("Accepted by admin@example.com")
    shot(page, "accept")
    still_marked(page)


def test_on_a_phone_the_toast_covers_no_control_and_steps_aside(browser, live, csp_violations):  # noqa: F811
    """At 390 px the toast sits at the top of the viewport, not over the invoice's buttons at
    the bottom; a tap under it reaches the page, and any tap hides it."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    _watch_csp(context, csp_violations)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{live.url}/login")
        page.fill("input[name=email]", "admin@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("header .who")).to_contain_text("admin@example.com")
        with live.app.app_context():  # the demo's Acme invoice left open, which no other test pays
            from portal.extensions import db
            from portal.models import Invoice
            from sqlalchemy import select
            acme_open = db.session.scalar(select(Invoice.id).where(Invoice.number == "ARC-000003"))
        page.goto(f"{live.url}/invoices/{acme_open}")
        mark(page)
        page.fill("input[name=amount]", "ten dollars")
        page.click("button:has-text('Record payment')")
        toast(page, "Could not record the payment: Amount: must be an amount such as 43.25", bad=True)
        box = page.locator("#status-toast").bounding_box()
        assert box["y"] < 20 and box["y"] + box["height"] < 844 / 3, box  # at the top
        # No visible button or field of the page lies under it...
        covered = page.evaluate("""() => {
            const t = document.getElementById('status-toast').getBoundingClientRect();
            return [...document.querySelectorAll('main button, main summary, main input, main select, main a')]
              .filter(e => { const r = e.getBoundingClientRect();
                             return r.width && r.bottom > t.top && r.top < t.bottom && r.right > t.left && r.left < t.right; })
              .map(e => e.outerHTML.slice(0, 80)); }""")
        # ...and whatever is, a tap reaches it: the toast takes no pointer events.
        under = page.evaluate("""() => { const r = document.getElementById('status-toast').getBoundingClientRect();
            return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).id; }""")
        assert under != "status-toast", covered
        page.locator("main h2").first.click()  # any tap hides it
        expect(page.locator("#status-toast")).not_to_be_visible()
        still_marked(page)
    finally:
        context.close()
