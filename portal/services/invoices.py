"""The invoice lifecycle (issue, pay, void), its numbering and PDFs, and reading invoices."""
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from ..billing.proration import next_month_start
from ..billing.rollup import TaxRule
from ..clock import today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..permissions import check
from ..queue import DOCUMENTS, enqueue
from ..models import Counter, Invoice, InvoiceLine, Tenant, User
from ..models.invoices import INVOICE_STATES, INVOICE_TRANSITIONS, ISSUED, PAID, TENANT_VISIBLE, VOID
from . import audit
from .paging import PER_PAGE, page_of
from .scoping import get_visible, scoped
from .validation import FieldError, month


def parse_period(value: Any) -> tuple[date, date]:
    """``"YYYY-MM"`` → (first day, first day of the next month)."""
    try:
        start = month(value)
    except FieldError as exc:
        raise ValidationError({"period": str(exc)}) from None
    return start, next_month_start(start)


def tax_rule() -> TaxRule:
    return TaxRule(current_app.config["TAX_NAME"], current_app.config["TAX_RATE"])


def _next_invoice_number() -> str:
    """Gap-free: the counter moves in the issuing transaction; a rollback gives it back."""
    value = db.session.execute(
        update(Counter).where(Counter.name == "invoice_number")
        .values(value=Counter.value + 1).returning(Counter.value)
    ).scalar_one()
    return f"{current_app.config['INVOICE_NUMBER_PREFIX']}{value:06d}"


def issue(invoice: Invoice) -> None:
    # The tax invoice keeps the parties as they were when issued: a later edit of the
    # tenant's billing profile or of the seller's details must not change it.
    tenant = db.session.get(Tenant, invoice.tenant_id)
    config = current_app.config
    invoice.parties = {
        "seller": {"name": config["SELLER_NAME"], "abn": config["SELLER_ABN"],
                   "address": config["SELLER_ADDRESS"], "email": config["SELLER_EMAIL"]},
        "bill_to": {"name": tenant.billing_name, "address": tenant.billing_address,
                    "abn": tenant.abn},
    }
    invoice.number = _next_invoice_number()
    invoice.status = ISSUED
    invoice.issued_on = today()
    invoice.due_on = invoice.issued_on + timedelta(days=current_app.config["INVOICE_DUE_DAYS"])


def transition_invoice(user: User, invoice_id: int, data: Mapping[str, Any]) -> Invoice:
    """Admin: draft → issued → paid, or void (from draft or issued). Anything else is 409."""
    invoice = get_invoice(user, invoice_id)  # 404 before 403: nothing leaks
    check(user, "invoices.manage")
    if not isinstance(data.get("to"), str):
        raise ValidationError({"to": "is required: one of issued, paid, void"})
    to = data["to"]
    locked = db.session.scalar(
        select(Invoice).where(Invoice.id == invoice.id).with_for_update()
        .execution_options(populate_existing=True)
    )
    allowed = INVOICE_TRANSITIONS[locked.status]
    if to not in allowed:
        db.session.rollback()
        raise Conflict(
            f"invoice {locked.number or locked.id} is {locked.status}; it cannot become {to}"
            + (f" (allowed: {', '.join(allowed)})" if allowed else f" ({locked.status} is final)"),
            {"to": f"allowed: {', '.join(allowed) or 'none'}"},
        )
    previous = locked.status
    if to == ISSUED:
        issue(locked)
    elif to == PAID:
        locked.status, locked.paid_on = PAID, today()
    else:
        locked.status, locked.voided_on = VOID, today()
    audit.record(user, f"invoice.{to}", "invoice", locked.id, **{"from": previous},
                 number=locked.number)
    db.session.commit()
    if to in (ISSUED, VOID):  # the tax invoice PDF, or its VOID-marked copy
        request_pdf(locked.id)
    return locked


def request_pdf(invoice_id: int) -> None:
    """Render (or queue) an invoice's PDF after its change is committed. A failure here must
    not undo or hide the committed change: downloads render on demand anyway."""
    try:
        enqueue("portal.jobs.invoicing.render_pdf", invoice_id, queue_name=DOCUMENTS)
    except Exception:
        current_app.logger.exception("could not render or queue the PDF of invoice %s", invoice_id)


# --- reading ------------------------------------------------------------------------------


def _tenant_may_see(invoice: Invoice) -> bool:
    # Issued, paid, and void ones that were issued first: a draft voided before it was ever
    # issued was never the tenant's to see.
    return invoice.status in TENANT_VISIBLE and invoice.number is not None


def get_invoice(user: User, invoice_id: int) -> Invoice:
    """An invoice the user may see; a tenant never sees drafts or other tenants' (404)."""
    return get_visible(Invoice, invoice_id, user, visible=_tenant_may_see, what="invoice")


def invoice_query(user: User, tenant_slug: str | None = None, period: str | None = None,
                  status: str | None = None):
    query = (
        select(Invoice)
        .join(Tenant, Invoice.tenant_id == Tenant.id)
        .options(selectinload(Invoice.tenant))
        .order_by(Invoice.period_start.desc(), Tenant.slug, Invoice.id.desc())
    )
    query = scoped(query, user, Invoice.tenant_id)
    if not user.is_platform_admin:
        query = query.where(Invoice.status.in_(TENANT_VISIBLE), Invoice.number.is_not(None))
    errors = {}
    if tenant_slug:
        query = query.where(Tenant.slug == tenant_slug)
    if period:
        try:
            start, _ = parse_period(period)
            query = query.where(Invoice.period_start == start)
        except ValidationError as exc:
            errors.update(exc.fields)
    if status:
        if status not in INVOICE_STATES:
            errors["status"] = f"must be one of {', '.join(INVOICE_STATES)}"
        query = query.where(Invoice.status == status)
    if errors:
        raise ValidationError(errors)
    return query


def list_invoices(user: User, page: int = 1, per_page: int = PER_PAGE, **filters):
    """A page of invoices and the next page's number (None on the last)."""
    return page_of(invoice_query(user, **filters), page, per_page)


def grouped_lines(invoice: Invoice):
    """Lines grouped by deployment (tenant-level lines, such as tax, last)."""
    groups: dict[int | None, list[InvoiceLine]] = defaultdict(list)
    for line in invoice.lines:
        groups[line.deployment_id].append(line)
    ordered = [(line_group[0].deployment, line_group) for key, line_group in groups.items()
               if key is not None]
    if None in groups:
        ordered.append((None, groups[None]))
    return ordered
