import re

import pytest
from freezegun import freeze_time

from tests.factories import make_user

SEED_QUERY = (
    "/quotes/new?plan_code=studio&addons=storage_50gb&usage_droplet_hours=1488"
    "&usage_llm_tokens=1,500,000&usage_spaces_gb=200&starts_on=2026-05-20"
)


@pytest.fixture
def signed_in(browser, catalog):
    make_user(email="ann@example.com")
    browser.login("ann@example.com")
    return browser


def totals(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-total="([a-z_]+)">([^<]+)<', html))


def test_full_page_has_the_form_and_the_breakdown(signed_in):
    r = signed_in.get(SEED_QUERY)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "<html" in html and 'hx-get="/quotes/new"' in html
    assert 'src="/static/vendor/htmx-2.0.11.min.js"' in html
    assert totals(html) == {
        "recurring": "$57.50 AUD",
        "first_invoice": "$22.25 AUD",
        "overage": "$6.00 AUD",
        "all_in": "$63.50 AUD",
    }
    assert "HX-Request" in r.headers["Vary"]


def test_htmx_request_gets_only_the_breakdown(signed_in):
    r = signed_in.get(SEED_QUERY, htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert html.lstrip().startswith('<section id="breakdown"')
    assert "HX-Request" in r.headers["Vary"]
    assert totals(html)["all_in"] == "$63.50 AUD"
    assert "LLM tokens beyond the 1,000,000 token allowance: 500 × $0.01 AUD per 1,000 tokens" in html
    assert "droplet_hours beyond" not in html


def test_first_visit_prices_the_first_plan_from_today(browser, catalog):
    make_user(email="ann@example.com")
    with freeze_time("2026-05-20 09:00:00"):  # before signing in: the cookie is signed with time
        browser.login("ann@example.com")
        html = browser.get("/quotes/new").get_data(as_text=True)
    assert 'value="2026-05-20"' in html
    assert totals(html) == {"recurring": "$50.00 AUD", "first_invoice": "$19.35 AUD",
                            "all_in": "$50.00 AUD"}


@pytest.mark.parametrize(
    "query, message",
    [
        ("plan_code=studio&starts_on=2026-05-20&usage_llm_tokens=lots",
         "<strong>LLM tokens</strong>: must be a number"),
        ("plan_code=studio&starts_on=2026-05-20&usage_spaces_gb=-5",
         "<strong>Spaces storage</strong>: must not be negative"),
        ("plan_code=studio&starts_on=", "<strong>Start date</strong>: enter a start date"),
        ("plan_code=ghost&starts_on=2026-05-20", "<strong>Plan</strong>: unknown plan &#39;ghost&#39;"),
        ("plan_code=studio&starts_on=2026-05-20&addons=ghost",
         "<strong>Addons</strong>: unknown addon &#39;ghost&#39;"),
    ],
)
def test_bad_input_shows_an_inline_message(signed_in, query, message):
    r = signed_in.get(f"/quotes/new?{query}", htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 422  # htmx-config swaps 422 like 200
    assert "Cannot price this yet" in html and message in html
    assert "data-total" not in html


def test_anonymous_visitors_are_sent_to_sign_in(client, catalog):
    r = client.get("/quotes/new")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/quotes/new")


def test_catalog_page_lists_plan_items_and_addons(signed_in):
    html = signed_in.get("/catalog/").get_data(as_text=True)
    assert "Version 1, effective from 2026-01-01: $50.00 AUD a month" in html
    assert "<td class=\"num\">1,000,000</td>" in html
    assert "$0.02 AUD per GB" in html and "Spaces storage" in html
    assert "+50 Spaces storage" in html and "$7.50 AUD" in html


def test_an_error_is_tied_to_its_field_and_every_error_is_listed(signed_in):
    """Each message sits by its field (aria-describedby) and the breakdown lists them all,
    each linking to its field; the HTMX fragment updates the field's line out of band."""
    query = "/quotes/new?plan_code=studio&starts_on=&usage_droplet_hours=abc"
    page = signed_in.get(query).get_data(as_text=True)
    assert '<span class="field-error" id="err-usage_droplet_hours">must be a number</span>' in page
    assert 'id="f-usage_droplet_hours"' in page and 'aria-describedby="err-usage_droplet_hours" aria-invalid="true"' in page
    assert '<span class="field-error" id="err-starts_on">enter a start date</span>' in page
    assert 'href="#f-usage_droplet_hours"' in page and 'href="#f-starts_on"' in page
    fragment = signed_in.get(query, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 422
    assert '<span class="field-error" id="err-starts_on" hx-swap-oob="true">enter a start date</span>' in html
    assert '<span class="field-error" id="err-usage_llm_tokens" hx-swap-oob="true"></span>' in html
