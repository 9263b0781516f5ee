"""A tenant's account: what it owes, and the invoice this month is heading for.

The month so far is priced by the rollup's own engine (``billing.rollup.plan_invoice`` on the
same terms and the usage metered until now), so the preview and the invoice can never
disagree on how; only the usage still to come can change the figures.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from flask import current_app

from ..billing.proration import month_start, next_month_start
from ..billing.quote import Line
from ..billing.rollup import BillingError, InvoicePlan, plan_invoice
from ..models import CreditNote, Invoice, Payment, Tenant, User
from ..models.invoices import ISSUED
from ..errors import NotFound
from ..extensions import db
from .deployments import deployments_query
from .invoices import tax_rule
from .payments import balance_in_currency, still_owed_cents
from .rollup import billing_inputs


@dataclass(frozen=True)
class MonthSoFar:
    period_start: date
    period_end: date
    as_of: date                      # usage counted up to the end of this day (UTC)
    plan: InvoicePlan | None         # None: no subscription bills this month
    groups: tuple[tuple[str, tuple[Line, ...]], ...]  # (deployment name, its lines)
    error: str | None = None         # why it cannot be priced (e.g. mixed currencies)


@dataclass(frozen=True)
class Owed:
    """Money owed on issued invoices, by currency: all of it, and the part past its due date."""
    owed: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    owing_count: int = 0
    overdue_count: int = 0
    unpaid: tuple[Invoice, ...] = ()  # in the order given


def owed(invoices: Iterable[Invoice], on: date) -> Owed:
    """What ``invoices`` still owe, and how much of it is overdue on ``on``: the one sum of
    what is owed, for the home page (what a user may see) and the account page (a tenant)."""
    total, late = defaultdict(int), defaultdict(int)
    unpaid, overdue = [], 0
    for invoice in invoices:
        cents = still_owed_cents(invoice)
        if cents <= 0:
            continue
        unpaid.append(invoice)
        total[invoice.currency] += cents
        if invoice.is_overdue(on):
            overdue += 1
            late[invoice.currency] += cents
    return Owed(dict(total), dict(late), len(unpaid), overdue, tuple(unpaid))


@dataclass(frozen=True)
class Balance:
    """One currency's figures on a tenant's account."""
    currency: str
    balance_due_cents: int      # what its issued invoices still owe
    overdue_cents: int          # of which past their due date
    overdue_count: int
    credit_balance_cents: int   # credit waiting to be applied to its next invoices
    refunds_owed_cents: int     # refunds credit notes owe it, not yet paid out


@dataclass(frozen=True)
class Account:
    balances: tuple[Balance, ...]  # one per currency it has invoices or credit notes in
    unpaid: tuple[Invoice, ...]    # oldest first


def account(tenant: Tenant, on: date) -> Account:
    """What a tenant owes as of ``on``, and the credit it holds, in each of its currencies
    (credit in one currency never pays another's: ``payments.balance_in_currency``)."""
    owing = owed(db.session.scalars(
        db.select(Invoice).where(Invoice.tenant_id == tenant.id, Invoice.status == ISSUED)
        .order_by(Invoice.issued_on, Invoice.id)), on)
    refunds = dict(db.session.execute(
        db.select(CreditNote.currency, db.func.sum(CreditNote.refund_cents))
        .where(CreditNote.tenant_id == tenant.id, CreditNote.refunded_on.is_(None))
        .group_by(CreditNote.currency)).all())
    currencies = set(db.session.scalars(
        db.select(Invoice.currency).where(Invoice.tenant_id == tenant.id).distinct()))
    currencies |= set(db.session.scalars(
        db.select(CreditNote.currency).where(CreditNote.tenant_id == tenant.id).distinct()))
    balances = tuple(
        Balance(c, owing.owed.get(c, 0), owing.overdue.get(c, 0),
                sum(1 for i in owing.unpaid if i.currency == c and i.is_overdue(on)),
                _credit_in(tenant, c),
                int(refunds.get(c) or 0))
        for c in sorted(currencies or {current_app.config.get("PLAN_CURRENCY", "AUD")}))
    return Account(balances, owing.unpaid)


def _credit_in(tenant: Tenant, currency: str) -> int:
    """The credit balance that would pay an invoice in ``currency`` (as it is applied)."""
    held = tenant.credit_balance_cents or 0
    return min(held, balance_in_currency(tenant.id, currency)) if held else 0


def recent_payments(tenant: Tenant, limit: int = 10) -> list[Payment]:
    return list(db.session.scalars(
        db.select(Payment).where(Payment.tenant_id == tenant.id)
        .order_by(Payment.paid_on.desc(), Payment.id.desc()).limit(limit)))


def recent_credit_notes(tenant: Tenant, limit: int = 10) -> list[CreditNote]:
    return list(db.session.scalars(
        db.select(CreditNote).where(CreditNote.tenant_id == tenant.id)
        .order_by(CreditNote.id.desc()).limit(limit)))


def tenant_for(user: User, slug: str | None) -> Tenant:
    """The tenant whose account ``user`` may read: a tenant user its own, whatever it asks;
    an admin the one named."""
    if not user.is_platform_admin:
        return user.tenant
    tenant = db.session.scalar(db.select(Tenant).where(Tenant.slug == (slug or "")))
    if tenant is None:
        raise NotFound(f"no tenant {slug}")
    return tenant


def month_so_far(user: User, tenant: Tenant, on: date) -> MonthSoFar:
    start, end = month_start(on), next_month_start(on)
    terms, usage = billing_inputs(start, end, tenant_id=tenant.id)
    if tenant.id not in terms:
        return MonthSoFar(start, end, on, None, ())
    try:
        plan = plan_invoice(start, end, terms[tenant.id], usage, tax_rule())
    except BillingError as exc:
        return MonthSoFar(start, end, on, None, (), exc.message)
    names = {d.id: d.name for d in db.session.scalars(deployments_query(user, tenant.slug))}
    grouped: dict[int, list[Line]] = defaultdict(list)
    for line in plan.lines:
        if line.deployment_id is not None:  # the tax line shows once, in the totals
            grouped[line.deployment_id].append(line)
    groups = [(names.get(dep_id, f"#{dep_id}"), tuple(lines)) for dep_id, lines in grouped.items()]
    return MonthSoFar(start, end, on, plan, tuple(groups))


def days_counted(month: MonthSoFar) -> tuple[int, int]:
    """(days of usage counted so far, days in the month)."""
    counted = min((month.as_of - month.period_start).days + 1, (month.period_end - month.period_start).days)
    return counted, (month.period_end - month.period_start).days

