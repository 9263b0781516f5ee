"""Tenants, users, API tokens, sign-in attempts and the audit log."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .columns import in_list, timestamp_now

PLATFORM_ADMIN = "platform_admin"
TENANT_ADMIN = "tenant_admin"
TENANT_VIEWER = "tenant_viewer"
ROLES = (PLATFORM_ADMIN, TENANT_ADMIN, TENANT_VIEWER)
TENANT_ROLES = (TENANT_ADMIN, TENANT_VIEWER)


class Tenant(db.Model):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("credit_balance_cents >= 0", name="credit_balance"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The billing profile printed on invoices.
    billing_name: Mapped[str] = mapped_column(String(200))
    billing_address: Mapped[str] = mapped_column(Text, default="")
    abn: Mapped[str | None] = mapped_column(String(14))
    # Where its invoices, credit notes and reminders are emailed (none: recorded as not sent).
    billing_email: Mapped[str | None] = mapped_column(String(254))
    # What credit notes took off settled invoices, waiting to be applied to the next ones.
    credit_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = timestamp_now()


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(in_list("role", ROLES), name="role"),
        # A platform admin belongs to no tenant; a tenant user to exactly one.
        CheckConstraint(
            f"(role = '{PLATFORM_ADMIN}' AND tenant_id IS NULL)"
            f" OR (role <> '{PLATFORM_ADMIN}' AND tenant_id IS NOT NULL)",
            name="role_tenant",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of what a session cookie holds (``get_id``): raising it ends every session at once.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = timestamp_now()
    # An invited user has no password until it follows its link (``accepted_at`` then).
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tenant: Mapped[Tenant | None] = relationship()

    def get_id(self) -> str:  # what Flask-Login keeps in the session (and a remember cookie)
        return f"{self.id}:{self.session_generation}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_platform_admin(self) -> bool:
        return self.role == PLATFORM_ADMIN

    @property
    def invitation_pending(self) -> bool:
        """Invited and not yet accepted (no password of its own yet)."""
        return self.invited_at is not None and self.accepted_at is None


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = timestamp_now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: never
    # Written at most once a minute per token, not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


LINK_INVITE = "invite"
LINK_RESET = "reset"
LINK_PURPOSES = (LINK_INVITE, LINK_RESET)


class UserLink(db.Model):
    """A single-use link emailed to a user: an invitation or a password reset. Only the
    SHA-256 of its token is stored; the token itself is only in the email."""

    __tablename__ = "user_links"
    __table_args__ = (CheckConstraint(in_list("purpose", LINK_PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = timestamp_now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class LoginAttempt(db.Model):
    """A failed sign-in, kept for throttling (cleared for the email on success)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = timestamp_now()


class AuditEntry(db.Model):
    """Who did what to which object, and when. Written in the same transaction as the act."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_actor", "actor"),  # the log's filters
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = timestamp_now()
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(254))  # email, or "cli" / "scheduler"
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None]
    details: Mapped[dict] = mapped_column(JSON, default=dict)
