"""No form or filter on the pages answers 5xx, whatever is typed or posted into it: each
page that takes input gets generated field values (hostile text, huge numbers, odd dates)
as a platform admin and, where it may, as a tenant admin."""
import io
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_deployment, make_tenant, make_user
from tests.fuzz.strategies import HOSTILE_NUMBERS, encode, hostile_text, query_strings

field_values = st.one_of(hostile_text, hostile_text, st.sampled_from(HOSTILE_NUMBERS).map(str),
                         st.integers().map(str))
csv_cells = st.one_of(hostile_text.map(lambda s: s.replace("\ud800", "").replace("\udfff", "")),
                      st.sampled_from(HOSTILE_NUMBERS).map(str))


def form(*names):
    return st.fixed_dictionaries({}, optional={n: field_values for n in names})


# (name, method, url template, form strategy, roles that may use the page)
FORMS = [
    ("sign-in", "POST", "/login", form("email", "password"), ("anonymous",)),
    ("quote builder", "GET", "/quotes/new", form("plan_code", "addons", "starts_on",
                                                 "usage_llm_tokens", "usage_spaces_gb",
                                                 "usage_droplet_hours"),
     ("platform_admin", "tenant_admin")),
    ("tenant profile", "POST", "/tenants/{tenant}/edit",
     form("name", "billing_name", "billing_address", "abn"), ("platform_admin",)),
    ("deployment create", "POST", "/deployments/new", form("tenant", "name", "region"),
     ("platform_admin", "tenant_admin")),
    ("deployment subscribe", "POST", "/deployments/{deployment}/subscribe",
     form("plan_code", "addons", "starts_on"), ("platform_admin", "tenant_admin")),
    ("deployment transition", "POST", "/deployments/{deployment}/transition", form("to"),
     ("platform_admin", "tenant_admin")),
    ("deployment filter", "GET", "/deployments/", form("tenant"), ("platform_admin",)),
    ("invoice filters", "GET", "/invoices/", form("tenant", "period", "status", "page",
                                                   "per_page"), ("platform_admin", "tenant_admin")),
    ("rollup form", "POST", "/invoices/rollup", form("period", "force"), ("platform_admin",)),
    ("invoice transition", "POST", "/invoices/{invoice}/transition", form("to"), ("platform_admin",)),
    ("cost period", "GET", "/provider/costs", form("period"), ("platform_admin",)),
    ("dashboard period", "GET", "/provider/dashboard", form("period"), ("platform_admin",)),
    ("inventory filter", "GET", "/provider/inventory", form("vanished"), ("platform_admin",)),
]
CASES = [(name, method, url, strategy, role)
         for name, method, url, strategy, roles in FORMS for role in roles]


@pytest.fixture
def world(catalog, browser):
    from portal.extensions import db
    from portal.models import Invoice
    from portal.services.rollup import roll_up_period

    acme = make_tenant("acme", "Acme AI")
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 4, 1))
    roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    make_user(email="fuzz-admin@example.com")
    make_user("tenant_admin", tenant=acme, email="fuzz-ta@example.com")
    return {"tenant": acme.id, "deployment": dep.id,
            "invoice": db.session.query(Invoice).one().id}


def sign_in(browser, role):
    """Sign in as ``role`` once for all of a test's examples."""
    if getattr(browser, "signed_in_as", None) == role:
        return
    if role != "anonymous":
        email = {"platform_admin": "fuzz-admin@example.com", "tenant_admin": "fuzz-ta@example.com"}
        assert browser.login(email[role]).status_code == 302
    browser.signed_in_as = role


def check_page(r, what):
    assert r.status_code < 500, (what, r.status_code, r.get_data(as_text=True)[:500])
    assert "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize("name, method, url, strategy, role", CASES,
                         ids=[f"{c[0]}-{c[4]}" for c in CASES])
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_page_form_answers_5xx(browser, world, name, method, url, strategy, role, data):
    sign_in(browser, role)
    url = url.format(**world)
    values = data.draw(strategy)
    htmx = data.draw(st.booleans())
    if method == "GET":
        query = "&".join(f"{encode(k)}={encode(v)}" for k, v in values.items())
        extra = data.draw(query_strings)
        r = browser.get(f"{url}?{query}&{extra}", htmx=htmx)
    else:
        body = "&".join(f"{encode(k)}={encode(v)}" for k, v in values.items())
        r = browser.post(url, htmx=htmx, data=body.encode(),
                         content_type="application/x-www-form-urlencoded")
    check_page(r, (name, role, url, values))


HEADERS = st.sampled_from([
    "product,group_description,description,hours,start,end,USD,project_name,category",
    "Product,Description,Amount", "product,description", "", "\ufeffproduct,description,USD",
    "product;description;USD",
])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=HEADERS, rows=st.lists(st.lists(csv_cells, max_size=9), max_size=4),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
       period=field_values, filename=hostile_text)
def test_the_cost_csv_upload_never_answers_5xx(browser, world, header, rows, encoding, period,
                                               filename):
    sign_in(browser, "platform_admin")
    text = "\n".join([header] + [",".join(r) for r in rows]) + "\n"
    content = text.encode(encoding, "replace")
    r = browser.post("/provider/costs/import", content_type="multipart/form-data",
                     data={"period": period.replace("\ud800", "").replace("\udfff", ""),
                           "file": (io.BytesIO(content),
                                    filename.replace("\ud800", "").replace("\udfff", "") or "x.csv")})
    check_page(r, (header, rows, encoding, period, filename))
