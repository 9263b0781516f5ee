"""Deployments: creation, the state machine, subscriptions."""
from datetime import date
from typing import Any, Mapping

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..billing.proration import month_start
from ..clock import today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..models import (
    Deployment,
    DeploymentTransition,
    PlanVersion,
    Subscription,
    SubscriptionAddon,
    Tenant,
    User,
)
from ..models.deployments import DECOMMISSIONED, REQUESTED, STATES, TRANSITIONS
from ..permissions import check, check_transition, may_transition_to
from . import accounts, audit, regions
from .invoices import tenant_match
from .paging import Sorts, Totals, totals
from .quotes import resolve_addons, resolve_plan_version
from .scoping import get_visible, scoped
from .validation import FieldError, Fields, iso_date, list_of_codes, record_id, text

DEPLOYMENT_FIELDS = {"name", "region", "tenant_id", "tenant"}
SUBSCRIBE_FIELDS = {"plan_code", "addons", "starts_on"}


# The list's orders: by creation (the id: the order they were made in; newest first by
# default, so what was just requested is on top), by name and by status, each then by id; read
# from the primary key, ix_deployments_name_id and ix_deployments_status_id (a tenant's own few
# rows from tenant_id's index).
DEPLOYMENT_SORTS = Sorts({"name": (Deployment.name, str), "created": (Deployment.id, int),
                          "status": (Deployment.status, str)}, "-created", Deployment.id)
DEPLOYMENT_ORDER = DEPLOYMENT_SORTS.keyset(DEPLOYMENT_SORTS.default)
# The API's list keeps the order it always had (by name, then id) unless ``sort`` says otherwise.
API_DEPLOYMENT_SORTS = Sorts(DEPLOYMENT_SORTS.fields, "name", Deployment.id)
MAX_NAME_SEARCH = 100


def deployments_query(user: User, tenant_slug: str | None = None, tenant_search: str | None = None,
                      status: str | None = None, region: str | None = None,
                      name_search: str | None = None, loads=None):
    """The deployments ``user`` may see, filtered; a 422 names each bad filter. ``tenant_slug``
    is an exact slug (the API's filter), ``tenant_search`` the page's box (a slug or its start),
    ``name_search`` any part of the name, in any case. ``loads``: what each row brings along
    (default: everything the API shows; the page's rows need less, see ``list_loads``)."""
    query = scoped(select(Deployment).options(*(loads or _loads())), user, Deployment.tenant_id) \
        .order_by(Deployment.name, Deployment.id)  # the API's order; the page's is a keyset
    errors = {}
    if tenant_slug:
        query = query.where(Deployment.tenant_id.in_(select(Tenant.id).where(Tenant.slug == tenant_slug)))
    if tenant_search and tenant_search.strip():
        try:
            query = query.where(tenant_match(tenant_search, Deployment.tenant_id))
        except ValidationError as exc:
            errors.update(exc.fields)
    if status:
        if status not in STATES:
            errors["status"] = f"must be one of {', '.join(STATES)}"
        query = query.where(Deployment.status == status)
    if region:
        if len(region) > 32:
            errors["region"] = "must be at most 32 characters"
        query = query.where(Deployment.region == region)
    if name_search and name_search.strip():
        if len(name_search.strip()) > MAX_NAME_SEARCH:
            errors["name"] = f"must be at most {MAX_NAME_SEARCH} characters"
        query = query.where(Deployment.name.icontains(name_search.strip(), autoescape=True))
    if errors:
        raise ValidationError(errors)
    return query


def list_filters(args: Mapping[str, str]) -> dict:
    """The list's filters that the page and the API read alike from their query strings:
    ``status``, ``region`` and ``name`` (any part of it); blank is no filter."""
    return {"status": args.get("status") or None, "region": args.get("region") or None,
            "name_search": args.get("name") or None}


def list_deployments(user: User, tenant_slug: str | None = None) -> list[Deployment]:
    return list(db.session.scalars(deployments_query(user, tenant_slug)))


def deployment_count(query, keyset=None, cursor=None) -> Totals:
    """How many deployments the list's filters select, and how many come before the page
    (the list summary's count and position): no money on a deployment, so no sums."""
    return totals(query, {}, keyset, cursor)


def list_loads():
    """The list page's rows: the tenant and each subscription's plan (not its addons)."""
    return (
        selectinload(Deployment.tenant),
        selectinload(Deployment.subscriptions).selectinload(Subscription.plan_version)
        .selectinload(PlanVersion.plan),
    )


def _loads():
    return (
        selectinload(Deployment.tenant),
        selectinload(Deployment.subscriptions).selectinload(Subscription.addons)
        .selectinload(SubscriptionAddon.addon),
        selectinload(Deployment.subscriptions).selectinload(Subscription.plan_version)
        .selectinload(PlanVersion.plan),
    )


