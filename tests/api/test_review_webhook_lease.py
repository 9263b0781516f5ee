"""A delivery's lease runs from when it is taken, not from when the pass began: a pass that
has been posting to a slow receiver for longer than the lease would otherwise write a lease
already expired, and a second dispatcher (another worker, the minutely sweep) would take the
same delivery and send it again while the first is still sending it."""
from datetime import datetime, timezone

from sqlalchemy import event

from portal.extensions import db
from portal.models import WebhookDelivery
from portal.services import webhooks
from tests.api.test_webhooks import admin_api  # noqa: F401 (the fixture)


def test_each_lease_ends_after_the_moment_it_is_taken(admin_api, receiver, database, app,  # noqa: F811
                                                       monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_LEASE_SECONDS", 1)  # not left for later tests
    admin_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["rollup.finished"]})
    for n in range(3):
        webhooks.emit("rollup.finished", {"n": n})
    database.session.commit()
    receiver.hold_seconds = 1.3  # each answer takes longer than the lease

    leases = []  # (lease written, the clock when it was written)

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("UPDATE webhook_deliveries") and "next_attempt_at" in statement:
            value = next(v for k, v in parameters.items() if k.startswith("next_attempt_at"))
            leases.append((value, datetime.now(timezone.utc)))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert webhooks.deliver_due() == {"succeeded": 3, "retrying": 0, "failed": 0}
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(receiver.requests) == 3
    assert len(leases) == 3
    for written, at in leases:
        assert (written.replace(tzinfo=timezone.utc) if written.tzinfo is None else written) > at
    rows = database.session.query(WebhookDelivery).all()
    assert [(d.status, d.attempts) for d in rows] == [("succeeded", 1)] * 3
