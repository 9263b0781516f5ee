"""Every response carries the security headers; everything but /static is never cached."""
from datetime import date

from portal.services import invoices, rollup
from tests.factories import make_deployment, make_tenant, make_user

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def _assert_secure(r, cached: bool = False):
    what = f"{r.request.method} {r.request.path} ({r.status_code})"
    assert r.headers.get("Content-Security-Policy") == CSP, what
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers.get("X-Frame-Options") == "DENY", what
    assert r.headers.get("X-Content-Type-Options") == "nosniff", what
    assert r.headers.get("Referrer-Policy") == "same-origin", what
    if cached:
        assert "no-store" not in r.headers.get("Cache-Control", ""), what
    else:
        assert r.headers.get("Cache-Control") == "no-store", what


def test_pages_fragments_errors_and_static(browser, database):
    make_user(email="ann@example.com")
    _assert_secure(browser.get("/login"))
    _assert_secure(browser.login("ann@example.com", "wrong-password"))  # 401 page
    _assert_secure(browser.login("ann@example.com"))  # the redirect
    _assert_secure(browser.get("/"))
    _assert_secure(browser.get("/catalog/"))
    _assert_secure(browser.get("/quotes/new?plan_code=studio", htmx=True))  # a fragment
    _assert_secure(browser.get("/no-such-page"))  # 404
    _assert_secure(browser.get("/static/css/portal.css"), cached=True)
    _assert_secure(browser.get("/static/vendor/htmx-2.0.11.min.js"), cached=True)


def test_api_answers_and_pdfs(browser, api_as, catalog):
    tenant = make_tenant("acme", "Acme AI")
    make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    admin = make_user(email="ann@example.com")
    rollup.roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    (invoice,), _ = invoices.list_invoices(admin)
    api = api_as(admin)
    _assert_secure(api.get("/api/v1/invoices"))
    _assert_secure(api.get(f"/api/v1/invoices/{invoice.id}/pdf"))
    _assert_secure(browser.client.get("/api/v1/invoices"))  # 401 JSON
    _assert_secure(browser.client.get("/api/health"))
    browser.login("ann@example.com")
    r = browser.get(f"/invoices/{invoice.id}/pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    _assert_secure(r)


def test_no_inline_script_style_or_handlers_in_templates():
    """What the CSP would block: inline <script>/<style>, style= and on*= attributes."""
    import re
    from pathlib import Path

    import portal

    root = Path(portal.__file__).parent
    bad = re.compile(r"<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=|\shx-on[:-]", re.I)
    offenders = []
    for path in sorted((root / "templates").rglob("*.html")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if bad.search(line):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    svg = (root / "billing" / "svg_chart.py").read_text()
    if re.search(r"\sstyle=|<style", svg):
        offenders.append("billing/svg_chart.py uses style")
    assert offenders == []
