"""Changing and ending a deployment's subscription, and previewing what the month then bills.

A change ends the running subscription on the day before ``effective_on`` and starts a new
one that day (the plan version in effect then, addons snapshotted afresh); an end sets the
last billed day without decommissioning. Either may be backdated, but never into a month
whose invoice for the tenant is issued or paid: that is corrected with a credit note.
"""
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..billing.proration import bills_in_period, month_start, next_month_start
from ..billing.rollup import BilledSubscription, InvoicePlan, plan_invoice, usage_window
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..models import Addon, Deployment, Invoice, PlanVersion, Subscription, SubscriptionAddon, User
from ..models.deployments import DECOMMISSIONED
from ..models.invoices import ISSUED, PAID, VOID
from ..permissions import check
from . import audit
from .deployments import get_deployment
from .invoices import tax_rule
from .quotes import resolve_addons, resolve_plan_version
from .usage import usage_for_period
from .validation import FieldError, Fields, iso_date, list_of_codes, text

CHANGE_FIELDS = {"plan_code", "addons", "effective_on"}
END_FIELDS = {"ends_on"}
LATEST_DAY = date(2999, 12, 31)  # as far as periods go (YYYY-MM up to 2999-12)
PROPOSED = 0  # the id a not-yet-written subscription carries in a preview


@dataclass(frozen=True)
class ChangeRequest:
    version: PlanVersion
    addons: tuple[Addon, ...]
    effective_on: date


@dataclass(frozen=True)
class Preview:
    """The month a change or end falls in, billed as the rollup would bill it: the tenant's
    whole invoice (GST is worked out on the invoice's subtotal, not per deployment), of which
    ``sections`` are this deployment's subscriptions."""

    period_start: date
    period_end: date
    invoice: InvoicePlan
    deployment_id: int
    # Currencies the tenant's other deployments bill in that this one does not: then no
    # invoice of the month can be made (the rollup skips the tenant), and ``invoice`` bills
    # this deployment alone.
    foreign_currencies: tuple[str, ...] = ()

    @property
    def sections(self):
        return tuple((sub, lines) for sub, lines in self.invoice.sections
                     if sub.deployment_id == self.deployment_id)

    @property
    def deployment_subtotal_cents(self) -> int:
        return sum(line.amount_cents for _, lines in self.sections for line in lines)

    @property
    def other_deployments(self) -> int:
        """How many other deployments of the tenant the month's invoice bills."""
        return len({sub.deployment_id for sub, _ in self.invoice.sections} - {self.deployment_id})


def _day(value: Any) -> date:
    day = iso_date(value)
    if day > LATEST_DAY:
        raise FieldError(f"must be on or before {LATEST_DAY.isoformat()}")
    return day


def _admin_deployment(user: User, deployment_id: int) -> Deployment:
    deployment = get_deployment(user, deployment_id)  # 404 before 403: nothing leaks
    check(user, "deployments.subscribe")
    return deployment


def _read_change(data: Mapping[str, Any]) -> ChangeRequest:
    fields = Fields(data, allowed=CHANGE_FIELDS)
    plan_code = fields.get("plan_code", text)
    effective_on = fields.get("effective_on", _day)
    codes = fields.get("addons", list_of_codes, required=False, default=[])
    version = resolve_plan_version(plan_code, effective_on, fields)
    addons = resolve_addons(codes or [], fields, version.currency if version else None)
    fields.done()
    return ChangeRequest(version, addons, effective_on)


def _read_end(data: Mapping[str, Any]) -> date:
    fields = Fields(data, allowed=END_FIELDS)
    ends_on = fields.get("ends_on", _day)
    fields.done()
    return ends_on


def _running(deployment: Deployment, lock: bool) -> Subscription:
    """The deployment's running subscription (409 when decommissioned or there is none)."""
    if deployment.status == DECOMMISSIONED:
        raise Conflict(f"deployment {deployment.id} is decommissioned; its subscription has ended")
    query = select(Subscription).where(Subscription.deployment_id == deployment.id,
                                       Subscription.ends_on.is_(None))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    running = db.session.scalar(query)
    if running is None:
        raise Conflict(f"deployment {deployment.id} has no running subscription")
    return running


