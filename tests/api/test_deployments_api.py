from datetime import date, datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from portal.models import AuditEntry, Deployment, DeploymentTransition, ProviderRegion
from tests.factories import make_deployment, make_plan, make_tenant, make_user


@pytest.fixture
def acme(database):
    return make_tenant("acme", "Acme AI")


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user(email="admin@example.com"))


def test_admin_creates_for_a_tenant_by_slug_or_id(admin, acme):
    r = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": "syd1"})
    assert r.status_code == 201
    body = r.get_json()
    assert {k: v for k, v in body.items() if k != "id"} == {
        "tenant_id": acme.id, "name": "llm", "region": "syd1", "status": "requested",
        "subscription": None}
    r = admin.post("/api/v1/deployments", json={"tenant_id": acme.id, "name": "rag", "region": "sgp1"})
    assert r.status_code == 201 and r.get_json()["tenant_id"] == acme.id


def test_tenant_admin_requests_for_its_own_tenant_only(api_as, acme, catalog):
    other = make_tenant("globex")
    api = api_as(make_user("tenant_admin", tenant=acme))
    r = api.post("/api/v1/deployments", json={"name": "llm", "region": "syd1"})
    assert r.status_code == 201 and r.get_json()["tenant_id"] == acme.id
    r = api.post("/api/v1/deployments", json={"name": "x", "region": "syd1", "tenant": "globex"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "tenant": "you may only request deployments for your own tenant"}
    assert other.id


def test_tenant_viewer_may_not_request(api_as, acme, catalog):
    r = api_as(make_user("tenant_viewer", tenant=acme)).post(
        "/api/v1/deployments", json={"name": "llm", "region": "syd1"})
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"name": "llm", "region": "syd1"}, {"tenant_id": "is required (or tenant, its slug)"}),
        ({"tenant": "nope", "name": "llm", "region": "syd1"}, {"tenant": "unknown tenant 'nope'"}),
        ({"tenant_id": "1", "name": "llm", "region": "syd1"}, {"tenant_id": "must be an integer"}),
        ({"tenant": "acme", "region": "syd1"}, {"name": "is required"}),
        ({"tenant": "acme", "name": "", "region": "syd1"}, {"name": "must not be empty"}),
        ({"tenant": "acme", "name": "llm", "region": 5}, {"region": "must be a string"}),
        ({"tenant": "acme", "name": "llm", "region": "syd1", "size": "xl"}, {"size": "unknown field"}),
    ],
)
def test_create_validation(admin, acme, body, fields):
    r = admin.post("/api/v1/deployments", json=body)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == fields


PUBLISHED_AVAILABLE = "ams3, atl1, blr1, fra1, lon1, nyc1, nyc3, sfo2, sfo3, sgp1, syd1, tor1"


@pytest.mark.parametrize("region, message", [
    ("mars1", f"is not one of the provider's regions; choose one of {PUBLISHED_AVAILABLE}"),
    ("SYD1", f"is not one of the provider's regions; choose one of {PUBLISHED_AVAILABLE}"),
    ("nyc2", f"New York 2 (nyc2) is not available for new deployments; choose one of {PUBLISHED_AVAILABLE}"),
])
def test_a_region_not_in_the_providers_list_is_422_naming_region(admin, acme, database, region, message):
    r = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": region})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"region": message}
    assert database.session.scalar(select(func.count()).select_from(Deployment)) == 0


def test_a_tenant_admin_is_held_to_the_synced_list_too(api_as, acme, database):
    database.session.add(ProviderRegion(slug="mel1", name="Melbourne 1", available=True, sizes=[],
                                        features=[], provider="digitalocean",
                                        synced_at=datetime(2026, 4, 1, tzinfo=timezone.utc)))
    database.session.commit()
    api = api_as(make_user("tenant_admin", tenant=acme))
    r = api.post("/api/v1/deployments", json={"name": "llm", "region": "syd1"})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {
        "region": "is not one of the provider's regions; choose one of mel1"}
    r = api.post("/api/v1/deployments", json={"name": "llm", "region": "mel1"})
    assert r.status_code == 201 and r.get_json()["region"] == "mel1"


def test_duplicate_name_in_a_tenant_is_409(admin, acme):
    admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": "syd1"})
    r = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": "syd1"})
    assert r.status_code == 409


