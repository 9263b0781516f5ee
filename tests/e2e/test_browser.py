"""A person at a browser: Debian's Chromium, driven by Playwright, against a live portal on
127.0.0.1 with the demo loaded into a PostgreSQL database of its own. These prove what the
other tests only infer from headers: the vendored htmx swaps fragments in place (no page
load), sends the CSRF header, and shows 422s inline."""
import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.live import live_portal

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync"]
PASSWORD = "arcadia-demo"


@pytest.fixture(scope="module")
def live_url():
    with live_portal("e2e") as (url, _app, _extra):
        yield url


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: scripts/system-deps installs it"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


# Reports every Content-Security-Policy violation on the console, where the fixture hears it
# (Chromium also logs its own "Refused to ..." line for each).
_REPORT_CSP = """document.addEventListener('securitypolicyviolation', e => console.error(
  'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));"""


@pytest.fixture
def csp_violations():
    """Every CSP violation any page of the test raised; none may remain at its end."""
    seen = []
    yield seen
    assert seen == [], "pages raised Content-Security-Policy violations"


def _watch_csp(context, seen):
    context.add_init_script(_REPORT_CSP)

    def on_console(message):
        if "Content Security Policy" in message.text or "CSP violation" in message.text:
            seen.append(message.text)

    context.on("console", on_console)


