"""The audit log through the API: platform admins read it, filtered, newest first, paged."""
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.models import AuditEntry
from portal.services import audit, tokens
from tests.factories import make_tenant, make_user


@pytest.fixture
def admin(database):
    return make_user(email="admin@example.com")


def entries(api, query=""):
    r = api.get(f"/api/v1/audit{query}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_admins_read_every_write_newest_first_with_the_contracts_fields(admin, api_as, database):
    acme = make_tenant("acme", "Acme")  # actor cli (no user)
    api = api_as(admin)  # a "token.create" by cli for the admin
    from portal.services.accounts import update_tenant_profile

    update_tenant_profile(admin, acme.id, {"name": "Acme AI", "billing_name": "Acme AI Pty Ltd",
                                           "billing_address": "1 Test St", "abn": "51824753556"})
    body = entries(api)
    assert body["next"] is None
    first = body["audit"][0]
    assert set(first) == {"id", "at", "actor", "action", "object_type", "object_id", "details"}
    assert (first["actor"], first["action"], first["object_type"], first["object_id"]) == (
        "admin@example.com", "tenant.update", "tenant", acme.id)
    # A profile edit records each changed field's old and new values.
    assert first["details"]["changed"] == {
        "name": ["Acme", "Acme AI"], "billing_name": ["Acme", "Acme AI Pty Ltd"],
        "billing_address": ["", "1 Test St"], "abn": [None, "51 824 753 556"]}
    ids = [e["id"] for e in body["audit"]]
    assert ids == sorted(ids, reverse=True)
    assert [(e["actor"], e["action"]) for e in body["audit"]] == [
        ("admin@example.com", "tenant.update"), ("cli", "token.create"),
        ("cli", "tenant.create"), ("cli", "user.create")]


def test_filters_actor_object_and_since(admin, api_as, database):
    api = api_as(admin)
    alice = make_user("tenant_admin", tenant=make_tenant("acme"), email="alice@example.com")
    with freeze_time("2026-05-01 10:00:00"):
        old, _ = tokens.issue(alice, "old", actor=alice)
    with freeze_time("2026-05-03 10:00:00"):
        new, _ = tokens.issue(alice, "new", actor=alice)
        tokens.revoke(alice, new.id)
    # Timestamps come from the database's clock in the app; pin them for the date filter.
    for entry in database.session.scalars(select(AuditEntry).where(AuditEntry.actor == "alice@example.com")):
        entry.at = datetime(2026, 5, 1, 10, tzinfo=timezone.utc) if entry.target_id == old.id \
            else datetime(2026, 5, 3, 10, tzinfo=timezone.utc)
    database.session.commit()

    by_alice = entries(api, "?actor=Alice@Example.com")["audit"]
    assert [(e["action"], e["details"]["name"]) for e in by_alice] == [
        ("token.revoke", "new"), ("token.create", "new"), ("token.create", "old")]
    assert {e["actor"] for e in entries(api, "?actor=cli")["audit"]} == {"cli"}
    assert entries(api, "?actor=scheduler")["audit"] == []
    one = entries(api, f"?object_type=api_token&object_id={new.id}")["audit"]
    assert [e["action"] for e in one] == ["token.revoke", "token.create"]
    since = entries(api, "?actor=alice@example.com&since=2026-05-02")["audit"]
    assert [e["details"]["name"] for e in since] == ["new", "new"]
    since_time = entries(api, "?actor=alice@example.com&since=2026-05-03T10:00:00%2B00:00")["audit"]
    assert len(since_time) == 2
    assert entries(api, "?actor=alice@example.com&since=2026-05-03T10:00:01")["audit"] == []
    assert entries(api, "?object_type=tenant")["audit"][0]["object_type"] == "tenant"


@pytest.mark.parametrize("query, field", [
    ("?since=yesterday", "since"),
    ("?since=2026-13-01", "since"),
    ("?since=2026-05-01T25:00", "since"),
    ("?object_id=abc", "object_id"),
    ("?object_id=-1", "object_id"),
    ("?object_id=99999999999", "object_id"),
    ("?before=0", "before"),
    ("?per_page=501", "per_page"),
    ("?actor=" + "a" * 300, "actor"),
])
def test_bad_filters_are_422_naming_the_field(admin, api_as, query, field):
    r = api_as(admin).get(f"/api/v1/audit{query}")
    assert r.status_code == 422
    assert field in r.get_json()["error"]["fields"]


def test_keyset_pages_follow_next(admin, api_as, database):
    api = api_as(admin)
    for n in range(5):
        make_tenant(f"t{n}")
    first = entries(api, "?object_type=tenant&per_page=2")
    assert len(first["audit"]) == 2 and first["next"].startswith("/api/v1/audit?")
    seen = [e["id"] for e in first["audit"]]
    page = first
    while page["next"]:
        page = entries(api, page["next"].removeprefix("/api/v1/audit"))
        seen += [e["id"] for e in page["audit"]]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("role", ["tenant_admin", "tenant_viewer"])
def test_tenant_roles_get_403(api_as, database, role):
    user = make_user(role, tenant=make_tenant())
    r = api_as(user).get("/api/v1/audit")
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"


def test_the_scheduler_is_recorded_as_such(admin, api_as, database):
    with audit.acting_as(audit.SCHEDULER):
        make_tenant("by-schedule")
    make_tenant("by-hand")
    got = entries(api_as(admin), "?actor=scheduler")["audit"]
    assert [(e["action"], e["details"]["slug"]) for e in got] == [("tenant.create", "by-schedule")]


def test_the_monthly_rollup_job_is_audited_as_the_scheduler(catalog, admin, api_as, database):
    from datetime import date

    from portal.jobs.invoicing import scheduled_rollup
    from tests.factories import make_deployment

    make_deployment(make_tenant("acme"), plan_code="studio", starts_on=date(2026, 4, 10))
    with freeze_time("2026-05-01 03:00:05"):
        scheduled_rollup()
    got = entries(api_as(admin), "?actor=scheduler")["audit"]
    assert [(e["action"], e["details"]["period"], e["details"]["created"]) for e in got] == [
        ("invoices.rollup", "2026-04", 1)]
    # Outside the job, a write without a user is the command line's again.
    assert audit._system_actor.get() == audit.CLI
