"""API tokens through the API: the caller's own, named, expiring, revocable, secret shown once."""
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from portal.models import ApiToken, AuditEntry
from portal.services import accounts, tokens
from tests.conftest import Api
from tests.factories import make_tenant, make_user


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def alice(database):
    return make_user("tenant_admin", tenant=make_tenant("acme"), email="alice@example.com")


def test_create_answers_the_secret_once_and_the_list_never_shows_it(client, alice, api_as, database):
    api = api_as(alice)
    with freeze_time("2026-05-20 09:00:00"):
        r = api.post("/api/v1/tokens", json={"name": "finance export", "expires_in_days": 30})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["name"] == "finance export"
    assert body["expires_at"] == "2026-06-19T09:00:00+00:00"
    assert body["token"].startswith("arc_") and len(body["token"]) > 40
    assert r.headers["Cache-Control"] == "no-store"

    # The new secret works at once (and until it expires).
    new = Api(client, body["token"])
    with freeze_time("2026-05-20 09:00:01"):
        listed = new.get("/api/v1/tokens")
    assert listed.status_code == 200
    page = listed.get_json()
    assert page["next"] is None
    # Newest first: the fixture's "cli" token was made at the real (later) time.
    assert [t["name"] for t in page["tokens"]] == ["cli", "finance export"]
    mine = page["tokens"][1]
    text = listed.get_data(as_text=True)
    stored = database.session.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
    assert body["token"] not in text and stored.token_hash not in text
    assert "token" not in mine and "token_hash" not in mine
    assert set(mine) == {"id", "name", "prefix", "created_at", "expires_at",
                                      "last_used_at", "revoked_at"}
    assert mine["prefix"] == body["token"][:12]
    assert mine["last_used_at"] == "2026-05-20T09:00:01+00:00"  # this very request


def test_an_expired_token_is_401(client, alice):
    with freeze_time("2026-05-20 09:00:00"):
        token, secret = tokens.issue(alice, "short", 1)
    api = Api(client, secret)
    with freeze_time("2026-05-21 08:59:59"):
        assert api.get("/api/v1/tokens").status_code == 200
    with freeze_time("2026-05-21 09:00:00"):
        r = api.get("/api/v1/tokens")
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"


def test_a_token_cannot_make_a_token_that_outlives_it(client, alice, database):
    """A 30-day token may make tokens of at most 29 whole days more (never one without an
    expiry); a token without expiry, a signed-in person and the command line may make any."""
    with freeze_time("2026-05-20 09:00:00"):
        _, secret = tokens.issue(alice, "script", 30)   # expires 2026-06-19 09:00 UTC
    api = Api(client, secret)
    with freeze_time("2026-05-20 10:00:00"):
        for days in (None, 30, 3650):
            r = api.post("/api/v1/tokens", json={"name": "child", "expires_in_days": days})
            assert r.status_code == 422, (days, r.get_json())
            assert set(r.get_json()["error"]["fields"]) == {"expires_in_days"}
            assert "must be at most 29 (the token making this request expires at 2026-06-19 09:00 UTC" in \
                r.get_json()["error"]["fields"]["expires_in_days"]
        r = api.post("/api/v1/tokens", json={"name": "child"})  # no expiry given: never expires
        assert r.status_code == 422 and "expires_in_days" in r.get_json()["error"]["fields"]
        ok = api.post("/api/v1/tokens", json={"name": "child", "expires_in_days": 29})
        assert ok.status_code == 201 and ok.get_json()["expires_at"] == "2026-06-18T10:00:00+00:00"
    with freeze_time("2026-06-18 10:00:00"):  # 23 hours left: nothing can be made with it
        r = api.post("/api/v1/tokens", json={"name": "late", "expires_in_days": 1})
        assert r.status_code == 422
        assert "in less than a day" in r.get_json()["error"]["fields"]["expires_in_days"]
    names = database.session.scalars(select(ApiToken.name).where(ApiToken.user_id == alice.id))
    assert sorted(names) == ["child", "script"]  # nothing refused was made

    # A token that never expires may make one that never expires, as before.
    forever = Api(client, tokens.issue(alice, "ops", None)[1])
    r = forever.post("/api/v1/tokens", json={"name": "ops child", "expires_in_days": None})
    assert r.status_code == 201 and r.get_json()["expires_at"] is None


