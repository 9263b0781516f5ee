"""The invoice lifecycle (issue, pay, void), its numbering and PDFs, and reading invoices."""
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import and_, case, not_, select, update
from sqlalchemy.orm import selectinload

from ..billing.proration import next_month_start
from ..billing.quote import TAX
from ..billing.rollup import TaxRule
from ..clock import today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..permissions import check
from ..queue import DOCUMENTS, enqueue
from ..models import Counter, Invoice, InvoiceLine, Tenant, User
from ..models.invoices import INVOICE_STATES, INVOICE_TRANSITIONS, ISSUED, PAID, TENANT_VISIBLE, VOID
from . import audit, mail, webhooks
from .paging import CENTS, PER_PAGE, Sorts, keyset_page, totals
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
    # …and the tax it was issued with: the rate its tax line was computed at.
    invoice.tax_name = config["TAX_NAME"]
    built_rate = db.session.scalar(select(InvoiceLine.qty).where(
        InvoiceLine.invoice_id == invoice.id, InvoiceLine.kind == TAX).limit(1))
    invoice.tax_rate = built_rate if built_rate is not None else config["TAX_RATE"]
    invoice.number = _next_invoice_number()
    invoice.status = ISSUED
    invoice.issued_on = today()
    invoice.due_on = invoice.issued_on + timedelta(days=current_app.config["INVOICE_DUE_DAYS"])
    # Events in the order they happen: issued, then (when a credit balance settles it) paid.
    emit_invoice_event("invoice.issued", invoice)
    from .payments import apply_credit_on_issue, settle_if_owed_nothing

    apply_credit_on_issue(invoice)  # a credit balance pays what it can of it
    settle_if_owed_nothing(invoice, invoice.issued_on)  # a month that costs nothing is paid
    # Emailed to the tenant once committed (the caller then calls ``mail.dispatch()``).
    mail.queue_invoice_issued(invoice)


def emit_invoice_event(event_type: str, invoice: Invoice) -> None:
    """The invoice as the API shows it, with its lines: for finance, the receivable."""
    from ..blueprints.api.serializers import invoice as serialize

    db.session.flush()
    webhooks.emit(event_type, serialize(invoice, with_lines=True))


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
    if to == VOID and (locked.amount_paid_cents or locked.amount_credited_cents
                       or locked.credit_applied_cents):
        db.session.rollback()
        raise Conflict(
            f"invoice {locked.number} has payments, credit notes or credit applied against it; "
            "correct it with a credit note instead of voiding it",
            {"to": "an invoice with money against it cannot be voided"})
    if to == ISSUED:
        from .rollup import draft_is_current  # (rollup imports this module)

        if not draft_is_current(locked):
            period = locked.period_start.strftime("%Y-%m")
            db.session.rollback()
            raise Conflict(
                f"this draft no longer bills what {period} now comes to (a subscription "
                "changed or usage arrived since it was built); rebuild it with a forced "
                f"rollup of {period}, then issue it", {"to": "the draft is out of date"})
    previous = locked.status
    payment = None
    if to == ISSUED:
        issue(locked)
    elif to == PAID:
        from .payments import pay_in_full  # one payment of the whole amount due, dated today

        payment = pay_in_full(locked, user)
    else:
        locked.status, locked.voided_on = VOID, today()
        emit_invoice_event("invoice.voided", locked)
    audit.record(user, f"invoice.{to}", "invoice", locked.id, **{"from": previous},
                 number=locked.number)
    db.session.commit()
    webhooks.dispatch()
    mail.dispatch()  # the issued invoice's email: on the worker, never undoing the issue
    if payment is not None:
        from .payments import payment_recorded

        payment_recorded(payment)
    elif to in (ISSUED, VOID):  # the tax invoice PDF, or its VOID-marked copy
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


