"""The provider's regions: fetched (paged) from GET /v2/regions of the fake DigitalOcean,
stored by provider sync, and the only regions a new deployment may choose."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from portal.errors import ValidationError
from portal.models import Deployment, ProviderRegion
from portal.provider.digitalocean import DigitalOceanClient, ProviderError, Region
from portal.provider.regions import PUBLISHED_REGIONS
from portal.services import deployments, provider_sync, regions
from tests.factories import make_deployment, make_tenant, make_user
from tests.fakes.digitalocean import droplet_json, region_json

NOW = datetime(2026, 4, 15, 10, 20, tzinfo=timezone.utc)


def stored(database):
    return [tuple(r) for r in database.session.execute(
        select(ProviderRegion.slug, ProviderRegion.name, ProviderRegion.available,
               ProviderRegion.provider).order_by(ProviderRegion.slug))]


def test_the_client_reads_every_page_of_regions_with_their_fields(fake):
    fake.regions = [region_json("syd1", "Sydney 1", sizes=["s-1vcpu-1gb"], features=["ipv6"]),
                    region_json("nyc2", "New York 2", available=False, sizes=[]),
                    region_json("sgp1", "Singapore 1")]
    with DigitalOceanClient("test-token", base_url=fake.url, per_page=2) as client:
        got = client.regions()
    assert got[:2] == [Region("syd1", "Sydney 1", True, ("s-1vcpu-1gb",), ("ipv6",)),
                       Region("nyc2", "New York 2", False, (), ("backups", "ipv6", "metadata", "storage"))]
    assert [r.label for r in got] == ["Sydney 1 (syd1)", "New York 2 (nyc2)", "Singapore 1 (sgp1)"]
    assert [q.get("page") for _, p, q, _ in fake.requests if p == "/v2/regions"] == ["1", "2"]


@pytest.mark.parametrize("entry, words", [
    ({"slug": "syd1", "name": "Sydney 1", "available": "yes"}, 'the field "available" is not true or false'),
    ({"name": "Sydney 1", "available": True}, 'the field "slug" is missing'),
    ({"slug": "x" * 33, "name": "Long", "available": True}, "longer than 32"),
])
def test_a_malformed_region_is_a_clear_provider_error(fake, entry, words):
    fake.regions = [entry]
    with DigitalOceanClient("test-token", base_url=fake.url) as client, \
            pytest.raises(ProviderError) as caught:
        client.regions()
    assert words in caught.value.message


def test_before_any_sync_the_published_regions_are_offered(database):
    assert not regions.synced()
    assert [r.slug for r in regions.list_regions()] == sorted(r.slug for r in PUBLISHED_REGIONS)
    offered = regions.available_regions()
    assert offered[0].label == "Amsterdam 3 (ams3)" and offered[-1].label == "Toronto 1 (tor1)"
    assert "nyc2" not in {r.slug for r in offered} and len(offered) == 12
    assert regions.region_problem("syd1") is None
    assert regions.region_problem("nyc2").startswith("New York 2 (nyc2) is not available")
    assert regions.region_problem("mars1").startswith("is not one of the provider's regions")


def test_sync_stores_the_providers_list_and_the_next_sync_replaces_it(fake, database):
    fake.regions = [region_json("syd1", "Sydney 1"), region_json("sgp1", "Singapore 1"),
                    region_json("mel1", "Melbourne 1")]
    report = provider_sync.sync(parts=("inventory",), now=NOW)
    assert report.results["inventory"]["ok"] and report.results["inventory"]["counts"]["regions"] == 3
    assert stored(database) == [("mel1", "Melbourne 1", True, "digitalocean"),
                                ("sgp1", "Singapore 1", True, "digitalocean"),
                                ("syd1", "Sydney 1", True, "digitalocean")]
    assert regions.synced() and [r.slug for r in regions.available_regions()] == ["mel1", "sgp1", "syd1"]
    # Published but not listed by this account: no longer offered.
    assert regions.region_problem("ams3") == (
        "is not one of the provider's regions; choose one of mel1, sgp1, syd1")

    fake.regions = [region_json("syd1", "Sydney 1"), region_json("sgp1", "Singapore 1", available=False)]
    provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=11))
    assert stored(database) == [("sgp1", "Singapore 1", False, "digitalocean"),
                                ("syd1", "Sydney 1", True, "digitalocean")]
    synced_at = database.session.scalar(select(ProviderRegion.synced_at).where(ProviderRegion.slug == "syd1"))
    assert synced_at == NOW.replace(hour=11)


def test_a_failed_regions_fetch_keeps_the_last_list_and_writes_nothing(fake, database):
    fake.regions = [region_json("syd1", "Sydney 1")]
    provider_sync.sync(parts=("inventory",), now=NOW)
    fake.regions = [region_json("sgp1", "Singapore 1")]
    fake.fail_next("/v2/regions", status=401)
    report = provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=11))
    assert not report.results["inventory"]["ok"]
    assert "rejected the API token (HTTP 401)" in report.results["inventory"]["error"]
    assert stored(database) == [("syd1", "Sydney 1", True, "digitalocean")]


def test_an_empty_list_keeps_the_last_one(fake, database):
    fake.regions = [region_json("syd1", "Sydney 1")]
    provider_sync.sync(parts=("inventory",), now=NOW)
    fake.regions = []
    report = provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=11))
    assert report.results["inventory"]["ok"] and report.results["inventory"]["counts"]["regions"] == 0
    assert stored(database) == [("syd1", "Sydney 1", True, "digitalocean")]


def test_the_demo_provider_syncs_the_published_list(database):
    report = provider_sync.sync(parts=("inventory",), now=NOW)
    assert report.provider == "demo" and report.results["inventory"]["counts"]["regions"] == 15
    rows = stored(database)
    assert ("syd1", "Sydney 1", True, "demo") in rows and ("nyc2", "New York 2", False, "demo") in rows


def test_a_region_that_becomes_unavailable_does_not_break_its_deployments(fake, catalog, database):
    admin = make_user(email="admin@example.com")
    dep = make_deployment(make_tenant("acme"), name="llm", region="sgp1", plan_code="studio",
                          starts_on=date(2026, 3, 1))
    fake.regions = [region_json("syd1", "Sydney 1"), region_json("sgp1", "Singapore 1", available=False)]
    fake.droplets = [droplet_json(101, "llm-1", region="sgp1", tags=[f"arcadia:deployment:{dep.id}"])]
    report = provider_sync.sync(parts=("inventory",), now=NOW)
    assert report.results["inventory"]["counts"]["drift_open"] == 0  # same region: no drift
    moved = deployments.transition(admin, dep.id, {"to": "suspended"})
    assert (moved.status, moved.region) == ("suspended", "sgp1")
    # A new one may not go there, though.
    with pytest.raises(ValidationError) as caught:
        deployments.create_deployment(admin, {"tenant": "acme", "name": "rag", "region": "sgp1"})
    assert caught.value.fields == {
        "region": "Singapore 1 (sgp1) is not available for new deployments; choose one of syd1"}
    assert database.session.scalar(select(Deployment.region).where(Deployment.id == dep.id)) == "sgp1"