def test_a_token_revoked_through_the_api_is_401(client, alice, api_as):
    api = api_as(alice)
    created = api.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": None}).get_json()
    assert created["expires_at"] is None
    doomed = Api(client, created["token"])
    assert doomed.get("/api/v1/tokens").status_code == 200
    r = api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.headers)
    assert r.status_code == 200
    assert r.get_json()["revoked_at"] is not None and "token" not in r.get_json()
    assert doomed.get("/api/v1/tokens").status_code == 401
    # Revoking it again changes nothing and answers it as it stands.
    again = api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.headers)
    assert again.status_code == 200
    assert again.get_json()["revoked_at"] == r.get_json()["revoked_at"]


def test_another_users_token_is_404_and_stays_live(client, alice, api_as, database):
    bob = make_user("tenant_viewer", tenant=make_tenant("other"), email="bob@example.com")
    admin = make_user(email="admin@example.com")
    bob_token, bob_secret = tokens.issue(bob, "bob's")
    for caller in (alice, admin):  # a tenant user, and even an admin, through this route
        api = api_as(caller)
        r = api.client.delete(f"/api/v1/tokens/{bob_token.id}", headers=api.headers)
        assert r.status_code == 404
        assert r.get_json()["error"]["code"] == "not_found"
        assert bob_token.id not in [t["id"] for t in api.get("/api/v1/tokens").get_json()["tokens"]]
    assert api.client.delete("/api/v1/tokens/999999", headers=api.headers).status_code == 404
    assert Api(client, bob_secret).get("/api/v1/tokens").status_code == 200


def test_a_tenant_user_lists_only_its_own(client, alice, api_as):
    bob = make_user("tenant_viewer", tenant=alice.tenant, email="bob@example.com")
    tokens.issue(bob, "bob's")
    tokens.issue(alice, "alice's second")
    names = [t["name"] for t in api_as(alice).get("/api/v1/tokens").get_json()["tokens"]]
    assert sorted(names) == ["alice's second", "cli"]
    viewer = api_as(bob)  # a viewer manages its own tokens too
    assert sorted(t["name"] for t in viewer.get("/api/v1/tokens").get_json()["tokens"]) == [
        "bob's", "cli"]
    assert viewer.post("/api/v1/tokens", json={"name": "mine"}).status_code == 201


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": 7}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": -3}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": 3651}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": "30"}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": 1.5}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": True}, "expires_in_days"),
    ({"name": "ok", "scopes": ["all"]}, "scopes"),
])
def test_bad_fields_are_422_naming_the_field(alice, api_as, body, field):
    r = api_as(alice).post("/api/v1/tokens", json=body)
    assert r.status_code == 422
    assert field in r.get_json()["error"]["fields"]


def test_a_body_that_is_not_an_object_is_400(alice, api_as):
    api = api_as(alice)
    assert api.client.post("/api/v1/tokens", data="[]", headers=api.headers,
                           content_type="application/json").status_code == 400


def test_last_used_at_moves_at_most_once_a_minute(client, alice, database):
    with freeze_time("2026-05-20 09:00:00"):
        token, secret = tokens.issue(alice, "poller")
    api = Api(client, secret)

    def last_used():
        database.session.expire_all()
        return database.session.get(ApiToken, token.id).last_used_at

    assert last_used() is None
    with freeze_time("2026-05-20 09:00:10"):
        assert api.get("/api/v1/tokens").status_code == 200
    assert last_used() == utc(2026, 5, 20, 9, 0, 10)
    with freeze_time("2026-05-20 09:00:50"):
        api.get("/api/v1/tokens")
    with freeze_time("2026-05-20 09:01:10"):  # exactly a minute later: not yet older than that
        api.get("/api/v1/tokens")
    assert last_used() == utc(2026, 5, 20, 9, 0, 10)
    with freeze_time("2026-05-20 09:01:11"):
        listed = api.get("/api/v1/tokens").get_json()["tokens"]
    assert last_used() == utc(2026, 5, 20, 9, 1, 11)
    assert listed[0]["last_used_at"] == "2026-05-20T09:01:11+00:00"