def overdue_clause(on: date):
    """SQL for "issued, owes more than 0, due before ``on``": the list filter's rule, the
    same as ``Invoice.is_overdue``."""
    owes = (Invoice.total_cents - Invoice.amount_paid_cents - Invoice.amount_credited_cents
            - Invoice.credit_applied_cents)
    return and_(Invoice.status == ISSUED, Invoice.due_on < on, owes > 0)


# Lists of invoices are newest period first and, within a period, newest first: a stable
# order with a unique last key, read from ix_invoices_period_id / ix_invoices_tenant_period_id.
# By total: ix_invoices_total_id / ix_invoices_tenant_total_id.
INVOICE_SORTS = Sorts({"period": (Invoice.period_start, date), "total": (Invoice.total_cents, CENTS)},
                      "-period", Invoice.id)
INVOICE_ORDER = INVOICE_SORTS.keyset(INVOICE_SORTS.default)
MAX_TENANT_SEARCH = 64
MAX_NUMBER_SEARCH = 32


def tenant_match(search: str, tenant_id_column):
    """The tenant search box: the tenant with exactly that slug, or else every tenant whose
    slug starts with it. A clause on ``tenant_id_column``; no tenant is loaded."""
    search = search.strip().lower()
    if len(search) > MAX_TENANT_SEARCH:
        raise ValidationError({"tenant": f"must be at most {MAX_TENANT_SEARCH} characters"})
    exact = db.session.scalar(select(Tenant.id).where(Tenant.slug == search))
    if exact is not None:
        return tenant_id_column == exact
    return tenant_id_column.in_(
        select(Tenant.id).where(Tenant.slug.startswith(search, autoescape=True)))


def invoice_query(user: User, tenant_slug: str | None = None, period: str | None = None,
                  status: str | None = None, overdue: str | None = None,
                  tenant_search: str | None = None, number_search: str | None = None):
    query = (
        select(Invoice)
        .options(selectinload(Invoice.tenant))
        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
    )
    query = scoped(query, user, Invoice.tenant_id)
    if not user.is_platform_admin:
        query = query.where(Invoice.status.in_(TENANT_VISIBLE), Invoice.number.is_not(None))
    errors = {}
    if tenant_slug:
        query = query.where(Invoice.tenant_id.in_(select(Tenant.id).where(Tenant.slug == tenant_slug)))
    if tenant_search and tenant_search.strip():
        try:
            query = query.where(tenant_match(tenant_search, Invoice.tenant_id))
        except ValidationError as exc:
            errors.update(exc.fields)
    if number_search and number_search.strip():
        number = number_search.strip().upper()
        if len(number) > MAX_NUMBER_SEARCH:
            errors["number"] = f"must be at most {MAX_NUMBER_SEARCH} characters"
        else:  # the number itself (its unique index), or every number that starts with it
            query = query.where(Invoice.number.startswith(number, autoescape=True))
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
    if overdue:
        if overdue not in ("true", "false"):
            errors["overdue"] = "must be true or false"
        clause = overdue_clause(today())
        query = query.where(clause if overdue == "true" else not_(clause))
    if errors:
        raise ValidationError(errors)
    return query


def list_invoices(user: User, cursor=None, page: int | None = None, per_page: int = PER_PAGE,
                  keyset=INVOICE_ORDER, **filters):
    """A page of invoices (a KeysetPage: rows and the older/newer cursors)."""
    return keyset_page(invoice_query(user, **filters), keyset, cursor, page, per_page)


def _due(c):
    """SQL for an invoice row's amount due: ``Invoice.amount_due_cents``'s rule (0 unless issued
    or paid, never below 0)."""
    owes = c.total_cents - c.amount_paid_cents - c.amount_credited_cents - c.credit_applied_cents
    return case((and_(c.status.in_((ISSUED, PAID)), owes > 0), owes), else_=0)


# The list's totals: void invoices are counted but their money is not (nothing is owed on them).
INVOICE_SUMS = {"total": lambda c: case((c.status != VOID, c.total_cents), else_=0), "due": _due}


def list_totals(query, keyset=None, cursor=None):
    return totals(query, INVOICE_SUMS, keyset, cursor)


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
