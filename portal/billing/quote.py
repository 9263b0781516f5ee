"""The quote engine: one pure function from terms, usage and a start date to priced lines.

It prices a quote (projected usage) and an invoice (metered usage) alike.
"""
from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Mapping

from .labels import kind_label, unit_label
from .money import divide_half_up, round_half_up
from .proration import days_in_month, fraction_from_start
from .terms import BASE_UNITS, UNIT_FACTORS, AddonTerms, PlanItemTerms, PlanTerms

PLAN_BASE = "plan_base"
ADDON = "addon"
OVERAGE = "overage"
TAX = "tax"
LINE_KINDS = (PLAN_BASE, ADDON, OVERAGE, TAX)


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    qty: Decimal
    unit: str
    unit_price_cents: int
    amount_cents: int
    resource_kind: str | None = None
    deployment_id: int | None = None


@dataclass(frozen=True)
class Quote:
    currency: str
    recurring: tuple[Line, ...]
    first_invoice: tuple[Line, ...]
    overage: tuple[Line, ...]

    @property
    def recurring_cents(self) -> int:
        return sum_lines(self.recurring)

    @property
    def first_invoice_cents(self) -> int:
        return sum_lines(self.first_invoice)

    @property
    def overage_cents(self) -> int:
        return sum_lines(self.overage)

    @property
    def all_in_monthly_cents(self) -> int:
        return self.recurring_cents + self.overage_cents


def sum_lines(lines: Iterable[Line]) -> int:
    return sum(line.amount_cents for line in lines)


def recurring_lines(plan: PlanTerms, addons: Iterable[AddonTerms]) -> tuple[Line, ...]:
    """One plan_base line and one addon line per addon, each a full month."""
    return _recurring_lines(plan, tuple(addons))


@lru_cache(maxsize=1024)
def _recurring_lines(plan: PlanTerms, addons: tuple[AddonTerms, ...]) -> tuple[Line, ...]:
    # Terms and lines are frozen: a month-end over thousands of subscriptions to a handful of
    # plans builds each plan's lines once.
    lines = [
        Line(
            kind=PLAN_BASE,
            description=f"{plan.plan_name} plan (v{plan.version}), monthly",
            qty=Decimal(1),
            unit="month",
            unit_price_cents=plan.base_price_cents,
            amount_cents=plan.base_price_cents,
        )
    ]
    for addon in addons:
        lines.append(
            Line(
                kind=ADDON,
                description=f"{addon.name} addon, monthly",
                qty=Decimal(1),
                unit="month",
                unit_price_cents=addon.price_cents,
                amount_cents=addon.price_cents,
                resource_kind=addon.resource_kind,
            )
        )
    return tuple(lines)


def for_deployment(lines: Iterable[Line], deployment_id: int | None) -> tuple[Line, ...]:
    """The lines tagged with a deployment (built field by field: ``dataclasses.replace``
    costs several times more, and a month-end tags a hundred thousand lines)."""
    return tuple(
        Line(line.kind, line.description, line.qty, line.unit, line.unit_price_cents,
             line.amount_cents, line.resource_kind, deployment_id)
        for line in lines
    )


def prorate(lines: Iterable[Line], fraction: Fraction, note: str) -> tuple[Line, ...]:
    """Each line's amount times ``fraction``, rounded half-up on its own."""
    if fraction == 1:
        return tuple(lines)
    return tuple(
        replace(
            line,
            description=f"{line.description}, {note}",
            amount_cents=round_half_up(line.amount_cents * fraction),
        )
        for line in lines
    )


def allowance(item: PlanItemTerms, addons: Iterable[AddonTerms],
              fraction: Fraction = Fraction(1)) -> Fraction:
    """``included_qty`` plus the addons' ``qty`` of the item's kind, times the share of the
    month billed, exactly: a partial month gets the same share of its allowance as of its
    recurring lines, never rounded (the overage line rounds once, in cents)."""
    return Fraction(_whole_allowance(item, tuple(addons))) * fraction


