"""A worker killed in the middle of a webhook delivery: the event still arrives, after restart."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from rq import Queue
from sqlalchemy import select

from portal.models import WebhookDelivery
from portal.services import webhooks
from tests.conftest import TEST_DATABASE_URL
from tests.factories import make_user
from tests.fakes.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _worker(*args) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": REDIS_URL,
           "SECRET_KEY": "worker-test", "WEBHOOK_LEASE_SECONDS": "2", "WEBHOOK_TIMEOUT_SECONDS": "30",
           "TZ": "UTC"}
    # Its own process group: SIGKILL takes the work horse it forked, too.
    return subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_delivery_survives_a_killed_worker(app, committed):
    Redis.from_url(REDIS_URL).flushdb()
    queue = Queue("portal-messages", connection=Redis.from_url(REDIS_URL))
    with Receiver() as receiver:
        receiver.hold_seconds = 60  # the first request hangs: the worker dies while it waits
        make_user(email="admin@example.com")
        hook_id = webhooks.create_webhook(None, {"url": receiver.url, "events": ["rollup.finished"]}).id
        event = webhooks.emit("rollup.finished", {"period": "2026-04"})
        committed.session.commit()
        event_id = event.public_id
        committed.session.remove()

        worker = _worker()
        try:
            queue.enqueue("portal.jobs.webhooks.deliver_due")
            assert receiver.arrived.wait(60), "the worker never sent the delivery"
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        receiver.hold_seconds = 0

        delivery = committed.session.scalar(select(WebhookDelivery))
        assert (delivery.status, delivery.attempts) == ("pending", 0)  # nothing recorded: in flight
        committed.session.remove()
        time.sleep(2.5)  # the dead worker's lease runs out

        queue.enqueue("portal.jobs.webhooks.deliver_due")  # what the scheduler's sweep does
        restarted = _worker("--burst")
        _, err = restarted.communicate(timeout=120)
        assert restarted.returncode == 0, err.decode()[-2000:]

        bodies = [json.loads(r["body"]) for r in receiver.requests]
        assert [b["id"] for b in bodies] == [event_id, event_id]  # at least once; receivers dedupe
        delivery = committed.session.scalar(select(WebhookDelivery))
        assert (delivery.status, delivery.attempts, delivery.webhook_id) == ("succeeded", 1, hook_id)
        committed.session.remove()
