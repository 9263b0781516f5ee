from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from portal.models import UsageEvent
from tests.factories import hourly_events, make_deployment, make_tenant, make_user

APRIL_1 = datetime(2026, 4, 1, tzinfo=timezone.utc)


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user())


@pytest.fixture
def dep(database):
    return make_deployment(make_tenant("acme"))


def stored(database):
    return database.session.scalar(select(func.count()).select_from(UsageEvent))


def test_a_batch_counts_once_however_often_it_is_sent(admin, dep, database):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 48, quantity=3)
    assert admin.post("/api/v1/usage", json={"events": events}).get_json() == {
        "accepted": 48, "duplicates": 0}
    assert admin.post("/api/v1/usage", json={"events": events}).get_json() == {
        "accepted": 0, "duplicates": 48}
    usage = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()
    assert usage["usage"] == {"droplet_hours": 144, "llm_tokens": 0, "spaces_gb": 0}
    assert stored(database) == 48


def test_duplicates_within_one_batch_count_once(admin, dep):
    events = hourly_events(dep.id, "llm_tokens", APRIL_1, 2, quantity=100)
    r = admin.post("/api/v1/usage", json={"events": events + [events[0]]})
    assert r.get_json() == {"accepted": 2, "duplicates": 1}


def test_counters_sum_and_gauges_peak_within_the_utc_month(admin, dep):
    events = [
        {"event_id": "a", "deployment_id": dep.id, "resource_kind": "spaces_gb", "quantity": 120.5,
         "occurred_at": "2026-04-03T00:00:00Z"},
        {"event_id": "b", "deployment_id": dep.id, "resource_kind": "spaces_gb", "quantity": 180.25,
         "occurred_at": "2026-04-10T00:00:00+10:00"},  # 2026-04-09T14:00Z
        {"event_id": "c", "deployment_id": dep.id, "resource_kind": "spaces_gb", "quantity": 90,
         "occurred_at": "2026-04-20T00:00:00"},  # no offset: UTC
        {"event_id": "d", "deployment_id": dep.id, "resource_kind": "llm_tokens", "quantity": 1500,
         "occurred_at": "2026-04-30T23:59:59Z"},
        {"event_id": "e", "deployment_id": dep.id, "resource_kind": "llm_tokens", "quantity": 999,
         "occurred_at": "2026-05-01T00:00:00Z"},  # May
        {"event_id": "f", "deployment_id": dep.id, "resource_kind": "llm_tokens", "quantity": 7,
         "occurred_at": "2026-05-01T09:00:00+10:00"},  # 2026-04-30T23:00Z: April
        {"event_id": "g", "deployment_id": dep.id, "resource_kind": "spaces_gb", "quantity": 500,
         "occurred_at": "2026-03-31T23:59:59Z"},  # March
    ]
    assert admin.post("/api/v1/usage", json={"events": events}).get_json()["accepted"] == 7
    april = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()
    assert april == {"deployment_id": dep.id, "period": "2026-04",
                     "usage": {"droplet_hours": 0, "llm_tokens": 1507, "spaces_gb": 180.25}}
    may = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-05").get_json()["usage"]
    assert may == {"droplet_hours": 0, "llm_tokens": 999, "spaces_gb": 0}


def test_usage_of_any_age_is_accepted(admin, dep):
    old = [{"event_id": "old", "deployment_id": dep.id, "resource_kind": "droplet_hours",
            "quantity": 1, "occurred_at": "2019-01-01T00:00:00Z"}]
    assert admin.post("/api/v1/usage", json={"events": old}).get_json()["accepted"] == 1


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"quantity": -1}, "events[2].quantity", "must not be negative"),
        ({"quantity": "3"}, "events[2].quantity", "must be a number"),
        ({"resource_kind": "gpus"}, "events[2].resource_kind",
         "unknown resource kind 'gpus' (known: droplet_hours, llm_tokens, spaces_gb)"),
        ({"occurred_at": "yesterday"}, "events[2].occurred_at",
         "must be an ISO 8601 date-time, e.g. 2026-04-01T13:00:00Z"),
        ({"occurred_at": None}, "events[2].occurred_at", "is required"),
        ({"event_id": ""}, "events[2].event_id", "must be a non-empty string"),
        ({"event_id": "x" * 201}, "events[2].event_id", "must be at most 200 characters"),
        ({"deployment_id": "1"}, "events[2].deployment_id", "must be an integer"),
        ({"deployment_id": 999999}, "events[2].deployment_id", "unknown deployment 999999"),
        ({"colour": "red"}, "events[2].colour", "unknown field"),
    ],
)
def test_one_bad_event_rejects_the_whole_batch_naming_its_index(admin, dep, database, change, field, message):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 4)
    events[2] = {**events[2], **change}
    r = admin.post("/api/v1/usage", json={"events": events})
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["fields"][field] == message
    assert error["message"].startswith("event 2 is invalid")
    assert "nothing in this batch was stored" in error["message"]
    assert stored(database) == 0


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"events": "must be a list of events"}),
        ({"events": {}}, {"events": "must be a list of events"}),
        ({"events": []}, {"events": "must hold 1 to 1000 events"}),
        ({"events": [1]}, {"events[0]": "must be an object"}),
        ({"events": [], "extra": 1}, {"extra": "unknown field"}),
    ],
)
def test_batch_shape(admin, dep, body, fields):
    r = admin.post("/api/v1/usage", json=body)
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == fields


def test_batches_over_1000_events_are_refused(admin, dep, database):
    events = hourly_events(dep.id, "droplet_hours", APRIL_1, 1001)
    r = admin.post("/api/v1/usage", json={"events": events})
    assert r.status_code == 422 and stored(database) == 0
    assert admin.post("/api/v1/usage", json={"events": events[:1000]}).get_json()["accepted"] == 1000