def _whole_allowance(item: PlanItemTerms, addons: tuple[AddonTerms, ...]) -> int:
    return item.included_qty + sum(a.qty for a in addons if a.resource_kind == item.resource_kind)


@lru_cache(maxsize=1024)
def _priced_items(plan: PlanTerms, addons: tuple[AddonTerms, ...]) -> tuple[tuple, ...]:
    """Per plan item: (kind, whole-month allowance, cap, unit factor, item), once per plan
    version and addons (terms are frozen)."""
    return tuple((item.resource_kind, _whole_allowance(item, addons), item.hard_cap_qty,
                  UNIT_FACTORS[item.overage_unit], item) for item in plan.items)


def overage_lines(
    plan: PlanTerms,
    addons: Iterable[AddonTerms],
    usage: Mapping[str, Decimal | int],
    fraction: Fraction = Fraction(1),
) -> tuple[Line, ...]:
    """Per plan item: usage beyond the (addon-lifted, prorated) allowance, capped, priced
    per unit. ``fraction`` is the share of the month billed (1 for a whole month).

    Exact rational arithmetic on integer numerators and denominators (a month-end prices tens
    of thousands of subscriptions; ``Fraction`` objects cost most of that): with usage
    ``a/b``, the allowance ``W·p/q``, the overage is ``(a·q − W·p·b) / (b·q)``, and the
    amount that times the price over the unit factor, rounded half-up once. The same
    figures as the ``Fraction`` formulation, which a property test keeps beside it."""
    p, q = fraction.numerator, fraction.denominator
    lines = []
    for kind, full, cap, factor, item in _priced_items(plan, tuple(addons)):
        a, b = usage.get(kind, 0).as_integer_ratio()
        den = b * q
        num = a * q - full * p * b  # the overage, over ``den``
        if num <= 0:
            continue
        if cap is not None and num > cap * den:
            num, den = cap, 1
            if num == 0:
                continue
        den *= factor  # now the overage in overage units
        allowance_text = _allowance_text(full, p, q, BASE_UNITS[kind])
        lines.append(
            Line(
                kind=OVERAGE,
                description=f"{kind_label(kind)} beyond the {allowance_text}",
                qty=_decimal(Fraction(num, den)),
                unit=item.overage_unit,
                unit_price_cents=item.overage_price_cents,
                amount_cents=divide_half_up(num * item.overage_price_cents, den),
                resource_kind=kind,
            )
        )
    return tuple(lines)


@lru_cache(maxsize=1024)
def _allowance_text(full: int, p: int, q: int, unit: str) -> str:
    """"1,488 hour allowance" for a whole month; "744 hour allowance (1,488 × 1/2)" or
    "32.26 GB allowance (100 × 10/31)" for part of one (shown to two places; exact inside)."""
    unit = unit_label(unit)
    shown = f"{_decimal(Fraction(full * p, q), places=2):,}"
    if p == q:
        return f"{shown} {unit} allowance"
    return f"{shown} {unit} allowance ({full:,} × {p}/{q})"


def price(
    plan: PlanTerms,
    addons: Iterable[AddonTerms],
    usage: Mapping[str, Decimal | int],
    starts_on: date,
) -> Quote:
    """Price a plan version with addons for one month of ``usage``, starting ``starts_on``."""
    addons = tuple(addons)
    recurring = recurring_lines(plan, addons)
    fraction = fraction_from_start(starts_on)
    total = days_in_month(starts_on)
    note = f"{total - starts_on.day + 1}/{total} days from {starts_on.isoformat()}"
    first = prorate(recurring, fraction, note)
    return Quote(
        currency=plan.currency,
        recurring=recurring,
        first_invoice=first,
        overage=overage_lines(plan, addons, usage),
    )


def _decimal(value: Fraction, places: int = 6) -> Decimal:
    """A quantity shown on a line, never an amount (amounts come from the exact Fraction):
    exact where its decimal expansion ends, else rounded half-up to ``places`` decimals
    (a prorated allowance such as 1488 × 10/31 never ends)."""
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    if den == 1:
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(round_half_up(value * 10**places)).scaleb(-places)
