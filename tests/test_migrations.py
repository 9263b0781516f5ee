"""The migrations build the schema on PostgreSQL and on SQLite, and match the models."""
import os
import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db


def test_migrated_postgres_schema_matches_the_models(app, database):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_upgrade_builds_a_fresh_sqlite_database(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "migration-test-key"}
    flask = [sys.executable, "-m", "flask", "--app", "portal"]
    for args in (["db", "upgrade"], ["seed"]):
        done = subprocess.run(flask + args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"tenants", "users", "api_tokens", "plans", "plan_versions", "plan_items",
                "addons", "deployments", "deployment_transitions", "subscriptions",
                "subscription_addons", "audit_log", "login_attempts"} <= tables
        assert conn.execute(sa.text("SELECT base_price_cents FROM plan_versions")).scalar() == 5000
    engine.dispose()