def _lock_deployment(deployment: Deployment) -> Deployment:
    """Lock, then check on fresh data: a decommission or change committed meanwhile is seen."""
    return db.session.scalar(
        select(Deployment).where(Deployment.id == deployment.id).with_for_update()
        .execution_options(populate_existing=True)
    )


def _check_change(running: Subscription, req: ChangeRequest) -> None:
    if req.effective_on <= running.starts_on:
        raise ValidationError({"effective_on": "must be after the running subscription's start "
                                               f"({running.starts_on.isoformat()})"})
    currency = running.plan_version.currency
    if req.version.currency != currency:
        raise ValidationError({"plan_code": f"must be priced in {currency}, as the running "
                                            "subscription is (one invoice has one currency)"})


def _check_end(running: Subscription, ends_on: date) -> None:
    if ends_on < running.starts_on:
        raise ValidationError({"ends_on": "must be on or after the subscription's start "
                                          f"({running.starts_on.isoformat()})"})


def refuse_invoiced(tenant_id: int, first_changed_day: date, field: str, lock: bool) -> None:
    """409 when an issued or paid invoice of the tenant covers ``first_changed_day`` or later.

    With ``lock`` the tenant's live invoices from that day on are locked, so an issue that
    races this change waits for it (and a draft stays a draft to be rebuilt by a rollup).
    """
    query = (select(Invoice)
             .where(Invoice.tenant_id == tenant_id, Invoice.status != VOID,
                    Invoice.period_end > first_changed_day)
             .order_by(Invoice.period_start))
    if lock:
        query = query.with_for_update()
    for invoice in db.session.scalars(query):
        if invoice.status in (ISSUED, PAID):
            raise Conflict(
                f"{invoice.period_start:%Y-%m} is already invoiced ({invoice.number}, "
                f"{invoice.status}); nothing can be billed back into it: correct an issued "
                "invoice with a credit note",
                {field: f"falls in {invoice.period_start:%Y-%m}, which is {invoice.status}"},
            )


def change_subscription(user: User, deployment_id: int, data: Mapping[str, Any]) -> Deployment:
    """Admin: end the running subscription the day before ``effective_on`` and start a new one
    on the plan version in effect that day, with its addons snapshotted now."""
    deployment = _admin_deployment(user, deployment_id)
    req = _read_change(data)
    deployment = _lock_deployment(deployment)
    running = _running(deployment, lock=True)
    _check_change(running, req)
    refuse_invoiced(deployment.tenant_id, req.effective_on, "effective_on", lock=True)

    running.ends_on = req.effective_on - timedelta(days=1)
    db.session.flush()  # the open-subscription index: the old one closes before the new opens
    new = Subscription(deployment=deployment, plan_version=req.version,
                       starts_on=req.effective_on)
    db.session.add(new)
    for addon in req.addons:
        db.session.add(SubscriptionAddon(subscription=new, addon=addon, name=addon.name,
                                         price_cents=addon.price_cents,
                                         resource_kind=addon.resource_kind, qty=addon.qty))
    try:
        db.session.flush()
    except IntegrityError:  # the open-subscription index; the row lock should make it unreachable
        db.session.rollback()
        raise Conflict(f"deployment {deployment_id} changed meanwhile; reload and try again") from None
    audit.record(user, "subscription.change", "deployment", deployment.id,
                 ended=running.id, ends_on=running.ends_on.isoformat(), subscription=new.id,
                 plan=req.version.plan.code, version=req.version.version,
                 addons=[a.code for a in req.addons], effective_on=req.effective_on.isoformat())
    db.session.commit()
    return deployment


