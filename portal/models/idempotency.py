"""Idempotency keys of the JSON API: a POST's first answer, kept 24 hours for its retries."""
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .columns import in_list

RUNNING = "running"
DONE = "done"
IDEMPOTENCY_STATES = (RUNNING, DONE)


class IdempotencyKey(db.Model):
    """One ``Idempotency-Key`` of one API token: claimed while its request runs (``running``),
    then holding the response that request gave (``done``), replayed to retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("token_id", "key"),
        CheckConstraint(in_list("status", IDEMPOTENCY_STATES), name="status"),
        # A finished key always has the response to replay.
        CheckConstraint(
            f"status <> '{DONE}' OR (response_status IS NOT NULL AND response_body IS NOT NULL)",
            name="done_has_response",
        ),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A deleted token takes its keys with it.
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 (hex) of method, path with query string and the raw body bytes.
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    response_status: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_content_type: Mapped[str | None] = mapped_column(String(255))
    # Set from portal.clock in the claim (not a server default), so a frozen clock ages it.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
