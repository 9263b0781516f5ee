"""Fixtures: one PostgreSQL database migrated once per run; each test in a rolled-back
transaction (services commit to a savepoint inside it), a CSRF-aware browser, API clients."""
import contextvars
import os
import re

import flask_migrate
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession

from portal import create_app
from portal.extensions import db

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/arcadia_test"
)


def _recreate_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
    "REDIS_URL": None,
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # cheap: tests create many users
}


@pytest.fixture(scope="session")
def app():
    _recreate_database(TEST_DATABASE_URL)
    app = create_app(TEST_CONFIG)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


class _ConnectionSession(FlaskSession):
    """Flask-SQLAlchemy's session always picks its engine; this one uses the test connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture
def database(app):
    """Everything the test writes, commits included, is rolled back at its end."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {"class_": _ConnectionSession, "bind": connection,
             "join_transaction_mode": "create_savepoint"}
        )
        try:
            yield db
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as on a real server: its own app context, ``g``
    and database session, not the test's (which would leak state from request to request)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app, database):
    app.test_client_class = IsolatedClient
    return app.test_client()


class Browser:
    """A person at a browser: signs in through the form and sends the CSRF token like HTMX."""

    _META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

    def __init__(self, client):
        self.client = client

    def csrf_token(self) -> str:
        page = self.client.get("/login").get_data(as_text=True)
        if "csrf-token" not in page:  # signed in: /login redirects
            page = self.client.get("/").get_data(as_text=True)
        return self._META.search(page).group(1)

    def login(self, email: str, password: str = "password123"):
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": self.csrf_token()}
        )

    def get(self, url: str, htmx: bool = False, **kwargs):
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(url, headers=headers, **kwargs)

    def post(self, url: str, htmx: bool = False, **kwargs):
        headers = kwargs.pop("headers", {})
        headers["X-CSRFToken"] = self.csrf_token()
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, headers=headers, **kwargs)


@pytest.fixture
def browser(client):
    return Browser(client)


class Api:
    """A script holding a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)

    def post(self, url, json=None, **kwargs):
        return self.client.post(url, headers=self.headers, json=json, **kwargs)


@pytest.fixture
def api_as(client, database):
    """``api_as(user)`` → an API client with a fresh token for that user."""
    from portal.services import accounts

    def make(user):
        return Api(client, accounts.create_token(user.email))

    return make


@pytest.fixture
def catalog(database):
    """The contract's seeded catalog."""
    from portal.services.catalog import seed_catalog

    seed_catalog()
    return database


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a hidden gap: fail the run loudly rather than pass around it."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped; every test must run.", red=True)
        session.exitstatus = 1


@pytest.fixture
def committed(app):
    """For tests that need real commits seen by other connections (concurrency): the normal
    session on the engine, and every table emptied afterwards."""
    with app.app_context():
        db.session.remove()
        yield db
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(sa.text("INSERT INTO counters (name, value) VALUES ('invoice_number', 0)"))


@pytest.fixture
def redis_queue(app, monkeypatch):
    """Jobs through the real Redis (database 15, emptied first) on a queue of the tests' own."""
    from redis import Redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    Redis.from_url(url).flushdb()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    monkeypatch.setitem(app.config, "RQ_QUEUE", "portal-tests")
    yield url
    monkeypatch.setitem(app.config, "REDIS_URL", None)


def run_worker(app) -> int:
    """Work the tests' queue until it is empty, in this process (so jobs see this test's
    transaction). Returns how many jobs succeeded; a failed job fails the test."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    from portal.queue import queue_names

    conn = Redis.from_url(app.config["REDIS_URL"])
    queues = [Queue(name, connection=conn) for name in queue_names(app.config["RQ_QUEUE"])]
    finished_before = sum(q.finished_job_registry.count for q in queues)
    SimpleWorker(queues, connection=conn).work(burst=True)
    assert sum(q.failed_job_registry.count for q in queues) == 0, "a job failed on the worker"
    return sum(q.finished_job_registry.count for q in queues) - finished_before


@pytest.fixture(autouse=True)
def _no_cached_catalog():
    """The quote's in-process catalog copy must not outlive a test's rolled-back catalog."""
    from portal.services.catalog import forget_cached_catalog

    forget_cached_catalog()
    yield
    forget_cached_catalog()


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 that records what it is sent (tests/fakes/receiver.py):
    the other end of a webhook."""
    from tests.fakes.receiver import Receiver

    with Receiver() as r:
        yield r

