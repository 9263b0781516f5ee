"""No input, however malformed, gets a 500: every API route in ``app.url_map`` (a new one is
covered without touching this file) takes generated JSON bodies, query strings and path
values as a platform admin and as a tenant admin; every answer is below 500, and every error
has the contract's shape."""
import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import create_app
from portal.services.rollup import roll_up_period
from tests.conftest import TEST_CONFIG
from tests.factories import make_deployment, make_tenant, make_user
from tests.fuzz.strategies import bodies, encode, hostile_text, query_strings

ROUTES = sorted(
    (rule.rule, method)
    for rule in create_app(TEST_CONFIG).url_map.iter_rules()
    if rule.rule.startswith("/api/")
    for method in rule.methods - {"HEAD", "OPTIONS"}
)

# A valid body per route (by the rule's last segment), mutated by the strategies.
TEMPLATES = {
    "/api/v1/quote": {"plan_code": "studio", "addons": ["storage_50gb"],
                      "projected_usage": {"llm_tokens": 1000, "spaces_gb": 1.5},
                      "starts_on": "2026-05-20"},
    "/api/v1/deployments": {"tenant": "acme", "name": "fuzz", "region": "syd1"},
    "/api/v1/deployments/<int:deployment_id>/transition": {"to": "suspended"},
    "/api/v1/deployments/<int:deployment_id>/subscribe": {"plan_code": "studio", "addons": [],
                                                          "starts_on": "2026-04-01"},
    "/api/v1/usage": {"events": [{"event_id": "fuzz-1", "deployment_id": 1,
                                  "resource_kind": "llm_tokens", "quantity": 1,
                                  "occurred_at": "2026-04-01T00:00:00Z"}]},
    "/api/v1/invoices/<int:invoice_id>/transition": {"to": "issued"},
    "/api/v1/invoices/rollup": {"period": "2026-04", "force": True},
}
HUGE_IDS = [0, 2**31, 2**63, 10**30, 10**400]


@pytest.fixture
def world(catalog, api_as):
    acme = make_tenant("acme", "Acme AI")
    dep = make_deployment(acme, plan_code="studio", addons=["storage_50gb"],
                          starts_on=date(2026, 4, 1))
    roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    from portal.models import Invoice
    from portal.extensions import db

    invoice = db.session.query(Invoice).one()
    return {
        "ids": {"deployment_id": dep.id, "invoice_id": invoice.id, "drift_id": 1},
        "platform_admin": api_as(make_user()),
        "tenant_admin": api_as(make_user("tenant_admin", tenant=acme)),
    }


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path(rule: str, ids: dict, draw) -> str:
    """The rule with each path parameter filled: a known id or an absurd one for integers
    (any route's, so a new route needs nothing here), hostile text for the rest."""
    def fill(match):
        converter, name = match.group(1), match.group(2)
        if converter == "int":
            known = [ids[name]] if name in ids else [1]
            return str(draw(st.sampled_from([*known, *HUGE_IDS])))
        return encode(draw(st.one_of(hostile_text, st.sampled_from(["studio", "1"])))) or "x"

    return _PARAM.sub(fill, rule)


# Some requests carry an Idempotency-Key (printable Latin-1: what an HTTP header can hold).
idempotency_keys = st.one_of(
    st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300),
    st.sampled_from(["x" * 256, "k", " "]))


def check_answer(r, what):
    assert r.status_code < 500, (what, r.status_code, r.get_data(as_text=True)[:500])
    if r.status_code >= 400:
        body = r.get_json(silent=True)
        assert body is not None and set(body["error"]) == {"code", "message", "fields"}, (
            what, r.get_data(as_text=True)[:300])
        assert "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize("role", ["platform_admin", "tenant_admin"])
@pytest.mark.parametrize("rule, method", ROUTES)
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_api_route_answers_5xx(world, role, rule, method, data):
    api = world[role]
    headers = dict(api.headers)
    key = data.draw(idempotency_keys)
    if key is not None:
        headers["Idempotency-Key"] = key
    path = _path(rule, world["ids"], data.draw)
    query = data.draw(query_strings)
    url = f"{path}?{query}" if query else path
    if method in ("GET", "DELETE"):
        check_answer(api.client.open(url, method=method, headers=headers), (method, url))
    else:
        body = data.draw(bodies(TEMPLATES.get(rule, {})))
        r = api.client.open(url, method=method, data=body.encode("utf-8", "surrogatepass"),
                            headers={**headers, "Content-Type": "application/json"})
        check_answer(r, (method, url, body[:300]))
