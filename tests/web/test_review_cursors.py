"""Hostile cursors on the lists sorted by a text column: a cursor's key is base64url text the
list decoded itself, so the edge check on the query string never saw it. A key PostgreSQL
cannot hold (a NUL) or that is not UTF-8 is a 422 naming the cursor, never a 500."""
import pytest

from tests.web.test_deployment_list import ADMIN, world  # noqa: F401 (the fixture)


@pytest.mark.parametrize("cursor", ["o.name.AA.1", "n.name.YQBi.1", "o.name._w.1", "o.name.AAAA.1"])
def test_a_text_cursor_with_a_nul_or_bad_utf8_is_a_422(browser, world, cursor):  # noqa: F811
    browser.login(ADMIN)
    for path in ("/deployments/", "/deployments/summary"):
        r = browser.get(f"{path}?sort=name&cursor={cursor}", htmx=True)
        assert r.status_code == 422, (path, r.status_code)
        assert "cursor" in r.get_data(as_text=True)
