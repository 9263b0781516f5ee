"""Deployments, their state transitions, and subscriptions with snapshotted addons."""
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..billing.terms import RESOURCE_KINDS, AddonTerms
from ..extensions import db
from .catalog import Addon, PlanVersion
from .columns import in_list, timestamp_now
from .tenancy import Tenant, User

REQUESTED = "requested"
PROVISIONING = "provisioning"
ACTIVE = "active"
SUSPENDED = "suspended"
FAILED = "failed"
DECOMMISSIONED = "decommissioned"
STATES = (REQUESTED, PROVISIONING, ACTIVE, SUSPENDED, FAILED, DECOMMISSIONED)
# The contract's state machine: from each state, where it may go.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    REQUESTED: (PROVISIONING,),
    PROVISIONING: (ACTIVE, FAILED),
    ACTIVE: (SUSPENDED, DECOMMISSIONED),
    SUSPENDED: (ACTIVE, DECOMMISSIONED),
    FAILED: (DECOMMISSIONED,),
    DECOMMISSIONED: (),
}


class Deployment(db.Model):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(in_list("status", STATES), name="status"),
        # The list's sorted keyset orders (services/deployments.DEPLOYMENT_SORTS); a tenant's
        # own list reads the (tenant_id, name) unique index or tenant_id's.
        Index("ix_deployments_name_id", "name", "id"),
        Index("ix_deployments_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default=REQUESTED)
    created_at: Mapped[datetime] = timestamp_now()

    tenant: Mapped[Tenant] = relationship()
    subscriptions: Mapped[list["Subscription"]] = relationship(
        back_populates="deployment", order_by="Subscription.starts_on"
    )
    transitions: Mapped[list["DeploymentTransition"]] = relationship(
        back_populates="deployment", order_by="DeploymentTransition.id"
    )


class DeploymentTransition(db.Model):
    """One explicit state change: who made it and when (creation has no from_status)."""

    __tablename__ = "deployment_transitions"
    __table_args__ = (
        CheckConstraint(in_list("to_status", STATES), name="to_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = timestamp_now()

    deployment: Mapped[Deployment] = relationship(back_populates="transitions")
    actor_user: Mapped[User | None] = relationship()


class Subscription(db.Model):
    """A deployment's subscription to one plan version; bills starts_on through ends_on."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        # At most one open subscription per deployment, enforced by the database.
        Index(
            "uq_subscriptions_open_per_deployment",
            "deployment_id",
            unique=True,
            postgresql_where=text("ends_on IS NULL"),
            sqlite_where=text("ends_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    plan_version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]  # the last billed day, inclusive
    created_at: Mapped[datetime] = timestamp_now()

    deployment: Mapped[Deployment] = relationship(back_populates="subscriptions")
    plan_version: Mapped[PlanVersion] = relationship()
    addons: Mapped[list["SubscriptionAddon"]] = relationship(
        back_populates="subscription", order_by="SubscriptionAddon.id"
    )


class SubscriptionAddon(db.Model):
    """An addon on a subscription, with its price and quantity as they were when sold."""

    __tablename__ = "subscription_addons"
    __table_args__ = (
        UniqueConstraint("subscription_id", "addon_id"),
        CheckConstraint(in_list("resource_kind", RESOURCE_KINDS), name="resource_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    addon_id: Mapped[int] = mapped_column(ForeignKey("addons.id"))
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    resource_kind: Mapped[str] = mapped_column(String(32))
    qty: Mapped[int] = mapped_column(BigInteger)

    subscription: Mapped[Subscription] = relationship(back_populates="addons")
    addon: Mapped[Addon] = relationship()

    def terms(self) -> AddonTerms:
        return AddonTerms(
            code=self.addon.code,
            name=self.name,
            price_cents=self.price_cents,
            resource_kind=self.resource_kind,
            qty=self.qty,
        )
