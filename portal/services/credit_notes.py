"""Credit notes (Australian adjustment notes) on issued or paid invoices, refunds owed, and
the credit balance they leave the tenant."""
from collections import defaultdict
from decimal import Decimal
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from ..billing.credit import CreditRequest, credit_note_totals, line_errors
from ..billing.quote import TAX
from ..billing.settlement import refundable_cents, split_credit
from ..clock import today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..models import CreditNote, CreditNoteLine, Invoice, Tenant, User
from ..models.invoices import ISSUED, PAID, Counter
from ..permissions import check
from . import audit, mail, webhooks
from .invoices import get_invoice, request_pdf, tenant_match
from .paging import CENTS, PER_PAGE, Sorts, keyset_page, totals
from .payments import (
    apply_credit_balance,
    lock_invoice,
    lock_tenant,
    parse_date,
    settle_if_owed_nothing,
    unpaid_invoices_locked,
)
from .scoping import get_visible, scoped

CREDIT_NOTE_FIELDS = {"reason", "lines", "refund"}
COUNTER_NAME = "credit_note_number"
MAX_LINES = 500


def _next_number() -> str:
    """Gap-free, like invoice numbers: the counter moves in the issuing transaction. The row is
    created on first use if it is missing (an upsert), so the sequence never depends on seeding."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    value = db.session.execute(
        insert(Counter).values(name=COUNTER_NAME, value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    ).scalar_one()
    return f"{current_app.config['CREDIT_NOTE_NUMBER_PREFIX']}{value:06d}"


def _parse(data: Mapping[str, Any]) -> tuple[str, list[CreditRequest], bool]:
    errors: dict[str, str] = {k: "unknown field" for k in set(data) - CREDIT_NOTE_FIELDS}
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = "is required: why the invoice is corrected"
    elif len(reason) > 2000:
        errors["reason"] = "must be at most 2000 characters"
    refund = data.get("refund", False)
    if not isinstance(refund, bool):
        errors["refund"] = "must be true or false"
    lines = data.get("lines")
    requests: list[CreditRequest] = []
    if not isinstance(lines, list) or not lines:
        errors["lines"] = "is required: a list of {line_id, amount_cents}"
    elif len(lines) > MAX_LINES:
        errors["lines"] = f"at most {MAX_LINES} lines"
    else:
        for index, item in enumerate(lines):
            key = f"lines[{index}]"
            if not isinstance(item, dict):
                errors[key] = "must be an object {line_id, amount_cents}"
                continue
            extra = set(item) - {"line_id", "amount_cents"}
            if extra:
                errors[key] = f"unknown field {sorted(extra)[0]}"
                continue
            line_id, amount = item.get("line_id"), item.get("amount_cents")
            if isinstance(line_id, bool) or not isinstance(line_id, int):
                errors[f"{key}.line_id"] = "is required: the id of one of the invoice's lines"
            elif isinstance(amount, bool) or not isinstance(amount, int):
                errors[f"{key}.amount_cents"] = "is required: a whole number of cents"
            elif not 0 < amount <= 10**15:
                errors[f"{key}.amount_cents"] = "must be more than 0"
            else:
                requests.append(CreditRequest(line_id, amount))
    if errors:
        raise ValidationError(errors)
    return reason.strip(), requests, refund


def invoice_rate(invoice: Invoice) -> Decimal:
    """The rate the invoice was issued with (its tax line's, for invoices issued before the
    rate was snapshotted; else the configured one)."""
    if invoice.tax_rate is not None:
        return Decimal(invoice.tax_rate)
    for line in invoice.lines:
        if line.kind == TAX:
            return Decimal(line.qty)
    return Decimal(current_app.config["TAX_RATE"])


def credited_by_line(invoice_id: int) -> dict[int, int]:
    rows = db.session.execute(
        select(CreditNoteLine.invoice_line_id, func.sum(CreditNoteLine.amount_cents))
        .join(CreditNote, CreditNote.id == CreditNoteLine.credit_note_id)
        .where(CreditNote.invoice_id == invoice_id)
        .group_by(CreditNoteLine.invoice_line_id)).all()
    return defaultdict(int, {line_id: int(total) for line_id, total in rows})


def _credited_before(invoice_id: int) -> tuple[int, int, int]:
    """Subtotal, GST and refunds of the invoice's earlier credit notes."""
    sub, tax, refunds = db.session.execute(
        select(func.coalesce(func.sum(CreditNote.subtotal_cents), 0),
               func.coalesce(func.sum(CreditNote.tax_cents), 0),
               func.coalesce(func.sum(CreditNote.refund_cents), 0))
        .where(CreditNote.invoice_id == invoice_id)).one()
    return int(sub), int(tax), int(refunds)


