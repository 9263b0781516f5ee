"""Sessions end on the server: signing out, deactivation (and, through
``accounts.end_sessions``, a password change or reset) make every copy of the user's session
cookie worthless at once."""
from sqlalchemy import select

from portal.models import ApiToken, AuditEntry
from portal.services import accounts
from tests.conftest import Browser
from tests.factories import make_tenant, make_user


def _copy_cookie(src, dst):
    """Another browser holding a copy of ``src``'s session cookie."""
    cookie = src.get_cookie("session")
    dst.set_cookie("session", cookie.value)


def test_a_cookie_copied_before_sign_out_is_dead_after_it(app, browser, database):
    make_user(email="ann@example.com")
    browser.login("ann@example.com")
    thief = app.test_client()
    _copy_cookie(browser.client, thief)
    assert thief.get("/").status_code == 200  # the copy works while signed in
    assert browser.post("/logout").status_code == 302
    r = thief.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_signing_out_ends_the_users_other_sessions(app, client, database):
    make_user(email="ann@example.com")
    laptop, phone = Browser(app.test_client()), Browser(app.test_client())
    laptop.login("ann@example.com")
    phone.login("ann@example.com")
    assert phone.get("/").status_code == 200
    laptop.post("/logout")
    assert phone.get("/").status_code == 302
    # Signing in again starts a session that works.
    phone.login("ann@example.com")
    assert phone.get("/").status_code == 200


def test_end_sessions_is_what_a_password_change_calls(app, browser, database):
    user = make_user(email="ann@example.com")
    browser.login("ann@example.com")
    assert browser.get("/").status_code == 200
    accounts.end_sessions(user)
    database.session.commit()
    assert browser.get("/").status_code == 302


def test_deactivation_ends_a_live_session_and_its_tokens(app, browser, api_as, database):
    tenant = make_tenant("acme")
    admin = make_user(email="boss@example.com")
    vic = make_user("tenant_viewer", tenant=tenant, email="vic@example.com")
    api = api_as(vic)
    browser.login("vic@example.com")
    assert browser.get("/").status_code == 200
    assert api.get("/api/v1/catalog/plans").status_code == 200

    accounts.deactivate_user(admin, vic)

    assert browser.get("/").status_code == 302
    assert api.get("/api/v1/catalog/plans").status_code == 401
    assert browser.login("vic@example.com").status_code == 401
    tokens = database.session.scalars(select(ApiToken).where(ApiToken.user_id == vic.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.deactivate"))
    assert (entry.actor, entry.target_type, entry.target_id) == ("boss@example.com", "user", vic.id)


def test_a_tenant_admin_deactivates_only_its_own_tenants_users(database):
    from portal.errors import Conflict, Forbidden, NotFound

    acme, globex = make_tenant("acme"), make_tenant("globex")
    alice = make_user("tenant_admin", tenant=acme, email="alice@example.com")
    gina = make_user("tenant_viewer", tenant=globex, email="gina@example.com")
    platform = make_user(email="root@example.com")
    for target in (gina, platform):
        try:
            accounts.deactivate_user(alice, target)
            raise AssertionError("deactivated another tenant's user")
        except NotFound:
            pass
    assert gina.active and platform.active
    viewer = make_user("tenant_viewer", tenant=acme, email="vic@example.com")
    try:
        accounts.deactivate_user(viewer, alice)
        raise AssertionError("a viewer deactivated someone")
    except Forbidden:
        pass
    try:
        accounts.deactivate_user(alice, alice)
        raise AssertionError("deactivated itself")
    except Conflict:
        pass
    accounts.deactivate_user(alice, viewer)
    assert not viewer.active and alice.active


def test_cli_users_deactivate(app, browser, database):
    make_user("tenant_viewer", email="vic@example.com")
    browser.login("vic@example.com")
    runner = app.test_cli_runner()
    r = runner.invoke(args=["users", "deactivate", "Vic@Example.com"])
    assert r.exit_code == 0, r.output
    assert "user vic@example.com deactivated" in r.output
    assert browser.get("/").status_code == 302
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.deactivate"))
    assert entry.actor == "cli"
    r = runner.invoke(args=["users", "deactivate", "nobody@example.com"])
    assert r.exit_code == 1 and "no user nobody@example.com" in r.output
