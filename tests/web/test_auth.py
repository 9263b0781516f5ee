from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.factories import make_tenant, make_user


def test_sign_in_and_out(browser, database):
    make_user(email="ann@example.com")
    r = browser.login("ann@example.com")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = browser.get("/").get_data(as_text=True)
    assert "ann@example.com" in home and "platform admin" in home
    r = browser.post("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert browser.get("/").headers["Location"] == "/login"


def test_email_is_matched_case_insensitively(browser, database):
    make_user(email="ann@example.com")
    assert browser.login("  Ann@Example.COM ").status_code == 302


def test_wrong_password_and_unknown_email_look_the_same(browser, database):
    make_user(email="ann@example.com")
    wrong = browser.login("ann@example.com", "not-the-password")
    unknown = browser.login("nobody@example.com", "whatever1")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)


def test_repeated_failures_are_throttled_then_released(browser, database):
    make_user(email="ann@example.com")
    with freeze_time("2026-11-21 10:00:00") as clock:
        for _ in range(5):
            assert browser.login("ann@example.com", "wrong-password").status_code == 401
        # Even the right password is refused while throttled.
        r = browser.login("ann@example.com")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "900"  # as the API says it
        assert "Too many failed sign-ins. Try again in 15 minutes." in r.get_data(as_text=True)
        clock.tick(15 * 60 + 1)
        assert browser.login("ann@example.com").status_code == 302


def test_a_success_clears_the_failure_count(browser, database):
    make_user(email="ann@example.com")
    for _ in range(4):
        browser.login("ann@example.com", "wrong-password")
    assert browser.login("ann@example.com").status_code == 302
    browser.post("/logout")
    for _ in range(4):
        assert browser.login("ann@example.com", "wrong-password").status_code == 401
    assert browser.login("ann@example.com").status_code == 302


def test_deactivated_user_cannot_sign_in(browser, database):
    user = make_user(email="ann@example.com")
    user.active = False
    database.session.commit()
    assert browser.login("ann@example.com").status_code == 401


def test_forms_without_the_csrf_token_are_refused(client, database):
    make_user(email="ann@example.com")
    r = client.post("/login", data={"email": "ann@example.com", "password": "password123"})
    assert r.status_code == 400
    assert "security token" in r.get_data(as_text=True)


def test_htmx_requests_without_the_csrf_header_are_refused(browser, client, database):
    make_user(email="ann@example.com")
    browser.login("ann@example.com")
    assert client.post("/logout", headers={"HX-Request": "true"}).status_code == 400
    assert browser.post("/logout", htmx=True).status_code == 302


def test_next_goes_back_where_you_were_but_never_off_site(browser, database):
    make_user(email="ann@example.com")
    r = browser.get("/catalog/")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/catalog/"
    token = browser.csrf_token()
    r = browser.client.post("/login?next=/catalog/", data={
        "email": "ann@example.com", "password": "password123", "csrf_token": token})
    assert r.headers["Location"] == "/catalog/"
    browser.post("/logout")
    token = browser.csrf_token()
    r = browser.client.post("/login?next=//evil.example.com/", data={
        "email": "ann@example.com", "password": "password123", "csrf_token": token})
    assert r.headers["Location"] == "/"


def test_tenant_user_sees_its_tenant_in_the_header(browser, database):
    tenant = make_tenant("acme", "Acme AI")
    make_user("tenant_viewer", tenant=tenant, email="vic@example.com")
    browser.login("vic@example.com")
    page = browser.get("/").get_data(as_text=True)
    assert "vic@example.com · tenant viewer · Acme AI" in page


# --- where `next` may send you ------------------------------------------------------------

_HOSTILE_NEXT = [
    "//evil.com", "/\\evil.com", "\\\\evil.com", "%2F%2Fevil.com", "/%2F/evil.com",
    "/%09/evil.com", "/%5Cevil.com", "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com",
    "https:evil.com", "https://evil.com", "http:/evil.com", "javascript:alert(1)",
    " //evil.com", "\t//evil.com", "/\x00", "/catalog/\x7f", "/a\r\nSet-Cookie: x=1",
    "///evil.com", "/./\\evil.com", "evil.com", "", "\u3002/evil.com", "/\u2215evil.com",
    "/%?", "/a?", "/a#",  # Werkzeug drops an empty query or fragment: not the plain value
]


def _lands_on_this_site(location: str) -> bool:
    """Where a browser would go: it drops tabs and newlines and reads a backslash as a slash."""
    from urllib.parse import urljoin, urlsplit

    cleaned = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/")
    target = urlsplit(urljoin("https://portal.example.com/login", cleaned))
    return (target.scheme, target.netloc) == ("https", "portal.example.com")


