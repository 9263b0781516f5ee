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


def make_deployment(tenant=None, name: str | None = None, region: str = "syd1",
                    status: str = "active", plan_code: str | None = None, addons=(),
                    starts_on: date | None = None, ends_on: date | None = None):
    """A deployment in ``status``, optionally subscribed (the catalog must hold ``plan_code``)."""
    from portal.models import Deployment, Subscription, SubscriptionAddon
    from portal.services import catalog

    tenant = tenant or make_tenant()
    deployment = Deployment(tenant=tenant, name=name or f"dep-{next(_seq)}", region=region,
                            status=status)
    db.session.add(deployment)
    if plan_code:
        version = catalog.version_in_effect(catalog.plan_by_code(plan_code), starts_on)
        sub = Subscription(deployment=deployment, plan_version=version, starts_on=starts_on,
                           ends_on=ends_on)
        db.session.add(sub)
        for addon in catalog.addons_by_code(addons).values():
            db.session.add(SubscriptionAddon(subscription=sub, addon=addon, name=addon.name,
                                             price_cents=addon.price_cents,
                                             resource_kind=addon.resource_kind, qty=addon.qty))
    db.session.commit()
    return deployment


def hourly_events(deployment_id: int, kind: str, start, hours: int, quantity=1, prefix="e"):
    """One event an hour from ``start`` (a datetime), as the API takes them."""
    from datetime import timedelta

    return [
        {"event_id": f"{prefix}-{deployment_id}-{kind}-{h}", "deployment_id": deployment_id,
         "resource_kind": kind, "quantity": quantity,
         "occurred_at": (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for h in range(hours)
    ]


def pdf_text(content: bytes) -> str:
    """A PDF's text as poppler's pdftotext lays it out."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(content)
        f.flush()
        return subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True,
                              text=True, check=True).stdout
