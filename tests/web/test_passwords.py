"""Forgot password, the emailed links (single use, expiring) and changing a password."""
import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.clock import utcnow
from portal.models import AuditEntry, LoginAttempt, MailMessage, User, UserLink
from portal.services import users
from tests.conftest import Browser
from tests.factories import PASSWORD, make_tenant, make_user
from tests.mail.smtp import no_mail_server  # noqa: F401

NEW = "a-new-password-42"


def mails(database, kind):
    database.session.expire_all()
    return database.session.scalars(
        select(MailMessage).where(MailMessage.kind == kind).order_by(MailMessage.id)).all()


def link_in(message) -> str:
    return re.search(r"http://localhost(/password/link/[\w-]+)", message.body).group(1)


def forgot(browser, email):
    return browser.post("/password/forgot", data={"email": email})


def test_the_sign_in_page_links_to_forgot_password(client, database):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "Forgot password?" in html


def test_forgot_answers_the_same_whether_or_not_the_account_exists(browser, database, no_mail_server):
    make_user(email="ann@example.com")
    known, unknown = forgot(browser, "ann@example.com"), forgot(browser, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200

    def answer(r):
        return re.search(r'<p role="status">(.*?)</p>', r.get_data(as_text=True), re.S).group(1)

    assert answer(known) == answer(unknown)
    assert "If an account exists for that email" in answer(known)
    sent = mails(database, "password_reset")
    assert [m.to_address for m in sent] == ["ann@example.com"]
    assert "valid" not in sent[0].subject and "within 1 hour" in sent[0].body


def test_a_reset_link_sets_the_password_once_and_signs_in(app, browser, database, no_mail_server):
    ann = make_user(email="ann@example.com")
    other_device = Browser(app.test_client())
    other_device.login("ann@example.com")
    assert other_device.get("/").status_code == 200
    forgot(browser, "ann@example.com")
    path = link_in(mails(database, "password_reset")[0])

    page = browser.get(path)  # looking at it does not spend it
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    r = browser.post(path, data={"password": "short", "confirm": "short"})
    assert r.status_code == 422 and "at least 8 characters" in r.get_data(as_text=True)
    r = browser.post(path, data={"password": NEW, "confirm": NEW + "x"})
    assert r.status_code == 422 and "does not match" in r.get_data(as_text=True)

    r = browser.post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert browser.get("/").status_code == 200  # this browser is signed in, new generation
    assert other_device.get("/").status_code == 302  # every other session ended
    assert Browser(app.test_client()).login("ann@example.com", NEW).status_code == 302
    assert Browser(app.test_client()).login("ann@example.com", PASSWORD).status_code == 401

    again = browser.client.get(path)
    assert again.status_code == 410
    assert "used already" in again.get_data(as_text=True)
    assert Browser(app.test_client()).post(path, data={"password": "x" * 9, "confirm": "x" * 9}).status_code == 410
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_reset"))
    assert entry.actor == "ann@example.com" and entry.target_id == ann.id


def test_a_reset_link_expires_after_an_hour(app, database, no_mail_server):
    make_user(email="ann@example.com")
    with freeze_time("2026-05-20 09:00:00"):
        browser = Browser(app.test_client())
        forgot(browser, "ann@example.com")
    path = link_in(mails(database, "password_reset")[0])
    with freeze_time("2026-05-20 09:59:59"):
        assert app.test_client().get(path).status_code == 200
    with freeze_time("2026-05-20 10:00:00"):
        r = Browser(app.test_client()).client.get(path)
        assert r.status_code == 410 and "has expired" in r.get_data(as_text=True)
        r = Browser(app.test_client()).post(path, data={"password": NEW, "confirm": NEW})
        assert r.status_code in (400, 410)


def test_an_invitation_link_lasts_72_hours(app, database, no_mail_server):
    admin = make_user(email="admin@example.com")
    make_tenant("acme")
    with freeze_time("2026-05-20 09:00:00"):
        with app.test_request_context():
            users.invite(admin, {"email": "new@example.com", "role": "tenant_viewer", "tenant": "acme"})
    path = link_in(mails(database, "invitation")[0])
    with freeze_time("2026-05-23 08:59:59"):
        page = app.test_client().get(path)
        assert page.status_code == 200 and "Accept your invitation" in page.get_data(as_text=True)
    with freeze_time("2026-05-23 09:00:00"):
        assert app.test_client().get(path).status_code == 410


def test_a_new_reset_link_replaces_the_old_one(app, browser, database, no_mail_server):
    make_user(email="ann@example.com")
    forgot(browser, "ann@example.com")
    forgot(browser, "ann@example.com")
    first, second = (link_in(m) for m in mails(database, "password_reset"))
    assert app.test_client().get(first).status_code == 410
    assert app.test_client().get(second).status_code == 200


def test_bad_links_are_clear_pages_never_500(client, database):
    for path in ("/password/link/nope", "/password/link/" + "x" * 43, "/password/link/" + "x" * 500,
                 "/password/link/%00%ff"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "This link is not valid" in r.get_data(as_text=True)


def test_a_deactivated_users_link_is_dead(app, browser, database, no_mail_server):
    ann = make_user(email="ann@example.com")
    forgot(browser, "ann@example.com")
    path = link_in(mails(database, "password_reset")[0])
    ann.active = False
    database.session.commit()
    assert app.test_client().get(path).status_code == 410
    forgot(browser, "ann@example.com")  # an inactive account gets no new link
    assert len(mails(database, "password_reset")) == 1


def test_forgot_is_throttled_like_sign_in(app, browser, database, no_mail_server):
    make_user(email="ann@example.com")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert forgot(browser, "ann@example.com").status_code == 200
    r = forgot(browser, "ann@example.com")
    assert r.status_code == 429 and r.headers["Retry-After"] == str(app.config["LOGIN_WINDOW_SECONDS"])
    assert len(mails(database, "password_reset")) == limit
    # The same throttle: sign-in for that email is locked too.
    assert browser.login("ann@example.com").status_code == 429
    # Using the newest link proves the mailbox and lifts the lock.
    path = link_in(mails(database, "password_reset")[-1])
    assert Browser(app.test_client()).post(path, data={"password": NEW, "confirm": NEW}).status_code == 303
    assert Browser(app.test_client()).login("ann@example.com", NEW).status_code == 302


def test_an_invited_user_accepts_and_is_shown_as_accepted(app, browser, database, no_mail_server):
    admin = make_user(email="admin@example.com")
    make_tenant("acme")
    browser.login("admin@example.com")
    r = browser.post("/users/invite", data={"email": "new@example.com", "role": "tenant_admin",
                                            "tenant": "acme"})
    assert r.status_code == 303
    assert "invited, not accepted yet" in browser.get("/users/").get_data(as_text=True)
    # No password yet: nothing signs in as the invited user.
    assert Browser(app.test_client()).login("new@example.com", "!invited").status_code == 401
    path = link_in(mails(database, "invitation")[0])
    guest = Browser(app.test_client())
    r = guest.post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 303
    assert "new@example.com" in guest.get("/").get_data(as_text=True)
    html = browser.get("/users/").get_data(as_text=True)
    assert "invited, not accepted yet" not in html and "accepted" in html
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.accept_invitation"))
    assert entry.actor == "new@example.com"
    assert admin.id != entry.target_id


def test_change_password_asks_for_the_current_one_and_ends_other_sessions(app, browser, database):
    ann = make_user(email="ann@example.com")
    phone = Browser(app.test_client())
    phone.login("ann@example.com")
    browser.login("ann@example.com")
    assert browser.get("/password/change").status_code == 200
    r = browser.post("/password/change", data={"current": "wrong-one", "new": NEW, "confirm": NEW})
    assert r.status_code == 422 and "is not your current password" in r.get_data(as_text=True)
    assert database.session.scalar(select(LoginAttempt).where(LoginAttempt.email == "ann@example.com"))
    r = browser.post("/password/change", data={"current": PASSWORD, "new": "short", "confirm": "short"})
    assert r.status_code == 422 and "at least 8 characters" in r.get_data(as_text=True)

    r = browser.post("/password/change", data={"current": PASSWORD, "new": NEW, "confirm": NEW})
    assert r.status_code == 303
    assert browser.get("/").status_code == 200  # stays signed in
    assert phone.get("/").status_code == 302  # the other session ended
    database.session.expire_all()
    assert database.session.get(User, ann.id).session_generation == 1
    assert Browser(app.test_client()).login("ann@example.com", NEW).status_code == 302
    entry = database.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_change"))
    assert entry.actor == "ann@example.com"


def test_change_password_needs_a_session(client, database):
    r = client.get("/password/change")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_links_use_portal_url_whatever_the_host_header(app, database, no_mail_server, monkeypatch):
    from portal.services import passwords

    make_user(email="ann@example.com")
    monkeypatch.setitem(app.config, "PORTAL_URL", "https://portal.example.com")
    with app.test_request_context("/password/forgot", base_url="http://evil.example.net"):
        passwords.request_reset("ann@example.com", "127.0.0.1")
    body = mails(database, "password_reset")[0].body
    assert "https://portal.example.com/password/link/" in body and "evil" not in body
