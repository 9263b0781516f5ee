"""Rendered PDFs: invoices stored once per state (re-rendered when stale: a new state, a
rebuild, or a payment or credit changing what they owe); adjustment notes on demand."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..errors import NotFound
from ..extensions import db
from ..models import Invoice, InvoiceDocument, InvoiceLine, User
from ..pdf import render_credit_note_pdf, render_invoice_pdf
from .credit_notes import for_invoice, get_credit_note
from .invoices import get_invoice
from .payments import allocations_for, amount_due_cents, payments_of


def _load(invoice_id: int) -> Invoice:
    return db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id)
        .options(selectinload(Invoice.tenant),
                 selectinload(Invoice.lines).selectinload(InvoiceLine.deployment))
    )


def _is_draft(invoice: Invoice) -> bool:
    """Never issued (no number): a DRAFT preview, also once voided; never a tax invoice."""
    return invoice.number is None


def _stored(invoice: Invoice) -> InvoiceDocument | None:
    """The stored PDF of the kind this invoice needs (preview or tax invoice), current or not."""
    return db.session.scalar(select(InvoiceDocument).where(
        InvoiceDocument.invoice_id == invoice.id, InvoiceDocument.draft == _is_draft(invoice)))


def _money_state(invoice: Invoice) -> str:
    """What the PDF says about money: when a payment or credit changes it, it is stale."""
    return (f"paid={invoice.amount_paid_cents or 0};credited={invoice.amount_credited_cents or 0};"
            f"applied={invoice.credit_applied_cents or 0};paid_on={invoice.paid_on}")


def _current(doc: InvoiceDocument | None, invoice: Invoice) -> bool:
    return (doc is not None and doc.status == invoice.status
            and doc.source_built_at == invoice.built_at
            and doc.source_state == _money_state(invoice))


def render_and_store(invoice_id: int) -> InvoiceDocument:
    """The PDF for the invoice as it stands: a DRAFT preview for a draft, else the tax invoice
    (marked VOID once voided). Rendering is skipped when the stored one is current."""
    invoice = _load(invoice_id)
    if invoice is None:  # gone since the render was asked for
        raise NotFound(f"no invoice {invoice_id}")
    doc = _stored(invoice)
    if _current(doc, invoice):
        return doc
    content = render_invoice_pdf(invoice, draft=_is_draft(invoice),
                                 settlement=_settlement(invoice))
    if doc is None:
        doc = InvoiceDocument(invoice_id=invoice.id, draft=_is_draft(invoice))
        db.session.add(doc)
    doc.status, doc.content, doc.source_built_at = invoice.status, content, invoice.built_at
    doc.source_state = _money_state(invoice)
    try:
        db.session.commit()
    except IntegrityError:  # rendered concurrently by another worker: theirs is as good
        db.session.rollback()
        doc = _stored(_load(invoice_id))
    return doc


def pdf_for(user: User, invoice_id: int) -> tuple[Invoice, bytes]:
    """The PDF a user may download (tenants never see drafts). Normally the worker has
    rendered it already; if not, it is rendered now rather than making the user wait."""
    invoice = get_invoice(user, invoice_id)
    doc = _stored(invoice)
    if not _current(doc, invoice):
        doc = render_and_store(invoice.id)
    return invoice, doc.content


def _settlement(invoice: Invoice) -> dict:
    """Money against the invoice, for its PDF: payments, credit notes, credit applied."""
    if invoice.number is None:
        return {}
    return {
        "payments": payments_of(invoice),
        "credit_notes": for_invoice(invoice),
        "allocations": allocations_for(invoice),
        "amount_due_cents": amount_due_cents(invoice),
    }


def credit_note_pdf_for(user: User, credit_note_id: int):
    """An adjustment note's PDF, rendered on demand: it never changes once issued except to
    say its refund was paid out, and rendering takes a fraction of a second."""
    note = get_credit_note(user, credit_note_id)
    return note, render_credit_note_pdf(note)


def credit_note_filename(note) -> str:
    return f"{note.number}.pdf"


def filename(invoice: Invoice) -> str:
    label = invoice.number or f"draft-{invoice.id}"
    return f"{label}-{invoice.period_start.strftime('%Y-%m')}.pdf"
