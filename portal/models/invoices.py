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

    tenant: Mapped[Tenant] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )


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
