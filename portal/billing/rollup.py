"""The month-end arithmetic for one tenant: its subscriptions and metered usage → invoice lines.

Pure: the service layer loads the terms and usage, this plans the invoice, the service writes it.
"""
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Mapping, Sequence

from ..errors import DomainError
from .money import round_half_up
from .proration import active_fraction, bills_in_period
from .quote import (TAX, Line, for_deployment, overage_lines, prorate, recurring_lines,
                    sum_lines)
from .terms import AddonTerms, PlanTerms


class BillingError(DomainError):
    status, code = 422, "billing_error"


@dataclass(frozen=True)
class BilledSubscription:
    subscription_id: int
    deployment_id: int
    plan: PlanTerms
    addons: tuple[AddonTerms, ...]
    starts_on: date
    last_day: date | None  # inclusive; None while it runs


@dataclass(frozen=True)
class TaxRule:
    name: str
    rate: Decimal

    @property
    def percent(self) -> str:
        return f"{(self.rate * 100).normalize():f}%"


@dataclass(frozen=True)
class InvoicePlan:
    currency: str
    lines: tuple[Line, ...]
    subtotal_cents: int
    tax_cents: int
    # Each billed subscription with its own lines (the tax line is in ``lines`` only).
    sections: tuple[tuple[BilledSubscription, tuple[Line, ...]], ...] = ()

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


def bills_in(sub: BilledSubscription, period_start: date, period_end: date) -> bool:
    return bills_in_period(period_start, period_end, sub.starts_on, sub.last_day)


def usage_window(
    period_start: date, period_end: date, starts_on: date, last_day: date | None
) -> tuple[date, date]:
    """The days of the period a subscription bills, half-open: its usage is read there."""
    end = period_end if last_day is None else min(period_end, last_day + timedelta(days=1))
    return max(period_start, starts_on), end


def subscription_lines(
    sub: BilledSubscription, period_start: date, period_end: date, usage: Mapping[str, Decimal]
) -> tuple[Line, ...]:
    """The quote engine on metered usage: recurring lines and allowances prorated by the
    subscription's active days of the period, then overage on the usage of those days."""
    fraction = active_fraction(period_start, period_end, sub.starts_on, sub.last_day)
    lines = recurring_lines(sub.plan, sub.addons)
    if fraction != 1:
        first, end = usage_window(period_start, period_end, sub.starts_on, sub.last_day)
        days = (end - first).days
        total = (period_end - period_start).days
        last = (end - timedelta(days=1)).isoformat()
        lines = prorate(lines, fraction, f"{days}/{total} days, {first.isoformat()} to {last}")
    lines += overage_lines(sub.plan, sub.addons, usage, fraction)
    return for_deployment(lines, sub.deployment_id)


def tax_line(subtotal_cents: int, rule: TaxRule) -> Line:
    return Line(
        kind=TAX,
        description=f"{rule.name} {rule.percent}",
        qty=rule.rate,
        unit="rate",
        unit_price_cents=subtotal_cents,
        amount_cents=round_half_up(subtotal_cents * rule.rate),
    )


def plan_invoice(
    period_start: date,
    period_end: date,
    subscriptions: Sequence[BilledSubscription],
    usage_by_subscription: Mapping[int, Mapping[str, Decimal]],
    tax: TaxRule,
) -> InvoicePlan:
    """One tenant's invoice for [period_start, period_end): lines per subscription, then tax."""
    billed = sorted(
        (s for s in subscriptions if bills_in(s, period_start, period_end)),
        key=lambda s: (s.deployment_id, s.starts_on, s.subscription_id),
    )
    if not billed:
        raise BillingError("no subscription bills any day of this period")
    currencies = {s.plan.currency for s in billed}
    if len(currencies) > 1:
        raise BillingError(
            f"subscriptions in more than one currency ({', '.join(sorted(currencies))}) "
            "cannot share an invoice"
        )
    sections = tuple(
        (sub, subscription_lines(sub, period_start, period_end,
                                 usage_by_subscription.get(sub.subscription_id, {})))
        for sub in billed
    )
    lines = [line for _, sub_lines in sections for line in sub_lines]
    subtotal = sum_lines(lines)
    tax_entry = tax_line(subtotal, tax)
    return InvoicePlan(
        currency=currencies.pop(),
        lines=(*lines, tax_entry),
        subtotal_cents=subtotal,
        tax_cents=tax_entry.amount_cents,
        sections=sections,
    )
