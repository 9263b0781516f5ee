"""The month-end rollup: one invoice per tenant and period.

Each tenant's invoice is written in its own transaction, so a crash midway leaves no
half-built invoice and a re-run finishes the rest. Two rollups of one period at once are
safe: the partial unique index on (tenant, period) among live invoices lets one insert win,
and the other counts that tenant as skipped.
"""
import time as clock_time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..billing.proration import bills_in_period, month_start, next_month_start
from ..billing.terms import COUNTER, RESOURCE_KINDS
from ..billing.rollup import BilledSubscription, BillingError, plan_invoice, usage_window
from ..clock import as_utc, today, utcnow
from ..errors import ValidationError
from ..extensions import db
from ..queue import enqueue
from ..models import (
    Deployment,
    Invoice,
    InvoiceLine,
    PlanVersion,
    RollupRun,
    Subscription,
    SubscriptionAddon,
    Tenant,
    User,
)
from ..models.invoices import DRAFT, ISSUED, VOID
from . import audit, mail, webhooks
from .invoices import issue, parse_period, tax_rule
from .usage import usage_by_deployment, usage_for_period

Progress = Callable[[int, int], None]

ROLLUP_HOUR_UTC = 3  # the month's rollup is due at 03:00 UTC on the 1st of the next month
ROLLUP_TIMEOUT_SECONDS = 6 * 3600  # a rollup job's timeout; an inline run older is abandoned


@dataclass
class RollupResult:
    period_start: date
    created: int = 0
    skipped: int = 0
    rebuilt: int = 0
    messages: list[str] = field(default_factory=list)
    invoice_ids: list[int] = field(default_factory=list)  # created or rebuilt drafts

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period_start.strftime("%Y-%m"), "created": self.created,
                "skipped": self.skipped, "rebuilt": self.rebuilt, "messages": self.messages}


def billing_inputs(period_start: date, period_end: date, tenant_id: int | None = None):
    """Plain terms per tenant and usage per subscription, read in a short-lived session on the
    same connection: the ORM objects never enter the main session, whose per-tenant commits
    would otherwise expire (and reload) every one of them, again and again."""
    with Session(bind=db.session.connection()) as reader:
        subs = _billed_subscriptions(reader, period_start, period_end, tenant_id)
        terms: dict[int, list[BilledSubscription]] = defaultdict(list)
        for sub in subs:
            terms[sub.deployment.tenant_id].append(_terms(sub))
        usage = _usage_by_subscription(subs, period_start, period_end)
    return terms, usage


def _billed_subscriptions(session: Session, period_start: date, period_end: date,
                          tenant_id: int | None = None) -> list[Subscription]:
    """Every subscription that bills a day of the period (of one tenant, or all), with its
    terms, in a fixed number of queries (not one per subscription)."""
    query = (
        select(Subscription)
        .join(Deployment, Subscription.deployment_id == Deployment.id)
        .where(Subscription.starts_on < period_end,
               (Subscription.ends_on.is_(None)) | (Subscription.ends_on >= period_start))
        .options(
            selectinload(Subscription.deployment),
            selectinload(Subscription.plan_version).selectinload(PlanVersion.items),
            selectinload(Subscription.plan_version).selectinload(PlanVersion.plan),
            selectinload(Subscription.addons).selectinload(SubscriptionAddon.addon),
        )
        .order_by(Subscription.id)
    )
    if tenant_id is not None:
        query = query.where(Deployment.tenant_id == tenant_id)
    return list(session.scalars(query))


def _usage_by_subscription(subs: list[Subscription], period_start: date, period_end: date):
    """Each subscription's usage within its own billed days: one query per distinct window
    (almost always one: the whole month)."""
    windows = defaultdict(list)
    for sub in subs:
        windows[usage_window(period_start, period_end, sub.starts_on, sub.ends_on)].append(sub)
    usage = {}
    for (start, end), group in windows.items():
        by_deployment = usage_by_deployment([s.deployment_id for s in group], start, end)
        for sub in group:
            usage[sub.id] = by_deployment.get(sub.deployment_id, {})
    return usage


def _terms(sub: Subscription) -> BilledSubscription:
    return BilledSubscription(
        subscription_id=sub.id,
        deployment_id=sub.deployment_id,
        plan=sub.plan_version.terms(),
        addons=tuple(a.terms() for a in sub.addons),
        starts_on=sub.starts_on,
        last_day=sub.ends_on,
    )


