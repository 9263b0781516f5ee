"""Payments and credit notes at once, on PostgreSQL with real commits: never more than is due."""
import threading
from datetime import date

from sqlalchemy import func, select

from portal.errors import ValidationError
from portal.extensions import db
from portal.models import CreditNote, Invoice, Payment, Tenant, User
from portal.services import credit_notes, invoices, payments
from portal.services.catalog import seed_catalog
from portal.services.rollup import roll_up_period
from tests.factories import make_deployment, make_tenant, make_user

THREADS = 8


def issued_invoice() -> tuple[int, int]:
    """(admin id, invoice id): studio + storage_50gb for March 2026, total 6325, issued."""
    seed_catalog()
    tenant = make_tenant("race")
    make_deployment(tenant, plan_code="studio", addons=["storage_50gb"], starts_on=date(2026, 3, 1))
    admin = make_user(email="admin@example.com")
    roll_up_period(date(2026, 3, 1), date(2026, 4, 1))
    invoice_id = db.session.scalar(select(Invoice.id))
    invoices.transition_invoice(admin, invoice_id, {"to": "issued"})
    ids = admin.id, invoice_id
    db.session.remove()
    return ids


def race(app, committed, admin_id, action):
    """Run ``action(admin, n)`` in THREADS threads released at once → (results, refusals)."""
    barrier = threading.Barrier(THREADS)
    done, refused, errors = [], [], []

    def run(n):
        with app.app_context():
            try:
                user = db.session.get(User, admin_id)
                barrier.wait(timeout=30)
                done.append(action(user, n))
            except ValidationError as exc:
                refused.append(exc)
            except Exception as exc:  # surfaced below: a thread's failure must fail the test
                errors.append(exc)
            finally:
                committed.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    return done, refused


def test_concurrent_payments_never_overpay(app, committed):
    admin_id, invoice_id = issued_invoice()
    done, refused = race(app, committed, admin_id, lambda user, n: payments.record_payment(
        user, invoice_id, {"amount_cents": 1000, "paid_on": "2026-04-10", "method": "card"}).id)
    # 6325 due: six payments of 1000 fit, the other two would overpay.
    assert (len(done), len(refused)) == (6, 2)
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        paid = db.session.scalar(select(func.sum(Payment.amount_cents)))
        assert (paid, invoice.amount_paid_cents, invoice.amount_due_cents, invoice.status) == (
            6000, 6000, 325, "issued")
        db.session.remove()


def test_concurrent_credit_notes_never_credit_a_line_twice(app, committed):
    admin_id, invoice_id = issued_invoice()
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        plan_line = next(l.id for l in invoice.lines if l.kind == "plan_base")
        payments.record_payment(db.session.get(User, admin_id), invoice_id,
                                {"amount_cents": 6325, "paid_on": "2026-04-10", "method": "card"})
        db.session.remove()
    done, refused = race(app, committed, admin_id, lambda user, n: credit_notes.issue_credit_note(
        user, invoice_id, {"reason": f"race {n}",
                           "lines": [{"line_id": plan_line, "amount_cents": 2000}]}).number)
    # The 5000 line holds two credits of 2000; the third would go beyond what is left.
    assert (len(done), len(refused)) == (2, THREADS - 2)
    assert sorted(done) == ["CN-000001", "CN-000002"]  # gap-free under contention
    with app.app_context():
        assert db.session.scalar(select(func.sum(CreditNote.total_cents))) == 4400
        # The invoice was paid: everything credited is the tenant's balance.
        assert db.session.scalar(select(Tenant.credit_balance_cents)) == 4400
        db.session.remove()
