"""Payments and credit notes reach other systems: webhooks in order, and the adjustment
note emailed to the tenant with its PDF, through a real SMTP server and webhook receiver."""
import json

import pytest

from tests.factories import make_user, pdf_text
from tests.mail.helpers import draft_invoice, messages
from tests.mail.smtp import pdf_attachments, smtp_server  # noqa: F401



def test_payments_and_credit_notes_are_pushed_and_mailed(app, catalog, api_as, smtp_server, receiver):
    admin = api_as(make_user())
    admin.post("/api/v1/webhooks", json={"url": receiver.url, "events": [
        "invoice.issued", "invoice.paid", "payment.recorded", "credit_note.issued"]})
    invoice = draft_invoice()
    issued = admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"}).get_json()
    assert issued["total_cents"] == 5500
    part = admin.post(f"/api/v1/invoices/{invoice.id}/payments", json={
        "amount_cents": 2000, "paid_on": issued["issued_on"], "method": "bank_transfer",
        "reference": "EFT 1"})
    assert part.status_code == 201
    rest = admin.post(f"/api/v1/invoices/{invoice.id}/payments", json={
        "amount_cents": 3500, "paid_on": issued["issued_on"], "method": "card"})
    assert rest.status_code == 201
    plan_line = issued_lines = admin.get(f"/api/v1/invoices/{invoice.id}").get_json()["lines"]
    plan_line = next(line for line in issued_lines if line["kind"] == "plan_base")
    note = admin.post(f"/api/v1/invoices/{invoice.id}/credit-notes", json={
        "reason": "Outage on 3 April", "lines": [{"line_id": plan_line["id"], "amount_cents": 1000}]})
    assert note.status_code == 201
    note = note.get_json()
    assert (note["number"], note["subtotal_cents"], note["tax_cents"], note["total_cents"]) == (
        "CN-000001", 1000, 100, 1100)

    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [e["type"] for e in events] == [
        "invoice.issued", "payment.recorded", "payment.recorded", "invoice.paid",
        "credit_note.issued"]
    assert events[1]["data"]["amount_cents"] == 2000 and events[2]["data"]["method"] == "card"
    paid = events[3]["data"]
    assert (paid["status"], paid["amount_paid_cents"], paid["amount_due_cents"]) == ("paid", 5500, 0)
    assert events[4]["data"]["number"] == "CN-000001"

    # The tax invoice, then the adjustment note, each with its PDF.
    subjects = [m["Subject"] for _, _, m in smtp_server.received]
    assert subjects == ["Tax invoice ARC-000001 from Arcadia Cloud Pty Ltd",
                        "Adjustment note CN-000001 for tax invoice ARC-000001 from Arcadia Cloud Pty Ltd"]
    message = smtp_server.received[1][2]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Reason: Outage on 3 April" in text
    assert "Credited: $11.00 AUD (including GST $1.00 AUD)" in text
    assert "Added to your credit balance, applied to your next invoices: $11.00 AUD" in text
    [(filename, content)] = pdf_attachments(message)
    assert filename == "CN-000001.pdf"
    pdf = pdf_text(content)
    assert "Adjustment note" in pdf and "CN-000001" in pdf and "ARC-000001" in pdf
    kinds = [(m.kind, m.status) for m in messages(invoice.id)]
    assert kinds == [("invoice_issued", "sent"), ("credit_note_issued", "sent")]


def test_reminders_follow_the_amount_due(app, catalog, api_as, smtp_server):
    from datetime import date, timedelta

    from portal.services import mail

    admin = api_as(make_user())
    invoice = draft_invoice()
    issued = admin.post(f"/api/v1/invoices/{invoice.id}/transition", json={"to": "issued"}).get_json()
    lines = admin.get(f"/api/v1/invoices/{invoice.id}").get_json()["lines"]
    # Credit every non-tax line: the invoice owes nothing, so no reminder is due.
    admin.post(f"/api/v1/invoices/{invoice.id}/credit-notes", json={
        "reason": "Billed in error",
        "lines": [{"line_id": x["id"], "amount_cents": x["amount_cents"]} for x in lines if x["kind"] != "tax"]})
    after_due = date.fromisoformat(issued["due_on"]) + timedelta(days=1)
    run = mail.send_reminders(after_due)
    assert run.queued == 0
    assert [m.kind for m in messages(invoice.id)] == ["invoice_issued", "credit_note_issued"]
