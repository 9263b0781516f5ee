"""What the provider reports, as last synced: resources, drift, balance, cost lines, runs."""
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .columns import in_list, timestamp_now
from .deployments import Deployment
from .tenancy import User

RESOURCE_KINDS = ("droplet", "volume")
DRIFT_KINDS = ("untagged", "unknown_deployment", "vanished", "region_changed", "size_changed")
DRIFT_STATES = ("open", "accepted", "resolved")


class ProviderRegion(db.Model):
    """A region as the provider last listed it (GET /v2/regions); each sync replaces the list.
    Empty until the first sync: the portal then offers DigitalOcean's published regions."""

    __tablename__ = "provider_regions"

    slug: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    available: Mapped[bool] = mapped_column(Boolean)
    sizes: Mapped[list] = mapped_column(JSON, default=list)
    features: Mapped[list] = mapped_column(JSON, default=list)
    provider: Mapped[str] = mapped_column(String(20))  # "digitalocean" or "demo"
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProviderResource(db.Model):
    """A droplet or volume as last seen, and what the portal records of it."""

    __tablename__ = "provider_resources"
    __table_args__ = (
        UniqueConstraint("kind", "provider_id"),
        CheckConstraint(in_list("kind", RESOURCE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # "digitalocean" or "demo"
    kind: Mapped[str] = mapped_column(String(10))
    provider_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(32))
    size: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), index=True)
    # The portal's record: the size first seen (or adopted by accepting drift), and whether an
    # admin accepted this resource being untagged or pointing at an unknown deployment.
    recorded_size: Mapped[str] = mapped_column(String(64))
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = timestamp_now()
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vanished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    deployment: Mapped[Deployment | None] = relationship()


class DriftItem(db.Model):
    """A difference between the portal's record and the provider's report."""

    __tablename__ = "drift_items"
    __table_args__ = (
        CheckConstraint(in_list("kind", DRIFT_KINDS), name="kind"),
        CheckConstraint(in_list("status", DRIFT_STATES), name="status"),
        # One open item per resource and kind, however often the sync runs.
        Index("uq_drift_items_open", "resource_id", "kind", unique=True,
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    resource_id: Mapped[int] = mapped_column(ForeignKey("provider_resources.id"), index=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    observed: Mapped[dict] = mapped_column(JSON, default=dict)
    recorded: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[datetime] = timestamp_now()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    resource: Mapped[ProviderResource] = relationship()
    accepted_by: Mapped[User | None] = relationship()


class ProviderBalance(db.Model):
    """The provider's account balance as of one sync (the newest row is the current one)."""

    __tablename__ = "provider_balances"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    month_to_date_usage_cents: Mapped[int] = mapped_column(BigInteger)
    month_to_date_balance_cents: Mapped[int] = mapped_column(BigInteger)
    account_balance_cents: Mapped[int] = mapped_column(BigInteger)
    generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synced_at: Mapped[datetime] = timestamp_now()


class ProviderCostLine(db.Model):
    """One line of the provider's bill (cost of goods), attributed to a deployment if known."""

    __tablename__ = "provider_cost_lines"
    __table_args__ = (
        UniqueConstraint("invoice_ref", "line_no"),
        Index("ix_provider_cost_lines_period", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(10))  # "api" or "csv"
    invoice_ref: Mapped[str] = mapped_column(String(80))  # the provider's invoice uuid, or csv:…
    line_no: Mapped[int]
    period: Mapped[date]  # first day of the billed month
    product: Mapped[str] = mapped_column(String(80))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), index=True)
    imported_at: Mapped[datetime] = timestamp_now()


class SyncRun(db.Model):
    """One part of one sync (inventory or billing): what it did, or why it failed."""

    __tablename__ = "provider_sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    part: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = timestamp_now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
