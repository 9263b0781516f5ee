"""Contract tests: schemathesis (4.x) fuzzes every operation of /api/v1/openapi.json against a
live portal on 127.0.0.1 (its own PostgreSQL database, the demo loaded), once with a platform
admin's token and once with a tenant admin's, and must find no 5xx and no answer that breaks
its documented schema. Bounded: a few examples an operation, no stateful phase."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.conftest import TEST_CONFIG, TEST_DATABASE_URL, _recreate_database

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def live_portal():
    url = sa.engine.make_url(TEST_DATABASE_URL)
    live_db = url.set(database=f"{url.database}_contract").render_as_string(hide_password=False)
    _recreate_database(live_db)
    app = create_app({**TEST_CONFIG, "TESTING": False, "SQLALCHEMY_DATABASE_URI": live_db})
    with app.app_context():
        flask_migrate.upgrade()
        from portal.services import accounts
        from portal.services.demo import load_demo

        load_demo()
        tokens = {who: accounts.create_token(email) for who, email in
                  (("admin", "admin@example.com"), ("tenant", "alice@example.com"))}
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", tokens
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("who", ["admin", "tenant"])
def test_schemathesis_finds_no_server_error_and_no_schema_break(live_portal, who, tmp_path):
    base, tokens = live_portal
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", f"{base}/api/v1/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--header", f"Authorization: Bearer {tokens[who]}",
        "--max-examples", str(MAX_EXAMPLES),
        "--phases", "examples,coverage,fuzzing",  # no stateful phase
        "--seed", "20261122",
        "--workers", "1",
        "--max-time", "60",
        "--request-timeout", "30",
        # Revoking tokens by guessed id would revoke the run's own token.
        "--exclude-operation-id", "delete_api_v1_tokens_token_id",
        "--report-dir", str(tmp_path),
        "--no-color",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240,
                         env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
