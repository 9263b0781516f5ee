"""provider sync against a fake DigitalOcean API served on 127.0.0.1 (no HTTP mocking)."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from portal.models import DriftItem, ProviderCostLine, ProviderResource, SyncRun, UsageEvent
from portal.services import provider, provider_sync
from portal.services.dashboard import cost_vs_revenue
from portal.services.rollup import roll_up_period
from tests.factories import make_deployment, make_tenant, make_user
from tests.fakes.digitalocean import (
    balance_json,
    droplet_json,
    invoice_item_json,
    invoice_json,
    volume_json,
)

NOW = datetime(2026, 4, 15, 10, 20, tzinfo=timezone.utc)


@pytest.fixture
def dep(catalog, database):
    return make_deployment(make_tenant("acme"), name="llm", region="syd1", plan_code="studio",
                           starts_on=date(2026, 3, 1))


def tag(deployment_id):
    return f"arcadia:deployment:{deployment_id}"


def seed_inventory(fake, dep):
    fake.droplets = [
        droplet_json(101, "llm-1", region="syd1", tags=[tag(dep.id), "web"]),
        droplet_json(102, "llm-2", region="sgp1", tags=[tag(dep.id)]),        # region drift
        droplet_json(103, "scratch", region="syd1"),                             # untagged
        droplet_json(104, "orphan", region="syd1", tags=[tag(999999)]),          # unknown
        droplet_json(105, "llm-off", region="syd1", status="off", tags=[tag(dep.id)]),
    ]
    fake.volumes = [volume_json("vol-1", "llm-data", droplet_ids=[101], tags=[tag(dep.id)])]


def drift_set(database):
    rows = database.session.execute(
        select(DriftItem.kind, DriftItem.provider_id, DriftItem.status).order_by(DriftItem.id)).all()
    return [tuple(r) for r in rows]


def usage_count(database):
    return database.session.scalar(select(func.count()).select_from(UsageEvent))


def test_inventory_sync_pages_survives_a_429_and_writes_exactly(fake, dep, database):
    seed_inventory(fake, dep)
    fake.fail_next("/v2/droplets", status=429, headers={"Retry-After": "0"})
    report = provider_sync.sync(parts=("inventory",), now=NOW)
    assert report.provider == "digitalocean"
    assert report.results["inventory"] == {"ok": True, "error": None, "counts": {
        "regions": 15, "droplets": 5, "volumes": 1, "new": 6, "vanished": 0, "droplet_hours": 2,
        "drift_open": 3}}
    # 5 droplets at 2 a page: 3 pages, plus the one answered 429 and retried.
    assert len(fake.requests_to("/v2/droplets")) == 4
    rows = database.session.execute(
        select(ProviderResource.kind, ProviderResource.provider_id, ProviderResource.name,
               ProviderResource.region, ProviderResource.size, ProviderResource.status,
               ProviderResource.deployment_id)
        .order_by(ProviderResource.kind, ProviderResource.provider_id)).all()
    assert [tuple(r) for r in rows] == [
        ("droplet", "101", "llm-1", "syd1", "s-2vcpu-4gb", "active", dep.id),
        ("droplet", "102", "llm-2", "sgp1", "s-2vcpu-4gb", "active", dep.id),
        ("droplet", "103", "scratch", "syd1", "s-2vcpu-4gb", "active", None),
        ("droplet", "104", "orphan", "syd1", "s-2vcpu-4gb", "active", None),
        ("droplet", "105", "llm-off", "syd1", "s-2vcpu-4gb", "off", dep.id),
        ("volume", "vol-1", "llm-data", "syd1", "100gb", "attached", dep.id),
    ]
    events = database.session.execute(
        select(UsageEvent.event_id, UsageEvent.deployment_id, UsageEvent.quantity,
               UsageEvent.occurred_at).order_by(UsageEvent.event_id)).all()
    hour = datetime(2026, 4, 15, 10, tzinfo=timezone.utc)
    assert [tuple(e) for e in events] == [
        ("do:droplet:101:2026-04-15T10", dep.id, 1, hour),
        ("do:droplet:102:2026-04-15T10", dep.id, 1, hour),
    ]
    assert drift_set(database) == [
        ("region_changed", "102", "open"), ("untagged", "103", "open"),
        ("unknown_deployment", "104", "open")]
    region = database.session.scalar(select(DriftItem).where(DriftItem.kind == "region_changed"))
    assert (region.observed, region.recorded, region.deployment_id) == (
        {"region": "sgp1"}, {"region": "syd1"}, dep.id)

    # A second sync in the same hour changes nothing.
    ids_before = database.session.scalars(select(DriftItem.id).order_by(DriftItem.id)).all()
    again = provider_sync.sync(parts=("inventory",), now=NOW.replace(minute=55))
    assert again.results["inventory"]["counts"] == {
        "regions": 15, "droplets": 5, "volumes": 1, "new": 0, "vanished": 0, "droplet_hours": 0,
        "drift_open": 3}
    assert usage_count(database) == 2
    assert database.session.scalars(select(DriftItem.id).order_by(DriftItem.id)).all() == ids_before
    # The next hour is another droplet-hour each.
    provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=11))
    assert usage_count(database) == 4


def test_drift_closes_itself_opens_for_vanished_and_size_and_accepts(fake, dep, database):
    seed_inventory(fake, dep)
    provider_sync.sync(parts=("inventory",), now=NOW)
    fake.droplets[1] = droplet_json(102, "llm-2", region="syd1", tags=[tag(dep.id)])   # back home
    fake.droplets[0] = droplet_json(101, "llm-1", region="syd1", size="s-4vcpu-8gb", tags=[tag(dep.id)])
    del fake.droplets[4]  # llm-off is gone
    provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=11))
    assert drift_set(database) == [
        ("region_changed", "102", "resolved"), ("untagged", "103", "open"),
        ("unknown_deployment", "104", "open"), ("size_changed", "101", "open"),
        ("vanished", "105", "open")]
    gone = database.session.scalar(select(ProviderResource).where(ProviderResource.provider_id == "105"))
    assert gone.vanished_at == NOW.replace(hour=11)

    admin = make_user(email="admin@example.com")
    size = database.session.scalar(select(DriftItem).where(DriftItem.kind == "size_changed"))
    accepted = provider.accept_drift(admin, size.id)
    assert (accepted.status, accepted.accepted_by_id) == ("accepted", admin.id)
    assert provider.accept_drift(admin, size.id).status == "accepted"  # idempotent
    for kind in ("untagged", "vanished"):
        item = database.session.scalar(select(DriftItem).where(DriftItem.kind == kind))
        provider.accept_drift(admin, item.id)
    provider_sync.sync(parts=("inventory",), now=NOW.replace(hour=12))
    # Adopted: the recorded size is the observed one, acknowledged resources stay quiet.
    open_items = [(k, p) for k, p, s in drift_set(database) if s == "open"]
    assert open_items == [("unknown_deployment", "104")]


def test_accepting_region_drift_moves_the_deployment_record(fake, dep, database):
    seed_inventory(fake, dep)
    provider_sync.sync(parts=("inventory",), now=NOW)
    item = database.session.scalar(select(DriftItem).where(DriftItem.kind == "region_changed"))
    provider.accept_drift(make_user(), item.id)
    database.session.refresh(dep)
    assert dep.region == "sgp1"


def test_a_failed_part_keeps_the_last_good_data(app, fake, dep, database):
    seed_inventory(fake, dep)
    fake.balance = balance_json("23.44", "12.23", "11.21")
    provider_sync.sync(now=NOW)
    before = database.session.scalar(select(func.count()).select_from(ProviderResource))
    fake.droplets = []  # were it to succeed, everything would vanish
    for _ in range(4):  # the first try and three retries
        fake.fail_next("/v2/droplets", status=503)
    report = provider_sync.sync(now=NOW.replace(hour=11))
    assert report.results["inventory"]["ok"] is False
    assert "503" in report.results["inventory"]["error"]
    assert report.results["billing"]["ok"] is True and report.any_ok
    assert database.session.scalar(
        select(func.count()).select_from(ProviderResource).where(ProviderResource.vanished_at.is_(None))) == before
    runs = database.session.execute(select(SyncRun.part, SyncRun.ok).order_by(SyncRun.id)).all()
    assert [tuple(r) for r in runs] == [("inventory", True), ("billing", True),
                                        ("inventory", False), ("billing", True)]


@pytest.mark.parametrize("fault", [
    {"body": "<html>oops</html>"},
    {"status": 500},
    {"delay": 3.0},
])
def test_bad_json_5xx_and_timeouts_fail_the_part_cleanly(app, fake, dep, database, fault, monkeypatch):
    monkeypatch.setitem(app.config, "PROVIDER_TIMEOUT_SECONDS", 0.5)
    seed_inventory(fake, dep)
    for _ in range(4):
        fake.fail_next("/v2/volumes", **fault)
    report = provider_sync.sync(parts=("inventory",), now=NOW)
    assert report.results["inventory"]["ok"] is False and not report.any_ok
    assert database.session.scalar(select(func.count()).select_from(ProviderResource)) == 0


def test_cli_exits_non_zero_only_when_nothing_synced(app, fake, dep, database):
    runner = app.test_cli_runner()
    seed_inventory(fake, dep)
    fake.fail_next("/v2/customers/my/balance", status=401)
    r = runner.invoke(args=["provider", "sync"])
    assert r.exit_code == 0
    assert "inventory: ok" in r.output and "billing: FAILED" in r.output
    fake.token = "another-token"  # ours is now rejected everywhere
    r = runner.invoke(args=["provider", "sync"])
    assert r.exit_code == 1
    assert "nothing could be synced; the last good data is kept" in r.output


def test_billing_sync_writes_balance_and_attributed_cost_lines(fake, dep, database, api_as):
    seed_inventory(fake, dep)
    fake.balance = balance_json("23.44", "-12.23", "11.21", "2026-04-15T00:00:00Z")
    fake.invoices = [invoice_json("inv-mar", "2026-03", "55.00")]
    fake.invoice_items = {"inv-mar": [
        invoice_item_json("Droplets", "101", "llm-1", "24.00"),
        invoice_item_json("Droplets", "103", "scratch", "6.00"),
        invoice_item_json("Volumes", "", "llm-data", "10.00", resource_uuid="vol-1"),
        invoice_item_json("Droplets", "102", "llm-2", "15.00"),
    ]}
    provider_sync.sync(now=NOW)
    read = len(fake.requests_to("/v2/customers/my/invoices/inv-mar"))
    assert read == 2  # four items, two a page
    provider_sync.sync(parts=("billing",), now=NOW.replace(hour=11))  # not re-read: it is final
    assert len(fake.requests_to("/v2/customers/my/invoices/inv-mar")) == read
    api = api_as(make_user())
    assert api.get("/api/v1/billing/balance").get_json() == {
        "month_to_date_usage_cents": 1121, "month_to_date_balance_cents": 2344,
        "account_balance_cents": -1223, "generated_at": "2026-04-15T00:00:00+00:00",
        "currency": "USD", "synced_at": "2026-04-15T11:20:00+00:00"}
    lines = api.get("/api/v1/billing/cost-lines?period=2026-03").get_json()["cost_lines"]
    assert lines == [
        {"product": "Droplets", "provider_id": "101", "description": "llm-1", "amount_cents": 2400,
         "period": "2026-03", "deployment_id": dep.id, "currency": "USD"},
        {"product": "Droplets", "provider_id": "103", "description": "scratch", "amount_cents": 600,
         "period": "2026-03", "deployment_id": None, "currency": "USD"},
        {"product": "Volumes", "provider_id": "vol-1", "description": "llm-data", "amount_cents": 1000,
         "period": "2026-03", "deployment_id": dep.id, "currency": "USD"},
        {"product": "Droplets", "provider_id": "102", "description": "llm-2", "amount_cents": 1500,
         "period": "2026-03", "deployment_id": dep.id, "currency": "USD"},
    ]
    assert api.get("/api/v1/billing/cost-lines?period=2026-04").get_json() == {"cost_lines": [], "next": None}
    assert database.session.scalar(select(func.count()).select_from(ProviderCostLine)) == 4


def test_dashboard_figures_to_the_cent(fake, dep, database):
    """March: revenue from the rollup's invoice, cost from the provider's invoice at 1.55."""
    seed_inventory(fake, dep)
    fake.invoices = [invoice_json("inv-mar", "2026-03", "55.00")]
    fake.invoice_items = {"inv-mar": [
        invoice_item_json("Droplets", "101", "llm-1", "24.00"),     # 37.20 AUD
        invoice_item_json("Droplets", "102", "llm-2", "15.01"),     # 23.2655 → 23.27
        invoice_item_json("Droplets", "103", "scratch", "6.00"),    # 9.30, unattributed
        invoice_item_json("Volumes", "", "llm-data", "10.00", resource_uuid="vol-1"),  # 15.50
    ]}
    provider_sync.sync(now=NOW)
    other = make_deployment(make_tenant("globex"), name="vision", plan_code="studio",
                            addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    board = cost_vs_revenue(date(2026, 3, 1))
    rows = {r.key: (r.revenue_cents, r.cost_cents, r.margin_cents) for r in board.report.by_deployment}
    assert rows == {dep.id: (5000, 3720 + 2327 + 1550, 5000 - 7597),
                    other.id: (5750, 0, 5750),
                    None: (0, 930, -930)}
    kinds = {r.key: (r.revenue_cents, r.cost_cents) for r in board.report.by_kind}
    # Block storage volumes are no resource kind we resell: "other".
    assert kinds == {"plan": (10000, 0), "spaces_gb": (750, 0), "other": (0, 1550),
                     "droplet_hours": (0, 3720 + 2327 + 930)}
    total = board.report.total
    assert (total.revenue_cents, total.cost_cents, total.margin_cents) == (10750, 8527, 2223)
    assert str(total.margin_percent) == "20.7"
    assert board.names[dep.id] == "acme / llm"


def test_provider_api_shapes_and_drift_accept(fake, dep, database, api_as):
    seed_inventory(fake, dep)
    provider_sync.sync(parts=("inventory",), now=NOW)
    api = api_as(make_user())
    body = api.get("/api/v1/inventory").get_json()
    assert body["provider"] == "digitalocean"
    first = body["resources"][0]
    assert set(first) == {"id", "provider_id", "kind", "name", "region", "size", "status", "tags",
                          "deployment_id", "last_seen_at"}
    assert (first["provider_id"], first["tags"], first["last_seen_at"]) == (
        "101", [tag(dep.id), "web"], "2026-04-15T10:20:00+00:00")
    drift = api.get("/api/v1/drift").get_json()["drift"]
    assert {d["kind"] for d in drift} == {"region_changed", "untagged", "unknown_deployment"}
    untagged = next(d for d in drift if d["kind"] == "untagged")
    assert untagged == {"id": untagged["id"], "kind": "untagged", "provider_id": "103",
                        "deployment_id": None, "observed": {"tags": []}, "recorded": {},
                        "status": "open"}
    url = f"/api/v1/drift/{untagged['id']}/accept"
    first_accept = api.client.post(url, headers=api.headers)  # an empty body
    second_accept = api.client.post(url, headers=api.headers)
    assert first_accept.status_code == second_accept.status_code == 200
    assert first_accept.get_json()["status"] == second_accept.get_json()["status"] == "accepted"
    assert api.post("/api/v1/drift/999999/accept").status_code == 404
    assert api.get("/api/v1/drift?status=accepted").get_json()["drift"][0]["id"] == untagged["id"]
    assert api.get("/api/v1/drift?status=maybe").status_code == 422

    tenant = api_as(make_user("tenant_admin", tenant=dep.tenant))
    for path in ("/api/v1/inventory", "/api/v1/drift", "/api/v1/billing/balance",
                 "/api/v1/billing/cost-lines?period=2026-03"):
        assert tenant.get(path).status_code == 403, path
    assert tenant.post(url).status_code == 403


def test_balance_before_any_sync_is_404(api_as, database):
    r = api_as(make_user()).get("/api/v1/billing/balance")
    assert r.status_code == 404 and "no balance has been synced yet" in r.get_json()["error"]["message"]


def test_an_imported_csv_does_not_double_count_a_month_the_api_has(fake, dep, database):
    from portal.services.cost_import import import_invoice_csv

    fake.invoices = [invoice_json("inv-mar", "2026-03", "24.00")]
    fake.invoice_items = {"inv-mar": [invoice_item_json("Droplets", "101", "llm-1", "24.00")]}
    seed_inventory(fake, dep)
    provider_sync.sync(now=NOW)
    csv = (b"product,group_description,description,hours,start,end,USD,project_name,category\n"
           b"Droplets,,llm-1,744,2026-03-01 00:00:00 +0000,2026-03-31 23:59:59 +0000,$24.00,,iaas\n")
    import_invoice_csv(make_user(), "2026-03", "march.csv", csv)
    board = cost_vs_revenue(date(2026, 3, 1))
    assert board.report.total.cost_cents == 3720  # 24.00 USD once, at 1.55
    assert board.ignored_csv is True


def test_a_client_that_cannot_be_built_is_a_recorded_failure(app, database, monkeypatch):
    monkeypatch.setitem(app.config, "DIGITALOCEAN_TOKEN", "   ")
    report = provider_sync.sync(now=NOW)
    assert not report.any_ok and set(report.results) == {"inventory", "billing"}
    runs = database.session.execute(select(SyncRun.part, SyncRun.ok)).all()
    assert sorted(tuple(r) for r in runs) == [("billing", False), ("inventory", False)]