def test_the_state_machine_and_its_record(admin, acme, database):
    dep = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": "syd1"}).get_json()
    url = f"/api/v1/deployments/{dep['id']}/transition"
    for to in ("provisioning", "active", "suspended", "active"):
        r = admin.post(url, json={"to": to})
        assert r.status_code == 200 and r.get_json()["status"] == to
    r = admin.post(url, json={"to": "provisioning"})
    assert r.status_code == 409
    assert r.get_json()["error"]["message"] == (
        "cannot go from active to provisioning; allowed: suspended, decommissioned")
    assert admin.post(url, json={"to": "decommissioned"}).status_code == 200
    r = admin.post(url, json={"to": "active"})
    assert r.status_code == 409
    assert "allowed: none (decommissioned is final)" in r.get_json()["error"]["message"]
    rows = database.session.execute(
        select(DeploymentTransition.from_status, DeploymentTransition.to_status,
               DeploymentTransition.actor)
        .where(DeploymentTransition.deployment_id == dep["id"]).order_by(DeploymentTransition.id)
    ).all()
    assert rows == [
        (None, "requested", "admin@example.com"),
        ("requested", "provisioning", "admin@example.com"),
        ("provisioning", "active", "admin@example.com"),
        ("active", "suspended", "admin@example.com"),
        ("suspended", "active", "admin@example.com"),
        ("active", "decommissioned", "admin@example.com"),
    ]


@pytest.mark.parametrize("body, code", [({"to": "exploded"}, 409), ({}, 422), ({"to": 3}, 422)])
def test_bad_transition_bodies(admin, acme, body, code):
    dep = make_deployment(acme, status="requested")
    assert admin.post(f"/api/v1/deployments/{dep.id}/transition", json=body).status_code == code


def test_provisioning_may_fail_and_failed_may_only_be_decommissioned(admin, acme):
    dep = make_deployment(acme, status="provisioning")
    url = f"/api/v1/deployments/{dep.id}/transition"
    assert admin.post(url, json={"to": "failed"}).get_json()["status"] == "failed"
    r = admin.post(url, json={"to": "active"})
    assert r.status_code == 409 and "allowed: decommissioned" in r.get_json()["error"]["message"]


def test_subscribe_snapshots_addons_and_may_be_backdated(admin, acme, database):
    dep = make_deployment(acme)
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscribe",
                   json={"plan_code": "studio", "addons": ["storage_50gb"], "starts_on": "2026-03-15"})
    assert r.status_code == 201
    sub = r.get_json()["subscription"]
    assert {k: v for k, v in sub.items() if k != "id"} == {
        "plan_code": "studio", "plan_version": 1,
        "addons": [{"code": "storage_50gb", "name": "Storage 50 GB", "price_cents": 750,
                    "resource_kind": "spaces_gb", "qty": 50}],
        "starts_on": "2026-03-15", "ends_on": None}
    # A later price change does not rewrite the snapshot.
    from portal.services.catalog import addons_by_code
    addons_by_code(["storage_50gb"])["storage_50gb"].price_cents = 999
    database.session.commit()
    got = admin.get(f"/api/v1/deployments/{dep.id}").get_json()["subscription"]["addons"][0]
    assert got["price_cents"] == 750
    # A second running subscription is a conflict.
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscribe",
                   json={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"plan_code": "nope", "starts_on": "2026-04-01"}, {"plan_code": "unknown plan 'nope'"}),
        ({"plan_code": "studio", "starts_on": "2025-06-01"},
         {"starts_on": "no version of plan 'studio' is in effect then"}),
        ({"plan_code": "studio", "starts_on": "2026-04-01", "addons": ["x"]},
         {"addons": "unknown addon 'x'"}),
        ({"plan_code": "studio"}, {"starts_on": "is required"}),
    ],
)
def test_subscribe_validation(admin, acme, body, fields):
    dep = make_deployment(acme)
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscribe", json=body)
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == fields


def test_decommissioning_ends_the_subscription_that_day(catalog, api_as, acme):
    with freeze_time("2026-04-20 15:00:00"):
        admin = api_as(make_user())
        dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1))
        r = admin.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "decommissioned"})
    assert r.get_json()["subscription"]["ends_on"] == "2026-04-20"


