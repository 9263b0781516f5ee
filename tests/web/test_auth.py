from freezegun import freeze_time

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
