"""Metered usage events, keyed by the sender's event_id (the idempotency key)."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ..billing.terms import RESOURCE_KINDS
from ..extensions import db
from .columns import in_list, timestamp_now

# Base units with up to six decimals (a fraction of a GB), large enough for token counts.
Quantity = Numeric(24, 6)


class UsageEvent(db.Model):
    __tablename__ = "usage_events"
    __table_args__ = (
        CheckConstraint(in_list("resource_kind", RESOURCE_KINDS), name="resource_kind"),
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        # The rollup's aggregate reads by deployment and time window.
        Index("ix_usage_events_deployment_time", "deployment_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    resource_kind: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = timestamp_now()


class UsageDaily(db.Model):
    """Usage per deployment, resource kind and UTC day, kept at ingest in the same transaction
    as the events it counts (only newly stored events add to it). The raw events stay the
    source of truth: ``flask usage rebuild-aggregates`` recomputes this table from them."""
    __tablename__ = "usage_daily"
    __table_args__ = (
        CheckConstraint(in_list("resource_kind", RESOURCE_KINDS), name="resource_kind"),
        CheckConstraint("events > 0", name="events_positive"),
    )

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    resource_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # Both figures for every kind: the reader picks the sum (counters) or the peak (gauges).
    total_qty: Mapped[Decimal] = mapped_column(Numeric(38, 6))
    peak_qty: Mapped[Decimal] = mapped_column(Quantity)
    events: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