def issue_credit_note(user: User, invoice_id: int, data: Mapping[str, Any]) -> CreditNote:
    """Admin: an adjustment note against an issued or paid invoice (409 on draft or void).

    The part of its total the invoice still owed comes off what it owes; the rest (the invoice
    was already settled for it) becomes the tenant's credit balance, applied at once to its
    other unpaid invoices oldest first, or, with ``refund``, a refund owed (at most what was
    paid on the invoice and not yet refunded)."""
    invoice = get_invoice(user, invoice_id)
    check(user, "invoices.manage")
    reason, requests, refund = _parse(data)
    # Tenant before invoice, always: the lock order shared with issuing (invoice, then
    # tenant, but only a draft invoice, which this never locks).
    tenant = lock_tenant(invoice.tenant_id)
    invoice = lock_invoice(invoice.id)
    if invoice.status not in (ISSUED, PAID):
        db.session.rollback()
        raise Conflict(f"invoice {invoice.number or invoice.id} is {invoice.status}; credit "
                       "notes correct issued or paid invoices only",
                       {"invoice": f"is {invoice.status}"})
    done = credited_by_line(invoice.id)
    remaining = {line.id: line.amount_cents - done[line.id]
                 for line in invoice.lines if line.kind != TAX}
    errors = line_errors(requests, remaining)
    if errors:
        db.session.rollback()
        raise ValidationError(errors)
    subtotal_before, tax_before, refunded_before = _credited_before(invoice.id)
    totals = credit_note_totals(requests, invoice_rate(invoice), subtotal_before, tax_before)
    split = split_credit(totals.total_cents, invoice.owed.amount_due_cents)
    refund_cents = split.excess_cents if refund else 0
    cap = refundable_cents(invoice.amount_paid_cents, refunded_before)
    if refund_cents > cap:
        db.session.rollback()
        raise ValidationError({"refund": (
            f"the refund would be {refund_cents} cents but only {cap} cents were paid on this "
            "invoice and not yet refunded")})

    on = today()
    lines_by_id = {line.id: line for line in invoice.lines}
    note = CreditNote(
        number=_next_number(), invoice_id=invoice.id, tenant_id=invoice.tenant_id,
        reason=reason, issued_on=on, currency=invoice.currency,
        subtotal_cents=totals.subtotal_cents, tax_cents=totals.tax_cents,
        total_cents=totals.total_cents, against_invoice_cents=split.against_invoice_cents,
        to_balance_cents=0 if refund else split.excess_cents, refund_cents=refund_cents,
        lines=[CreditNoteLine(position=position, invoice_line_id=req.line_id,
                              description=lines_by_id[req.line_id].description,
                              amount_cents=req.amount_cents)
               for position, req in enumerate(requests, start=1)])
    db.session.add(note)
    invoice.amount_credited_cents += totals.total_cents
    settle_if_owed_nothing(invoice, on)
    touched = {invoice.id}
    if note.to_balance_cents:
        tenant.credit_balance_cents += note.to_balance_cents
        others = unpaid_invoices_locked(tenant.id, invoice.currency, exclude=invoice.id)
        touched.update(a.invoice_id for a in apply_credit_balance(tenant, others, on))
    db.session.flush()
    from ..blueprints.api.serializers import credit_note as serialize

    webhooks.emit("credit_note.issued", serialize(note))
    mail.queue_credit_note_issued(note)
    audit.record(user, "credit_note.issue", "credit_note", note.id, number=note.number,
                 invoice=invoice.number, currency=note.currency, total_cents=note.total_cents,
                 refund_cents=refund_cents, to_balance_cents=note.to_balance_cents)
    db.session.commit()
    credit_note_issued(note, sorted(touched))
    return note


