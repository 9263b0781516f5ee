"""Factories: plain callables with sensible defaults (need the ``database`` fixture)."""
import itertools
from datetime import date

from portal.extensions import db
from portal.models import Addon, Plan, PlanItem, PlanVersion
from portal.models.tenancy import PLATFORM_ADMIN
from portal.services import accounts

_seq = itertools.count(1)
PASSWORD = "password123"


def make_tenant(slug: str | None = None, name: str | None = None, **billing):
    n = next(_seq)
    return accounts.create_tenant(slug or f"tenant-{n}", name or f"Tenant {n}", **billing)


def make_user(role: str = PLATFORM_ADMIN, tenant=None, email: str | None = None,
              password: str = PASSWORD):
    if tenant is None and role != PLATFORM_ADMIN:
        tenant = make_tenant()
    return accounts.create_user(
        email or f"user{next(_seq)}@example.com", role, password, tenant.slug if tenant else None
    )


def make_plan(code: str | None = None, base_price_cents: int = 1000, currency: str = "AUD",
              effective_from: date = date(2026, 1, 1), version: int = 1, items=(), plan=None):
    """``items``: (resource_kind, included_qty, overage_price_cents, overage_unit, hard_cap)."""
    if plan is None:
        code = code or f"plan-{next(_seq)}"
        plan = Plan(code=code, name=code.title())
        db.session.add(plan)
    pv = PlanVersion(plan=plan, version=version, base_price_cents=base_price_cents,
                     currency=currency, effective_from=effective_from)
    db.session.add(pv)
    for kind, included, price, unit, cap in items:
        db.session.add(PlanItem(plan_version=pv, resource_kind=kind, included_qty=included,
                                overage_price_cents=price, overage_unit=unit, hard_cap_qty=cap))
    db.session.commit()
    return pv


def make_addon(code: str | None = None, price_cents: int = 100, resource_kind: str = "spaces_gb",
               qty: int = 10, currency: str = "AUD"):
    code = code or f"addon-{next(_seq)}"
    addon = Addon(code=code, name=code.title(), price_cents=price_cents, currency=currency,
                  resource_kind=resource_kind, qty=qty)
    db.session.add(addon)
    db.session.commit()
    return addon
