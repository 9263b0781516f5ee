"""API tokens in the browser: every signed-in user makes, sees and revokes its own."""
import re

import pytest
from sqlalchemy import select

from portal.models import ApiToken
from portal.services import tokens
from tests.conftest import Api
from tests.factories import make_tenant, make_user


@pytest.fixture
def alice(database):
    return make_user("tenant_viewer", tenant=make_tenant("acme"), email="alice@example.com")


def secret_in(html: str) -> str:
    return re.search(r'value="(arc_[^"]+)"', html).group(1)


def test_create_shows_the_secret_once_and_it_works(browser, client, alice, database):
    browser.login("alice@example.com")
    page = browser.get("/tokens/").get_data(as_text=True)
    assert "API tokens" in page and "No tokens yet." in page
    r = browser.post("/tokens/", htmx=True, data={"name": "finance export", "expires_in_days": "30"})
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="tokens">')  # the fragment, not the page
    assert "shown this once" in html and "finance export" in html
    secret = secret_in(html)
    stored = database.session.scalar(select(ApiToken).where(ApiToken.user_id == alice.id))
    assert stored.name == "finance export" and stored.expires_at is not None
    assert Api(client, secret).get("/api/v1/tokens").status_code == 200
    # Listed afterwards by prefix only: the secret is never shown again.
    again = browser.get("/tokens/").get_data(as_text=True)
    assert secret not in again and secret[:12] in again and "finance export" in again


def test_without_htmx_the_full_page_carries_the_secret(browser, alice):
    browser.login("alice@example.com")
    r = browser.post("/tokens/", data={"name": "no-js", "expires_in_days": ""})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<html" in html and secret_in(html).startswith("arc_") and "Never expires." in html


@pytest.mark.parametrize("data, message", [
    ({"name": "", "expires_in_days": "30"}, "must not be empty"),
    ({"name": "x" * 101, "expires_in_days": "30"}, "at most 100 characters"),
    ({"name": "ok", "expires_in_days": "0"}, "whole number of days"),
    ({"name": "ok", "expires_in_days": "soon"}, "whole number of days"),
    ({"name": "ok", "expires_in_days": "99999999"}, "whole number of days"),
])
def test_bad_forms_answer_422_with_the_message(browser, alice, database, data, message):
    browser.login("alice@example.com")
    r = browser.post("/tokens/", htmx=True, data=data)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    assert database.session.scalar(select(ApiToken).where(ApiToken.user_id == alice.id)) is None


def test_revoke_swaps_the_row_and_the_token_stops_working(browser, client, alice):
    token, secret = tokens.issue(alice, "doomed")
    browser.login("alice@example.com")
    page = browser.get("/tokens/").get_data(as_text=True)
    assert "hx-confirm=\"Revoke the token “doomed”?" in page
    r = browser.post(f"/tokens/{token.id}/revoke", htmx=True)
    assert r.status_code == 200
    row = r.get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="token-{token.id}">') and "revoked" in row
    assert "Revoke</button>" not in row
    assert Api(client, secret).get("/api/v1/tokens").status_code == 401
    # Without HTMX: back to the page with a message.
    other, _ = tokens.issue(alice, "second")
    r = browser.post(f"/tokens/{other.id}/revoke")
    assert r.status_code == 303
    assert "Token “second” revoked" in browser.get("/tokens/").get_data(as_text=True)


def test_another_users_token_is_404_on_the_page(browser, alice, database):
    bob = make_user("tenant_admin", tenant=alice.tenant, email="bob@example.com")
    bobs, bob_secret = tokens.issue(bob, "bob's")
    browser.login("alice@example.com")
    assert "bob&#39;s" not in browser.get("/tokens/").get_data(as_text=True)
    assert browser.post(f"/tokens/{bobs.id}/revoke", htmx=True).status_code == 404
    database.session.refresh(bobs)
    assert bobs.revoked_at is None


def test_every_role_has_the_link_and_only_admins_the_audit_log(browser, alice, database):
    make_user(email="admin@example.com")
    browser.login("alice@example.com")
    home = browser.get("/").get_data(as_text=True)
    assert 'href="/tokens/"' in home and 'href="/audit/"' not in home
    browser.client.post("/logout", data={"csrf_token": browser.csrf_token()})
    browser.login("admin@example.com")
    home = browser.get("/").get_data(as_text=True)
    assert 'href="/tokens/"' in home and 'href="/audit/"' in home


def test_signed_out_visitors_are_sent_to_sign_in(client, database):
    r = client.get("/tokens/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_platform_admins_see_and_revoke_anyones_tokens(browser, client, alice, database):
    make_user(email="admin@example.com")
    token, secret = tokens.issue(alice, "alice's script")
    browser.login("admin@example.com")
    assert "Everyone's API tokens" in browser.get("/tokens/").get_data(as_text=True)
    page = browser.get("/tokens/all?user=alice@example.com").get_data(as_text=True)
    assert "alice@example.com" in page and "alice&#39;s script" in page
    assert secret not in page and token.token_hash not in page
    r = browser.post(f"/tokens/all/{token.id}/revoke", htmx=True)
    assert r.status_code == 200
    row = r.get_data(as_text=True)
    assert "alice@example.com" in row and "revoked" in row
    assert Api(client, secret).get("/api/v1/tokens").status_code == 401
    live = browser.get("/tokens/all?user=alice@example.com&live=on", htmx=True).get_data(as_text=True)
    assert "No tokens match." in live
    assert browser.post("/tokens/all/999999/revoke", htmx=True).status_code == 404
    assert browser.get("/tokens/all?page=0").status_code == 422


def test_tenant_users_cannot_see_everyones_tokens(browser, alice):
    bob = make_user("tenant_admin", tenant=alice.tenant, email="bob@example.com")
    bobs, _ = tokens.issue(bob, "bob's")
    browser.login("alice@example.com")
    assert "Everyone" not in browser.get("/tokens/").get_data(as_text=True)
    assert browser.get("/tokens/all").status_code == 403
    assert browser.post(f"/tokens/all/{bobs.id}/revoke", htmx=True).status_code == 403



def test_an_htmx_revoke_answers_in_place_with_a_status_message(browser, database):
    """The row is replaced in place and HX-Trigger carries the message for the status toast
    and the event related parts listen to."""
    import json

    from portal.services import tokens as token_service
    from tests.factories import make_user

    user = make_user(email="htmx-revoker@example.com")
    token, _ = token_service.issue(user, "ci", None, actor=user)
    browser.login("htmx-revoker@example.com")
    r = browser.post(f"/tokens/{token.id}/revoke", htmx=True)
    assert r.status_code == 200 and "<html" not in r.get_data(as_text=True)
    trigger = json.loads(r.headers["HX-Trigger"])
    assert trigger == {"portal:status": "Token “ci” revoked: scripts using it now get 401."}
    assert json.loads(r.headers["HX-Trigger-After-Swap"]) == {"tokens-changed": True}