def get_deployment(user: User, deployment_id: int) -> Deployment:
    return get_visible(Deployment, deployment_id, user, what="deployment")


def current_subscription(deployment: Deployment) -> Subscription | None:
    """The open subscription, else the latest one (ended) — what the API shows."""
    subs = deployment.subscriptions
    open_subs = [s for s in subs if s.ends_on is None]
    if open_subs:
        return open_subs[-1]
    return subs[-1] if subs else None


def create_deployment(user: User, data: Mapping[str, Any]) -> Deployment:
    """An admin creates one for any tenant (``tenant_id`` or ``tenant`` slug); a tenant_admin
    requests one for its own tenant. It starts ``requested``, in one of the provider's
    available regions (services/regions.py)."""
    fields = Fields(data, allowed=DEPLOYMENT_FIELDS)
    name = fields.get("name", lambda v: text(v, 100))
    region = fields.get("region", lambda v: text(v, 32))
    if region is not None and (problem := regions.region_problem(region)):
        fields.add("region", problem)
    tenant = None
    if user.is_platform_admin:
        tenant = _tenant_from(fields)
    elif "tenant_id" in data or "tenant" in data:
        named = data.get("tenant_id", data.get("tenant"))
        if named not in (user.tenant_id, user.tenant.slug):
            fields.add("tenant", "you may only request deployments for your own tenant")
        tenant = user.tenant
    else:
        tenant = user.tenant
    fields.done()
    deployment = Deployment(tenant=tenant, name=name, region=region, status=REQUESTED)
    db.session.add(deployment)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{tenant.slug} already has a deployment named {name!r}",
                       {"name": "already exists for this tenant"}) from None
    db.session.add(DeploymentTransition(deployment=deployment, from_status=None,
                                        to_status=REQUESTED, actor_user_id=user.id,
                                        actor=user.email))
    audit.record(user, "deployment.create", "deployment", deployment.id,
                 tenant=tenant.slug, name=name, region=region)
    db.session.commit()
    return deployment


def _tenant_from(fields: Fields) -> Tenant | None:
    data = fields.data
    if "tenant_id" in data and data["tenant_id"] is not None:
        value = data["tenant_id"]
        try:
            record_id(value)
        except FieldError as exc:
            fields.add("tenant_id", str(exc))
            return None
        tenant = db.session.get(Tenant, value)
        if tenant is None:
            fields.add("tenant_id", f"unknown tenant {value}")
        return tenant
    if "tenant" in data and data["tenant"] is not None:
        slug = data["tenant"]
        tenant = accounts.tenant_by_slug(slug) if isinstance(slug, str) else None
        if tenant is None:
            fields.add("tenant", f"unknown tenant {slug!r}")
        return tenant
    fields.add("tenant_id", "is required (or tenant, its slug)")
    return None


def transition(user: User, deployment_id: int, data: Mapping[str, Any]) -> Deployment:
    """Move a deployment along the state machine; 409 names the allowed moves.

    Another tenant's deployment is 404 first; then the role (permissions.check_transition):
    platform admins make every move, a tenant_admin only decommissions, a tenant_viewer none.
    Decommissioning ends the running subscription: that day is its last billed day.
    """
    deployment = get_deployment(user, deployment_id)  # 404 before 403: nothing leaks
    check_transition(user)  # a role that moves nothing: 403 whatever the body
    fields = Fields(data, allowed={"to"})
    to = fields.get("to", lambda v: text(v, 20))
    fields.done()
    check_transition(user, to)
    # Lock the row: two transitions at once must not both pass the check.
    deployment = db.session.scalar(
        select(Deployment).where(Deployment.id == deployment.id).with_for_update()
        .execution_options(populate_existing=True)
    )
    allowed = TRANSITIONS[deployment.status]
    if to not in allowed:
        raise Conflict(
            f"cannot go from {deployment.status} to {to}; allowed: "
            + (", ".join(allowed) if allowed else f"none ({deployment.status} is final)"),
            {"to": f"allowed: {', '.join(allowed) or 'none'}"},
        )
    previous = deployment.status
    deployment.status = to
    db.session.add(DeploymentTransition(deployment=deployment, from_status=previous,
                                        to_status=to, actor_user_id=user.id, actor=user.email))
    if to == DECOMMISSIONED:
        for sub in list(deployment.subscriptions):
            if sub.ends_on is not None and sub.ends_on <= today():
                continue  # already over (an end set for later comes forward to today)
            if sub.starts_on > today():
                # It never began: cancel it rather than bill a day that never ran.
                audit.record(user, "subscription.cancel", "subscription", sub.id,
                             starts_on=sub.starts_on.isoformat())
                for addon in sub.addons:
                    db.session.delete(addon)
                db.session.delete(sub)
            else:
                sub.ends_on = today()  # the last billed day
    audit.record(user, "deployment.transition", "deployment", deployment.id,
                 **{"from": previous, "to": to})
    db.session.commit()
    return deployment


