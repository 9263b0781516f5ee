"""A webhook endpoint after an outage, for the deliveries list's tests (API and page)."""
from portal.services import webhooks

# Seven events, oldest first, and what became of each: the receiver answered 500 to the 2nd,
# 4th and 5th (no retries configured: failed at once); the 6th and 7th are not sent yet.
OUTCOMES = ["succeeded", "failed", "succeeded", "failed", "failed", "pending", "pending"]


def seven_events(receiver, database) -> tuple[list[str], dict]:
    """Emit and deliver the seven events to the (only) endpoint listening for rollup.finished,
    whose receiver answers as OUTCOMES says → (their public ids oldest first, the counts of
    the one delivery pass). The caller sets WEBHOOK_RETRY_SECONDS to [] first."""
    receiver.script = [200, 500, 200, 500, 500]
    events = [webhooks.emit("rollup.finished", {"n": n}).public_id for n in range(1, 6)]
    database.session.commit()
    counts = webhooks.deliver_due()
    events += [webhooks.emit("rollup.finished", {"n": n}).public_id for n in (6, 7)]
    database.session.commit()  # recorded, not dispatched: pending
    return events, counts
