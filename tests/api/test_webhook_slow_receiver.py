"""A receiver that trickles its answer (a byte a second: a 2xx, but only after 40 s) costs its own
endpoint 10 s and a retry; every other endpoint gets its events in order within seconds, and
no delivery is sent twice, even with other dispatchers running all the while.

Real HTTP servers on 127.0.0.1 (tests.fakes.receiver), the default 10 s deadline."""
import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.clock import as_utc, utcnow
from portal.extensions import db
from portal.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from portal.services import webhooks
from tests.api.test_webhooks import admin_api  # noqa: F401 (the fixture)
from tests.factories import make_user
from tests.fakes.receiver import Receiver


@pytest.fixture
def defaults(app, monkeypatch):
    """The shipped settings: a 10 s deadline, a 60 s lease, the contract's retry delays."""
    for key, value in (("WEBHOOK_TIMEOUT_SECONDS", 10.0), ("WEBHOOK_LEASE_SECONDS", 60),
                       ("WEBHOOK_RETRY_SECONDS", [60, 300, 1800, 7200, 43200]),
                       ("WEBHOOK_CONCURRENCY", 8)):
        monkeypatch.setitem(app.config, key, value)


def _ids(requests: list[dict]) -> list[str]:
    return [json.loads(r["body"])["id"] for r in requests]


def test_a_trickling_receiver_holds_up_only_itself(admin_api, receiver, database, app,  # noqa: F811
                                                   defaults):
    with Receiver() as slow:
        slow.trickle_seconds = 1.0
        # The slow endpoint first: a pass that served endpoints one after another reached the
        # quick one only once the slow one had answered (40 s later, with a 200).
        slow_hook = admin_api.post("/api/v1/webhooks", json={
            "url": slow.url, "events": ["rollup.finished"]}).get_json()
        quick_hook = admin_api.post("/api/v1/webhooks", json={
            "url": receiver.url, "events": ["rollup.finished"]}).get_json()
        assert slow_hook["id"] < quick_hook["id"]
        events = [webhooks.emit("rollup.finished", {"n": n}) for n in range(3)]
        database.session.commit()
        ids = [e.public_id for e in events]

        started, wall = time.monotonic(), utcnow()
        counts = webhooks.deliver_due()
        took = time.monotonic() - started

        assert counts == {"succeeded": 3, "retrying": 1, "failed": 0}
        # The quick receiver: its three events, in order, within a few seconds of the start.
        assert _ids(receiver.requests) == ids
        assert max(r["at"] for r in receiver.requests) - started < 3
        # The slow one: its first event only, cut off at the deadline, never answered.
        assert _ids(slow.requests) == ids[:1] and not slow.requests[0]["answered"]
        assert 10 <= took < 13, took

        rows = database.session.execute(
            select(WebhookDelivery).join(WebhookEvent)
            .where(WebhookDelivery.webhook_id == slow_hook["id"]).order_by(WebhookEvent.id)).scalars().all()
        assert [(d.status, d.attempts) for d in rows] == [("pending", 1), ("pending", 0), ("pending", 0)]
        (attempt,) = rows[0].attempt_log
        assert (attempt.status_code, attempt.error) == (None, "Deadline: no answer within 10 s")
        assert 10_000 <= attempt.duration_ms < 11_000, attempt.duration_ms
        # Due again after the first retry delay (60 s), counted from the end of the attempt.
        retry_in = as_utc(rows[0].next_attempt_at) - wall
        assert timedelta(seconds=70) <= retry_in < timedelta(seconds=73), retry_in
        quick = database.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == quick_hook["id"])).all()
        assert [(d.status, d.attempts) for d in quick] == [("succeeded", 1)] * 3

        # Another pass at once: nothing is due (the slow endpoint waits for its retry).
        assert webhooks.deliver_due() == {"succeeded": 0, "retrying": 0, "failed": 0}
        assert len(receiver.requests) == 3 and len(slow.requests) == 1

        # When the retry is due and the receiver answers promptly, it gets all three, in order.
        slow.trickle_seconds = 0
        later = as_utc(rows[0].next_attempt_at) + timedelta(seconds=1)
        assert webhooks.deliver_due(now=later) == {"succeeded": 3, "retrying": 0, "failed": 0}
        assert _ids(slow.requests) == [ids[0]] + ids  # the first twice: its first try was cut
        assert _ids(receiver.requests) == ids
        assert database.session.scalar(select(WebhookAttempt.id).where(
            WebhookAttempt.status_code.is_(None)).order_by(WebhookAttempt.id.desc())) == attempt.id


def test_dispatchers_side_by_side_never_send_one_delivery_twice(app, committed, defaults):
    """Three dispatchers (workers, the sweep) run pass after pass, each on its own connection,
    while one of them is held 10 s by the slow receiver: the leases keep each delivery to one
    sender, and the quick endpoint still gets each event once, in order."""
    with Receiver() as slow, Receiver() as quick:
        slow.trickle_seconds = 1.0
        quick.hold_seconds = 0.2  # each answer takes a moment: passes overlap for sure
        make_user(email="admin@example.com")
        for url in (slow.url, quick.url):
            webhooks.create_webhook(None, {"url": url, "events": ["rollup.finished"]})
        ids = [webhooks.emit("rollup.finished", {"n": n}).public_id for n in range(4)]
        committed.session.commit()
        committed.session.remove()

        results, errors = [], []
        until = time.monotonic() + 11  # past the slow receiver's 10 s deadline

        def dispatcher() -> None:
            try:
                while time.monotonic() < until:
                    with app.app_context():
                        results.append(webhooks.deliver_due())
                        db.session.remove()
                    time.sleep(0.05)
            except Exception as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=dispatcher) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert len(results) >= 20  # many passes, side by side

        assert _ids(quick.requests) == ids  # each once, in order
        assert _ids(slow.requests) == ids[:1]  # tried once, then waiting for its retry
        total = {k: sum(r[k] for r in results) for k in ("succeeded", "retrying", "failed")}
        assert total == {"succeeded": 4, "retrying": 1, "failed": 0}
        with app.app_context():
            rows = db.session.execute(
                select(WebhookDelivery.status, WebhookDelivery.attempts)
                .order_by(WebhookDelivery.webhook_id, WebhookDelivery.event_id)).all()
            db.session.remove()
        assert [tuple(r) for r in rows] == (
            [("pending", 1)] + [("pending", 0)] * 3 + [("succeeded", 1)] * 4)