def _check_rollup_period(period_start: date, period_end: date) -> None:
    if period_start.day != 1 or period_end != next_month_start(period_start):
        raise ValidationError({"period": "must be one calendar month"})
    if period_end > today():
        # A month's usage is not all in before it ends: an invoice now would under-bill it.
        raise ValidationError({"period": f"{period_start:%Y-%m} has not ended yet (UTC)"})


def request_rollup(period: Any, force: Any = False, actor: User | None = None):
    """Check a rollup request in full, then run it as a job (inline without Redis): the page,
    the API and the CLI all start one here, so a bad period is a 422 before anything queues."""
    _check_rollup_period(*parse_period(period))
    if not isinstance(force, bool):
        raise ValidationError({"force": "must be true or false"})
    return enqueue("portal.jobs.invoicing.rollup", period, force, actor.id if actor else None)


def roll_up_period(period_start: date, period_end: date, force: bool = False,
                   actor: User | None = None, progress: Progress | None = None,
                   job_id: str | None = None) -> RollupResult:
    """One invoice per tenant with a subscription billing any day of the period.

    Without ``force`` a tenant that already has a live invoice for the period is skipped;
    with it a draft is rebuilt in place. Issued and paid invoices are never touched.
    The run is recorded first (with the job running it), finished last: a run that never
    finishes is found by ``missed_periods`` once its job is gone, and run again.
    """
    _check_rollup_period(period_start, period_end)
    result = RollupResult(period_start)
    run = RollupRun(period_start=period_start, force=force, job_id=job_id,
                    actor=actor.email if actor else "scheduler")
    db.session.add(run)
    db.session.commit()
    run_id = run.id

    terms, usage = billing_inputs(period_start, period_end)
    slugs = dict(db.session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(list(terms)))).all())

    rule = tax_rule()
    auto_issue = current_app.config["ROLLUP_AUTO_ISSUE"]
    # Without force, a tenant already invoiced needs no transaction at all (one query for
    # all); a concurrent run that invoices one meanwhile is still caught per tenant below.
    invoiced = set() if force else set(db.session.scalars(
        select(Invoice.tenant_id).where(Invoice.period_start == period_start, Invoice.status != VOID)))
    total = len(terms)
    delay = current_app.config.get("ROLLUP_TENANT_DELAY_SECONDS") or 0
    for done, tenant_id in enumerate(sorted(terms), start=1):
        if delay:  # a test hook: slow enough to kill its worker midway
            clock_time.sleep(delay)
        if tenant_id in invoiced:
            result.skipped += 1
            if progress:
                progress(done, total)
            continue
        try:
            plan = plan_invoice(period_start, period_end, terms[tenant_id], usage, rule)
            kind, invoice_id, message = _write_invoice(
                tenant_id, slugs[tenant_id], period_start, period_end, plan, force, auto_issue)
        except BillingError as exc:
            db.session.rollback()
            kind, invoice_id, message = "skipped", None, f"{slugs[tenant_id]}: {exc.message}"
        setattr(result, kind, getattr(result, kind) + 1)
        if invoice_id is not None and kind in ("created", "rebuilt"):
            result.invoice_ids.append(invoice_id)
        if message:
            result.messages.append(message)
        if progress:
            progress(done, total)

    run = db.session.get(RollupRun, run_id)
    run.created, run.skipped, run.rebuilt = result.created, result.skipped, result.rebuilt
    run.messages = result.messages
    run.finished_at = utcnow()
    audit.record(actor, "invoices.rollup", "period", None, **result.as_dict(), force=force)
    webhooks.emit("rollup.finished", {**result.as_dict(), "force": force})
    db.session.commit()
    webhooks.dispatch()
    return result


