"""An unforeseen error answers the portal's own 500, never a traceback or Flask's page, even
when it left the database transaction unusable and the error page needs the database."""
import pytest
from sqlalchemy import text

from portal import create_app
from portal.extensions import db
from tests.conftest import TEST_CONFIG, Browser, IsolatedClient
from tests.factories import make_user


@pytest.fixture
def boom_app(app, database):
    """A fresh app in debug mode (routes cannot be added to one that served requests): one
    route breaks its transaction and fails, another fails under /api/."""
    fresh = create_app({**TEST_CONFIG, "DEBUG": True})

    @fresh.get("/boom")
    def boom():
        db.session.execute(text("SELECT * FROM no_such_table"))  # the transaction is now unusable

    @fresh.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("secret detail")

    fresh.test_client_class = IsolatedClient
    return fresh


def test_a_page_error_with_a_broken_transaction_is_the_portals_500(boom_app):
    make_user(email="boom@example.com")
    browser = Browser(boom_app.test_client())
    browser.login("boom@example.com")
    r = browser.get("/boom")
    html = r.get_data(as_text=True)
    assert r.status_code == 500
    assert "Something went wrong on our side. It has been logged." in html
    assert "Traceback" not in html and "no_such_table" not in html


def test_an_api_error_is_the_contracts_shape_without_detail(boom_app):
    r = boom_app.test_client().get("/api/v1/boom")
    assert r.status_code == 500 and "secret detail" not in r.get_data(as_text=True)
    assert r.get_json() == {"error": {"code": "internal_error",
                                      "message": "Something went wrong on our side.", "fields": {}}}
