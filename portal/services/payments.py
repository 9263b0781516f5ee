"""Payments against issued invoices, what an invoice still owes, and settling it.

Every change to what an invoice owes happens under its row lock (``SELECT … FOR UPDATE``),
so two payments at once can never together pay more than was due.
"""
from datetime import date
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import func, select

from ..billing.settlement import allocate, payment_error
from ..clock import today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..models import CreditAllocation, CreditNote, Invoice, Payment, Tenant, User
from ..models.invoices import ISSUED, PAID
from ..models.payments import PAYMENT_METHODS
from ..permissions import check
from . import audit, webhooks
from .invoices import get_invoice, request_pdf

PAYMENT_FIELDS = {"amount_cents", "paid_on", "method", "reference"}
MAX_CENTS = 10**15


# --- what an invoice owes: the one place reminders, pages, PDFs and the API ask ------------


def amount_due_cents(invoice: Invoice) -> int:
    """What ``invoice`` still owes, in cents (0 for drafts, void and settled invoices)."""
    return invoice.amount_due_cents


def still_owed_cents(invoice: Invoice) -> int:
    """What the invoice still owes, the one rule for "is it owed?" (reminders, the home page,
    the account page): an issued invoice's amount due (payments, credit notes and credit
    applied come off it); paid, void and draft ones owe nothing."""
    return invoice.amount_due_cents if invoice.status == ISSUED else 0


def is_overdue(invoice: Invoice, on: date | None = None) -> bool:
    """Issued, still owing, and its due date before ``on`` (default: today, UTC)."""
    return invoice.is_overdue(on or today())


# --- locking and settling ----------------------------------------------------------------


def lock_invoice(invoice_id: int) -> Invoice:
    """The invoice, row-locked for the rest of the transaction and freshly read."""
    return db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
        .execution_options(populate_existing=True))


def lock_tenant(tenant_id: int) -> Tenant:
    return db.session.scalar(
        select(Tenant).where(Tenant.id == tenant_id).with_for_update()
        .execution_options(populate_existing=True))


def settle_if_owed_nothing(invoice: Invoice, on: date) -> bool:
    """An issued invoice that owes nothing any more becomes paid, on the day that settled it."""
    if invoice.status == ISSUED and invoice.owed.amount_due_cents == 0:
        invoice.status, invoice.paid_on = PAID, on
        from .invoices import emit_invoice_event

        emit_invoice_event("invoice.paid", invoice)
        return True
    return False


def apply_credit_balance(tenant: Tenant, invoices: list[Invoice], on: date) -> list[CreditAllocation]:
    """Apply the (locked) tenant's credit balance to the (locked) invoices, in the order given
    (oldest first), as allocations: never a change to their lines or tax."""
    dues = [(inv.id, inv.owed.amount_due_cents) for inv in invoices if inv.status == ISSUED]
    if not dues:
        return []
    by_id = {inv.id: inv for inv in invoices}
    available = min(tenant.credit_balance_cents,
                    balance_in_currency(tenant.id, by_id[dues[0][0]].currency))
    made = []
    for invoice_id, cents in allocate(available, dues):
        invoice = by_id[invoice_id]
        invoice.credit_applied_cents += cents
        tenant.credit_balance_cents -= cents
        allocation = CreditAllocation(tenant_id=tenant.id, invoice_id=invoice_id,
                                      amount_cents=cents, applied_on=on)
        db.session.add(allocation)
        made.append(allocation)
        settle_if_owed_nothing(invoice, on)
    return made


def balance_in_currency(tenant_id: int, currency: str) -> int:
    """The part of the tenant's credit balance that is in ``currency``: what its credit notes
    in that currency put there, less what was applied to its invoices in that currency. The
    balance is one figure; this keeps cents of one currency from paying another's."""
    added = db.session.scalar(
        select(func.coalesce(func.sum(CreditNote.to_balance_cents), 0))
        .where(CreditNote.tenant_id == tenant_id, CreditNote.currency == currency))
    applied = db.session.scalar(
        select(func.coalesce(func.sum(CreditAllocation.amount_cents), 0))
        .join(Invoice, Invoice.id == CreditAllocation.invoice_id)
        .where(CreditAllocation.tenant_id == tenant_id, Invoice.currency == currency))
    return max(0, int(added) - int(applied))


def apply_credit_on_issue(invoice: Invoice) -> None:
    """Called as ``invoice`` is issued (in that transaction): any credit balance the tenant
    holds pays what it can of it."""
    tenant = lock_tenant(invoice.tenant_id)
    if tenant.credit_balance_cents > 0:
        apply_credit_balance(tenant, [invoice], invoice.issued_on or today())


def unpaid_invoices_locked(tenant_id: int, currency: str, exclude: int | None = None) -> list[Invoice]:
    """The tenant's issued, unpaid invoices, oldest first, row-locked in id order."""
    query = (select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.status == ISSUED,
                                   Invoice.currency == currency)
             .order_by(Invoice.id).with_for_update().execution_options(populate_existing=True))
    if exclude is not None:
        query = query.where(Invoice.id != exclude)
    rows = list(db.session.scalars(query))
    return sorted(rows, key=lambda inv: (inv.issued_on or date.min, inv.id))