def test_only_admins_ingest(api_as, dep, catalog):
    api = api_as(make_user("tenant_admin", tenant=dep.tenant))
    r = api.post("/api/v1/usage", json={"events": hourly_events(dep.id, "droplet_hours", APRIL_1, 1)})
    assert r.status_code == 403


@pytest.mark.parametrize("query", ["", "?period=2026-13", "?period=April", "?period=2026-4"])
def test_usage_needs_a_month(admin, dep, query):
    r = admin.get(f"/api/v1/deployments/{dep.id}/usage{query}")
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"period": "must be a month as YYYY-MM"}


def test_usage_is_read_as_the_rollup_reads_it(admin, database):
    from datetime import date

    late = make_deployment(make_tenant("late"), plan_code="studio", starts_on=date(2026, 4, 20))
    events = hourly_events(late.id, "droplet_hours", APRIL_1, 720, quantity=3)
    for i in range(0, 720, 500):
        admin.post("/api/v1/usage", json={"events": events[i:i + 500]})
    usage = admin.get(f"/api/v1/deployments/{late.id}/usage?period=2026-04").get_json()["usage"]
    assert usage["droplet_hours"] == 11 * 24 * 3  # the 20th to the 30th: what is billed


def test_without_a_subscription_the_months_metered_usage_is_shown(admin, dep):
    admin.post("/api/v1/usage", json={"events": hourly_events(dep.id, "llm_tokens", APRIL_1, 3, quantity=5)})
    usage = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()["usage"]
    assert usage["llm_tokens"] == 15


# The deployments are checked by the events' foreign key (a savepoint, and a query only when
# the key refuses a row or the batch holds duplicates): these are the paths that take.

def daily_rows(database):
    from portal.models import UsageDaily

    return database.session.scalar(select(func.count()).select_from(UsageDaily))


def test_an_unknown_deployment_deep_in_a_full_batch_is_named_and_nothing_is_stored(admin, dep, database):
    other = make_deployment(make_tenant("other"))
    events = (hourly_events(dep.id, "llm_tokens", APRIL_1, 500, quantity=7)
              + hourly_events(other.id, "spaces_gb", APRIL_1, 500, quantity=120.5))
    events[537] = {**events[537], "deployment_id": 987654}
    events[801] = {**events[801], "deployment_id": 987655}
    r = admin.post("/api/v1/usage", json={"events": events})
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["fields"] == {"events[537].deployment_id": "unknown deployment 987654"}
    assert error["message"] == ("event 537 is invalid (events[537].deployment_id: unknown "
                                "deployment 987654); nothing in this batch was stored")
    assert stored(database) == 0 and daily_rows(database) == 0
    # The same batch put right goes in whole, and the aggregate counts it once.
    events[537] = {**events[537], "deployment_id": other.id}
    events[801] = {**events[801], "deployment_id": other.id}
    assert admin.post("/api/v1/usage", json={"events": events}).get_json() == {
        "accepted": 1000, "duplicates": 0}
    usage = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()["usage"]
    assert usage == {"droplet_hours": 0, "llm_tokens": 3500, "spaces_gb": 0}


def test_a_resent_event_naming_an_unknown_deployment_is_still_refused(admin, dep, database):
    """Its event_id is stored, so the insert skips it and the key never sees it: the batch's
    duplicates send it to the query, which names it, and the batch's new events go back out."""
    first = hourly_events(dep.id, "droplet_hours", APRIL_1, 3, quantity=2)
    assert admin.post("/api/v1/usage", json={"events": first}).get_json() == {
        "accepted": 3, "duplicates": 0}
    fresh = hourly_events(dep.id, "llm_tokens", APRIL_1, 4, quantity=10)
    resent = {**first[1], "deployment_id": 424242}
    r = admin.post("/api/v1/usage", json={"events": fresh + [resent]})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"events[4].deployment_id": "unknown deployment 424242"}
    assert stored(database) == 3
    usage = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()["usage"]
    assert usage == {"droplet_hours": 6, "llm_tokens": 0, "spaces_gb": 0}
    # Resent as it was, it is a duplicate beside the new events.
    r = admin.post("/api/v1/usage", json={"events": fresh + [first[1]]})
    assert r.get_json() == {"accepted": 4, "duplicates": 1}
    usage = admin.get(f"/api/v1/deployments/{dep.id}/usage?period=2026-04").get_json()["usage"]
    assert usage == {"droplet_hours": 6, "llm_tokens": 40, "spaces_gb": 0}


def test_a_refused_batch_leaves_the_callers_transaction_usable(app, dep, database):
    """In process (the demo, a script): the refusal rolls back to the batch's savepoint only,
    so the caller's earlier work in the transaction stays and the next batch goes in."""
    from portal.errors import ValidationError
    from portal.models import Tenant
    from portal.services import usage

    tenant = dep.tenant
    tenant.name = "Renamed, not yet committed"  # the caller's own work, in the transaction
    database.session.flush()
    bad = hourly_events(dep.id, "llm_tokens", APRIL_1, 3, quantity=5)
    bad[1]["deployment_id"] = 31337
    with pytest.raises(ValidationError) as refused:
        usage.ingest({"events": bad})
    assert refused.value.fields == {"events[1].deployment_id": "unknown deployment 31337"}
    assert stored(database) == 0
    assert database.session.scalar(select(Tenant.name).where(Tenant.id == tenant.id)) == \
        "Renamed, not yet committed"
    good = hourly_events(dep.id, "llm_tokens", APRIL_1, 3, quantity=5, prefix="g")
    assert usage.ingest({"events": good}) == {"accepted": 3, "duplicates": 0}
    assert stored(database) == 3
