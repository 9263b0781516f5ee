"""Two admins press "Redeliver all failed" at the same moment: one resets the failed deliveries,
the other, having waited for its row locks, finds none failed; each event is sent once."""
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
