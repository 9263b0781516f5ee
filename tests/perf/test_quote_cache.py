"""The quote prices from an in-process copy of the catalog: warm, it runs no SQL but the token
lookup; a catalog write in this process drops the copy; one from elsewhere is seen in time."""
import pytest
from sqlalchemy import event, text

from portal.extensions import db
from portal.services import catalog as catalog_service
from tests.factories import make_user

QUOTE = {"plan_code": "studio", "addons": ["storage_50gb"], "starts_on": "2026-05-20",
         "projected_usage": {"droplet_hours": 1488, "llm_tokens": 1_500_000, "spaces_gb": 200}}


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user())


@pytest.fixture
def statements(database):
    seen = []

    def record(conn, cursor, statement, *args):
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            seen.append(statement)  # those are the test harness's, not the request's

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_a_warm_quote_runs_only_the_token_lookup(admin, statements):
    cold = admin.post("/api/v1/quote", json=QUOTE)
    assert cold.status_code == 200
    assert [cold.get_json()[k] for k in ("recurring_cents", "overage_cents", "all_in_monthly_cents")
            ] == [5750, 600, 6350]
    assert cold.get_json()["first_invoice"]["total_cents"] == 2225
    statements.clear()
    warm = admin.post("/api/v1/quote", json=QUOTE)
    assert warm.get_json() == cold.get_json()
    catalog_tables = ("plans", "plan_versions", "plan_items", "addons")
    assert [s for s in statements if any(f" {t}" in s for t in catalog_tables)] == []
    # What is left is the bearer token's lookup (the token, its user), done by the API's
    # authentication before any view runs.
    assert statements and all("FROM api_tokens" in s or "FROM users" in s for s in statements), \
        statements


def test_unknown_codes_are_still_refused_from_the_copy(admin):
    admin.post("/api/v1/quote", json=QUOTE)
    r = admin.post("/api/v1/quote", json={**QUOTE, "plan_code": "nope", "addons": ["nada"]})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"plan_code": "unknown plan 'nope'",
                                               "addons": "unknown addon 'nada'"}


def test_writes_from_another_process_are_seen_within_the_ttl(admin, database, monkeypatch):
    """Raw SQL stands in for another gunicorn worker: no ORM event reaches this process."""
    assert admin.post("/api/v1/quote", json=QUOTE).status_code == 200
    database.session.execute(text("UPDATE addons SET retired_at = now() "
                                  "WHERE code = 'storage_50gb'"))
    database.session.commit()
    # Still within the TTL: the copy answers (a quote commits to nothing; subscribing reads
    # the database and refuses a retired addon at once).
    assert admin.post("/api/v1/quote", json=QUOTE).status_code == 200
    monkeypatch.setattr(catalog_service, "CACHE_TTL", 0.0)
    refused = admin.post("/api/v1/quote", json=QUOTE)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"addons": "no longer sold: storage_50gb"}


def test_a_plan_created_elsewhere_is_quotable_at_once(admin, database, monkeypatch):
    monkeypatch.setattr(catalog_service, "UNKNOWN_CODE_RELOAD", 0.0)
    assert admin.post("/api/v1/quote", json=QUOTE).status_code == 200
    database.session.execute(text(
        "INSERT INTO plans (code, name, description, created_at) VALUES ('solo', 'Solo', '', now());"
        "INSERT INTO plan_versions (plan_id, version, base_price_cents, currency, effective_from,"
        " created_at) SELECT id, 1, 1234, 'AUD', '2026-01-01', now() FROM plans WHERE code = 'solo'"))
    database.session.commit()
    r = admin.post("/api/v1/quote", json={"plan_code": "solo", "starts_on": "2026-05-01"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["recurring_cents"] == 1234


def test_a_bulk_catalog_update_through_the_session_drops_the_copy(admin, database):
    from sqlalchemy import update

    from portal.clock import utcnow
    from portal.models import Addon

    assert admin.post("/api/v1/quote", json=QUOTE).status_code == 200
    database.session.execute(update(Addon).where(Addon.code == "storage_50gb")
                             .values(retired_at=utcnow()))
    database.session.commit()
    refused = admin.post("/api/v1/quote", json=QUOTE)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"addons": "no longer sold: storage_50gb"}
