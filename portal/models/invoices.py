"""Invoices, their lines, rendered PDFs, the gap-free number counter and rollup runs."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..billing.quote import LINE_KINDS
from ..billing.terms import RESOURCE_KINDS
from ..extensions import db
from .columns import in_list, timestamp_now
from .deployments import Deployment
from .tenancy import Tenant
from .usage import Quantity

DRAFT = "draft"
ISSUED = "issued"
PAID = "paid"
VOID = "void"
INVOICE_STATES = (DRAFT, ISSUED, PAID, VOID)
INVOICE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    DRAFT: (ISSUED, VOID),
    ISSUED: (PAID, VOID),
    PAID: (),
    VOID: (),
}
# What a tenant may see: never drafts.
TENANT_VISIBLE = (ISSUED, PAID, VOID)


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(in_list("status", INVOICE_STATES), name="status"),
        CheckConstraint("subtotal_cents + tax_cents = total_cents", name="totals_add_up"),
        CheckConstraint("period_end > period_start", name="period_order"),
        # Issued and paid invoices carry a number, drafts none; a voided one may have either.
        CheckConstraint(
            "(status = 'draft' AND number IS NULL)"
            " OR (status IN ('issued', 'paid') AND number IS NOT NULL) OR status = 'void'",
            name="numbered_once_issued",
        ),
        # One live invoice per tenant and period: the database, not luck, stops a second.
        Index(
            "uq_invoices_tenant_period_live",
            "tenant_id",
            "period_start",
            unique=True,
            postgresql_where=text("status <> 'void'"),
            sqlite_where=text("status <> 'void'"),
        ),
        Index("ix_invoices_period_status", "period_start", "status"),
        # The lists' keyset order (period_start desc, id desc), all tenants and one tenant.
        Index("ix_invoices_period_id", "period_start", "id"),
        Index("ix_invoices_tenant_period_id", "tenant_id", "period_start", "id"),
        # Sorted by total (?sort=total / -total), all tenants and one tenant.
        Index("ix_invoices_total_id", "total_cents", "id"),
        Index("ix_invoices_tenant_total_id", "tenant_id", "total_cents", "id"),
        CheckConstraint(
            "amount_paid_cents >= 0 AND amount_credited_cents >= 0 AND credit_applied_cents >= 0",
            name="settlement_not_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    period_start: Mapped[date]
    period_end: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default=DRAFT)
    issued_on: Mapped[date | None]
    due_on: Mapped[date | None]
    paid_on: Mapped[date | None]
    voided_on: Mapped[date | None]
    created_at: Mapped[datetime] = timestamp_now()
    built_at: Mapped[datetime] = timestamp_now()  # when its lines were last (re)built
    # Seller and bill-to as they were when issued (None on drafts): the tax invoice's parties.
    parties: Mapped[dict | None] = mapped_column(JSON)
    # The tax as issued (None on drafts): a later change of TAX_NAME or TAX_RATE never
    # rewrites an issued tax invoice, and credit notes use the rate it was issued with.
    tax_name: Mapped[str | None] = mapped_column(String(32))
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 6))
    # Money against it, kept under the invoice's row lock (see services/payments.py).
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_credited_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    credit_applied_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    tenant: Mapped[Tenant] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )

    @property
    def owed(self):
        from ..billing.settlement import Owed

        return Owed(self.total_cents, self.amount_paid_cents or 0,
                    self.amount_credited_cents or 0, self.credit_applied_cents or 0)

    @property
    def amount_due_cents(self) -> int:
        """What it still owes (0 for drafts and void ones: nothing is payable on them)."""
        if self.status not in (ISSUED, PAID):
            return 0
        return self.owed.amount_due_cents

    def is_overdue(self, on: date) -> bool:
        return (self.status == ISSUED and self.due_on is not None and self.due_on < on
                and self.amount_due_cents > 0)


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position"),
        CheckConstraint(in_list("kind", LINE_KINDS), name="kind"),
        CheckConstraint(
            f"resource_kind IS NULL OR {in_list('resource_kind', RESOURCE_KINDS)}",
            name="resource_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), index=True)
    resource_kind: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    qty: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    deployment: Mapped[Deployment | None] = relationship()


class InvoiceDocument(db.Model):
    """A rendered PDF: the final one (issued, paid, void) or an admin's DRAFT preview."""

    __tablename__ = "invoice_documents"
    __table_args__ = (UniqueConstraint("invoice_id", "draft"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    draft: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10))  # the invoice's status it shows
    content: Mapped[bytes] = mapped_column(LargeBinary)
    rendered_at: Mapped[datetime] = timestamp_now()
    source_built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What it says about money (paid, credited, credit applied, paid on): a payment or a
    # credit note makes it stale, so it is rendered again.
    source_state: Mapped[str | None] = mapped_column(String(200))


class Counter(db.Model):
    """Gap-free sequences: incremented in the same transaction that uses the value."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class RollupRun(db.Model):
    """One run of the month-end rollup: what it did, so a missed month can be found. A run
    without ``finished_at`` is still going or was abandoned (its worker died): ``job_id``
    (the RQ job that ran it; none when inline) tells which."""

    __tablename__ = "rollup_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(index=True)
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(254))
    job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = timestamp_now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    rebuilt: Mapped[int] = mapped_column(default=0)
    messages: Mapped[list] = mapped_column(JSON, default=list)
