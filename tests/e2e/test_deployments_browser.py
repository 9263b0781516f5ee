"""The deployments list in Chromium: creating a deployment from the list answers in place
(the form's result, the status message) and the list refreshes itself on the event the answer
fires, with no page load; a header sorts the list in place. Its own live portal (the demo)."""
from playwright.sync_api import expect

from tests.e2e.test_browser import (  # noqa: F401  (fixtures, used by name)
    assert_no_reload,
    browser,
    csp_violations,
    live_url,
    signed_in,
    stay_marker,
)


def test_creating_a_deployment_shows_the_message_and_the_new_row_without_a_reload(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/deployments/")
    rows = page.locator("#deployment-rows tbody tr")
    expect(rows).to_have_count(4)  # the demo's
    expect(page.locator(".list-summary")).to_contain_text("4 deployments")
    stay_marker(page)
    page.click("a:has-text('New deployment')")
    form = page.locator("#deployment-create form")
    expect(form.locator("select[name=region] option[value=syd1]")).to_have_text("Sydney 1 (syd1)")
    form.locator("select[name=tenant]").select_option("globex")
    form.locator("input[name=name]").fill("edge-cache")
    form.locator("select[name=region]").select_option("syd1")
    form.locator("button:has-text('Create deployment')").click()
    expect(page.locator("#status-toast")).to_have_text(
        "Deployment edge-cache requested for globex in Sydney 1 (syd1).")
    expect(page.locator("#deployment-create .notice")).to_contain_text("edge-cache requested for globex")
    # The list refreshed on `deployment-changed`: newest first, so the new row is on top.
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("edge-cache")
    expect(rows.first).to_contain_text("Sydney 1 (syd1)")
    expect(page.locator(".list-summary")).to_contain_text("5 deployments")
    # A name already taken: the message sits by the field, the list is untouched.
    form.locator("select[name=tenant]").select_option("globex")
    form.locator("input[name=name]").fill("edge-cache")
    form.locator("select[name=region]").select_option("sgp1")
    form.locator("button:has-text('Create deployment')").click()
    expect(page.locator("#err-name")).to_have_text("already exists for this tenant")
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    expect(rows).to_have_count(5)
    assert_no_reload(page)


def test_filters_and_a_sort_header_work_in_place(signed_in, live_url):
    page = signed_in("admin@example.com")
    page.goto(f"{live_url}/deployments/")
    stay_marker(page)
    # Typed into the search box, then (leaving it) a select and a header: each answer is the
    # list of what was asked last.
    page.locator("#deployment-filters input[name=tenant]").fill("acme")
    names = page.locator("#deployment-rows tbody tr td:first-child")
    expect(page.locator(".list-summary")).to_contain_text("3 deployments")
    page.locator("#deployment-filters select[name=region]").select_option("syd1")
    expect(page.locator(".list-summary")).to_contain_text("2 deployments")
    expect(names).to_have_text(["rag-search", "llm-inference"])
    page.click("#deployment-rows a.sort-link:has-text('Name')")
    expect(names).to_have_text(["llm-inference", "rag-search"])  # the filter kept, A to Z
    expect(page.locator("#deployment-rows th[aria-sort=ascending]")).to_contain_text("Name")
    assert "tenant=acme" in page.url and "region=syd1" in page.url and "sort=name" in page.url
    assert_no_reload(page)
