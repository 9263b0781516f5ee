"""Outgoing email: every message is recorded, sent or not, with why not."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .columns import in_list, timestamp_now
from .invoices import Invoice
from .tenancy import Tenant

# What a message is about. Invitations and password resets are listed already, so adding
# those mails needs no migration.
INVOICE_ISSUED = "invoice_issued"
CREDIT_NOTE_ISSUED = "credit_note_issued"
REMINDER = "reminder"
INVITATION = "invitation"
PASSWORD_RESET = "password_reset"
MAIL_KINDS = (INVOICE_ISSUED, CREDIT_NOTE_ISSUED, REMINDER, INVITATION, PASSWORD_RESET)

QUEUED = "queued"      # waiting for the worker (also between retries)
SENT = "sent"
NOT_SENT = "not_sent"  # deliberately not sent: no mail server, no address, no longer due
FAILED = "failed"      # the server refused it, or every retry failed
SKIPPED = "skipped"    # a reminder stage overtaken by a later one (the job missed its day)
MAIL_STATES = (QUEUED, SENT, NOT_SENT, FAILED, SKIPPED)
FINAL_STATES = (SENT, NOT_SENT, FAILED, SKIPPED)


class MailMessage(db.Model):
    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint(in_list("kind", MAIL_KINDS), name="kind"),
        CheckConstraint(in_list("status", MAIL_STATES), name="status"),
        CheckConstraint("(kind = 'reminder') = (stage IS NOT NULL)", name="stage_for_reminders"),
        # Each reminder stage of an invoice once: concurrent or repeated runs cannot send twice.
        Index("uq_email_messages_reminder_stage", "invoice_id", "kind", "stage", unique=True,
              postgresql_where=text("stage IS NOT NULL"), sqlite_where=text("stage IS NOT NULL")),
        Index("ix_email_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = timestamp_now()
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # [{"filename", "document", "id"}]: built when sent (see services.mail.ATTACHMENT_BUILDERS).
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    stage: Mapped[int | None]  # reminders: days after the due date
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text)  # the last failure, or why not sent
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    invoice: Mapped[Invoice | None] = relationship()
    tenant: Mapped[Tenant | None] = relationship()
