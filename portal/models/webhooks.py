"""Webhooks: endpoints, the outbox of events, and each delivery with its attempts.

An event and its deliveries are written in the same transaction as what happened, so a crash
never loses one (it is still pending) nor invents one (it rolled back with the change). The
event's ``xid`` orders it among events written by transactions that commit out of order.
"""
from datetime import datetime

from sqlalchemy import (JSON, CheckConstraint, DateTime, ForeignKey, Index, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .columns import TransactionId, in_list, timestamp_now

EVENT_TYPES = ("invoice.issued", "invoice.paid", "invoice.voided", "payment.recorded",
               "credit_note.issued", "drift.opened", "rollup.finished")
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
DELIVERY_STATES = (PENDING, SUCCEEDED, FAILED)


class Webhook(db.Model):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)
    # Kept to sign each delivery (HMAC needs the key itself); shown once, at creation.
    secret: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = timestamp_now()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEvent(db.Model):
    __tablename__ = "webhook_events"
    __table_args__ = (CheckConstraint(in_list("type", EVENT_TYPES), name="type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The transaction that wrote it (PostgreSQL: ``pg_current_xact_id()``, set by the database;
    # NULL on SQLite). Events are delivered in (xid, id) order once that transaction has
    # finished, so one committed late never arrives after a later one (services.webhooks).
    xid: Mapped[int | None] = mapped_column(TransactionId(),
                                            server_default=text("pg_current_xact_id()"))
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # "evt_…": receivers dedupe on it
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = timestamp_now()
    data: Mapped[dict] = mapped_column(JSON)


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        CheckConstraint(in_list("status", DELIVERY_STATES), name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # A webhook's deliveries of one status, newest event first (the page's and the API's
        # status filter, keyset by event) and its failed ones in event order (redeliver all).
        Index("ix_webhook_deliveries_webhook_status_event", "webhook_id", "status", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))  # in order per webhook
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = timestamp_now()
    last_status_code: Mapped[int | None]
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = timestamp_now()

    webhook: Mapped[Webhook] = relationship()
    event: Mapped[WebhookEvent] = relationship()
    attempt_log: Mapped[list["WebhookAttempt"]] = relationship(
        order_by="WebhookAttempt.id", cascade="all, delete-orphan")


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = timestamp_now()
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