@pytest.fixture
def signed_in(browser, live_url, csp_violations):
    contexts = []

    def sign_in(email):
        context = browser.new_context(accept_downloads=True)
        contexts.append(context)
        _watch_csp(context, csp_violations)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
        page.goto(f"{live_url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("header .who")).to_contain_text(email)
        return page

    yield sign_in
    for context in contexts:
        context.close()


def stay_marker(page):
    """Set a marker a full page load would wipe out."""
    page.evaluate("window.__stayed = 'yes'")


def assert_no_reload(page):
    assert page.evaluate("window.__stayed") == "yes"


def test_the_quote_builder_reprices_as_you_type(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/quotes/new")
    stay_marker(page)
    page.check("input[value=storage_50gb]")
    page.fill("input[name=usage_droplet_hours]", "1488")
    page.fill("input[name=usage_llm_tokens]", "1,500,000")
    page.fill("input[name=usage_spaces_gb]", "200")
    page.fill("input[name=starts_on]", "2026-05-20")
    expect(page.locator("[data-total=all_in]")).to_have_text("$63.50 AUD")
    expect(page.locator("[data-total=first_invoice]")).to_have_text("$22.25 AUD")
    page.fill("input[name=usage_llm_tokens]", "lots")
    expect(page.locator("#breakdown")).to_contain_text("LLM tokens: must be a number")  # a 422, shown
    # ... and by the field itself (out of band), which keeps the focus it is being typed in
    expect(page.locator("#err-usage_llm_tokens")).to_have_text("must be a number")
    assert page.evaluate("document.activeElement.name") == "usage_llm_tokens"
    assert_no_reload(page)


def test_a_deployment_moves_along_its_states_in_place(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/deployments/")
    page.click("text=batch-jobs")
    stay_marker(page)
    page.click("button:has-text('Start provisioning')")
    expect(page.locator("text=admin@example.com").first).to_be_visible()
    expect(page.locator("button:has-text('Activate')")).to_be_visible()
    assert_no_reload(page)


def test_accepting_drift_swaps_its_row(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/provider/drift")
    stay_marker(page)
    row = page.locator("tr", has_text="scratch-box")
    row.locator("button:has-text('Accept')").click()
    expect(page.locator("tr", has_text="scratch-box")).to_contain_text("Accepted by admin@example.com")
    assert_no_reload(page)


def test_the_rollup_button_reports_in_place(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/invoices/")
    stay_marker(page)
    page.click("button:has-text('Run rollup')")
    expect(page.locator("#rollup-status")).to_contain_text("0 created, 2 skipped, 0 rebuilt")
    assert_no_reload(page)


def test_a_tenant_downloads_its_own_invoice_pdf(signed_in, live_url):
    page = signed_in("victor@example.com")
    page.goto(f"{live_url}/invoices/")
    rows = page.locator("table.invoices tbody tr")
    expect(rows).to_have_count(2)  # Acme's two months; never Globex's
    expect(page.locator("table.invoices")).not_to_contain_text("Globex")
    with page.expect_download() as download:
        rows.first.locator("a:has-text('PDF')").click()
    path = download.value.path()
    with open(path, "rb") as f:
        assert f.read(5) == b"%PDF-"
    assert download.value.suggested_filename.startswith("ARC-")


def test_pages_raise_no_csp_violation_and_htmx_still_works(signed_in, live_url, csp_violations):
    page = signed_in("admin@example.com")
    response = page.goto(f"{live_url}/quotes/new")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    # htmx would add an inline <style> for its indicators: the config turns it off.
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    stay_marker(page)
    page.fill("input[name=usage_llm_tokens]", "1,500,000")
    expect(page.locator("[data-total=all_in]")).to_have_text("$55.00 AUD")
    page.fill("input[name=usage_llm_tokens]", "2,500,000")
    expect(page.locator("[data-total=all_in]")).to_have_text("$65.00 AUD")
    assert_no_reload(page)
    # Every page an admin reaches, the SVG chart on the dashboard included.
    for path in ("/", "/catalog/", "/deployments/", "/deployments/new", "/provider/",
                 "/provider/inventory", "/provider/drift", "/provider/costs",
                 "/provider/dashboard", "/tenants/", "/invoices/", "/billing/", "/billing/?tenant=acme",
                 "/exports/", "/webhooks/", "/catalog/plans/new", "/catalog/plans/studio/versions/new",
                 "/catalog/addons/new", "/tokens/", "/audit/", "/no-such-page"):
        page.goto(f"{live_url}{path}")
        page.wait_for_load_state("load")
    page.goto(f"{live_url}/invoices/")
    page.locator("table.invoices tbody tr a").first.click()
    page.wait_for_load_state("load")
    page.goto(f"{live_url}/deployments/")
    page.click("text=batch-jobs")
    page.wait_for_load_state("load")
    tenant = signed_in("victor@example.com")
    for path in ("/", "/deployments/", "/invoices/", "/billing/", "/exports/", "/tokens/"):
        tenant.goto(f"{live_url}{path}")
        tenant.wait_for_load_state("load")
    page.wait_for_timeout(300)  # let late reports arrive
    assert csp_violations == []

def test_changing_a_subscription_previews_its_month_as_you_type(signed_in, live_url):
    from datetime import date

    from portal.billing.proration import previous_month_start

    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/deployments/")
    page.click("text=rag-search")
    stay_marker(page)
    preview = page.locator("#subscription-preview-change")
    expect(preview).to_contain_text("for this deployment, after this change")
    form = page.locator("form.change")
    form.locator("input[value=storage_50gb]").check()
    expect(preview).to_contain_text("Storage 50 GB addon")  # the new subscription's line
    form.locator("input[name=effective_on]").fill(previous_month_start(date.today()).replace(day=15).isoformat())
    expect(preview).to_contain_text("correct an issued invoice with a credit note")
    form.locator("input[name=effective_on]").fill(date.today().isoformat())
    expect(preview).to_contain_text("Storage 50 GB addon")
    form.locator("button:has-text('Change subscription')").click()
    expect(page.locator("[data-field=starts_on]")).to_have_text(date.today().isoformat())
    assert_no_reload(page)


def test_billing_operations_in_the_browser(signed_in, live_url):
    """An admin records a payment and issues an adjustment note, then finds them in the
    account page, the credit notes, the outbox and the exports; the tenant sees its own."""
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/billing/?tenant=globex")
    expect(page.locator("h1")).to_have_text("Globex Research: account")
    page.locator("#owed table a").first.click()  # its open invoice
    number = page.locator("h1").inner_text()
    page.fill("input[name=amount]", "10.00")
    page.fill("input[name=reference]", "EFT from the browser")
    page.click("button:has-text('Record payment')")
    expect(page.locator("#payments")).to_contain_text("EFT from the browser")
    expect(page.locator("#payments")).to_contain_text("$10.00 AUD")
    page.locator("form:has(button:has-text('Issue credit note')) input[name^=line_]").first.fill("5.00")
    page.fill("textarea[name=reason]", "Goodwill for a slow week")
    page.click("button:has-text('Issue credit note')")
    # It stays on the invoice: the toast names the note, which joins the invoice's list.
    expect(page.locator("#status-toast")).to_contain_text("Credit note CN-")
    expect(page.locator("#credit-notes")).to_contain_text("Goodwill for a slow week")
    note = page.locator("#credit-notes tr.credit-note a").first.inner_text()
    assert note.startswith("CN-")
    page.goto(f"{live_url}/credit-notes/")
    expect(page.locator("main")).to_contain_text("Goodwill for a slow week")
    page.goto(f"{live_url}/outbox/")
    expect(page.locator("main")).to_contain_text("Adjustment note")
    page.goto(f"{live_url}/billing/?tenant=globex")
    expect(page.locator("#payments")).to_contain_text("EFT from the browser")
    expect(page.locator("#credit-notes")).to_contain_text("Goodwill for a slow week")
    page.goto(f"{live_url}/exports/")
    with page.expect_download() as download:
        page.locator("a:has-text('Payments')").click()
    with open(download.value.path(), encoding="utf-8") as f:
        head = f.readline()
    assert head.startswith("paid_on,invoice_number,tenant,method,reference,amount")

    tenant = signed_in("gina@example.com")
    tenant.goto(f"{live_url}/credit-notes/")
    expect(tenant.locator("main")).to_contain_text("Goodwill for a slow week")
    expect(tenant.locator("main")).not_to_contain_text("llm-inference unavailable")  # Acme's
    tenant.goto(f"{live_url}/billing/")
    expect(tenant.locator("h1")).to_have_text("Globex Research: account")
    assert number and note


def test_webhooks_and_catalog_admin_in_the_browser(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/webhooks/")
    page.fill("input[name=url]", "https://finance.example.com/arcadia")
    page.click("button:has-text('Register')")
    expect(page.locator("code.secret")).to_contain_text("whsec_")
    expect(page.locator("table")).to_contain_text("https://finance.example.com/arcadia")
    page.goto(f"{live_url}/catalog/plans/studio/versions/new")
    stay_marker(page)
    page.fill("input[name=base_price_cents]", "6500")
    expect(page.locator("#version-preview")).to_contain_text("effective_from is required")
    page.fill("input[name=effective_from]", "2099-01-01")
    expect(page.locator("#version-preview")).to_contain_text("$65.00 AUD")
    expect(page.locator("#version-preview .badge-changed")).to_have_count(1)
    assert_no_reload(page)

def test_a_password_reset_through_the_demo_outbox(browser, signed_in, live_url, csp_violations):
    """No MAIL_SERVER: the reset mail waits in the outbox, body shown, and its link works once."""
    import re

    new_password = "gina-chose-this-1"
    context = browser.new_context()
    _watch_csp(context, csp_violations)
    gina = context.new_page()
    gina.set_default_timeout(15_000)
    gina.goto(f"{live_url}/login")
    gina.click("a:has-text('Forgot password?')")
    gina.fill("input[name=email]", "gina@example.com")
    gina.click("button[type=submit]")
    expect(gina.locator("main [role=status]")).to_contain_text("If an account exists for that email")

    admin = signed_in("admin@example.com")
    admin.goto(f"{live_url}/outbox/")
    row = admin.locator("table.messages tbody tr", has_text="Reset your").first
    expect(row).to_contain_text("gina@example.com")
    row.locator("summary").click()
    body = row.locator("pre.mail-body").inner_text()
    link = re.search(r"http://\S+/password/link/[\w-]+", body).group(0)
    assert link.startswith(live_url)

    gina.goto(link)
    gina.fill("input[name=password]", new_password)
    gina.fill("input[name=confirm]", new_password)
    gina.click("button[type=submit]")
    expect(gina.locator("header .who")).to_contain_text("gina@example.com")
    gina.click("header button:has-text('Sign out')")

    gina.goto(f"{live_url}/login")
    gina.fill("input[name=email]", "gina@example.com")
    gina.fill("input[name=password]", new_password)
    gina.click("button[type=submit]")
    expect(gina.locator("header .who")).to_contain_text("gina@example.com")
    assert gina.goto(link).status == 410  # the link worked once
    context.close()


def _column_cents(page, index: int) -> list[int]:
    texts = page.locator(f"#invoice-rows tbody tr td:nth-child({index})").all_inner_texts()
    return [int("".join(ch for ch in text.split(" ")[0] if ch.isdigit())) for text in texts]


def test_clicking_a_header_sorts_the_list_in_place(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/invoices/")
    expect(page.locator(".list-summary")).to_contain_text("invoices ·")  # loaded after the rows
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Period")
    stay_marker(page)
    page.click("th a:has-text('Total')")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Total")
    totals = _column_cents(page, 7)
    assert len(totals) >= 3 and totals == sorted(totals, reverse=True), totals
    page.click("th a:has-text('Total')")
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Total")
    assert _column_cents(page, 7) == sorted(totals)
    assert "sort=total" in page.url
    # a filter change keeps the sort (the hidden input belongs to the filter form)
    page.select_option("select[name=status]", "issued")
    page.wait_for_url(lambda url: "status=issued" in url and "sort=total" in url)
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Total")
    expect(page.locator(".list-summary")).to_contain_text("due")
    assert_no_reload(page)