# --- recording payments ------------------------------------------------------------------


def parse_date(value: Any, field: str, errors: dict) -> date | None:
    if not isinstance(value, str):
        errors[field] = "is required: a date as YYYY-MM-DD"
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        errors[field] = "must be a date as YYYY-MM-DD"
        return None
    if parsed > today():
        errors[field] = "cannot be in the future"
        return None
    return parsed


def _parse_payment(data: Mapping[str, Any]) -> tuple[int, date, str, str | None]:
    errors: dict[str, str] = {k: "unknown field" for k in set(data) - PAYMENT_FIELDS}
    amount = data.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int):
        errors["amount_cents"] = "is required: a whole number of cents"
    elif not 0 < amount <= MAX_CENTS:
        errors["amount_cents"] = "must be more than 0"
    paid_on = parse_date(data.get("paid_on"), "paid_on", errors)
    method = data.get("method")
    if method not in PAYMENT_METHODS:
        errors["method"] = f"must be one of {', '.join(PAYMENT_METHODS)}"
    reference = data.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 200):
        errors["reference"] = "must be text of at most 200 characters"
    if errors:
        raise ValidationError(errors)
    return amount, paid_on, method, (reference.strip() or None) if reference else None


def _payable(invoice: Invoice) -> None:
    if invoice.status != ISSUED:
        db.session.rollback()
        label = invoice.number or invoice.id
        raise Conflict(f"invoice {label} is {invoice.status}; payments are recorded against "
                       "issued invoices only", {"invoice": f"is {invoice.status}"})


def add_payment(invoice: Invoice, amount: int, paid_on: date, method: str,
                reference: str | None, actor: User | None) -> Payment:
    """Record a payment against the locked, issued ``invoice`` (no commit)."""
    problem = payment_error(amount, invoice.owed.amount_due_cents)
    if problem:
        db.session.rollback()
        raise ValidationError({"amount_cents": problem})
    payment = Payment(invoice_id=invoice.id, tenant_id=invoice.tenant_id, amount_cents=amount,
                      paid_on=paid_on, method=method, reference=reference,
                      recorded_by=actor.email if actor else "cli")
    db.session.add(payment)
    invoice.amount_paid_cents += amount
    db.session.flush()
    webhooks.emit("payment.recorded", _payment_as_shown(payment))
    settle_if_owed_nothing(invoice, paid_on)
    db.session.flush()
    audit.record(actor, "payment.record", "invoice", invoice.id, payment_id=payment.id,
                 amount_cents=amount, currency=invoice.currency, paid_on=paid_on.isoformat(),
                 method=method, number=invoice.number)
    return payment


def record_payment(user: User, invoice_id: int, data: Mapping[str, Any]) -> Payment:
    """Admin: a payment against an issued invoice. 404 unseen, 403 role, 422 invalid or more
    than is due, 409 on a draft, paid or void invoice."""
    invoice = get_invoice(user, invoice_id)
    check(user, "invoices.manage")
    amount, paid_on, method, reference = _parse_payment(data)
    locked = lock_invoice(invoice.id)
    _payable(locked)
    payment = add_payment(locked, amount, paid_on, method, reference, user)
    db.session.commit()
    payment_recorded(payment)
    return payment


def pay_in_full(invoice: Invoice, actor: User | None) -> Payment:
    """The ``paid`` transition: one payment of the whole amount due, dated today (no commit;
    ``invoice`` is locked and issued)."""
    return add_payment(invoice, invoice.owed.amount_due_cents, today(), "other",
                       "Marked paid", actor)


def payment_recorded(payment: Payment) -> None:
    """After a payment is committed: the one place that reacts to it (the invoice's PDF now;
    its ``payment.recorded`` and ``invoice.paid`` webhooks, written with it, go out now)."""
    webhooks.dispatch()
    request_pdf(payment.invoice_id)
    current_app.logger.info("payment %s recorded on invoice %s", payment.id, payment.invoice_id)


# --- reading -----------------------------------------------------------------------------


def _payment_as_shown(payment: Payment) -> dict:
    from ..blueprints.api.serializers import payment as serialize

    return serialize(payment)


def payments_of(invoice: Invoice) -> list[Payment]:
    return list(db.session.scalars(
        select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.paid_on, Payment.id)))


def list_payments(user: User, invoice_id: int) -> tuple[Invoice, list[Payment]]:
    """The payments of an invoice the user may see (another tenant's: 404)."""
    invoice = get_invoice(user, invoice_id)
    return invoice, payments_of(invoice)


def allocations_for(invoice: Invoice) -> list[CreditAllocation]:
    return list(db.session.scalars(
        select(CreditAllocation).where(CreditAllocation.invoice_id == invoice.id)
        .order_by(CreditAllocation.id)))