def test_token_writes_are_audited(alice, api_as, database):
    api = api_as(alice)
    created = api.post("/api/v1/tokens", json={"name": "audited"}).get_json()
    api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.headers)
    entries = database.session.scalars(
        select(AuditEntry).where(AuditEntry.target_type == "api_token",
                                 AuditEntry.target_id == created["id"]).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action, e.details["name"]) for e in entries] == [
        ("alice@example.com", "token.create", "audited"),
        ("alice@example.com", "token.revoke", "audited")]


def test_the_list_is_paged_with_a_next_path(alice, api_as):
    api = api_as(alice)
    for n in range(3):
        tokens.issue(alice, f"t{n}")
    first = api.get("/api/v1/tokens?per_page=3").get_json()
    assert len(first["tokens"]) == 3 and first["next"].startswith("/api/v1/tokens?")
    rest = api.get(first["next"]).get_json()
    assert len(rest["tokens"]) == 1 and rest["next"] is None
    assert {t["id"] for t in first["tokens"]}.isdisjoint(t["id"] for t in rest["tokens"])


def test_the_cli_keeps_working_with_a_default_name(app, client, alice, database):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["tokens", "create", "alice@example.com"])
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]
    named = runner.invoke(args=["tokens", "create", "alice@example.com", "--name", "nightly",
                                "--expires-in-days", "7"])
    assert named.exit_code == 0, named.output
    rows = database.session.scalars(select(ApiToken).where(ApiToken.user_id == alice.id)
                                    .order_by(ApiToken.id)).all()
    assert [(t.name, t.expires_at is None) for t in rows] == [("cli", True), ("nightly", False)]
    bad = runner.invoke(args=["tokens", "create", "alice@example.com", "--expires-in-days", "0"])
    assert bad.exit_code == 1 and "expires_in_days" in bad.output
    assert Api(client, secret).get("/api/v1/tokens").status_code == 200
    assert accounts.revoke_tokens("alice@example.com") == 2
    assert Api(client, secret).get("/api/v1/tokens").status_code == 401


def test_the_bearer_lookup_is_one_query_and_a_fresh_stamp_skips_the_update(app, alice, database):
    from sqlalchemy import event

    with freeze_time("2026-05-20 09:00:00"):
        _, secret = tokens.issue(alice, "counted")
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(" ".join(statement.split()[:1] + (
                ["JOIN users"] if "JOIN users" in statement else [])).upper())

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        with freeze_time("2026-05-20 09:00:05"):
            user = tokens.user_for_token(secret)
        assert statements == ["SELECT JOIN USERS", "UPDATE"]  # token and user joined; the stamp
        assert user.email == "alice@example.com"
        statements.clear()
        with freeze_time("2026-05-20 09:00:30"):
            assert tokens.user_for_token(secret).id == alice.id
        assert statements == ["SELECT JOIN USERS"]  # stamped 25 s ago: no UPDATE
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", ["/api/v1/tokens/" + str(10**30), "/api/v1/tokens/" + str(2**63),
                                  "/api/v1/tokens/0"])
def test_out_of_range_ids_are_404(alice, api_as, path):
    api = api_as(alice)
    r = api.client.delete(path, headers=api.headers)
    assert r.status_code == 404
    assert set(r.get_json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("query", ["?since=0001-01-01T00:00:00-10:00", "?since=9999-12-31T23:59:59",
                                   "?since=%00", "?object_id=" + "9" * 40, "?page=99999999999999999"])
def test_hostile_audit_filters_are_never_a_500(database, api_as, query):
    r = api_as(make_user()).get("/api/v1/audit" + query)
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:300]


def test_hostile_token_pages_are_never_a_500(alice, api_as):
    api = api_as(alice)
    assert api.get("/api/v1/tokens?page=99999999999999999").status_code == 422
    assert api.get("/api/v1/tokens?per_page=0").status_code == 422
