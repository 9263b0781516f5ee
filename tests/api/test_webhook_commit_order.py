"""Two events whose transactions commit in the reverse order of their ids still reach an
endpoint in order: the dispatcher waits for the older transaction (PostgreSQL's xid8 outbox)."""
import json
import threading
import time

import sqlalchemy as sa

from sqlalchemy import select

from portal.extensions import db
from portal.models import WebhookDelivery, WebhookEvent
from portal.services import webhooks
from tests.conftest import TEST_DATABASE_URL
from tests.fakes.receiver import Receiver


def _deliver_until(app, receiver, count: int, seconds: float = 60) -> None:
    """Dispatch as the worker does (its own connection) until ``count`` requests arrived. Any
    transaction in the cluster that is older and still running (another test run's) holds
    deliveries back for its duration, hence the loop."""
    deadline = time.monotonic() + seconds
    while len(receiver.requests) < count and time.monotonic() < deadline:
        with app.app_context():
            webhooks.deliver_due()
            db.session.remove()


def test_an_event_committed_late_is_not_overtaken(app, committed, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_HOLD_SECONDS", 0.4)
    with Receiver() as receiver:
        webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]})
        committed.session.remove()

        with app.app_context():  # connection A: writes first, commits last
            first = webhooks.emit("rollup.finished", {"n": 1})
            db.session.flush()
            first_id = first.id
            with app.app_context():  # connection B: writes second, commits first
                second = webhooks.emit("rollup.finished", {"n": 2})
                db.session.commit()
                second_id = second.id
                db.session.remove()
            assert first_id < second_id
            with app.app_context():  # the worker, while A is still open
                webhooks.deliver_due()
                db.session.remove()
            assert receiver.requests == []  # B's event waits for A's
            db.session.commit()
            db.session.remove()

        _deliver_until(app, receiver, 2)
        assert [json.loads(r["body"])["data"] for r in receiver.requests] == [{"n": 1}, {"n": 2}]
        with app.app_context():
            rows = db.session.execute(
                select(WebhookDelivery.status, WebhookDelivery.attempts, WebhookEvent.xid)
                .join(WebhookEvent).order_by(WebhookEvent.id)).all()
            assert [(r.status, r.attempts) for r in rows] == [("succeeded", 1)] * 2
            assert rows[0].xid < rows[1].xid  # each event carries its own transaction's id
            db.session.remove()


def test_a_committed_event_waits_only_while_an_older_transaction_runs(app, committed, monkeypatch):
    """The held event goes out once the older transaction ends, even when that transaction
    wrote no event of its own (nobody else dispatches for it): the dispatch looks again."""
    monkeypatch.setitem(app.config, "WEBHOOK_HOLD_SECONDS", 30)
    with Receiver() as receiver:
        webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]})
        committed.session.remove()
        blocker = db.engine.connect()
        blocking = blocker.begin()
        blocker.exec_driver_sql("SELECT pg_current_xact_id()")  # an older writer, still open
        with app.app_context():
            webhooks.emit("rollup.finished", {"n": 1})
            db.session.commit()
            db.session.remove()

        released = threading.Timer(1.0, blocking.rollback)
        released.start()
        started = time.monotonic()
        with app.app_context():
            counts = webhooks.deliver_due()  # waits for the blocker, then sends
            db.session.remove()
        waited = time.monotonic() - started
        released.join()
        blocker.close()
        assert (counts, waited >= 1.0) == ({"succeeded": 1, "retrying": 0, "failed": 0}, True), waited
        assert [json.loads(r["body"])["data"] for r in receiver.requests] == [{"n": 1}]


def test_a_long_transaction_in_another_database_holds_nothing_back(app, committed):
    """Transaction ids are the server's, not the database's: a transaction still running in
    another database (a report, a bulk load) writes none of our events, so it must not hold
    them back."""
    other = sa.engine.make_url(TEST_DATABASE_URL).set(database="postgres")
    engine = sa.create_engine(other)
    with Receiver() as receiver, engine.connect() as elsewhere:
        elsewhere.exec_driver_sql("SELECT pg_current_xact_id()")  # older, still running
        webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]})
        webhooks.emit("rollup.finished", {"n": 1})
        committed.session.commit()
        committed.session.remove()
        with app.app_context():
            assert webhooks.deliver_due()["succeeded"] == 1
            db.session.remove()
        elsewhere.rollback()
    engine.dispose()
    assert [json.loads(r["body"])["data"] for r in receiver.requests] == [{"n": 1}]


def test_sqlite_keeps_id_order(tmp_path):
    """The demo's SQLite has no transaction ids: the column stays NULL and events go in id
    order (one writer at a time there)."""
    import flask_migrate

    from portal import create_app

    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    demo = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "demo", "REDIS_URL": None})
    with demo.app_context(), Receiver() as receiver:
        flask_migrate.upgrade()
        webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]})
        events = [webhooks.emit("rollup.finished", {"n": n}) for n in (1, 2, 3)]
        db.session.commit()
        assert [e.xid for e in events] == [None] * 3
        assert webhooks.deliver_due() == {"succeeded": 3, "retrying": 0, "failed": 0}
        assert [json.loads(r["body"])["data"]["n"] for r in receiver.requests] == [1, 2, 3]
        db.session.remove()
        db.engine.dispose()
