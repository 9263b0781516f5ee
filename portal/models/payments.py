"""Money against invoices: payments, credit notes (adjustment notes) and credit applied."""
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .columns import in_list, timestamp_now
from .invoices import Invoice, InvoiceLine
from .tenancy import Tenant

PAYMENT_METHODS = ("bank_transfer", "card", "other")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="positive"),
        CheckConstraint(in_list("method", PAYMENT_METHODS), name="method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date]
    method: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = timestamp_now()

    invoice: Mapped[Invoice] = relationship()


class CreditNote(db.Model):
    """An adjustment note: never a draft, numbered from its own gap-free sequence."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("subtotal_cents + tax_cents = total_cents", name="totals_add_up"),
        CheckConstraint("subtotal_cents > 0 AND tax_cents >= 0", name="positive"),
        # Where its total went: off what the invoice owed, to the tenant's credit balance, or
        # owed back as a refund; the three always add up to the total.
        CheckConstraint(
            "against_invoice_cents >= 0 AND to_balance_cents >= 0 AND refund_cents >= 0"
            " AND against_invoice_cents + to_balance_cents + refund_cents = total_cents",
            name="split_adds_up",
        ),
        CheckConstraint("refunded_on IS NULL OR refund_cents > 0", name="refunded_only_if_owed"),
        Index("ix_credit_notes_tenant_id_id", "tenant_id", "id"),  # one tenant's list, by cursor
        Index("ix_credit_notes_total_id", "total_cents", "id"),  # sorted by total
        Index("ix_credit_notes_tenant_total_id", "tenant_id", "total_cents", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    issued_on: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    against_invoice_cents: Mapped[int] = mapped_column(BigInteger)
    to_balance_cents: Mapped[int] = mapped_column(BigInteger)
    refund_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_on: Mapped[date | None]
    created_at: Mapped[datetime] = timestamp_now()

    invoice: Mapped[Invoice] = relationship()
    tenant: Mapped[Tenant] = relationship()
    lines: Mapped[list["CreditNoteLine"]] = relationship(
        back_populates="credit_note", order_by="CreditNoteLine.position",
        cascade="all, delete-orphan")


class CreditNoteLine(db.Model):
    __tablename__ = "credit_note_lines"
    __table_args__ = (
        UniqueConstraint("credit_note_id", "position"),
        CheckConstraint("amount_cents > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True)
    invoice_line_id: Mapped[int] = mapped_column(ForeignKey("invoice_lines.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")
    invoice_line: Mapped[InvoiceLine] = relationship()


class CreditAllocation(db.Model):
    """Part of a tenant's credit balance applied to what an invoice owes."""

    __tablename__ = "credit_allocations"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    applied_on: Mapped[date]
    created_at: Mapped[datetime] = timestamp_now()