def end_subscription(user: User, deployment_id: int, data: Mapping[str, Any]) -> Deployment:
    """Admin: ``ends_on`` becomes the running subscription's last billed day; the deployment
    stays as it is and may be subscribed again from a later day."""
    deployment = _admin_deployment(user, deployment_id)
    ends_on = _read_end(data)
    deployment = _lock_deployment(deployment)
    running = _running(deployment, lock=True)
    _check_end(running, ends_on)
    refuse_invoiced(deployment.tenant_id, ends_on + timedelta(days=1), "ends_on", lock=True)
    running.ends_on = ends_on
    audit.record(user, "subscription.end", "deployment", deployment.id,
                 subscription=running.id, ends_on=ends_on.isoformat())
    db.session.commit()
    return deployment


# --- previews: the same checks, nothing written --------------------------------------------


def preview_change(user: User, deployment_id: int, data: Mapping[str, Any]) -> Preview:
    """The month of ``effective_on`` for this deployment as it would be billed after the
    change: the old subscription's prorated lines, the new one's, with the usage so far."""
    deployment = _admin_deployment(user, deployment_id)
    req = _read_change(data)
    running = _running(deployment, lock=False)
    _check_change(running, req)
    refuse_invoiced(deployment.tenant_id, req.effective_on, "effective_on", lock=False)
    proposed = BilledSubscription(
        subscription_id=PROPOSED, deployment_id=deployment.id, plan=req.version.terms(),
        addons=tuple(a.terms() for a in req.addons), starts_on=req.effective_on, last_day=None)
    return _preview(deployment, req.effective_on,
                    {running.id: req.effective_on - timedelta(days=1)}, [proposed])


def preview_end(user: User, deployment_id: int, data: Mapping[str, Any]) -> Preview:
    """The month of ``ends_on`` for this deployment as it would be billed after the end."""
    deployment = _admin_deployment(user, deployment_id)
    ends_on = _read_end(data)
    running = _running(deployment, lock=False)
    _check_end(running, ends_on)
    refuse_invoiced(deployment.tenant_id, ends_on + timedelta(days=1), "ends_on", lock=False)
    return _preview(deployment, ends_on, {running.id: ends_on}, [])


def _preview(deployment: Deployment, day: date, last_days: dict[int, date],
             extra: list[BilledSubscription]) -> Preview:
    """Bill ``day``'s month for the deployment's tenant as the rollup would: this deployment's
    subscriptions with ``last_days`` applied, plus ``extra``, beside the tenant's other
    deployments as they stand; usage read within each one's days, as the rollup reads it."""
    from .rollup import billing_inputs  # (the rollup imports the invoices this module uses)

    start, end = month_start(day), next_month_start(day)
    terms, usage = billing_inputs(start, end, tenant_id=deployment.tenant_id)
    subs = [s for s in terms.get(deployment.tenant_id, []) if s.deployment_id != deployment.id]
    for sub in deployment.subscriptions:
        last_day = last_days.get(sub.id, sub.ends_on)
        if last_day is not None and last_day < sub.starts_on:
            continue
        subs.append(BilledSubscription(
            subscription_id=sub.id, deployment_id=deployment.id, plan=sub.plan_version.terms(),
            addons=tuple(a.terms() for a in sub.addons), starts_on=sub.starts_on,
            last_day=last_day))
    subs += extra
    subs = [s for s in subs if bills_in_period(start, end, s.starts_on, s.last_day)]
    own = {s.plan.currency for s in subs if s.deployment_id == deployment.id}
    foreign = tuple(sorted({s.plan.currency for s in subs if s.deployment_id != deployment.id} - own))
    if foreign:  # no invoice can hold both: bill this deployment alone, and say why
        subs = [s for s in subs if s.deployment_id == deployment.id]
    for s in subs:
        if s.deployment_id == deployment.id:
            usage[s.subscription_id] = usage_for_period(
                deployment.id, *usage_window(start, end, s.starts_on, s.last_day))
    return Preview(start, end, plan_invoice(start, end, subs, usage, tax_rule()), deployment.id,
                   foreign)
