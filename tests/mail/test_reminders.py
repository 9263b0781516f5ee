"""Overdue reminders: one per REMINDER_DAYS stage after the due date, never twice, never for
a paid or void invoice; a missed run sends only the latest due stage."""
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import MailMessage
from portal.models.mail import NOT_SENT, SENT, SKIPPED
from portal.services import invoices as invoice_service
from portal.services import mail
from tests.factories import make_user, pdf_text
from tests.mail.helpers import draft_invoice, messages
from tests.mail.smtp import pdf_attachments, smtp_server  # noqa: F401

DUE = date(2026, 5, 15)


def overdue_invoice(slug="acme", billing_email="accounts@acme.example.com", due_on=DUE):
    """An issued invoice due on ``due_on`` (its issue mail already recorded)."""
    invoice = draft_invoice(slug, billing_email)
    invoice_service.transition_invoice(make_user(), invoice.id, {"to": "issued"})
    invoice.issued_on, invoice.due_on = date(2026, 5, 1), due_on
    db.session.commit()
    return invoice


def reminders(invoice_id=None):
    return [(m.stage, m.status) for m in messages(invoice_id, kind="reminder")]


def test_one_reminder_per_stage_each_once(app, catalog, smtp_server):
    invoice = overdue_invoice()
    smtp_server.received.clear()  # the issue mail
    assert mail.send_reminders(date(2026, 5, 15)).queued == 0  # due today: not overdue yet
    run = mail.send_reminders(date(2026, 5, 16))
    assert (run.queued, run.skipped, run.not_sent) == (1, 0, 0)
    assert mail.send_reminders(date(2026, 5, 16)).queued == 0  # the same day again
    assert mail.send_reminders(date(2026, 5, 21)).queued == 0  # between stages
    assert mail.send_reminders(date(2026, 5, 22)).queued == 1  # day 7
    assert mail.send_reminders(date(2026, 5, 22)).queued == 0
    assert mail.send_reminders(date(2026, 5, 29)).queued == 1  # day 14
    assert mail.send_reminders(date(2026, 6, 30)).queued == 0  # no stage after the last
    assert reminders(invoice.id) == [(1, SENT), (7, SENT), (14, SENT)]

    assert len(smtp_server.received) == 3
    _, rcpt, first = smtp_server.received[0]
    assert rcpt == ["accounts@acme.example.com"]
    assert first["Subject"] == "Reminder: tax invoice ARC-000001 was due on 2026-05-15"
    text = first.get_body(preferencelist=("plain",)).get_content()
    assert "was due on 2026-05-15 (1 day ago) and is still unpaid" in text
    assert "Amount due: $55.00 AUD" in text
    assert "(14 days ago)" in smtp_server.messages[2].get_body(preferencelist=("plain",)).get_content()
    [(filename, pdf)] = pdf_attachments(first)
    assert filename == "ARC-000001-2026-04.pdf" and "ARC-000001" in pdf_text(pdf)


def test_a_missed_week_sends_only_the_latest_stage(app, catalog, smtp_server):
    invoice = overdue_invoice()
    smtp_server.received.clear()
    run = mail.send_reminders(date(2026, 5, 29))  # days 1, 7 and 14 all due at once
    assert (run.queued, run.skipped) == (1, 2)
    assert reminders(invoice.id) == [(1, SKIPPED), (7, SKIPPED), (14, SENT)]
    skipped = messages(invoice.id, kind="reminder")[0]
    assert skipped.error == ("the day-14 reminder was due by 2026-05-29 as well; "
                             "only the latest due reminder is sent")
    assert [m["Subject"] for m in smtp_server.messages] == [
        "Reminder: tax invoice ARC-000001 was due on 2026-05-15"]
    assert mail.send_reminders(date(2026, 5, 29)).queued == 0
    assert mail.send_reminders(date(2026, 6, 1)).queued == 0


def test_no_reminder_for_paid_or_void_invoices(app, catalog, smtp_server):
    paid = overdue_invoice("acme")
    void = overdue_invoice("globex", "billing@globex.example.com")
    admin = make_user()
    invoice_service.transition_invoice(admin, paid.id, {"to": "paid"})
    invoice_service.transition_invoice(admin, void.id, {"to": "void"})
    smtp_server.received.clear()
    for day in (date(2026, 5, 16), date(2026, 5, 22), date(2026, 5, 29)):
        assert mail.send_reminders(day).queued == 0
    assert reminders() == [] and smtp_server.received == []


def test_only_overdue_invoices_of_each_tenant_are_reminded(app, catalog, smtp_server):
    late = overdue_invoice("acme")
    on_time = overdue_invoice("globex", "billing@globex.example.com", due_on=date(2026, 5, 20))
    nobody = overdue_invoice("initech", billing_email=None)
    run = mail.send_reminders(date(2026, 5, 16))
    assert (run.queued, run.not_sent) == (1, 1)
    assert reminders(late.id) == [(1, SENT)]
    assert reminders(on_time.id) == []
    [row] = messages(nobody.id, kind="reminder")
    assert (row.stage, row.status, row.error) == (1, NOT_SENT, "tenant initech has no billing email")
    assert mail.send_reminders(date(2026, 5, 16)).not_sent == 0  # recorded once, not daily


def test_reminder_days_come_from_configuration(app, catalog, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_DAYS", (3,))
    invoice = overdue_invoice()
    assert mail.send_reminders(date(2026, 5, 17)).queued == 0
    assert mail.send_reminders(date(2026, 5, 18)).queued == 1
    assert reminders(invoice.id) == [(3, SENT)]


def test_the_database_holds_each_stage_once(app, catalog, smtp_server):
    invoice = overdue_invoice()
    mail.send_reminders(date(2026, 5, 16))
    db.session.add(MailMessage(kind="reminder", stage=1, invoice_id=invoice.id, subject="again",
                               body="", status="queued", attempts=0, attachments=[]))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_cli_sends_the_reminders_due_on_a_day(app, catalog, smtp_server):
    invoice = overdue_invoice()
    runner = app.test_cli_runner()
    r = runner.invoke(args=["reminders", "send", "--on", "2026-05-22"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "2026-05-22: 1 reminder(s) queued, 1 earlier stage(s) skipped"
    r = runner.invoke(args=["reminders", "send", "--on", "2026-05-22"])
    assert r.output.strip() == "2026-05-22: 0 reminder(s) queued"
    assert reminders(invoice.id) == [(1, SKIPPED), (7, SENT)]
    r = runner.invoke(args=["reminders", "send", "--on", "2026-02-30"])
    assert r.exit_code == 1 and "on: is not a real calendar date" in r.output
    r = runner.invoke(args=["reminders", "send", "--on", "tomorrow"])
    assert r.exit_code == 1 and "on: must be a date as YYYY-MM-DD" in r.output
    with freeze_time("2026-05-29 23:30:00"):  # without --on: today (UTC)
        r = runner.invoke(args=["reminders", "send"])
    assert r.exit_code == 0 and r.output.strip() == "2026-05-29: 1 reminder(s) queued"
    assert reminders(invoice.id) == [(1, SKIPPED), (7, SENT), (14, SENT)]


def test_the_daily_job_uses_today(app, catalog, smtp_server):
    from portal.jobs.mail import send_reminders

    invoice = overdue_invoice()
    with freeze_time("2026-05-16 06:00:00"):
        assert send_reminders() == {"on": "2026-05-16", "queued": 1, "not_sent": 0, "skipped": 0,
                                    "requeued": 0}
    assert reminders(invoice.id) == [(1, SENT)]
