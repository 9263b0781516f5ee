"""Plans, their versions and items, and addons."""
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..billing.terms import RESOURCE_KINDS, UNIT_FACTORS, AddonTerms, PlanItemTerms, PlanTerms
from ..extensions import db
from .columns import in_list, timestamp_now


class Plan(db.Model):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = timestamp_now()

    versions: Mapped[list["PlanVersion"]] = relationship(
        back_populates="plan", order_by="PlanVersion.effective_from"
    )


class PlanVersion(db.Model):
    __tablename__ = "plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        UniqueConstraint("plan_id", "effective_from"),
        CheckConstraint("base_price_cents >= 0", name="base_price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    version: Mapped[int]
    base_price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date]
    created_at: Mapped[datetime] = timestamp_now()

    plan: Mapped[Plan] = relationship(back_populates="versions")
    items: Mapped[list["PlanItem"]] = relationship(
        back_populates="plan_version", order_by="PlanItem.resource_kind"
    )

    def terms(self) -> PlanTerms:
        return PlanTerms(
            plan_code=self.plan.code,
            plan_name=self.plan.name,
            version=self.version,
            currency=self.currency,
            base_price_cents=self.base_price_cents,
            effective_from=self.effective_from,
            items=tuple(item.terms() for item in self.items),
        )


class PlanItem(db.Model):
    __tablename__ = "plan_items"
    __table_args__ = (
        UniqueConstraint("plan_version_id", "resource_kind"),
        CheckConstraint(in_list("resource_kind", RESOURCE_KINDS), name="resource_kind"),
        CheckConstraint(in_list("overage_unit", UNIT_FACTORS), name="overage_unit"),
        CheckConstraint(
            "included_qty >= 0 AND overage_price_cents >= 0"
            " AND (hard_cap_qty IS NULL OR hard_cap_qty >= 0)",
            name="nonnegative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id"))
    resource_kind: Mapped[str] = mapped_column(String(32))
    included_qty: Mapped[int] = mapped_column(BigInteger)
    overage_price_cents: Mapped[int] = mapped_column(BigInteger)
    overage_unit: Mapped[str] = mapped_column(String(16))
    hard_cap_qty: Mapped[int | None] = mapped_column(BigInteger)

    plan_version: Mapped[PlanVersion] = relationship(back_populates="items")

    def terms(self) -> PlanItemTerms:
        return PlanItemTerms(
            resource_kind=self.resource_kind,
            included_qty=self.included_qty,
            overage_price_cents=self.overage_price_cents,
            overage_unit=self.overage_unit,
            hard_cap_qty=self.hard_cap_qty,
        )


class Addon(db.Model):
    __tablename__ = "addons"
    __table_args__ = (
        CheckConstraint(in_list("resource_kind", RESOURCE_KINDS), name="resource_kind"),
        CheckConstraint("price_cents >= 0 AND qty >= 0", name="nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    resource_kind: Mapped[str] = mapped_column(String(32))
    qty: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = timestamp_now()
    # Retired from sale: no new quote or subscription takes it; existing ones keep it.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def terms(self) -> AddonTerms:
        return AddonTerms(
            code=self.code,
            name=self.name,
            price_cents=self.price_cents,
            resource_kind=self.resource_kind,
            qty=self.qty,
        )
