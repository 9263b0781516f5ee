"""GET /api/v1/deployments (filters, sort, keyset cursor) and GET /api/v1/regions under hostile
query strings: every answer is a 200 or a 4xx with the contract's error shape, never a 500,
and a tenant's user never sees another tenant's deployment, whatever it asks for."""
import base64
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_deployment, make_tenant, make_user
from tests.fuzz.strategies import HOSTILE_TEXT, encode, hostile_text

SORTS = ["name", "-name", "created", "-created", "status", "-status"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


# Cursors: well-formed for some order, for another order, and broken in every part.
cursors = st.one_of(
    hostile_text,
    st.builds(lambda d, sort, name, key: ".".join(p for p in (d, sort, name, key) if p is not None),
              st.sampled_from(["o", "n", "x", ""]),
              st.one_of(st.none(), st.sampled_from([*SORTS, "", "-", "name.name"])),
              st.one_of(st.none(), st.text(max_size=12).map(_b64), hostile_text),
              st.one_of(st.none(), st.sampled_from(["1", "0", "-1", "2147483648", "99999999999",
                                                    "", "1.2", "active", _b64("active")]),
                        st.integers(-10, 2**40).map(str))),
)
values = {
    "tenant": st.one_of(hostile_text, st.sampled_from(["acme", "globex", "ACME", "acme "])),
    "status": st.one_of(hostile_text, st.sampled_from(["active", "requested", "ACTIVE", ""])),
    "region": st.one_of(hostile_text, st.sampled_from(["syd1", "sgp1", "x" * 32, "x" * 33])),
    "name": st.one_of(hostile_text, st.sampled_from(["%", "_", "\\", "web", "x" * 101, "a%b"])),
    "sort": st.one_of(hostile_text, st.sampled_from([*SORTS, "--name", "id", "-"])),
    "cursor": cursors,
    "page": st.one_of(hostile_text, st.sampled_from(["1", "2", "0", "1000000", "1000001"])),
    "per_page": st.one_of(hostile_text, st.sampled_from(["1", "500", "501", "0"])),
}


def urlencode(args: dict) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in args.items())


query_strings = st.fixed_dictionaries({}, optional=values).map(urlencode)


@pytest.fixture
def world(catalog, api_as):
    acme, globex = make_tenant("acme", "Acme AI"), make_tenant("globex", "Globex")
    for tenant, names in ((acme, ["web", "a%b", "Zed", "émile"]), (globex, ["web", "secret"])):
        for name in names:
            make_deployment(tenant, name=name)
    return {"acme": acme, "globex": globex,
            "platform_admin": api_as(make_user()),
            "tenant_viewer": api_as(make_user("tenant_viewer", tenant=acme))}


def _check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    if response.status_code >= 400:
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=query_strings, who=st.sampled_from(["platform_admin", "tenant_viewer"]))
def test_hostile_deployment_list_queries_are_never_a_500_nor_a_leak(world, query, who):
    api = world[who]
    response = api.get(f"/api/v1/deployments?{query}")
    _check(response)
    if response.status_code != 200:
        return
    body = response.get_json()
    if who == "tenant_viewer":
        assert {d["tenant_id"] for d in body["deployments"]} <= {world["acme"].id}
    # Following ``next`` as given is always accepted, and still never leaks.
    hops = 0
    while body["next"] and hops < 8:
        response = api.get(body["next"])
        assert response.status_code == 200, (body["next"], response.get_data(as_text=True)[:300])
        body = response.get_json()
        if who == "tenant_viewer":
            assert {d["tenant_id"] for d in body["deployments"]} <= {world["acme"].id}
        hops += 1


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_pages_through_every_visible_row_once(world, sort):
    """per_page=1 in each order: the cursor pages visit each visible row exactly once, in the
    order the first page of a big per_page gives (a tenant viewer: acme's four only)."""
    for who, expected in (("platform_admin", 6), ("tenant_viewer", 4)):
        api = world[who]
        whole = api.get(f"/api/v1/deployments?sort={sort}&per_page=500").get_json()
        assert len(whole["deployments"]) == expected and whole["next"] is None
        seen, url = [], f"/api/v1/deployments?sort={sort}&per_page=1"
        while url:
            body = api.get(url).get_json()
            seen += [d["id"] for d in body["deployments"]]
            url = body["next"]
        assert seen == [d["id"] for d in whole["deployments"]]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=st.dictionaries(st.sampled_from(["page", "per_page", "x", *HOSTILE_TEXT[:8]]),
                             hostile_text, max_size=3).map(urlencode))
def test_hostile_region_list_queries_are_never_a_500(world, query):
    for who in ("platform_admin", "tenant_viewer"):
        response = world[who].get(f"/api/v1/regions?{query}")
        _check(response)
