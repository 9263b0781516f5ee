import re
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.extensions import db
from portal.models import Deployment, Subscription
from portal.services import deployments as svc
from tests.factories import make_tenant, make_user

ADMIN = "admin@example.com"


@pytest.fixture
def acme(catalog):
    return make_tenant("acme", "Acme AI")


@pytest.fixture
def globex(catalog):
    return make_tenant("globex", "Globex")


@pytest.fixture
def admin_user(catalog):
    return make_user(email=ADMIN)


def create(admin_user, tenant, name, region="syd1", to=()):
    """A deployment made through the service, then moved along ``to``."""
    dep = svc.create_deployment(admin_user, {"tenant": tenant.slug, "name": name, "region": region})
    for state in to:
        svc.transition(admin_user, dep.id, {"to": state})
    return dep


def rows(html: str) -> list[list[str]]:
    """The deployments table's body as cell texts (tags stripped)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def history(html: str) -> list[list[str]]:
    table = html.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    return rows(table)


def status_of(dep_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Deployment, dep_id).status


# --- the list ---------------------------------------------------------------------------


def test_admin_lists_every_tenants_deployments(browser, admin_user, acme, globex):
    a = create(admin_user, acme, "llm", to=["provisioning", "active"])
    svc.subscribe(admin_user, a.id, {"plan_code": "studio", "starts_on": "2026-03-01"})
    g = create(admin_user, globex, "rag", region="sgp1")
    browser.login(ADMIN)
    r = browser.get("/deployments/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    day = a.created_at.strftime("%Y-%m-%d")
    assert rows(html) == [  # newest first
        ["rag", "globex", "Singapore 1 (sgp1)", "requested", "none", "", "", day],
        ["llm", "acme", "Sydney 1 (syd1)", "active", "studio v1", "2026-03-01", "", day],
    ]
    assert f'href="/deployments/{a.id}"' in html and f'href="/deployments/{g.id}"' in html
    assert '<span class="badge tone-ok">active</span>' in html
    assert 'href="/deployments/new"' in html
    assert 'href="/deployments/"' in html  # the nav link, now that the endpoint exists


def test_admin_filters_by_tenant_and_htmx_gets_the_table_alone(browser, admin_user, acme, globex):
    create(admin_user, acme, "llm")
    create(admin_user, globex, "rag")
    browser.login(ADMIN)
    html = browser.get("/deployments/?tenant=globex").get_data(as_text=True)
    assert [r[:2] for r in rows(html)] == [["rag", "globex"]]
    assert 'name="tenant" value="globex"' in html  # the search box keeps what was asked
    r = browser.get("/deployments/?tenant=acme", htmx=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    assert "<html" not in html and html.lstrip().startswith('<div id="deployment-rows" class="list">')
    assert [r[:2] for r in rows(html)] == [["llm", "acme"]]


def test_tenant_admin_sees_only_its_own_tenant(browser, admin_user, acme, globex):
    create(admin_user, acme, "acme-llm")
    theirs = create(admin_user, globex, "globex-secret")
    make_user("tenant_admin", tenant=acme, email="ta@acme.example")
    browser.login("ta@acme.example")
    html = browser.get("/deployments/").get_data(as_text=True)
    assert [r[:-1] for r in rows(html)] == [["acme-llm", "Sydney 1 (syd1)", "requested", "none", "", ""]]
    assert "globex-secret" not in html and ">Tenant</th>" not in html  # no tenant column
    assert 'href="/deployments/new"' in html
    # ?tenant= is the admins' filter; the service scopes a tenant user regardless
    assert "globex-secret" not in browser.get("/deployments/?tenant=globex").get_data(as_text=True)

    r = browser.get(f"/deployments/{theirs.id}")
    assert r.status_code == 404 and "globex-secret" not in r.get_data(as_text=True)
    r = browser.post(f"/deployments/{theirs.id}/transition", htmx=True, data={"to": "provisioning"})
    assert r.status_code == 404
    r = browser.post(f"/deployments/{theirs.id}/subscribe",
                     data={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 404
    assert status_of(theirs.id) == "requested"


def test_anonymous_visitors_are_sent_to_sign_in(client, catalog):
    r = client.get("/deployments/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/deployments/")


# --- viewing as a tenant_viewer ----------------------------------------------------------


def test_tenant_viewer_sees_the_page_but_may_not_act(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    make_user("tenant_viewer", tenant=acme, email="tv@acme.example")
    browser.login("tv@acme.example")
    listing = browser.get("/deployments/").get_data(as_text=True)
    assert [r[:-1] for r in rows(listing)] == [["llm", "Sydney 1 (syd1)", "requested", "none", "", ""]]
    assert "New deployment" not in listing
    r = browser.get(f"/deployments/{dep.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<h1>llm</h1>" in html
    assert "<dt>Region</dt><dd>Sydney 1 (syd1)</dd>" in html  # named as the list names it
    assert "/transition" not in html and "/subscribe" not in html and 'name="to"' not in html
    assert "<form" not in html.split('<section id="deployment-status"', 1)[1]
    assert history(html) == [[history(html)[0][0], "(created)", "requested", ADMIN]]

    r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": "provisioning"})
    assert r.status_code == 403
    r = browser.post(f"/deployments/{dep.id}/transition", data={"to": "provisioning"})
    assert r.status_code == 403
    r = browser.post(f"/deployments/{dep.id}/subscribe",
                     data={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 403
    assert browser.get("/deployments/new").status_code == 403
    assert browser.post("/deployments/new", data={"name": "x", "region": "syd1"}).status_code == 403
    assert status_of(dep.id) == "requested"
    assert db.session.scalars(select(Subscription)).all() == []


# --- transitions -------------------------------------------------------------------------


def test_admin_transitions_through_htmx_and_gets_the_partial(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    browser.login(ADMIN)
    page = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert 'hx-post="/deployments/%d/transition"' % dep.id in page
    assert 'name="to" value="provisioning"' in page and 'value="active"' not in page

    with freeze_time("2026-05-20 09:30:00"):
        browser.login(ADMIN)
        r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": "provisioning"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    assert __import__("json").loads(r.headers["HX-Trigger"]) == {"portal:status": "llm is now provisioning."}
    assert __import__("json").loads(r.headers["HX-Trigger-After-Swap"]) == {"deployment-changed": True}
    assert "<html" not in html and html.lstrip().startswith('<section id="deployment-status"')
    assert '<h2>Status <span class="badge status-provisioning">provisioning</span></h2>' in html
    assert history(html)[0] == ["2026-05-20 09:30 UTC", "requested", "provisioning", ADMIN]
    assert [row[1:3] for row in history(html)] == [["requested", "provisioning"], ["(created)", "requested"]]
    # the next moves from provisioning, and nothing else
    assert re.findall(r'name="to" value="([a-z]+)"', html) == ["active", "failed"]
    assert status_of(dep.id) == "provisioning"


def test_an_invalid_transition_shows_the_reason_inline(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    browser.login(ADMIN)
    message = "cannot go from requested to active; allowed: provisioning"
    r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": "active"})
    html = r.get_data(as_text=True)
    # htmx swaps only 2xx and 422 here: the 409 comes back as 200 carrying the message
    assert r.status_code == 200 and "<html" not in html
    assert f'<p class="error-message" role="alert">{message}</p>' in html
    assert '<span class="badge status-requested">requested</span>' in html
    # without JavaScript: the whole page, with the proper status
    r = browser.post(f"/deployments/{dep.id}/transition", data={"to": "active"})
    assert r.status_code == 409
    assert "<html" in r.get_data(as_text=True) and message in r.get_data(as_text=True)
    assert status_of(dep.id) == "requested"


def test_a_stale_button_gets_409_and_the_current_state(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm", to=["provisioning", "active"])
    browser.login(ADMIN)
    browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": "suspended"})
    # a second tab still shows "Suspend"
    r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={"to": "suspended"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "cannot go from suspended to suspended; allowed: active, decommissioned" in html
    assert re.findall(r'name="to" value="([a-z]+)"', html) == ["active", "decommissioned"]


def test_a_transition_without_a_target_state_is_422(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/transition", htmx=True, data={})
    assert r.status_code == 422 and "to: is required" in r.get_data(as_text=True)


def test_a_form_post_without_javascript_redirects_back(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm", to=["provisioning", "active"])
    make_user("tenant_admin", tenant=acme, email="ta@acme.example")
    browser.login("ta@acme.example")  # a tenant_admin may decommission its own deployments
    r = browser.post(f"/deployments/{dep.id}/transition", data={"to": "decommissioned"})
    assert r.status_code == 303 and r.headers["Location"] == f"/deployments/{dep.id}"
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert history(html)[0][1:] == ["active", "decommissioned", "ta@acme.example"]


def test_decommission_asks_for_confirmation(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm", to=["provisioning", "active"])
    browser.login(ADMIN)
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    forms = re.findall(r"<form[^>]*>.*?</form>", html, re.S)
    decommission = [f for f in forms if 'value="decommissioned"' in f]
    suspend = [f for f in forms if 'value="suspended"' in f]
    assert len(decommission) == 1 and len(suspend) == 1
    assert 'hx-confirm="Decommission llm?' in decommission[0]
    assert "hx-confirm" not in suspend[0]


def test_decommissioning_ends_the_subscription_today(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm", to=["provisioning", "active"])
    svc.subscribe(admin_user, dep.id, {"plan_code": "studio", "starts_on": "2026-04-01"})
    with freeze_time("2026-06-15 23:10:00"):  # before signing in: the cookie is signed with time
        browser.login(ADMIN)
        r = browser.post(f"/deployments/{dep.id}/transition", htmx=True,
                         data={"to": "decommissioned"})
        listing = browser.get("/deployments/").get_data(as_text=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<span class="badge status-decommissioned">decommissioned</span>' in html
    assert '<dd data-field="ends_on">2026-06-15</dd>' in html  # the partial shows it at once
    assert "Decommissioned is final." in html and 'name="to"' not in html
    assert 'action="/deployments/%d/subscribe"' % dep.id not in html  # no resubscribing
    db.session.expire_all()
    sub = db.session.scalars(select(Subscription).where(Subscription.deployment_id == dep.id)).one()
    assert (sub.starts_on, sub.ends_on) == (date(2026, 4, 1), date(2026, 6, 15))
    assert [r[:-1] for r in rows(listing)] == [
        ["llm", "acme", "Sydney 1 (syd1)", "decommissioned", "studio v1", "2026-04-01", "2026-06-15"]]


# --- creating ----------------------------------------------------------------------------


def test_admin_creates_a_deployment_for_a_tenant(browser, admin_user, acme, globex):
    browser.login(ADMIN)
    html = browser.get("/deployments/new").get_data(as_text=True)
    assert re.findall(r'<option value="([a-z]+)"', html) == ["acme", "globex"]
    r = browser.post("/deployments/new", data={"tenant": "globex", "name": "rag", "region": "sgp1"})
    dep = db.session.scalars(select(Deployment).where(Deployment.name == "rag")).one()
    assert r.status_code == 303 and r.headers["Location"] == f"/deployments/{dep.id}"
    assert (dep.tenant.slug, dep.region, dep.status) == ("globex", "sgp1", "requested")
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert "<h1>rag</h1>" in html and "<code>globex</code>" in html


def test_tenant_admin_requests_one_for_its_own_tenant(browser, acme, globex):
    make_user("tenant_admin", tenant=acme, email="ta@acme.example")
    browser.login("ta@acme.example")
    html = browser.get("/deployments/new").get_data(as_text=True)
    assert 'name="tenant"' not in html and "For Acme AI" in html
    # a forged tenant field is not passed on: the request is for its own tenant
    r = browser.post("/deployments/new", data={"tenant": "globex", "name": "llm", "region": "syd1"})
    assert r.status_code == 303
    dep = db.session.scalars(select(Deployment).where(Deployment.name == "llm")).one()
    assert dep.tenant.slug == "acme"


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"tenant": "acme", "name": "", "region": "syd1"}, "name", "must not be empty"),
        ({"tenant": "acme", "name": "llm", "region": "  "}, "region", "must not be empty"),
        ({"tenant": "acme", "name": "x" * 101, "region": "syd1"}, "name", "must be at most 100 characters"),
        ({"tenant": "", "name": "llm", "region": "syd1"}, "tenant", "is required (or tenant, its slug)"),
        ({"tenant": "nope", "name": "llm", "region": "syd1"}, "tenant", "unknown tenant &#39;nope&#39;"),
        ({"tenant": "acme", "name": "llm", "region": "mars1"}, "region",
         "is not one of the provider&#39;s regions; choose one of ams3, atl1, blr1, fra1, lon1, nyc1, "
         "nyc3, sfo2, sfo3, sgp1, syd1, tor1"),
        ({"tenant": "acme", "name": "llm", "region": "nyc2"}, "region",
         "New York 2 (nyc2) is not available for new deployments; choose one of ams3, atl1, blr1, "
         "fra1, lon1, nyc1, nyc3, sfo2, sfo3, sgp1, syd1, tor1"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_re_renders_the_form_with_messages_tied_to_fields(browser, admin_user, acme, form,
                                                                    field, message, htmx):
    browser.login(ADMIN)
    r = browser.post("/deployments/new", data=form, htmx=htmx)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert ("<html" in html) != htmx  # HTMX gets the form's section alone, to swap in place
    assert f'<span class="field-error" id="err-{field}">{message}</span>' in html
    # The field points at its message, and says it is wrong.
    control = re.search(rf'<(?:input|select) id="f-{field}"[^>]*>', html).group(0)
    assert f'aria-describedby="hint-{field} err-{field}"' in control or \
        f'aria-describedby="err-{field}"' in control
    assert 'aria-invalid="true"' in control
    assert f'value="{form["name"]}"' in html  # what was typed stays
    assert "HX-Trigger" not in r.headers  # nothing made, nothing to announce
    assert db.session.scalars(select(Deployment)).all() == []


def test_a_duplicate_name_is_409_with_an_inline_message(browser, admin_user, acme):
    create(admin_user, acme, "llm")
    browser.login(ADMIN)
    r = browser.post("/deployments/new", data={"tenant": "acme", "name": "llm", "region": "syd1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "acme already has a deployment named &#39;llm&#39;" in html
    assert '<span class="field-error" id="err-name">already exists for this tenant</span>' in html
    assert len(db.session.scalars(select(Deployment)).all()) == 1


# --- subscribing -------------------------------------------------------------------------


def test_admin_subscribes_through_the_form(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm", to=["provisioning", "active"])
    browser.login(ADMIN)
    page = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert "No subscription." in page and 'action="/deployments/%d/subscribe"' % dep.id in page
    r = browser.post(f"/deployments/{dep.id}/subscribe",
                     data={"plan_code": "studio", "addons": ["storage_50gb"], "starts_on": "2026-04-01"})
    assert r.status_code == 303 and r.headers["Location"] == f"/deployments/{dep.id}"
    html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert "<code>studio</code> v1: Studio, $50.00 AUD a month" in html
    assert '<dd data-field="starts_on">2026-04-01</dd>' in html
    assert '<dd data-field="ends_on">running</dd>' in html
    assert ("<tr><td>Storage 50 GB <code>storage_50gb</code></td><td>+50 Spaces storage</td>"
            '<td class="num">$7.50 AUD</td></tr>') in html
    assert "/subscribe" not in html  # running: no second subscription offered
    assert rows(browser.get("/deployments/").get_data(as_text=True))[0][4:7] == ["studio v1", "2026-04-01", ""]


def test_subscribing_through_htmx_swaps_the_partial(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True,
                     data={"plan_code": "studio", "starts_on": "2026-04-01"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert '<dd data-field="starts_on">2026-04-01</dd>' in html and "/subscribe" not in html


def test_the_subscribe_form_starts_today(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    with freeze_time("2026-05-20 09:00:00"):
        browser.login(ADMIN)
        html = browser.get(f"/deployments/{dep.id}").get_data(as_text=True)
    assert '<input type="date" name="starts_on" value="2026-05-20" required>' in html
    assert '<option value="studio" >Studio (studio)</option>' in html


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"plan_code": "studio", "starts_on": "2026-13-01"}, "starts_on", "is not a real calendar date"),
        ({"plan_code": "studio", "starts_on": "2025-12-31"}, "starts_on",
         "no version of plan &#39;studio&#39; is in effect then"),
        ({"plan_code": "ghost", "starts_on": "2026-04-01"}, "plan_code", "unknown plan &#39;ghost&#39;"),
        ({"plan_code": "studio", "starts_on": "2026-04-01", "addons": ["ghost"]}, "addons",
         "unknown addon &#39;ghost&#39;"),
    ],
)
def test_subscribe_errors_are_inline_and_422(browser, admin_user, acme, form, field, message):
    dep = create(admin_user, acme, "llm")
    browser.login(ADMIN)
    r = browser.post(f"/deployments/{dep.id}/subscribe", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" in html
    assert f'<span class="field-error" role="alert">{message}</span>' in html
    assert f'value="{form["starts_on"]}"' in html  # the form keeps what was entered
    r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True, data=form)
    assert r.status_code == 422 and "<html" not in r.get_data(as_text=True)
    assert db.session.scalars(select(Subscription)).all() == []


def test_subscribing_twice_is_a_conflict(browser, admin_user, acme):
    dep = create(admin_user, acme, "llm")
    svc.subscribe(admin_user, dep.id, {"plan_code": "studio", "starts_on": "2026-03-01"})
    browser.login(ADMIN)
    data = {"plan_code": "studio", "starts_on": "2026-04-01"}
    r = browser.post(f"/deployments/{dep.id}/subscribe", data=data)
    message = f"deployment {dep.id} already has a running subscription (id "
    assert r.status_code == 409 and message in r.get_data(as_text=True)
    r = browser.post(f"/deployments/{dep.id}/subscribe", htmx=True, data=data)
    assert r.status_code == 200 and message in r.get_data(as_text=True)
    assert len(db.session.scalars(select(Subscription)).all()) == 1


def test_no_subscribe_form_for_a_tenant_admin_or_a_decommissioned_deployment(browser, admin_user, acme):
    live = create(admin_user, acme, "live")
    gone = create(admin_user, acme, "gone", to=["provisioning", "failed", "decommissioned"])
    browser.login(ADMIN)
    assert "/subscribe" in browser.get(f"/deployments/{live.id}").get_data(as_text=True)
    assert "/subscribe" not in browser.get(f"/deployments/{gone.id}").get_data(as_text=True)
    r = browser.post(f"/deployments/{gone.id}/subscribe", data={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 409 and "a decommissioned deployment cannot be subscribed" in r.get_data(as_text=True)

    make_user("tenant_admin", tenant=acme, email="ta@acme.example")
    browser.client.post("/logout", headers={"X-CSRFToken": browser.csrf_token()})
    browser.login("ta@acme.example")
    html = browser.get(f"/deployments/{live.id}").get_data(as_text=True)
    assert "/subscribe" not in html and 'name="to"' not in html  # provisioning is the operator's
    assert "Only the operator can move it from requested." in html
    r = browser.post(f"/deployments/{live.id}/subscribe", data={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 403