def _login_with_next(browser, nxt: str):
    token = browser.csrf_token()
    return browser.client.post("/login", query_string={"next": nxt}, data={
        "email": "ann@example.com", "password": "password123", "csrf_token": token})


def _assert_local(response, nxt: str):
    assert response.status_code == 302, (nxt, response.status_code)
    location = response.headers["Location"]
    assert location.startswith("/") and _lands_on_this_site(location), (nxt, location)
    plain = location == nxt
    assert plain or location == "/", (nxt, location)


def test_a_hostile_next_lands_on_home_from_the_form_and_the_page(browser, database):
    make_user(email="ann@example.com")
    wrong = []
    for nxt in _HOSTILE_NEXT:
        form = _login_with_next(browser, nxt)
        # Signed in now: the page itself redirects at once.
        page = browser.client.get("/login", query_string={"next": nxt})
        for r in (form, page):
            if (r.status_code, r.headers.get("Location")) != (302, "/"):
                wrong.append((nxt, r.status_code, r.headers.get("Location")))
        browser.post("/logout")
    assert wrong == []


def test_a_plain_local_next_is_kept(browser, database):
    make_user(email="ann@example.com")
    r = _login_with_next(browser, "/invoices/?status=issued&page=2")
    assert r.headers["Location"] == "/invoices/?status=issued&page=2"
    r = browser.client.get("/login", query_string={"next": "/catalog/"})
    assert r.headers["Location"] == "/catalog/"


_SEPARATORS = st.sampled_from(["/", "//", "\\", "%2F", "%5C", "%09", "%0a", "\t", "\n", "\r",
                               "\x00", "\x1b", "\x7f", " ", "%"])
_WORDS = st.sampled_from([":", "https:", "evil.com", "@", ".", "..", "?", "#", "\u00e9",
                          "\u3002", "\ufeff", "a"])
# Hostile values are mostly separators after a leading slash: where open redirects hide.
_PIECES = st.one_of(_SEPARATORS, _SEPARATORS, _WORDS)
_HOSTILE = st.builds(lambda head, rest: head + "".join(rest),
                     st.sampled_from(["/", "//", "\\", "", "/%2F", "https:"]),
                     st.lists(_PIECES, max_size=6))


@settings(deadline=None, max_examples=150,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(nxt=st.one_of(_HOSTILE, st.text(max_size=20)))
def test_no_next_leaves_the_site_or_fails(app, nxt):
    from portal.blueprints.auth import _safe_next

    with app.test_request_context("/login"):
        target = _safe_next(nxt)
    assert target.startswith("/") and _lands_on_this_site(target), (nxt, target)
    assert target in (nxt, "/"), (nxt, target)


@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(nxt=_HOSTILE)
def test_no_next_gets_a_500_from_the_page_or_the_form(browser, database, nxt):
    from portal.models import User

    if database.session.scalar(select(User).where(User.email == "ann@example.com")) is None:
        make_user(email="ann@example.com")
    browser.client.post("/logout", headers={"X-CSRFToken": browser.csrf_token()})
    _assert_local(_login_with_next(browser, nxt), nxt)
    _assert_local(browser.client.get("/login", query_string={"next": nxt}), nxt)


# --- an unknown email costs what a known one does ---------------------------------------


def _method(password_hash: str) -> str:
    return password_hash.split("$", 1)[0]  # e.g. "scrypt:32768:8:1"


def test_the_dummy_hash_uses_the_configured_method(app, database, monkeypatch):
    from portal.services.accounts import _dummy_hash, hash_password

    for method in ("scrypt", "pbkdf2:sha256:1000", "pbkdf2:sha256:600000"):
        monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", method)
        with app.app_context():
            assert _method(_dummy_hash()) == _method(hash_password("whatever-123"))


def test_with_scrypt_an_unknown_email_takes_as_long_as_a_wrong_password(app, database,
                                                                         monkeypatch):
    import statistics
    import time

    from portal.services import accounts

    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", "scrypt")
    make_user(email="ann@example.com")  # hashed with scrypt
    with app.app_context():
        accounts.authenticate("warm@example.com", "x", "10.1.0.0")  # warm the dummy hash

        def took(email, ip):
            start = time.perf_counter()
            assert accounts.authenticate(email, "wrong-password", ip) is None
            return time.perf_counter() - start

        known, unknown = [], []
        for n in range(5):  # within the 5-failure limit for the known email
            known.append(took("ann@example.com", f"10.1.1.{n}"))
            unknown.append(took(f"nobody{n}@example.com", f"10.1.2.{n}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2, (known, unknown)
