"""CSV exports for accountants: invoices, their lines, payments and credit notes of a month.

A platform admin exports every tenant's; a tenant user only its own tenant's (the same
scoping as every list). Amounts are in currency units with two decimals (exact, from integer
cents), beside an ISO currency column; dates are ISO 8601. Invoices and their lines belong to
the month they bill; payments and credit notes to the month they are dated in.
"""
import csv
import io
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..billing.labels import kind_label, unit_label
from ..billing.money import format_cents
from ..errors import NotFound
from ..extensions import db
from ..billing.proration import next_month_start
from ..models import CreditNote, Invoice, InvoiceLine, Payment, Tenant, User
from . import invoices as invoice_service
from .scoping import scoped


def amount(cents: int | None) -> str:
    """Cents as "1234.56": no thousands separator, so spreadsheets read it as a number."""
    return "" if cents is None else format_cents(cents).replace(",", "")


def text(value) -> str:
    """A cell a spreadsheet shows as text, never runs: a leading = + - @ (or tab/CR) would
    make Excel or Sheets evaluate a tenant-entered name as a formula."""
    value = "" if value is None else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _issued_invoices(user: User, period: str):
    """The month's invoices that were issued (a draft is no document of account yet)."""
    query = (invoice_service.invoice_query(user, period=period).where(Invoice.number.is_not(None))
             .join(Tenant, Invoice.tenant_id == Tenant.id)  # a spreadsheet reads best by tenant
             .order_by(None).order_by(Invoice.period_start.desc(), Tenant.slug, Invoice.id.desc()))
    return db.session.scalars(query.options(selectinload(Invoice.tenant)))


def invoice_rows(user: User, period: str) -> Iterator[list[str]]:
    yield ["invoice_number", "tenant", "billing_name", "abn", "period_start", "period_end",
           "status", "issued_on", "due_on", "paid_on", "currency", "subtotal", "tax", "total",
           "paid", "credited", "credit_applied", "amount_due"]
    for inv in _issued_invoices(user, period):
        bill_to = (inv.parties or {}).get("bill_to", {})
        yield [inv.number, text(inv.tenant.slug), text(bill_to.get("name")), bill_to.get("abn") or "",
               inv.period_start.isoformat(), inv.period_end.isoformat(), inv.status,
               _iso(inv.issued_on), _iso(inv.due_on), _iso(inv.paid_on), inv.currency,
               amount(inv.subtotal_cents), amount(inv.tax_cents), amount(inv.total_cents),
               amount(inv.amount_paid_cents), amount(inv.amount_credited_cents),
               amount(inv.credit_applied_cents), amount(inv.amount_due_cents)]


def line_rows(user: User, period: str) -> Iterator[list[str]]:
    yield ["invoice_number", "tenant", "period_start", "deployment_id", "deployment",
           "kind", "resource_kind", "description", "qty", "unit", "unit_price", "amount",
           "currency", "resource", "unit_label"]
    invoices = list(_issued_invoices(user, period))
    by_id = {inv.id: inv for inv in invoices}
    lines = db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id.in_(list(by_id)))
        .options(selectinload(InvoiceLine.deployment))
        .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
    ) if by_id else []
    for line in lines:
        inv = by_id[line.invoice_id]
        yield [inv.number, text(inv.tenant.slug), inv.period_start.isoformat(),
               line.deployment_id or "", text(line.deployment.name if line.deployment else ""),
               line.kind, line.resource_kind or "", text(line.description), f"{line.qty:f}",
               line.unit, amount(line.unit_price_cents), amount(line.amount_cents), inv.currency,
               kind_label(line.resource_kind), unit_label(line.unit)]


def _month(period: str):
    start, _ = invoice_service.parse_period(period)
    return start, next_month_start(start)


def payment_rows(user: User, period: str) -> Iterator[list[str]]:
    """Payments received in the month, whatever month their invoice bills."""
    yield ["paid_on", "invoice_number", "tenant", "method", "reference", "amount", "currency",
           "recorded_by"]
    start, end = _month(period)
    query = (select(Payment, Invoice, Tenant)
             .join(Invoice, Payment.invoice_id == Invoice.id)
             .join(Tenant, Payment.tenant_id == Tenant.id)
             .where(Payment.paid_on >= start, Payment.paid_on < end)
             .order_by(Payment.paid_on, Payment.id))
    for pay, inv, tenant in db.session.execute(scoped(query, user, Payment.tenant_id)):
        yield [pay.paid_on.isoformat(), inv.number, text(tenant.slug), pay.method,
               text(pay.reference or ""), amount(pay.amount_cents), inv.currency,
               pay.recorded_by if user.is_platform_admin else ""]


def credit_note_rows(user: User, period: str) -> Iterator[list[str]]:
    """Adjustment notes issued in the month: one row each, with where the credit went."""
    yield ["credit_note_number", "issued_on", "invoice_number", "invoice_issued_on", "tenant",
           "reason", "currency", "subtotal", "tax", "total", "against_invoice", "to_credit_balance",
           "refund", "refunded_on"]
    start, end = _month(period)
    query = (select(CreditNote, Invoice, Tenant)
             .join(Invoice, CreditNote.invoice_id == Invoice.id)
             .join(Tenant, CreditNote.tenant_id == Tenant.id)
             .where(CreditNote.issued_on >= start, CreditNote.issued_on < end)
             .order_by(CreditNote.number))
    for note, inv, tenant in db.session.execute(scoped(query, user, CreditNote.tenant_id)):
        yield [note.number, note.issued_on.isoformat(), inv.number, _iso(inv.issued_on),
               text(tenant.slug), text(note.reason), note.currency, amount(note.subtotal_cents),
               amount(note.tax_cents), amount(note.total_cents), amount(note.against_invoice_cents),
               amount(note.to_balance_cents), amount(note.refund_cents), _iso(note.refunded_on)]


def _iso(value) -> str:
    return value.isoformat() if value else ""


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    rows: Callable[[User, str], Iterable[list[str]]]


DATASETS = {d.name: d for d in (
    Dataset("invoices", "Invoices", invoice_rows),
    Dataset("lines", "Invoice lines", line_rows),
    Dataset("payments", "Payments", payment_rows),
    Dataset("credit_notes", "Credit notes", credit_note_rows),
)}


def export_csv(user: User, dataset: str, period) -> tuple[str, str]:
    """→ (file name, CSV text) of ``dataset`` for the month ``period`` (YYYY-MM)."""
    if dataset not in DATASETS:
        raise NotFound(f"no export {dataset}")
    start, _ = invoice_service.parse_period(period)  # 422 on a bad month
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(DATASETS[dataset].rows(user, start.strftime("%Y-%m")))
    return f"arcadia-{dataset}-{start:%Y-%m}.csv", out.getvalue()
