"""Two admins press "Redeliver all failed" at the same moment: one resets the failed deliveries,
the other, having waited for its row locks, finds none failed; each event is sent once. And a
redelivery pressed while the first request is still out is not undone by that request's answer."""
import json
import threading
import time

from sqlalchemy import text

from portal.extensions import db
from portal.services import accounts, webhooks
from tests.factories import make_user
from tests.fakes.receiver import Receiver


def test_two_bulk_redeliveries_at_once_count_each_failed_delivery_once(app, committed, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [])  # one failure is final
    with Receiver() as receiver:
        receiver.script = [500, 500, 500]
        token = accounts.create_token(make_user(email="admin@example.com").email)
        hook_id = webhooks.create_webhook(None, {"url": receiver.url,
                                                 "events": ["rollup.finished"]}).id
        events = [webhooks.emit("rollup.finished", {"n": n}).public_id for n in range(3)]
        db.session.commit()
        assert webhooks.deliver_due() == {"succeeded": 0, "retrying": 0, "failed": 3}
        db.session.remove()

        # Another transaction holds the oldest failed row: both requests queue up behind it.
        holder = db.engine.connect()
        held = holder.begin()
        holder.execute(text("SELECT id FROM webhook_deliveries WHERE status = 'failed' "
                            "ORDER BY event_id LIMIT 1 FOR UPDATE"))
        answers = []

        def press():
            r = app.test_client().post(
                f"/api/v1/webhooks/{hook_id}/deliveries/redeliver-failed",
                headers={"Authorization": f"Bearer {token}"})
            answers.append((r.status_code, r.get_json()))

        threads = [threading.Thread(target=press) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # both are now waiting on the held row
        assert answers == []
        held.commit()
        holder.close()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(answers, key=lambda a: a[1]["redelivered"]) == [
            (200, {"redelivered": 0}), (200, {"redelivered": 3})]
        assert [json.loads(r["body"])["id"] for r in receiver.requests[3:]] == events
        count = db.session.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'webhook.redeliver_failed'")).scalar()
        assert count == 1


def test_a_late_answer_to_a_redelivered_request_does_not_undo_the_redelivery(app, committed,
                                                                               monkeypatch):
    """An admin redelivers a delivery whose first request is still out (a slow receiver): the
    redelivery is sent and succeeds; when the first request's 500 comes back afterwards, it
    is logged as an attempt but no longer decides the delivery (it had marked the delivered
    event failed, for "Redeliver all failed" to send it a third time)."""
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [])  # one failure is final
    with Receiver() as receiver:
        receiver.script = [500, 200]
        receiver.hold_seconds = 3.0  # the first request: answered 500 three seconds later
        hook_id = webhooks.create_webhook(None, {"url": receiver.url,
                                                 "events": ["rollup.finished"]}).id
        event = webhooks.emit("rollup.finished", {"n": 1}).public_id
        db.session.commit()
        db.session.remove()
        first = []

        def dispatcher():
            with app.app_context():
                first.append(webhooks.deliver_due())
                db.session.remove()

        thread = threading.Thread(target=dispatcher)
        thread.start()
        assert receiver.arrived.wait(5)
        receiver.hold_seconds = 0  # the redelivery is answered at once
        delivery_id = db.session.scalar(text("SELECT id FROM webhook_deliveries"))
        webhooks.redeliver(None, hook_id, delivery_id)  # sent inline (no Redis): a 200
        db.session.remove()
        thread.join(timeout=30)

        assert [json.loads(r["body"])["id"] for r in receiver.requests] == [event, event]
        row = db.session.execute(text(
            "SELECT status, attempts, last_status_code FROM webhook_deliveries")).one()
        assert tuple(row) == ("succeeded", 1, 200)
        attempts = db.session.execute(text(
            "SELECT status_code, error FROM webhook_attempts ORDER BY id")).all()
        assert [tuple(a) for a in attempts] == [(200, None), (500, "answered HTTP 500")]
        assert first == [{"succeeded": 0, "retrying": 0, "failed": 0}]  # no longer its to decide