def test_a_decommissioned_deployment_cannot_be_subscribed(admin, acme):
    dep = make_deployment(acme, status="decommissioned")
    r = admin.post(f"/api/v1/deployments/{dep.id}/subscribe",
                   json={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 409


def test_resubscribing_after_an_end_must_not_overlap(catalog, api_as, acme):
    admin = api_as(make_user())
    dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 3, 1), ends_on=date(2026, 4, 10))
    url = f"/api/v1/deployments/{dep.id}/subscribe"
    assert admin.post(url, json={"plan_code": "studio", "starts_on": "2026-04-10"}).status_code == 409
    assert admin.post(url, json={"plan_code": "studio", "starts_on": "2026-04-11"}).status_code == 201


def test_tenants_see_only_their_own(api_as, acme, catalog):
    globex = make_tenant("globex")
    mine = make_deployment(acme, name="mine")
    theirs = make_deployment(globex, name="theirs")
    api = api_as(make_user("tenant_viewer", tenant=acme))
    assert [d["name"] for d in api.get("/api/v1/deployments").get_json()["deployments"]] == ["mine"]
    assert api.get(f"/api/v1/deployments/{mine.id}").status_code == 200
    for url in (f"/api/v1/deployments/{theirs.id}", f"/api/v1/deployments/{theirs.id}/usage?period=2026-04",
                "/api/v1/deployments/999999"):
        r = api.get(url)
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    # Another tenant's deployment is 404 even for actions the role may not take (nothing leaks).
    assert api.post(f"/api/v1/deployments/{theirs.id}/transition", json={"to": "suspended"}).status_code == 404
    assert api.post(f"/api/v1/deployments/{theirs.id}/subscribe",
                    json={"plan_code": "studio", "starts_on": "2026-04-01"}).status_code == 404


def test_tenant_viewer_cannot_transition_or_subscribe_its_own(api_as, acme, catalog, database):
    dep = make_deployment(acme, status="requested")
    api = api_as(make_user("tenant_viewer", tenant=acme))
    r = api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "provisioning"})
    assert r.status_code == 403
    r = api.post(f"/api/v1/deployments/{dep.id}/subscribe",
                 json={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 403
    database.session.refresh(dep)
    assert dep.status == "requested"


def test_tenant_admin_may_decommission_its_own_but_not_suspend_or_subscribe(api_as, acme, catalog):
    dep = make_deployment(acme, status="active")
    api = api_as(make_user("tenant_admin", tenant=acme))
    assert api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "suspended"}).status_code == 403
    assert api.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "decommissioned"}).status_code == 200
    r = api.post(f"/api/v1/deployments/{dep.id}/subscribe",
                 json={"plan_code": "studio", "starts_on": "2026-04-01"})
    assert r.status_code == 403


def test_admin_writes_are_audited(admin, acme, database):
    dep = admin.post("/api/v1/deployments", json={"tenant": "acme", "name": "llm", "region": "syd1"}).get_json()
    admin.post(f"/api/v1/deployments/{dep['id']}/transition", json={"to": "provisioning"})
    admin.post(f"/api/v1/deployments/{dep['id']}/subscribe", json={"plan_code": "studio", "starts_on": "2026-04-01"})
    actions = database.session.scalars(
        select(AuditEntry.action).where(AuditEntry.target_type == "deployment").order_by(AuditEntry.id)).all()
    assert actions == ["deployment.create", "deployment.transition", "deployment.subscribe"]


def test_decommissioning_before_the_start_cancels_the_subscription(catalog, api_as, acme, database):
    from portal.models import Subscription

    with freeze_time("2026-04-20 15:00:00"):
        admin = api_as(make_user())
        dep = make_deployment(acme, plan_code="studio", starts_on=date(2026, 5, 1))
        r = admin.post(f"/api/v1/deployments/{dep.id}/transition", json={"to": "decommissioned"})
    assert r.get_json()["subscription"] is None
    assert database.session.scalar(select(Subscription).where(Subscription.deployment_id == dep.id)) is None


def test_the_deployment_list_is_paged(admin, acme):
    for i in range(7):
        make_deployment(acme, name=f"d{i}")
    first = admin.get("/api/v1/deployments?per_page=5").get_json()
    assert [d["name"] for d in first["deployments"]] == ["d0", "d1", "d2", "d3", "d4"]
    # next is a cursor after the last row (by name, then id): a row added meanwhile on an
    # earlier page shifts nothing.
    assert first["next"].startswith("/api/v1/deployments?per_page=5&cursor=o.")
    make_deployment(acme, name="a-late")
    second = admin.get(first["next"]).get_json()
    assert ([d["name"] for d in second["deployments"]], second["next"]) == (["d5", "d6"], None)
    # A page number still works for the first pages a script asks for.
    assert [d["name"] for d in admin.get("/api/v1/deployments?per_page=5&page=2").get_json()[
        "deployments"]] == ["d4", "d5", "d6"]
    r = admin.get("/api/v1/deployments?page=x")
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"page": "must be a positive integer up to 1000000"}


