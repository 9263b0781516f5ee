"""Deliveries and reminder runs at once, on PostgreSQL with real commits: nothing twice."""
from datetime import date

from sqlalchemy import func, select

from portal.models import Invoice, MailMessage
from portal.services import invoices as invoice_service
from portal.services import mail
from portal.services.catalog import seed_catalog
from portal.services.rollup import roll_up_period
from tests.concurrency import at_once
from tests.factories import make_deployment, make_tenant, make_user
from tests.mail.smtp import smtp_server  # noqa: F401

TENANTS = 8


def overdue_invoices(count):
    seed_catalog()
    for i in range(count):
        tenant = make_tenant(f"c{i:02d}", billing_email=f"billing@c{i:02d}.example.com")
        make_deployment(tenant, plan_code="studio", starts_on=date(2026, 3, 1))
    roll_up_period(date(2026, 4, 1), date(2026, 5, 1))
    admin = make_user()
    ids = list(mail.db.session.scalars(select(Invoice.id).order_by(Invoice.id)))
    for invoice_id in ids:
        invoice_service.transition_invoice(admin, invoice_id, {"to": "issued"})
        mail.db.session.get(Invoice, invoice_id).due_on = date(2026, 5, 15)
    mail.db.session.commit()
    return ids


def test_two_deliveries_of_one_message_send_it_once(app, committed, smtp_server):
    [invoice_id] = overdue_invoices(1)
    smtp_server.received.clear()
    message = mail.queue_message("someone@example.com", "Hello", "Once only.", "invoice_issued",
                                 invoice_id=invoice_id)
    committed.session.commit()
    message_id = message.id
    committed.session.remove()
    smtp_server.delay = 0.5  # both deliveries are under way at the same time

    results = at_once(app, *[lambda: mail.deliver(message_id)] * 2)
    assert [r["status"] for r in results] == ["sent", "sent"]
    assert [m["Subject"] for m in smtp_server.messages] == ["Hello"]
    with app.app_context():
        row = committed.session.get(MailMessage, message_id)
        assert (row.status, row.attempts) == ("sent", 1)


def test_two_reminder_runs_at_once_remind_each_invoice_once(app, committed, smtp_server):
    ids = overdue_invoices(TENANTS)
    committed.session.remove()
    smtp_server.received.clear()

    runs = at_once(app, *[lambda: mail.send_reminders(date(2026, 5, 16)).as_dict()] * 2)
    assert sum(r["queued"] for r in runs) == TENANTS
    with app.app_context():
        per_invoice = committed.session.execute(
            select(MailMessage.invoice_id, MailMessage.stage, func.count())
            .where(MailMessage.kind == "reminder").group_by(MailMessage.invoice_id, MailMessage.stage)
        ).all()
        assert sorted(per_invoice) == [(i, 1, 1) for i in ids]
        committed.session.remove()
    assert len(smtp_server.received) == TENANTS
    assert len({rcpt[0] for _, rcpt, _ in smtp_server.received}) == TENANTS
