"""Rendered invoice PDFs: stored once per invoice state, re-rendered only when stale."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Invoice, InvoiceDocument, InvoiceLine, User
from ..pdf import render_invoice_pdf
from .invoices import get_invoice


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


def _current(doc: InvoiceDocument | None, invoice: Invoice) -> bool:
    return doc is not None and doc.status == invoice.status and doc.source_built_at == invoice.built_at


def render_and_store(invoice_id: int) -> InvoiceDocument:
    """The PDF for the invoice as it stands: a DRAFT preview for a draft, else the tax invoice
    (marked VOID once voided). Rendering is skipped when the stored one is current."""
    invoice = _load(invoice_id)
    doc = _stored(invoice)
    if _current(doc, invoice):
        return doc
    content = render_invoice_pdf(invoice, draft=_is_draft(invoice))
    if doc is None:
        doc = InvoiceDocument(invoice_id=invoice.id, draft=_is_draft(invoice))
        db.session.add(doc)
    doc.status, doc.content, doc.source_built_at = invoice.status, content, invoice.built_at
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


def filename(invoice: Invoice) -> str:
    label = invoice.number or f"draft-{invoice.id}"
    return f"{label}-{invoice.period_start.strftime('%Y-%m')}.pdf"