def test_the_deployment_list_filters_and_sorts_as_the_page_does(admin, acme):
    globex = make_tenant("globex")
    a = make_deployment(acme, name="Inference-A", region="syd1", status="requested")
    b = make_deployment(acme, name="web", region="sfo3", status="active")
    c = make_deployment(globex, name="inference-b", region="syd1", status="provisioning")

    def names(query):
        r = admin.get(f"/api/v1/deployments?{query}")
        assert r.status_code == 200, r.get_json()
        return [d["name"] for d in r.get_json()["deployments"]]

    assert names("") == ["Inference-A", "inference-b", "web"]
    assert names("name=INFERENCE") == ["Inference-A", "inference-b"]
    assert names("region=syd1&tenant=acme") == ["Inference-A"]
    assert names("status=active") == ["web"]
    assert names("sort=-created") == ["inference-b", "web", "Inference-A"]
    assert [d["id"] for d in admin.get("/api/v1/deployments?sort=created").get_json()[
        "deployments"]] == [a.id, b.id, c.id]
    for query, field in (("status=sideways", "status"), ("sort=region", "sort"),
                         ("cursor=o.zz", "cursor"), ("name=" + "x" * 101, "name")):
        r = admin.get(f"/api/v1/deployments?{query}")
        assert r.status_code == 422 and field in r.get_json()["error"]["fields"], (query, r.get_json())


def test_a_tenant_filters_only_its_own_deployments(api_as, acme):
    globex = make_tenant("globex")
    make_deployment(acme, name="mine", region="syd1")
    make_deployment(globex, name="theirs", region="syd1")
    mine = api_as(make_user("tenant_viewer", tenant=acme))
    assert [d["name"] for d in mine.get("/api/v1/deployments?region=syd1").get_json()["deployments"]] == ["mine"]
    assert mine.get("/api/v1/deployments?tenant=globex").get_json() == {"deployments": [], "next": None}


def test_regions_list_the_providers_with_which_may_host_a_new_deployment(admin):
    body = admin.get("/api/v1/regions").get_json()
    assert body["synced"] is False  # before the first sync: DigitalOcean's published list
    syd1 = next(r for r in body["regions"] if r["slug"] == "syd1")
    assert syd1 == {"slug": "syd1", "name": "Sydney 1", "available": True}
    assert [r["slug"] for r in body["regions"]] == sorted(r["slug"] for r in body["regions"])


def test_a_tenant_bills_in_one_currency_a_month(admin, acme):
    """A month's invoice has one currency, so the rollup cannot bill a tenant whose deployments
    bill the same month in two: the second currency is refused when subscribing (422 naming
    plan_code), and allowed once the other subscription's last month is behind."""
    make_plan("usd-plan", base_price_cents=4000, currency="USD")
    aud = make_deployment(acme, name="aud-one", plan_code="studio", starts_on=date(2026, 3, 1))
    usd = make_deployment(acme, name="usd-one")
    r = admin.post(f"/api/v1/deployments/{usd.id}/subscribe",
                   json={"plan_code": "usd-plan", "starts_on": "2026-04-10"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"plan_code": (
        "must be priced in AUD, as deployment aud-one of this tenant is billed in the same "
        "months (a month's invoice has one currency)")}
    # Another tenant's currency is its own business.
    other = make_deployment(make_tenant("globex"), name="usd-two")
    assert admin.post(f"/api/v1/deployments/{other.id}/subscribe", json={
        "plan_code": "usd-plan", "starts_on": "2026-04-10"}).status_code == 201
    # Once acme's AUD subscription ends in March, a USD one may start in April (not in March).
    assert admin.post(f"/api/v1/deployments/{aud.id}/subscription/end",
                      json={"ends_on": "2026-03-31"}).status_code == 200
    assert admin.post(f"/api/v1/deployments/{usd.id}/subscribe", json={
        "plan_code": "usd-plan", "starts_on": "2026-03-31"}).status_code == 422
    assert admin.post(f"/api/v1/deployments/{usd.id}/subscribe", json={
        "plan_code": "usd-plan", "starts_on": "2026-04-01"}).status_code == 201