def _write_invoice(tenant_id: int, slug: str, period_start, period_end, plan, force, auto_issue):
    """Create or rebuild one tenant's invoice in its own transaction → (outcome, id, message)."""
    existing = db.session.scalar(
        select(Invoice)
        .where(Invoice.tenant_id == tenant_id, Invoice.period_start == period_start,
               Invoice.status != VOID)
        .with_for_update()
    )
    if existing is not None:
        if not force:
            db.session.rollback()
            return "skipped", existing.id, None
        if existing.status != DRAFT:
            label = existing.number or existing.id
            # Only an issued invoice with no money against it can be voided; anything else is
            # corrected with a credit note (the contract's two ways back).
            voidable = existing.status == ISSUED and not (
                existing.amount_paid_cents or existing.amount_credited_cents
                or existing.credit_applied_cents)
            db.session.rollback()
            return ("skipped", existing.id,
                    f"{slug}: invoice {label} is {existing.status}; issued and paid invoices are "
                    "never rebuilt (" + ("void it first to bill the period again" if voidable
                                         else "correct it with a credit note") + ")")
        db.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == existing.id))
        invoice, outcome = existing, "rebuilt"
    else:
        invoice = Invoice(tenant_id=tenant_id, period_start=period_start, period_end=period_end,
                          status=DRAFT)
        db.session.add(invoice)
        outcome = "created"
    invoice.currency = plan.currency
    invoice.subtotal_cents = plan.subtotal_cents
    invoice.tax_cents = plan.tax_cents
    invoice.total_cents = plan.total_cents
    invoice.built_at = utcnow()
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent rollup created this tenant's invoice first
        db.session.rollback()
        return "skipped", None, None
    db.session.add_all(
        InvoiceLine(invoice_id=invoice.id, position=position, kind=line.kind,
                    deployment_id=line.deployment_id, resource_kind=line.resource_kind,
                    description=line.description, qty=line.qty, unit=line.unit,
                    unit_price_cents=line.unit_price_cents, amount_cents=line.amount_cents)
        for position, line in enumerate(plan.lines, start=1)
    )
    if auto_issue:
        issue(invoice)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "skipped", None, None
    mail.dispatch()  # an auto-issued invoice's email
    return outcome, invoice.id, None


def _line_key(line) -> tuple:
    return (line.kind, line.deployment_id, line.resource_kind, line.description,
            Decimal(line.qty), line.unit, line.unit_price_cents, line.amount_cents)


def draft_is_current(invoice: Invoice) -> bool:
    """Whether the draft still bills what the rollup would bill now: a change or end
    backdated into its month, or usage metered into it late, leaves it stale until a forced
    rollup rebuilds it. (Read on the caller's connection, after its lock on the invoice.)"""
    terms, usage = billing_inputs(invoice.period_start, invoice.period_end,
                                  tenant_id=invoice.tenant_id)
    try:
        plan = plan_invoice(invoice.period_start, invoice.period_end,
                            terms.get(invoice.tenant_id, []), usage, tax_rule())
    except BillingError:
        return False
    stored = sorted(invoice.lines, key=lambda line: line.position)
    return ([_line_key(line) for line in stored] == [_line_key(line) for line in plan.lines]
            and plan.currency == invoice.currency)


def usage_as_billed(deployment: Deployment, period_start: date, period_end: date) -> dict:
    """A deployment's usage for a month as the rollup reads it: within the billed days of each
    subscription billing in the month (counters summed, gauges at their peak). Without such a
    subscription nothing is billed, and the month's metered usage is shown as it stands."""
    windows = [usage_window(period_start, period_end, s.starts_on, s.ends_on)
               for s in deployment.subscriptions
               if bills_in_period(period_start, period_end, s.starts_on, s.ends_on)]
    if not windows:
        return usage_for_period(deployment.id, period_start, period_end)
    total = {kind: Decimal(0) for kind in RESOURCE_KINDS}
    for start, end in windows:
        for kind, value in usage_for_period(deployment.id, start, end).items():
            total[kind] = total[kind] + value if RESOURCE_KINDS[kind] == COUNTER else max(total[kind], value)
    return total


def missed_periods(now: datetime, job_alive: Callable[[str], bool] | None = None) -> list[date]:
    """Months whose rollup was due by ``now`` (UTC) with billable subscriptions but no
    finished run, oldest first: what the scheduler catches up.

    A month whose only runs are unfinished is missed once they are all abandoned: a run
    with a job when ``job_alive(job_id)`` says its job is gone (without that answer, as for
    a run without a job: once it is older than a rollup job's timeout)."""
    first_start = db.session.scalar(select(func.min(Subscription.starts_on)))
    if first_start is None:
        return []
    done = set(db.session.scalars(
        select(RollupRun.period_start).where(RollupRun.finished_at.is_not(None))
    ))
    stale_before = now - timedelta(seconds=ROLLUP_TIMEOUT_SECONDS)
    for period_start, job_id, started_at in db.session.execute(
        select(RollupRun.period_start, RollupRun.job_id, RollupRun.started_at)
        .where(RollupRun.finished_at.is_(None))
    ):
        if period_start in done:
            continue
        alive = job_alive(job_id) if job_id and job_alive else as_utc(started_at) > stale_before
        if alive:  # still running: not missed, and not to be started twice
            done.add(period_start)
    periods, cursor = [], month_start(first_start)
    while True:
        end = next_month_start(cursor)
        due = datetime.combine(end, time(ROLLUP_HOUR_UTC), tzinfo=timezone.utc)
        if due > now:
            break
        if cursor not in done:
            periods.append(cursor)
        cursor = end
    return periods