def subscribe(user: User, deployment_id: int, data: Mapping[str, Any]) -> Subscription:
    """Admin: subscribe a deployment to the plan version in effect on ``starts_on``.

    Addon price and quantity are snapshotted; ``starts_on`` may lie in the past.
    """
    deployment = get_deployment(user, deployment_id)  # 404 before 403: nothing leaks
    check(user, "deployments.subscribe")
    fields = Fields(data, allowed=SUBSCRIBE_FIELDS)
    plan_code = fields.get("plan_code", text)
    starts_on = fields.get("starts_on", iso_date)
    codes = fields.get("addons", list_of_codes, required=False, default=[])
    version = resolve_plan_version(plan_code, starts_on, fields)
    addons = resolve_addons(codes or [], fields, version.currency if version else None)
    fields.done()
    # Lock, then check on fresh data: a decommission committed meanwhile must be seen.
    deployment = db.session.scalar(
        select(Deployment).where(Deployment.id == deployment.id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if deployment.status == DECOMMISSIONED:
        db.session.rollback()
        raise Conflict("a decommissioned deployment cannot be subscribed")
    running = [s for s in deployment.subscriptions if s.ends_on is None]
    if running:
        raise Conflict(f"deployment {deployment.id} already has a running subscription "
                       f"(id {running[0].id})")
    ended = [s for s in deployment.subscriptions if s.ends_on is not None and s.ends_on >= starts_on]
    if ended:
        raise Conflict(f"starts_on overlaps subscription {ended[-1].id}, billed through "
                       f"{ended[-1].ends_on.isoformat()}", {"starts_on": "overlaps an earlier subscription"})
    # Backdated into a month already issued, its days there would never be billed (the month's
    # rollup skips an invoiced tenant): refused, as a backdated change or end is.
    from .subscriptions import refuse_invoiced

    refuse_invoiced(deployment.tenant_id, starts_on, "starts_on", lock=True)
    _refuse_second_currency(deployment, version, starts_on)
    sub = Subscription(deployment=deployment, plan_version=version, starts_on=starts_on)
    db.session.add(sub)
    for addon in addons:
        db.session.add(SubscriptionAddon(subscription=sub, addon=addon, name=addon.name,
                                         price_cents=addon.price_cents,
                                         resource_kind=addon.resource_kind, qty=addon.qty))
    try:
        db.session.flush()
    except IntegrityError:  # the open-subscription index: a concurrent subscribe won
        db.session.rollback()
        raise Conflict(f"deployment {deployment_id} already has a running subscription") from None
    audit.record(user, "deployment.subscribe", "deployment", deployment.id,
                 subscription=sub.id, plan=plan_code, version=version.version,
                 addons=[a.code for a in addons], starts_on=starts_on.isoformat())
    db.session.commit()
    return sub


def _refuse_second_currency(deployment: Deployment, version, starts_on: date) -> None:
    """422 on ``plan_code`` when another of the tenant's subscriptions bills a month this one
    would, in another currency: a tenant's month is one invoice, in one currency, and the
    rollup could bill neither. The tenant row is locked first, so two subscriptions made at
    once are checked one after the other."""
    db.session.execute(select(Tenant.id).where(Tenant.id == deployment.tenant_id)
                       .with_for_update(key_share=True))
    other = db.session.execute(
        select(PlanVersion.currency, Deployment.name)
        .join(Subscription, Subscription.plan_version_id == PlanVersion.id)
        .join(Deployment, Subscription.deployment_id == Deployment.id)
        .where(Deployment.tenant_id == deployment.tenant_id, Deployment.id != deployment.id,
               PlanVersion.currency != version.currency,
               or_(Subscription.ends_on.is_(None),
                   Subscription.ends_on >= month_start(starts_on)))
        .order_by(Subscription.id).limit(1)).first()
    if other is not None:
        db.session.rollback()
        raise ValidationError({"plan_code": (
            f"must be priced in {other.currency}, as deployment {other.name} of this tenant is "
            "billed in the same months (a month's invoice has one currency)")})


def transitions_for(user: User, deployment: Deployment) -> tuple[str, ...]:
    """The moves the state machine allows from here that ``user`` may make (the page's buttons)."""
    return tuple(t for t in TRANSITIONS[deployment.status] if may_transition_to(user, t))


def require_deployment_ids(ids) -> set[int]:
    """The ids among ``ids`` that exist (one query)."""
    ids = set(ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(Deployment.id).where(Deployment.id.in_(ids))))


def deployment_names(ids) -> dict[int, str]:
    """Deployment id → "tenant / deployment", as the provider pages label them."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {
        dep_id: f"{slug} / {name}"
        for dep_id, slug, name in db.session.execute(
            select(Deployment.id, Tenant.slug, Deployment.name)
            .join(Tenant, Deployment.tenant_id == Tenant.id).where(Deployment.id.in_(ids)))
    }
