"""Email delivery on the worker through the real Redis: a mail server that is down is
retried after the delays, a later attempt succeeds once it is up, and the last attempt
marks the message failed."""
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from portal.models.mail import FAILED, QUEUED, SENT
from portal.queue import queue_names
from tests.conftest import run_worker
from tests.factories import make_user
from tests.mail.helpers import draft_invoice, messages
from tests.mail.smtp import Inbox, free_port, pdf_attachments, start_server


def retry_now(app) -> int:
    """Move the retries the worker scheduled (30 s, 2 min, …) to their queue at once."""
    conn = Redis.from_url(app.config["REDIS_URL"])
    moved = 0
    for name in queue_names(app.config["RQ_QUEUE"]):
        q = Queue(name, connection=conn)
        registry = ScheduledJobRegistry(queue=q)
        for job_id in registry.get_job_ids():
            registry.remove(job_id)
            q.enqueue_job(Job.fetch(job_id, connection=conn))
            moved += 1
    return moved


def test_a_retry_delivers_once_the_server_is_up(app, catalog, api_as, redis_queue, monkeypatch):
    port = free_port()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    invoice = draft_invoice()
    admin = api_as(make_user())
    r = admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"})
    assert r.status_code == 200 and r.get_json()["status"] == "issued"
    [row] = messages(invoice.id)
    assert (row.status, row.attempts) == (QUEUED, 0)  # the request only queued it

    assert run_worker(app) == 1  # the PDF render succeeded; the delivery failed, to be retried
    [row] = messages(invoice.id)
    assert (row.status, row.attempts) == (QUEUED, 1)
    assert "ConnectionRefusedError" in row.error
    conn = Redis.from_url(redis_queue)
    delays = [Job.fetch(j, connection=conn).retry_intervals
              for j in ScheduledJobRegistry(queue=Queue(queue_names(app.config["RQ_QUEUE"])[2],
                                                        connection=conn)).get_job_ids()]
    assert delays == [[30, 120, 600, 1800]]

    inbox = Inbox()
    controller = start_server(inbox, port=port)  # the server comes back
    try:
        assert retry_now(app) == 1
        assert run_worker(app) == 1
    finally:
        controller.stop()
    [row] = messages(invoice.id)
    assert (row.status, row.attempts, row.error) == (SENT, 2, None)
    [message] = inbox.messages
    assert message["Subject"] == "Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"
    [(_, pdf)] = pdf_attachments(message)
    assert pdf.startswith(b"%PDF")
    assert retry_now(app) == 0  # nothing left to retry


def test_the_last_attempt_marks_the_message_failed(app, catalog, api_as, redis_queue, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())
    invoice = draft_invoice()
    api_as(make_user()).post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"})
    run_worker(app)
    for attempt in range(2, 6):  # four retries after the first attempt
        assert retry_now(app) == 1
        run_worker(app)
        assert messages(invoice.id)[0].attempts == attempt
    [row] = messages(invoice.id)
    assert (row.status, row.attempts) == (FAILED, 5)
    assert "ConnectionRefusedError" in row.error
    assert retry_now(app) == 0  # no more retries, and the job did not fail on the worker


def test_a_reminder_for_an_invoice_paid_before_it_went_out_is_not_sent(
        app, catalog, api_as, redis_queue, monkeypatch):
    from datetime import date

    from portal.extensions import db
    from portal.services import mail

    inbox = Inbox()
    controller = start_server(inbox)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    try:
        invoice = draft_invoice()
        admin = api_as(make_user())
        admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"})
        run_worker(app)  # the PDF and the issue mail
        invoice.due_on = date(2026, 5, 15)
        db.session.commit()
        assert mail.send_reminders(date(2026, 5, 16)).queued == 1
        admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "paid"})
        run_worker(app)
    finally:
        controller.stop()
    [reminder] = messages(invoice.id, kind="reminder")
    assert (reminder.status, reminder.error) == ("not_sent", "invoice ARC-000001 is paid now: no reminder needed")
    assert [m["Subject"] for m in inbox.messages] == ["Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"]


def test_a_message_whose_job_was_lost_is_queued_again_by_the_daily_job(
        app, database, redis_queue, monkeypatch):
    from datetime import timedelta

    from freezegun import freeze_time

    from portal.clock import utcnow
    from portal.jobs.mail import send_reminders
    from portal.services import mail

    inbox = Inbox()
    controller = start_server(inbox)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    try:
        lost = mail.queue_message("a@example.com", "Lost", "Its job never reached Redis.",
                                  "invoice_issued")
        database.session.commit()
        database.session.info.pop("mail_pending")  # as if Redis was down at dispatch
        assert mail.requeue_stale() == 0  # too recent: its retries may still be pending
        with freeze_time(utcnow() + timedelta(hours=3)):
            assert send_reminders()["requeued"] == 1
        assert run_worker(app) == 1
        assert mail.requeue_stale(utcnow() + timedelta(hours=3)) == 0
    finally:
        controller.stop()
    assert [m["Subject"] for m in inbox.messages] == ["Lost"]
    assert messages()[0].id == lost.id and messages()[0].status == SENT