def credit_note_issued(note: CreditNote, invoice_ids: list[int]) -> None:
    """After a credit note is committed: the one place that reacts to it (the PDFs of the
    invoices whose amounts it changed now; e-mail and the ``credit_note.issued`` webhook hook
    in here; an invoice it settled has ``status == "paid"``)."""
    webhooks.dispatch()
    mail.dispatch()
    for invoice_id in invoice_ids:
        request_pdf(invoice_id)
    current_app.logger.info("credit note %s issued on invoice %s", note.number, note.invoice_id)


def mark_refunded(user: User, credit_note_id: int, data: Mapping[str, Any]) -> CreditNote:
    """Admin: the refund a credit note owes has been paid out (409 if none is owed or it was
    already recorded)."""
    note = get_credit_note(user, credit_note_id)
    check(user, "invoices.manage")
    errors = {k: "unknown field" for k in set(data) - {"refunded_on"}}
    refunded_on = today()
    if data.get("refunded_on") is not None:
        refunded_on = parse_date(data.get("refunded_on"), "refunded_on", errors)
    if errors:
        raise ValidationError(errors)
    locked = db.session.scalar(select(CreditNote).where(CreditNote.id == note.id)
                               .with_for_update().execution_options(populate_existing=True))
    if locked.refund_cents == 0 or locked.refunded_on is not None:
        db.session.rollback()
        raise Conflict(f"credit note {locked.number} " + (
            "owes no refund" if locked.refund_cents == 0 else
            f"was already refunded on {locked.refunded_on.isoformat()}"))
    locked.refunded_on = refunded_on
    audit.record(user, "credit_note.refunded", "credit_note", locked.id, number=locked.number,
                 refund_cents=locked.refund_cents, currency=locked.currency,
                 refunded_on=refunded_on.isoformat())
    db.session.commit()
    return locked


# --- reading -----------------------------------------------------------------------------


def get_credit_note(user: User, credit_note_id: int) -> CreditNote:
    """A credit note the user may see: a tenant sees its own only (404 otherwise)."""
    return get_visible(CreditNote, credit_note_id, user, what="credit note")


# Newest first by id (numbers are issued in id order): the primary key, or
# ix_credit_notes_tenant_id_id for one tenant, serves every page.
# Newest first by id (the gap-free number's order); by total from ix_credit_notes_total_id.
CREDIT_NOTE_SORTS = Sorts({"number": (CreditNote.id, int), "total": (CreditNote.total_cents, CENTS)},
                          "-number", CreditNote.id)
CREDIT_NOTE_ORDER = CREDIT_NOTE_SORTS.keyset(CREDIT_NOTE_SORTS.default)
CREDIT_NOTE_SUMS = {"total": lambda c: c.total_cents}


def credit_note_query(user: User, tenant_slug: str | None = None, invoice: str | None = None,
                      tenant_search: str | None = None):
    query = (select(CreditNote)
             .options(selectinload(CreditNote.lines), selectinload(CreditNote.tenant),
                      selectinload(CreditNote.invoice))
             .order_by(CreditNote.id.desc()))
    query = scoped(query, user, CreditNote.tenant_id)
    if tenant_slug:
        query = query.where(CreditNote.tenant_id.in_(select(Tenant.id).where(Tenant.slug == tenant_slug)))
    if tenant_search and tenant_search.strip():
        query = query.where(tenant_match(tenant_search, CreditNote.tenant_id))
    if invoice:
        if not invoice.isdigit() or len(invoice) > 10 or int(invoice) > 2**31 - 1:
            raise ValidationError({"invoice": "must be an invoice id"})
        query = query.where(CreditNote.invoice_id == int(invoice))
    return query


def list_credit_notes(user: User, cursor=None, page: int | None = None, per_page: int = PER_PAGE,
                      keyset=CREDIT_NOTE_ORDER, **filters):
    """A page of credit notes (a KeysetPage: rows and the older/newer cursors)."""
    return keyset_page(credit_note_query(user, **filters), keyset, cursor, page, per_page)


def list_totals(query, keyset=None, cursor=None):
    return totals(query, CREDIT_NOTE_SUMS, keyset, cursor)


def for_invoice(invoice: Invoice) -> list[CreditNote]:
    return list(db.session.scalars(
        select(CreditNote).where(CreditNote.invoice_id == invoice.id)
        .options(selectinload(CreditNote.lines)).order_by(CreditNote.id)))
